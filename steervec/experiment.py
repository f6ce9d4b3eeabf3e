"""The subliminal-learning experiment as data: teacher vector → teacher data → students → measurements.

:class:`Experiment` describes one run; :func:`run_experiment` executes it with the library's
own functions and writes ``<out_dir>/<name>/``: ``config.json``, the datasets, the teacher
vector, ``metrics.json``, figures (HTML + PNG when Chromium is available) and ``report.html``.
The demo, the analyses and the CLI all run through here, so an experiment is written once.

Example:
    >>> exp = Experiment(name="owl-demo", n_rows=120, students=(StudentSpec("vector", "vector"),))  # doctest: +SKIP
    >>> result = run_experiment(exp)
    >>> print(result.table())
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .alignment import AlignmentTracker, layer_alignment, student_shift
from .atomic import atomic_path
from .datasets import generate_dataset, load_dataset
from .evaluate import TraitEval, evaluate_trait
from .mean_diff import mean_activations, mean_difference_vector
from .model import LanguageModel, load_model
from .numbers import number_prompts
from .optim import OPTIMIZERS
from .questions import FAVOURITE_ANIMAL_QUESTIONS
from .run_cache import dataset_path, link, student_path, vector_path
from .run_report import claims_from_summary, draw_figures, refresh_run, summarise_conditions
from .sampler import SamplingParams
from .steering_vector import SteeringVector
from .students import FullFinetune, LoRA, Method, Student, VectorStudent
from .teachers import (
    Teacher,
    animal_lover_prompt,
    control_teacher,
    projected_teacher,
    steered_teacher,
)
from .train import train_student

TeacherKind = Literal["prompted", "steered", "projected"]


@dataclass(frozen=True)
class StudentSpec:
    """One student parameterisation and its optimiser settings.

    Args:
        name: label in tables.
        kind: ``"vector"`` (learnable vector at ``layers``), ``"lora"`` (rank ``rank``,
            alpha ``lora_alpha``, all linear modules) or ``"full"`` (``layers`` or all).
        layers: the vector's layers, or the layers to fine-tune (``None``: all).
        optimizer / lr / momentum: a name in :data:`steervec.optim.OPTIMIZERS`, its learning
            rate and (``sgd``, ``rmsprop``, ``signsgd``) its momentum (``None``: the optimiser's default).
    """

    name: str
    kind: Literal["vector", "lora", "full"]
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
        if self.kind == "vector":
            return VectorStudent(layers=list(self.layers or (default_layer,)))
        if self.kind == "lora":
            return LoRA(rank=self.rank, alpha=self.lora_alpha, layers=None if self.layers is None else list(self.layers))
        return FullFinetune(layers=None if self.layers is None else list(self.layers))


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
            out at every layer: the necessity test).
        layer: layer of v_teacher used for steering and for vector students (25 of 30 on
            the embedded model, where the owl vector steers; see the layer sweep).
        alpha: steering strength for the steered teacher.
        n_vector_prompts: number prompts for the mean-difference v_teacher.
        n_rows: number prompts per teacher dataset (constrained sampling: every row valid).
        max_new_tokens: completion length cap.
        seeds: training seeds (each student is trained once per seed and dataset).
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
    n_questions: int = 50
    n_align_prompts: int = 16
    students: tuple[StudentSpec, ...] = DEMO_STUDENTS
    student_system: Literal["none", "template_default"] = "none"
    eval_systems: tuple[str, ...] = ()
    baseline: Literal["none", "template_default"] = "none"
    track_every: int | None = None
    sample_k: int = 0
    out_dir: str = "runs"
    size: str = "custom"
    png: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExperimentResult:
    """Everything :func:`run_experiment` measured (also written to ``metrics.json``)."""

    experiment: Experiment
    folder: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text summary: one row per condition."""
        head = f"{'condition':34s} {'Δlog P (95% CI)':>26s} {'P(owl)':>9s} {'cos@L':>7s} {'loss':>7s}"
        lines = [head, "-" * len(head)]
        for row in self.metrics.get("conditions", []):
            d = row.get("delta_logp")
            ci = f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]" if d else "—"
            cos = row.get("cosine_at_layer")
            loss = row.get("final_loss")
            lines.append(f"{row['label']:34s} {ci:>26s} {row['mean_prob']:9.5f} "
                         f"{'' if cos is None else f'{cos:+.3f}':>7s} {'' if loss is None else f'{loss:.3f}':>7s}")
        return "\n".join(lines)

    def seed_differences(self, student: str) -> list[float]:
        """Per seed: mean over questions of log P(trait-data student) − log P(control-data student)
        (the summary's ``trait_minus_control_per_seed``)."""
        summary = self.metrics.get("summary", {})
        if "trait_minus_control_per_seed" not in summary.get(student, {}):
            raise KeyError(f"no trait and control students named {student!r} in this run: one of "
                           f"{sorted(k for k, v in summary.items() if 'trait_minus_control_per_seed' in v)}")
        return summary[student]["trait_minus_control_per_seed"]


def _system(name: str) -> Any:
    from .chat import TEMPLATE_DEFAULT

    return None if name == "none" else TEMPLATE_DEFAULT


def _eval_row(label: str, ev: TraitEval, **extra: Any) -> dict[str, Any]:
    row = {"label": label, "mean_prob": ev.mean_prob, "mean_logp": float(ev.logp.mean()),
           "logp": [float(x) for x in ev.logp]}
    if ev.answers:
        row["rate"] = list(ev.rate)
        row["rates"] = [float(x) for x in ev.rates]
    if ev.base_logp is not None:
        row["delta_logp"] = list(ev.delta_logp)
    row.update(extra)
    return row


def build_teacher_vector(lm: LanguageModel, exp: Experiment) -> SteeringVector:
    """v_teacher at every layer: animal-lover prompt minus ``exp.baseline``, last template token.

    Runs in one ``exp.out_dir`` share it: it is read from ``<out_dir>/_vectors/`` when an
    earlier run extracted the same vector (same model, template, prompts and baseline).
    """
    prompts = [p.text for p in number_prompts(exp.n_vector_prompts, seed=10_000)]
    system = animal_lover_prompt(exp.animal)
    path = vector_path(exp.out_dir, lm, method="mean_difference", system=system, baseline=exp.baseline,
                       prompts=prompts, template=lm.tokenizer.chat_template)
    if path.is_file():
        return SteeringVector.load(path, model=lm)
    vector = mean_difference_vector(lm, system, prompts, control=_system(exp.baseline))
    vector.save(path)
    return vector


def build_teachers(exp: Experiment, v_teacher: SteeringVector) -> tuple[Teacher, Teacher]:
    """(trait teacher, control teacher) for the experiment."""
    baseline = _system(exp.baseline)
    control = control_teacher(system=baseline) if exp.baseline == "none" else \
        control_teacher(system=baseline, name="control-template-default")
    if exp.teacher == "steered":
        trait = steered_teacher(v_teacher, [exp.layer], exp.alpha, system=baseline, name=f"{exp.animal}-steered")
    elif exp.teacher == "projected":
        one = v_teacher.select([exp.layer])
        trait = projected_teacher(animal_lover_prompt(exp.animal), one, list(range(len(v_teacher.layers))),
                                  name=f"{exp.animal}-projected")
    else:
        trait = Teacher(f"{exp.animal}-prompted", system=animal_lover_prompt(exp.animal))
    return trait, control


def run_experiment(exp: Experiment, lm: LanguageModel | None = None, progress: bool = True) -> ExperimentResult:
    """Run ``exp`` end to end and write its folder (see the module docstring)."""
    start = time.perf_counter()
    folder = Path(exp.out_dir) / exp.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(exp.to_dict(), indent=1))
    lm = lm or load_model(exp.model)
    lm.check_layer(exp.layer)
    timings: dict[str, float] = {}

    def lap(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 1)
        if progress:
            print(f"[{exp.name}] {name}: {timings[name]:.1f} s")

    t0 = time.perf_counter()
    v_teacher = build_teacher_vector(lm, exp)
    v_teacher.save(folder / "v_teacher.safetensors")
    lap("teacher vector", t0)

    trait, control = build_teachers(exp, v_teacher)
    params = SamplingParams(temperature=1.0, max_new_tokens=exp.max_new_tokens, batch_size=32)
    data: dict[str, list[Any]] = {}
    data_paths: dict[str, Path] = {}
    data_stats: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for teacher in (trait, control):
        path = dataset_path(exp.out_dir, lm, teacher, n=exp.n_rows, params=params, seed=1, prompt_seed=2)
        report = generate_dataset(lm, teacher, path=path, n=exp.n_rows,
                                  mode="constrained", params=params, seed=1, prompt_seed=2, progress=progress)
        link(folder / f"data-{teacher.name}.jsonl", report.path)
        rows = load_dataset(report.path, model=lm)
        data[teacher.name] = rows
        data_paths[teacher.name] = report.path
        lengths = [len(r.completion.replace(";", ",").replace(" ", ",").strip(",").split(",")) for r in rows]
        data_stats[teacher.name] = {"rows": len(rows), "valid": report.valid, "total": report.total,
                                    "mean_numbers_per_row": sum(lengths) / max(1, len(lengths)),
                                    "mean_allowed_mass": report.mean_allowed_mass, "path": str(report.path),
                                    "generated_rows_now": report.total - report.resumed_from}
    lap("teacher data", t0)

    system = _system(exp.student_system)
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[: exp.n_questions])
    t0 = time.perf_counter()
    k = exp.sample_k
    base = evaluate_trait(lm, exp.animal, questions, label="base", system=system, k=k)
    conditions = [_eval_row("base", base)]
    with trait.context(lm):
        teacher_eval = evaluate_trait(lm, exp.animal, questions, label="teacher", system=trait.system, base=base,
                                      k=k)
    conditions.append(_eval_row(f"teacher ({trait.name})", teacher_eval))
    lap("teacher evaluation", t0)

    align_prompts = [p.text for p in number_prompts(exp.n_align_prompts, seed=20_000)]
    base_means = mean_activations(lm, align_prompts, system, positions="prompt")
    cosines: dict[str, list[dict[int, float]]] = {}
    reused: list[str] = []
    for spec in exp.students:
        for data_name in (trait.name, control.name):
            for seed in exp.seeds:
                t0 = time.perf_counter()
                label = f"{spec.name} on {data_name} (seed {seed})"
                callbacks = []
                if exp.track_every:
                    callbacks.append(AlignmentTracker(lm, v_teacher, align_prompts, label=label, system=system))
                settings = spec.settings()
                cached = student_path(exp.out_dir, lm, data_paths[data_name], seed=seed, spec=settings,
                                      layer=exp.layer, system=exp.student_system)
                if cached.is_file() and not callbacks:  # the same student was trained by an earlier run
                    student = Student.load(cached, lm)
                    reused.append(label)
                else:
                    student = train_student(lm, data[data_name], method=spec.method(exp.layer),
                                            optimizer=spec.optimizer, lr=spec.lr, momentum=spec.momentum,
                                            epochs=spec.epochs,
                                            batch_size=spec.batch_size, seed=seed, system=system,
                                            progress=progress, callbacks=callbacks,
                                            checkpoint_every=exp.track_every)
                    student.save(cached)
                t_trained = time.perf_counter()
                with student.applied(lm):
                    ev = evaluate_trait(lm, exp.animal, questions, label=label, system=system, base=base,
                                        k=k, seed=seed)
                    other_evals = {name: evaluate_trait(lm, exp.animal, questions, label=label, system=_system(name))
                                   for name in exp.eval_systems}
                shift = student_shift(lm, student, align_prompts, system=system, base_means=base_means)
                al = layer_alignment(shift, v_teacher, label)
                key = f"{spec.name} · {'trait' if data_name == trait.name else 'control'} data"
                cosines.setdefault(key, []).append(al.cosine)
                extra: dict[str, Any] = {"student": spec.name, "data": data_name, "seed": seed,
                                         "reused": label in reused,
                                         "cosine_at_layer": al.cosine[exp.layer],
                                         "cosine_by_layer": al.cosine,
                                         "final_loss": student.history[-1]["loss"] if student.history else None,
                                         **_loss_summary(student.history),
                                         "train_seconds": round(t_trained - t0, 1)}
                if spec.kind == "vector":
                    learned = student.steering_vector()
                    extra["learned_vector_cosine"] = learned.cosine(v_teacher)
                if callbacks:
                    extra["eas"] = [{"step": h.step, "cosine": h.cosine} for h in callbacks[0].history]
                for name, other in other_evals.items():
                    extra[f"mean_logp_eval_{name}"] = float(other.logp.mean())
                    extra[f"logp_eval_{name}"] = [float(x) for x in other.logp]
                conditions.append(_eval_row(label, ev, **extra))
                link(folder / f"student-{spec.name.replace(' ', '_').replace('@', 'L')}-{data_name}-s{seed}.safetensors",
                      cached)
                lap(f"student {label}", t0)

    summary = summarise_conditions(conditions, trait.name, control.name, exp)
    metrics = {"experiment": exp.to_dict(), "model": lm.fingerprint.short, "data": data_stats,
               "v_teacher_norms": v_teacher.norms, "conditions": conditions, "timings": timings,
               "summary": summary, "students_reused": reused, "claims": [c.to_dict() for c in claims_from_summary(summary, exp, lm.fingerprint.short)],
               "seconds": round(time.perf_counter() - start, 1)}
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    result = ExperimentResult(exp, folder, metrics)
    result.figures = draw_figures(result, cosines)
    return result


def _loss_summary(history: Sequence[dict[str, Any]], window: int = 10) -> dict[str, Any]:
    """Loss curve end points: the mean of the first and of the last ``window`` logged steps."""
    losses = [float(h["loss"]) for h in history if "loss" in h]
    if not losses:
        return {"steps": 0, "loss_first": None, "loss_last": None, "loss_curve": []}
    k = min(window, len(losses))
    return {"steps": len(losses), "loss_first": sum(losses[:k]) / k, "loss_last": sum(losses[-k:]) / k,
            "loss_curve": losses}


def summary_json(path: str | Path) -> dict[str, Any]:
    """Read a run's ``metrics.json``."""
    return json.loads(Path(path).read_text())


__all__ = ["Experiment", "ExperimentResult", "StudentSpec", "build_teacher_vector", "build_teachers",
           "refresh_run", "run_experiment", "summary_json"]


def analysis_parser(description: str) -> Any:
    """The arguments every analysis script shares: ``--quick``, ``--out``, ``--model``, ``--seeds``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="CI size: a few rows, one seed")
    parser.add_argument("--out", default="runs", help="runs folder")
    parser.add_argument("--model", default=None, help="any load_model() source (default: embedded)")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds (full size default 3)")
    return parser


def sizes(quick: bool, seeds: int | None = None) -> dict[str, Any]:
    """Experiment sizes for ``--quick`` (CI plumbing) and full runs.

    Quick: 8 rows per teacher, one step per student (40-140 s per analysis measured with
    one thread beside another job). Full: 300 rows per teacher and 50 questions: a LoRA r8
    student takes 38 steps of batch 8, 3.6 min at the 5-6 s/step measured alone on 2 cores,
    a vector student at layer 25 1.5 min (2.2-3 s/step); 300 constrained rows take ~4.5 min
    per teacher. Pass ``n_rows`` to :class:`Experiment` for more.
    """
    if quick:
        return {"size": "quick", "png": False, "n_rows": 8, "n_vector_prompts": 6, "n_questions": 8, "n_align_prompts": 4, "max_new_tokens": 20,
                "seeds": tuple(range(seeds or 1))}
    return {"size": "full", "n_rows": 300, "n_vector_prompts": 64, "n_questions": 50, "n_align_prompts": 32, "max_new_tokens": 40,
            "seeds": tuple(range(seeds or 3))}
