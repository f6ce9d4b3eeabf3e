"""Alignment verdicts read the sign and the direction the claim predicts."""

from __future__ import annotations

import pytest

from steervec.core.errors import ComparisonError
from steervec.metrics.alignment_claims import alignment_verdict


@pytest.mark.parametrize(("interval", "aligned", "not_aligned"), [
    ((0.30, 0.20, 0.40), "yes", "no"),
    ((-0.15, -0.25, -0.05), "no", "yes"),  # anti-aligned: never support for "aligned"
    ((0.05, -0.02, 0.12), "inconclusive", "inconclusive"),
    ((0.3, float("nan"), float("nan")), "inconclusive", "inconclusive"),  # one seed
])
def test_verdict_reads_the_sign(interval, aligned, not_aligned):
    assert alignment_verdict(interval, "aligned") == aligned
    assert alignment_verdict(interval, "not_aligned") == not_aligned


def test_verdict_margin_and_bad_input():
    assert alignment_verdict((0.15, 0.10, 0.20), "aligned", margin=0.25) == "no"
    assert alignment_verdict((0.15, 0.10, 0.20), "not_aligned", margin=0.25) == "yes"
    with pytest.raises(ComparisonError, match="sufficiency"):
        alignment_verdict((0.1, 0.0, 0.2), "positive")  # type: ignore[arg-type]
    with pytest.raises(ComparisonError, match="low <= mean <= high"):
        alignment_verdict((0.1, 0.2, 0.0), "aligned")
