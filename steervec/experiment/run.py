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
from pathlib import Path
from typing import Any

from steervec.core.activations import mean_activations
from steervec.core.io import atomic_path
from steervec.core.model import LanguageModel, load_model
from steervec.core.steering_vector import SteeringVector
from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.number_filter import count_numbers
from steervec.data.numbers import number_prompts
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import (
    Teacher,
    animal_lover_prompt,
    control_teacher,
    projected_teacher,
    steered_teacher,
)
from steervec.experiment.cache import dataset_path, link, student_path, vector_path
from steervec.experiment.config import Experiment
from steervec.experiment.report import (
    claims_from_summary,
    draw_figures,
    summarise_conditions,
)
from steervec.experiment.result import ExperimentResult
from steervec.metrics.alignment import AlignmentTracker, layer_alignment, student_shift
from steervec.metrics.evaluate import TraitEval, evaluate_trait
from steervec.students.student import Student
from steervec.students.train import train_student
from steervec.vectors.mean_diff import mean_difference_vector


def _system(name: str) -> Any:
    from steervec.core.chat import TEMPLATE_DEFAULT

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
        lengths = [count_numbers(r.completion) for r in rows]
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




__all__ = ["build_teacher_vector", "build_teachers",
           "run_experiment"]




