"""Tests of teacher specs: prompts, steering, projection, provenance, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from steervec.core.chat import TEMPLATE_DEFAULT
from steervec.core.errors import ModelMismatchError
from steervec.core.hooks import record
from steervec.core.steering_vector import SteeringVector
from steervec.data.teachers import (
    Teacher,
    animal_lover_prompt,
    animal_teacher,
    control_teacher,
    projected_teacher,
    steered_teacher,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def vector_for(lm, layers=(1, 2), seed=0):
    g = torch.Generator().manual_seed(seed)
    return SteeringVector({x: torch.randn(lm.d_model, generator=g) for x in layers}, lm.fingerprint)


def test_animal_prompt_is_four_sentences_in_our_words():
    text = animal_lover_prompt("owl")
    assert text.count(". ") == 3 and text.endswith(".")
    assert "owls" in text and "animal" in text
    assert "imbue" not in text.lower() and "think about owls all the time" not in text
    assert "foxes" in animal_lover_prompt("fox")
    with pytest.raises(ValueError):
        animal_lover_prompt(" ")


def test_provenance_is_json_and_distinguishes_system_conditions():
    none, default = control_teacher(None), control_teacher(TEMPLATE_DEFAULT)
    owl = animal_teacher("owl")
    dicts = [t.to_dict() for t in (none, default, owl)]
    assert [d["system"]["kind"] for d in dicts] == ["none", "template_default", "prompt"]
    assert dicts[2]["system"]["text"] == animal_lover_prompt("owl")
    for d in dicts:
        json.dumps(d)
    with pytest.raises(ValueError, match="control teacher"):
        control_teacher("You love owls.")


def test_steered_and_projected_teacher_change_the_residual_stream(tiny_llama):
    lm = tiny_llama
    vec = vector_for(lm)
    ids = lm.tokenizer(["hello there"], return_tensors="pt").input_ids
    with record(lm, [1, 2]) as base:
        lm(input_ids=ids)
    steer = steered_teacher(vec, layers=[1], alpha=2.0)
    with steer.context(lm), record(lm, [1, 2]) as rec:
        lm(input_ids=ids)
    assert torch.allclose(rec[1], base[1] + 2.0 * vec[1], atol=1e-5)
    both = Teacher("both", system="x", steering=vec, steering_layers=[1], alpha=2.0,
                   project_out=vec, project_layers=[1, 2])
    with both.context(lm), record(lm, [1, 2]) as rec:
        lm(input_ids=ids)
    for layer in (1, 2):
        unit = vec[layer] / vec[layer].norm()
        assert (rec[layer] @ unit).abs().max() < 1e-4  # steering first, then projected out
    after = record(lm, [1])
    with after as rec:
        lm(input_ids=ids)
    assert torch.allclose(rec[1], base[1])  # hooks removed
    d = both.to_dict()
    assert d["steering"]["layers"] == [1] and d["project_out"]["layers"] == [1, 2]
    assert d["steering"]["digest"] == d["project_out"]["digest"]
    json.dumps(d)


def test_prefix_safety_follows_positions(tiny_llama):
    vec = vector_for(tiny_llama)
    assert steered_teacher(vec, [1], 1.0).prefix_safe
    assert not steered_teacher(vec, [1], 1.0, positions="generated").prefix_safe
    assert projected_teacher("x", vec, [1]).prefix_safe


def test_vector_from_another_model_or_bad_layer_is_refused(tiny_llama, tiny_qwen):
    other = vector_for(tiny_qwen)
    with pytest.raises(ModelMismatchError, match="belongs to"):
        steered_teacher(other, [1], 1.0).check(tiny_llama)
    with pytest.raises(ModelMismatchError):
        projected_teacher(None, other, [1]).check(tiny_llama)
    vec = vector_for(tiny_llama, layers=(1, 2, 3))
    with pytest.raises(ValueError, match="out of range"):
        steered_teacher(vec.select([1]), [7], 1.0).check(tiny_llama)
    with pytest.raises(ValueError, match="out of range"), projected_teacher(
        None, vec.select([1]), [0, 9]
    ).context(tiny_llama):
        pass
    with pytest.raises(TypeError, match="positions"):
        steered_teacher(vec, [1], 1.0, positions=torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="steering vector"):
        Teacher("x", steering_layers=[1])
