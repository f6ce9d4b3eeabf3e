"""Summaries and claims derived from per-condition numbers (no model): paired differences,
rates, the EAS curve, verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.report import _pct, claims_from_summary, summarise_conditions
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


def test_per_seed_differences_pair_students_by_seed_and_appear_in_the_claim():
    shuffled = [CONDITIONS[0], CONDITIONS[1], CONDITIONS[5], CONDITIONS[2], CONDITIONS[4], CONDITIONS[3]]
    row = summarise_conditions(shuffled, "owl", "control", EXP)["LoRA r2"]
    assert row["trait_minus_control_per_seed"] == pytest.approx([1.0, 4 / 3])
    assert row["trait_minus_control"][0] == pytest.approx(3.5 / 3)  # unchanged by the order of the rows
    prefers = next(c for c in claims_from_summary({"LoRA r2": row}, EXP, "m") if "prefers" in c.claim)
    assert "2 seed(s) (per seed +1.00, +1.33)" in prefers.measurement and prefers.reproduced == "yes"
    result = ExperimentResult(EXP, Path("unused"), {"summary": {"LoRA r2": row}})
    assert result.seed_differences("LoRA r2") == pytest.approx([1.0, 4 / 3])
    with pytest.raises(KeyError, match="one of \\['LoRA r2'\\]"):
        result.seed_differences("LoRA r9")
    split = dict(row, trait_minus_control_per_seed=[-0.2, 2.5])  # same CI, seeds of both signs
    prefers = next(c for c in claims_from_summary({"LoRA r2": split}, EXP, "m") if "prefers" in c.claim)
    assert prefers.reproduced == "partly"


def test_claims_carry_verdicts_from_the_numbers():
    summary = summarise_conditions(CONDITIONS, "owl", "control", EXP)
    by_claim = {c.claim.split(" than ")[0]: c for c in claims_from_summary(summary, EXP, "model")}
    assert by_claim["a LoRA r2 student of a prompted owl teacher prefers 'owl' more"].reproduced == "yes"
    grows = next(c for c in by_claim.values() if "grows over training" in c.claim)
    # two seeds 0.02 apart: with t(0.975; 1) = 12.7 the seed CIs overlap, so the curve only partly separates
    assert grows.reproduced == "partly" and "step 2 → 4" in grows.measurement
    agreeing = [dict(c, eas=[dict(e, cosine={1: round(e["cosine"][1], 1)}) for e in c["eas"]]) if "eas" in c else c
                for c in CONDITIONS]  # the two seeds agree exactly
    by_claim = {c.claim.split(" than ")[0]: c for c in claims_from_summary(
        summarise_conditions(agreeing, "owl", "control", EXP), EXP, "model")}
    assert next(c for c in by_claim.values() if "grows over training" in c.claim).reproduced == "yes"
    flipped = [dict(c, data={"owl": "control", "control": "owl"}.get(c.get("data"), c.get("data")))
               for c in CONDITIONS]
    summary = summarise_conditions(flipped, "owl", "control", EXP)
    assert [c.reproduced for c in claims_from_summary(summary, EXP, "m") if "prefers" in c.claim] == ["no"]


def test_rate_ci_is_clipped_but_a_difference_is_not():
    assert _pct((0.01, -0.02, 0.04)) == "1.0 % [0.0, 4.0]"
    assert _pct((0.01, -0.02, 0.04), sign=True) == "+1.0 % [-2.0, +4.0]"
    assert _pct(None) == "n/a"
