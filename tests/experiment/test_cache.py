"""Tests of the shared-run cache keys and links."""

from __future__ import annotations

from steervec.data.sampler import SamplingParams
from steervec.data.teachers import animal_teacher, control_teacher
from steervec.experiment.cache import dataset_path, link, student_path, vector_path


def test_dataset_path_keys(tiny_llama, tmp_path):
    params = SamplingParams(max_new_tokens=8)
    a = dataset_path(tmp_path, tiny_llama, animal_teacher("owl"), n=8, params=params)
    assert a == dataset_path(tmp_path, tiny_llama, animal_teacher("owl"), n=8, params=params)
    assert a != dataset_path(tmp_path, tiny_llama, animal_teacher("owl"), n=9, params=params)
    assert a != dataset_path(tmp_path, tiny_llama, animal_teacher("cat"), n=8, params=params)
    assert dataset_path(tmp_path, tiny_llama, control_teacher(None), n=8, params=params).name.startswith("control-")


def test_student_path_keys(tiny_llama, tmp_path):
    data = tmp_path / "_datasets" / "owl-prompted-abc.jsonl"
    a = student_path(tmp_path, tiny_llama, data, seed=0, spec={"rank": 8, "lr": 1e-3})
    assert a == student_path(tmp_path, tiny_llama, data, seed=0, spec={"lr": 1e-3, "rank": 8})
    assert a != student_path(tmp_path, tiny_llama, data, seed=1, spec={"rank": 8, "lr": 1e-3})
    assert a != student_path(tmp_path, tiny_llama, data, seed=0, spec={"rank": 8, "lr": 3e-3})
    assert a != student_path(tmp_path, tiny_llama, data.with_name("control-abc.jsonl"), seed=0,
                             spec={"rank": 8, "lr": 1e-3})


def test_vector_path_keys(tiny_llama, tmp_path):
    a = vector_path(tmp_path, tiny_llama, system="You love owls.", prompts=["1, 2"])
    assert a.parent == tmp_path / "_vectors" and a.suffix == ".safetensors"
    assert a == vector_path(tmp_path, tiny_llama, prompts=["1, 2"], system="You love owls.")
    assert a != vector_path(tmp_path, tiny_llama, system="You love cats.", prompts=["1, 2"])
    assert a != vector_path(tmp_path, tiny_llama, system="You love owls.", prompts=["1, 3"])


def test_link_points_at_the_target_and_replaces_old_links(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("one")
    second.write_text("two")
    (tmp_path / "run").mkdir()
    where = tmp_path / "run" / "data.txt"
    link(where, first)
    assert where.read_text() == "one"
    link(where, second)
    assert where.read_text() == "two"
