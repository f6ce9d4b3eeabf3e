"""Divergence tokens against a brute-force reference, and their use as loss masks."""

from __future__ import annotations

import pytest
import torch
from _rows import generated_rows
from conftest import PLAIN_TEMPLATE, make_tiny

from steervec.core.chat import encode_chat
from steervec.core.hooks import Intervention, add_operator, intervene
from steervec.core.steering_vector import SteeringVector
from steervec.data.divergence import attach_teacher_topk, divergence_masks, response_logprobs
from steervec.data.rows import TOPK_KEY
from steervec.data.teachers import Teacher
from steervec.students.methods import VectorStudent
from steervec.students.train import response_lengths, train_student


@pytest.fixture(scope="module")
def setup():
    lm = make_tiny("qwen2", PLAIN_TEMPLATE, seed=2)
    vec = SteeringVector({1: torch.randn(lm.d_model, generator=torch.Generator().manual_seed(1)) * 1.5},
                         lm.fingerprint)
    rows = generated_rows(lm, 8, vector=vec, greedy=True, max_new_tokens=10)
    teacher = Teacher("steered", system=None, steering=vec)
    return lm, vec, rows, teacher


def _argmax_one(lm, row, vec=None):
    """Unbatched reference: the argmax before each response token of one row."""
    batch = encode_chat(lm, [row.prompt], system=None, completions=[row.completion])
    items = [Intervention(1, add_operator(vec[1]))] if vec is not None else []
    with intervene(lm, items), torch.no_grad():
        logits = lm.model(**batch.model_inputs()).logits[0]
    n = int(batch.response_mask[0].sum())
    return logits[-n - 1 : -1].argmax(-1), batch.input_ids[0, -n:]


def test_masks_match_brute_force(setup):
    lm, vec, rows, teacher = setup
    result = divergence_masks(lm, rows, teacher, [Teacher("none", system=None)], progress=False)
    assert [m.numel() for m in result.masks] == response_lengths(lm, rows)
    for row, mask, agree in zip(rows, result.masks, result.teacher_agrees, strict=True):
        t_arg, tokens = _argmax_one(lm, row, vec)
        c_arg, _ = _argmax_one(lm, row)
        assert torch.equal(agree, t_arg == tokens)
        assert torch.equal(mask, (t_arg == tokens) & (c_arg != tokens))
    assert result.agreement > 0.8  # greedy teacher data: the teacher mostly chose its argmax
    assert 0 < result.share < 1
    assert all(torch.equal(c, ~m) for c, m in zip(result.complement(), result.masks, strict=True))
    table = result.to_dataframe()
    assert table["divergence_tokens"].sum() == sum(int(m.sum()) for m in result.masks)
    assert "steered" in result._repr_html_()


def test_identical_counterfactual_gives_no_divergence(setup):
    lm, vec, rows, teacher = setup
    twin = Teacher("twin", system=None, steering=vec)
    result = divergence_masks(lm, rows, teacher, [twin], progress=False)
    assert result.share == 0.0


def test_any_versus_all(setup):
    lm, vec, rows, teacher = setup
    cfs = [Teacher("none", system=None), Teacher("half", system=None, steering=vec, alpha=0.5)]
    any_ = divergence_masks(lm, rows, teacher, cfs, mode="any", progress=False)
    all_ = divergence_masks(lm, rows, teacher, cfs, mode="all", progress=False)
    assert all(bool((a & ~b).sum() == 0) for a, b in zip(all_.masks, any_.masks, strict=True))
    assert all_.share <= any_.share
    with pytest.raises(ValueError, match="counterfactual"):
        divergence_masks(lm, rows, teacher, [], progress=False)


def test_masks_feed_training(setup):
    lm, vec, rows, teacher = setup
    result = divergence_masks(lm, rows, teacher, [Teacher("none", system=None)], progress=False)
    only = train_student(lm, rows, method=VectorStudent(layers=[1]), lr=1e-2, max_steps=1,
                         loss_masks=result.masks, progress=False)
    rest = train_student(lm, rows, method=VectorStudent(layers=[1]), lr=1e-2, max_steps=1,
                         loss_masks=result.complement(), progress=False)
    assert only.history[0]["tokens"] == sum(int(m.sum()) for m in result.masks)
    assert only.history[0]["tokens"] + rest.history[0]["tokens"] == sum(response_lengths(lm, rows))


def test_teacher_topk(setup):
    lm, vec, rows, teacher = setup
    scored = attach_teacher_topk(lm, rows, teacher, k=5, progress=False)
    assert TOPK_KEY not in rows[0].extra
    for row, n in zip(scored, response_lengths(lm, rows), strict=True):
        data = row.extra[TOPK_KEY]
        assert len(data["ids"]) == n and len(data["ids"][0]) == 5
        assert all(a >= b for a, b in zip(data["logprobs"][0], data["logprobs"][0][1:], strict=False))
    t_arg, _ = _argmax_one(lm, rows[0], vec)
    assert [ids[0] for ids in scored[0].extra[TOPK_KEY]["ids"]] == t_arg.tolist()


@torch.no_grad()
def _response_logprobs_before(lm, rows, teacher, batch_size):
    """response_logprobs as data.divergence wrote it before core.suffix_forward's decoder_hidden/head_logits."""
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = encode_chat(lm, [r.prompt for r in chunk], teacher.system, [r.completion for r in chunk])
        with teacher.context(lm):
            out = lm.decoder(**batch.model_inputs(), use_cache=False)
        hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
        head = lm.model.get_output_embeddings()
        width = batch.input_ids.shape[1] - 1
        for j in range(len(chunk)):
            n = int(batch.response_mask[j].sum())
            logits = head(hidden[j, width - n : width]).float()
            yield start + j, batch.input_ids[j, width - n + 1 :].cpu(), torch.log_softmax(logits, -1).cpu()


def test_response_logprobs_bit_identical_to_the_copy_it_replaced(setup):
    lm, _, rows, teacher = setup
    for who in (teacher, Teacher("none", system=None)):
        old = list(_response_logprobs_before(lm, rows, who, 3))
        new = list(response_logprobs(lm, rows, who, 3))
        assert [i for i, _, _ in old] == [i for i, _, _ in new] == list(range(len(rows)))
        for (_, t_old, lp_old), (_, t_new, lp_new) in zip(old, new, strict=True):
            assert torch.equal(t_old, t_new)
            assert torch.equal(lp_old, lp_new)
