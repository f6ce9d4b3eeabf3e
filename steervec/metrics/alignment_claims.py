"""Whether a measured alignment supports a claim, reading the sign and the claim's direction.

A sufficiency-type claim predicts that a shift is **aligned** with a direction (cosine
above ``margin``); a necessity-type claim predicts that it is **not aligned** (cosine at or
below ``margin`` — orthogonal or opposite). A negative cosine is never evidence of
alignment: ``|cos|`` would read −0.15 as support for "aligned".

Example:
    >>> alignment_verdict((0.30, 0.20, 0.40), predicts="aligned")
    'yes'
    >>> alignment_verdict((-0.15, -0.25, -0.05), predicts="aligned")
    'no'
    >>> alignment_verdict((-0.15, -0.25, -0.05), predicts="not_aligned")
    'yes'
"""

from __future__ import annotations

import math
from typing import Literal

from steervec.core.errors import ComparisonError

Prediction = Literal["aligned", "not_aligned"]
AlignmentVerdict = Literal["yes", "no", "inconclusive"]


def alignment_verdict(interval: tuple[float, float, float], predicts: Prediction,
                      margin: float = 0.0) -> AlignmentVerdict:
    """``yes`` / ``no`` / ``inconclusive`` for a claim about a cosine's ``(mean, low, high)`` interval.

    Args:
        interval: the cosine's mean and confidence bounds (e.g. from
            :func:`~steervec.metrics.shifts.seed_t_interval`); NaN bounds give ``inconclusive``.
        predicts: ``"aligned"`` (the interval lies above ``margin``) or ``"not_aligned"``
            (it lies at or below ``margin``).
        margin: the cosine that counts as aligned (0: any positive alignment).
    """
    mean, low, high = (float(v) for v in interval)
    if predicts not in ("aligned", "not_aligned"):
        raise ComparisonError(f"unknown prediction {predicts!r}: use 'aligned' (sufficiency) or 'not_aligned' (necessity)")
    if not math.isnan(low) and not math.isnan(high) and not low <= mean <= high:
        raise ComparisonError(f"the interval ({mean}, {low}, {high}) is not (mean, low, high) with low <= mean <= high")
    above, at_or_below = low > margin, high <= margin  # NaN bounds: neither
    if predicts == "aligned":
        return "yes" if above else "no" if at_or_below else "inconclusive"
    return "yes" if at_or_below else "no" if above else "inconclusive"
