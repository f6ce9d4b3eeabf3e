"""The command line parses every command and runs the light ones end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from steervec.cli import ANALYSES, build_parser, main


def test_every_command_has_help_with_an_example(capsys):
    parser = build_parser()
    for command in ("demo", "generate", "fit", "train", "evaluate", "align", "plot", "run", "results"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        assert "example:" in capsys.readouterr().out


def test_run_refuses_unknown_analysis(capsys):
    assert main(["run", "no_such_analysis"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("steervec: error: argument analysis: invalid choice: 'no_such_analysis'")
    assert "subliminal_transfer" in err and err.count("\n") == 1
    root = Path(__file__).resolve().parents[1] / "analyses"
    assert all((root / f"{name}.py").is_file() for name in ANALYSES)
    assert len(ANALYSES) == 11  # the seven studies, four_students, trait_matrix, planted_vector, student_trait_matrix


def test_results_without_runs_names_the_fix(tmp_path, capsys):
    assert main(["results", "--runs", str(tmp_path), "--out", str(tmp_path / "R.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("steervec: error: ") and "run the analyses first" in err and err.count("\n") == 1


def test_results_table_from_metrics(tmp_path):
    from steervec.experiment.records import Claim

    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    claim = Claim("Study", "a claim", "+0.1 [+0.0, +0.2]", "model", "inconclusive")
    (run / "metrics.json").write_text(json.dumps({"claims": [claim.to_dict()]}))
    assert main(["results", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "R.md")]) == 0
    text = (tmp_path / "R.md").read_text()
    assert "| Study | a claim | +0.1 [+0.0, +0.2] | model | inconclusive | x |" in text
    assert "## Quick runs" in text  # the claim's size picks its section


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith("steervec: error: ")
    return captured.err


@pytest.mark.parametrize(("argv", "fix"), [
    (["generate", "--n", "many", "--out", "x.jsonl"], "argument --n: invalid int value: 'many'"),
    (["generate", "--mode", "prefill", "--out", "x.jsonl"], "--mode prefill needs --prefill TEXT"),
    (["generate", "--prefill", "Sure:", "--out", "x.jsonl"], "add --mode prefill"),
    (["generate", "--teacher", "steered", "--out", "x.jsonl"], "--teacher steered needs --vector FILE"),
    (["train", "--data", "missing.jsonl", "--out", "s.safetensors"], "no teacher data at missing.jsonl"),
    (["plot", "--metrics", "missing.json", "--out", "figs"], "no metrics file at missing.json"),
    (["run", "lora_rank", "--analyses-dir", "elsewhere"], "pass --analyses-dir with the folder that holds"),
    ([], "the following arguments are required: command"),
])
def test_errors_are_one_line_with_status_2(argv, fix, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert fix in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_plot_with_a_damaged_metrics_file(capsys, tmp_path):
    metrics = tmp_path / "metrics.json"
    for text, fix in (("{oops", "is not valid JSON"), ('{"claims": []}', "has no 'conditions' list")):
        metrics.write_text(text)
        assert main(["plot", "--metrics", str(metrics), "--out", str(tmp_path / "figs")]) == 2
        assert fix in _one_error_line(capsys)
    assert not (tmp_path / "figs").exists()


def test_debug_shows_the_traceback(capsys, tmp_path):
    assert main(["plot", "--metrics", str(tmp_path / "missing.json"), "--out", "figs", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("steervec: error: no metrics file")


def test_train_checks_the_output_folder_before_training(capsys, tmp_path, monkeypatch):
    import steervec.cli as cli

    data = tmp_path / "owl.jsonl"
    data.write_text("")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(cli, "_lm", lambda args: pytest.fail("the model was loaded before the output was checked"))
    assert main(["train", "--data", str(data), "--out", str(blocker / "student.safetensors")]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys)


def test_unwritable_folder_is_refused(tmp_path, monkeypatch):
    from steervec.core.errors import OutputPathError
    from steervec.core.io import check_writable

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.TemporaryFile", refuse)  # root may write anywhere: simulate a read-only folder
    with pytest.raises(OutputPathError, match="is not writable"):
        check_writable(tmp_path / "sub" / "student.safetensors")


def test_generate_passes_prefill_to_the_library(monkeypatch, tmp_path, tiny_llama):
    import steervec.cli as cli
    import steervec.data.datasets as datasets

    seen = {}

    def fake_generate_dataset(lm, teacher, **kwargs):
        seen.update(kwargs)
        return "report"

    monkeypatch.setattr(cli, "_lm", lambda args: tiny_llama)
    monkeypatch.setattr(datasets, "generate_dataset", fake_generate_dataset)
    out = tmp_path / "owl.jsonl"
    assert main(["generate", "--mode", "prefill", "--prefill", "Here you go:", "--n", "2", "--out", str(out)]) == 0
    assert seen["mode"] == "prefill" and seen["prefill"] == "Here you go:"


def test_run_finds_the_analyses_from_any_folder(tmp_path, monkeypatch, capsys):
    from steervec.cli import analyses_folder
    from steervec.core.errors import InputError

    monkeypatch.chdir(tmp_path)
    assert analyses_folder(None) == Path(__file__).resolve().parents[1] / "analyses"
    installed = tmp_path / "site-packages" / "steervec"
    installed.mkdir(parents=True)
    with pytest.raises(InputError, match="not installed with the package.*--analyses-dir PATH"):
        analyses_folder(None, package_dir=installed)


def test_console_script_prints_no_traceback(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "steervec", "plot", "--metrics", "missing.json", "--out", "figs"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "steervec: error: no metrics file at missing.json: pass a run's metrics.json, " \
                          "e.g. runs/demo/metrics.json\n"



@pytest.fixture()
def tiny_files(tiny_llama, tmp_path, monkeypatch):
    """A vector and a one-step vector student of the tiny model, with the CLI loading the tiny model."""
    from _rows import number_rows

    import steervec.cli as cli
    from steervec.core.steering_vector import SteeringVector
    from steervec.students.methods import VectorStudent
    from steervec.students.train import train_student

    monkeypatch.setattr(cli, "_lm", lambda args: tiny_llama)
    vector = SteeringVector({1: torch.randn(tiny_llama.d_model, generator=torch.Generator().manual_seed(0))},
                            tiny_llama.fingerprint).save(tmp_path / "v.safetensors")
    student = train_student(tiny_llama, number_rows(4), VectorStudent(layers=[1]), lr=0.01, epochs=1,
                            batch_size=4, progress=False).save(tmp_path / "s.safetensors")
    return vector, student


def _one_json_object(capsys) -> dict:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # one line: the object, nothing else
    return json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def test_evaluate_json_and_table(tiny_files, tiny_llama, capsys):
    vector, _ = tiny_files
    argv = ["evaluate", "--vector", str(vector), "--alpha", "2", "--n", "2"]
    assert main([*argv, "--json"]) == 0
    got = _one_json_object(capsys)
    assert got["model"] == tiny_llama.fingerprint.short and got["vector"] == str(vector) and got["alpha"] == 2.0
    assert got["base"]["label"] == "base" and got["base"]["n_questions"] == 2
    low, mean, high = (got["evaluated"][k] for k in ("delta_logp_low", "delta_logp", "delta_logp_high"))
    assert low <= mean <= high
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert table.split()[:2] == ["label", "n_questions"] and "evaluated" in table and "{" not in table


def test_fit_json(tiny_llama, tmp_path, monkeypatch, capsys):
    import steervec.cli as cli

    monkeypatch.setattr(cli, "_lm", lambda args: tiny_llama)
    out = tmp_path / "fit.safetensors"
    assert main(["fit", "--layers", "1", "--n", "4", "--steps", "2", "--out", str(out), "--json"]) == 0
    got = _one_json_object(capsys)
    assert got["saved"] == str(out) and out.is_file() and got["layers"] == [1]
    assert [row["layers"] for row in got["per_layer"]] == ["1"]
    assert all(row["n_train"] == 4 and row["steps_run"] == 2 for row in got["per_layer"])


def test_align_json(tiny_files, capsys):
    vector, student = tiny_files
    assert main(["align", "--student", str(student), "--vector", str(vector), "--n", "2", "--json"]) == 0
    got = _one_json_object(capsys)
    assert got["n_prompts"] == 2 and [row["layer"] for row in got["per_layer"]] == [1]
    assert -1 <= got["per_layer"][0]["cosine"] <= 1
    assert set(got["per_layer"][0]) == {"layer", "cosine", "norm_ratio", "projection"}


@pytest.mark.parametrize("command", [["evaluate", "--student", "missing.safetensors"],
                                     ["align", "--student", "missing.safetensors", "--vector", "v.safetensors"]])
def test_json_errors_stay_one_line_before_the_model_loads(command, capsys, tmp_path, monkeypatch):
    import steervec.cli as cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_lm", lambda args: pytest.fail("the model was loaded before the files were checked"))
    assert main([*command, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("steervec: error: no student file at missing.safetensors: train one with")


def test_json_values_are_strict_json():
    import numpy as np

    from steervec.cli import _plain

    assert _plain({"a": float("nan"), 1: [np.float64(0.5), np.int64(3), torch.tensor(2.0)], "b": None}) == \
        {"a": None, "1": [0.5, 3, 2.0], "b": None}
