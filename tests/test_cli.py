"""The command line parses every command and runs the light ones end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from steervec.cli import ANALYSES, build_parser, main


def test_every_command_has_help_with_an_example(capsys):
    parser = build_parser()
    for command in ("demo", "generate", "fit", "train", "evaluate", "align", "plot", "run", "results"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        assert "example:" in capsys.readouterr().out


def test_run_refuses_unknown_analysis():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "no_such_analysis"])
    root = Path(__file__).resolve().parents[1] / "analyses"
    assert all((root / f"{name}.py").is_file() for name in ANALYSES)
    assert len(ANALYSES) == 9  # the seven studies, four_students and planted_vector (ground truth)


def test_results_without_runs_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the analyses first"):
        main(["results", "--runs", str(tmp_path), "--out", str(tmp_path / "R.md")])


def test_results_table_from_metrics(tmp_path):
    import json

    from steervec.experiment.records import Claim

    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    claim = Claim("Study", "a claim", "+0.1 [+0.0, +0.2]", "model", "inconclusive")
    (run / "metrics.json").write_text(json.dumps({"claims": [claim.to_dict()]}))
    assert main(["results", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "R.md")]) == 0
    text = (tmp_path / "R.md").read_text()
    assert "| Study | a claim | +0.1 [+0.0, +0.2] | model | inconclusive | x |" in text
    assert "## Quick runs" in text  # the claim's size picks its section
