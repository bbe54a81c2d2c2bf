"""Statistics over timing samples for the whole project: the speed gates (bench.comparison
through bench.evidence) and the report's intervals (reports.stats) all take their intervals here,
from one block bootstrap (scipy.stats.bootstrap) for short series and one order-statistic
interval for long ones.

Successive calls of a timed function are not independent: the committed CPU run has lag-1
autocorrelations up to 0.69, the H200 baseline 0.91 (load, clocks and caches drift slowly).
Resampling single calls then treats n correlated samples as n independent ones and gives
intervals far too narrow. `block_bootstrap` resamples runs of consecutive samples instead
(a non-overlapping block bootstrap, Carlstein 1986), with a block length chosen from the
series' own lag-1 autocorrelation; reports/baselines/coverage_study.py measures how often its
nominal 95% interval holds the true value under correlated noise.

A long series (LONG_SERIES samples or more, a 2,000-call row) gets a distribution-free interval
instead: a median's interval from two order statistics (the ranks a binomial count puts around
the middle, Price and Bonett 2002), widened by the variance inflation of correlated samples,
turned into a standard error of the log median, and the two sides' errors combined for the log
ratio. It costs one sort a series where the bootstrap costs thousands of medians (a 2,600-row
`compare` took 20 minutes), and the coverage study measures it on long, correlated and
heavy-tailed series beside the bootstrap.

Pure functions over arrays; they know nothing about rows, runs or thresholds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# 4,000 resamples put the 2.5th/97.5th percentiles on 100 resamples each side (and the 0.5th on
# 20): stable to about 1% of a ratio, and a gate's ~60 rows take well under a second.
BOOTSTRAP_RESAMPLES = 4000
# Fixed: the same samples always give the same interval and verdict (a gate must not flip on a
# re-run of the computation alone).
BOOTSTRAP_SEED = 0
# Resamples evaluated at once: a 2,000-sample row then needs ~8 MB at a time, not 64 MB.
BOOTSTRAP_BATCH = 500
# At least this many blocks per series: with fewer, the resampled statistic takes so few distinct
# values that the percentile interval is mostly ties (the cap binds only for strongly correlated,
# short series: the coverage study shows what that costs).
MIN_BLOCKS = 5
# Autocorrelation estimates above this are clipped: the plug-in block length diverges as rho -> 1
# and MIN_BLOCKS caps it anyway.
MAX_RHO = 0.95
# Series at least this long get the order-statistic interval (`normal_log_median`), shorter ones
# the block bootstrap. The coverage study finds the order-statistic interval as good from 100
# samples up; 500 keeps the bootstrap on the committed runs' rows (10-300 calls), whose A/A and
# planted-slowdown studies and boundary tests were made with it.
LONG_SERIES = 500

# The standard normal (the standard library's: scipy's costs ~0.3 ms a call, 2,600 rows a sweep).
NORMAL = statistics.NormalDist()

Statistic = Callable[[list[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A statistic's value, its percentile-bootstrap interval, and the resampled values (for a
    p-value of a one-sided test, `share_at_most`)."""

    value: float
    low: float
    high: float
    distribution: np.ndarray

    def share_at_most(self, limit: float) -> float:
        """Bootstrap p-value of H0 "statistic <= limit" against "statistic > limit": the share
        of resamples at or below limit, counting the observed sample as one (never 0). Without
        resampling (one value a side) the value is exact: 0 or 1."""
        if self.distribution.size == 1:
            return 0.0 if self.value > limit else 1.0
        hits = int(np.count_nonzero(self.distribution <= limit))
        return (hits + 1) / (self.distribution.size + 1)

    def share_at_least(self, limit: float) -> float:
        """As share_at_most, for H0 "statistic >= limit" against "statistic < limit"."""
        if self.distribution.size == 1:
            return 0.0 if self.value < limit else 1.0
        hits = int(np.count_nonzero(self.distribution >= limit))
        return (hits + 1) / (self.distribution.size + 1)


@dataclass(frozen=True)
class NormalInterval(Interval):
    """An interval from a normal approximation with standard error `se`: on the log scale of
    `value` when `log` (a ratio: low = value * exp(-z se)), else on its own scale. No resamples
    (`distribution` is empty): the one-sided p-values come from the normal distribution."""

    se: float = 0.0
    log: bool = False

    def _z(self, limit: float) -> float:
        centre, at = (math.log(self.value), math.log(limit)) if self.log else (self.value, limit)
        return (at - centre) / self.se

    def share_at_most(self, limit: float) -> float:
        """P(statistic <= limit) under the approximation; exact (0 or 1) when se is 0."""
        if self.se == 0:
            return 0.0 if self.value > limit else 1.0
        return NORMAL.cdf(self._z(limit))

    def share_at_least(self, limit: float) -> float:
        if self.se == 0:
            return 0.0 if self.value < limit else 1.0
        return NORMAL.cdf(-self._z(limit))


def lag1_autocorrelation(x: Sequence[float]) -> float:
    """Sample lag-1 autocorrelation (0 for fewer than 3 samples or a constant series)."""
    a = np.asarray(x, dtype=float)
    if a.size < 3:
        return 0.0
    d = a - a.mean()
    denominator = float(d @ d)
    return float(d[:-1] @ d[1:]) / denominator if denominator > 0 else 0.0


def block_length(x: Sequence[float]) -> int:
    """Block length for `x`: the MSE-optimal length for a non-overlapping block bootstrap of an
    AR(1) series with x's lag-1 autocorrelation rho (Politis and White 2004, with Patton, Politis
    and White's 2009 correction, evaluated for AR(1)): (4 rho^2 / (1 - rho^2)^2)^(1/3) n^(1/3),
    rounded, at least 1 and at most n / MIN_BLOCKS. A rho within sampling noise of zero
    (<= 2 / sqrt(n)) counts as independence: 1."""
    n = len(x)
    rho = min(lag1_autocorrelation(x), MAX_RHO)
    if n < 2 * MIN_BLOCKS or rho <= 2 / math.sqrt(n):
        return 1
    optimum = (4 * rho**2 / (1 - rho**2) ** 2) ** (1 / 3) * n ** (1 / 3)
    return max(1, min(round(optimum), n // MIN_BLOCKS))


def ranked(x: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """x sorted, and x's ranks from 1 (tied values share their mean rank), from one sort."""
    a = np.asarray(x, dtype=float)
    order = np.argsort(a)  # ties share a mean rank: their order among themselves is moot
    ordered = a[order]
    first = np.concatenate(([True], ordered[1:] != ordered[:-1]))  # each tie group's first
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], a.size)
    ranks = np.empty(a.size)
    ranks[order] = ((starts + ends + 1) / 2)[np.cumsum(first) - 1]
    return ordered, ranks


def variance_inflation(ranks: np.ndarray) -> float:
    """How much wider than for independent samples a count of a series' samples below a quantile
    spreads: (1 + rho) / (1 - rho) for an AR(1) series with lag-1 autocorrelation rho of the
    series' `ranks`, clipped to [0, MAX_RHO]. Ranks, not values: a few spikes (a preempted call
    10x slower than the rest) pull the values' own autocorrelation to 0, not the ranks', and
    ranks are what a median's order statistics count. For a Gaussian AR(1) series the count's
    correlations lie below rho^k, so this errs wide (the coverage study: 95-98%)."""
    rho = min(max(lag1_autocorrelation(ranks), 0.0), MAX_RHO)
    return (1 + rho) / (1 - rho)


def log_median_error(x: Sequence[float], confidence: float) -> tuple[float, float]:
    """log(median(x)) and its standard error, distribution-free (Price and Bonett 2002): the
    c-th smallest and c-th largest of n samples bracket the median with the probability that a
    binomial count of samples below it lies between them; with n * inflation / 4 as that count's
    variance (`variance_inflation`), c = (n + 1) / 2 - z sd puts them z count standard
    deviations sd from the middle, and (log x_(n-c+1) - log x_(c)) / (2 z_c), z_c the exact
    number of deviations after rounding c, is the log median's standard error. Positive x."""
    ordered, ranks = ranked(x)
    n = ordered.size
    sd = math.sqrt(n * variance_inflation(ranks)) / 2
    c = max(1, round((n + 1) / 2 - normal_quantile(confidence) * sd))
    z_c = ((n + 1) / 2 - c) / sd
    low, high = ordered[c - 1], ordered[n - c]
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    return math.log(median), (math.log(high) - math.log(low)) / (2 * z_c)


def normal_quantile(confidence: float) -> float:
    """z with P(-z < Z < z) = confidence (1.96 for 95%)."""
    return NORMAL.inv_cdf(0.5 + confidence / 2)


def is_long(*series: Sequence[float]) -> bool:
    """The order-statistic interval's domain: every series has LONG_SERIES samples or more, all
    positive (it works on log medians; the bootstrap takes the rest)."""
    return all(len(s) >= LONG_SERIES and np.min(s) > 0 for s in series)


def normal_log_interval(value: float, se: float, confidence: float) -> NormalInterval:
    """A log-scale statistic's normal interval: value +- z se."""
    half = normal_quantile(confidence) * se
    return NormalInterval(value, value - half, value + half, np.empty(0), se)


def log_median_ratio(
    base: Sequence[float], new: Sequence[float], confidence: float
) -> NormalInterval:
    """log(median(new) / median(base)) of two independent long series, with the normal interval
    of the two log medians' combined standard error (sqrt(se_base^2 + se_new^2))."""
    (b, se_b), (n, se_n) = log_median_error(base, confidence), log_median_error(new, confidence)
    return normal_log_interval(n - b, math.hypot(se_b, se_n), confidence)


def as_blocks(x: Sequence[float], length: int) -> np.ndarray:
    """x as consecutive blocks, shape (n // length, length); the first n % length samples (the
    oldest, nearest the warm-up) are left out so that every block is whole."""
    a = np.asarray(x, dtype=float)
    k = a.size // length
    return a[a.size - k * length :].reshape(k, length)


def block_bootstrap(
    series: Sequence[Sequence[float]],
    statistic: Statistic,
    confidence: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
    lengths: Sequence[int] | None = None,
    method: str = "percentile",
    batch: int = BOOTSTRAP_BATCH,
) -> Interval:
    """Bootstrap interval (scipy's `method`: percentile, basic or BCa) of statistic(series),
    each series resampled on its own in blocks of consecutive samples (lengths: one per series,
    default `block_length` of each), `batch` resamples at a time.

    `statistic` receives a list with one array per series, each of shape (..., samples): the
    resampled series (blocks joined in their drawn order) along the last axis, and returns
    shape (...). scipy.stats.bootstrap draws block indices; the blocks themselves are gathered
    here, since scipy resamples single observations only.
    """
    arrays = [np.asarray(s, dtype=float) for s in series]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("block_bootstrap needs at least one sample in every series")
    lengths = lengths or [block_length(a) for a in arrays]
    blocked = [as_blocks(a, b) for a, b in zip(arrays, lengths, strict=True)]
    value = float(statistic([a[None, :] for a in arrays])[0])
    if all(len(b) < 2 for b in blocked):  # nothing to resample: every series is one block
        return Interval(value, value, value, np.full(1, value))
    # scipy needs >= 2 observations per sample: a one-block series is drawn as that block twice,
    # which leaves medians and minima (this module's statistics) unchanged.
    index = [np.arange(len(b)) if len(b) > 1 else np.zeros(2, dtype=int) for b in blocked]

    def on_indices(*drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        resampled = [
            b[np.asarray(i, dtype=np.intp)].reshape(*np.shape(i)[:-1], -1)
            for b, i in zip(blocked, drawn, strict=True)
        ]
        return statistic(resampled)

    from scipy import stats  # here: a long series (and `compare`'s start-up) never needs it

    result = stats.bootstrap(
        index,
        on_indices,
        n_resamples=resamples,
        batch=batch,
        vectorized=True,
        paired=False,
        axis=-1,
        confidence_level=confidence,
        method=method,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    ci = result.confidence_interval
    return Interval(value, float(ci.low), float(ci.high), result.bootstrap_distribution)


def median_ratio(parts: list[np.ndarray]) -> np.ndarray:
    """median(second) / median(first), along the last axis."""
    return np.median(parts[1], axis=-1) / np.median(parts[0], axis=-1)


def ratio_of_medians(
    base: Sequence[float],
    new: Sequence[float],
    confidence: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Interval:
    """median(new) / median(base), each side on its own (two runs, or two implementations, are
    not paired call by call): block-resampled, or for two long series (`is_long`) the
    order-statistic interval of `log_median_ratio`, on the ratio's scale."""
    if not is_long(base, new):
        return block_bootstrap([base, new], median_ratio, confidence, resamples)
    r = log_median_ratio(base, new, confidence)
    return NormalInterval(
        math.exp(r.value), math.exp(r.low), math.exp(r.high), r.distribution, r.se, log=True
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979): reject hypothesis i at family-wise level
    alpha when adjusted[i] <= alpha. Controls the chance of any false rejection among all of
    them at alpha, whatever their dependence."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(a) for a in adjusted]
