"""Tests of the in-place KV cache: same attention inputs as DynamicCache, batch edits, bad input."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from steervec.data.kv_cache import reserved_cache

pytestmark = pytest.mark.usefixtures("one_thread")


def decode(lm, cache, steps=6, select=None):
    """Prefill 3 rows, optionally keep some rows, then greedy-decode; returns the logits per step."""
    torch.manual_seed(0)
    ids = torch.randint(3, 200, (3, 5))
    out = lm.model(input_ids=ids, cache=cache, use_cache=True)
    logits, pos = [out.logits[:, -1]], torch.full((3, 1), 5)
    tok = out.logits[:, -1].argmax(-1, keepdim=True)
    for step in range(steps):
        if select is not None and step == 2:
            cache.batch_select_indices(select)
            tok, pos = tok[select], pos[select]
        out = lm.model(input_ids=tok, position_ids=pos, cache=cache, use_cache=True)
        logits.append(out.logits[:, -1])
        tok, pos = out.logits[:, -1].argmax(-1, keepdim=True), pos + 1
    return logits


@pytest.mark.parametrize("reserve", [0, 2, 64])
def test_same_logits_as_dynamic_cache(tiny_llama, reserve):
    with torch.inference_mode():
        ref = decode(tiny_llama, DynamicCache())
        got = decode(tiny_llama, reserved_cache(reserve))  # reserve 0 and 2 force the buffer to grow
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_batch_select_and_repeat(tiny_llama):
    keep = torch.tensor([0, 2])
    with torch.inference_mode():
        ref = decode(tiny_llama, DynamicCache(), select=keep)
        cache = reserved_cache(4)
        got = decode(tiny_llama, cache, select=keep)
        assert cache.get_seq_length() == 5 + 6
        cache.batch_repeat_interleave(2)
        assert cache.layers[0].keys.shape[0] == 4
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_crop_and_bad_input(tiny_llama):
    with torch.inference_mode():
        cache = reserved_cache(8)
        decode(tiny_llama, cache, steps=2)
        cache.crop(-3)
        assert cache.get_seq_length() == 5 + 2 - 3
    with pytest.raises(ValueError, match="negative"):
        cache.layers[0].crop(2)
    with pytest.raises(ValueError, match="reserve"):
        reserved_cache(-1)
