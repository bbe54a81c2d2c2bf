"""What one pair of rows (BASE, NEW) contributes to a speed decision: the series a bootstrap
resamples and the log NEW/BASE ratio computed from them, in one of two designs.

- Two separate runs (`compare`): each side's calls, block-resampled on its own; the ratio of
  their medians. Load that differs between the runs' times is in the ratio, and nothing here can
  take it out.
- One interleaved run (`hyena-bench ab`): the sides alternate in small blocks of calls, so block
  i of BASE and block i of NEW are measured seconds apart. d_i = log(median of NEW's block i /
  median of BASE's block i) is a paired difference in which slow drift (load, clocks) cancels;
  the estimate is the median of the d_i, resampled over the pairs.

Pure numpy (scipy only through bench.stats, when an interval is asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

LogRatio = Callable[[list[np.ndarray]], np.ndarray]
# At most this many resampled values at a time in the joint bootstrap of a whole sweep's rows
# (`mean_log_interval`): 128 MiB of float64, and about as much again for the drawn indices.
# bench.stats' 500 resamples a batch held 2,600 rows of 100 samples (520,000 values) 500 times
# over: 4.3 GB. Up to 33,554 values (every committed run and gate) the batch stays 500, so
# their intervals are drawn exactly as before.
MAX_RESAMPLED_VALUES = 2**24


@dataclass(frozen=True)
class Evidence:
    """`series` to resample; `log_ratio(series)` is log(NEW/BASE) (along the last axis)."""

    series: tuple[np.ndarray, ...]
    log_ratio: LogRatio
    n_base: int  # calls (or values) measured on each side
    n_new: int


def _log_median_ratio(parts: list[np.ndarray]) -> np.ndarray:
    return np.log(np.median(parts[1], axis=-1)) - np.log(np.median(parts[0], axis=-1))


def _median(parts: list[np.ndarray]) -> np.ndarray:
    return np.median(parts[0], axis=-1)


def two_runs(base: Sequence[float], new: Sequence[float]) -> Evidence:
    """Two independent series of positive values: log(median(new) / median(base))."""
    a, b = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    return Evidence((a, b), _log_median_ratio, a.size, b.size)


def split_blocks(samples: Sequence[float], block_calls: Sequence[int]) -> list[np.ndarray]:
    """A row's samples_ms cut into its blocks (block_calls: the calls in each, in order)."""
    a = np.asarray(samples, dtype=float)
    sizes = [int(n) for n in block_calls]
    if sum(sizes) != a.size or min(sizes, default=1) < 1:
        raise ValueError(f"block_calls {sizes} do not split {a.size} samples")
    return np.split(a, np.cumsum(sizes)[:-1])


def paired_log_ratios(
    base_blocks: Sequence[Sequence[float]], new_blocks: Sequence[Sequence[float]]
) -> np.ndarray:
    """d_i = log(median(new_blocks[i]) / median(base_blocks[i])) for each block pair."""
    if len(base_blocks) != len(new_blocks) or not base_blocks:
        raise ValueError(
            f"paired blocks: {len(base_blocks)} BASE blocks, {len(new_blocks)} NEW blocks"
        )
    base = np.array([np.median(b) for b in base_blocks])
    new = np.array([np.median(b) for b in new_blocks])
    return np.log(new) - np.log(base)


def interleaved(
    base_blocks: Sequence[Sequence[float]], new_blocks: Sequence[Sequence[float]]
) -> Evidence:
    """An interleaved row: the median of the per-block paired log ratios."""
    d = paired_log_ratios(base_blocks, new_blocks)
    calls = (sum(len(b) for b in base_blocks), sum(len(b) for b in new_blocks))
    return Evidence((d,), _median, *calls)


def long_two_runs(evidence: Evidence) -> bool:
    """Two runs' series, both long enough for bench.stats' order-statistic interval."""
    from bench import stats

    return evidence.log_ratio is _log_median_ratio and stats.is_long(*evidence.series)


def log_interval(evidence: Evidence, confidence: float):  # -> bench.stats.Interval
    """The log ratio and its interval: order-statistic for two long runs, else block bootstrap
    (block length from the series' own autocorrelation: 1 for the nearly independent d_i of an
    interleaved row)."""
    from bench import stats

    if long_two_runs(evidence):
        return stats.log_median_ratio(*evidence.series, confidence)
    return stats.block_bootstrap(list(evidence.series), evidence.log_ratio, confidence)


def mean_log_interval(evidence: Sequence[Evidence], confidence: float, intervals=None):
    """The mean over rows of their log ratios (the log of the geometric-mean ratio), with an
    interval from resampling every row's series at once, or when every row is two long runs the
    normal interval of the mean of their independent log ratios (standard error
    sqrt(sum se_i^2) / rows; `intervals`: the rows' log_interval when the caller has them)."""
    from bench import stats

    if evidence and all(long_two_runs(e) for e in evidence):
        rows = intervals or [log_interval(e, confidence) for e in evidence]
        se = float(np.sqrt(sum(r.se**2 for r in rows))) / len(rows)
        return stats.normal_log_interval(float(np.mean([r.value for r in rows])), se, confidence)

    spans, series, start = [], [], 0
    for e in evidence:
        spans.append((start, start + len(e.series), e.log_ratio))
        series += list(e.series)
        start += len(e.series)

    def mean_of_rows(parts: list[np.ndarray]) -> np.ndarray:
        return np.mean([f(parts[a:b]) for a, b, f in spans], axis=0)

    return stats.block_bootstrap(
        series, mean_of_rows, confidence, batch=joint_batch(sum(len(s) for s in series))
    )


def joint_batch(values: int) -> int:
    """Resamples a batch for a joint bootstrap of `values` values: bench.stats' usual batch,
    fewer where that would hold more than MAX_RESAMPLED_VALUES at once, at least one."""
    from bench import stats

    return max(1, min(stats.BOOTSTRAP_BATCH, MAX_RESAMPLED_VALUES // max(values, 1)))
