"""Interventions must be exact: bit-identical at alpha 0, equal to a hand edit, correct under KV cache."""

from __future__ import annotations

import pytest
import torch

from steervec.core.chat import encode_chat
from steervec.core.hooks import (
    Intervention,
    add_operator,
    apply_intervention,
    intervene,
    project_out_operator,
    record,
    replace_operator,
)
from steervec.core.positions import StepView, resolve_positions, validate_positions

PROMPTS = ["hi", "a much longer prompt that forces left padding", "mid length one"]


def _batch(lm):
    return encode_chat(lm, PROMPTS, system=None)


def _logits(lm, batch):
    with torch.no_grad():
        return lm.model(**batch.model_inputs()).logits


def test_alpha_zero_is_bit_identical(tiny):
    batch = _batch(tiny)
    base = _logits(tiny, batch)
    v = torch.randn(tiny.d_model)
    with intervene(tiny, [Intervention(1, add_operator(v, 0.0), "all")]):
        steered = _logits(tiny, batch)
    assert torch.equal(base, steered)


@pytest.mark.parametrize("positions", ["all", "prompt", "last_prompt", [-1, 3]])
def test_add_equals_hand_edit(tiny, positions):
    batch = _batch(tiny)
    v = torch.randn(tiny.d_model)
    seq = batch.input_ids.shape[1]
    mask = torch.zeros(len(PROMPTS), seq, dtype=torch.bool)
    if positions in ("all", "prompt"):
        mask[:] = True
    elif positions == "last_prompt":
        mask[:, seq - 1] = True
    else:
        mask[:, [seq - 1, 3]] = True
    mask &= batch.attention_mask.bool()

    def by_hand(module, args, output):
        return torch.where(mask.unsqueeze(-1), output + 2.5 * v, output)

    handle = tiny.layers[2].register_forward_hook(by_hand)
    try:
        expected = _logits(tiny, batch)
    finally:
        handle.remove()
    with intervene(tiny, [Intervention(2, add_operator(v, 2.5), positions)]):
        got = _logits(tiny, batch)
    assert torch.equal(expected, got)
    assert not torch.equal(got, _logits(tiny, batch))


def test_padding_positions_untouched(tiny):
    batch = _batch(tiny)
    v = torch.randn(tiny.d_model) * 10
    with record(tiny, [1]) as base:
        _logits(tiny, batch)
    with intervene(tiny, [Intervention(1, add_operator(v), "all")]), record(tiny, [1]) as rec:
        _logits(tiny, batch)
    pad = ~batch.attention_mask.bool()
    assert pad.any()
    assert torch.equal(rec[1][pad], base[1][pad])
    assert torch.allclose(rec[1][~pad], base[1][~pad] + v, atol=1e-5)


def _greedy_by_recompute(lm, batch, steps, make_mask, v, layer):
    ids, att = batch.input_ids.clone(), batch.attention_mask.clone()
    prompt_len = ids.shape[1]
    all_logits = []
    for _ in range(steps):
        mask = make_mask(ids.shape[0], ids.shape[1], prompt_len)
        with intervene(lm, [Intervention(layer, add_operator(v, 3.0), mask)]), torch.no_grad():
            logits = lm.model(input_ids=ids, attention_mask=att, use_cache=False).logits[:, -1]
        all_logits.append(logits)
        nxt = logits.argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], 1)
        att = torch.cat([att, torch.ones_like(nxt)], 1)
    return ids, torch.stack(all_logits, 1)


def _mask_for(spec):
    def make(batch, seq, prompt_len):
        m = torch.zeros(batch, seq, dtype=torch.bool)
        if spec == "all":
            m[:] = True
        elif spec == "prompt":
            m[:, :prompt_len] = True
        elif spec == "generated":
            m[:, prompt_len:] = True
        elif spec == "last_prompt":
            m[:, prompt_len - 1] = True
        return m

    return make


@pytest.mark.parametrize("spec", ["all", "prompt", "generated", "last_prompt"])
def test_generate_with_cache_matches_recompute(tiny, spec):
    """Positions stay right across decode steps (the steering-vectors library breaks here)."""
    batch = _batch(tiny)
    torch.manual_seed(1)
    v = torch.randn(tiny.d_model) * 3
    with intervene(tiny, [Intervention(1, add_operator(v, 3.0), spec)]):
        out = tiny.generate(
            **batch.model_inputs(), max_new_tokens=5, do_sample=False,
            output_logits=True, return_dict_in_generate=True,
        )
    ids, logits = _greedy_by_recompute(tiny, batch, 5, _mask_for(spec), v, 1)
    assert torch.equal(out.sequences, ids)
    assert torch.allclose(torch.stack(out.logits, 1), logits, atol=1e-4)


def test_response_mask_during_teacher_forcing(tiny):
    batch = encode_chat(tiny, PROMPTS, system=None, completions=["1, 2", "3", "4, 5, 6"])
    v = torch.randn(tiny.d_model)
    with intervene(tiny, [Intervention(0, add_operator(v), batch.response_mask)]), record(tiny, [0]) as rec:
        _logits(tiny, batch)
    with record(tiny, [0]) as base:
        _logits(tiny, batch)
    diff = (rec[0] - base[0]).abs().sum(-1) > 0
    assert torch.equal(diff, batch.response_mask)


def test_learnable_vector_gets_gradient(tiny):
    batch = _batch(tiny)
    v = torch.nn.Parameter(torch.zeros(tiny.d_model))
    with intervene(tiny, [Intervention(2, add_operator(v), "all")]):
        loss = tiny.model(**batch.model_inputs()).logits.logsumexp(-1).mean()
    loss.backward()
    assert v.grad is not None and v.grad.abs().sum() > 0


def test_hooks_removed_when_body_raises(tiny):
    v = torch.randn(tiny.d_model)
    with pytest.raises(RuntimeError, match="boom"), intervene(tiny, [Intervention(1, add_operator(v))]):
        raise RuntimeError("boom")
    assert not tiny.layers[1]._forward_hooks
    assert not tiny.decoder._forward_pre_hooks


def test_project_out_and_replace(tiny):
    batch = _batch(tiny)
    u = torch.randn(tiny.d_model)
    unit = u / u.norm()
    with intervene(tiny, [Intervention(2, project_out_operator(u))]), record(tiny, [2]) as rec:
        _logits(tiny, batch)
    real = batch.attention_mask.bool()
    assert rec[2][real].matmul(unit).abs().max() < 1e-4
    with intervene(tiny, [Intervention(2, replace_operator(u, 1.5))]), record(tiny, [2]) as rec:
        _logits(tiny, batch)
    assert torch.allclose(rec[2][real].matmul(unit), torch.full((int(real.sum()),), 1.5), atol=1e-4)


def test_replace_with_per_position_values(tiny):
    batch = _batch(tiny)
    u = torch.randn(tiny.d_model)
    values = torch.randn(batch.input_ids.shape)
    with intervene(tiny, [Intervention(1, replace_operator(u, values))]), record(tiny, [1]) as rec:
        _logits(tiny, batch)
    real = batch.attention_mask.bool()
    got = rec[1].matmul(u / u.norm())
    assert torch.allclose(got[real], values[real], atol=1e-4)


def test_bad_input(tiny):
    v = torch.randn(tiny.d_model)
    with pytest.raises(ValueError, match="out of range"), intervene(tiny, [Intervention(99, add_operator(v))]):
        pass
    with pytest.raises(ValueError, match="unknown positions keyword"), intervene(
        tiny, [Intervention(0, add_operator(v), "everywhere")]
    ):
        pass
    batch = _batch(tiny)
    wrong = torch.ones(len(PROMPTS), 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="columns"), intervene(tiny, [Intervention(0, add_operator(v), wrong)]):
        _logits(tiny, batch)
    with pytest.raises(ValueError, match="bool tensor"), intervene(
        tiny, [Intervention(0, add_operator(v), torch.ones(3, 4))]
    ):
        pass
    assert not tiny.layers[0]._forward_hooks


def _three_copies_before(item, hidden, view):
    """The mask-then-operator body as core.hooks, the TransformerLens and the nnsight backends each
    wrote it before apply_intervention (None: leave the output alone)."""
    mask = resolve_positions(item.positions, view)
    if not bool(mask.any()):
        return None
    new = item.operator(hidden, view.absolute)
    if not bool(mask.all()):
        new = torch.where(mask.unsqueeze(-1), new, hidden)
    return new


@pytest.mark.parametrize("positions", ["all", "prompt", "last_prompt", "generated", [-1, 3], "mask"])
@pytest.mark.parametrize("offset", [0, 7])
def test_apply_intervention_equals_the_copies_it_replaced(positions, offset):
    gen = torch.Generator().manual_seed(3)
    hidden = torch.randn(3, 7, 16, generator=gen)
    real = torch.ones(3, 7, dtype=torch.bool)
    real[0, :2] = offset > 0  # padding on the prompt call; none on a decode step
    if positions == "mask":
        positions = torch.rand(3, 7 + offset, generator=gen) > 0.5
    view = StepView(offset, 7, 7, real, decoding=offset > 0)
    ops = [add_operator(torch.randn(16, generator=gen), 2.5), project_out_operator(torch.randn(16, generator=gen)),
           replace_operator(torch.randn(16, generator=gen), 1.5)]
    for op in ops:
        item = Intervention(1, op, validate_positions(positions))
        before, after = _three_copies_before(item, hidden, view), apply_intervention(item, hidden, view)
        assert (before is None) == (after is None)
        assert before is None or torch.equal(before, after)
