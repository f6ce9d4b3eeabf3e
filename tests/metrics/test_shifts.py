"""Control-subtracted shifts pair students by seed; the t-interval matches Student's t."""

from __future__ import annotations

import math

import pytest
import torch
from _stand_ins import ShiftStudent

from steervec.core.errors import ComparisonError
from steervec.core.steering_vector import SteeringVector
from steervec.metrics.shifts import ControlledShifts, controlled_shifts, seed_t_interval

PROMPTS = ["list numbers", "continue 4, 5, 6", "more digits please"]




@pytest.mark.parametrize(("dof", "level", "quantile"), [(1, 0.95, 12.7062), (2, 0.95, 4.3027), (4, 0.95, 2.7764),
                                                        (9, 0.95, 2.2622), (29, 0.95, 2.0452), (4, 0.99, 4.6041)])
def test_t_interval_uses_students_quantiles(dof, level, quantile):
    values = [float(i) for i in range(dof + 1)]
    mean, low, high = seed_t_interval(values, level)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / dof)
    assert mean == pytest.approx(dof / 2)
    assert (high - mean) == pytest.approx(quantile * sd / math.sqrt(dof + 1), rel=1e-4)
    assert mean - low == pytest.approx(high - mean)


def test_t_interval_edge_cases():
    mean, low, high = seed_t_interval([0.3])
    assert mean == 0.3 and math.isnan(low) and math.isnan(high)
    with pytest.raises(ComparisonError, match="one value per seed"):
        seed_t_interval([])
    with pytest.raises(ComparisonError, match="probability"):
        seed_t_interval([1.0, 2.0], level=95)


def _vec(lm, layer, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return SteeringVector({layer: torch.randn(lm.d_model, generator=g) * scale}, lm.fingerprint)


def test_controlled_shift_is_the_trait_students_minus_the_controls(tiny_llama, one_thread):
    trait_dir = _vec(tiny_llama, 2, seed=100)
    artifacts = {s: _vec(tiny_llama, 2, seed=s, scale=5.0) for s in (0, 1, 2)}  # shared by both students of a seed
    trait = {s: ShiftStudent(artifacts[s] + trait_dir * (0.8 + 0.1 * s)) for s in artifacts}
    control = {s: ShiftStudent(artifacts[s]) for s in artifacts}
    shifts = controlled_shifts(tiny_llama, "owl", trait, control, PROMPTS, layers=[2])
    assert shifts.seeds == [0, 1, 2]
    for s in shifts.seeds:
        assert torch.allclose(shifts.controlled[s][2], trait_dir[2] * (0.8 + 0.1 * s), atol=1e-3)
        assert torch.allclose(shifts.trait_shifts[s][2], artifacts[s][2] + trait_dir[2] * (0.8 + 0.1 * s), atol=1e-3)
    controlled = shifts.cosine_with(trait_dir)
    assert controlled.interval(2)[0] == pytest.approx(1.0, abs=1e-4)
    raw = shifts.cosine_with(trait_dir, kind="raw")
    assert raw.interval(2)[0] < 0.6  # the artifact dilutes the raw shift
    table = raw.to_dataframe()
    assert list(table.columns[-3:]) == ["seed_0", "seed_1", "seed_2"] and table.n_seeds[0] == 3
    assert table["mean"][0] == pytest.approx(sum(table[f"seed_{s}"][0] for s in (0, 1, 2)) / 3)
    assert torch.allclose(shifts.mean()[2], trait_dir[2] * 0.9, atol=1e-3)
    assert torch.allclose(shifts.mean("control")[2], sum(a[2] for a in artifacts.values()) / 3, atol=1e-3)


def test_seeds_and_layers_must_pair_up(tiny_llama):
    a, b = _vec(tiny_llama, 1, 0), _vec(tiny_llama, 2, 1)
    with pytest.raises(ComparisonError, match="seeds differ"):
        ControlledShifts("owl", {0: a, 1: a}, {0: a})
    with pytest.raises(ComparisonError, match="same layers"):
        ControlledShifts("owl", {0: a}, {0: b})
    with pytest.raises(ComparisonError, match="another seed's"):
        ControlledShifts("owl", {0: a, 1: b}, {0: a, 1: b})
    with pytest.raises(ComparisonError, match="seeds differ"):
        controlled_shifts(tiny_llama, "owl", {0: ShiftStudent(a)}, {1: ShiftStudent(a)}, PROMPTS)
    with pytest.raises(ComparisonError, match="unknown shift kind"):
        ControlledShifts("owl", {0: a}, {0: a}).mean("both")  # type: ignore[arg-type]
