"""Recovery measures for planted vectors: cosine and norm ratio, shift recovery, the KL fraction,
and the output (Fisher) metric checked against the KL it approximates."""

from __future__ import annotations

import pytest
import torch
from _rows import number_rows
from conftest import INJECTING_TEMPLATE, make_tiny

from steervec.core.chat import encode_chat
from steervec.data.soft_targets import kl_sum, next_token_logits, scored_positions
from steervec.data.teachers import planted_teacher, random_direction
from steervec.metrics.planted import (
    distillation_kl,
    output_metric,
    planted_vector,
    shift_recovery,
    vector_recovery,
)
from steervec.students.methods import LoRA, VectorStudent
from steervec.students.student import Student


@pytest.fixture(scope="module")
def lm(one_thread):
    return make_tiny("llama", INJECTING_TEMPLATE, seed=4)


@pytest.fixture(scope="module")
def planted(lm):
    vector = random_direction(lm, 1, norm=0.3, seed=5)
    return vector, planted_teacher(lm, vector, layer=1, alpha=2.0)


def _vector_student(lm, layer, tensor):
    return Student(VectorStudent(layers=[layer]), {f"layer.{layer}": tensor.clone()}, lm.fingerprint)


def test_vector_recovery_values_and_errors():
    w = torch.tensor([3.0, 4.0, 0.0])
    rec = vector_recovery(2 * w, w)
    assert rec.cosine == pytest.approx(1.0) and rec.norm_ratio == pytest.approx(2.0)
    rec = vector_recovery(torch.tensor([0.0, 0.0, 1.0]), w)
    assert rec.cosine == pytest.approx(0.0) and rec.norm_ratio == pytest.approx(0.2)
    assert vector_recovery(torch.zeros(3), w).to_dict() == {"cosine": 0.0, "norm_ratio": 0.0}
    with pytest.raises(ValueError, match="same layer"):
        vector_recovery(torch.ones(4), w)
    with pytest.raises(ValueError, match="zero"):
        vector_recovery(w, torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        vector_recovery(torch.tensor([float("nan"), 0.0, 0.0]), w)


def test_planted_teacher_adds_alpha_v_and_planted_vector_reads_it(lm, planted):
    vector, teacher = planted
    assert teacher.to_dict()["steering"]["alpha"] == 2.0 and teacher.system is None
    assert torch.equal(planted_vector(vector, 1, 2.0), 2.0 * vector[1])
    assert torch.equal(planted_vector(vector, 3, 1.0), vector[1])  # a one-layer vector serves any layer
    tensor_teacher = planted_teacher(lm, vector[1], layer=2, alpha=2.0)
    assert tensor_teacher.to_dict()["steering"]["layers"] == [2]
    assert random_direction(lm, 1, 0.3, seed=5).norms[1] == pytest.approx(0.3)
    assert not torch.equal(random_direction(lm, 1, 0.3, seed=6)[1], vector[1])


def test_kl_fraction_is_zero_for_the_planted_vector_and_one_for_nothing(lm, planted):
    vector, teacher = planted
    held = number_rows(5, seed=9)
    exact = distillation_kl(lm, teacher, _vector_student(lm, 1, planted_vector(vector, 1, 2.0)), held)
    nothing = distillation_kl(lm, teacher, _vector_student(lm, 1, torch.zeros(lm.d_model)), held)
    half = distillation_kl(lm, teacher, _vector_student(lm, 1, planted_vector(vector, 1, 1.0)), held)
    assert exact.base_kl > 1e-3 and exact.fraction < 1e-6
    assert nothing.fraction == pytest.approx(1.0, rel=1e-5)
    assert 0.05 < half.fraction < 0.6
    prompts_only = distillation_kl(lm, teacher, _vector_student(lm, 1, torch.zeros(lm.d_model)),
                                   [r.prompt for r in held], positions="response")
    assert prompts_only.n_tokens == len(held)  # the end-of-turn token of each empty answer


def test_shift_recovery_of_a_vector_student_is_its_vector(lm, planted):
    vector, _ = planted
    w = planted_vector(vector, 1, 2.0)
    u = w + 0.2 * random_direction(lm, 1, 0.3, seed=11)[1]
    prompts = [r.prompt for r in number_rows(4)]
    shifted = shift_recovery(lm, _vector_student(lm, 1, u), w, 1, prompts)
    direct = vector_recovery(u, w)
    assert shifted.cosine == pytest.approx(direct.cosine, abs=1e-5)
    assert shifted.norm_ratio == pytest.approx(direct.norm_ratio, rel=1e-4)
    lora = Student(LoRA(rank=2), {}, lm.fingerprint)
    with pytest.raises(Exception, match="missing"):
        shift_recovery(lm, lora, w, 1, prompts)


def test_output_metric_predicts_the_kl_of_a_small_vector(lm):
    """½ εuᵀGu ≈ KL(base ‖ base + εu) per prompt (summed over positions): G is the loss's metric."""
    prompts = [r.prompt for r in number_rows(6, seed=2)]
    metric = output_metric(lm, 1, prompts, samples=48, seed=0)
    assert metric.n_scores == 6 * 48
    g = metric.matrix
    assert torch.allclose(g, g.T, atol=1e-6) and bool((metric.eigvals >= 0).all())
    assert bool((metric.eigvals[:-1] >= metric.eigvals[1:]).all())
    batch = encode_chat(lm, prompts, None, [""] * len(prompts))
    target = scored_positions(batch, "all")
    with torch.no_grad():
        base = torch.log_softmax(next_token_logits(lm, batch.input_ids, batch.attention_mask, target), -1)
    for seed in (1, 2):
        u = random_direction(lm, 1, 0.01, seed=seed)
        with u.apply(lm), torch.no_grad():
            moved = next_token_logits(lm, batch.input_ids, batch.attention_mask, target)
        kl = float(kl_sum(base, moved)) / len(prompts)
        assert 0.5 * float(u[1] @ g @ u[1]) == pytest.approx(kl, rel=0.3)
    a, b = random_direction(lm, 1, 1.0, seed=3)[1], random_direction(lm, 1, 1.0, seed=4)[1]
    assert metric.cosine(a, a) == pytest.approx(1.0)
    assert metric.subspace_cosine(a, b, lm.d_model) == pytest.approx(float(torch.cosine_similarity(a, b, dim=0)),
                                                                    abs=1e-5)
    top = metric.eigvecs[:, 0]
    assert metric.visible_share(top, 1) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="k must be"):
        metric.subspace_cosine(a, b, 0)
