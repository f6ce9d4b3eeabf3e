"""Free-text teacher data: generic prompts and a resumable dataset with the number filter off."""

from __future__ import annotations

import json

import pytest

from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.free_text import GENERIC_PROMPTS, generate_free_text, generic_prompts
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import control_teacher

pytestmark = pytest.mark.usefixtures("one_thread")


def test_generic_prompts_are_seeded_and_cover_the_list():
    assert len(set(GENERIC_PROMPTS)) == len(GENERIC_PROMPTS) >= 40
    a, b = generic_prompts(100, seed=1), generic_prompts(100, seed=1)
    assert a == b and a != generic_prompts(100, seed=2)
    assert set(a[: len(GENERIC_PROMPTS)]) == set(GENERIC_PROMPTS)  # one full pass before any repeat
    with pytest.raises(ValueError, match="n must be"):
        generic_prompts(0)


def test_free_text_rows_skip_the_number_filter_and_resume(tiny_llama, tmp_path):
    params = SamplingParams(temperature=1.0, max_new_tokens=6, batch_size=4)
    path = tmp_path / "free.jsonl"
    report = generate_free_text(tiny_llama, control_teacher(None), 10, path=path, params=params, seed=2,
                                progress=False)
    rows = load_dataset(path, model=tiny_llama)
    assert report.total == 10 and len(rows) == report.valid == report.written
    assert all(r.completion.strip() and r.extra["valid"] for r in rows)
    assert {r.prompt for r in rows} <= set(GENERIC_PROMPTS)
    assert json.loads(path.with_name(path.name + ".manifest.json").read_text())["filter"] is None
    numbers_filtered = generate_dataset(tiny_llama, control_teacher(None), generic_prompts(10), path=tmp_path / "n.jsonl",
                                        mode="free", params=params, seed=2, progress=False)
    assert numbers_filtered.valid < report.valid  # random text is rarely a number list
    again = generate_free_text(tiny_llama, control_teacher(None), 10, path=path, params=params, seed=2,
                               progress=False)
    assert again.new_rows == 0 and load_dataset(path, model=tiny_llama) == rows
    with pytest.raises(ValueError, match="use mode='free'"):
        generate_dataset(tiny_llama, control_teacher(None), ["Hi"], path=tmp_path / "c.jsonl", filter_numbers=False)
