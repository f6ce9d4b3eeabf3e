"""Tests of teacher datasets: rows, provenance, resume after SIGKILL, torn writes, refusals."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from steervec.core.errors import CorruptFileError, ModelMismatchError, SteervecError
from steervec.data.datasets import (
    dedup,
    generate_dataset,
    heldout_split,
    load_dataset,
    recount_lengths,
)
from steervec.data.numbers import NumberPromptConfig, number_prompts
from steervec.data.rows import TeacherRow
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import animal_teacher, control_teacher

PROMPTS = [f"Go on: {i}, {i + 1}" for i in range(24)]
CONFIG = NumberPromptConfig(max_new=4, max_digits=2)
TESTS = Path(__file__).parents[1]  # tests/, where conftest.py and _rows.py live


pytestmark = pytest.mark.usefixtures("one_thread")


def run_small(lm, path, pause=0.0, **overrides):
    """The run every resume test repeats with the same arguments."""
    kwargs = dict(
        path=path, mode="constrained", seed=3, prompt_config=CONFIG, chunk_size=4, progress=False,
        params=SamplingParams(temperature=1.0, max_new_tokens=10, batch_size=2),
        on_chunk=(lambda k: time.sleep(pause)) if pause else None,
    )
    kwargs.update(overrides)
    return generate_dataset(lm, animal_teacher("owl"), PROMPTS, **kwargs)


@pytest.fixture(scope="module")
def reference(tiny_llama, tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "owl.jsonl"
    report = run_small(tiny_llama, path)
    return path, report


def test_rows_are_valid_with_provenance(tiny_llama, reference):
    path, report = reference
    assert (report.total, report.valid, report.written) == (24, 24, 24)
    assert 0 < report.mean_allowed_mass < 1
    rows = load_dataset(path, model=tiny_llama)
    assert [r.index for r in rows] == list(range(24))
    assert [r.prompt for r in rows] == PROMPTS
    row = rows[0]
    assert row.teacher["name"] == "owl" and row.teacher["system"]["kind"] == "prompt"
    assert row.sampling["mode"] == "constrained" and row.sampling["temperature"] == 1.0
    assert row.model == asdict(tiny_llama.fingerprint) and row.seed == 3 and row.version
    assert row.extra["valid"] and 0 < row.extra["allowed_mass"] <= 1
    manifest = json.loads(Path(str(path) + ".manifest.json").read_text())
    assert manifest["n_prompts"] == 24 and manifest["chunk_size"] == 4


def test_resume_after_sigkill_equals_uninterrupted(tiny_llama, reference, tmp_path):
    path = tmp_path / "owl.jsonl"
    child = (
        "import sys, torch; torch.set_num_threads(1); "
        f"sys.path[:0] = [{str(TESTS)!r}, {str(Path(__file__).parent)!r}]; "
        "from conftest import make_tiny, INJECTING_TEMPLATE; import test_datasets as T; "
        f"T.run_small(make_tiny('llama', INJECTING_TEMPLATE), {str(path)!r}, pause=0.15)"
    )
    proc = subprocess.Popen([sys.executable, "-c", child], env={**os.environ, "OMP_NUM_THREADS": "1"})
    progress = Path(str(path) + ".progress.json")
    deadline = time.time() + 60
    while time.time() < deadline:
        if progress.exists() and len(json.loads(progress.read_text() or "{}").get("chunks", {})) >= 2:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = load_dataset(path)
    assert 0 < len(partial) < 24  # killed mid-run
    report = run_small(tiny_llama, path)
    assert report.resumed_from > 0 and report.total == 24
    assert path.read_bytes() == reference[0].read_bytes()


def test_torn_write_is_cut_and_regenerated(tiny_llama, reference, tmp_path):
    ref_bytes = reference[0].read_bytes()
    path = tmp_path / "owl.jsonl"
    for name in (".manifest.json", ".progress.json"):
        Path(str(path) + name).write_bytes(Path(str(reference[0]) + name).read_bytes())
    path.write_bytes(ref_bytes[: len(ref_bytes) * 2 // 3])  # ends in the middle of a line
    with pytest.raises(CorruptFileError, match="partial line"):
        load_dataset(path)
    report = run_small(tiny_llama, path)
    assert 0 < report.resumed_from < 24
    assert path.read_bytes() == ref_bytes


def test_failed_write_leaves_no_partial_chunk(tiny_llama, reference, tmp_path, monkeypatch):
    path = tmp_path / "owl.jsonl"
    real_write, calls = os.write, []

    def disk_full(fd, data):
        calls.append(1)
        if len(calls) == 3:  # third chunk: half of it lands, then the disk is full
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(SteervecError, match="resume"):
        run_small(tiny_llama, path)
    monkeypatch.setattr(os, "write", real_write)
    assert len(load_dataset(path)) == 8  # two whole chunks, nothing of the third
    run_small(tiny_llama, path)
    assert path.read_bytes() == reference[0].read_bytes()


def test_resume_refuses_other_model_version_or_arguments(tiny_llama, tiny_qwen, reference, tmp_path):
    path = tmp_path / "owl.jsonl"
    for name in ("", ".manifest.json", ".progress.json"):
        Path(str(path) + name).write_bytes(Path(str(reference[0]) + name).read_bytes())
    with pytest.raises(ModelMismatchError, match="another model"):
        run_small(tiny_qwen, path)
    with pytest.raises(SteervecError, match="seed"):
        run_small(tiny_llama, path, seed=4)
    manifest = Path(str(path) + ".manifest.json")
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "version": "0.0.1"}))
    with pytest.raises(SteervecError, match="0.0.1"):
        run_small(tiny_llama, path)
    with pytest.raises(ModelMismatchError):
        load_dataset(path, model=tiny_qwen)
    stray = tmp_path / "stray.jsonl"
    stray.write_text('{"prompt": "a", "completion": "1"}\n')
    with pytest.raises(SteervecError, match="no manifest"):
        run_small(tiny_llama, stray)


def test_free_mode_counts_every_rejection(tiny_llama, tmp_path):
    path = tmp_path / "free.jsonl"
    report = run_small(tiny_llama, path, mode="free", keep_invalid=True)
    assert report.total == 24
    assert report.valid + sum(report.reasons.values()) == 24
    assert report.valid < 24  # a random model rarely writes a clean list
    all_rows = load_dataset(path, valid_only=False)
    assert len(all_rows) == 24
    assert len(load_dataset(path)) == report.valid
    assert {r.extra["reason"] for r in all_rows if not r.extra["valid"]} <= set(report.reasons)
    dropped = run_small(tiny_llama, tmp_path / "dropped.jsonl", mode="free")
    assert dropped.written == dropped.valid == report.valid


def test_prefill_mode_and_number_prompts(tiny_llama, tmp_path):
    report = run_small(tiny_llama, tmp_path / "pre.jsonl", mode="prefill", prefill="1, 2")
    rows = load_dataset(tmp_path / "pre.jsonl", valid_only=False)
    assert report.total == 24 and all(r.completion.startswith("1, 2") for r in rows)
    made = generate_dataset(
        tiny_llama, control_teacher(None), n=3, path=tmp_path / "num.jsonl", prompt_config=CONFIG,
        params=SamplingParams(max_new_tokens=6), progress=False,
    )
    assert made.valid == 3
    expected = [p.text for p in number_prompts(3, 0, CONFIG)]
    assert [r.prompt for r in load_dataset(tmp_path / "num.jsonl")] == expected


def test_bad_input_is_explained(tiny_llama, tmp_path):
    path = tmp_path / "x.jsonl"
    teacher = control_teacher(None)
    with pytest.raises(ValueError, match="empty"):
        generate_dataset(tiny_llama, teacher, [], path=path)
    with pytest.raises(ValueError, match="prompt 1"):
        generate_dataset(tiny_llama, teacher, ["ok", "  "], path=path)
    with pytest.raises(TypeError, match="single string"):
        generate_dataset(tiny_llama, teacher, "just one", path=path)
    with pytest.raises(ValueError, match="prompts=.*or n="):
        generate_dataset(tiny_llama, teacher, path=path)
    with pytest.raises(ValueError, match="can only make"):
        generate_dataset(tiny_llama, teacher, n=10**9, path=path,
                         prompt_config=NumberPromptConfig(n_seed_numbers=(1, 1), seed_range=(1, 2)))
    with pytest.raises(ValueError, match="prefill="):
        generate_dataset(tiny_llama, teacher, ["a"], path=path, mode="prefill")
    assert not path.exists()


def test_dedup_and_heldout_split(reference):
    rows = load_dataset(reference[0])
    doubled = rows + rows[:5]
    assert len(dedup(doubled)) == len(rows)
    assert len(dedup(rows, by=("completion",))) <= len(rows)
    train, held = heldout_split(rows, 0.25, seed=1)
    assert len(held) == 6 and len(train) == 18
    assert not {r.prompt for r in train} & {r.prompt for r in held}
    assert heldout_split(rows, 0.25, seed=1)[1] == held


def test_recount_lengths_reads_valid_rows(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [TeacherRow("p", "1, 2, 3"), TeacherRow("p", "4 5"), TeacherRow("p", "(6; 7; 8; 9)."),
            TeacherRow("p", "10, eleven", extra={"valid": False})]
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    assert recount_lengths(path) == [3, 2, 4]  # the invalid row is left out, as load_dataset does
    with pytest.raises(FileNotFoundError, match="no dataset"):
        recount_lengths(tmp_path / "missing.jsonl")
