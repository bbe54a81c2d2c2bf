"""The numeric helpers: bootstrap speedup intervals, log-log crossings and scaling exponents."""

import math

import pytest

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
