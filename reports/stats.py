"""Numbers derived from measurements: speedup intervals (bench.stats: a block bootstrap, or order
statistics for long series), the log-log crossing point of two latency curves, and the log-log
scaling exponent of one curve with its t-distribution interval.

Pure functions over arrays; they know nothing about rows, operators or the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special  # not scipy.stats: importing that takes ~1 s of a report's start

from bench import stats as bench_stats

BOOTSTRAP_RESAMPLES = 10_000  # enough for stable 2.5/97.5 percentiles at 3 significant digits
BOOTSTRAP_SEED = bench_stats.BOOTSTRAP_SEED  # a report rebuilt from the same rows is the same
LONG_SERIES = bench_stats.LONG_SERIES  # from here on both sides: the order-statistic interval
CONFIDENCE = 0.95
# A straight-line fit through k points has k - 2 degrees of freedom: 3 points leave one, and the
# t quantile for a 95% interval is then 12.7, so fit over at least 4 lengths when the run has
# them (t = 4.3), and say how wide the interval is when it does not.
MIN_FIT_POINTS = 4


@dataclass(frozen=True)
class Ratio:
    """A speedup: ratio of medians (baseline / subject) with its bootstrap confidence interval."""

    value: float
    low: float
    high: float


def bootstrap_ratio(base: Sequence[float], subject: Sequence[float]) -> Ratio:
    """median(base) / median(subject) with a percentile block-bootstrap interval, each side's
    successive samples resampled in blocks (they are correlated), or when both sides are long
    (bench.stats.LONG_SERIES) the order-statistic interval (a 2,000-sample claim took 2.5 s of
    bootstrap). A side with a single sample has no spread to resample; a side with no samples
    is an error."""
    if len(base) == 0 or len(subject) == 0:
        raise ValueError("bootstrap_ratio needs at least one sample on each side")
    r = bench_stats.ratio_of_medians(subject, base, CONFIDENCE, BOOTSTRAP_RESAMPLES)
    return Ratio(r.value, r.low, r.high)


def loglog_crossing(lengths: Sequence[float], ratio: Sequence[float]) -> float | None:
    """Where `ratio` (slower / faster) rises through 1 for the last time, interpolated linearly in
    log(length)-log(ratio); the first length if it is >= 1 throughout; None if it never stays >= 1.
    """
    x, r = np.log(np.asarray(lengths, dtype=float)), np.log(np.asarray(ratio, dtype=float))
    if x.size == 0 or r[-1] < 0:
        return None
    below = np.flatnonzero(r < 0)
    if below.size == 0:
        return float(np.exp(x[0]))
    i = below[-1]
    t = -r[i] / (r[i + 1] - r[i])
    return float(np.exp(x[i] + t * (x[i + 1] - x[i])))


@dataclass(frozen=True)
class Slope:
    """Least-squares slope of log latency vs log length over the named lengths, its standard
    error and its CONFIDENCE interval from the t distribution with len(lengths) - 2 degrees of
    freedom (NaN from two points)."""

    exponent: float
    stderr: float
    lengths: tuple[int, ...]
    low: float = math.nan
    high: float = math.nan


def upper_half(lengths: Sequence[int]) -> list[int]:
    """The upper half of the sorted lengths (with the middle one), at least MIN_FIT_POINTS of
    them (or all when the run has fewer)."""
    ordered = sorted(lengths)
    keep = max(len(ordered) - len(ordered) // 2, MIN_FIT_POINTS)
    return ordered[-keep:]


def loglog_slope(lengths: Sequence[float], latency: Sequence[float]) -> Slope | None:
    """Scaling exponent k in latency ~ L^k (least squares in log-log), with its standard error
    and t interval."""
    if len(lengths) < 2:
        return None
    x, y = np.log(np.asarray(lengths, dtype=float)), np.log(np.asarray(latency, dtype=float))
    dx, dy = x - x.mean(), y - y.mean()
    spread = float(dx @ dx)
    slope = float(dx @ dy) / spread
    lengths_int = tuple(int(n) for n in lengths)
    if len(lengths) < 3:
        return Slope(slope, math.nan, lengths_int)
    residual = dy - slope * dx
    stderr = math.sqrt(float(residual @ residual) / (len(lengths) - 2) / spread)
    half = float(special.stdtrit(len(lengths) - 2, 0.5 + CONFIDENCE / 2)) * stderr
    return Slope(slope, stderr, lengths_int, slope - half, slope + half)
