"""analyses/length_confound.py on constructed records: the points it reads and the line it fits."""

from __future__ import annotations

import json

import pytest
from length_confound import NOT_A_SEED_TEST, collect, dataset_pairs, main


def _record(root, name, lengths, effects, unit="data seed", size="full"):
    """A run record with one (trait, control) dataset pair per data seed and seed-level effects."""
    data = {}
    for seed, (trait, control) in enumerate(lengths, start=1):
        tag = "" if seed == 1 else f"-d{seed}"
        data[f"owl-prompted{tag}"] = {"data_seed": seed, "mean_numbers_per_row": trait}
        data[f"control{tag}"] = {"data_seed": seed, "mean_numbers_per_row": control}
    row = {"seed_unit": unit, "trait_minus_control_seed_level": effects}
    folder = root / name
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"experiment": {"size": size}, "model": "m", "data": data,
                                                     "summary": {"LoRA r8": row}, "claims": []}))
    return folder


def test_a_planted_slope_is_recovered_with_its_interval(tmp_path):
    a = _record(tmp_path, "a", [(6.0, 5.0), (7.0, 5.0), (8.0, 5.0)], [0.5, 1.0, 1.5])  # 0.5 nats per number
    b = _record(tmp_path, "b", [(5.5, 5.0), (6.5, 5.0), (9.0, 5.0)], [0.25, 0.75, 2.0])
    assert main([str(a), str(b), "--out", str(tmp_path / "out"), "--no-png"]) == 0
    metrics = json.loads((tmp_path / "out" / "length_confound" / "metrics.json").read_text())
    fit = metrics["regressions"]["trait_minus_control_seed_level"]
    assert fit["n"] == 6 and fit["slope"] == pytest.approx(0.5) and fit["intercept"] == pytest.approx(0.0, abs=1e-9)
    claim = metrics["claims"][0]
    assert claim["reproduced"] == NOT_A_SEED_TEST and claim["size"] == "full" and "+0.500" in claim["measurement"]


def test_runs_without_varied_teacher_data_are_left_out(tmp_path):
    varied = _record(tmp_path, "varied", [(6.0, 5.0), (7.0, 5.0)], [0.1, 0.2])
    one = _record(tmp_path, "one", [(9.0, 5.0)], [3.0])  # one teacher dataset: no point
    training = _record(tmp_path, "training", [(6.0, 5.0), (8.0, 5.0)], [1.0, 2.0], unit="training seed")
    points = collect([varied, one, training])["LoRA r8"]["trait_minus_control_seed_level"]
    assert [(r, s) for r, s, _, _ in points] == [("varied", 1), ("varied", 2)]


def test_too_few_datasets_is_a_one_line_error(tmp_path, capsys):
    one = _record(tmp_path, "few", [(6.0, 5.0), (7.0, 5.0)], [0.1, 0.2])
    with pytest.raises(SystemExit) as stop:
        main([str(one), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2 and "fewer than 3 teacher datasets" in capsys.readouterr().err
    assert not (tmp_path / "out" / "length_confound").exists()  # nothing half-written


def test_a_seed_with_two_trait_datasets_is_not_paired():
    metrics = {"data": {"owl": {"data_seed": 1, "mean_numbers_per_row": 6.0},
                        "owl-lenmatched": {"data_seed": 1, "mean_numbers_per_row": 5.0},
                        "control": {"data_seed": 1, "mean_numbers_per_row": 5.0}}}
    assert dataset_pairs(metrics) is None
