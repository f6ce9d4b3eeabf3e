"""Training an experiment's students on Ray: one task per student, results identical to a serial run.

:func:`~steervec.experiment.run.run_experiment` with ``executor="ray"`` first trains every student
the run cache does not hold, as Ray tasks, then measures all of them in the driver exactly as a
serial run does. Each task receives the base model (put in Ray's object store once), the student's
rows and its training arguments, trains with the same code as a serial run and returns the
:class:`~steervec.students.student.Student` (and, when the run tracks alignment over training,
the tracker's history); the driver writes it to the run cache. Tasks need no shared filesystem.

Bit-identity: on CPU a student is bit-identical to its serial twin when its task runs with the
same number of torch threads (``threads``, default: the driver's); each task asks Ray for that many
CPUs. On a cluster, start Ray there and set ``RAY_ADDRESS`` (or call ``ray.init(address=...)``
before the run); without a running Ray, a local one is started with the machine's cores.

Example:
    >>> result = run_experiment(exp, executor="ray")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from steervec.core.errors import SteervecError
from steervec.core.model import LanguageModel
from steervec.core.steering_vector import SteeringVector
from steervec.metrics.alignment import AlignmentTracker, LayerAlignment
from steervec.students.student import Student
from steervec.students.train import train_student

EXECUTORS = ("serial", "ray")
"""How :func:`~steervec.experiment.run.run_experiment` trains its students."""


@dataclass
class StudentJob:
    """One student to train: its rows, the keywords of :func:`train_student`, and the alignment
    tracker to run at its checkpoints (``None``: not tracked)."""

    rows: list[Any]
    train_kwargs: dict[str, Any]
    tracker: dict[str, Any] | None = None
    key: Any = None


@dataclass
class TrainedStudent:
    """What a task gives back: the student and the tracker's history (empty when not tracked)."""

    student: Student
    eas: list[LayerAlignment] = field(default_factory=list)


def resolve_executor(executor: str | None) -> str:
    """``executor`` or ``$STEERVEC_EXECUTOR`` or ``"serial"``, checked."""
    name = executor or os.environ.get("STEERVEC_EXECUTOR") or "serial"
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}: use 'serial' (default) or 'ray' (pip install 'steervec[ray]')")
    return name


def train_job(lm: LanguageModel, job: StudentJob, threads: int | None = None) -> TrainedStudent:
    """Train one job in this process (what each Ray task runs)."""
    if threads is not None:
        torch.set_num_threads(threads)
    callbacks = []
    if job.tracker is not None:
        callbacks.append(AlignmentTracker(lm, **job.tracker))
    student = train_student(lm, job.rows, callbacks=callbacks, **job.train_kwargs)
    return TrainedStudent(student, callbacks[0].history if callbacks else [])


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise SteervecError("executor='ray' needs Ray: pip install 'steervec[ray]' (or run with executor='serial')") \
            from exc
    return ray


def train_on_ray(lm: LanguageModel, jobs: Sequence[StudentJob], threads: int | None = None,
                 on_done: Callable[[StudentJob, TrainedStudent], None] | None = None) -> list[TrainedStudent]:
    """Train ``jobs`` as Ray tasks (one per student, ``threads`` CPUs each); results in job order.

    ``on_done(job, trained)`` is called in the driver as each task finishes (the run saves the
    student to its cache there, so an interrupted run keeps what finished). Starts a local Ray
    (the machine's cores) when none is running and ``RAY_ADDRESS`` is unset, and shuts it down
    again at the end; a Ray the caller started is left running.
    """
    if not jobs:
        return []
    ray = _ray()
    threads = threads or torch.get_num_threads()
    started = not ray.is_initialized()
    if started:
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False)
    try:
        model_ref = ray.put(lm)
        task = ray.remote(num_cpus=threads)(train_job)
        refs = [task.remote(model_ref, job, threads) for job in jobs]
        results: dict[int, TrainedStudent] = {}
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            results[i] = ray.get(ready[0])
            if on_done is not None:
                on_done(jobs[i], results[i])
        return [results[i] for i in range(len(jobs))]
    finally:
        if started:
            ray.shutdown()


def tracker_args(v_teacher: SteeringVector, prompts: Sequence[str], label: str, system: Any) -> dict[str, Any]:
    """The picklable arguments of the :class:`AlignmentTracker` a task builds on its own model."""
    return {"teacher": v_teacher, "prompts": list(prompts), "label": label, "system": system}


__all__ = ["EXECUTORS", "StudentJob", "TrainedStudent", "resolve_executor", "tracker_args", "train_job",
           "train_on_ray"]
