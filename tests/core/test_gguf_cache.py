"""The float32 copy of a GGUF model is written atomically, verified, and rebuilt when damaged."""

from __future__ import annotations

import json

import pytest

from steervec.core import gguf_cache, model


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
