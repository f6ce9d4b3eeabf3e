"""Students trained as Ray tasks give the records of a serial run, bit for bit (tiny model, 2 local workers)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest
import torch
from claims import experiment_claims
from safetensors.torch import load_file
from test_experiment import TINY

from steervec.core.errors import SteervecError
from steervec.experiment.on_ray import resolve_executor, train_on_ray
from steervec.experiment.run import run_experiment

pytestmark = pytest.mark.usefixtures("one_thread")

TIMING = {"train_seconds", "reused", "label"}


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _students(folder):
    return {p.name: load_file(p) for p in sorted(folder.glob("student-*.safetensors"))}


def test_ray_run_equals_serial_run(local_ray, tiny_llama, tmp_path):
    exp = replace(TINY, name="tiny-ray", seeds=(0, 1), track_every=2)  # tracked: the tracker runs in the task
    runs = {ex: run_experiment(replace(exp, out_dir=str(tmp_path / ex)), lm=tiny_llama, progress=False,
                               claims=experiment_claims, executor=ex) for ex in ("serial", "ray")}
    serial, ray_run = runs["serial"], runs["ray"]
    assert "students trained on Ray" in ray_run.metrics["timings"]
    a, b = _students(serial.folder), _students(ray_run.folder)
    assert len(a) == 8 and a.keys() == b.keys()  # 2 students x 2 datasets x 2 seeds
    for name in a:
        assert a[name].keys() == b[name].keys()
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name]), name
    rows = [[{k: v for k, v in c.items() if k not in TIMING} for c in r.metrics["conditions"]] for r in (serial, ray_run)]
    assert json.dumps(rows[0], default=float) == json.dumps(rows[1], default=float)  # scores, cosines, eas
    assert not ray_run.metrics["students_reused"]  # trained by this run's tasks, not reused
    assert serial.metrics["claims"] == ray_run.metrics["claims"]
    again = run_experiment(replace(exp, out_dir=str(tmp_path / "ray"), track_every=0), lm=tiny_llama,
                           progress=False, executor="ray")  # untracked: every student comes from the cache
    assert len(again.metrics["students_reused"]) == 8


def test_each_finished_task_is_handed_over_at_once_and_equals_a_local_run(local_ray, tiny_llama):
    from _rows import number_rows

    from steervec.experiment.on_ray import StudentJob, train_job
    from steervec.students.methods import VectorStudent
    jobs = [StudentJob(number_rows(8), {"method": VectorStudent(layers=[1]), "lr": 1e-2, "seed": s, "progress": False},
                       key=s) for s in (0, 1, 2)]
    seen = []
    done = train_on_ray(tiny_llama, jobs, on_done=lambda job, trained: seen.append(job.key))
    assert sorted(seen) == [0, 1, 2]
    for job, trained in zip(jobs, done, strict=True):
        local = train_job(tiny_llama, job).student
        assert all(torch.equal(local.tensors[k], trained.student.tensors[k]) for k in local.tensors)


def test_no_job_starts_no_ray(tiny_llama):
    assert train_on_ray(tiny_llama, []) == []


def test_executor_is_checked_and_missing_ray_names_the_fix(monkeypatch, tiny_llama):
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        resolve_executor("dask")
    monkeypatch.setenv("STEERVEC_EXECUTOR", "ray")
    assert resolve_executor(None) == "ray"
    monkeypatch.setitem(sys.modules, "ray", None)
    from steervec.experiment.on_ray import StudentJob
    with pytest.raises(SteervecError, match=r"pip install 'steervec\[ray\]'"):
        train_on_ray(tiny_llama, [StudentJob([], {})])
