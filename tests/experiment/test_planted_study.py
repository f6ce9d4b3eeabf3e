"""The planted-vector study end to end on a tiny model: every student kind, loss and data kind; a rerun
reuses every cached student and measures the same numbers."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from steervec.data.teachers import planted_teacher, random_direction
from steervec.experiment.config import Experiment
from steervec.experiment.planted_study import (
    Planted,
    PlantedGrid,
    grid_cells,
    planted_data_path,
    planted_panel,
    planted_teachers,
    run_planted,
    student_method,
)
from steervec.experiment.run import build_specific_vector
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
    owl = [s for s in first.students if s["planted"] == "owl"]
    assert all(s["teacher_trait_delta"] != 0 and len(s["trait_delta_by_question"]) == GRID.trait_questions for s in owl)
    assert not any("trait_delta" in s for s in first.students if s["planted"] != "owl")
    assert len(list((tmp_path / "_students").glob("*.measures-*.json"))) == n
    retrained = sorted((tmp_path / "_students").glob("*.safetensors"))[0]
    os.utime(retrained, ns=(retrained.stat().st_atime_ns, retrained.stat().st_mtime_ns + 10**9))
    third = run_planted(tiny_llama, GRID, tmp_path, progress=False)  # a student trained again is measured again
    assert len(list((tmp_path / "_students").glob("*.measures-*.json"))) == n + 1
    assert [s["cosine"] for s in third.students] == [s["cosine"] for s in first.students]


def test_grid_checks_and_student_methods():
    assert student_method("vector", 25, PlantedGrid()) == (VectorStudent(layers=[25]), 25)
    assert student_method("vector_other", 25, PlantedGrid()) == (VectorStudent(layers=[20]), 20)
    assert student_method("lora", 25, PlantedGrid())[0] == LoRA(rank=8, alpha=8.0)
    with pytest.raises(ValueError, match="losses"):
        PlantedGrid(losses=("mse",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nothing to plant"):
        PlantedGrid(owl=False, random_directions=0)
    assert PlantedGrid.quick().size == "quick"


def test_grid_cells_put_the_recovery_curve_first_and_pair_random_directions():
    grid = PlantedGrid(layers=(25,), random_directions=2, rows=(16, 64), side_rows=(64,), pair_random=True,
                       replicates=((0, 0), (1, 1)))
    owl = grid_cells(grid, "owl")
    curve = [c for t, c in owl if t < 2]
    assert {c[0] for c in curve} == {"vector"} and {c[2] for c in curve} == {"numbers"}
    assert {c[3] for t, c in owl if t == 2} == {64}  # side conditions only at side_rows
    assert all((t == 0) == (c[1] == "kl_online") for t, c in owl if t < 2)
    assert {c[4] for _, c in grid_cells(grid, "random1")} == {(1, 1)}  # direction i: replicate i only
    assert len(owl) == 2 * (2 * 2) + 2 * (3 * 2 * 2 - 2)  # curve: losses x N x reps; side: rest at N=64 x reps
    with pytest.raises(ValueError, match="side_rows"):
        PlantedGrid(rows=(16,), side_rows=(64,))
    with pytest.raises(ValueError, match="pair_random"):
        PlantedGrid(random_directions=3, replicates=((0, 0),), pair_random=True)
    assert PlantedGrid.machine().size == "full"


def test_train_rows_trains_part_of_the_grid_on_the_same_datasets(tiny_llama, tmp_path):
    grid = PlantedGrid.machine()
    part = dataclasses.replace(grid, train_rows=(256,), losses=("ce",))
    cells = [c for _, c in grid_cells(part, "owl")]
    assert cells and {c[3] for c in cells} == {256} and {c[1] for c in cells} == {"ce"}
    assert set(cells) < {c for _, c in grid_cells(grid, "owl")}
    with pytest.raises(ValueError, match="train_rows"):
        dataclasses.replace(grid, train_rows=(100,))
    # the part's datasets are the whole grid's: same path, so students trained in parts share one cache
    direction = random_direction(tiny_llama, 2, 8.0, seed=3)
    planted = Planted("random0", 2, direction, 3.0, planted_teacher(tiny_llama, direction, 2, 3.0, name="p"))
    assert planted_data_path(tiny_llama, planted, "numbers", 0, part, tmp_path) == \
        planted_data_path(tiny_llama, planted, "numbers", 0, grid, tmp_path)


def test_planted_panel_records_recovery_over_steps(tiny_llama, tmp_path):
    direction = random_direction(tiny_llama, 2, 8.0, seed=3)
    panel = planted_panel(tiny_llama, direction, tmp_path, layer=2, n_rows=4, steps=4, batch_size=2, every=2,
                          questions=2)
    assert set(panel.trajectory) == {"kl_online", "ce"} and set(panel.final) == {"kl_online", "ce"}
    assert [s for s, _ in panel.trajectory["kl_online"]] == [0, 2, 4]
    assert panel.trajectory["kl_online"][-1][1] == pytest.approx(panel.final["kl_online"]["cosine"])
    assert panel.final["kl_online"]["cosine"] > 0.5  # four Adam steps on the exact teacher point at it
    assert "soft labels" in panel.table() and panel.to_dict()["n_rows"] == 4


def test_cached_only_measures_what_was_trained_and_skips_the_rest(tiny_llama, tmp_path):
    small = PlantedGrid(**{**GRID.to_dict(), "owl": False, "students": ("vector",), "losses": ("kl_online",),
                           "data": ("numbers",), "rows": (4,)})
    trained = run_planted(tiny_llama, small, tmp_path, progress=False)
    # the same dataset (max(rows) keys it), more N and losses
    bigger = PlantedGrid(**{**small.to_dict(), "rows": (2, 4), "losses": ("ce", "kl_online")})
    partial = run_planted(tiny_llama, bigger, tmp_path, progress=False, cached_only=True)
    assert partial.skipped == 3 and len(partial.students) == 1 and partial.students[0]["reused"]
    assert partial.students[0]["cosine"] == trained.students[0]["cosine"]
    assert len(list((tmp_path / "_students").glob("*.safetensors"))) == 1  # nothing trained


def test_owl_specific_direction_is_planted_at_the_owl_norm_and_carries_a_trait(tiny_llama, tmp_path):
    grid = PlantedGrid(**{**GRID.to_dict(), "owl_specific": True, "random_directions": 0, "students": ("vector",),
                          "losses": ("kl_online",), "data": ("numbers",), "rows": (2,)})
    planted = {p.name: p for p in planted_teachers(tiny_llama, grid, tmp_path)}
    assert set(planted) == {"owl", "owl_specific"}
    owl, specific = planted["owl"].vector[2], planted["owl_specific"].vector[2]
    assert float(specific.norm()) == pytest.approx(float(owl.norm()), rel=1e-5)
    cos = float(torch.nn.functional.cosine_similarity(owl, specific, dim=0))
    assert cos < 0.999  # the matched baseline removes part of v_teacher, so the direction differs
    # its matched vector, unscaled, is build_specific_vector's (cached under _vectors/ like v_teacher)
    raw = build_specific_vector(tiny_llama, Experiment(name="planted_vector", out_dir=str(tmp_path),
                                                       n_vector_prompts=grid.n_vector_prompts))[2]
    assert float(torch.nn.functional.cosine_similarity(raw, specific, dim=0)) == pytest.approx(1.0, abs=1e-5)
    result = run_planted(tiny_llama, grid, tmp_path, progress=False)
    rows = {s["planted"]: s for s in result.students}
    assert set(rows) == {"owl", "owl_specific"} and "trait_delta" in rows["owl_specific"]
    assert rows["owl_specific"]["teacher_trait_delta"] != rows["owl"]["teacher_trait_delta"]
    assert set(result.planted) == {"owl@L2", "owl_specific@L2"}
    with pytest.raises(ValueError, match="nothing to plant"):
        PlantedGrid(owl=False, random_directions=0, owl_specific=False)
    assert PlantedGrid(owl=False, random_directions=0, owl_specific=True).owl_specific
