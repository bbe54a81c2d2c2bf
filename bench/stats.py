"""Statistics over timing samples, on one bootstrap (scipy.stats.bootstrap) for the whole project:
the speed gates (bench.comparison through bench.evidence) and the report's intervals
(reports.stats) all call `block_bootstrap` here.

Successive calls of a timed function are not independent: the committed CPU run has lag-1
autocorrelations up to 0.69, the H200 baseline 0.91 (load, clocks and caches drift slowly).
Resampling single calls then treats n correlated samples as n independent ones and gives
intervals far too narrow. `block_bootstrap` resamples runs of consecutive samples instead
(a non-overlapping block bootstrap, Carlstein 1986), with a block length chosen from the
series' own lag-1 autocorrelation; reports/baselines/coverage_study.py measures how often its
nominal 95% interval holds the true value under correlated noise.

Pure functions over arrays; they know nothing about rows, runs or thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

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
) -> Interval:
    """Bootstrap interval (scipy's `method`: percentile, basic or BCa) of statistic(series),
    each series resampled on its own in blocks of consecutive samples (lengths: one per series,
    default `block_length` of each).

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

    result = stats.bootstrap(
        index,
        on_indices,
        n_resamples=resamples,
        batch=BOOTSTRAP_BATCH,
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
    """median(new) / median(base), each side block-resampled on its own (two runs, or two
    implementations, are not paired call by call)."""
    return block_bootstrap([base, new], median_ratio, confidence, resamples)


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
