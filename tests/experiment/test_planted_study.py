"""The planted-vector study end to end on a tiny model: every student kind, loss and data kind; a rerun
reuses every cached student and measures the same numbers."""

from __future__ import annotations

import pytest

from steervec.experiment.planted_study import PlantedGrid, run_planted, student_method
from steervec.students.methods import LoRA, VectorStudent

pytestmark = pytest.mark.usefixtures("one_thread")

GRID = PlantedGrid(layers=(2,), random_directions=1, other_offset=1, rows=(2, 4), replicates=((0, 0),), steps=2,
                   batch_size=2, max_new_tokens=6, n_vector_prompts=2, n_heldout=2, fisher_samples=1, fisher_k=4,
                   size="quick")


def test_run_planted_measures_every_student_and_resumes_from_the_cache(tiny_llama, tmp_path):
    first = run_planted(tiny_llama, GRID, tmp_path, progress=False)
    n = 2 * 3 * 2 * 2 * 2  # planted (owl, random0) x students x losses x data x N
    assert len(first.students) == n and not any(s["reused"] for s in first.students)
    assert set(first.planted) == {"owl@L2", "random0@L2"}
    assert first.planted["owl@L2"]["norm"] == pytest.approx(first.planted["random0@L2"]["norm"])
    for s in first.students:
        assert -1 <= s["cosine"] <= 1 and s["norm_ratio"] >= 0 and s["kl_fraction"] >= 0
        assert s["measured_on"] == ("vector" if s["student"] == "vector" else "shift")
    zero_step_like = [s for s in first.students if s["student"] == "vector" and s["loss"] == "kl_online"]
    assert all(s["kl_fraction"] < 1 for s in zero_step_like)  # two Adam steps toward the teacher help
    again = run_planted(tiny_llama, GRID, tmp_path, progress=False)
    assert all(s["reused"] for s in again.students)
    skip = ("reused", "seconds", "fisher_cosine")  # the Fisher metric is re-estimated: equal to float rounding
    strip = [{k: v for k, v in s.items() if k not in skip} for s in first.students]
    assert strip == [{k: v for k, v in s.items() if k not in skip} for s in again.students]
    for s, t in zip(first.students, again.students, strict=True):
        assert s["fisher_cosine"] == pytest.approx(t["fisher_cosine"], abs=1e-5)
    assert len(first.to_dataframe()) == n


def test_grid_checks_and_student_methods():
    assert student_method("vector", 25, PlantedGrid()) == (VectorStudent(layers=[25]), 25)
    assert student_method("vector_other", 25, PlantedGrid()) == (VectorStudent(layers=[20]), 20)
    assert student_method("lora", 25, PlantedGrid())[0] == LoRA(rank=8, alpha=8.0)
    with pytest.raises(ValueError, match="losses"):
        PlantedGrid(losses=("mse",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nothing to plant"):
        PlantedGrid(owl=False, random_directions=0)
    assert PlantedGrid.quick().size == "quick"
