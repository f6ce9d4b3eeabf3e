"""Ground truth for steering-vector distillation: students of teachers with a planted vector.

A planted teacher is the base model plus ``alpha * v`` at layer ``L`` at every position
(:func:`~steervec.data.teachers.planted_teacher`), with ``v`` the owl ``v_teacher``
(mean difference, :func:`~steervec.experiment.run.build_teacher_vector`) or a seeded random
direction of the same norm. Students — a vector at ``L``, a vector at ``L - offset``, LoRA —
are trained on ``N`` of the teacher's rows (number lists or free text) by hard labels
(cross-entropy on the teacher's sampled tokens) or online soft distillation
(KL(teacher ‖ student) at every real position), for a fixed number of steps, and measured
with :mod:`steervec.metrics.planted`: ``cos(u, alpha v)``, ``|u| / |alpha v|``, the cosine under
the output's Fisher metric, and the held-out KL as a fraction of the base model's.

Everything expensive is cached by content key under ``<out_dir>/`` (datasets in
``_datasets/``, students in ``_students/``, the owl vector in ``_vectors/``), so an
interrupted run resumes where it stopped and a larger grid reuses a smaller one's students.

Example:
    >>> rows = run_planted(lm, PlantedGrid.quick(), "runs")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from steervec.core.activations import mean_activations
from steervec.core.model import LanguageModel
from steervec.core.steering_vector import SteeringVector
from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.free_text import generate_free_text
from steervec.data.numbers import number_prompts
from steervec.data.rows import TeacherRow
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import Teacher, planted_teacher, random_direction
from steervec.experiment.cache import dataset_path, student_path
from steervec.experiment.config import Experiment
from steervec.experiment.run import build_teacher_vector
from steervec.metrics.alignment import student_shift
from steervec.metrics.planted import (
    OutputMetric,
    distillation_kl,
    output_metric,
    planted_vector,
    vector_recovery,
)
from steervec.students.distill import OnlineTeacher
from steervec.students.methods import LoRA, Method, VectorStudent
from steervec.students.student import Student
from steervec.students.train import train_student

StudentKind = Literal["vector", "vector_other", "lora"]
DataKind = Literal["numbers", "free"]


@dataclass(frozen=True)
class PlantedGrid:
    """The planted-vector study as data.

    Args:
        layers: planted layers ``L``; ``alpha``: the scale of ``v`` at every one.
        owl: plant the owl ``v_teacher`` (its norm at ``L`` also sets the random directions' norm).
        random_directions: how many seeded random directions to plant (seeds ``0..k-1``).
        students: ``"vector"`` (at ``L``), ``"vector_other"`` (at ``L - other_offset``), ``"lora"`` (r8, all linear).
        losses: ``"ce"`` (teacher tokens) and/or ``"kl_online"`` (every real position).
        data: ``"numbers"`` (constrained number lists) and/or ``"free"`` (answers to generic prompts).
        rows: dataset sizes ``N`` (the first ``N`` rows of one ``max(rows)``-row dataset per data seed).
        replicates: ``(data seed, training seed)`` pairs; a pair sharing a data seed with
            another separates training-seed noise from data noise.
        steps / batch_size: every student trains this many steps (epochs repeat small datasets).
        vector_lr_scale: Adam lr of vector students = scale · ``|alpha v| / sqrt(d_model)``
            (the pilot's lr 1.0 for a norm-60 vector on d_model 576 is 0.4); ``lora_lr``: LoRA's AdamW lr.
        n_heldout: held-out number prompts for the KL fraction, the students' shifts and the Fisher metric.
        fisher_samples / fisher_k: score samples per prompt, and the top-``k`` subspace of the Fisher metric.
        size: ``"quick"`` or ``"full"`` (recorded in claims).
    """

    layers: tuple[int, ...] = (25, 6, 15)
    alpha: float = 3.0
    owl: bool = True
    random_directions: int = 3
    students: tuple[StudentKind, ...] = ("vector", "vector_other", "lora")
    losses: tuple[Literal["ce", "kl_online"], ...] = ("ce", "kl_online")
    data: tuple[DataKind, ...] = ("numbers", "free")
    rows: tuple[int, ...] = (16, 64, 256, 1024)
    replicates: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (0, 1))
    steps: int = 100
    batch_size: int = 8
    other_offset: int = 5
    vector_lr_scale: float = 0.4
    lora_lr: float = 1e-3
    max_new_tokens: int = 40
    n_vector_prompts: int = 64
    n_heldout: int = 32
    fisher_samples: int = 16
    fisher_k: int = 16
    size: str = "full"

    def __post_init__(self) -> None:
        if not self.owl and self.random_directions < 1:
            raise ValueError("nothing to plant: set owl=True or random_directions >= 1")
        for name, allowed, given in (("students", ("vector", "vector_other", "lora"), self.students),
                                     ("losses", ("ce", "kl_online"), self.losses),
                                     ("data", ("numbers", "free"), self.data)):
            bad = [x for x in given if x not in allowed]
            if bad or not given:
                raise ValueError(f"PlantedGrid.{name} must be a non-empty subset of {allowed}, got {given}")
        if min(self.rows) < 1 or self.steps < 1 or not self.replicates:
            raise ValueError("rows and steps must be >= 1 and replicates non-empty")

    @classmethod
    def quick(cls) -> PlantedGrid:
        """CI size: layer 25, the owl vector and one random direction, vector students at L, both losses and
        data kinds, 4 rows of up to 12 tokens, 3 steps: 8 students, 116 s of one core in all (measured beside
        other jobs: 5 min wall)."""
        return cls(layers=(25,), random_directions=1, students=("vector",), rows=(4,), replicates=((0, 0),),
                   steps=3, batch_size=4, max_new_tokens=12, n_vector_prompts=6, n_heldout=4, fisher_samples=1,
                   size="quick")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Planted:
    """One planted teacher: its name, layer, direction ``v``, scale and the :class:`Teacher`."""

    name: str
    layer: int
    vector: SteeringVector
    alpha: float
    teacher: Teacher

    @property
    def target(self) -> Any:
        """``alpha * v`` (``[d_model]``): what full recovery learns."""
        return planted_vector(self.vector, self.layer, self.alpha)


def planted_teachers(lm: LanguageModel, grid: PlantedGrid, out_dir: str | Path) -> Iterator[Planted]:
    """The owl vector and the seeded random directions of the same norm, at every planted layer."""
    owl = build_teacher_vector(lm, Experiment(name="planted_vector", out_dir=str(out_dir),
                                              n_vector_prompts=grid.n_vector_prompts))
    for layer in grid.layers:
        norm = owl.norms[layer]
        chosen = [("owl", owl.select([layer]))] if grid.owl else []
        chosen += [(f"random{s}", random_direction(lm, layer, norm, seed=s)) for s in range(grid.random_directions)]
        for name, vector in chosen:
            teacher = planted_teacher(lm, vector, layer, grid.alpha, name=f"planted-{name}-L{layer}")
            yield Planted(name, layer, vector, grid.alpha, teacher)


def planted_rows(
    lm: LanguageModel, planted: Planted, kind: DataKind, data_seed: int, grid: PlantedGrid, out_dir: str | Path,
    progress: bool = True,
) -> tuple[Path, list[TeacherRow]]:
    """The planted teacher's ``max(grid.rows)`` rows of ``kind`` for ``data_seed`` (cached, resumable)."""
    n = max(grid.rows)
    params = SamplingParams(temperature=1.0, max_new_tokens=grid.max_new_tokens, batch_size=32)
    path = dataset_path(out_dir, lm, planted.teacher, kind=kind, n=n, params=params, seed=data_seed)
    if kind == "numbers":
        report = generate_dataset(lm, planted.teacher, path=path, n=n, mode="constrained", params=params,
                                  seed=data_seed, prompt_seed=data_seed, progress=progress)
    else:
        report = generate_free_text(lm, planted.teacher, n, path=path, params=params, seed=data_seed,
                                    prompt_seed=data_seed, progress=progress)
    return report.path, load_dataset(report.path, model=lm)


def student_method(kind: StudentKind, layer: int, grid: PlantedGrid) -> tuple[Method, int | None]:
    """The method spec and the layer its vector sits at (``None`` for LoRA)."""
    if kind == "lora":
        return LoRA(rank=8, alpha=8.0), None
    at = layer if kind == "vector" else max(layer - grid.other_offset, 0)
    return VectorStudent(layers=(at,)), at


@dataclass
class _Context:
    """What every student of one planted layer is measured against."""

    heldout: list[str]
    base_means: dict[int, Any]
    metric: OutputMetric


def _measure(lm: LanguageModel, planted: Planted, student: Student, at: int | None, ctx: _Context,
             grid: PlantedGrid) -> dict[str, Any]:
    target = planted.target
    if at == planted.layer:
        learned = student.tensors[f"layer.{at}"].float().cpu()
    else:
        learned = student_shift(lm, student, ctx.heldout, layers=[planted.layer],
                                base_means=ctx.base_means)[planted.layer].float().cpu()
    rec = vector_recovery(learned, target)
    kl = distillation_kl(lm, planted.teacher, student, ctx.heldout)
    return {**rec.to_dict(), "fisher_cosine": ctx.metric.cosine(learned, target),
            "subspace_cosine": ctx.metric.subspace_cosine(learned, target, grid.fisher_k),
            "kl_fraction": kl.fraction, "student_kl": kl.student_kl, "base_kl": kl.base_kl,
            "measured_on": "vector" if at == planted.layer else "shift"}


def _train(lm: LanguageModel, planted: Planted, rows: list[TeacherRow], data_path: Path, kind: StudentKind,
           loss: str, train_seed: int, grid: PlantedGrid, out_dir: str | Path) -> tuple[Student, int | None, bool]:
    method, at = student_method(kind, planted.layer, grid)
    lr = grid.lora_lr if kind == "lora" else grid.vector_lr_scale * float(planted.target.norm()) / math.sqrt(lm.d_model)
    optimizer = "adamw" if kind == "lora" else "adam"
    epochs = math.ceil(grid.steps * grid.batch_size / len(rows))
    settings = {"method": kind, "layer": at, "loss": loss, "n_rows": len(rows), "lr": lr, "optimizer": optimizer,
                "steps": grid.steps, "batch_size": grid.batch_size, "seed": train_seed, "system": "none",
                "kl_positions": "all" if loss == "kl_online" else None}
    cached = student_path(out_dir, lm, data_path, **settings)
    if cached.is_file():
        return Student.load(cached, lm), at, True
    teacher = OnlineTeacher(planted.teacher, "all") if loss == "kl_online" else None
    student = train_student(lm, rows, method, optimizer=optimizer, lr=lr, epochs=epochs, max_steps=grid.steps,
                            batch_size=grid.batch_size, seed=train_seed, system=None, loss=loss,  # type: ignore[arg-type]
                            teacher=teacher, progress=False)
    student.save(cached)
    return student, at, False


def _layer_context(lm: LanguageModel, layer: int, grid: PlantedGrid) -> _Context:
    heldout = [p.text for p in number_prompts(grid.n_heldout, seed=30_000)]
    base = mean_activations(lm, heldout, None, layers=[layer], positions="prompt")
    return _Context(heldout, base, output_metric(lm, layer, heldout, samples=grid.fisher_samples, seed=layer))


@dataclass
class PlantedResult:
    """What :func:`run_planted` measured.

    Attributes:
        students: one dict per student (planted teacher, layer, student kind, loss, data,
            ``n_rows``, seeds, ``cosine``, ``norm_ratio``, ``fisher_cosine``, ``subspace_cosine``,
            ``kl_fraction``...).
        planted: per planted teacher (``"owl@L25"``): the norm of ``alpha v``, the share of
            ``|alpha v|²`` in the Fisher metric's top-``k`` directions, ``G``'s top eigenvalue.
    """

    students: list[dict[str, Any]]
    planted: dict[str, dict[str, float]]

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.students)


def run_planted(lm: LanguageModel, grid: PlantedGrid, out_dir: str | Path, progress: bool = True) -> PlantedResult:
    """Train and measure every student of the grid (see the module docstring)."""
    results: list[dict[str, Any]] = []
    info: dict[str, dict[str, float]] = {}
    contexts: dict[int, _Context] = {}
    combos = [(k, loss, d) for k in grid.students for loss in grid.losses for d in grid.data]
    for planted in planted_teachers(lm, grid, out_dir):
        if planted.layer not in contexts:
            contexts[planted.layer] = _layer_context(lm, planted.layer, grid)
        metric = contexts[planted.layer].metric
        info[f"{planted.name}@L{planted.layer}"] = {
            "norm": float(planted.target.norm()), "visible_share": metric.visible_share(planted.target, grid.fisher_k),
            "top_eigval": float(metric.eigvals[0])}
        data = {(d, ds): planted_rows(lm, planted, d, ds, grid, out_dir, progress)
                for d in grid.data for ds in sorted({r[0] for r in grid.replicates})}
        cells = [(c, n, r) for c in combos for n in grid.rows for r in grid.replicates]
        for (kind, loss, d), n, (data_seed, train_seed) in tqdm(cells, disable=not progress, desc=planted.teacher.name):
            path, rows = data[(d, data_seed)]
            if len(rows) < n:
                raise ValueError(f"{path} holds {len(rows)} valid rows, fewer than N={n}: lower PlantedGrid.rows")
            t0 = time.perf_counter()
            student, at, reused = _train(lm, planted, rows[:n], path, kind, loss, train_seed, grid, out_dir)
            results.append({
                "planted": planted.name, "layer": planted.layer, "alpha": planted.alpha,
                "planted_norm": float(planted.target.norm()), "student": kind, "student_layer": at, "loss": loss,
                "data": d, "n_rows": n, "data_seed": data_seed, "train_seed": train_seed, "reused": reused,
                "final_loss": student.history[-1]["loss"] if student.history else None,
                **_measure(lm, planted, student, at, contexts[planted.layer], grid),
                "seconds": round(time.perf_counter() - t0, 2)})
    return PlantedResult(results, info)


__all__ = ["Planted", "PlantedGrid", "PlantedResult", "planted_rows", "planted_teachers", "run_planted",
           "student_method"]
