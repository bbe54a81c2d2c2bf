"""The numeric helpers: bootstrap speedup intervals, log-log crossings and scaling exponents."""

import math

import numpy as np
import pytest

from bench import stats as bench_stats
from reports.stats import bootstrap_ratio, loglog_crossing, loglog_slope, upper_half


def test_ratio_of_identical_samples_has_a_zero_width_interval():
    ratio = bootstrap_ratio([6.0] * 5, [2.0] * 5)
    assert (ratio.value, ratio.low, ratio.high) == (3.0, 3.0, 3.0)


def test_interval_is_reproducible_and_brackets_the_point_estimate():
    base, subject = [3.0, 3.5, 4.0, 4.5, 5.0], [1.6, 1.8, 2.0, 2.2, 2.4]
    first, again = bootstrap_ratio(base, subject), bootstrap_ratio(base, subject)
    assert first == again  # fixed seed
    assert first.value == 2.0
    # Resampled medians stay within each side's range: 3/2.4 .. 5/1.6.
    assert 3.0 / 2.4 <= first.low < 2.0 < first.high <= 5.0 / 1.6


def test_single_samples_collapse_to_the_point_estimate():
    assert bootstrap_ratio([3.0], [1.5]) == bootstrap_ratio([3.0], [1.5])
    assert bootstrap_ratio([3.0], [1.5]).low == 2.0


def test_crossing_is_interpolated_in_log_log():
    # ratio = 0.3 * L/1024 crosses 1 at L = 1024 / 0.3 exactly on a power law.
    lengths = [1024, 2048, 4096, 8192]
    assert loglog_crossing(lengths, [0.3 * n / 1024 for n in lengths]) == pytest.approx(
        1024 / 0.3, rel=1e-12
    )


def test_crossing_takes_the_last_rise_and_reports_never_or_always():
    assert loglog_crossing([1, 2, 4, 8], [2.0, 0.5, 0.5, 2.0]) == pytest.approx(4 * 2**0.5)
    assert loglog_crossing([1, 2, 4], [0.5, 0.6, 0.9]) is None
    assert loglog_crossing([1, 2, 4], [1.5, 2.0, 3.0]) == 1.0
    assert loglog_crossing([], []) is None


def test_upper_half_keeps_the_middle_and_at_least_four_points():
    assert upper_half([7, 1, 2, 3, 4, 5, 6, 8, 9]) == [5, 6, 7, 8, 9]
    assert upper_half([7, 1, 2, 3, 4, 5, 6]) == [4, 5, 6, 7]
    assert upper_half([1, 2, 3, 4, 5]) == [2, 3, 4, 5]  # the smoke preset's five lengths
    assert upper_half([1, 2, 3]) == [1, 2, 3]  # all the run has
    assert upper_half([1, 2]) == [1, 2]


def test_slope_of_a_power_law_is_its_exponent():
    fit = loglog_slope([1024, 2048, 4096], [1.0, 4.0, 16.0])
    assert fit.exponent == pytest.approx(2.0, abs=1e-12)
    assert fit.stderr == pytest.approx(0.0, abs=1e-12)
    assert fit.low == pytest.approx(2.0, abs=1e-9) and fit.high == pytest.approx(2.0, abs=1e-9)
    two = loglog_slope([1, 2], [1.0, 2.0])
    assert math.isnan(two.stderr) and math.isnan(two.low)
    assert loglog_slope([1], [1.0]) is None


# Two-sided 95% quantiles of Student's t (printed tables): 1 and 2 degrees of freedom.
T_975 = {1: 12.706, 2: 4.303}


@pytest.mark.parametrize("points", [3, 4])
def test_slope_interval_uses_the_t_distribution_with_n_minus_2_degrees_of_freedom(points):
    """Three lengths leave one degree of freedom: the interval is 12.7 standard errors wide on
    each side, not 1.96; four leave two (4.30)."""
    lengths = [1024 * 2**i for i in range(points)]
    noise = [1.0, 1.3, 0.8, 1.1][:points]
    fit = loglog_slope(lengths, [n**1.5 * e for n, e in zip(lengths, noise, strict=True)])
    half = (fit.high - fit.low) / 2
    assert fit.stderr > 0
    assert half / fit.stderr == pytest.approx(T_975[points - 2], rel=1e-3)
    assert fit.low < fit.exponent < fit.high


# --- interval and edge cases checked against an independent reference (issue 19) ----------------
def reference_interval(base, subject, confidence=0.95, resamples=40_000, seed=11):
    """Percentile bootstrap of median(base)/median(subject), each side resampled on its own,
    written directly in numpy with 4x the resamples of reports.stats."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(base), np.asarray(subject)
    ma = np.median(a[rng.integers(0, a.size, (resamples, a.size))], axis=1)
    mb = np.median(b[rng.integers(0, b.size, (resamples, b.size))], axis=1)
    tail = (1 - confidence) / 2 * 100
    return np.percentile(ma / mb, [tail, 100 - tail])


def lognormal(n, scale, seed):
    return list(scale * np.random.default_rng(seed).lognormal(0, 0.2, n))


@pytest.mark.parametrize(
    ("base", "subject"),
    [
        (lognormal(40, 6.0, 1), lognormal(30, 2.0, 2)),  # both sides spread, unequal sizes
        (lognormal(40, 6.0, 3), [2.0]),  # one sample: only the other side's spread
        ([5.0], lognormal(25, 2.0, 4)),
        (lognormal(2, 6.0, 5), [2.0]),  # two samples against one
        ([6.0], lognormal(2, 2.0, 6)),  # one sample against two
        ([6.0, 6.0], lognormal(3, 2.0, 9)),  # no spread on one side: the other's only
    ],
)
def test_interval_matches_an_independent_bootstrap(base, subject):
    ours = bootstrap_ratio(base, subject)
    low, high = reference_interval(base, subject)
    half = (high - low) / 2
    assert high > low, "the case has spread to resample"
    assert ours.low == pytest.approx(low, abs=0.1 * half)
    assert ours.high == pytest.approx(high, abs=0.1 * half)
    assert ours.value == pytest.approx(np.median(base) / np.median(subject), rel=1e-12)


def test_interval_is_seeded_on_continuous_samples():
    base, subject = lognormal(40, 6.0, 7), lognormal(30, 2.0, 8)
    assert bootstrap_ratio(base, subject) == bootstrap_ratio(base, subject)


def test_single_samples_on_both_sides_give_a_point():
    r = bootstrap_ratio([3.0], [1.5])
    assert (r.value, r.low, r.high) == (2.0, 2.0, 2.0)


@pytest.mark.parametrize(("base", "subject"), [([], [1.0]), ([1.0], []), ([], [])])
def test_an_empty_side_is_an_error(base, subject):
    message = r"^bootstrap_ratio needs at least one sample on each side$"
    with pytest.raises(ValueError, match=message):
        bootstrap_ratio(base, subject)


def test_a_ratio_touching_one_is_not_below_it():
    assert loglog_crossing([1, 2, 4], [0.5, 0.8, 1.0]) == pytest.approx(4.0)
    assert loglog_crossing([1, 2, 4], [2.0, 1.0, 2.0]) == 1.0


def test_crossing_uses_the_last_point_below_one():
    lengths = [1, 2, 4, 8]
    assert loglog_crossing(lengths, [0.5, 0.5, 0.5, 2.0]) == pytest.approx(4 * 2**0.5)


def test_slope_names_its_lengths():
    assert loglog_slope([1024.0, 2048.0, 4096.0], [1.0, 3.0, 9.0]).lengths == (1024, 2048, 4096)


def test_object_columns_are_read_as_numbers():
    """A pandas column that once held None keeps dtype object after dropna(); numpy's log and
    scipy's bootstrap refuse object arrays, so the numbers must be converted."""
    lengths = np.array([1024, 2048, 4096], dtype=object)
    ratio = np.array([0.5, 0.8, 2.0], dtype=object)
    assert loglog_crossing(lengths, ratio) == loglog_crossing([1024, 2048, 4096], [0.5, 0.8, 2.0])
    base = np.array(lognormal(10, 6.0, 10), dtype=object)
    subject = np.array(lognormal(10, 2.0, 11), dtype=object)
    assert bootstrap_ratio(base, subject) == bootstrap_ratio(list(base), list(subject))


def test_the_claims_interval_is_the_bootstrap_with_ten_thousand_resamples():
    """Short rows: bench.stats' block bootstrap of median(base) / median(subject), with the
    report's 10,000 resamples (not bench.stats' default 4,000), to the last digit."""
    base, subject = lognormal(40, 6.0, 12), lognormal(30, 2.0, 13)
    ours = bootstrap_ratio(base, subject)
    pinned = bench_stats.block_bootstrap(
        [subject, base], bench_stats.median_ratio, 0.95, resamples=10_000
    )
    assert (ours.low, ours.high) == (pinned.low, pinned.high)


def test_a_two_point_slope_has_its_exponent_and_lengths_but_no_error():
    fit = loglog_slope([1024.0, 2048.0], [1.0, 4.0])
    assert fit.exponent == pytest.approx(2.0)
    assert fit.lengths == (1024, 2048)
    assert math.isnan(fit.stderr) and math.isnan(fit.low) and math.isnan(fit.high)


def test_slope_standard_error_and_interval_match_scipys_regression():
    """Noisy power laws of four and six lengths: the exponent, its standard error and the 95% t
    interval are scipy.stats.linregress's slope and stderr with t.ppf's quantile at n - 2
    degrees of freedom (three points would hide a factor n - 2 = 1)."""
    from scipy import stats

    rng = np.random.default_rng(19)
    for points in (4, 6):
        lengths = [512 * 2**i for i in range(points)]
        latency = list(1e-3 * np.array(lengths) ** 1.3 * rng.lognormal(0, 0.3, points))
        fit = loglog_slope(lengths, latency)
        ref = stats.linregress(np.log(lengths), np.log(latency))
        half = stats.t.ppf(0.975, points - 2) * ref.stderr
        assert fit.exponent == pytest.approx(ref.slope, rel=1e-12)
        assert fit.stderr == pytest.approx(ref.stderr, rel=1e-9)
        assert (fit.low, fit.high) == pytest.approx((ref.slope - half, ref.slope + half), rel=1e-9)


def test_slope_reads_object_columns_as_numbers():
    """Lengths and latencies from a pandas column of dtype object (it held None once): numpy's
    log refuses Python ints and floats in an object array, so both are converted first."""
    lengths, latency = [1024, 2048, 4096, 8192], [1.0, 2.9, 9.1, 26.0]
    as_objects = loglog_slope(np.array(lengths, dtype=object), np.array(latency, dtype=object))
    assert as_objects == loglog_slope(lengths, latency)
