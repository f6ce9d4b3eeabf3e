"""Why a vector student of the *prompted* owl teacher moves the trait so little: the gap between what it
learns from the teacher's sampled tokens and the best vector the same rows allow.

The teacher is the base model with the owl system prompt (:func:`~steervec.data.teachers.animal_teacher`);
its number lists are the project's usual teacher data. Two vector students at one layer are trained on
the same rows with no system turn:

* **hard** — cross-entropy on the teacher's sampled tokens (what ``run_experiment`` trains);
* **soft** — KL(teacher ‖ student) at the response positions against the prompted teacher's full
  next-token distribution, computed in the step (:class:`~steervec.students.distill.OnlineTeacher`).
  This is fitting a steering vector to the prompted model on these rows (what
  :func:`~steervec.vectors.fit.fit_steering_vector` does on prompts): the best single vector at
  that layer for this data, under the loss that sees everything the teacher knows.

Each is measured by Δlog P(owl) over the base model (no system turn) against the prompted teacher's
own Δ, by KL(teacher ‖ student) on held-out teacher rows as a fraction of KL(teacher ‖ base), and by
its cosine with the owl vector against no system turn and against the matched baseline (the mean over
other animals in the same wording, :func:`~steervec.vectors.baselines.matched`).

Example:
    >>> gap = prompted_gap(lm, "runs", seeds=(0, 1, 2))  # doctest: +SKIP
    >>> gap.rows[0]["trait_delta"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from steervec.core.io import atomic_path
from steervec.core.model import LanguageModel
from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.numbers import number_prompts
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import animal_teacher
from steervec.experiment.cache import dataset_path, student_path
from steervec.metrics.planted import distillation_kl
from steervec.metrics.trait import trait_logprob
from steervec.students.distill import OnlineTeacher
from steervec.students.methods import VectorStudent
from steervec.students.student import Student
from steervec.students.train import train_student
from steervec.vectors.baselines import ConditionMeans, matched, no_system


@dataclass(frozen=True)
class GapConfig:
    """The prompted-teacher gap as data.

    Args:
        layer: the vector students' layer; ``n_rows`` training rows (plus ``n_heldout`` held-out teacher
            rows for the KL fraction) per data seed; ``steps`` of ``batch_size`` rows; Adam lr
            ``lr_scale · |v_owl| / sqrt(d_model)`` with ``|v_owl|`` the no-system owl vector's norm at ``layer``.
        seeds: replicates, each with its own data seed and training seed (equal).
        questions: favourite-animal questions for Δlog P(owl); ``n_vector_prompts``: number prompts for
            the owl vectors.
    """

    layer: int = 25
    n_rows: int = 256
    n_heldout: int = 32
    steps: int = 40
    batch_size: int = 8
    lr_scale: float = 0.4
    seeds: tuple[int, ...] = (0, 1, 2)
    questions: int = 20
    n_vector_prompts: int = 32
    max_new_tokens: int = 40

    @classmethod
    def quick(cls) -> GapConfig:
        return cls(n_rows=4, n_heldout=2, steps=2, batch_size=2, seeds=(0,), questions=2, n_vector_prompts=2,
                   max_new_tokens=12)


@dataclass
class GapResult:
    """One row per student (``loss``, ``seed``, ``trait_delta``, ``trait_fraction``, ``kl_fraction``,
    ``cos_no_system``, ``cos_matched``, ``norm``) and the teacher's own Δlog P(owl)."""

    config: dict[str, Any]
    teacher_trait: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _owl_logp(lm: LanguageModel, questions: list[str]) -> Any:
    return trait_logprob(lm, questions, "owl", system=None).logp.float().cpu()


def _cos(u: Any, v: Any) -> float:
    import torch

    return float(torch.nn.functional.cosine_similarity(u.flatten(), v.float().flatten(), dim=0))


def prompted_gap(lm: LanguageModel, out_dir: str | Path, config: GapConfig = GapConfig(),
                 progress: bool = True) -> GapResult:
    """Train and measure the hard and soft vector students of the prompted owl teacher (module docstring).
    Datasets and students are cached under ``out_dir`` (``_datasets/``, ``_students/``)."""
    start = time.perf_counter()
    teacher = animal_teacher("owl")
    layer = lm.check_layer(config.layer)
    means = ConditionMeans(lm, [p.text for p in number_prompts(config.n_vector_prompts, seed=20_000)], layers=[layer])
    v_none = means.vector("owl", no_system(), teacher.system)[layer]  # type: ignore[arg-type]
    v_matched = means.vector("owl", matched(), teacher.system)[layer]  # type: ignore[arg-type]
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[:config.questions])
    base = _owl_logp(lm, questions)
    teacher_trait = float((trait_logprob(lm, questions, "owl", system=teacher.system).logp.float().cpu() - base).mean())
    result = GapResult(asdict(config), teacher_trait)
    lr = config.lr_scale * float(v_none.norm()) / math.sqrt(lm.d_model)
    params = SamplingParams(temperature=1.0, max_new_tokens=config.max_new_tokens, batch_size=32)
    n = config.n_rows + config.n_heldout
    for seed in config.seeds:
        path = dataset_path(out_dir, lm, teacher, kind="numbers", n=n, params=params, seed=seed)
        report = generate_dataset(lm, teacher, path=path, n=n, mode="constrained", params=params, seed=seed,
                                  prompt_seed=seed, progress=progress)
        rows = load_dataset(report.path, model=lm)
        if len(rows) < n:
            raise ValueError(f"{report.path} holds {len(rows)} valid rows, fewer than {n}: lower GapConfig.n_rows")
        train, heldout = rows[:config.n_rows], rows[config.n_rows:n]
        for loss in ("ce", "kl_online"):
            settings = {"method": "vector", "layer": layer, "loss": loss, "n_rows": len(train), "lr": lr,
                        "optimizer": "adam", "steps": config.steps, "batch_size": config.batch_size, "seed": seed,
                        "system": "none", "kl_positions": "response" if loss == "kl_online" else None}
            file = student_path(out_dir, lm, report.path, **settings)
            if file.is_file():
                student = Student.load(file, lm)
            else:
                student = train_student(
                    lm, train, VectorStudent(layers=(layer,)), optimizer="adam", lr=lr,
                    epochs=math.ceil(config.steps * config.batch_size / len(train)), max_steps=config.steps,
                    batch_size=config.batch_size, seed=seed, system=None, loss=loss,
                    teacher=OnlineTeacher(teacher, "response") if loss == "kl_online" else None, progress=False)
                student.save(file)
            u = student.tensors[f"layer.{layer}"].float().cpu()
            with student.applied(lm):
                delta = _owl_logp(lm, questions) - base
            kl = distillation_kl(lm, teacher, student, heldout, positions="response")
            result.rows.append({
                "loss": loss, "seed": seed, "layer": layer, "n_rows": len(train), "steps": config.steps,
                "trait_delta": float(delta.mean()), "trait_fraction": float(delta.mean()) / teacher_trait,
                "trait_delta_by_question": [float(x) for x in delta], "kl_fraction": kl.fraction,
                "student_kl": kl.student_kl, "base_kl": kl.base_kl, "cos_no_system": _cos(u, v_none),
                "cos_matched": _cos(u, v_matched), "norm": float(u.norm()),
                "norm_no_system": float(v_none.norm()), "norm_matched": float(v_matched.norm()),
                "final_loss": student.history[-1]["loss"] if student.history else None})
    result.seconds = round(time.perf_counter() - start, 1)
    return result


def save_gap(result: GapResult, path: str | Path) -> Path:
    """Write ``result`` as JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=1))
    return Path(path)


__all__ = ["GapConfig", "GapResult", "prompted_gap", "save_gap"]
