"""analyses/rederive.py on constructed records: which records it re-decides and which it leaves alone."""

from __future__ import annotations

import json

from claims import RULE
from rederive import main


def _record(folder, claims, **extra):
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"claims": claims, **extra}))
    return folder


def _claim(reproduced: str, **extra) -> dict:
    return {"study": "S", "claim": "a claim", "measurement": "+1.0 [+0.5, +1.5] nats", "model": "m",
            "reproduced": reproduced, "size": "full", **extra}


def test_a_record_already_under_the_seed_level_rule_keeps_its_verdicts(tmp_path, capsys):
    decided = _record(tmp_path / "planted", [_claim("yes", rule=RULE), _claim("no", rule=RULE)], grid=[1, 2])
    before = decided.joinpath("metrics.json").read_text()
    assert main([str(decided)]) == 0
    assert decided.joinpath("metrics.json").read_text() == before
    assert "seed-level rule already" in capsys.readouterr().out


def test_a_record_without_per_seed_numbers_loses_its_verdict_and_keeps_the_old_one(tmp_path):
    old = _record(tmp_path / "old", [_claim("yes")], sweep=[0.1])
    assert main([str(old)]) == 0
    data = json.loads(old.joinpath("metrics.json").read_text())
    assert data["claims"][0]["reproduced"] == "no verdict" and "not recorded" in data["claims"][0]["measurement"]
    assert data["claims_superseded"][0]["reproduced"] == "yes"


def test_a_record_without_claims_is_left_alone(tmp_path, capsys):
    empty = _record(tmp_path / "empty", [])
    before = empty.joinpath("metrics.json").read_text()
    assert main([str(empty)]) == 0
    assert empty.joinpath("metrics.json").read_text() == before and "no claims" in capsys.readouterr().out


def test_a_rank_curve_over_data_seeds_is_decided_and_over_one_dataset_is_not(tmp_path):
    """lora_rank's own claims re-derived from its stored curve read the run's seed unit: values per data seed
    are decided by the rule, the training seeds of one teacher dataset only say what they agree on."""
    from rederive import _analysis_claims

    curve = {"ranks": [1, 8, 64], "per_seed": [[0.1, 0.2, 0.15], [1.0, 1.2, 1.1], [0.3, 0.2, 0.25]],
             "full_ft_per_seed": [0.0, -0.1, 0.1]}
    for unit, expected in (("data seed", ["yes", "yes"]), ("training seed", ["no verdict", "no verdict"])):
        metrics = {"experiment": {"size": "full"}, "model": "m", "rank_curve": curve,
                   "summary": {"LoRA r1": {"seed_unit": unit}, "full FT": {"seed_unit": unit}}}
        claims = _analysis_claims(tmp_path, metrics)
        assert [c["reproduced"].split(" — ")[0] for c in claims] == expected


def _divergence_metrics(div_only: list[float], random_diff: list[float]) -> dict:
    minus = {"logp": {"seed_level": div_only}}
    return {"seed_unit": "data seed", "shares": {"T=0": [0.04], "T=1": [0.03, 0.031, 0.029]},
            "per_data_seed": {str(d): {"T=1": {"share": 0.03}} for d in (1, 2, 3)},
            "random_mask": {f"data {d}, seed 0": {"overlap_with_divergence": 16} for d in (1, 2, 3)},
            "students": {"divergence only": {"minus_control": minus},
                         "all but divergence": {"minus_control": {"logp": {"seed_level": [0.01, -0.02, 0.0]}}},
                         "all tokens": {"minus_control": {"logp": {"seed_level": [0.5, -0.4, 0.2]}}}},
            "divergence_minus_random": {"logp": {"seed_level": random_diff}}}


def test_a_divergence_run_is_decided_again_from_its_stored_seed_units(tmp_path):
    """The divergence study's claims come back from the numbers its metrics.json stores (one per data seed):
    a tight divergence-only effect is 'yes', a random-mask difference of both signs is inconclusive."""
    run = _record(tmp_path / "divergence_tokens", [_claim("yes")], **_divergence_metrics([0.9, 1.1, 1.0],
                                                                                        [0.9, -0.8, 0.1]))
    assert main([str(run)]) == 0
    data = json.loads(run.joinpath("metrics.json").read_text())
    got = {c["claim"]: c["reproduced"] for c in data["claims"]}
    assert got["a student trained on divergence only learns the trait (vs control-data student)"] == "yes"
    assert next(v for k, v in got.items() if "chosen at random" in k).startswith("inconclusive")
    assert next(v for k, v in got.items() if "all but divergence" in k) == "yes"  # within ±0.25 by TOST
    assert got["divergence tokens are a minority (< 50 %) of teacher tokens (Qwen2.5-7B: 7.5 % greedy, 4.7 % T=1)"] \
        == "yes"
    assert data["claims_superseded"][0]["reproduced"] == "yes" and all(c["rule"] == RULE for c in data["claims"])
    assert "16, 16, 16 tokens in common" in next(c["measurement"] for c in data["claims"] if "random" in c["claim"])


def test_a_cross_model_record_is_decided_again_with_its_panel_measures(tmp_path):
    """Old records (no seed unit, no detail) keep their students' description from the first claim; new
    ones are re-decided per measure from their stored seed-level values."""
    first = _claim("yes", measurement="Gemma3ForCausalLM LoRA r8 students of Llama teacher data: log P ... = -0.59")
    old = _record(tmp_path / "old", [first], difference=[-0.59, -0.73, -0.45], difference_per_seed=[0.36, 0.78, -2.9])
    assert main([str(old)]) == 0
    data = json.loads(old.joinpath("metrics.json").read_text())
    assert data["claims_superseded"][0]["reproduced"] == "yes"
    assert data["claims"][0]["reproduced"].startswith("inconclusive")
    assert "Gemma3ForCausalLM LoRA r8 students" in data["claims"][0]["measurement"]
    assert main([str(old)]) == 0  # twice: the description still comes from the original claim
    again = json.loads(old.joinpath("metrics.json").read_text())
    assert again["claims"] == data["claims"] and again["claims_superseded"] == data["claims_superseded"]
    new = _record(tmp_path / "new", [first], difference=[0.0, -0.1, 0.1], difference_per_seed=[0.0] * 6,
                  difference_seed_level=[0.01, -0.02, 0.01], seed_unit="data seed", detail="Gemma students",
                  panel={"log_odds_prefilled": {"seed_level": [1.1, 0.9, 1.0], "detail": "after the prefill"}})
    assert main([str(new)]) == 0
    claims = json.loads(new.joinpath("metrics.json").read_text())["claims"]
    assert [c["reproduced"] for c in claims] == ["yes", "no"]


def test_an_optimizer_record_is_decided_per_data_seed(tmp_path):
    """optimizer_ablation's own claims re-derived from a record with one pooled-gradient cosine per data seed:
    the raw v_teacher one stays a measurement, the matched one and the family contrast are decided."""
    from rederive import _analysis_claims

    def unit(raw: float, specific: float) -> dict:
        return {"pooled_difference": {"25": raw}, "pooled_difference_specific": {"25": specific},
                "fraction_along_trait": {"25": 0.04}, "fraction_along_control": {"25": 0.03},
                "top5_share_trait": {"25": 0.15}}

    units = [unit(0.1, 0.2), unit(0.12, 0.22), unit(0.09, 0.18)]
    summary = {"vector@25 adamw": {"trait_minus_control_seed_level": [0.5, 0.45, 0.6], "seed_unit": "data seed"},
               "vector@25 sgd": {"trait_minus_control_seed_level": [0.1, 0.0, 0.2], "seed_unit": "data seed"}}
    metrics = {"experiment": {"size": "full"}, "model": "m", "summary": summary,
               "gradient_alignment": {**units[0], "per_data_seed": units}}
    raw, matched, optimizer = _analysis_claims(tmp_path, metrics)
    assert raw["reproduced"].startswith("no verdict — raw v_teacher")
    assert matched["reproduced"] == "yes" and "trait-specific" in matched["claim"]
    assert optimizer["reproduced"] == "yes" and "mean of adamw − mean of sgd" in optimizer["measurement"]
