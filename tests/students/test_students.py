"""Method specs, attaching/unloading students exactly, save/load with fingerprint checks."""

from __future__ import annotations

import pytest
import torch
from _rows import number_rows
from conftest import INJECTING_TEMPLATE, PLAIN_TEMPLATE, make_tiny

from steervec.core.chat import encode_chat
from steervec.core.errors import ModelMismatchError, SteervecError
from steervec.core.steering_vector import SteeringVector
from steervec.students.attach import attach_method, attached, detach_method, linear_module_names
from steervec.students.methods import FullFinetune, LoRA, VectorStudent
from steervec.students.student import Student
from steervec.students.train import train_student

METHODS = {
    "vector": (VectorStudent(layers=[1, 2]), 5e-2),
    "lora": (LoRA(rank=4, alpha=8, layers=[0, 3], modules=["q_proj", "down_proj"]), 5e-2),
    "single": (FullFinetune(layers=[1]), 1e-2),
    "full": (FullFinetune(), 1e-2),
}


@pytest.fixture(scope="module")
def lm():
    return make_tiny("llama", INJECTING_TEMPLATE, seed=3)


@pytest.fixture(scope="module")
def students(lm):
    rows = number_rows(16)
    return {k: train_student(lm, rows, method=m, lr=lr, batch_size=8, progress=False)
            for k, (m, lr) in METHODS.items()}


def _state(lm):
    return {k: v.clone() for k, v in lm.model.state_dict().items()}


def _logits(lm):
    batch = encode_chat(lm, ["Continue: 1, 2, 3", "hi"], system=None)
    with torch.no_grad():
        return lm.model(**batch.model_inputs()).logits


def test_specs_validate():
    assert VectorStudent(layers=[3]).layers == (3,)
    assert LoRA(modules="q_proj").modules == ("q_proj",)
    with pytest.raises(ValueError, match="layers"):
        VectorStudent(layers=[])
    with pytest.raises(ValueError, match="rank"):
        LoRA(rank=0)
    with pytest.raises(ValueError, match="init"):
        VectorStudent(layers=[0], init="ones")  # type: ignore[arg-type]


def test_lora_bad_modules_and_layers_list_valid_names(lm):
    with pytest.raises(ValueError) as err:
        attach_method(lm, LoRA(modules=["q_proj", "qkv"]))
    assert "qkv" in str(err.value)
    for name in linear_module_names(lm):
        assert name in str(err.value)
    with pytest.raises(ValueError, match="0..3"):
        attach_method(lm, LoRA(layers=[7]))
    assert attached(lm) is None  # nothing left attached


@pytest.mark.parametrize("kind", list(METHODS))
def test_attach_changes_model_and_unload_restores_exactly(lm, students, kind):
    base_state, base_logits = _state(lm), _logits(lm)
    modules = [type(m).__name__ for m in lm.model.modules()]
    student = students[kind]
    with student.applied(lm):
        inside = _logits(lm)
    assert not torch.equal(inside, base_logits)
    after = _state(lm)
    assert after.keys() == base_state.keys()
    assert all(torch.equal(after[k], base_state[k]) for k in after)
    assert [type(m).__name__ for m in lm.model.modules()] == modules
    assert torch.equal(_logits(lm), base_logits)
    # the persistent form
    student.attach(lm)
    assert torch.equal(_logits(lm), inside)
    with pytest.raises(SteervecError, match="already attached"):
        student.attach(lm)
    student.unload()
    assert torch.equal(_logits(lm), base_logits)


def test_requires_grad_flags_restored(lm, students):
    flags = [p.requires_grad for p in lm.model.parameters()]
    att = attach_method(lm, FullFinetune(layers=[2]), trainable=True)
    assert sum(p.requires_grad for p in lm.model.parameters()) == len(list(lm.layers[2].parameters()))
    detach_method(lm, att)
    assert [p.requires_grad for p in lm.model.parameters()] == flags


@pytest.mark.parametrize("kind", list(METHODS))
def test_save_load_roundtrip(lm, students, tmp_path, kind):
    student = students[kind]
    path = student.save(tmp_path / f"{kind}.safetensors")
    loaded = Student.load(path, lm)
    assert loaded.method == student.method
    assert loaded.tensors.keys() == student.tensors.keys()
    assert all(torch.equal(loaded.tensors[k], student.tensors[k]) for k in student.tensors)
    assert loaded.history == student.history
    with student.applied(lm):
        a = _logits(lm)
    with loaded.applied(lm):
        b = _logits(lm)
    assert torch.equal(a, b)
    table = loaded.to_dataframe()
    assert set(table["name"]) == set(student.tensors)
    assert "Student" in loaded._repr_html_()


def test_full_single_layer_saves_only_that_layer(students):
    names = students["single"].tensors
    assert names and all(n.startswith("model.layers.1.") for n in names)
    assert all("lora_" in n for n in students["lora"].tensors)


def test_vector_student_file_is_a_steering_vector(lm, students, tmp_path):
    path = students["vector"].save(tmp_path / "v.safetensors")
    vec = SteeringVector.load(path, lm)
    assert vec.layers == [1, 2]
    assert torch.equal(vec[2], students["vector"].tensors["layer.2"])


def test_load_onto_another_model_refused(students, tmp_path):
    path = students["lora"].save(tmp_path / "lora.safetensors")
    other = make_tiny("qwen2", PLAIN_TEMPLATE)
    with pytest.raises(ModelMismatchError, match="belongs to"):
        Student.load(path, other)
    loaded = Student.load(path)
    with pytest.raises(ModelMismatchError):
        loaded.attach(other)


def test_load_rejects_foreign_file(tmp_path, lm):
    vec = SteeringVector({1: torch.ones(lm.d_model)}, lm.fingerprint)
    path = vec.save(tmp_path / "plain.safetensors")
    with pytest.raises(OSError, match="not written by Student.save"):
        Student.load(path, lm)


@pytest.mark.embedded
def test_embedded_students_train_and_unload_exactly(embedded, tmp_path):
    rows = number_rows(4, model=vars(embedded.fingerprint))
    base = {k: v.clone() for k, v in embedded.model.state_dict().items() if ".layers.28." in k or ".layers.25." in k}
    for method, lr in [(LoRA(rank=2, layers=[28], modules=["q_proj", "v_proj"]), 1e-3),
                       (VectorStudent(layers=[25]), 1e-2)]:
        student = train_student(embedded, rows, method=method, lr=lr, batch_size=4, max_steps=1, progress=False)
        assert student.history[0]["loss"] > 0
        loaded = Student.load(student.save(tmp_path / "s.safetensors"), embedded)
        with loaded.applied(embedded):
            pass
        state = embedded.model.state_dict()
        assert all(torch.equal(state[k], v) for k, v in base.items())
