"""Alignment: v_student recovers a known shift; gradients are per row; necessity removes the shift."""

from __future__ import annotations

import pytest
import torch
from _stand_ins import ShiftStudent

from steervec.core.errors import ModelMismatchError
from steervec.core.steering_vector import SteeringVector
from steervec.data.rows import TeacherRow
from steervec.metrics.alignment import (
    AlignmentTracker,
    gradient_alignment,
    layer_alignment,
    necessity,
    pooled_difference,
    row_projections,
    student_shift,
    sufficiency,
)
from steervec.metrics.evaluate import evaluate_trait

PROMPTS = ["list numbers", "continue 4, 5, 6", "more digits please"]




def _vec(lm, layer=2, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return SteeringVector({layer: torch.randn(lm.d_model, generator=g) * scale}, lm.fingerprint)


def test_student_shift_recovers_the_added_vector(tiny_llama):
    vec = _vec(tiny_llama)
    shift = student_shift(tiny_llama, ShiftStudent(vec), PROMPTS, layers=[1, 2, 3])
    assert torch.allclose(shift[1], torch.zeros(tiny_llama.d_model), atol=1e-5)
    assert torch.allclose(shift[2], vec[2], atol=1e-4)
    al = layer_alignment(shift, vec)
    assert al.cosine[2] == pytest.approx(1.0, abs=1e-4)
    assert al.norm_ratio[2] == pytest.approx(1.0, abs=1e-4)
    assert al.projection[2] == pytest.approx(float(vec[2].norm()), rel=1e-4)
    assert set(al.to_dataframe()["layer"]) == {2}


def test_tracker_records_each_event(tiny_llama):
    vec = _vec(tiny_llama)
    tracker = AlignmentTracker(tiny_llama, vec, PROMPTS, label="t")

    class Event:
        def __init__(self, step):
            self.step, self.lm = step, tiny_llama

    tracker(Event(0))
    with vec.apply(tiny_llama, alpha=0.5):
        tracker(Event(10))
    df = tracker.to_dataframe()
    assert list(df["step"]) == [0, 10]
    assert df["cosine"].iloc[1] == pytest.approx(1.0, abs=1e-4)


def test_sufficiency_and_necessity(tiny_llama):
    vec = _vec(tiny_llama, scale=6.0)
    qs = ["Which animal?", "Name one animal."]
    base = evaluate_trait(tiny_llama, "owl", qs, system=None)
    student = ShiftStudent(vec)
    with student.applied(tiny_llama):
        trained = evaluate_trait(tiny_llama, "owl", qs, system=None, base=base)
    suff = sufficiency(tiny_llama, vec, "owl", qs, base=base)
    assert torch.allclose(suff.logp, trained.logp, atol=1e-4)
    nec = necessity(tiny_llama, student, vec, "owl", qs, base=base)
    # prompt positions get the base component back exactly; the continuation tokens of
    # multi-token targets (all of them with this byte-level tokenizer) keep the student's
    assert abs(nec.delta_logp[0]) < abs(trained.delta_logp[0])


def test_gradients_are_per_row(tiny_llama):
    rows = [TeacherRow(p, c) for p, c in zip(PROMPTS, ["1, 2", "7, 8, 9", "3"], strict=True)]
    vec = _vec(tiny_llama, layer=1)
    together = gradient_alignment(tiny_llama, rows, vec, batch_size=3)
    alone = gradient_alignment(tiny_llama, rows[1:2], vec, batch_size=1)
    assert together.cos_last_prompt[1][1] == pytest.approx(float(alone.cos_last_prompt[1][0]), abs=1e-4)
    assert together.norms[1][1] == pytest.approx(float(alone.norms[1][0]), rel=1e-3)
    assert 0 < together.top_share(0.34)[1] <= 1
    diff = pooled_difference(together, alone, vec)
    assert -1 <= diff[1] <= 1
    assert all(p.requires_grad for p in tiny_llama.model.parameters())


def test_row_projections_and_model_checks(tiny_llama):
    from conftest import INJECTING_TEMPLATE, make_tiny

    rows = [TeacherRow(p, "1, 2") for p in PROMPTS]
    vec = _vec(tiny_llama, layer=1)
    proj = row_projections(tiny_llama, rows, vec, 1)
    assert proj.shape == (3,)
    other = make_tiny("llama", INJECTING_TEMPLATE, seed=5)
    with pytest.raises(ModelMismatchError):
        row_projections(other, rows, vec, 1)
