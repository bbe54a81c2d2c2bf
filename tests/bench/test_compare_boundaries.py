"""The speed gate's decision at its edges (issue 19): intervals whose low end lies between 1 and
the threshold, ratios, interval ends and Holm-adjusted p-values exactly at their limits and one
float step either side, the exact one-value case at the threshold end to end, and the bootstrap
interval's confidence level checked against independent high-resample references
(scipy.stats.bootstrap on i.i.d. data, where the block length is 1, and a block bootstrap
written here in numpy) and against the normal approximation of a median's spread."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench import comparison, evidence, stats
from bench.record import row_key
from tests.bench.test_compare import row
from tests.bench.test_stats import ar1

LATENCY = comparison.METRICS["latency"]
MEMORY = comparison.METRICS["memory"]
T = 0.25  # a threshold whose band edges are exact binary fractions: 1.25 and 0.8
LIMIT = 1 + T
ALPHA = comparison.ALPHA_EACH
SURE = 0.001  # a p-value far below ALPHA_EACH
UNSURE = 0.5


def decide(ratio, low, high, p_worse=UNSURE, p_better=UNSURE, threshold=T, metric=LATENCY):
    estimate = comparison.Estimate(ratio, low, high, p_worse, p_better, 40, 40)
    return comparison.decide(estimate, threshold, metric)


@pytest.mark.parametrize(
    ("ratio", "low", "high", "p_worse", "p_better", "verdict"),
    [
        # Low end between 1 and the threshold: the change is real (the interval excludes 1); the
        # verdict follows the ratio and the p-value: beyond the threshold and sure, slower;
        # within it, the high end decides between unchanged (all of the interval in the band)
        # and inconclusive.
        (1.40, 1.05, 1.80, SURE, UNSURE, "slower"),
        (1.10, 1.05, 1.20, SURE, UNSURE, "unchanged"),
        (1.20, 1.05, 1.30, SURE, UNSURE, "inconclusive"),
        (1.40, 1.05, 1.80, UNSURE, UNSURE, "inconclusive"),  # beyond, but not sure of it
        # Exactly at the threshold: a ratio of exactly 1 + T is not "beyond" it, however sure.
        (LIMIT, 1.10, 1.30, SURE, UNSURE, "inconclusive"),
        (math.nextafter(LIMIT, 2), 1.10, 1.30, SURE, UNSURE, "slower"),
        (LIMIT, 1.10, LIMIT, SURE, UNSURE, "unchanged"),  # and its interval within the band
        # A high end exactly at the band's edge is within the band; one step above is not.
        (1.10, 1.05, LIMIT, UNSURE, UNSURE, "unchanged"),
        (1.10, 1.05, math.nextafter(LIMIT, 2), UNSURE, UNSURE, "inconclusive"),
        # The Holm-adjusted p-value exactly at ALPHA_EACH is sure enough; one step above is not.
        (1.40, 1.10, 1.80, ALPHA, UNSURE, "slower"),
        (1.40, 1.10, 1.80, math.nextafter(ALPHA, 1), UNSURE, "inconclusive"),
        # The faster side mirrors it, at 1 / (1 + T) = 0.8, with its own p-value.
        (1 / LIMIT, 0.70, 0.90, UNSURE, SURE, "inconclusive"),
        (math.nextafter(1 / LIMIT, 0), 0.70, 0.90, UNSURE, SURE, "faster"),
        (0.70, 0.60, 0.90, UNSURE, ALPHA, "faster"),
        (0.70, 0.60, 0.90, UNSURE, math.nextafter(ALPHA, 1), "inconclusive"),
        (0.70, 0.60, 0.90, SURE, UNSURE, "inconclusive"),  # the other side's p-value is not read
        (0.90, 1 / LIMIT, 0.95, UNSURE, UNSURE, "unchanged"),  # low end exactly at the band's edge
        (0.90, math.nextafter(1 / LIMIT, 0), 0.95, UNSURE, UNSURE, "inconclusive"),
        # Low end between 0.8 and 1 on the faster side: within the band, unchanged.
        (0.95, 0.85, 0.99, UNSURE, SURE, "unchanged"),
    ],
)
def test_decision_at_the_boundaries(ratio, low, high, p_worse, p_better, verdict):
    assert decide(ratio, low, high, p_worse, p_better) == verdict


def test_memory_uses_its_own_words():
    assert decide(1.40, 1.10, 1.80, p_worse=SURE, metric=MEMORY) == "larger"
    assert decide(0.70, 0.60, 0.90, p_better=SURE, metric=MEMORY) == "smaller"


def test_threshold_zero_calls_any_sure_change():
    assert decide(1.01, 1.005, 1.02, p_worse=SURE, threshold=0.0) == "slower"
    assert decide(0.99, 0.98, 0.995, p_better=SURE, threshold=0.0) == "faster"
    assert decide(1.0, 1.0, 1.0, 1.0, 1.0, threshold=0.0) == "unchanged"
    assert decide(1.0, 0.99, 1.01, threshold=0.0) == "inconclusive"


def test_p_value_counts_a_resample_exactly_at_the_limit_as_not_worse():
    """share_at_most is the p-value of "worse by more than the limit": a resample exactly at the
    limit is not worse, one float step above it is."""
    limit = math.log(LIMIT)
    at = stats.Interval(0.3, 0.2, 0.4, np.array([limit, 0.3, 0.3, 0.3]))
    above = stats.Interval(0.3, 0.2, 0.4, np.array([math.nextafter(limit, 1), 0.3, 0.3, 0.3]))
    assert at.share_at_most(limit) == pytest.approx(2 / 5)
    assert above.share_at_most(limit) == pytest.approx(1 / 5)
    at_better = stats.Interval(-0.3, -0.4, -0.2, np.array([-limit, -0.3, -0.3]))
    assert at_better.share_at_least(-limit) == pytest.approx(2 / 4)
    below = stats.Interval(-0.3, -0.4, -0.2, np.array([math.nextafter(-limit, -1), -0.3, -0.3]))
    assert below.share_at_least(-limit) == pytest.approx(1 / 4)


# --- end to end through comparison.compare -------------------------------------------------------


def compare(base_rows, new_rows, metric=LATENCY, threshold=T) -> comparison.Report:
    def run(name, rows):
        return comparison.Run(Path(name), {}, {row_key(r): r for r in rows})

    return comparison.compare(
        run("base", base_rows), run("new", new_rows), metric, threshold, [], []
    )


def one_value(value: float, seqlen: int = 1024) -> dict:
    """A row with a single sample (and memory = value): no resampling, an exact answer."""
    return row(seqlen=seqlen, ms=[value], peak_mem_bytes=value)


@pytest.mark.parametrize("metric", [LATENCY, MEMORY])
def test_one_value_exactly_at_the_threshold_is_no_regression(metric):
    """Memory is one number a side, and so is a latency row of one call: the p-value is exact
    (0 or 1). NEW exactly 1 + T times BASE is not beyond the threshold; a larger NEW is."""
    # Base 1: the log ratio log(1.25) - log(1) is exactly the limit log(1 + T).
    at = compare([one_value(1.0)], [one_value(LIMIT)], metric)
    (o,) = at.outcomes
    assert o.verdict != metric.worse and not o.regression
    assert o.estimate.p_worse == 1.0
    assert not at.summary.regression and at.exit_status == 0
    beyond = compare([one_value(1.0)], [one_value(LIMIT + 0.01)], metric)
    (o,) = beyond.outcomes
    assert o.verdict == metric.worse and o.estimate.p_worse == 0.0
    assert beyond.summary.regression and beyond.exit_status == 1


def test_one_value_exactly_at_the_faster_edge_is_not_faster():
    (o,) = compare([one_value(LIMIT)], [one_value(1.0)]).outcomes  # log ratio exactly -limit
    assert o.verdict != "faster" and o.estimate.p_better == 1.0
    (o,) = compare([one_value(LIMIT)], [one_value(0.99)]).outcomes
    assert o.verdict == "faster" and o.estimate.p_better == 0.0


def spread(median: float, seed: int, n: int = 200, sigma: float = 0.02) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in median * np.exp(rng.normal(0, sigma, n))]


@pytest.mark.parametrize(
    ("factor", "verdict"),
    [
        (1.12, "unchanged"),  # low end between 1 and 1 + T, high end below 1 + T
        (1.40, "slower"),  # low end beyond 1 + T
        (0.88, "unchanged"),  # high end between 1 / (1 + T) and 1
        (0.70, "faster"),
    ],
)
def test_measured_intervals_that_exclude_one_within_the_band(factor, verdict):
    """Two runs of i.i.d. samples: a real change (the interval excludes 1) that stays within the
    band is unchanged, not slower or faster; beyond it, it is."""
    report = compare([row(ms=spread(10.0, 1))], [row(ms=spread(10.0 * factor, 2))])
    (o,) = report.outcomes
    assert (o.estimate.low > 1) == (factor > 1) and (o.estimate.high < 1) == (factor < 1)
    assert o.verdict == verdict
    assert report.exit_status == (verdict == "slower")


# --- the interval's confidence level -------------------------------------------------------------
N = 100  # samples per side: a median's bootstrap distribution is smooth enough, and it is fast
# 5x the gate's resamples: the reference's own error at the 99% ends is ~1.5% of the half-width.
REFERENCE_RESAMPLES = 20_000


def lognormal_pair(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return 10 * rng.lognormal(0, 0.1, N), 12 * rng.lognormal(0, 0.1, N)


def scipy_reference(data: tuple[np.ndarray, ...], statistic, confidence: float):
    return scipy_stats.bootstrap(
        data,
        statistic,
        n_resamples=REFERENCE_RESAMPLES,
        confidence_level=confidence,
        method="percentile",
        paired=False,
        vectorized=True,
        rng=np.random.default_rng(123),
    ).confidence_interval


@pytest.mark.parametrize("confidence", [0.90, comparison.CONFIDENCE, 0.99])
def test_ratio_interval_matches_a_high_resample_reference(confidence):
    """i.i.d. samples: the block length is 1, so the block bootstrap is the ordinary one and
    scipy's, with 5x the resamples and another seed, is an independent reference."""
    base, new = lognormal_pair()
    assert (stats.block_length(base), stats.block_length(new)) == (1, 1)
    ours = stats.ratio_of_medians(base, new, confidence)
    ref = scipy_reference(
        (base, new),
        lambda a, b, axis: np.median(b, axis=axis) / np.median(a, axis=axis),
        confidence,
    )
    half = (ref.high - ref.low) / 2
    # Each end within 10% of the reference's half-width (4,000 vs 20,000 resamples: at most 7.4%
    # here); a level off by one step in this list moves an end by 18-43% of the half-width.
    assert ours.low == pytest.approx(ref.low, abs=0.1 * half)
    assert ours.high == pytest.approx(ref.high, abs=0.1 * half)
    assert ours.value == pytest.approx(np.median(new) / np.median(base), rel=1e-12)


def test_gate_interval_matches_the_reference_through_evidence():
    """What the gate actually computes: the log ratio's interval from two runs' Evidence."""
    base, new = lognormal_pair(seed=11)
    ours = evidence.log_interval(evidence.two_runs(base, new), comparison.CONFIDENCE)
    ref = scipy_reference(
        (base, new),
        lambda a, b, axis: np.log(np.median(b, axis=axis) / np.median(a, axis=axis)),
        comparison.CONFIDENCE,
    )
    half = (ref.high - ref.low) / 2
    assert ours.low == pytest.approx(ref.low, abs=0.1 * half)
    assert ours.high == pytest.approx(ref.high, abs=0.1 * half)
    assert ours.value == pytest.approx(math.log(np.median(new) / np.median(base)), rel=1e-12)


def test_paired_interval_matches_a_numpy_reference():
    """An interleaved row: the median of i.i.d. per-block log ratios, against a percentile
    bootstrap of that median written here."""
    rng = np.random.default_rng(2)
    d = rng.normal(0.1, 0.05, 101)  # odd: each resampled median is one of the d_i
    base_blocks = [[10.0]] * d.size
    new_blocks = [[float(10.0 * math.exp(x))] for x in d]
    ours = evidence.log_interval(evidence.interleaved(base_blocks, new_blocks), 0.95)
    draws = np.random.default_rng(5).integers(0, d.size, (REFERENCE_RESAMPLES, d.size))
    low, high = np.percentile(np.median(d[draws], axis=1), [2.5, 97.5])
    half = (high - low) / 2
    # Within 10% of the reference's half-width (seeds 0-5: at most 7%); a 90% interval's ends
    # lie 15-33% of the half-width inside.
    assert ours.low == pytest.approx(low, abs=0.1 * half)
    assert ours.high == pytest.approx(high, abs=0.1 * half)


def test_block_length_follows_the_ar1_formula():
    """The plug-in length restated from its definition: lag-1 autocorrelation rho (numpy), then
    round((4 rho^2 / (1 - rho^2)^2)^(1/3) n^(1/3)), at most n / MIN_BLOCKS; independence
    (rho <= 2 / sqrt(n)) and fewer than 2 MIN_BLOCKS samples give 1."""
    for rho, n, seed in [(0.3, 400, 1), (0.5, 300, 2), (0.7, 1000, 3), (0.8, 200, 4)]:
        x = ar1(rho, n, seed)
        d = x - x.mean()
        r = min(float(d[:-1] @ d[1:]) / float(d @ d), 0.95)
        assert r > 2 / math.sqrt(n)
        expected = min(round((4 * r**2 / (1 - r**2) ** 2) ** (1 / 3) * n ** (1 / 3)), n // 5)
        assert stats.block_length(x) == expected > 1, (rho, n)
    x = ar1(0.99, 50, 5)  # rho clipped at 0.95, then capped at n / MIN_BLOCKS = 10
    assert stats.block_length(x) == 10
    # A trend (rho ~ 0.7, optimum ~4): 10 samples (2 MIN_BLOCKS) allow blocks of 2, 9 do not.
    assert stats.block_length(np.arange(10.0)) == 2
    assert stats.block_length(np.arange(9.0)) == 1


def test_blocked_interval_matches_a_numpy_block_bootstrap():
    """A correlated series: the interval of its median against a non-overlapping block bootstrap
    written here (the same block length, the oldest n % length samples left out)."""
    x = 10 + ar1(0.7, 300, 17)
    length = stats.block_length(x)
    assert length > 1
    ours = stats.block_bootstrap([x], lambda p: np.median(p[0], axis=-1), 0.95)
    k = x.size // length
    blocks = x[x.size - k * length :].reshape(k, length)
    drawn = np.random.default_rng(9).integers(0, k, (REFERENCE_RESAMPLES, k))
    low, high = np.percentile(
        np.median(blocks[drawn].reshape(REFERENCE_RESAMPLES, -1), 1), [2.5, 97.5]
    )
    half = (high - low) / 2
    # Within 10% of the half-width; half or double the block length moves an end by 19-26%,
    # single calls (length 1) by 45%.
    assert ours.low == pytest.approx(low, abs=0.1 * half)
    assert ours.high == pytest.approx(high, abs=0.1 * half)


def test_interval_width_follows_the_normal_approximation_of_the_median():
    """Analytic check: a median of n normal samples has standard error sigma * sqrt(pi / 2n), so
    the log ratio of two medians of lognormal samples has sd sqrt(pi / 2n) * sqrt(2) * s, and
    the interval spans ratio * exp(+-z * sd) with z the normal quantile of the confidence. One
    data set's own spread moves the measured width by up to ~20%; a 90% interval would be 0.84x
    the 95% one, a 99% interval 1.31x."""
    s = 0.1
    base, new = lognormal_pair(seed=3)
    ours = stats.ratio_of_medians(base, new, comparison.CONFIDENCE)
    z = scipy_stats.norm.ppf(0.5 + comparison.CONFIDENCE / 2)
    sd = math.sqrt(math.pi / (2 * N)) * math.sqrt(2) * s
    measured = math.log(ours.high / ours.low) / 2
    assert measured == pytest.approx(z * sd, rel=0.2)
    assert math.log(ours.low) < math.log(ours.value) < math.log(ours.high)


def test_a_wider_confidence_gives_a_wider_interval():
    base, new = lognormal_pair(seed=5)
    narrow = stats.ratio_of_medians(base, new, 0.80)
    wide = stats.ratio_of_medians(base, new, 0.99)
    assert wide.low < narrow.low < narrow.value < narrow.high < wide.high


def test_object_arrays_are_read_as_numbers():
    """A pandas column that once held None has dtype object."""
    base, new = lognormal_pair(seed=9)
    as_objects = stats.ratio_of_medians(base.astype(object), new.astype(object), 0.95)
    plain = stats.ratio_of_medians(base, new, 0.95)
    assert (as_objects.value, as_objects.low, as_objects.high) == (
        plain.value,
        plain.low,
        plain.high,
    )


EMPTY = r"^block_bootstrap needs at least one sample in every series$"


def test_empty_series_are_refused():
    with pytest.raises(ValueError, match=EMPTY):
        stats.ratio_of_medians([], [1.0], 0.95)
    with pytest.raises(ValueError, match=EMPTY):
        stats.ratio_of_medians([1.0], [], 0.95)


def test_medians_below_one_millisecond_are_fine():
    r = stats.ratio_of_medians([0.5, 0.25, 0.75], [0.125, 0.25, 0.5], 0.99)
    assert r.value == 0.5


def test_counts_are_recorded():
    e = evidence.two_runs([1.0, 2.0, 3.0], [2.0, 3.0])
    assert (e.n_base, e.n_new) == (3, 2)
    blocks = evidence.interleaved([[1.0, 2.0], [3.0]], [[2.0], [3.0, 4.0, 5.0]])
    assert (blocks.n_base, blocks.n_new) == (3, 4)
