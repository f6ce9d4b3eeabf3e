"""The planted-vector analysis's grouping of planted directions and its --directions option."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "planted_vector.py"


def _module():
    sys.path.insert(0, str(SCRIPT.parent))  # the script imports its neighbours (analysis_kit, claims)
    spec = importlib.util.spec_from_file_location("planted_vector_analysis", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _student(planted: str, n: int, cos: float) -> dict:
    return {"planted": planted, "layer": 25, "loss": "kl_online", "data": "numbers", "student": "vector",
            "n_rows": n, "cosine": cos}


def test_each_direction_group_gets_its_own_curve_and_reach_row():
    pv = _module()
    students = [_student("owl", 16, 0.93), _student("random0", 16, 0.4), _student("random1", 256, 0.97),
                _student("owl_specific", 16, 0.6), _student("owl_specific", 256, 0.95)]
    assert pv.group_of("random2") == "random" and pv.group_of("owl_specific") == "owl_specific"
    assert pv.curves(students, 25, "owl") == {"kl_online · numbers · vector@L": {16: [0.93]}}  # not owl_specific
    assert pv.curves(students, 25, "random")["kl_online · numbers · vector@L"] == {16: [0.4], 256: [0.97]}
    assert sum(len(v) for v in pv.curves(students, 25, "")["kl_online · numbers · vector@L"].values()) == 5
    table = {row["planted"]: row for row in pv.reach_table(students, (25,))}
    assert table["owl_specific"]["n_for_cos_0.5"] == 16 and table["owl_specific"]["n_for_cos_0.9"] == 256
    assert table["owl"]["n_for_cos_0.9"] == 16 and table["random"]["n_for_cos_0.5"] == 256


def test_unknown_direction_is_a_one_line_error(capsys):
    pv = _module()
    with pytest.raises(SystemExit) as exit_:
        pv.main(["--directions", "owl,cat", "--quick"])
    assert exit_.value.code == 2
    assert "--directions takes owl, random and/or owl_specific" in capsys.readouterr().err


def test_every_planted_layer_gets_its_own_claims_with_distinct_texts():
    pv = _module()
    from steervec.experiment.planted_study import PlantedGrid

    students = []
    for layer, soft_cos in ((25, 0.93), (6, 0.5)):
        for r in range(3):
            for loss, cos in (("kl_online", soft_cos + 0.01 * r), ("ce", 0.05 + 0.01 * r)):
                students.append({"planted": "owl", "layer": layer, "loss": loss, "data": "numbers",
                                 "student": "vector", "n_rows": 256, "data_seed": r, "train_seed": r,
                                 "cosine": cos})
    grid = PlantedGrid(layers=(25, 6))
    claims = pv.recovery_claims(students, grid, "tiny")
    texts = [c.claim for c in claims]
    assert len(texts) == 4 and len(set(texts)) == 4
    by = {c.claim: c.reproduced.split(" — ")[0] for c in claims}
    assert by["online soft distillation at the planted layer 25 recovers the planted vector (cos(u, α·v) > 0.9)"] == "yes"
    assert by["online soft distillation at the planted layer 6 recovers the planted vector (cos(u, α·v) > 0.9)"] == "no"
    assert any(t.endswith("(planted at layer 6)") for t in texts)
    students = [{**s, "trait_fraction": 1.0, "teacher_trait_delta": -1.0} for s in students]
    texts = [c.claim for c in pv.recovery_claims(students, grid, "tiny")]
    assert any(t.startswith("a vector student that recovered") and "layer 6" not in t for t in texts)  # cos 0.93
    assert any(t.startswith("a soft-label vector student at the planted layer (mean cos") and t.endswith(
        "(planted at layer 6)") for t in texts)  # cos 0.5: not called recovered


def test_a_lora_student_that_matches_numbers_but_not_the_trait_gets_a_no():
    pv = _module()
    from steervec.experiment.planted_study import PlantedGrid

    students = []
    for r in range(3):
        common = {"planted": "owl", "layer": 25, "loss": "kl_online", "data": "numbers", "n_rows": 256,
                  "data_seed": r, "train_seed": r, "teacher_trait_delta": -2.5}
        students.append({**common, "student": "vector", "cosine": 0.93, "trait_fraction": 1.2 + 0.01 * r,
                         "kl_fraction": 0.015})
        students.append({**common, "student": "lora", "cosine": 0.87 + 0.005 * r, "trait_fraction": 0.1 + 0.02 * r,
                         "kl_fraction": 0.03})
    claims = {c.claim: c for c in pv.recovery_claims(students, PlantedGrid(layers=(25,)), "tiny")}
    lora = [c for t, c in claims.items() if t.startswith("a LoRA r8 student distilled with soft labels")]
    assert len(lora) == 1 and lora[0].reproduced.startswith("no") and "KL left" in lora[0].measurement
    vector = [c for t, c in claims.items() if t.startswith("a vector student that recovered")]
    assert len(vector) == 1 and vector[0].reproduced.startswith("yes")
    assert any(t.startswith("LoRA r8 (cos of its shift at L) recovers") for t in claims)


def test_the_owl_specific_direction_is_claimed_apart_from_the_pooled_directions():
    pv = _module()
    from steervec.experiment.planted_study import PlantedGrid

    students = []
    for planted, soft_cos, fraction in (("owl", 0.93, 1.2), ("owl_specific", 0.64, 0.95)):
        for r in range(3):
            for loss, cos in (("kl_online", soft_cos + 0.005 * r), ("ce", 0.03 + 0.01 * r)):
                students.append({"planted": planted, "layer": 25, "loss": loss, "data": "numbers", "student": "vector",
                                 "n_rows": 256, "data_seed": r, "train_seed": r, "cosine": cos,
                                 "trait_fraction": fraction + 0.01 * r, "teacher_trait_delta": 4.0})
    by = {c.claim: c.reproduced.split(" — ")[0] for c in pv.recovery_claims(students, PlantedGrid(layers=(25,)), "t")}
    assert by["online soft distillation at the planted layer 25 recovers the planted vector (cos(u, α·v) > 0.9)"] == "yes"
    specific = [t for t in by if "owl-specific direction" in t]
    assert len(specific) == 2 and by[next(t for t in specific if t.startswith("online"))] == "no"
    assert by["a vector student distilled with soft labels from the planted owl-specific teacher reproduces most of the "
              "planted teacher's change in log P(owl), whatever its sign (Δ student / Δ teacher > 0.5)"] == "yes"


def test_trait_points_take_the_largest_n_of_the_students_with_a_trait():
    pv = _module()
    students = [{**_student("owl", 16, 0.9), "trait_fraction": 1.1}, {**_student("owl", 256, 0.93), "trait_fraction": 1.2},
                _student("random0", 256, 0.97), {**_student("owl_specific", 256, 0.64), "trait_fraction": 0.95}]
    points = pv.trait_points(students, 25)
    assert points == {"owl · kl_online · numbers · vector@L": [(0.93, 1.2)],
                      "owl_specific · kl_online · numbers · vector@L": [(0.64, 0.95)]}
    assert pv.trait_points(students, 6) == {}
