"""Numbers derived from measurements: bootstrap confidence intervals for a speedup, the log-log
crossing point of two latency curves, and the log-log scaling exponent of one curve.

Pure functions over arrays; they know nothing about rows, operators or the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_RESAMPLES = 10_000  # enough for stable 2.5/97.5 percentiles at 3 significant digits
BOOTSTRAP_SEED = 0  # fixed, so a report rebuilt from the same rows gives the same intervals
CONFIDENCE = 0.95
MIN_FIT_POINTS = 3  # fewer points give a slope without a standard error


@dataclass(frozen=True)
class Ratio:
    """A speedup: ratio of medians (baseline / subject) with its bootstrap confidence interval."""

    value: float
    low: float
    high: float


def _median_ratio(base: np.ndarray, subject: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(base, axis=axis) / np.median(subject, axis=axis)


def bootstrap_ratio(base: Sequence[float], subject: Sequence[float]) -> Ratio:
    """Ratio of medians with a percentile bootstrap interval: each side resampled independently.

    A side with a single sample has no spread to resample, so the interval collapses to the point
    estimate there; a side with no samples is an error.
    """
    a, b = np.asarray(base, dtype=float), np.asarray(subject, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap_ratio needs at least one sample on each side")
    value = float(_median_ratio(a, b))
    if a.size < 2 and b.size < 2:
        return Ratio(value, value, value)
    a, b = (np.repeat(x, 2) if x.size < 2 else x for x in (a, b))
    result = stats.bootstrap(
        (a, b),
        _median_ratio,
        n_resamples=BOOTSTRAP_RESAMPLES,
        paired=False,
        vectorized=True,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    ci = result.confidence_interval
    return Ratio(value, float(ci.low), float(ci.high))


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
    """Least-squares slope of log latency vs log length over the named lengths."""

    exponent: float
    stderr: float
    lengths: tuple[int, ...]


def upper_half(lengths: Sequence[int]) -> list[int]:
    """The upper half of the sorted lengths (with the middle one), at least MIN_FIT_POINTS."""
    ordered = sorted(lengths)
    keep = max(len(ordered) - len(ordered) // 2, MIN_FIT_POINTS)
    return ordered[-keep:]


def loglog_slope(lengths: Sequence[float], latency: Sequence[float]) -> Slope | None:
    """Scaling exponent k in latency ~ L^k, with its standard error (NaN from two points)."""
    if len(lengths) < 2:
        return None
    fit = stats.linregress(np.log(lengths), np.log(latency))
    stderr = float(fit.stderr) if len(lengths) >= MIN_FIT_POINTS else float("nan")
    return Slope(float(fit.slope), stderr, tuple(int(n) for n in lengths))
