"""How much a per-row or per-question quantity moves with list length: an ordinary least-squares line.

Used beside the length-matched control (:func:`steervec.data.length_match.length_match`): regress,
say, a student's per-row loss or a per-question trait score on the number of numbers per row, and
read the slope with its Student-t interval (``n − 2`` degrees of freedom). It answers "does this
quantity depend on length at all?" for one set of rows; it is not a verdict over seeds.

Example:
    >>> fit = length_regression([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    >>> round(fit.slope, 6), round(fit.intercept, 6)
    (0.1, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from steervec.core.errors import StatisticsInputError
from steervec.metrics.stats import as_values
from steervec.metrics.t_distribution import t_quantile


@dataclass(frozen=True)
class LengthRegression:
    """``value ≈ intercept + slope · length`` by least squares.

    Attributes:
        n: points fitted.
        slope / intercept: the fitted line.
        slope_low / slope_high: the slope's ``level`` Student-t interval (NaN for n < 3 or a perfect fit
            with n = 2).
        r2: the share of the values' variance the line explains (NaN when the values are constant).
        mean_length / mean_value: the means of the two inputs.
    """

    n: int
    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    r2: float
    mean_length: float
    mean_value: float

    def at(self, length: float) -> float:
        """The line's value at ``length``."""
        return self.intercept + self.slope * length

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def length_regression(lengths: Sequence[float], values: Sequence[float], level: float = 0.95) -> LengthRegression:
    """Least-squares line of ``values`` on ``lengths`` with the slope's t interval.

    Args:
        lengths: one length per point (e.g. :func:`~steervec.data.number_filter.count_numbers` of a row).
        values: the quantity per point (per-row loss, per-question Δlog P...).
        level: the interval's coverage.

    Raises:
        StatisticsInputError: fewer than two points, different lengths, non-finite values, or
            every length equal (no slope to fit).
    """
    x = as_values(lengths, "lengths", at_least=2)
    y = as_values(values, "values", at_least=2)
    if x.size != y.size:
        raise StatisticsInputError(f"{x.size} lengths but {y.size} values: pass one value per length")
    dx = x - x.mean()
    sxx = float((dx**2).sum())
    if sxx == 0.0:
        raise StatisticsInputError("every length is the same: there is no slope to fit (vary the lengths)")
    dy = y - y.mean()
    slope = float((dx * dy).sum()) / sxx
    intercept = float(y.mean()) - slope * float(x.mean())
    resid = dy - slope * dx
    sse, syy = float((resid**2).sum()), float((dy**2).sum())
    low = high = float("nan")
    if x.size > 2:
        se = math.sqrt(sse / (x.size - 2) / sxx)
        half = t_quantile((1.0 + level) / 2.0, x.size - 2) * se
        low, high = slope - half, slope + half
    r2 = 1.0 - sse / syy if syy > 0 else float("nan")
    return LengthRegression(int(x.size), slope, intercept, low, high, r2, float(np.mean(x)), float(np.mean(y)))


__all__ = ["LengthRegression", "length_regression"]
