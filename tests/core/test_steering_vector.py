"""SteeringVector files are tied to their model; arithmetic and GGUF export follow the convention."""

from __future__ import annotations

import pytest
import torch

from steervec.core.errors import CorruptFileError, ModelMismatchError
from steervec.core.steering_vector import LAYER_CONVENTION, SteeringVector


def _vec(lm, layers=(1, 2), seed=0):
    g = torch.Generator().manual_seed(seed)
    return SteeringVector({x: torch.randn(lm.d_model, generator=g) for x in layers}, lm.fingerprint, "last_prompt",
                          {"note": "test"})


def test_save_load_roundtrip(tiny_llama, tmp_path):
    vec = _vec(tiny_llama)
    path = vec.save(tmp_path / "v.safetensors")
    back = SteeringVector.load(path, model=tiny_llama)
    assert back.layers == [1, 2] and back.fingerprint == tiny_llama.fingerprint
    assert back.provenance == {"note": "test"} and back.positions == "last_prompt"
    assert all(torch.equal(back[x], vec[x]) for x in vec.layers)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        assert f.metadata()["layer_convention"] == LAYER_CONVENTION
    assert [p.name for p in tmp_path.iterdir()] == ["v.safetensors"]


def test_load_onto_other_model_is_refused(tiny_llama, tmp_path):
    from conftest import INJECTING_TEMPLATE, make_tiny

    other = make_tiny("llama", INJECTING_TEMPLATE, seed=1)
    path = _vec(tiny_llama).save(tmp_path / "v.safetensors")
    with pytest.raises(ModelMismatchError) as err:
        SteeringVector.load(path, model=other)
    assert tiny_llama.fingerprint.short in str(err.value) and other.fingerprint.short in str(err.value)
    assert SteeringVector.load(path, model=other, allow_other_model=True).layers == [1, 2]
    with pytest.raises(ModelMismatchError):
        _vec(tiny_llama).apply(other).__enter__()


def test_wrong_d_model_and_bad_values(tiny_llama, tiny_qwen):
    with pytest.raises(ValueError, match="NaN"):
        SteeringVector({0: torch.tensor([1.0, float("nan")])})
    with pytest.raises(ValueError, match="d_model"):
        SteeringVector({0: torch.zeros(7)}, tiny_llama.fingerprint)
    loose = SteeringVector({0: torch.zeros(7)})
    with pytest.raises(ModelMismatchError, match="d_model"):
        loose.apply(tiny_qwen).__enter__()


def test_truncated_file(tiny_llama, tmp_path):
    path = _vec(tiny_llama).save(tmp_path / "v.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="truncated"):
        SteeringVector.load(path)


def test_arithmetic_and_cosine(tiny_llama):
    a, b = _vec(tiny_llama, seed=0), _vec(tiny_llama, seed=1)
    assert torch.allclose((a + b)[1], a[1] + b[1])
    assert torch.allclose((a - b)[2], a[2] - b[2])
    assert torch.allclose((2 * a)[1], a[1] * 2)
    assert all(abs(n - 1) < 1e-5 for n in a.normalized().norms.values())
    assert a.cosine(a) == pytest.approx({1: 1.0, 2: 1.0})
    assert a.cosine(-a)[1] == pytest.approx(-1.0)


def test_apply_adds_at_its_layers(tiny_llama):
    from steervec.core.chat import encode_chat
    from steervec.core.hooks import record

    vec = _vec(tiny_llama, layers=(2,))
    batch = encode_chat(tiny_llama, ["hello"], None)
    with record(tiny_llama, [2]) as base, torch.no_grad():
        tiny_llama.model(**batch.model_inputs())
    with vec.apply(tiny_llama, alpha=2.0), record(tiny_llama, [2]) as rec, torch.no_grad():
        tiny_llama.model(**batch.model_inputs())
    assert torch.allclose(rec[2], base[2] + 2 * vec[2], atol=1e-5)


def test_gguf_export_uses_llama_cpp_numbering(tiny_llama, tmp_path):
    import gguf

    vec = _vec(tiny_llama, layers=(1, 3))
    path = vec.to_gguf(tmp_path / "v.gguf")
    reader = gguf.GGUFReader(str(path))
    names = sorted(t.name for t in reader.tensors)
    assert names == ["direction.1", "direction.3"]
    t = next(t for t in reader.tensors if t.name == "direction.3")
    assert torch.allclose(torch.from_numpy(t.data.copy()).float(), vec[3])
    with pytest.raises(ValueError, match="layer 0"):
        _vec(tiny_llama, layers=(0, 1)).to_gguf(tmp_path / "w.gguf")
    assert not (tmp_path / "w.gguf").exists()


def test_saved_files_get_the_usual_mode(tiny_llama, tmp_path):
    import os
    import stat

    path = _vec(tiny_llama).save(tmp_path / "v.safetensors")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_html_repr_shows_layers_norms_model_and_method(tiny_llama):
    from _html import html_text

    vec = SteeringVector(_vec(tiny_llama).layer_vectors, tiny_llama.fingerprint, "<last_prompt>",
                         {"method": "mean_difference"})
    title, rows = html_text(vec._repr_html_())
    assert title.startswith("SteeringVector on " + tiny_llama.fingerprint.short)
    assert "'<last_prompt>'" in title and title.endswith("by mean_difference")
    assert rows[0] == ["layer", "1", "2"]
    assert rows[1] == ["norm", f"{vec.norms[1]:.4g}", f"{vec.norms[2]:.4g}"]
    assert "by unrecorded" in html_text(SteeringVector({0: torch.ones(3)})._repr_html_())[0]
    assert "by +" in html_text((vec + vec)._repr_html_())[0]  # arithmetic records its op
