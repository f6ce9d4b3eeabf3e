"""Seed-level statistics: t quantiles against printed tables, power against known sample sizes and
simulation, the hierarchical bootstrap, TOST, and the verdict rule on constructed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from steervec.core.errors import StatisticsInputError, SteervecError
from steervec.metrics.stats import (
    equivalence,
    equivalence_power,
    hierarchical_bootstrap,
    min_detectable_effect,
    seeds_for_equivalence,
    seeds_needed,
    t_interval,
    t_test_power,
    verdict,
)
from steervec.metrics.t_distribution import noncentral_t_sf, regularized_beta, t_cdf, t_quantile


@pytest.mark.parametrize(("df", "table"), [(1, 12.706), (2, 4.303), (4, 2.776), (30, 2.042), (49, 2.010)])
def test_t_quantile_matches_printed_tables(df, table):
    assert t_quantile(0.975, df) == pytest.approx(table, abs=5e-4)
    assert t_quantile(0.025, df) == pytest.approx(-table, abs=5e-4)
    assert t_cdf(t_quantile(0.975, df), df) == pytest.approx(0.975, abs=1e-12)


def test_special_functions_against_closed_forms():
    assert regularized_beta(1.0, 1.0, 0.3) == pytest.approx(0.3, abs=1e-14)  # uniform
    assert regularized_beta(2.0, 3.0, 0.4) == pytest.approx(0.5248, abs=1e-12)  # a polynomial
    assert t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-14)  # Cauchy: 1/2 + atan(1)/π
    for df in (1, 3, 40):
        assert noncentral_t_sf(1.3, df, 0.0) == pytest.approx(1 - t_cdf(1.3, df), abs=1e-10)


def test_power_matches_known_sample_sizes():
    assert t_test_power(1.0, 10) == pytest.approx(0.8031, abs=1e-3)
    assert [seeds_needed(d, 1.0) for d in (1.0, 0.8, 0.5)] == [10, 15, 34]
    assert seeds_needed(-2.0, 2.0) == 10  # the sign does not matter, only |effect| / sd
    assert seeds_needed(0.0, 1.0) is None
    mde = min_detectable_effect(10, 2.0)
    assert t_test_power(mde / 2.0, 10) == pytest.approx(0.8, abs=1e-6)
    assert min_detectable_effect(3, 1.0) > min_detectable_effect(10, 1.0) > 0


def test_power_agrees_with_simulation():
    rng = np.random.default_rng(0)
    n, d, draws = 5, 1.2, 40_000
    x = rng.normal(d, 1.0, size=(draws, n))
    t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
    crit = t_quantile(0.975, n - 1)
    assert t_test_power(d, n) == pytest.approx(float(np.mean(np.abs(t) > crit)), abs=0.01)
    x = rng.normal(0.05, 0.2, size=(draws, 8))
    half = t_quantile(0.95, 7) * x.std(1, ddof=1) / math.sqrt(8)  # TOST = the 90 % CI inside ±margin
    inside = (x.mean(1) - half > -0.3) & (x.mean(1) + half < 0.3)
    assert [equivalence(row, 0.3).equivalent for row in x[:50]] == list(inside[:50])
    simulated = float(np.mean(inside))
    bound = equivalence_power(0.05, 0.2, 8, 0.3)
    assert bound == pytest.approx(simulated, abs=0.01)  # the lower bound is tight when one side dominates


def test_t_interval_uses_student_t_not_z():
    mean, low, high = t_interval([0.0, 1.0, 2.0])
    assert mean == 1.0 and high - mean == pytest.approx(4.303 / math.sqrt(3), abs=1e-3)
    with pytest.raises(StatisticsInputError, match="one value has no interval"):
        t_interval([2.0])
    with pytest.raises(SteervecError, match="NaN"):
        t_interval([1.0, float("nan")])


def test_hierarchical_bootstrap_is_deterministic_and_sees_seed_spread():
    agree = [np.array([1.0, 1.2, 0.8, 1.1]), np.array([0.9, 1.0, 1.1]), np.array([1.0, 1.05, 0.95])]
    disagree = [np.array([1.0, 1.2, 0.8, 1.1]), np.array([-0.9, -1.0, -1.1]), np.array([1.0, 1.05, 0.95])]
    first = hierarchical_bootstrap(agree, n_boot=500, seed=3)
    assert first == hierarchical_bootstrap(agree, n_boot=500, seed=3)
    assert first != hierarchical_bootstrap(agree, n_boot=500, seed=4)
    assert first.low > 0.8 and first.mean == pytest.approx(np.mean([a.mean() for a in agree]))
    wide = hierarchical_bootstrap(disagree, n_boot=500, seed=3)
    assert wide.low < 0 < wide.high  # one seed of the opposite sign: the interval crosses zero
    with pytest.raises(StatisticsInputError, match="two seeds"):
        hierarchical_bootstrap([np.ones(5)], n_boot=10)


def test_equivalence():
    assert equivalence([0.01, -0.02, 0.0, 0.02], margin=0.2).equivalent
    wide = equivalence([0.5, -0.6, 0.4], margin=0.2)
    assert not wide.equivalent and wide.p_value > 0.05
    assert equivalence([0.1, 0.1, 0.1], margin=0.2).equivalent  # no spread, inside the margin
    with pytest.raises(StatisticsInputError, match="margin"):
        equivalence([0.0, 0.1], margin=0.0)
    assert seeds_for_equivalence(0.25, 0.1, margin=0.2) is None  # outside the margin: never
    assert seeds_for_equivalence(0.0, 0.2, margin=0.2) > seeds_for_equivalence(0.0, 0.1, margin=0.2)


@pytest.mark.parametrize(("direction", "sign"), [("positive", 1.0), ("negative", -1.0)])
def test_verdict_on_directional_claims(direction, sign):
    strong = [sign * v for v in (0.9, 1.1, 1.0, 0.95)]
    assert verdict(strong, direction).word == "yes"
    assert verdict([-v for v in strong], direction).word == "no"
    mixed = verdict([sign * v for v in (0.6, -0.2, 0.4)], direction)
    assert mixed.word == "inconclusive" and mixed.seeds_needed is not None and mixed.seeds_needed > 3
    assert f"needs {mixed.seeds_needed} seeds" in mixed.reason
    assert verdict(strong[:2], direction).word == "no verdict"
    small = [sign * v for v in (0.10, 0.12, 0.11)]
    assert verdict(small, direction).word == "yes"
    assert verdict(small, direction, margin=0.5).word == "no"  # real, but far below the predicted effect


def test_verdict_on_a_null_claim():
    tight = verdict([0.01, -0.01, 0.02, 0.0], "none", margin=0.2)
    assert tight.word == "yes" and "TOST" in tight.reason
    assert verdict([0.9, 1.1, 1.0], "none", margin=0.2).word == "no"
    wide = verdict([0.6, -0.5, 0.1], "none", margin=0.2)  # nothing significant, but a wide seed CI
    assert wide.word == "inconclusive" and wide.seeds_needed is not None
    assert verdict([0.0, 0.01], "none", margin=0.2).word == "no verdict"
    with pytest.raises(StatisticsInputError, match="margin"):
        verdict([0.0, 0.1, 0.2], "none")


def test_verdict_reports_its_figures():
    v = verdict([[1.0, 1.2, 0.8], [0.9, 1.1], [1.1, 1.2, 1.3, 1.2]], "positive")  # per-question arrays
    assert v.n_seeds == 3 and v.interval is not None and v.interval.mean == pytest.approx(1.0667, abs=1e-4)
    assert v.mde == pytest.approx(min_detectable_effect(3, float(np.std([1.0, 1.0, 1.2], ddof=1))))
    assert "3 seed means" in v.method and v.to_dict()["word"] == "yes"
    one = verdict([0.4], "positive")
    assert one.word == "no verdict" and one.interval is None and one.mde is None
    with pytest.raises(StatisticsInputError, match="direction"):
        verdict([1.0, 2.0, 3.0], "up")  # type: ignore[arg-type]
