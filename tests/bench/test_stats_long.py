"""bench.stats on long series (LONG_SERIES samples a side and more): the order-statistic interval
of a ratio of medians that replaces the block bootstrap there, its rank-based variance inflation,
its normal p-values, and the dispatch between the two. References are scipy's ranks, normal
distribution and a median's normal-theory standard error; nothing is timed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal
from scipy import stats as scipy_stats

from bench import evidence, stats

Z95 = scipy_stats.norm.ppf(0.975)


def ar1(rho: float, n: int, rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
    """Stationary AR(1) with marginal N(0, sigma^2): e_t = rho e_(t-1) + shock_t."""
    shocks = rng.normal(0, sigma * math.sqrt(1 - rho**2), n)
    shocks[0] = rng.normal(0, sigma)
    return signal.lfilter([1.0], [1.0, -rho], shocks)


def rank_rho(x: np.ndarray) -> float:
    """Lag-1 autocorrelation of scipy's mean ranks."""
    r = scipy_stats.rankdata(x)
    d = r - r.mean()
    return float(d[:-1] @ d[1:] / (d @ d))


def inflation(x: np.ndarray) -> float:
    r = min(max(rank_rho(x), 0.0), stats.MAX_RHO)
    return (1 + r) / (1 - r)


def test_ranks_and_order_match_scipy_with_ties():
    x = np.round(np.random.default_rng(0).normal(size=700), 1)  # many ties
    ordered, ranks = stats.ranked(x)
    assert ordered.tolist() == sorted(x.tolist())
    assert ranks == pytest.approx(scipy_stats.rankdata(x), abs=0)


def test_variance_inflation_is_the_ar1_factor_of_the_rank_autocorrelation():
    rng = np.random.default_rng(1)
    for rho in (0.3, 0.7, 0.9):
        x = ar1(rho, 2000, rng)
        r = rank_rho(x)
        assert stats.variance_inflation(stats.ranked(x)[1]) == pytest.approx((1 + r) / (1 - r))
    # Negative autocorrelation counts as independence (1), not as narrower than independent.
    alternating = np.tile([1.0, 5.0], 300) + np.arange(600) * 1e-6
    assert rank_rho(alternating) < -0.4
    assert stats.variance_inflation(stats.ranked(alternating)[1]) == 1.0
    # Near 1 it is clipped at MAX_RHO (a trend): (1 + 0.95) / (1 - 0.95) = 39.
    assert stats.variance_inflation(stats.ranked(np.arange(600.0))[1]) == pytest.approx(39.0)


def test_spikes_leave_the_rank_autocorrelation_where_the_values_lose_it():
    """3% of calls 3-20x slower: the values' lag-1 autocorrelation collapses toward 0 (a block
    length of 1, an interval as if independent), the ranks' stays near the AR(1) series' own."""
    rng = np.random.default_rng(2)
    e = ar1(0.9, 2000, rng, sigma=0.1)
    spiky = np.exp(e + (rng.random(2000) < 0.03) * rng.uniform(1.1, 3.0, 2000))
    assert stats.lag1_autocorrelation(spiky) < 0.5
    assert rank_rho(spiky) > 0.75


def test_log_median_standard_error_follows_the_normal_theory_of_the_median():
    """Independent log-normal samples: the log median has standard error sigma sqrt(pi / 2n)
    (its asymptotic variance 1 / (4 n f(m)^2) with f the normal density at the median)."""
    sigma, n = 0.1, 2000
    for seed in range(3):
        x = np.exp(np.random.default_rng(seed).normal(0, sigma, n))
        value, se = stats.log_median_error(x, 0.95)
        assert value == pytest.approx(math.log(np.median(x)), rel=1e-12, abs=1e-15)
        assert se == pytest.approx(sigma * math.sqrt(math.pi / (2 * n)), rel=0.15)


def test_correlation_widens_the_error_by_the_square_root_of_the_inflation():
    """The same 2,000 values in time order (AR(1), rho 0.9) and shuffled: the order statistics
    are the same, so the errors differ by sqrt(inflation) of the ordered series, up to the
    rounding of c."""
    rng = np.random.default_rng(3)
    x = np.exp(ar1(0.9, 2000, rng, sigma=0.1))
    shuffled = rng.permutation(x)
    _, ordered_se = stats.log_median_error(x, 0.95)
    _, shuffled_se = stats.log_median_error(shuffled, 0.95)
    expected = math.sqrt(inflation(x) / inflation(shuffled))
    assert ordered_se / shuffled_se == pytest.approx(expected, rel=0.1)
    assert ordered_se > 3 * shuffled_se


def test_long_ratio_is_a_normal_interval_on_the_log_scale():
    rng = np.random.default_rng(4)
    base, new = np.exp(rng.normal(0, 0.1, 800)), 1.1 * np.exp(rng.normal(0, 0.1, 600))
    r = stats.ratio_of_medians(base, new, 0.95)
    se_b, se_n = stats.log_median_error(base, 0.95)[1], stats.log_median_error(new, 0.95)[1]
    se = math.hypot(se_b, se_n)
    assert isinstance(r, stats.NormalInterval) and r.distribution.size == 0
    assert r.value == pytest.approx(np.median(new) / np.median(base), rel=1e-12)
    assert r.low == pytest.approx(r.value * math.exp(-Z95 * se), rel=1e-12)
    assert r.high == pytest.approx(r.value * math.exp(Z95 * se), rel=1e-12)
    # One-sided p-values from the normal distribution (scipy's, on the log scale).
    for limit in (1.05, 1.1, 1.12):
        z = (math.log(limit) - math.log(r.value)) / se
        assert r.share_at_most(limit) == pytest.approx(scipy_stats.norm.cdf(z), rel=1e-9)
        assert r.share_at_least(limit) == pytest.approx(scipy_stats.norm.sf(z), rel=1e-9)


def test_a_wider_confidence_widens_the_long_interval():
    rng = np.random.default_rng(5)
    base, new = np.exp(rng.normal(0, 0.1, 1000)), np.exp(rng.normal(0, 0.1, 1000))
    narrow, wide = stats.ratio_of_medians(base, new, 0.8), stats.ratio_of_medians(base, new, 0.99)
    assert wide.low < narrow.low < narrow.value < narrow.high < wide.high


def test_the_bootstrap_keeps_short_series_and_non_positive_ones():
    rng = np.random.default_rng(6)
    long_, short = np.exp(rng.normal(0, 0.1, stats.LONG_SERIES)), np.exp(rng.normal(0, 0.1, 499))
    assert isinstance(stats.ratio_of_medians(long_, long_[::-1], 0.95), stats.NormalInterval)
    kept = stats.ratio_of_medians(long_, short, 0.95)
    assert not isinstance(kept, stats.NormalInterval)
    assert kept.distribution.size == stats.BOOTSTRAP_RESAMPLES
    other_way = stats.ratio_of_medians(short[:50], long_, 0.95, resamples=999)  # short BASE
    assert other_way.distribution.size == 999  # the resample count reaches the bootstrap
    assert stats.is_long(long_, long_) and not stats.is_long(long_, short)
    assert not stats.is_long(np.append(long_[1:], 0.0))  # log medians need positive samples


def test_constant_long_series_give_an_exact_answer():
    r = stats.ratio_of_medians([2.0] * 600, [3.0] * 600, 0.95)
    assert (r.value, r.low, r.high) == pytest.approx((1.5, 1.5, 1.5))
    assert r.share_at_most(1.2) == 0.0 and r.share_at_most(1.6) == 1.0
    assert r.share_at_least(1.6) == 0.0 and r.share_at_least(1.2) == 1.0


@pytest.mark.parametrize(("rho", "noise"), [(0.0, "gaussian"), (0.9, "gaussian"), (0.7, "t3")])
def test_coverage_of_the_long_interval_holds(rho, noise):
    """A seeded miniature of reports/baselines/coverage_study.py (the long table): 200 pairs of
    equally fast 1,000-call series; the 95% interval holds the true ratio 1 in at least 90% of
    them (without the inflation, the rho 0.9 case covers 36%)."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        sides = []
        for _ in range(2):
            e = ar1(rho, 1000, rng, sigma=0.1)
            if noise == "t3":
                e = e + rng.standard_t(3, 1000) * 0.02
            sides.append(np.exp(e))
        r = stats.ratio_of_medians(*sides, 0.95)
        hits += r.low <= 1.0 <= r.high
    assert 0.9 <= hits / 200 <= 1.0


def test_the_gate_uses_the_long_interval_and_the_geometric_mean_combines_the_errors():
    rng = np.random.default_rng(8)
    rows = [
        evidence.two_runs(np.exp(rng.normal(0, 0.1, 600)), np.exp(rng.normal(0.02, 0.1, 600)))
        for _ in range(4)
    ]
    each = [evidence.log_interval(e, 0.95) for e in rows]
    for e, i in zip(rows, each, strict=True):
        expected = stats.log_median_ratio(*e.series, 0.95)
        assert (i.value, i.low, i.high) == (expected.value, expected.low, expected.high)
        assert i.value == pytest.approx(math.log(np.median(e.series[1]) / np.median(e.series[0])))
    mean = evidence.mean_log_interval(rows, 0.95)
    se = math.sqrt(sum(i.se**2 for i in each)) / len(each)
    assert mean.value == pytest.approx(np.mean([i.value for i in each]), rel=1e-12)
    assert (mean.low, mean.high) == pytest.approx((mean.value - Z95 * se, mean.value + Z95 * se))
    given = evidence.mean_log_interval(rows, 0.95, each)  # the rows' intervals passed in
    assert (given.value, given.low, given.high) == (mean.value, mean.low, mean.high)


def test_a_mixed_sweep_keeps_the_joint_bootstrap():
    rng = np.random.default_rng(9)
    long_ = evidence.two_runs(np.exp(rng.normal(0, 0.1, 600)), np.exp(rng.normal(0, 0.1, 600)))
    short = evidence.two_runs(np.exp(rng.normal(0, 0.1, 50)), np.exp(rng.normal(0, 0.1, 50)))
    mean = evidence.mean_log_interval([long_, short], 0.95)
    assert not isinstance(mean, stats.NormalInterval)
    assert mean.distribution.size == stats.BOOTSTRAP_RESAMPLES


@pytest.mark.parametrize(
    ("rho", "n", "confidence"), [(0.0, 500, 0.95), (0.8, 777, 0.9), (0.0, 7, 0.95)]
)
def test_log_median_error_restated_from_its_definition(rho, n, confidence):
    """Price and Bonett's order statistics, restated with scipy: the rank count's standard
    deviation sd = sqrt(n f) / 2 with f = (1 + r) / (1 - r) from the ranks' lag-1
    autocorrelation r, c = max(1, round((n + 1) / 2 - z sd)) (1-based),
    z_c = ((n + 1) / 2 - c) / sd, and se = (log x_(n-c+1) - log x_(c)) / (2 z_c)."""
    x = np.exp(ar1(rho, n, np.random.default_rng(10), sigma=0.1))
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    sd = math.sqrt(n * inflation(x)) / 2
    c = max(1, round((n + 1) / 2 - z * sd))  # 7 samples: c = 1, the extreme order statistics
    z_c = ((n + 1) / 2 - c) / sd
    s = np.sort(x)
    expected = (math.log(s[n - c]) - math.log(s[c - 1])) / (2 * z_c)
    value, se = stats.log_median_error(x, confidence)
    assert se == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(math.log(np.median(x)), rel=1e-12)


def test_normal_interval_on_its_own_scale_and_at_its_edges():
    """A log ratio's interval (bench.evidence's): value +- z se, p-values normal on that scale;
    with se 0 a limit equal to the value holds both H0s (p = 1)."""
    i = stats.normal_log_interval(0.1, 0.02, 0.95)
    assert (i.low, i.high) == pytest.approx((0.1 - Z95 * 0.02, 0.1 + Z95 * 0.02), rel=1e-12)
    assert i.share_at_most(0.05) == pytest.approx(scipy_stats.norm.cdf(-2.5), rel=1e-9)
    assert i.share_at_least(0.05) == pytest.approx(scipy_stats.norm.sf(-2.5), rel=1e-9)
    assert i.share_at_least(0.16) == pytest.approx(scipy_stats.norm.sf(3.0), rel=1e-9)
    flat = stats.normal_log_interval(0.1, 0.0, 0.95)
    assert flat.share_at_most(0.1) == 1.0 and flat.share_at_least(0.1) == 1.0
    assert flat.share_at_most(0.09) == 0.0 and flat.share_at_least(0.11) == 0.0


def test_a_joint_bootstrap_of_a_whole_sweep_is_drawn_in_smaller_batches():
    """2,600 rows of 100 samples a side held 500 resamples of all 520,000 values at once
    (4.3 GB); the batch shrinks to keep MAX_RESAMPLED_VALUES, and stays 500 for every run the
    project has committed (so their intervals are drawn exactly as before)."""
    assert evidence.joint_batch(4_000) == stats.BOOTSTRAP_BATCH
    assert evidence.joint_batch(2**24 // stats.BOOTSTRAP_BATCH) == stats.BOOTSTRAP_BATCH
    assert evidence.joint_batch(520_000) == 2**24 // 520_000 == 32
    assert evidence.joint_batch(10**9) == 1
    assert evidence.joint_batch(0) == stats.BOOTSTRAP_BATCH


def test_smaller_batches_change_the_joint_interval_by_resampling_noise_only(monkeypatch):
    rng = np.random.default_rng(3)
    rows = [
        evidence.two_runs(np.exp(rng.normal(0, 0.2, 40)), np.exp(rng.normal(0.1, 0.2, 40)))
        for _ in range(6)
    ]
    usual = evidence.mean_log_interval(rows, 0.95)
    monkeypatch.setattr(evidence, "MAX_RESAMPLED_VALUES", 480 * 7)  # batches of 7 resamples
    assert evidence.joint_batch(480) == 7
    small = evidence.mean_log_interval(rows, 0.95)
    assert small.distribution.size == usual.distribution.size == stats.BOOTSTRAP_RESAMPLES
    assert small.value == usual.value
    width = usual.high - usual.low
    assert (small.low, small.high) != (usual.low, usual.high)  # other draws...
    assert abs(small.low - usual.low) < 0.1 * width  # ...of the same distribution
    assert abs(small.high - usual.high) < 0.1 * width
