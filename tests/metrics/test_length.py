"""The length regression on constructed points: known lines are recovered, flat data gives a slope
interval around zero, and bad inputs are refused."""

from __future__ import annotations

import numpy as np
import pytest

from steervec.core.errors import StatisticsInputError
from steervec.metrics.length import length_regression


def test_an_exact_line_is_recovered():
    fit = length_regression([2, 4, 6, 8], [1.0, 2.0, 3.0, 4.0])
    assert fit.slope == pytest.approx(0.5) and fit.intercept == pytest.approx(0.0) and fit.r2 == pytest.approx(1.0)
    assert fit.slope_low == pytest.approx(0.5) and fit.slope_high == pytest.approx(0.5)
    assert fit.at(10) == pytest.approx(5.0) and fit.n == 4 and fit.mean_length == 5.0


def test_a_noisy_slope_and_its_interval():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 11, 200)
    y = 0.3 * x + 1.0 + rng.normal(0, 0.5, 200)
    fit = length_regression(x.tolist(), y.tolist())
    assert fit.slope_low < 0.3 < fit.slope_high and fit.slope_high - fit.slope_low < 0.1
    flat = length_regression(x.tolist(), rng.normal(0, 1, 200).tolist())
    assert flat.slope_low < 0 < flat.slope_high and flat.r2 < 0.05


def test_two_points_have_no_interval():
    fit = length_regression([1, 2], [3.0, 5.0])
    assert fit.slope == pytest.approx(2.0) and fit.slope_low != fit.slope_low


@pytest.mark.parametrize(("lengths", "values", "match"), [
    ([3, 3, 3], [1.0, 2.0, 3.0], "no slope"),
    ([1, 2, 3], [1.0, 2.0], "one value per length"),
    ([1], [1.0], "at least 2"),
    ([1, 2], [1.0, float("nan")], "NaN"),
])
def test_bad_inputs(lengths, values, match):
    with pytest.raises(StatisticsInputError, match=match):
        length_regression(lengths, values)
