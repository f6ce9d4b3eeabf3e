"""Online soft distillation (loss="kl_online"): planted-vector recovery, equality with the stored
full-vocabulary top-k loss, determinism, resume, the student switched off for the teacher, bad input."""

from __future__ import annotations

import pytest
import torch
from _rows import number_rows
from conftest import INJECTING_TEMPLATE, make_tiny

from steervec.core.chat import encode_chat
from steervec.core.errors import SteervecError
from steervec.data.divergence import attach_teacher_topk
from steervec.data.teachers import Teacher, planted_teacher, random_direction
from steervec.metrics.planted import planted_vector, vector_recovery
from steervec.students.attach import attach_method, detach_method
from steervec.students.distill import OnlineTeacher
from steervec.students.methods import FullFinetune, LoRA, VectorStudent
from steervec.students.train import train_student


@pytest.fixture(scope="module")
def lm(one_thread):
    return make_tiny("llama", INJECTING_TEMPLATE, seed=4)


@pytest.fixture(scope="module")
def planted(lm):
    # the tiny model's residual norm at layer 1 is ~0.2: a planted vector of norm 0.3 changes the
    # outputs without swamping the residual (far larger ones make the next RMSNorm ignore their size)
    vector = random_direction(lm, 1, norm=0.3, seed=5)
    return vector, planted_teacher(lm, vector, layer=1, alpha=1.0)


def _equal(a, b):
    return a.tensors.keys() == b.tensors.keys() and all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def test_planted_vector_is_recovered_by_online_soft_distillation(lm, planted):
    vector, teacher = planted
    student = train_student(lm, number_rows(8), VectorStudent(layers=[1]), optimizer="adam", lr=0.03, epochs=150,
                            batch_size=8, loss="kl_online", teacher=OnlineTeacher(teacher, "all"), progress=False)
    rec = vector_recovery(student.tensors["layer.1"], planted_vector(vector, 1, 1.0))
    assert rec.cosine > 0.99
    assert 0.95 < rec.norm_ratio < 1.05
    assert student.history[-1]["loss"] < 1e-3 * student.history[0]["loss"]
    assert student.info["args"]["teacher"]["positions"] == "all"
    assert student.info["args"]["teacher"]["teacher"]["steering"]["layers"] == [1]


@pytest.mark.parametrize("kind", ["planted", "prompted"])
def test_online_loss_equals_stored_topk_loss_at_full_vocabulary(lm, planted, kind):
    """Same rows, same teacher: the online loss is the stored top-k loss with k = vocabulary size.
    The prompted teacher renders rows with its system prompt (longer than the student's rows)."""
    vector, teacher = planted
    if kind == "prompted":
        teacher = Teacher("fond", system="You are fond of the number seven.")
    condition = teacher  # one teacher type: the same object scores the stored top-k and the online loss
    rows = number_rows(6, seed=3)
    stored = attach_teacher_topk(lm, rows, condition, k=len(lm.tokenizer), batch_size=6, progress=False)
    kw = dict(method=VectorStudent(layers=[2]), optimizer="sgd", lr=0.5, max_steps=4, batch_size=3, progress=False)
    a = train_student(lm, stored, loss="kl", **kw)
    b = train_student(lm, rows, loss="kl_online", teacher=teacher, **kw)
    assert a.history[0]["loss"] > 1e-3
    assert [h["tokens"] for h in a.history] == [h["tokens"] for h in b.history]
    for x, y in zip(a.history, b.history, strict=True):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-4, abs=1e-7)
    assert torch.allclose(a.tensors["layer.2"], b.tensors["layer.2"], rtol=1e-3, atol=1e-6)


def test_same_seed_bit_identical_other_seed_differs(lm, planted):
    _, teacher = planted
    kw = dict(method=LoRA(rank=2, dropout=0.2), lr=1e-2, epochs=2, batch_size=4, loss="kl_online",
              teacher=OnlineTeacher(teacher, "all"), progress=False)
    a = train_student(lm, number_rows(8), seed=7, **kw)
    b = train_student(lm, number_rows(8), seed=7, **kw)
    c = train_student(lm, number_rows(8), seed=8, **kw)
    assert _equal(a, b) and [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert not _equal(a, c)


def test_resume_from_checkpoint_is_bit_identical(lm, planted, tmp_path):
    _, teacher = planted
    kw = dict(method=LoRA(rank=2, dropout=0.1), optimizer="adamw", lr=1e-2, epochs=2, batch_size=2, seed=3,
              loss="kl_online", teacher=OnlineTeacher(teacher, "all"), checkpoint_every=2, progress=False)
    rows = number_rows(6)
    reference = train_student(lm, rows, **kw)

    def stop(event):
        if event.step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_student(lm, rows, checkpoint_dir=tmp_path, callbacks=[stop], **kw)
    resumed = train_student(lm, rows, checkpoint_dir=tmp_path, **kw)
    assert _equal(reference, resumed)
    assert [h["loss"] for h in reference.history] == [h["loss"] for h in resumed.history]
    other = OnlineTeacher(planted_teacher(lm, random_direction(lm, 1, 0.3, seed=6), layer=1), "all")
    with pytest.raises(SteervecError, match="refusing to resume"):
        train_student(lm, rows, checkpoint_dir=tmp_path, **{**kw, "teacher": other})


@pytest.mark.parametrize("method", [VectorStudent(layers=[1], init="normal", init_scale=0.5), LoRA(rank=2),
                                    FullFinetune(layers=[2])], ids=["vector", "lora", "full"])
def test_disabled_attachment_computes_the_base_model(lm, method):
    batch = encode_chat(lm, ["Continue: 4, 8, 15"], None)
    with torch.no_grad():
        base = lm(**batch.model_inputs()).logits
    torch.manual_seed(0)
    att = attach_method(lm, method, trainable=True)
    try:
        with torch.no_grad():
            for p in att.params.values():
                p.add_(torch.randn_like(p) * 0.3)  # LoRA's B starts at zero: move every student tensor
            on = lm(**batch.model_inputs()).logits
            with att.disabled():
                off = lm(**batch.model_inputs()).logits
            again = lm(**batch.model_inputs()).logits
        assert not torch.allclose(on, base, atol=1e-4)
        assert torch.equal(off, base)
        assert torch.equal(again, on)
        assert all(p.requires_grad for p in att.params.values())
    finally:
        detach_method(lm, att)


def test_bad_input(lm, planted):
    _, teacher = planted
    kw = dict(method=VectorStudent(layers=[1]), lr=1e-2, max_steps=1, progress=False)
    rows = number_rows(2)
    with pytest.raises(ValueError, match="needs teacher"):
        train_student(lm, rows, loss="kl_online", **kw)
    with pytest.raises(ValueError, match="only used by loss='kl_online'"):
        train_student(lm, rows, teacher=teacher, **kw)
    with pytest.raises(ValueError, match="unknown KL positions"):
        OnlineTeacher(teacher, "prompt")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a steervec Teacher"):
        OnlineTeacher("You love owls.")  # type: ignore[arg-type]
    prompted = OnlineTeacher(Teacher("fond", system="You are fond of sevens."), "all")
    with pytest.raises(SteervecError, match="positions='response'"):
        train_student(lm, rows, loss="kl_online", teacher=prompted, **kw)
    with pytest.raises(ValueError, match="0..3"):
        planted_teacher(lm, torch.ones(lm.d_model), layer=9)
    with pytest.raises(ValueError, match="norm must be > 0"):
        random_direction(lm, 1, norm=0.0, seed=0)
