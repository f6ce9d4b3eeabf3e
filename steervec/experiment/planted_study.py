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

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from steervec.core.activations import mean_activations
from steervec.core.io import atomic_path
from steervec.core.model import LanguageModel
from steervec.core.steering_vector import SteeringVector
from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.free_text import generate_free_text
from steervec.data.numbers import number_prompts
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
from steervec.data.rows import TeacherRow
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import Teacher, planted_teacher, random_direction
from steervec.experiment.cache import dataset_path, measures_path, student_path
from steervec.experiment.config import Experiment
from steervec.experiment.run import build_specific_vector, build_teacher_vector
from steervec.metrics.alignment import student_shift
from steervec.metrics.planted import (
    OutputMetric,
    distillation_kl,
    output_metric,
    planted_vector,
    vector_recovery,
)
from steervec.metrics.trait import trait_logprob
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
        layers: planted layers ``L``.
        alpha: the scale of ``v`` at every planted layer.
        owl: plant the owl ``v_teacher`` (its norm at ``L`` also sets the other directions' norm).
        random_directions: how many seeded random directions to plant (seeds ``0..k-1``).
        owl_specific: also plant the owl-specific direction (planted name ``"owl_specific"``): the owl
            prompt minus the mean over the other animals of the panel in the same wording
            (:func:`~steervec.experiment.run.build_specific_vector`, the matched baseline), which cancels
            the "a system prompt is present" part that dominates ``v_teacher``; rescaled to the owl
            vector's norm so its recovery compares with the others'.
        students: ``"vector"`` (at ``L``), ``"vector_other"`` (at ``L - other_offset``), ``"lora"`` (r8, all linear).
        losses: ``"ce"`` (teacher tokens) and/or ``"kl_online"`` (every real position).
        data: ``"numbers"`` (constrained number lists) and/or ``"free"`` (answers to generic prompts).
        rows: dataset sizes ``N`` (the first ``N`` rows of one ``max(rows)``-row dataset per data seed).
        replicates: ``(data seed, training seed)`` pairs; a pair sharing a data seed with
            another separates training-seed noise from data noise.
        steps: every student trains this many steps (epochs repeat small datasets).
        batch_size: rows per step.
        other_offset: the other-layer vector student sits at ``L - other_offset``.
        vector_lr_scale: Adam lr of vector students = scale · ``|alpha v| / sqrt(d_model)``
            (the pilot's lr 1.0 for a norm-60 vector on d_model 576 is 0.4).
        lora_lr: LoRA's AdamW lr.
        max_new_tokens: the teacher rows' length limit.
        n_vector_prompts: number prompts for the owl ``v_teacher``.
        n_heldout: held-out number prompts for the KL fraction, the students' shifts and the Fisher metric.
        fisher_samples: score samples per prompt for the Fisher metric.
        fisher_k: the top-``k`` subspace of the Fisher metric.
        side_rows: the ``N`` at which every condition other than the vector at ``L`` on number lists
            (the recovery curve) is trained; empty: every ``N`` of ``rows``.
        pair_random: random direction ``i`` is trained on replicate ``i`` only (the direction is part of
            the replicate), so ``k`` directions give ``k`` replicates at the cost of one each.
        trait_questions: favourite-animal questions for the owl teacher's trait (Δlog P(owl) of the
            student as a fraction of the planted teacher's own; 0: skip).
        size: ``"quick"`` or ``"full"`` (recorded in claims).
        train_rows: train only the cells at these ``N`` (``None``: every ``N``). The datasets keep
            ``max(rows)`` rows, so the students' cache keys are those of the whole grid: a run can be
            split into parts (``--train-rows 256`` now, the rest later) and recorded as one.
    """

    layers: tuple[int, ...] = (25, 6, 15)
    alpha: float = 3.0
    owl: bool = True
    random_directions: int = 3
    owl_specific: bool = False
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
    side_rows: tuple[int, ...] = ()
    pair_random: bool = False
    trait_questions: int = 20
    size: str = "full"
    train_rows: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.owl and not self.owl_specific and self.random_directions < 1:
            raise ValueError("nothing to plant: set owl=True, owl_specific=True or random_directions >= 1")
        for name, allowed, given in (("students", ("vector", "vector_other", "lora"), self.students),
                                     ("losses", ("ce", "kl_online"), self.losses),
                                     ("data", ("numbers", "free"), self.data)):
            bad = [x for x in given if x not in allowed]
            if bad or not given:
                raise ValueError(f"PlantedGrid.{name} must be a non-empty subset of {allowed}, got {given}")
        if min(self.rows) < 1 or self.steps < 1 or not self.replicates:
            raise ValueError("rows and steps must be >= 1 and replicates non-empty")
        if self.train_rows is not None and not set(self.train_rows) <= set(self.rows):
            raise ValueError(f"PlantedGrid.train_rows {self.train_rows} must be a subset of rows {self.rows}")
        if not set(self.side_rows) <= set(self.rows):
            raise ValueError(f"PlantedGrid.side_rows {self.side_rows} must be a subset of rows {self.rows}")
        if self.pair_random and self.random_directions > len(self.replicates):
            raise ValueError(f"pair_random needs a replicate per random direction: {self.random_directions} "
                             f"directions, {len(self.replicates)} replicates")

    @classmethod
    def machine(cls) -> PlantedGrid:
        """The size this 2-core machine affords in a few hours (the cost of a step is measured in the
        module docstring): layer 25; the owl vector and the owl-specific direction with 3 replicates
        each, and 3 random directions paired with one replicate each; the recovery curve (vector at ``L``, number lists, both losses) at
        N = 16, 64, 256; the other conditions (vector at ``L - 5``, LoRA, free text) at N = 256;
        40 steps of 8 rows."""
        return cls(layers=(25,), replicates=((0, 0), (1, 1), (2, 2)), rows=(16, 64, 256), side_rows=(256,),
                   pair_random=True, owl_specific=True, steps=40, fisher_samples=8)

    @classmethod
    def quick(cls) -> PlantedGrid:
        """CI size: layer 25, the owl vector and one random direction, vector students at L, both losses and
        data kinds, 4 rows of up to 12 tokens, 3 steps: 8 students, 116 s of one core in all (measured beside
        other jobs: 5 min wall)."""
        return cls(layers=(25,), random_directions=1, students=("vector",), rows=(4,), replicates=((0, 0),),
                   steps=3, batch_size=4, max_new_tokens=12, n_vector_prompts=6, n_heldout=4, fisher_samples=1,
                   trait_questions=2, size="quick")

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
    """The owl vector, the seeded random directions and (``grid.owl_specific``) the owl-specific direction,
    all of the owl vector's norm, at every planted layer."""
    owl = build_teacher_vector(lm, Experiment(name="planted_vector", out_dir=str(out_dir),
                                              n_vector_prompts=grid.n_vector_prompts))
    for layer in grid.layers:
        norm = owl.norms[layer]
        chosen = [("owl", owl.select([layer]))] if grid.owl else []
        chosen += [(f"random{s}", random_direction(lm, layer, norm, seed=s)) for s in range(grid.random_directions)]
        if grid.owl_specific:
            specific = build_specific_vector(lm, Experiment(name="planted_vector", out_dir=str(out_dir),
                                                            n_vector_prompts=grid.n_vector_prompts)).select([layer])
            chosen.append(("owl_specific", specific * (norm / specific.norms[layer])))
        for name, vector in chosen:
            teacher = planted_teacher(lm, vector, layer, grid.alpha, name=f"planted-{name}-L{layer}")
            yield Planted(name, layer, vector, grid.alpha, teacher)


def _params(grid: PlantedGrid) -> SamplingParams:
    return SamplingParams(temperature=1.0, max_new_tokens=grid.max_new_tokens, batch_size=32)


def planted_data_path(lm: LanguageModel, planted: Planted, kind: DataKind, data_seed: int, grid: PlantedGrid,
                      out_dir: str | Path) -> Path:
    """Where the planted teacher's ``max(grid.rows)`` rows of ``kind`` for ``data_seed`` are cached."""
    return dataset_path(out_dir, lm, planted.teacher, kind=kind, n=max(grid.rows), params=_params(grid),
                        seed=data_seed)


def planted_rows(
    lm: LanguageModel, planted: Planted, kind: DataKind, data_seed: int, grid: PlantedGrid, out_dir: str | Path,
    progress: bool = True,
) -> tuple[Path, list[TeacherRow]]:
    """The planted teacher's ``max(grid.rows)`` rows of ``kind`` for ``data_seed`` (cached, resumable)."""
    n, params = max(grid.rows), _params(grid)
    path = planted_data_path(lm, planted, kind, data_seed, grid, out_dir)
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
    questions: list[str]
    base_logp: Any  # the base model's log P(owl) per question (None without trait questions)


def _trait_logp(lm: LanguageModel, questions: list[str]) -> Any:
    return trait_logprob(lm, questions, "owl", system=None).logp.float().cpu()


def _trait(lm: LanguageModel, planted: Planted, student: Student, ctx: _Context) -> dict[str, Any]:
    """Δlog P(owl) of the student and of its planted teacher over the base model (mean over the
    questions), and their ratio: how much of the teacher's trait the student carries."""
    if planted.name not in ("owl", "owl_specific") or not ctx.questions:
        return {}
    with planted.teacher.context(lm):
        teacher = _trait_logp(lm, ctx.questions) - ctx.base_logp
    with student.applied(lm):
        learned = _trait_logp(lm, ctx.questions) - ctx.base_logp
    return {"trait_delta": float(learned.mean()), "teacher_trait_delta": float(teacher.mean()),
            "trait_fraction": float(learned.mean() / teacher.mean()),
            "trait_delta_by_question": [float(x) for x in learned]}


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
            "measured_on": "vector" if at == planted.layer else "shift", **_trait(lm, planted, student, ctx)}


def _measure_key(grid: PlantedGrid) -> dict[str, Any]:
    """Everything the measures of a trained student depend on (besides the student itself)."""
    return {k: getattr(grid, k) for k in ("n_heldout", "fisher_samples", "fisher_k", "trait_questions", "alpha")}


def _measured(lm: LanguageModel, planted: Planted, student: Student, at: int | None, ctx: _Context,
              grid: PlantedGrid, student_file: Path) -> dict[str, Any]:
    """:func:`_measure`, cached beside the student file under the run cache's one key rule
    (:func:`~steervec.experiment.cache.measures_path`: a resumed run measures nothing twice, a
    student trained again is measured again)."""
    key = {**_measure_key(grid), "planted_layer": planted.layer, "planted": planted.name, "measured_at": at}
    cache = measures_path(student_file, study="planted", **key)
    if cache.is_file():
        return dict(json.loads(cache.read_text())["measures"])
    measures = _measure(lm, planted, student, at, ctx, grid)
    with atomic_path(cache) as tmp:
        tmp.write_text(json.dumps({"key": key, "measures": measures}, default=float))
    return measures


def _student_file(lm: LanguageModel, planted: Planted, n_rows: int, data_path: Path, kind: StudentKind, loss: str,
                  train_seed: int, grid: PlantedGrid, out_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """The student's cache file and its training settings (the cache key)."""
    _, at = student_method(kind, planted.layer, grid)
    lr = grid.lora_lr if kind == "lora" else grid.vector_lr_scale * float(planted.target.norm()) / math.sqrt(lm.d_model)
    settings = {"method": kind, "layer": at, "loss": loss, "n_rows": n_rows, "lr": lr,
                "optimizer": "adamw" if kind == "lora" else "adam", "steps": grid.steps,
                "batch_size": grid.batch_size, "seed": train_seed, "system": "none",
                "kl_positions": "all" if loss == "kl_online" else None}
    return student_path(out_dir, lm, data_path, **settings), settings


def _train(lm: LanguageModel, planted: Planted, rows: list[TeacherRow], data_path: Path, kind: StudentKind,
           loss: str, train_seed: int, grid: PlantedGrid, out_dir: str | Path) -> tuple[Student, int | None, Path, bool]:
    method, at = student_method(kind, planted.layer, grid)
    cached, settings = _student_file(lm, planted, len(rows), data_path, kind, loss, train_seed, grid, out_dir)
    if cached.is_file():
        return Student.load(cached, lm), at, cached, True
    teacher = OnlineTeacher(planted.teacher, "all") if loss == "kl_online" else None
    student = train_student(lm, rows, method, optimizer=settings["optimizer"], lr=settings["lr"],
                            epochs=math.ceil(grid.steps * grid.batch_size / len(rows)), max_steps=grid.steps,
                            batch_size=grid.batch_size, seed=train_seed, system=None, loss=loss,
                            teacher=teacher, progress=False)
    student.save(cached)
    return student, at, cached, False


def _layer_context(lm: LanguageModel, layer: int, grid: PlantedGrid) -> _Context:
    heldout = [p.text for p in number_prompts(grid.n_heldout, seed=30_000)]
    base = mean_activations(lm, heldout, None, layers=[layer], positions="prompt")
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[:grid.trait_questions])
    return _Context(heldout, base, output_metric(lm, layer, heldout, samples=grid.fisher_samples, seed=layer),
                    questions, _trait_logp(lm, questions) if questions else None)


@dataclass
class PlantedResult:
    """What :func:`run_planted` measured.

    Attributes:
        students: one dict per student (planted teacher, layer, student kind, loss, data,
            ``n_rows``, seeds, ``cosine``, ``norm_ratio``, ``fisher_cosine``, ``subspace_cosine``,
            ``kl_fraction``; for the owl teacher ``trait_delta``, ``teacher_trait_delta``,
            ``trait_fraction``...).
        planted: per planted teacher (``"owl@L25"``): the norm of ``alpha v``, the share of
            ``|alpha v|²`` in the Fisher metric's top-``k`` directions, ``G``'s top eigenvalue.
        skipped: cells left out by ``cached_only`` (not trained yet).
    """

    students: list[dict[str, Any]]
    planted: dict[str, dict[str, float]]
    skipped: int = 0

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.students)


Cell = tuple[StudentKind, str, DataKind, int, tuple[int, int]]


def grid_cells(grid: PlantedGrid, planted: str) -> list[tuple[int, Cell]]:
    """The students of one planted teacher as ``(tier, cell)``: tier 0 the recovery curve under the soft
    loss, 1 under hard labels, 2 every other condition (at ``side_rows``). A run trains tier by tier across
    all planted teachers, so an interrupted run has the curve first."""
    replicates = grid.replicates
    if grid.pair_random and planted.startswith("random"):
        replicates = (grid.replicates[int(planted.removeprefix("random"))],)
    cells: list[tuple[int, Cell]] = []
    for kind in grid.students:
        for loss in grid.losses:
            for d in grid.data:
                curve = kind == "vector" and d == "numbers"
                for n in grid.rows:
                    if not curve and grid.side_rows and n not in grid.side_rows:
                        continue
                    if grid.train_rows is not None and n not in grid.train_rows:
                        continue
                    tier = (0 if loss == "kl_online" else 1) if curve else 2
                    cells += [(tier, (kind, loss, d, n, r)) for r in replicates]
    return cells


def run_planted(lm: LanguageModel, grid: PlantedGrid, out_dir: str | Path, progress: bool = True,
                on_student: Callable[[dict[str, Any]], None] | None = None, cached_only: bool = False) -> PlantedResult:
    """Train and measure every student of the grid (see the module docstring), tier by tier
    (:func:`grid_cells`); ``on_student`` is called with each measured row as it is done.
    ``cached_only``: measure only the students an earlier (or running) run has trained and skip the
    rest (``PlantedResult.skipped`` counts them): a partial run's record."""
    info: dict[str, dict[str, float]] = {}
    contexts: dict[int, _Context] = {}
    data: dict[tuple[str, int, str, int], tuple[Path, list[TeacherRow]]] = {}
    work: list[tuple[int, int, Planted, Cell]] = []
    for i, planted in enumerate(planted_teachers(lm, grid, out_dir)):
        if planted.layer not in contexts:
            contexts[planted.layer] = _layer_context(lm, planted.layer, grid)
        metric = contexts[planted.layer].metric
        info[f"{planted.name}@L{planted.layer}"] = {
            "norm": float(planted.target.norm()), "visible_share": metric.visible_share(planted.target, grid.fisher_k),
            "top_eigval": float(metric.eigvals[0])}
        work += [(tier, i, planted, cell) for tier, cell in grid_cells(grid, planted.name)]
    results: list[dict[str, Any]] = []
    skipped = 0
    for _, _, planted, (kind, loss, d, n, (data_seed, train_seed)) in tqdm(
            sorted(work, key=lambda w: (w[0], w[3][3], w[1])), disable=not progress, desc="planted students"):
        if cached_only:
            data_path = planted_data_path(lm, planted, d, data_seed, grid, out_dir)
            if not _student_file(lm, planted, n, data_path, kind, loss, train_seed, grid, out_dir)[0].is_file():
                skipped += 1
                continue
        key = (planted.name, planted.layer, d, data_seed)
        if key not in data:
            data[key] = planted_rows(lm, planted, d, data_seed, grid, out_dir, progress)
        path, rows = data[key]
        if len(rows) < n:
            raise ValueError(f"{path} holds {len(rows)} valid rows, fewer than N={n}: lower PlantedGrid.rows")
        t0 = time.perf_counter()
        student, at, file, reused = _train(lm, planted, rows[:n], path, kind, loss, train_seed, grid, out_dir)
        row = {"planted": planted.name, "layer": planted.layer, "alpha": planted.alpha,
               "planted_norm": float(planted.target.norm()), "student": kind, "student_layer": at, "loss": loss,
               "data": d, "n_rows": n, "data_seed": data_seed, "train_seed": train_seed, "reused": reused,
               "final_loss": student.history[-1]["loss"] if student.history else None,
               **_measured(lm, planted, student, at, contexts[planted.layer], grid, file),
               "seconds": round(time.perf_counter() - t0, 2)}
        results.append(row)
        if on_student is not None:
            on_student(row)
    return PlantedResult(results, info, skipped)


@dataclass
class PanelResult:
    """What :func:`planted_panel` measured: per loss, ``cos(u, alpha v)`` over the training steps
    (``trajectory``: ``[(step, cos)]``) and the final student's recovery and trait."""

    layer: int
    alpha: float
    n_rows: int
    trajectory: dict[str, list[tuple[int, float]]]
    final: dict[str, dict[str, float]]
    teacher_trait: float
    seconds: float

    def table(self) -> str:
        lines = [f"{'student (vector at layer ' + str(self.layer) + ')':34s} {'cos(u, αv)':>10s} {'|u|/|αv|':>9s} "
                 f"{'Δlog P(owl)':>12s}", "-" * 68]
        for loss, m in self.final.items():
            name = "soft labels (online KL)" if loss == "kl_online" else "hard labels (teacher tokens)"
            lines.append(f"{name:34s} {m['cosine']:+10.3f} {m['norm_ratio']:9.2f} {m['trait_delta']:+12.3f}")
        lines.append(f"{'planted teacher (base + α·v)':34s} {1:+10.3f} {1:9.2f} {self.teacher_trait:+12.3f}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def planted_panel(lm: LanguageModel, vector: SteeringVector, out_dir: str | Path, layer: int = 25,
                  alpha: float = 3.0, n_rows: int = 96, steps: int = 30, batch_size: int = 4, every: int = 3,
                  seed: int = 0, questions: int = 12, lr_scale: float = 0.4, progress: bool = False) -> PanelResult:
    """The demo's ground truth in a few minutes: plant ``alpha * vector`` at ``layer``, write ``n_rows``
    number lists with that teacher, and train a vector student at ``layer`` on them with soft labels
    (online KL at every position) and with hard labels (cross-entropy on the teacher's tokens), recording
    ``cos(u, alpha v)`` every ``every`` steps. Δlog P(owl) is over the base model with no system turn.

    Example:
        >>> panel = planted_panel(lm, owl_vector, "runs")  # doctest: +SKIP
        >>> panel.final["kl_online"]["cosine"]  # doctest: +SKIP
    """
    start = time.perf_counter()
    teacher = planted_teacher(lm, vector, layer, alpha, name=f"planted-demo-L{layer}")
    target = planted_vector(vector, layer, alpha)
    params = SamplingParams(temperature=1.0, max_new_tokens=40, batch_size=32)
    path = dataset_path(out_dir, lm, teacher, kind="numbers", n=n_rows, params=params, seed=seed)
    report = generate_dataset(lm, teacher, path=path, n=n_rows, mode="constrained", params=params, seed=seed,
                              prompt_seed=seed, progress=progress)
    rows = load_dataset(report.path, model=lm)
    qs = list(FAVOURITE_ANIMAL_QUESTIONS[:questions])
    base = _trait_logp(lm, qs)
    with teacher.context(lm):
        teacher_trait = float((_trait_logp(lm, qs) - base).mean())
    lr = lr_scale * float(target.norm()) / math.sqrt(lm.d_model)
    trajectory: dict[str, list[tuple[int, float]]] = {}
    final: dict[str, dict[str, float]] = {}
    for loss in ("kl_online", "ce"):
        points: list[tuple[int, float]] = [(0, 0.0)]

        def record(event: Any, points: list[tuple[int, float]] = points) -> None:
            u = event.student.tensors[f"layer.{layer}"].float().cpu()
            points.append((event.step, vector_recovery(u, target).cosine))

        online = OnlineTeacher(teacher, "all") if loss == "kl_online" else None
        student = train_student(lm, rows, VectorStudent(layers=(layer,)), optimizer="adam", lr=lr,
                                epochs=math.ceil(steps * batch_size / len(rows)), max_steps=steps,
                                batch_size=batch_size, seed=seed, system=None, loss=loss,
                                teacher=online, checkpoint_every=every, callbacks=[record], progress=progress)
        with student.applied(lm):
            trait = float((_trait_logp(lm, qs) - base).mean())
        final[loss] = {**vector_recovery(student.tensors[f"layer.{layer}"].float().cpu(), target).to_dict(),
                       "trait_delta": trait}
        trajectory[loss] = points
    return PanelResult(layer, alpha, len(rows), trajectory, final, teacher_trait,
                       round(time.perf_counter() - start, 1))


__all__ = ["PanelResult", "Planted", "PlantedGrid", "PlantedResult", "grid_cells", "planted_panel", "planted_rows", "planted_teachers", "run_planted",
           "student_method"]
