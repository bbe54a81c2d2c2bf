"""bench.stats: the block bootstrap every interval in the project comes from, its block length,
the bootstrapped minimum over candidates, and Holm's adjustment. Series are seeded, so every
outcome here is known; nothing is timed."""

from __future__ import annotations

import numpy as np
import pytest

from bench import stats


def ar1(rho: float, n: int, seed: int) -> np.ndarray:
    """A stationary AR(1) series of log-times around 0 (unit marginal spread)."""
    rng = np.random.default_rng(seed)
    e = np.empty(n)
    e[0] = rng.normal()
    for t in range(1, n):
        e[t] = rho * e[t - 1] + np.sqrt(1 - rho**2) * rng.normal()
    return e


def median(parts: list[np.ndarray]) -> np.ndarray:
    return np.median(parts[0], axis=-1)


def test_lag1_autocorrelation_of_known_series():
    assert stats.lag1_autocorrelation(ar1(0.9, 2000, 1)) == pytest.approx(0.9, abs=0.03)
    assert stats.lag1_autocorrelation([1.0, 2.0]) == 0.0  # too short to say
    assert stats.lag1_autocorrelation([3.0] * 10) == 0.0  # constant


def test_block_length_grows_with_correlation_and_leaves_enough_blocks():
    rng = np.random.default_rng(0)
    assert stats.block_length(rng.normal(size=200)) == 1  # independent: single calls
    weak, strong = stats.block_length(ar1(0.5, 200, 2)), stats.block_length(ar1(0.9, 200, 2))
    assert 1 < weak < strong <= 200 // stats.MIN_BLOCKS
    assert stats.block_length(ar1(0.9, 8, 3)) == 1  # too short for MIN_BLOCKS blocks of 2


def test_as_blocks_drops_the_oldest_samples():
    blocks = stats.as_blocks([0, 1, 2, 3, 4, 5, 6], 3)
    assert blocks.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_bootstrap_is_seeded_and_brackets_the_statistic():
    x = np.exp(ar1(0.3, 100, 4))
    first = stats.block_bootstrap([x], median, 0.95)
    again = stats.block_bootstrap([x], median, 0.95)
    assert (first.value, first.low, first.high) == (again.value, again.low, again.high)
    assert first.value == pytest.approx(np.median(x))
    assert first.low < first.value < first.high
    assert first.distribution.size == stats.BOOTSTRAP_RESAMPLES


def test_blocks_widen_the_interval_of_a_correlated_series():
    """Resampling single calls of a strongly correlated series treats them as independent and
    gives a far narrower interval; blocks keep the correlation (coverage_study.py measures how
    much closer to 95% that brings the coverage)."""
    x = ar1(0.9, 300, 5)
    single = stats.block_bootstrap([x], median, 0.95, lengths=[1])
    blocked = stats.block_bootstrap([x], median, 0.95)
    assert blocked.high - blocked.low > 1.5 * (single.high - single.low)


def test_series_of_different_lengths_resample_separately():
    a, b = np.full(7, 2.0), np.linspace(3.0, 5.0, 40)
    r = stats.ratio_of_medians(a, b, 0.95)
    assert r.value == pytest.approx(2.0)  # median(b) = 4, median(a) = 2
    assert 1.5 <= r.low < r.value < r.high <= 2.5  # resampled medians stay within b's range / 2


def test_single_values_give_an_exact_answer():
    r = stats.ratio_of_medians([2.0], [3.0], 0.95)
    assert (r.value, r.low, r.high) == (1.5, 1.5, 1.5)
    assert r.share_at_most(1.2) == 0.0 and r.share_at_most(1.6) == 1.0
    assert r.share_at_least(1.6) == 0.0 and r.share_at_least(1.2) == 1.0


def test_one_sided_p_value_counts_the_resamples_at_or_beyond_the_limit():
    i = stats.Interval(1.0, 0.9, 1.1, np.array([0.8, 0.9, 1.0, 1.1, 1.2]))
    assert i.share_at_most(0.9) == pytest.approx(3 / 6)  # (2 + 1) / (5 + 1)
    assert i.share_at_least(1.15) == pytest.approx(2 / 6)
    assert i.share_at_most(0.5) == pytest.approx(1 / 6)  # never 0 with resamples


def test_fastest_of_equal_noisy_candidates_is_biased_low_and_its_bootstrap_more_so():
    """Three equally fast candidates: the smallest of three noisy medians is below the truth, and
    taking the minimum in each resample pushes the resampled values lower still (the bootstrap
    is inconsistent for a minimum over near-equal values), which is why the report resamples the
    winner alone and states the bias (reports/baselines/README.md, coverage table)."""
    rng = np.random.default_rng(6)
    candidates = [np.exp(rng.normal(0, 0.1, 30)) for _ in range(3)]
    subject = np.exp(rng.normal(0, 0.1, 30))
    winner = min(candidates, key=np.median)
    alone = stats.ratio_of_medians(subject, winner, 0.95)
    together = stats.block_bootstrap(
        [*candidates, subject],
        lambda p: np.min([np.median(x, -1) for x in p[:3]], 0) / np.median(p[3], -1),
        0.95,
    )
    assert together.value == pytest.approx(alone.value)
    assert together.distribution.mean() < alone.distribution.mean()


def test_holm_adjusts_step_down_and_keeps_the_order():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max.
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([]) == []


def test_holm_controls_the_family_not_each_hypothesis():
    """Twenty true nulls with uniform p-values: unadjusted, about one is below 0.05; after Holm
    none is (the family-wise rate is what a sweep-level gate needs)."""
    p = np.linspace(0.01, 0.99, 20)
    assert (p <= 0.05).sum() >= 1
    assert min(stats.holm(p)) > 0.05


def test_lag1_autocorrelation_from_three_samples_and_of_a_small_spread():
    # d = (-4/3, -1/3, 5/3): sum d_t d_(t+1) = -1/9 over sum d^2 = 42/9.
    assert stats.lag1_autocorrelation([1.0, 2.0, 4.0]) == pytest.approx(-1 / 42)
    # Values 0.01 apart (sum of squares far below 1) still have their autocorrelation.
    assert stats.lag1_autocorrelation(np.arange(10) * 0.01) == pytest.approx(
        stats.lag1_autocorrelation(np.arange(10.0))
    )
    assert stats.lag1_autocorrelation(np.arange(10.0)) == pytest.approx(0.7)


def test_holm_caps_each_adjusted_value_at_one():
    assert stats.holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])  # 2 x 0.6 = 1.2, capped


def test_two_blocks_are_resampled_and_one_block_is_a_point():
    """Two samples, block length 1: two blocks, resampled (medians 1, 2 or 3); the point answer
    is for series that are one block each."""
    r = stats.block_bootstrap([[1.0, 3.0]], median, 0.95)
    assert r.distribution.size == stats.BOOTSTRAP_RESAMPLES
    assert set(np.unique(r.distribution)) == {1.0, 2.0, 3.0}
    point = stats.ratio_of_medians([2.0], [3.0], 0.95)
    assert point.distribution.tolist() == [1.5]


def test_a_one_sample_side_resamples_like_two_equal_samples():
    """A one-block series is drawn as that block twice: the other side's resamples are then the
    very ones it gets beside two equal samples (scipy draws two indices for each)."""
    b = np.exp(np.random.default_rng(12).normal(0, 0.1, 40))
    one, two = stats.ratio_of_medians([2.0], b, 0.95), stats.ratio_of_medians([2.0, 2.0], b, 0.95)
    assert (one.low, one.high) == (two.low, two.high)
    assert np.array_equal(one.distribution, two.distribution)


def test_block_lengths_must_match_the_series():
    x = np.exp(ar1(0.3, 50, 13))
    with pytest.raises(ValueError, match="zip"):
        stats.block_bootstrap([x, x], stats.median_ratio, 0.95, lengths=[1])
