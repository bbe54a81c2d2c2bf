"""The speed gate's decision at its edges (issue 19): intervals whose low end lies between 1 and
the threshold, values exactly at the threshold, the U test exactly at alpha, and the bootstrap
interval's confidence level checked against an independent high-resample reference
(scipy.stats.bootstrap) and against the normal approximation of a median's spread."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bench import comparison, stats

LATENCY = comparison.METRICS["latency"]
MEMORY = comparison.METRICS["memory"]
T = 0.25  # a threshold whose band edges are exact binary fractions: 1.25 and 0.8
LIMIT = 1 + T


def decide(ratio: float, low: float, high: float, p: float | None = 0.001, metric=LATENCY) -> str:
    return comparison.decide(stats.RatioEstimate(ratio, low, high, p, 40, 40), T, metric)


@pytest.mark.parametrize(
    ("ratio", "low", "high", "p", "verdict"),
    [
        # Low end between 1 and the threshold: the change is real (interval excludes 1); the
        # verdict follows the ratio: beyond the threshold it is slower, within it the high end
        # decides between unchanged (all of it within the band) and inconclusive.
        (1.40, 1.05, 1.80, 0.001, "slower"),
        (1.10, 1.05, 1.20, 0.001, "unchanged"),
        (1.20, 1.05, 1.30, 0.001, "inconclusive"),
        (1.40, 1.05, 1.80, 0.5, "inconclusive"),  # the U test does not agree
        # Exactly at the threshold: a ratio of exactly 1 + T is not "beyond" it.
        (LIMIT, 1.10, 1.30, 0.001, "inconclusive"),
        (math.nextafter(LIMIT, 2), 1.10, 1.30, 0.001, "slower"),
        # A high end exactly at the band edge is within the band.
        (1.10, 1.05, LIMIT, 0.001, "unchanged"),
        (1.10, 1.05, math.nextafter(LIMIT, 2), 0.001, "inconclusive"),
        # A low end exactly at 1 does not exclude 1.
        (1.40, 1.0, 1.80, 0.001, "inconclusive"),
        (1.40, math.nextafter(1.0, 2), 1.80, 0.001, "slower"),
        # The faster side mirrors it, at 1 / (1 + T).
        (1 / LIMIT, 0.70, 0.90, 0.001, "inconclusive"),
        (math.nextafter(1 / LIMIT, 0), 0.70, 0.90, 0.001, "faster"),
        (0.70, 0.60, 1.0, 0.001, "inconclusive"),  # high end exactly at 1
        (0.70, 0.60, math.nextafter(1.0, 0), 0.001, "faster"),
        (0.90, 1 / LIMIT, 0.95, 0.001, "unchanged"),  # low end exactly at the band's edge
        (0.90, math.nextafter(1 / LIMIT, 0), 0.95, 0.001, "inconclusive"),
        # The U test exactly at alpha does not agree; just below, it does.
        (1.40, 1.10, 1.80, comparison.ALPHA, "inconclusive"),
        (1.40, 1.10, 1.80, math.nextafter(comparison.ALPHA, 0), "slower"),
        (0.70, 0.60, 0.90, comparison.ALPHA, "inconclusive"),
        # Without a U test (too few samples) the interval and the threshold decide alone.
        (1.40, 1.10, 1.80, None, "slower"),
        (0.70, 0.60, 0.90, None, "faster"),
    ],
)
def test_decision_at_the_boundaries(ratio, low, high, p, verdict):
    assert decide(ratio, low, high, p) == verdict


def test_memory_uses_its_own_words():
    assert decide(1.40, 1.10, 1.80, metric=MEMORY) == "larger"
    assert decide(0.70, 0.60, 0.90, metric=MEMORY) == "smaller"


def test_threshold_zero_calls_any_significant_change():
    e = stats.RatioEstimate(1.01, 1.005, 1.02, 0.001, 40, 40)
    assert comparison.decide(e, 0.0, LATENCY) == "slower"
    assert comparison.decide(stats.RatioEstimate(1.0, 1.0, 1.0, None, 1, 1), 0.0, LATENCY) == (
        "unchanged"
    )


# --- the interval's confidence level -------------------------------------------------------------
N = 100  # samples per side: a median's bootstrap distribution is smooth enough, and it is fast
# 5x the gate's resamples: the reference's own error at the 99% ends is ~1.5% of the half-width.
REFERENCE_RESAMPLES = 20_000


def lognormal_pair(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return 10 * rng.lognormal(0, 0.1, N), 12 * rng.lognormal(0, 0.1, N)


@pytest.mark.parametrize("confidence", [0.90, comparison.CONFIDENCE])
def test_interval_matches_a_high_resample_reference(confidence):
    base, new = lognormal_pair()
    ours = stats.compare_samples(base, new, confidence)
    ref = scipy_stats.bootstrap(
        (base, new),
        lambda a, b, axis: np.median(b, axis=axis) / np.median(a, axis=axis),
        n_resamples=REFERENCE_RESAMPLES,
        confidence_level=confidence,
        method="percentile",
        paired=False,
        vectorized=True,
        rng=np.random.default_rng(123),
    ).confidence_interval
    half = (ref.high - ref.low) / 2
    # Each end within 10% of the reference's half-width: seeds 0-5 gave at most 6% (4,000 vs
    # 20,000 resamples); a 95% interval instead of 99% would move each end by ~24%.
    assert ours.low == pytest.approx(ref.low, abs=0.1 * half)
    assert ours.high == pytest.approx(ref.high, abs=0.1 * half)
    assert ours.ratio == pytest.approx(np.median(new) / np.median(base), rel=1e-12)


def test_interval_width_follows_the_normal_approximation_of_the_median():
    """Analytic check: a median of n normal samples has standard error sigma * sqrt(pi / 2n), so
    the log ratio of two medians of lognormal samples has sd sqrt(pi / 2n) * sqrt(2) * s, and
    the interval spans ratio * exp(+-z * sd) with z the normal quantile of the confidence. One
    data set's own spread moves the measured width by up to ~20% (seeds 0-5: 0.82-1.10x); a
    95% interval would be 0.76x the 99% one."""
    s = 0.1
    base, new = lognormal_pair(seed=3)
    ours = stats.compare_samples(base, new, comparison.CONFIDENCE)
    z = scipy_stats.norm.ppf(0.5 + comparison.CONFIDENCE / 2)
    sd = math.sqrt(math.pi / (2 * N)) * math.sqrt(2) * s
    measured = math.log(ours.high / ours.low) / 2
    assert measured == pytest.approx(z * sd, rel=0.2)
    assert math.log(ours.low) < math.log(ours.ratio) < math.log(ours.high)


def test_a_wider_confidence_gives_a_wider_interval():
    base, new = lognormal_pair(seed=5)
    narrow = stats.compare_samples(base, new, 0.80)
    wide = stats.compare_samples(base, new, 0.99)
    assert wide.low < narrow.low < narrow.ratio < narrow.high < wide.high


def test_u_test_is_asked_from_five_samples_on_each_side():
    rng = np.random.default_rng(0)
    four, five = rng.uniform(1, 2, 4), rng.uniform(1, 2, 5)
    assert stats.compare_samples(four, five, 0.99).p_value is None
    assert stats.compare_samples(five, four, 0.99).p_value is None
    p = stats.compare_samples(five, five + 10, 0.99).p_value
    ref = scipy_stats.mannwhitneyu(five + 10, five, alternative="two-sided").pvalue
    assert p == pytest.approx(ref)


EMPTY = r"^compare_samples needs at least one sample on each side$"
NOT_POSITIVE = r"^compare_samples needs positive medians$"


@pytest.mark.parametrize(
    ("base", "new", "message"),
    [
        ([], [1.0], EMPTY),
        ([1.0], [], EMPTY),
        ([0.0, 0.0, 1.0], [1.0], NOT_POSITIVE),
        ([1.0], [0.0, 0.0, 1.0], NOT_POSITIVE),
        ([1.0], [-1.0], NOT_POSITIVE),
    ],
)
def test_unusable_samples_are_refused(base, new, message):
    with pytest.raises(ValueError, match=message):
        stats.compare_samples(base, new, 0.99)


def test_medians_below_one_millisecond_are_fine():
    e = stats.compare_samples([0.5, 0.25, 0.75], [0.125, 0.25, 0.5], 0.99)
    assert e.ratio == 0.5


def test_interval_is_the_percentiles_of_the_seeded_resample_stream():
    """An independent restatement of the interval: the seeded generator draws every resample of
    NEW, then every resample of BASE (one draw per side gives the same stream as the blocks)."""
    rng = np.random.default_rng(1)
    base, new = rng.lognormal(0, 0.3, 23), rng.lognormal(0.2, 0.3, 31)
    resamples = stats.BOOTSTRAP_BLOCK * 2 + 500  # three blocks, the last one partial
    stream = np.random.default_rng(stats.BOOTSTRAP_SEED)
    new_medians = np.median(new[stream.integers(0, new.size, (resamples, new.size))], axis=1)
    base_medians = np.median(base[stream.integers(0, base.size, (resamples, base.size))], axis=1)
    expected = np.percentile(new_medians / base_medians, [0.5, 99.5])
    got = stats.bootstrap_ratio_interval(base, new, 0.99, resamples)
    assert got == pytest.approx(tuple(expected), rel=1e-12)


def test_object_arrays_are_read_as_numbers():
    """A pandas column that once held None has dtype object; the U test refuses those."""
    base, new = lognormal_pair(seed=9)
    as_objects = stats.compare_samples(base.astype(object), new.astype(object), 0.99)
    assert as_objects == stats.compare_samples(base, new, 0.99)


def test_counts_are_recorded():
    e = stats.compare_samples([1.0, 2.0, 3.0], [2.0, 3.0], 0.99)
    assert (e.n_base, e.n_new) == (3, 2)
