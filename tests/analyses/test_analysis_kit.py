"""The analysis scripts' shared command line: ``--reuse-data`` names the archive teacher data is adopted from."""

from __future__ import annotations

import os

import pytest
from analysis_kit import analysis_parser

from steervec.experiment.cache import REUSE_ENV


def test_reuse_data_sets_the_archive_for_every_teacher_data_step(tmp_path, monkeypatch):
    monkeypatch.delenv(REUSE_ENV, raising=False)
    args = analysis_parser("x").parse_args(["--reuse-data", str(tmp_path)])
    assert args.reuse_data == str(tmp_path)
    assert os.environ[REUSE_ENV] == str(tmp_path)


def test_reuse_data_of_a_missing_folder_is_one_line_naming_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(REUSE_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_:
        analysis_parser("x").parse_args(["--reuse-data", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no folder" in err and "records/full" in err
    assert REUSE_ENV not in os.environ
