"""Shared fixtures: tiny random-initialised models (no downloads) and the embedded model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# the analysis scripts' shared helpers (analyses/analysis_kit.py) are imported by name, as the scripts do
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analyses"))

from steervec.core.model import LanguageModel, wrap_model

# A ChatML-style template that injects its own default system turn (like SmolLM2, Qwen2.5).
INJECTING_TEMPLATE = (
    "{% for m in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# A template with no default system turn.
PLAIN_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def make_tokenizer(template: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    fast.chat_template = template
    return fast


def make_tiny(arch: str, template: str, seed: int = 0) -> LanguageModel:
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    tok = make_tokenizer(template)
    common = dict(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    torch.manual_seed(seed)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=True))
    elif arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=False))
    else:
        raise ValueError(arch)
    model.generation_config.pad_token_id = 2
    return wrap_model(model, tok, name=f"tiny-{arch}")


@pytest.fixture(scope="session")
def tiny_llama() -> LanguageModel:
    return make_tiny("llama", INJECTING_TEMPLATE)


@pytest.fixture(scope="session")
def tiny_qwen() -> LanguageModel:
    return make_tiny("qwen2", PLAIN_TEMPLATE)


@pytest.fixture(scope="session", params=["llama", "qwen2"])
def tiny(request, tiny_llama, tiny_qwen) -> LanguageModel:
    return tiny_llama if request.param == "llama" else tiny_qwen


@pytest.fixture(scope="session")
def embedded() -> LanguageModel:
    from steervec.core.model import load_model

    return load_model()


@pytest.fixture(scope="module")
def one_thread():
    """One OpenMP thread for a module of small-model tests (two threads run them slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STEERVEC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
