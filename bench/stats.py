"""Statistics for comparing two sets of timing samples: a seeded bootstrap confidence interval of
the ratio of medians, and a Mann-Whitney U test. Pure functions over sample lists; they know
nothing about rows, runs or thresholds (bench.compare makes the decision).

bench cannot import reports (data flows one way), so this is a small copy of the idea behind
reports/stats.py, written for many pairs at once: plain numpy, bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# 4,000 resamples put the 0.5th and 99.5th percentiles (a 99% interval) on about 20 resamples each
# side: stable to about 1% of the ratio, and fast enough for a paper sweep's ~60 pairs (< 1 s).
BOOTSTRAP_RESAMPLES = 4000
# Fixed: the same two runs always give the same interval and verdict (a gate must not flip on
# a re-run of the comparison alone).
BOOTSTRAP_SEED = 0
# Resample in blocks of this many resamples, so 2,000-sample rows need ~16 MB, not 64 MB.
BOOTSTRAP_BLOCK = 1000
# Below this many samples on either side the U test cannot reach p < 0.01 (3 vs 3 gives 0.1),
# so it is not asked; the bootstrap interval alone decides.
MIN_SAMPLES_FOR_U_TEST = 5


@dataclass(frozen=True)
class RatioEstimate:
    """new/base ratio of medians, its bootstrap interval, and the U test's two-sided p-value
    (None when either side has fewer than MIN_SAMPLES_FOR_U_TEST samples)."""

    ratio: float
    low: float
    high: float
    p_value: float | None
    n_base: int
    n_new: int


def _resampled_medians(x: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Medians of `resamples` resamples of x with replacement, drawn in bounded blocks."""
    out = np.empty(resamples)
    for start in range(0, resamples, BOOTSTRAP_BLOCK):
        stop = min(start + BOOTSTRAP_BLOCK, resamples)
        index = rng.integers(0, x.size, size=(stop - start, x.size))
        out[start:stop] = np.median(x[index], axis=1)
    return out


def bootstrap_ratio_interval(
    base: np.ndarray, new: np.ndarray, confidence: float, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new)/median(base), each side resampled on its
    own (the two runs are independent; samples are not paired call by call)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    ratios = _resampled_medians(new, rng, resamples) / _resampled_medians(base, rng, resamples)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def u_test(base: np.ndarray, new: np.ndarray) -> float | None:
    """Two-sided Mann-Whitney U p-value, or None with too few samples to ever be significant."""
    if min(base.size, new.size) < MIN_SAMPLES_FOR_U_TEST:
        return None
    return float(stats.mannwhitneyu(new, base, alternative="two-sided").pvalue)


def compare_samples(
    base: Sequence[float], new: Sequence[float], confidence: float
) -> RatioEstimate:
    """The ratio new/base of medians with its interval and U test. A side with a single sample
    has no spread to resample: the interval then reflects the other side's spread only."""
    a, b = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("compare_samples needs at least one sample on each side")
    if np.median(a) <= 0 or np.median(b) <= 0:
        raise ValueError("compare_samples needs positive medians")
    ratio = float(np.median(b) / np.median(a))
    low, high = bootstrap_ratio_interval(a, b, confidence)
    return RatioEstimate(ratio, low, high, u_test(a, b), int(a.size), int(b.size))
