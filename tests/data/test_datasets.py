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

from steervec.core.errors import (
    CorruptFileError,
    InputError,
    ModelMismatchError,
    SteervecError,
)
from steervec.core.hooks import add_operator
from steervec.data.constrained import NumberListConstraint
from steervec.data.datasets import (
    dedup,
    generate_dataset,
    heldout_split,
    load_dataset,
)
from steervec.data.number_filter import FilterConfig
from steervec.data.numbers import NumberPromptConfig, number_prompts
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import animal_teacher, control_teacher, steered_teacher

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


# ------------------------------------------------------------------ hardening: one writer, one reader


def wait_for(go: str, timeout: float = 120.0) -> None:
    """Block (in a child process) until the file ``go`` exists."""
    deadline = time.time() + timeout
    while not Path(go).exists() and time.time() < deadline:
        time.sleep(0.02)


def _child(path: Path, out: Path, hold: Path | None = None) -> subprocess.Popen:
    """A real process running :func:`run_small` on ``path`` (after its first chunk it waits for
    the file ``hold``, if given); writes 'ok' or the refusal to ``out``."""
    on_chunk = f"lambda k: T.wait_for({str(hold)!r})" if hold else "None"
    code = (
        "import sys, torch; torch.set_num_threads(1); "
        f"sys.path[:0] = [{str(TESTS)!r}, {str(Path(__file__).parent)!r}]; "
        "from pathlib import Path; from conftest import make_tiny, INJECTING_TEMPLATE; import test_datasets as T; "
        "from steervec.core.errors import WriterBusyError\n"
        "try:\n"
        f"    T.run_small(make_tiny('llama', INJECTING_TEMPLATE), {str(path)!r}, on_chunk={on_chunk})\n"
        f"    Path({str(out)!r}).write_text('ok')\n"
        "except WriterBusyError as exc:\n"
        f"    Path({str(out)!r}).write_text(str(exc)); sys.exit(3)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_second_writer_process_is_refused_and_the_file_ends_correct(reference, tmp_path):
    path, go = tmp_path / "owl.jsonl", tmp_path / "go"
    first = _child(path, tmp_path / "first.txt", hold=go)
    progress = Path(str(path) + ".progress.json")
    deadline = time.time() + 60
    while time.time() < deadline and not progress.exists():
        time.sleep(0.02)
    second = _child(path, tmp_path / "second.txt")
    try:
        assert second.wait(120) == 3
    finally:
        go.touch()
    refusal = (tmp_path / "second.txt").read_text()
    assert f"dataset {path} is being written by another process (pid {first.pid} on " in refusal
    assert "wait for that process to finish (or stop it), then run again" in refusal
    assert first.wait(120) == 0 and (tmp_path / "first.txt").read_text() == "ok"
    assert path.read_bytes() == reference[0].read_bytes()
    assert len(load_dataset(path)) == 24
    assert len(json.loads(progress.read_text())["chunks"]) == 6
    assert not Path(str(path) + ".lock").exists()


def _line(**row) -> str:
    return json.dumps({"prompt": "p", "completion": "1, 2", **row}) + "\n"


READER_CASES = [  # file content -> message (CorruptFileError naming file, line and the fix)
    (_line(index=0) + '{"prompt": "p", "compl', r"line 2\): the run was interrupted; resume it by calling "
     r"generate_dataset again with the same arguments"),
    ("\n", r"line 1 is not a TeacherRow \(Expecting value.*regenerate the dataset at a new path"),
    ("[1, 2]\n", r"line 1 is not a TeacherRow \(a dataset row must be a JSON object, got list\).*regenerate"),
    ('{"prompt": "p"}\n', r"line 1 is not a TeacherRow \(a dataset row needs \['completion'\].*regenerate"),
    (_line(prompt=7), r"line 1 .*field 'prompt' must be str, got int 7.*regenerate"),
    (_line(extra=[]), r"line 1 .*field 'extra' must be dict, got list.*regenerate"),
    (_line(index="3"), r"line 1 .*field 'index' must be int, got str '3'.*regenerate"),
    (_line(index=True), r"line 1 .*field 'index' must be int, got bool True.*regenerate"),
    (_line(seed=1.5), r"line 1 .*field 'seed' must be int or null, got float 1.5.*regenerate"),
    (_line(extra={"valid": "no"}), r"line 1 .*extra\['valid'\] must be true or false, got 'no'.*regenerate"),
    (b'{"prompt": "\xff", "completion": "1"}\n', r"line 1 is not UTF-8 text.*regenerate"),
    ("[" * 100_000 + "\n", r"line 1 is not a TeacherRow.*regenerate"),
    (_line(index=0) + _line(index=1) + _line(index=0), r"line 3 repeats row index 0 \(first on line 1\): two runs "
     r"wrote into one file; regenerate it at a new path"),
]


@pytest.mark.parametrize("content, message", READER_CASES)
def test_bad_rows_are_refused_by_the_one_reader(tmp_path, content, message):
    from steervec.students.train import load_rows

    path = tmp_path / "rows.jsonl"
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(data)
    for read in (load_dataset, load_rows):  # training reads through the same reader
        with pytest.raises(CorruptFileError, match=message) as caught:
            read(path)
        assert str(path) in str(caught.value)
    assert path.read_bytes() == data  # reading never repairs the file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_training_reader_drops_rows_marked_invalid(tmp_path):
    from steervec.students.train import load_rows

    path = tmp_path / "rows.jsonl"
    path.write_text(_line(index=0) + _line(index=1, completion="no", extra={"valid": False}) + _line(index=2))
    assert [r.index for r in load_rows(path)] == [r.index for r in load_dataset(path)] == [0, 2]


def test_doubled_dataset_is_refused(reference, tmp_path):
    path = tmp_path / "owl.jsonl"
    path.write_bytes(reference[0].read_bytes() * 2)
    with pytest.raises(CorruptFileError, match="line 25 repeats row index 0"):
        load_dataset(path)


# ------------------------------------------------------------------ hardening: bad arguments, failed runs


def _vector(lm):
    import torch

    from steervec.core.steering_vector import SteeringVector

    return SteeringVector({1: torch.ones(lm.d_model)}, lm.fingerprint)


def _cli(tmp_path, *extra):
    """``steervec generate``: the CLI prints its error as one line and returns 2; that line comes back
    here as the InputError it reports, so the CLI rows share the table's checks."""
    import contextlib
    import io

    from steervec.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["generate", "--n", "4", "--out", str(tmp_path / "x.jsonl"), *extra])
    if rc == 2 and err.getvalue().startswith("steervec: error: "):
        raise InputError(err.getvalue())
    return rc


NAN, INF = float("nan"), float("inf")
ARGUMENT_CASES = [  # (make the call, message naming the fix); all raise InputError
    (lambda lm, p: run_small(lm, p, params=SamplingParams(temperature=NAN)),
     r"temperature must be a finite number >= 0 \(0 = greedy\), got nan: pass e.g. 1.0"),
    (lambda lm, p: run_small(lm, p, params=SamplingParams(temperature=INF)), r"temperature .* got inf: pass"),
    (lambda lm, p: run_small(lm, p, params=SamplingParams(temperature=-1.0)), r"temperature .* got -1.0: pass"),
    (lambda lm, p: run_small(lm, p, params=SamplingParams(top_p=NAN)),
     r"top_p must be a finite number in \(0, 1\], got nan: pass 1.0 for off"),
    (lambda lm, p: run_small(lm, p, params=SamplingParams(top_p=0.0)), r"top_p .* got 0.0: pass 1.0"),
    (lambda lm, p: generate_dataset(lm, steered_teacher(_vector(lm), [1], NAN), PROMPTS, path=p),
     r"alpha must be a finite number, got nan: pass e.g. alpha=3.0"),
    (lambda lm, p: generate_dataset(lm, steered_teacher(_vector(lm), [1], -INF), PROMPTS, path=p),
     r"alpha must be a finite number, got -inf"),
    (lambda lm, p: _vector(lm).apply(lm, alpha=NAN).__enter__(), r"alpha must be a finite number, got nan"),
    (lambda lm, p: add_operator(_vector(lm)[1], alpha=INF), r"alpha must be a finite number, got inf"),
    (lambda lm, p: run_small(lm, p, filter_config=FilterConfig(rule="loose")),
     r"rule must be 'strict' or 'lenient', got 'loose'"),
    (lambda lm, p: NumberListConstraint(lm.tokenizer, separators=(" - ",)),
     r"',' or ';' or nothing once whitespace is removed"),
    (lambda lm, p: _cli(p.parent, "--alpha", "nan"), r"alpha must be a finite number, got nan"),
    (lambda lm, p: _cli(p.parent, "--temperature", "nan"), r"temperature must be a finite number"),
]


@pytest.mark.parametrize("call, message", ARGUMENT_CASES)
def test_bad_arguments_are_refused_before_anything_is_written(tiny_llama, tmp_path, call, message):
    path = tmp_path / "x.jsonl"
    with pytest.raises(InputError, match=message):
        call(tiny_llama, path)
    assert list(tmp_path.iterdir()) == []


def test_failed_first_chunk_leaves_nothing_and_does_not_block_the_fix(tiny_llama, reference, tmp_path, monkeypatch):
    import steervec.data.datasets as datasets

    path = tmp_path / "owl.jsonl"

    def broken(*args, **kwargs):
        raise RuntimeError("token 49151 is outside the constraint")

    monkeypatch.setattr(datasets, "sample", broken)
    with pytest.raises(RuntimeError, match="outside the constraint"):
        run_small(tiny_llama, path, seed=99)
    assert list(tmp_path.iterdir()) == []  # no manifest, no data, no progress, no lock
    monkeypatch.undo()
    run_small(tiny_llama, path)  # the corrected retry (other seed) is not refused
    assert path.read_bytes() == reference[0].read_bytes()


def test_manifest_of_a_run_that_wrote_nothing_binds_nothing(tiny_llama, reference, tmp_path):
    path = tmp_path / "owl.jsonl"
    manifest = Path(str(path) + ".manifest.json")
    stale = json.loads(Path(str(reference[0]) + ".manifest.json").read_text())
    manifest.write_text(json.dumps({**stale, "seed": 99}))  # left by an earlier tool version's failed run
    run_small(tiny_llama, path)
    assert path.read_bytes() == reference[0].read_bytes()
    assert json.loads(manifest.read_text())["seed"] == 3


def test_filter_rule_is_recorded_and_old_manifests_mean_lenient(tiny_llama, reference, tmp_path):
    path = tmp_path / "owl.jsonl"
    for name in ("", ".manifest.json", ".progress.json"):
        Path(str(path) + name).write_bytes(Path(str(reference[0]) + name).read_bytes())
    manifest = Path(str(path) + ".manifest.json")
    data = json.loads(manifest.read_text())
    assert data["filter"]["rule"] == "strict"
    del data["filter"]["rule"]  # as written before the rule was recorded
    manifest.write_text(json.dumps(data))
    assert run_small(tiny_llama, path).total == 24  # resumes with the rule it was made with
    with pytest.raises(SteervecError, match=r"filtered with the 'lenient' rule, not 'strict'; resume it with "
                                            r"filter_config=FilterConfig\(rule='lenient'\)"):
        run_small(tiny_llama, path, filter_config=FilterConfig(max_count=4, max_value=99))
    assert run_small(tiny_llama, path, filter_config=FilterConfig(max_count=4, max_value=99, rule="lenient")).total == 24
    assert path.read_bytes() == reference[0].read_bytes()


def test_html_repr_counts_rows_and_rejections(tiny_llama, reference, tmp_path):
    from _html import html_text

    path, report = reference
    title, rows = html_text(report._repr_html_())
    assert title == f"DatasetReport {path}"
    fields = dict(rows)
    assert fields["rows in file"] == "24" and fields["valid / processed"] == "24 / 24 (100.0%)"
    assert fields["rejected"] == "none" and fields["mean allowed mass"] == f"{report.mean_allowed_mass:.4g}"
    free = run_small(tiny_llama, tmp_path / "a<b>.jsonl", mode="free")
    title, rows = html_text(free._repr_html_())
    assert title.endswith("a<b>.jsonl")
    rejected = dict(rows)["rejected"]
    assert rejected == ", ".join(f"{k} {n}" for k, n in free.reasons.items() if n)
    assert "mean allowed mass" not in dict(rows)


def _no_sampling(*args, **kwargs):
    raise AssertionError("sampled, although an archived copy should have been adopted")


def test_an_archived_copy_is_adopted_instead_of_sampled(tiny_llama, reference, tmp_path, monkeypatch):
    """A record's copy of a finished dataset (rows only: no manifest, no progress) is taken as it is when
    every row is what the call would write: the same bytes, manifest and progress as the sampled file,
    nothing sampled, and a later call resumes it as complete."""
    import steervec.data.datasets as datasets

    ref_path, ref_report = reference
    archive = tmp_path / "records" / "run"
    archive.mkdir(parents=True)
    (archive / "data-owl.jsonl").write_bytes(ref_path.read_bytes())
    monkeypatch.setattr(datasets, "sample", _no_sampling)
    path = tmp_path / "cache" / "owl.jsonl"
    report = run_small(tiny_llama, path, adopt=[archive / "data-owl.jsonl"])
    assert report.adopted_from == archive / "data-owl.jsonl" and report.new_rows == 0
    assert (report.total, report.valid, report.written) == (ref_report.total, ref_report.valid, ref_report.written)
    assert path.read_bytes() == ref_path.read_bytes()
    ref_manifest = json.loads(Path(str(ref_path) + ".manifest.json").read_text())
    assert json.loads(Path(str(path) + ".manifest.json").read_text()) == ref_manifest
    progress = json.loads(Path(str(path) + ".progress.json").read_text())
    assert progress["chunks"] == json.loads(Path(str(ref_path) + ".progress.json").read_text())["chunks"]
    again = run_small(tiny_llama, path)  # an ordinary resume: complete, nothing to do
    assert again.new_rows == 0 and again.adopted_from is None and path.read_bytes() == ref_path.read_bytes()


def test_a_copy_that_differs_anywhere_is_not_adopted(tiny_llama, reference, tmp_path):
    """Another seed, a row with another prompt, a missing row, a row the filter rejects, junk: each copy is
    skipped and the rows are sampled (the same file as the reference). (A completion changed into another
    valid list cannot be told from a sampled one without sampling it: adoption trusts the copy's
    completions, which is why it is meant for the tracked records.)"""
    ref_path, _ = reference
    lines = ref_path.read_bytes().splitlines(keepends=True)
    other_seed = tmp_path / "other_seed.jsonl"
    run_small(tiny_llama, other_seed, seed=4)
    edited = json.loads(lines[5])
    edited["prompt"] = PROMPTS[6]
    tampered = tmp_path / "data-tampered.jsonl"
    tampered.write_bytes(b"".join(lines[:5]) + (json.dumps(edited, sort_keys=True) + "\n").encode() + b"".join(lines[6:]))
    cut = tmp_path / "data-cut.jsonl"
    cut.write_bytes(b"".join(lines[:-1]))
    invalid = json.loads(lines[2])
    invalid["completion"] = "not a number list"
    rejected = tmp_path / "data-rejected.jsonl"
    rejected.write_bytes(b"".join(lines[:2]) + (json.dumps(invalid, sort_keys=True) + "\n").encode() + b"".join(lines[3:]))
    junk = tmp_path / "data-junk.jsonl"
    junk.write_bytes(b"{not json\n" * 24)
    path = tmp_path / "cache" / "owl.jsonl"
    report = run_small(tiny_llama, path, adopt=[other_seed, tampered, cut, rejected, junk, tmp_path / "missing.jsonl"])
    assert report.adopted_from is None and report.new_rows == 24
    assert path.read_bytes() == ref_path.read_bytes()


def test_archived_copies_lists_a_folders_data_files(tmp_path, monkeypatch):
    from steervec.experiment.cache import REUSE_ENV, archived_copies

    (tmp_path / "a" / "run").mkdir(parents=True)
    for name in ("a/run/data-owl.jsonl", "a/run/data-control-d2.jsonl", "a/run/metrics.json", "a/notes.jsonl"):
        (tmp_path / name).write_text("x\n")
    assert [p.name for p in archived_copies(tmp_path / "a")] == ["data-control-d2.jsonl", "data-owl.jsonl"]
    monkeypatch.setenv(REUSE_ENV, str(tmp_path / "a"))
    assert len(archived_copies()) == 2
    monkeypatch.delenv(REUSE_ENV)
    assert archived_copies() == []
    with pytest.raises(InputError, match="no folder .* to reuse teacher data from"):
        archived_copies(tmp_path / "nowhere")
