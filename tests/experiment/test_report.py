"""Summaries derived from per-condition numbers (no model): paired differences by seed and data
seed, rates, the EAS curve."""

from __future__ import annotations

from pathlib import Path

import pytest

from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.report import summarise_conditions
from steervec.experiment.result import ExperimentResult

EXP = Experiment(layer=1, seeds=(0, 1), n_questions=3, sample_k=4,
                 students=(StudentSpec("LoRA r2", "lora", rank=2, lora_alpha=2.0),))


def _cond(data: str, seed: int, logp: list[float], rates: list[float], eas: list[float]) -> dict:
    return {"label": f"{data} {seed}", "student": "LoRA r2", "data": data, "seed": seed, "logp": logp,
            "delta_logp": [sum(logp) / 3, 0.0, 0.0], "cosine_at_layer": eas[-1], "rates": rates,
            "eas": [{"step": 2 * (i + 1), "cosine": {1: c}} for i, c in enumerate(eas)]}


CONDITIONS = [
    {"label": "base", "rate": [0.0, 0.0, 0.0]}, {"label": "teacher", "rate": [0.5, 0.4, 0.6]},
    _cond("owl", 0, [-5.0, -4.0, -6.0], [0.25, 0.0, 0.5], [0.10, 0.30]),
    _cond("owl", 1, [-5.0, -4.0, -5.0], [0.25, 0.25, 0.5], [0.12, 0.32]),
    _cond("control", 0, [-6.0, -5.0, -7.0], [0.0, 0.0, 0.0], [0.10, 0.02]),
    _cond("control", 1, [-6.0, -6.0, -6.0], [0.0, 0.0, 0.25], [0.11, 0.01]),
]


def test_paired_differences_are_per_question_averaged_over_seeds():
    row = summarise_conditions(CONDITIONS, "owl", "control", EXP)["LoRA r2"]
    # per question: seed 0 → 1, 1, 1; seed 1 → 1, 2, 1; averaged → 1, 1.5, 1
    assert row["trait_minus_control"][0] == pytest.approx(3.5 / 3)
    assert row["rate_trait_minus_control"][0] == pytest.approx((0.25 + 0.125 + 0.375) / 3)
    assert row["eas_trait"]["steps"] == [2, 4] and row["eas_trait"]["cosine"] == pytest.approx([0.11, 0.31])
    assert row["rate_base"] == [0.0, 0.0, 0.0] and row["rate_teacher"][0] == 0.5


def test_per_seed_differences_pair_students_by_seed():
    shuffled = [CONDITIONS[0], CONDITIONS[1], CONDITIONS[5], CONDITIONS[2], CONDITIONS[4], CONDITIONS[3]]
    row = summarise_conditions(shuffled, "owl", "control", EXP)["LoRA r2"]
    assert row["trait_minus_control_per_seed"] == pytest.approx([1.0, 4 / 3])
    assert row["trait_minus_control"][0] == pytest.approx(3.5 / 3)  # unchanged by the order of the rows
    result = ExperimentResult(EXP, Path("unused"), {"summary": {"LoRA r2": row}})
    assert result.seed_differences("LoRA r2") == pytest.approx([1.0, 4 / 3])
    with pytest.raises(KeyError, match="one of \\['LoRA r2'\\]"):
        result.seed_differences("LoRA r9")


def test_several_data_seeds_make_the_data_seed_the_unit():
    exp = Experiment(layer=1, seeds=(0, 1), data_seeds=(1, 3), n_questions=2,
                     students=(StudentSpec("LoRA r2", "lora", rank=2, lora_alpha=2.0),))
    conditions = [{"label": "base"}, {"label": "teacher"}]
    # trait − control per question: data seed 1 → seeds (1, 1), (3, 3); data seed 3 → (-1, -1), (0, 0)
    for d, s, diff in ((1, 0, 1.0), (1, 1, 3.0), (3, 0, -1.0), (3, 1, 0.0)):
        for data, logp in (("owl", [diff, diff]), ("control", [0.0, 0.0])):
            conditions.append({"label": f"{data} {d} {s}", "student": "LoRA r2", "data": data, "seed": s,
                               "data_seed": d, "logp": logp, "delta_logp": [0.0, 0.0, 0.0], "cosine_at_layer": 0.0})
    row = summarise_conditions(conditions[::-1][:-2] + conditions[:2], "owl", "control", exp)["LoRA r2"]
    assert row["units"] == [[1, 0], [1, 1], [3, 0], [3, 1]] and row["seed_unit"] == "data seed"
    assert row["trait_minus_control_per_seed"] == pytest.approx([1.0, 3.0, -1.0, 0.0])
    assert row["trait_minus_control_seed_level"] == pytest.approx([2.0, -0.5])  # mean over training seeds
    assert row["trait_minus_control_by_question_per_seed"] == [[2.0, 2.0], [-0.5, -0.5]]
    assert row["trait_minus_control"][0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="different"):
        summarise_conditions(conditions[:-1], "owl", "control", exp)


