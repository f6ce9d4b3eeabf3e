"""The experiment as data: which teacher, which students, which sizes and seeds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from steervec.core.optim import OPTIMIZERS
from steervec.students.methods import Method, MethodKind, make_method

TeacherKind = Literal["prompted", "steered", "projected", "projected_specific"]


@dataclass(frozen=True)
class StudentSpec:
    """One student parameterisation and its optimiser settings.

    Args:
        name: label in tables.
        kind: ``"vector"`` (learnable vector at ``layers``), ``"lora"`` (rank ``rank``,
            alpha ``lora_alpha``, all linear modules) or ``"full"`` (``layers`` or all).
        layers: the vector's layers, or the layers to fine-tune (``None``: all).
        optimizer: a name in :data:`steervec.core.optim.OPTIMIZERS`.
        lr: the optimiser's learning rate.
        momentum: the momentum of ``sgd``, ``rmsprop`` or ``signsgd`` (``None``: the optimiser's
            default).
    """

    name: str
    kind: MethodKind
    layers: tuple[int, ...] | None = None
    rank: int = 8
    lora_alpha: float = 8.0
    optimizer: str = "adamw"
    lr: float = 1e-2
    epochs: int = 2
    batch_size: int = 8
    momentum: float | None = None

    def __post_init__(self) -> None:  # fail before any teacher data is generated, not at this student
        key = self.optimizer.lower().replace("-", "").replace("_", "")
        if key not in OPTIMIZERS:
            raise ValueError(f"student {self.name!r}: unknown optimizer {self.optimizer!r}: use one of "
                             f"{sorted(OPTIMIZERS)} (SGD with momentum: optimizer='sgd', momentum=0.9)")
        if self.momentum is not None and key not in ("sgd", "rmsprop", "signsgd"):
            raise ValueError(f"student {self.name!r}: {self.optimizer} takes no momentum (use betas via "
                             "train_student's optimizer_kwargs), or choose sgd, rmsprop or signsgd")
        if self.kind not in ("vector", "lora", "full"):
            raise ValueError(f"student {self.name!r}: unknown kind {self.kind!r}: use 'vector', 'lora' or 'full'")

    def settings(self) -> dict[str, Any]:
        """Everything that changes the trained student (the cache key), without the display name.

        An unset ``momentum`` is left out, so students cached before the field existed keep their keys.
        """
        out = {k: v for k, v in asdict(self).items() if k != "name"}
        if out["momentum"] is None:
            del out["momentum"]
        return out

    def method(self, default_layer: int) -> Method:
        """The student's method spec (a vector without ``layers`` goes to ``default_layer``)."""
        return make_method(self.kind, self.layers, self.rank, self.lora_alpha, default_layer)


DEMO_STUDENTS = (
    StudentSpec("vector@25", "vector", (25,), lr=1e-2, epochs=2),
    StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=1),
)
"""Default students of :class:`Experiment`: a vector at layer 25 and LoRA r8 (one epoch). ``make
demo`` trains the LoRA one only, on 64 rows per teacher (see :func:`steervec.demo.run_demo`)."""


@dataclass(frozen=True)
class Experiment:
    """One subliminal-learning run.

    Args:
        name: run folder name under ``out_dir``.
        model: ``None`` for the embedded model, or anything :func:`load_model` takes.
        animal: the trait's target word.
        teacher: ``"prompted"`` (the animal-lover system prompt), ``"steered"`` (no
            system turn + ``alpha`` · v_teacher at ``layer``: the sufficiency test) or
            ``"projected"`` (the prompt kept, v_teacher's direction at ``layer`` projected
            out at every layer: the necessity test) or ``"projected_specific"`` (the same with
            the trait's *matched* direction at ``layer`` projected out, v_specific: the
            necessity test for the trait-specific part alone, since v_teacher is mostly the
            generic "a system prompt is present" direction).
        layer: the steering layer: where the steered teacher adds ``alpha`` · v_teacher, whose
            direction the projected teacher removes, and the default layer of vector students
            (25 of 30 on the embedded model, where the owl vector steers; see the layer sweep).
        report_layer: the layer whose cosine the summary, claims and tables quote (``None``: the
            steering layer). It changes no trained student: students are cached without it.
        alpha: steering strength for the steered teacher.
        n_vector_prompts: number prompts for the mean-difference v_teacher.
        n_rows: number prompts per teacher dataset (constrained sampling: every row valid).
        max_new_tokens: completion length cap.
        seeds: training seeds (each student is trained once per training seed and dataset).
        data_seeds: teacher-data seeds: each gives one trait and one control dataset; data seed
            ``d`` samples the teachers with seed ``d`` and draws the number prompts with seed
            ``d + 1`` (:meth:`prompt_seed`), so the default ``(1,)`` is the data of every earlier
            run. Students are trained for every (data seed, training seed) pair; with several
            data seeds, verdicts treat the data seed as the unit of replication.
        vector_prompt_seed: seed of the number prompts that v_teacher is measured on (held
            apart from every teacher dataset's prompts).
        align_prompt_seed: seed of the number prompts that v_student is measured on (held
            apart from every teacher dataset's prompts).
        n_questions: favourite-animal questions for Δlog P.
        n_align_prompts: number prompts for v_student.
        students: the parameterisations to train.
        student_system: the student's system condition in training and evaluation
            (``"none"`` or ``"template_default"``).
        eval_systems: further system conditions to evaluate students under (the
            context experiment: train with the template default, evaluate without).
        baseline: the system condition v_teacher is measured against (prompt minus this), and
            that the control teacher and a steered teacher run under: ``"none"`` (no system
            turn) or ``"template_default"`` (what the template injects; the reference studies'
            Qwen template injects one too, so "without the prompt" means this there).
        track_every: record cos(v_student, v_teacher) every this many steps (EAS curve).
        trait_panel: also measure the specific trait measure: the target's log-odds against the
            other animals of :data:`steervec.data.prompts.ANIMAL_PANEL`, at the answer position and
            after a prefill (Δ against the base; several times the cost of Δlog P alone).
        specific_alignment: also measure every student's shift against the trait's *matched* vector
            (the trait's prompt minus the mean over other animals in the same wording,
            :func:`~steervec.vectors.baselines.matched`), raw and control-subtracted (the trait-data
            student's shift minus the control-data student's of the same unit), at every layer.
        length_matched: also train every student on the length-matched pair of each data seed's
            datasets (:func:`~steervec.data.length_match.length_match`, seeded with the data seed):
            trait and control rows subsampled to the same numbers-per-row distribution. Their
            conditions carry the data names ``<teacher>-lenmatch`` and are summarised under
            ``"<student> (length-matched)"``; the full-data students are unchanged.
        sample_k: answers sampled per question (T=1) for the trait's sampling rate, besides
            Δlog P (0: log-probs only). Measured at k=10, 50 questions: ~2 min per evaluated
            model on one contended core, ~8x the log-probs alone.
        size: label of the run's size in claims and RESULTS.md (``"quick"``, ``"demo"``,
            ``"full"``; :func:`sizes` sets it).
        png: also write PNG figures (needs Chromium; ~3 s each). HTML is always written.
    """

    name: str = "demo"
    model: str | None = None
    animal: str = "owl"
    teacher: TeacherKind = "prompted"
    layer: int = 25
    alpha: float = 3.0
    n_vector_prompts: int = 32
    n_rows: int = 128
    max_new_tokens: int = 40
    seeds: tuple[int, ...] = (0,)
    data_seeds: tuple[int, ...] = (1,)
    vector_prompt_seed: int = 10_000
    align_prompt_seed: int = 20_000
    report_layer: int | None = None
    n_questions: int = 50
    n_align_prompts: int = 16
    students: tuple[StudentSpec, ...] = DEMO_STUDENTS
    student_system: Literal["none", "template_default"] = "none"
    eval_systems: tuple[str, ...] = ()
    baseline: Literal["none", "template_default"] = "none"
    track_every: int | None = None
    trait_panel: bool = False
    specific_alignment: bool = True
    length_matched: bool = False
    sample_k: int = 0
    out_dir: str = "runs"
    size: str = "custom"
    png: bool = True

    def __post_init__(self) -> None:
        for what, seeds in (("seeds", self.seeds), ("data_seeds", self.data_seeds)):
            if not seeds or len(set(seeds)) != len(seeds):
                raise ValueError(f"experiment {self.name!r}: {what} must be distinct and at least one, got {seeds}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        """The inverse of :meth:`to_dict`, also for its JSON form (a run's ``config.json`` or the
        ``experiment`` of its ``metrics.json``: lists where the experiment holds tuples)."""
        cfg = dict(data)
        cfg["students"] = tuple(StudentSpec(**{**s, "layers": None if s.get("layers") is None else tuple(s["layers"])})
                                for s in cfg.get("students", ()))
        for key in ("seeds", "data_seeds", "eval_systems"):
            if key in cfg:
                cfg[key] = tuple(cfg[key])
        return cls(**cfg)

    @property
    def reporting_layer(self) -> int:
        """The layer quoted in summaries and claims (``report_layer``, else the steering layer)."""
        return self.layer if self.report_layer is None else self.report_layer

    @staticmethod
    def prompt_seed(data_seed: int) -> int:
        """The number-prompt seed of a teacher dataset of data seed ``data_seed``: ``data_seed + 1``."""
        return data_seed + 1

    @property
    def units(self) -> list[tuple[int, int]]:
        """Every (data seed, training seed) pair a student is trained for, data seed first."""
        return [(d, s) for d in self.data_seeds for s in self.seeds]


