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
