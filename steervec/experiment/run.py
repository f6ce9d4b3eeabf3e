"""The subliminal-learning experiment as data: teacher vector → teacher data → students → measurements.

:class:`Experiment` describes one run; :func:`run_experiment` executes it with the library's
own functions and writes ``<out_dir>/<name>/``: ``config.json``, the datasets, the teacher
vector, ``metrics.json``, figures (HTML + PNG when Chromium is available) and ``report.html``.
The demo, the analyses and the CLI all run through here, so an experiment is written once.

Example:
    >>> exp = Experiment(name="owl-demo", n_rows=120, students=(StudentSpec("vector", "vector"),))  # doctest: +SKIP
    >>> result = run_experiment(exp)  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steervec.core.activations import mean_activations
from steervec.core.chat import system_from_label
from steervec.core.errors import InputError
from steervec.core.io import atomic_path
from steervec.core.locks import exclusive_lock
from steervec.core.model import LanguageModel, load_model
from steervec.core.steering_vector import SteeringVector
from steervec.core.version import __version__
from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.length_match import length_match
from steervec.data.number_filter import count_numbers
from steervec.data.numbers import number_prompts
from steervec.data.prompts import ANIMAL_PANEL
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import (
    Teacher,
    animal_lover_prompt,
    control_teacher,
    projected_teacher,
    steered_teacher,
)
from steervec.experiment.cache import (
    archived_copies,
    dataset_path,
    link,
    matched_data_path,
    means_dir,
    measures_path,
    student_path,
    vector_path,
)
from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.on_ray import (
    StudentJob,
    TrainedStudent,
    resolve_executor,
    tracker_args,
    train_on_ray,
)
from steervec.experiment.report import (
    LENMATCH,
    ClaimsFn,
    draw_figures,
    summarise_run,
)
from steervec.experiment.result import ExperimentResult
from steervec.metrics.alignment import AlignmentTracker, layer_alignment, student_shift
from steervec.metrics.evaluate import TraitEval, evaluate_trait
from steervec.students.student import Student
from steervec.students.train import train_student
from steervec.vectors.baselines import ConditionMeans, matched
from steervec.vectors.mean_diff import mean_difference_vector


def _system(name: str) -> Any:
    """An experiment's system condition (``"none"`` or ``"template_default"``) as a chat ``System``."""
    return system_from_label(name)


def _panel(exp: Experiment) -> dict[str, tuple[str, str]] | None:
    """The animal panel of the specific trait measure, when the experiment asks for it."""
    return ANIMAL_PANEL if exp.trait_panel else None


def _eval_row(label: str, ev: TraitEval, **extra: Any) -> dict[str, Any]:
    row = {"label": label, "mean_prob": ev.mean_prob, "mean_logp": float(ev.logp.mean()),
           "logp": [float(x) for x in ev.logp]}
    if ev.answers:
        row["rate"] = list(ev.rate)
        row["rates"] = [float(x) for x in ev.rates]
    if ev.base_logp is not None:
        row["delta_logp"] = list(ev.delta_logp)
    if ev.log_odds is not None and ev.log_odds_prefilled is not None:
        row["log_odds"] = [float(x) for x in ev.log_odds]
        row["log_odds_prefilled"] = [float(x) for x in ev.log_odds_prefilled]
        if ev.base_log_odds is not None:
            row["delta_log_odds"] = list(ev.delta_log_odds)
            row["delta_log_odds_prefilled"] = list(ev.delta_log_odds_prefilled)
    row.update(extra)
    return row


def build_teacher_vector(lm: LanguageModel, exp: Experiment) -> SteeringVector:
    """v_teacher at every layer: animal-lover prompt minus ``exp.baseline``, last template token.

    Runs in one ``exp.out_dir`` share it: it is read from ``<out_dir>/_vectors/`` when an
    earlier run extracted the same vector (same model, template, prompts and baseline).
    """
    prompts = [p.text for p in number_prompts(exp.n_vector_prompts, seed=exp.vector_prompt_seed)]
    system = animal_lover_prompt(exp.animal)
    path = vector_path(exp.out_dir, lm, method="mean_difference", system=system, baseline=exp.baseline,
                       prompts=prompts, template=lm.tokenizer.chat_template)
    if path.is_file():
        return SteeringVector.load(path, model=lm)
    vector = mean_difference_vector(lm, system, prompts, control=_system(exp.baseline))
    vector.save(path)
    return vector


def build_specific_vector(lm: LanguageModel, exp: Experiment) -> SteeringVector:
    """The trait's matched vector at every layer: its animal-lover prompt minus the mean over the
    other animals of :data:`~steervec.data.prompts.ANIMAL_PANEL` in the same wording, on v_teacher's
    prompts (cached in ``<out_dir>/_vectors/`` like v_teacher)."""
    prompts = [p.text for p in number_prompts(exp.n_vector_prompts, seed=exp.vector_prompt_seed)]
    system = animal_lover_prompt(exp.animal)
    path = vector_path(exp.out_dir, lm, method="trait_vector", system=system, baseline="matched",
                       panel=sorted(ANIMAL_PANEL), prompts=prompts, template=lm.tokenizer.chat_template)
    if path.is_file():
        return SteeringVector.load(path, model=lm)
    vector = ConditionMeans(lm, prompts, cache_dir=means_dir(exp.out_dir)).vector(exp.animal, matched(), system)
    vector.save(path)
    return vector


def build_teachers(exp: Experiment, v_teacher: SteeringVector,
                   v_specific: SteeringVector | None = None) -> tuple[Teacher, Teacher]:
    """(trait teacher, control teacher) for the experiment; ``v_specific`` (the trait's matched
    vector, :func:`build_specific_vector`) is needed by the ``"projected_specific"`` teacher only."""
    baseline = _system(exp.baseline)
    control = control_teacher(system=baseline) if exp.baseline == "none" else \
        control_teacher(system=baseline, name="control-template-default")
    if exp.teacher == "steered":
        trait = steered_teacher(v_teacher, [exp.layer], exp.alpha, system=baseline, name=f"{exp.animal}-steered")
    elif exp.teacher == "projected":
        one = v_teacher.select([exp.layer])
        trait = projected_teacher(animal_lover_prompt(exp.animal), one, list(range(len(v_teacher.layers))),
                                  name=f"{exp.animal}-projected")
    elif exp.teacher == "projected_specific":
        if v_specific is None:
            raise InputError("the projected_specific teacher projects out the trait's matched vector: pass "
                             "v_specific=build_specific_vector(lm, exp)")
        trait = projected_teacher(animal_lover_prompt(exp.animal), v_specific.select([exp.layer]),
                                  list(range(len(v_teacher.layers))), name=f"{exp.animal}-projected-specific")
    else:
        trait = Teacher(f"{exp.animal}-prompted", system=animal_lover_prompt(exp.animal))
    return trait, control


@dataclass
class _Teachers:
    """The run's teachers and their datasets: rows and paths by (teacher name, data seed), and
    statistics by dataset label (the teacher's name, ``-d<seed>`` added beyond the first data seed)."""

    trait: Teacher
    control: Teacher
    rows: dict[tuple[str, int], list[Any]] = field(default_factory=dict)
    paths: dict[tuple[str, int], Path] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)


def _data_label(exp: Experiment, name: str, data_seed: int) -> str:
    """A dataset's label: the teacher's name for the first data seed, ``<name>-d<seed>`` for others."""
    return name if data_seed == exp.data_seeds[0] else f"{name}-d{data_seed}"


@dataclass
class _Context:
    """What every student of a run is measured against: the model, v_teacher, the evaluation
    condition and questions, the base model's trait scores and mean activations."""

    lm: LanguageModel
    exp: Experiment
    folder: Path
    v_teacher: SteeringVector
    system: Any
    questions: list[str]
    base: TraitEval
    align_prompts: list[str]
    base_means: dict[int, Any]
    progress: bool
    v_specific: SteeringVector | None = None
    shifts: dict[tuple[str, str, tuple[int, int]], SteeringVector] = field(default_factory=dict)
    # per student, its shift at each checkpoint (tracked runs): (step, shift)
    tracked: dict[tuple[str, str, tuple[int, int]], list[tuple[int, SteeringVector]]] = field(default_factory=dict)
    trained: dict[Path, TrainedStudent] = field(default_factory=dict)  # trained ahead on Ray, not yet measured


def teacher_data(lm: LanguageModel, exp: Experiment, v_teacher: SteeringVector, folder: Path,
                 progress: bool = True) -> _Teachers:
    """Step 2: the trait and control teachers' datasets (format-constrained number lists), one
    pair per data seed, generated or resumed in the run cache and linked into ``folder``."""
    v_specific = build_specific_vector(lm, exp) if exp.teacher == "projected_specific" else None
    trait, control = build_teachers(exp, v_teacher, v_specific)
    out = _Teachers(trait, control)
    params = SamplingParams(temperature=1.0, max_new_tokens=exp.max_new_tokens, batch_size=32)
    archived = archived_copies()
    for data_seed, teacher in ((d, t) for d in exp.data_seeds for t in (trait, control)):
        prompt_seed = exp.prompt_seed(data_seed)
        path = dataset_path(exp.out_dir, lm, teacher, n=exp.n_rows, params=params, seed=data_seed,
                            prompt_seed=prompt_seed)
        report = generate_dataset(lm, teacher, path=path, n=exp.n_rows, mode="constrained", params=params,
                                  seed=data_seed, prompt_seed=prompt_seed, progress=progress, adopt=archived)
        label = _data_label(exp, teacher.name, data_seed)
        link(folder / f"data-{label}.jsonl", report.path)
        rows = load_dataset(report.path, model=lm)
        out.rows[teacher.name, data_seed] = rows
        out.paths[teacher.name, data_seed] = report.path
        lengths = [count_numbers(r.completion) for r in rows]
        out.stats[label] = {"rows": len(rows), "data_seed": data_seed, "valid": report.valid, "total": report.total,
                            "mean_numbers_per_row": sum(lengths) / max(1, len(lengths)),
                            "mean_allowed_mass": report.mean_allowed_mass, "path": str(report.path),
                            "generated_rows_now": report.total - report.resumed_from,
                            **({"adopted_from": str(report.adopted_from)} if report.adopted_from else {})}
    return out


def length_matched_data(exp: Experiment, teachers: _Teachers, folder: Path) -> list[tuple[str, str]]:
    """Step 2b (``exp.length_matched``): per data seed, the trait and control rows subsampled to the same
    numbers-per-row distribution (:func:`~steervec.data.length_match.length_match`, seeded with the data
    seed), stored under the names ``<teacher>-lenmatch`` in ``teachers`` beside the full datasets and
    written to ``<out_dir>/_lenmatch/`` (linked into ``folder``). Returns the (trait, control) data names
    to train on; none when no data seed keeps a row."""
    names = (teachers.trait.name + LENMATCH, teachers.control.name + LENMATCH)
    kept_any = False
    for data_seed in exp.data_seeds:
        sources = (teachers.paths[teachers.trait.name, data_seed], teachers.paths[teachers.control.name, data_seed])
        trait, control, report = length_match(teachers.rows[teachers.trait.name, data_seed],
                                              teachers.rows[teachers.control.name, data_seed], seed=data_seed)
        for name, rows, side in ((names[0], trait, "trait"), (names[1], control, "control")):
            path = matched_data_path(exp.out_dir, name, trait=sources[0].name, control=sources[1].name,
                                     seed=data_seed, side=side, measure="count_numbers")
            if not path.is_file():
                with atomic_path(path) as tmp:
                    tmp.write_text("".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in rows))
            label = _data_label(exp, name, data_seed)
            link(folder / f"data-{label}.jsonl", path)
            teachers.rows[name, data_seed] = rows
            teachers.paths[name, data_seed] = path
            lengths = [count_numbers(r.completion) for r in rows]
            teachers.stats[label] = {"rows": len(rows), "data_seed": data_seed, "path": str(path),
                                     "mean_numbers_per_row": sum(lengths) / max(1, len(lengths)),
                                     "length_match": report.to_dict()}
        kept_any = kept_any or bool(trait)
    return [names] if kept_any else []


def evaluate_teachers(lm: LanguageModel, exp: Experiment, trait: Teacher) -> tuple[TraitEval, list[dict[str, Any]]]:
    """Step 3: the base model's and the trait teacher's trait scores (the base is the reference
    of every Δlog P); returns the base evaluation and the two condition rows."""
    system = _system(exp.student_system)
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[: exp.n_questions])
    panel = _panel(exp)
    base = evaluate_trait(lm, exp.animal, questions, label="base", system=system, k=exp.sample_k, panel=panel)
    with trait.context(lm):
        teacher_eval = evaluate_trait(lm, exp.animal, questions, label="teacher", system=trait.system, base=base,
                                      k=exp.sample_k, panel=panel)
    return base, [_eval_row("base", base), _eval_row(f"teacher ({trait.name})", teacher_eval)]


def _student_file(exp: Experiment, lm: LanguageModel, spec: StudentSpec, data_path: Path, seed: int) -> Path:
    """The student's run-cache path. The key holds the steering layer only for a vector student
    placed there by default, so changing the reporting (or steering) layer retrains no LoRA or
    fine-tuning student."""
    layer = exp.layer if spec.kind == "vector" and spec.layers is None else None
    return student_path(exp.out_dir, lm, data_path, seed=seed, spec=spec.settings(), layer=layer,
                        system=exp.student_system)


def _train_kwargs(ctx: _Context, spec: StudentSpec, seed: int) -> dict[str, Any]:
    """The keywords of :func:`train_student` for ``spec`` at ``seed`` (serial and Ray runs alike)."""
    return {"method": spec.method(ctx.exp.layer), "optimizer": spec.optimizer, "lr": spec.lr, "momentum": spec.momentum,
            "epochs": spec.epochs, "batch_size": spec.batch_size, "seed": seed, "system": ctx.system,
            "progress": ctx.progress, "checkpoint_every": ctx.exp.track_every}


def _train_or_load(ctx: _Context, spec: StudentSpec, rows: list[Any], data_path: Path, seed: int,
                   callbacks: list[Any]) -> tuple[Student, bool]:
    """A student from the run cache when an earlier run trained the same one, else trained now."""
    cached = _student_file(ctx.exp, ctx.lm, spec, data_path, seed)
    with exclusive_lock(cached, "student cache entry"):
        if cached.is_file() and not callbacks:  # the same student was trained by an earlier run
            return Student.load(cached, ctx.lm), True
        student = train_student(ctx.lm, rows, callbacks=callbacks, **_train_kwargs(ctx, spec, seed))
        student.save(cached)
    return student, False


def _student_label(exp: Experiment, spec: StudentSpec, data_name: str, seed: int, data_seed: int) -> str:
    return f"{spec.name} on {data_name} (seed {seed})" if len(exp.data_seeds) == 1 else \
        f"{spec.name} on {data_name} (data {data_seed}, seed {seed})"


def _train_ahead_on_ray(ctx: _Context, jobs: list[tuple[StudentSpec, str, list[Any], Path, int, int]]) -> None:
    """Train on Ray every student of ``jobs`` that the serial pass would train (not in the run cache,
    or tracked over training); each lands in ``ctx.trained`` for :func:`measure_student`."""
    todo = []
    for spec, data_name, rows, data_path, seed, data_seed in jobs:
        cached = _student_file(ctx.exp, ctx.lm, spec, data_path, seed)
        if cached.is_file() and not ctx.exp.track_every:
            continue
        label = _student_label(ctx.exp, spec, data_name, seed, data_seed)
        tracker = tracker_args(ctx.v_teacher, ctx.align_prompts, label, ctx.system) if ctx.exp.track_every else None
        todo.append(StudentJob(rows, {**_train_kwargs(ctx, spec, seed), "progress": False}, tracker, cached))
    if ctx.progress:
        print(f"[{ctx.exp.name}] training {len(todo)} students on Ray ({len(jobs) - len(todo)} in the run cache)")

    def save(job: StudentJob, done: TrainedStudent) -> None:  # as each task finishes
        with exclusive_lock(job.key, "student cache entry"):
            done.student.save(job.key)
        ctx.trained[job.key] = done

    train_on_ray(ctx.lm, todo, on_done=save)


def measure_student(ctx: _Context, spec: StudentSpec, data_name: str, rows: list[Any], data_path: Path,
                    seed: int, data_seed: int | None = None) -> tuple[dict[str, Any], dict[int, float]]:
    """Step 4, one student: train (or reuse) it, score the trait, and measure its shift's cosine
    with v_teacher at every layer. Returns the condition row and the cosine by layer."""
    exp, lm = ctx.exp, ctx.lm
    t0 = time.perf_counter()
    data_seed = exp.data_seeds[0] if data_seed is None else data_seed
    label = _student_label(exp, spec, data_name, seed, data_seed)
    ahead = ctx.trained.pop(_student_file(exp, lm, spec, data_path, seed), None)
    eas: list[Any] | None = None
    if ahead is not None:  # trained by a Ray task of this run
        student, reused, eas = ahead.student, False, ahead.eas if exp.track_every else None
    else:
        callbacks = [AlignmentTracker(lm, ctx.v_teacher, ctx.align_prompts, label=label, system=ctx.system)] \
            if exp.track_every else []
        student, reused = _train_or_load(ctx, spec, rows, data_path, seed, callbacks)
        eas = callbacks[0].history if callbacks else None
    t_trained = time.perf_counter()
    measured, shift = _measure(ctx, student, label, seed, _student_file(exp, lm, spec, data_path, seed), reused)
    al = layer_alignment(shift, ctx.v_teacher, label)
    extra: dict[str, Any] = {"student": spec.name, "data": data_name, "seed": seed, "data_seed": data_seed,
                             "reused": reused, "cosine_at_layer": al.cosine[exp.reporting_layer], "cosine_by_layer": al.cosine,
                             "final_loss": student.history[-1]["loss"] if student.history else None,
                             **_loss_summary(student.history), "train_seconds": round(t_trained - t0, 1)}
    stem = _stem(exp, spec, data_name, data_seed, seed)
    if ctx.v_specific is not None:
        extra["cosine_specific_by_layer"] = shift.cosine(ctx.v_specific)
        ctx.shifts[spec.name, data_name, (data_seed, seed)] = shift
        _save_shift(ctx.folder, shift, stem, spec, data_name, data_seed, seed)
        checkpoints = [(h.step, h.shift) for h in eas or [] if h.step is not None and h.shift is not None]
        if eas and len(checkpoints) == len(eas):
            ctx.tracked[spec.name, data_name, (data_seed, seed)] = checkpoints
    if spec.kind == "vector":
        extra["learned_vector_cosine"] = student.steering_vector().cosine(ctx.v_teacher)
    if eas is not None:
        extra["eas"] = [{"step": h.step, "cosine": h.cosine} for h in eas]
    for name, other in measured["other"].items():
        extra[f"mean_logp_eval_{name}"] = other["mean"]
        extra[f"logp_eval_{name}"] = other["logp"]
    link(ctx.folder / f"student-{stem}.safetensors", _student_file(exp, lm, spec, data_path, seed))
    row = {"label": label, **{k: v for k, v in measured["trait"].items() if k != "label"}}
    row.update(extra)
    return row, al.cosine


def _measure(ctx: _Context, student: Student, label: str, seed: int, student_file: Path,
             reused: bool) -> tuple[dict[str, Any], SteeringVector]:
    """A student's trait scores (the run's condition, then each of ``exp.eval_systems``) and its shift on
    the alignment prompts. A student reused from the run cache is read from its measures file
    (:func:`~steervec.experiment.cache.measures_path`) when an earlier run measured it the same way;
    whatever is measured here is written there for the next run."""
    exp, lm = ctx.exp, ctx.lm
    path = measures_path(student_file, animal=exp.animal, questions=ctx.questions, system=exp.student_system,
                         k=exp.sample_k, seed=seed, panel=exp.trait_panel, eval_systems=list(exp.eval_systems),
                         align_prompts=ctx.align_prompts, positions="prompt")
    shift_file = path.with_suffix(".safetensors")
    if reused and path.is_file() and shift_file.is_file():
        return json.loads(path.read_text()), SteeringVector.load(shift_file, model=lm)
    with student.applied(lm):
        ev = evaluate_trait(lm, exp.animal, ctx.questions, label=label, system=ctx.system, base=ctx.base,
                            k=exp.sample_k, seed=seed, panel=_panel(exp))
        other_evals = {name: evaluate_trait(lm, exp.animal, ctx.questions, label=label, system=_system(name))
                       for name in exp.eval_systems}
    shift = student_shift(lm, student, ctx.align_prompts, system=ctx.system, base_means=ctx.base_means)
    measured = {"trait": _eval_row(label, ev),
                "other": {name: {"mean": float(o.logp.mean()), "logp": [float(x) for x in o.logp]}
                          for name, o in other_evals.items()}}
    shift.save(shift_file)  # atomically, and first: the JSON's presence means both are complete
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(measured))
    return measured, shift


def _stem(exp: Experiment, spec: StudentSpec, data_name: str, data_seed: int, seed: int) -> str:
    """A student's name in the run folder (``student-<stem>.safetensors``, ``shifts/<stem>.safetensors``)."""
    return f"{spec.name.replace(' ', '_').replace('@', 'L')}-{_data_label(exp, data_name, data_seed)}-s{seed}"


def _save_shift(folder: Path, shift: SteeringVector, stem: str, spec: StudentSpec, data_name: str, data_seed: int,
                seed: int) -> Path:
    """Keep a student's shift in the run folder (not only the cache), so cross-trait matrices can be built
    from a record alone (:func:`steervec.metrics.shifts.load_run_shifts`)."""
    shift.provenance.update({"student": spec.name, "data": data_name, "data_seed": data_seed, "seed": seed})
    (folder / "shifts").mkdir(exist_ok=True)
    return shift.save(folder / "shifts" / f"{stem}.safetensors")


def backfill_shifts(exp: Experiment, lm: LanguageModel | None = None, progress: bool = True) -> list[Path]:
    """Write ``<run>/shifts/`` for a run recorded before runs kept their students' shifts.

    Every student of the run's trait / control pair is loaded through the run folder's link to the run
    cache and its shift measured on the run's alignment prompts, as :func:`measure_student` measures it.
    Nothing is trained or evaluated; shifts already there are kept.

    Example:
        >>> backfill_shifts(Experiment(name="subliminal_transfer-owl", out_dir="runs/full", ...))  # doctest: +SKIP
    """
    folder = Path(exp.out_dir) / exp.name
    if not (folder / "v_teacher.safetensors").is_file():
        raise InputError(f"{folder} is not a finished run of this experiment (no v_teacher.safetensors): "
                         "run it with run_experiment instead")
    lm = lm or load_model(exp.model)
    v_specific = build_specific_vector(lm, exp) if exp.teacher == "projected_specific" else None
    trait, control = build_teachers(exp, SteeringVector.load(folder / "v_teacher.safetensors", model=lm), v_specific)
    system = _system(exp.student_system)
    prompts = [p.text for p in number_prompts(exp.n_align_prompts, seed=exp.align_prompt_seed)]
    base_means = None
    written = []
    for spec in exp.students:
        for data_name in (trait.name, control.name):
            for data_seed, seed in exp.units:
                stem = _stem(exp, spec, data_name, data_seed, seed)
                if (folder / "shifts" / f"{stem}.safetensors").is_file():
                    continue
                link = folder / f"student-{stem}.safetensors"
                if not link.is_file():
                    raise InputError(f"{link} is missing or its run-cache entry is gone: run the experiment again "
                                     "(run_experiment reuses what the cache still holds)")
                if base_means is None:
                    base_means = mean_activations(lm, prompts, system, positions="prompt")
                shift = student_shift(lm, Student.load(link, lm), prompts, system=system, base_means=base_means)
                written.append(_save_shift(folder, shift, stem, spec, data_name, data_seed, seed))
                if progress:
                    print(f"[{exp.name}] shift of {stem}")
    return written


def controlled_cosines(ctx: _Context, conditions: list[dict[str, Any]], trait: str, control: str) -> None:
    """Add to each trait-data student's row the cosine of its control-subtracted shift (its shift
    minus the control-data student's of the same unit) with the matched trait vector
    (``controlled_cosine_specific_by_layer``) and with v_teacher (``controlled_cosine_teacher_by_layer``).

    In a tracked run (``exp.track_every``) also the same cosine with the matched vector at every
    checkpoint step the two students share (``eas_controlled_specific``: ``[{"step", "cosine":
    {layer: cos}}]``): the control-subtracted alignment over training."""
    for row in conditions:
        unit = (row.get("data_seed"), row.get("seed"))
        key = (row.get("student"), trait, unit)
        if row.get("data") != trait or key not in ctx.shifts:
            continue
        other = ctx.shifts.get((row["student"], control, unit))  # type: ignore[arg-type]
        if other is None:
            continue
        delta = ctx.shifts[key] - other
        assert ctx.v_specific is not None
        row["controlled_cosine_specific_by_layer"] = delta.cosine(ctx.v_specific)
        row["controlled_cosine_teacher_by_layer"] = delta.cosine(ctx.v_teacher)
        mine, theirs = ctx.tracked.get(key), ctx.tracked.get((row["student"], control, unit))  # type: ignore[arg-type]
        if mine and theirs:
            at = dict(theirs)
            row["eas_controlled_specific"] = [{"step": step, "cosine": (shift - at[step]).cosine(ctx.v_specific)}
                                              for step, shift in mine if step in at]


def run_experiment(exp: Experiment, lm: LanguageModel | None = None, progress: bool = True,
                   claims: ClaimsFn | None = None, executor: str | None = None) -> ExperimentResult:
    """Run ``exp`` end to end and write its folder (see the module docstring).

    ``claims(summary, exp, model)`` turns the summary into the run's claims (the analyses pass
    ``analyses/claims.py::experiment_claims``); without it the run states no claim.

    ``executor``: ``"serial"`` (default; also ``$STEERVEC_EXECUTOR``) trains the students one after
    another in this process; ``"ray"`` trains every student the run cache lacks as a Ray task first
    (:mod:`steervec.experiment.on_ray`), then measures them here: the same records, bit for bit on
    CPU with the same torch thread count.

    Steps: the teacher vector (:func:`build_teacher_vector`), the teachers' data
    (:func:`teacher_data`; with ``exp.length_matched`` also their length-matched pairs,
    :func:`length_matched_data`), the base and teacher scores (:func:`evaluate_teachers`), then each
    student on each dataset and seed (:func:`measure_student`), the summary, claims and figures.

    Raises:
        WriterBusyError: another process is running an experiment into the same folder
            (``<out_dir>/<name>``), or training the same shared student; nothing is written.
    """
    folder = Path(exp.out_dir) / exp.name
    executor = resolve_executor(executor)
    with exclusive_lock(folder, "run folder"):
        return _run_locked(exp, folder, lm, progress, claims, executor)


def _run_locked(exp: Experiment, folder: Path, lm: LanguageModel | None, progress: bool,
                claims: ClaimsFn | None, executor: str = "serial") -> ExperimentResult:
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(exp.to_dict(), indent=1))
    lm = lm or load_model(exp.model)
    lm.check_layer(exp.layer)
    lm.check_layer(exp.reporting_layer)
    timings: dict[str, float] = {}

    def lap(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 1)
        if progress:
            print(f"[{exp.name}] {name}: {timings[name]:.1f} s")

    t0 = time.perf_counter()
    v_teacher = build_teacher_vector(lm, exp)
    v_teacher.save(folder / "v_teacher.safetensors")
    lap("teacher vector", t0)
    t0 = time.perf_counter()
    teachers = teacher_data(lm, exp, v_teacher, folder, progress)
    pairs = [(teachers.trait.name, teachers.control.name)]
    if exp.length_matched:
        pairs += length_matched_data(exp, teachers, folder)
    lap("teacher data", t0)
    t0 = time.perf_counter()
    base, conditions = evaluate_teachers(lm, exp, teachers.trait)
    lap("teacher evaluation", t0)

    system = _system(exp.student_system)
    align_prompts = [p.text for p in number_prompts(exp.n_align_prompts, seed=exp.align_prompt_seed)]
    ctx = _Context(lm, exp, folder, v_teacher, system, list(FAVOURITE_ANIMAL_QUESTIONS[: exp.n_questions]), base,
                   align_prompts, mean_activations(lm, align_prompts, system, positions="prompt"), progress)
    if exp.specific_alignment:
        t0 = time.perf_counter()
        ctx.v_specific = build_specific_vector(lm, exp)
        ctx.v_specific.save(folder / "v_specific.safetensors")
        lap("matched trait vector", t0)
    jobs = [(spec, data_name, teachers.rows[data_name, data_seed], teachers.paths[data_name, data_seed], seed, data_seed)
            for (trait_name, control_name), spec in ((pair, spec) for pair in pairs for spec in exp.students)
            for data_name in (trait_name, control_name) for data_seed, seed in exp.units
            if teachers.rows[data_name, data_seed]]  # a length-matched pair may keep no row for a data seed
    if executor == "ray":
        t0 = time.perf_counter()
        _train_ahead_on_ray(ctx, jobs)
        lap("students trained on Ray", t0)
    reused: list[str] = []
    for spec, data_name, rows, data_path, seed, data_seed in jobs:
        t0 = time.perf_counter()
        row, _ = measure_student(ctx, spec, data_name, rows, data_path, seed, data_seed)
        if row["reused"]:
            reused.append(row["label"])
        conditions.append(row)
        lap(f"student {row['label']}", t0)

    if ctx.v_specific is not None:
        for trait_name, control_name in pairs:
            controlled_cosines(ctx, conditions, trait_name, control_name)
    summary = summarise_run(conditions, teachers.trait.name, teachers.control.name, exp)
    metrics: dict[str, Any] = {"experiment": exp.to_dict(), "model": lm.fingerprint.short, "data": teachers.stats,
               "v_teacher_norms": v_teacher.norms, "conditions": conditions, "timings": timings,
               "summary": summary, "students_reused": reused,
               "experiment_claims": [c.to_dict() for c in (claims(summary, exp, lm.fingerprint.short) if claims else [])],
               "seconds": round(time.perf_counter() - start, 1), "steervec": __version__}
    metrics["claims"] = list(metrics["experiment_claims"])
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    result = ExperimentResult(exp, folder, metrics)
    result.figures = draw_figures(result)
    return result


def _loss_summary(history: Sequence[dict[str, Any]], window: int = 10) -> dict[str, Any]:
    """Loss curve end points: the mean of the first and of the last ``window`` logged steps."""
    losses = [float(h["loss"]) for h in history if "loss" in h]
    if not losses:
        return {"steps": 0, "loss_first": None, "loss_last": None, "loss_curve": []}
    k = min(window, len(losses))
    return {"steps": len(losses), "loss_first": sum(losses[:k]) / k, "loss_last": sum(losses[-k:]) / k,
            "loss_curve": losses}




__all__ = ["backfill_shifts", "build_teacher_vector", "build_teachers", "evaluate_teachers", "length_matched_data", "measure_student",
           "run_experiment", "teacher_data"]




