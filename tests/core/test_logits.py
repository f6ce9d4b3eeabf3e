"""The one decoder + head forward (core.suffix_forward): bit-identical to the copies it replaced."""

from __future__ import annotations

import torch

from steervec.core.chat import encode_chat
from steervec.core.hooks import Intervention, add_operator, intervene
from steervec.core.positions import mask_position_ids
from steervec.core.suffix_forward import decoder_hidden, head_logits, next_token_logits

PROMPTS = ["hi", "a much longer prompt that forces left padding", "mid length one"]
COMPLETIONS = ["yes", "a longer answer here", "ok then"]


def _next_token_logits_before(lm, input_ids, attention_mask, target):
    """data.soft_targets.next_token_logits before it moved to core."""
    positions = mask_position_ids(attention_mask)
    out = lm.decoder(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=False)
    hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
    return lm.model.get_output_embeddings()(hidden[:, :-1][target]).float()


def test_next_token_logits_bit_identical_to_the_copy_it_replaced(tiny):
    batch = encode_chat(tiny, PROMPTS, None, COMPLETIONS)
    real = batch.attention_mask.bool()
    vector = torch.randn(tiny.d_model, generator=torch.Generator().manual_seed(0))
    for target in (batch.response_mask[:, 1:], real[:, :-1] & real[:, 1:]):
        for items in ([], [Intervention(1, add_operator(vector, 3.0))]):
            with intervene(tiny, items), torch.no_grad():
                old = _next_token_logits_before(tiny, batch.input_ids, batch.attention_mask, target)
                new = next_token_logits(tiny, batch.input_ids, batch.attention_mask, target)
            assert new.shape == (int(target.sum()), tiny.model.config.vocab_size)
            assert torch.equal(old, new)


def test_gradients_flow_and_match(tiny):
    batch = encode_chat(tiny, PROMPTS, None, COMPLETIONS)
    target = batch.response_mask[:, 1:]
    grads = []
    for fn in (_next_token_logits_before, next_token_logits):
        vector = torch.zeros(tiny.d_model, requires_grad=True)
        with intervene(tiny, [Intervention(2, add_operator(vector))]):
            fn(tiny, batch.input_ids, batch.attention_mask, target).logsumexp(-1).sum().backward()
        grads.append(vector.grad)
    assert grads[0] is not None and torch.equal(grads[0], grads[1])


def test_decoder_hidden_and_head_give_the_model_logits(tiny):
    batch = encode_chat(tiny, PROMPTS, None, COMPLETIONS)
    with torch.no_grad():
        full = tiny.model(**batch.model_inputs(), use_cache=False).logits
        mine = head_logits(tiny, decoder_hidden(tiny, batch.input_ids, batch.attention_mask))
    real = batch.attention_mask.bool()
    assert torch.allclose(full[real], mine[real], atol=1e-5)
