"""analyses/student_trait_matrix.py reading archived runs (``--from-records``): what it refuses."""

from __future__ import annotations

import argparse
import json

import pytest
from student_trait_matrix import archived_run

from steervec.experiment.config import Experiment, StudentSpec


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="student_trait_matrix.py")


LORA = (StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0),)


def _archive(folder, students=LORA, shifts=True):
    folder.mkdir(parents=True)
    exp = Experiment(name=folder.name, animal="cat", students=students, data_seeds=(1, 2))
    (folder / "config.json").write_text(json.dumps(exp.to_dict()))
    for name in ("metrics.json", "v_specific.safetensors", "v_teacher.safetensors"):
        (folder / name).write_text("{}")
    if shifts:
        (folder / "shifts").mkdir()
        (folder / "shifts" / "LoRA_r8-cat-prompted-d1-s0.safetensors").write_text("")
    return exp


def test_an_archived_run_gives_back_its_experiment(tmp_path):
    exp = _archive(tmp_path / "subliminal_transfer-cat")
    assert archived_run(tmp_path / "subliminal_transfer-cat", "LoRA r8", _parser()) == exp


@pytest.mark.parametrize("case, message", [
    ("missing", "missing config.json, metrics.json, v_specific.safetensors, v_teacher.safetensors"),
    ("no shifts", "missing shifts/"),
    ("other student", "trained no 'LoRA r8' students (it has vector@3)"),
])
def test_an_incomplete_archive_is_one_line_that_names_the_fix(tmp_path, capsys, case, message):
    folder = tmp_path / "subliminal_transfer-cat"
    if case == "missing":
        folder.mkdir()
    elif case == "no shifts":
        _archive(folder, shifts=False)
    else:
        _archive(folder, students=(StudentSpec("vector@3", "vector", (3,)),))
    with pytest.raises(SystemExit) as exc:
        archived_run(folder, "LoRA r8", _parser())
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "--from-records" in err[-1] and "Traceback" not in "".join(err)


def test_the_default_control_matrix_reads_archives_only(capsys):
    from student_trait_matrix import main
    with pytest.raises(SystemExit) as exc:
        main(["--out", "nowhere", "--baseline", "template_default", "--animals", "owl", "cat"])
    assert exc.value.code == 2 and "add --from-records DIR" in capsys.readouterr().err.strip().splitlines()[-1]
