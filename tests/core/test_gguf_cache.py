"""The float32 copy of a GGUF model is written atomically, verified, and rebuilt when damaged."""

from __future__ import annotations

import json

import pytest

from steervec.core import gguf_cache, model
from steervec.core.errors import CorruptFileError


@pytest.fixture()
def fake_gguf(tmp_path, tiny_llama, monkeypatch):
    """A .gguf path whose 'dequantisation' returns the tiny model (counts the calls)."""
    path = tmp_path / "src" / "tiny.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF-fake" * 1000)
    calls = []

    def fake_load(p):
        calls.append(p)
        return tiny_llama.model, tiny_llama.tokenizer

    monkeypatch.setattr(gguf_cache, "load_gguf_hf", fake_load)
    return path, calls


def test_built_once_then_reused(fake_gguf, tmp_cache, tiny_llama):
    path, calls = fake_gguf
    first = model.load_model(path)
    second = model.load_model(path)
    assert len(calls) == 1
    assert first.fingerprint == second.fingerprint == tiny_llama.fingerprint
    folder = model.gguf_cache_folder(path)
    manifest = json.loads((folder / gguf_cache.MANIFEST).read_text())
    assert "model.safetensors" in manifest["files"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_corrupt_cache_is_detected_and_rebuilt(fake_gguf, tmp_cache, tiny_llama):
    path, calls = fake_gguf
    model.load_model(path)
    weights = model.gguf_cache_folder(path) / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - 100])
    lm = model.load_model(path)
    assert len(calls) == 2
    assert lm.fingerprint == tiny_llama.fingerprint


def test_failed_build_leaves_nothing(fake_gguf, tmp_cache, monkeypatch):
    path, _ = fake_gguf

    def broken(p):
        raise model.SteervecError("cannot load")

    monkeypatch.setattr(gguf_cache, "load_gguf_hf", broken)
    with pytest.raises(model.SteervecError):
        model.load_model(path)
    assert not model.gguf_cache_folder(path).exists()


@pytest.fixture()
def wide_gguf(tmp_path, monkeypatch):
    """Like ``fake_gguf`` but the model's weights file is ~8 MB, so its middle lies outside
    the first and last MiB that older steervec versions hashed."""
    import torch
    from conftest import PLAIN_TEMPLATE, make_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = make_tokenizer(PLAIN_TEMPLATE)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=512, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, bos_token_id=1, eos_token_id=2,
                         pad_token_id=2, tie_word_embeddings=True)
    wide = LlamaForCausalLM(config)
    path = tmp_path / "src" / "wide.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF-wide" * 1000)
    calls = []

    def fake_load(p):
        calls.append(p)
        return wide, tok

    monkeypatch.setattr(gguf_cache, "load_gguf_hf", fake_load)
    return path, calls, wide


def _flood_middle(folder):
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    start = (len(data) - (4 << 20)) // 2
    assert start > 1 << 20  # the first and last MiB stay as they were
    data[start : start + (4 << 20)] = b"\xff" * (4 << 20)  # 0xFFFFFFFF is a float32 NaN
    weights.write_bytes(bytes(data))


def _drop_sha(folder):
    manifest = json.loads((folder / gguf_cache.MANIFEST).read_text())
    for meta in manifest["files"].values():
        del meta["sha256"]  # a cache written before whole-file hashes were stored
    (folder / gguf_cache.MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage", [
    _flood_middle,
    _drop_sha,
    lambda folder: (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:-4]),
    lambda folder: (folder / gguf_cache.MANIFEST).write_text("{not json"),
    lambda folder: (folder / gguf_cache.MANIFEST).unlink(),
], ids=["middle-4MiB-of-0xFF", "no-full-hash", "truncated", "manifest-garbled", "manifest-missing"])
def test_damaged_cache_is_detected_and_rebuilt_atomically(wide_gguf, tmp_cache, damage):
    import torch

    path, calls, wide = wide_gguf
    model.load_model(path)
    folder = model.gguf_cache_folder(path)
    damage(folder)
    lm = model.load_model(path)
    assert len(calls) == 2  # rebuilt once
    for name, param in lm.model.named_parameters():
        assert torch.isfinite(param).all(), name
        assert torch.equal(param, wide.get_parameter(name)), name
    assert gguf_cache.verify_gguf_cache(folder)
    model.load_model(path)
    assert len(calls) == 2  # and then reused
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no temp, old or lock files


def test_manifest_keeps_theends_digest_for_older_readers(wide_gguf, tmp_cache):
    path, _, _ = wide_gguf
    model.load_model(path)
    files = json.loads((model.gguf_cache_folder(path) / gguf_cache.MANIFEST).read_text())["files"]
    weights = model.gguf_cache_folder(path) / "model.safetensors"
    assert files["model.safetensors"]["sha256"] == gguf_cache.file_sha256(weights)
    assert files["model.safetensors"]["digest"] == gguf_cache.ends_digest(weights)


def test_non_finite_source_weights_are_refused_and_nothing_is_cached(wide_gguf, tmp_cache):
    import torch

    path, _, wide = wide_gguf
    with torch.no_grad():
        wide.model.layers[1].mlp.up_proj.weight[3, :5] = float("nan")
    with pytest.raises(CorruptFileError, match=r"dequantises to 5 non-finite weights in "
                                                     r"model.layers.1.mlp.up_proj.weight: the file is damaged; "
                                                     r"download it again \(nothing was cached\)"):
        model.load_model(path)
    assert not model.gguf_cache_folder(path).parent.exists() or not any(model.gguf_cache_folder(path).parent.iterdir())
