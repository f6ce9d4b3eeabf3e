"""analyses/contrasts.py: the record-level contrasts, from constructed run records (nothing trained)."""

from __future__ import annotations

import json

import pytest
from contrasts import control_choice, main, necessity_contrast

from steervec.experiment.config import Experiment, StudentSpec

LORA = (StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0),)


def _run(folder, teacher, delta, cosine, baseline="template_default", data_seeds=(1, 2, 3), files=None,
         animal="owl"):
    exp = Experiment(name=folder.name, teacher=teacher, baseline=baseline, students=LORA, animal=animal,
                     data_seeds=data_seeds, seeds=(0, 1), size="full")
    folder.mkdir(parents=True)
    row = {"trait_minus_control_seed_level": delta, "controlled_cosine_specific_seed_level": cosine}
    files = files or {d: f"{animal}-prompted-{d}.jsonl" for d in data_seeds}
    data = {f"{animal}-prompted-d{d}": {"data_seed": d, "path": f"runs/_datasets/{files[d]}"} for d in data_seeds}
    (folder / "metrics.json").write_text(json.dumps({"experiment": exp.to_dict(), "model": "m",
                                                     "summary": {"LoRA r8": row}, "data": data}))


def test_the_contrast_pairs_the_intact_run_with_each_projected_run_and_reads_archives(tmp_path, capsys):
    out, archive = tmp_path / "runs", tmp_path / "records"
    assert necessity_contrast(out) is None  # no intact run
    _run(out / "prompt_as_vector-prompted", "prompted", [0.8, 0.7, 0.9], [0.04, 0.05, 0.03])
    assert necessity_contrast(out) is None  # no projected run
    _run(out / "prompt_as_vector-projected_specific", "projected_specific", [0.1, -0.2, 0.0], [0.01, 0.02, 0.0])
    _run(archive / "prompt_as_vector-projected", "projected", [0.7, 0.8, 0.9], [0.05, 0.04, 0.03])
    folder = necessity_contrast(out, archive)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["projected"]) == {"projected", "projected_specific"}
    verdicts = {c["claim"]: c["reproduced"] for c in metrics["claims"]}
    assert len(verdicts) == 4
    assert [v for c, v in verdicts.items() if "matched owl vector out" in c] == ["yes", "yes"]
    assert all(v.startswith("inconclusive") for c, v in verdicts.items() if "v_teacher out" in c)  # ±0.1 around 0
    # a projected run on other training seeds is not paired
    odd = Experiment(name="x", teacher="projected_specific", baseline="template_default", students=LORA,
                     data_seeds=(1, 2), seeds=(0,), size="full")
    (out / "prompt_as_vector-projected_specific" / "metrics.json").write_text(json.dumps(
        {"experiment": odd.to_dict(), "model": "m",
         "summary": {"LoRA r8": {"trait_minus_control_seed_level": [0.1, 0.0]}}}))
    metrics = json.loads((necessity_contrast(out, archive) / "metrics.json").read_text())
    assert set(metrics["projected"]) == {"projected"}
    assert "differs from the intact run in ['seeds']" in capsys.readouterr().out


def test_the_choice_of_control_pairs_the_same_trait_data_only(tmp_path, capsys):
    out, archive = tmp_path / "runs", tmp_path / "records"
    _run(out / "prompt_as_vector-prompted", "prompted", [0.0, -0.3, -0.2], [0.02, 0.03, 0.0])
    assert control_choice(out, "prompt_as_vector-prompted", archive) is None  # no owl run anywhere
    # the owl run (no system turn in its control) has 5 data seeds; data seed 3 came from other trait data
    _run(archive / "subliminal_transfer-owl", "prompted", [0.9, 0.8, 0.6, 1.0, 1.1], [0.1] * 5, baseline="none",
         data_seeds=(1, 2, 3, 4, 5), files={1: "owl-prompted-1.jsonl", 2: "owl-prompted-2.jsonl",
                                            3: "other.jsonl", 4: "a.jsonl", 5: "b.jsonl"})
    metrics = json.loads((control_choice(out, "prompt_as_vector-prompted", archive) / "metrics.json").read_text())
    assert metrics["data_seeds"] == [1, 2] and metrics["no_system_control"].endswith("subliminal_transfer-owl")
    (claim,) = metrics["claims"]
    assert "+0.850" in claim["measurement"] and "data seeds 1, 2)" in claim["measurement"]


def test_the_contrast_reads_the_data_seeds_both_runs_have(tmp_path):
    out = tmp_path / "runs"
    _run(out / "prompt_as_vector-prompted", "prompted", [0.8, 0.7, 0.9, 0.6, 0.9], [0.04, 0.05, 0.03, 0.04, 0.05],
         data_seeds=(1, 2, 3, 4, 5))
    _run(out / "prompt_as_vector-projected_specific", "projected_specific", [0.1, -0.2, 0.0], [0.01, 0.02, 0.0])
    metrics = json.loads((necessity_contrast(out) / "metrics.json").read_text())
    assert metrics["data_seeds"] == {"projected_specific": [1, 2, 3]}
    assert all("t over 3 seeds" in c["measurement"] for c in metrics["claims"])


def test_the_choice_of_control_of_another_animal_is_its_own_record_in_its_own_words(tmp_path, capsys):
    out = tmp_path / "runs"
    _run(out / "subliminal_transfer-cat", "prompted", [0.3, 0.8, -0.1], [0.1] * 3, baseline="none", animal="cat")
    assert main(["--out", str(out)]) == 0  # no default-control run yet: nothing written, said so
    assert "no contrast" in capsys.readouterr().out and not (out / "subliminal_transfer-cat-control_choice").exists()
    _run(out / "subliminal_transfer-cat-default_control", "prompted", [-0.5, 0.1, -0.9], [0.0] * 3, animal="cat")
    assert main(["--out", str(out), "--animals", "cat"]) == 0
    metrics = json.loads((out / "subliminal_transfer-cat-control_choice" / "metrics.json").read_text())
    (claim,) = metrics["claims"]
    assert "log P(cat) at the answer" in claim["claim"] and "the same cat-data students" in claim["measurement"]
    assert claim["reproduced"] == "yes" and "seed-level +0.767" in claim["measurement"]  # +0.8, +0.7, +0.8
    assert metrics["no_system_control"].endswith("subliminal_transfer-cat") and metrics["data_seeds"] == [1, 2, 3]


def test_the_contrasts_command_refuses_a_missing_folder_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "nowhere")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is not a folder" in err and "runs/full" in err
