"""System-prompt control: a string, no system turn at all, or the template's injected default."""

from __future__ import annotations

import pytest

from steervec.core.chat import TEMPLATE_DEFAULT, encode_chat, render_chat, template_info
from steervec.core.errors import SteervecError


def test_three_conditions_are_distinct_on_an_injecting_template(tiny_llama):
    info = template_info(tiny_llama.tokenizer)
    assert info.injects_default and info.default_system == "You are a tiny test assistant."
    with_prompt = render_chat(tiny_llama, "Q?", "You love owls.")
    none = render_chat(tiny_llama, "Q?", None)
    default = render_chat(tiny_llama, "Q?", TEMPLATE_DEFAULT)
    assert len({with_prompt, none, default}) == 3
    assert none == "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"
    assert "tiny test assistant" in default and "system" not in none
    assert "You love owls." in with_prompt and "tiny test" not in with_prompt


def test_plain_template_none_equals_default(tiny_qwen):
    info = template_info(tiny_qwen.tokenizer)
    assert info.has_system_turn and not info.injects_default
    assert render_chat(tiny_qwen, "Q?", None) == render_chat(tiny_qwen, "Q?", TEMPLATE_DEFAULT)


def test_multi_turn_without_system(tiny_llama):
    msgs = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    text = render_chat(tiny_llama, msgs, None)
    assert text.startswith("<|im_start|>user\none") and "system" not in text


def test_batch_masks_partition_real_tokens(tiny_llama):
    batch = encode_chat(tiny_llama, ["a", "a longer one"], None, completions=["1, 2", "3"])
    real = batch.attention_mask.bool()
    assert not (batch.prompt_mask & batch.response_mask).any()
    assert (batch.prompt_mask | batch.response_mask).eq(real).all()
    assert batch.attention_mask[0, 0] == 0 or batch.attention_mask[1, 0] == 0  # left padding
    resp = tiny_llama.tokenizer.decode(batch.input_ids[1][batch.response_mask[1]])
    assert resp == "3<|im_end|>"
    last = batch.last_prompt_index
    assert all(batch.prompt_mask[i, last[i]] and batch.response_mask[i, last[i] + 1] for i in range(2))


def test_bad_input(tiny_llama):
    with pytest.raises(ValueError, match="no prompts"):
        encode_chat(tiny_llama, [], None)
    with pytest.raises(ValueError, match="completions"):
        encode_chat(tiny_llama, ["a"], None, completions=["1", "2"])
    with pytest.raises(TypeError, match="system must be"):
        render_chat(tiny_llama, "a", 3)  # type: ignore[arg-type]


def test_missing_chat_template_explains_fix(tiny_llama):
    from conftest import make_tokenizer

    tok = make_tokenizer("x")
    tok.chat_template = None
    with pytest.raises(SteervecError, match="chat_template"):
        render_chat(tok, "a", None)


@pytest.mark.embedded
def test_smollm2_default_system_prompt_is_visible(embedded):
    info = template_info(embedded.tokenizer)
    assert info.injects_default and "SmolLM" in (info.default_system or "")
    assert "SmolLM" not in render_chat(embedded, "Hi", None)
    assert "SmolLM" in render_chat(embedded, "Hi", TEMPLATE_DEFAULT)
