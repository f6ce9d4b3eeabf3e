"""Claims (Schrodi et al. 2026): a few "divergence tokens" carry the transfer — loss on them alone
keeps it, loss on all other tokens removes most of it.

Owl-teacher number data (T=1, format-constrained, the same teacher datasets the owl run trains on:
the run cache shares them) and, for the share at greedy decoding, T=0 data of the first data seed;
divergence tokens against the no-system-prompt teacher; LoRA students trained on all tokens,
divergence tokens only, all but them, and a random mask with as many tokens per row as the
divergence mask (seeded: the control that tells "these tokens" from "this few tokens"), compared
with a control-data student of the same data and training seed and, for the random mask, with the
divergence-only student. ``--data-seeds K`` repeats all of it on K teacher datasets (each with its own
divergence masks); each data seed's value is the mean over its training seeds, and the verdicts
read one value per data seed. ``--trait-panel`` adds the specific trait measure (owl's log-odds
against the animal panel at the answer position and after the prefill) beside Δlog P.

    python analyses/divergence_tokens.py --quick
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from analysis_kit import analysis_parser, sizes
from claims import DIVERGENCE_MEASURES, RANDOM_MASK, divergence_study_claims

from steervec import plots
from steervec.core.io import atomic_path, json_sha
from steervec.core.model import load_model
from steervec.core.version import __version__
from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.divergence import DivergenceResult, divergence_masks
from steervec.data.mask_controls import mask_share, random_masks_like
from steervec.data.prompts import ANIMAL_PANEL
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import Teacher, animal_lover_prompt, control_teacher
from steervec.experiment.cache import (
    archived_copies,
    dataset_path,
    link,
    measures_path,
    student_path,
)
from steervec.experiment.config import Experiment
from steervec.metrics.evaluate import evaluate_trait, mean_ci
from steervec.students.methods import LoRA
from steervec.students.student import Student
from steervec.students.train import train_student

MASK_SEED = 0
"""Seed of the random-mask control's positions: data seed ``d``, training seed ``s`` draws with
``MASK_SEED + 100 * (d - 1) + s`` (data seed 1: ``MASK_SEED + s``, the quick runs' seeds before data seeds), so the
seed-level verdict also sees how much the placement varies; the count per row is the divergence mask's."""
RANDOM = RANDOM_MASK
CONTROL = "control data"
LABELS = ("all tokens", "divergence only", "all but divergence", RANDOM, CONTROL)
MEASURES = ("logp", "log_odds", "log_odds_prefilled")


def teachers() -> tuple[Teacher, Teacher]:
    """(owl teacher, control teacher): the owl run's own (``experiment.run.build_teachers`` of a prompted owl
    experiment with baseline 'none', tested), so the run cache shares their datasets with it."""
    return Teacher("owl-prompted", system=animal_lover_prompt("owl")), control_teacher(system=None)


def cached_masks(lm: Any, out: str, rows: list, data_path: Path, teacher: Teacher) -> DivergenceResult:
    """:func:`~steervec.data.divergence.divergence_masks` of ``rows`` against the no-system-turn teacher, kept in
    ``<out>/_divergence/<key>.pt`` (the key: model, version, the dataset file's name, which holds its content key,
    and both teachers), so a re-run with more training seeds does not repeat the teacher passes (~2.5 min a
    dataset at full size)."""
    none = Teacher("none", system=None)
    key = json_sha({"model": lm.fingerprint.short, "version": __version__, "data": data_path.name,
                    "teacher": teacher.to_dict(), "counterfactuals": [none.to_dict()], "mode": "any"})[:16]
    path = Path(out) / "_divergence" / f"{key}.pt"
    if path.is_file():
        saved = torch.load(path)
        return DivergenceResult(saved["masks"], saved["teacher_agrees"], saved["teacher"], saved["counterfactuals"])
    div = divergence_masks(lm, rows, teacher, [none])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"masks": div.masks, "teacher_agrees": div.teacher_agrees, "teacher": div.teacher,
                    "counterfactuals": div.counterfactuals}, tmp)
    return div


def mask_seed(data_seed: int, seed: int) -> int:
    """The random mask's seed for one data seed and training seed (see :data:`MASK_SEED`)."""
    return MASK_SEED + 100 * (data_seed - 1) + seed


def measure_student(lm: Any, student: Student, student_file: Path, label: str, questions: list[str], base: Any,
                    panel: dict | None) -> dict[str, Any]:
    """The student's trait scores on ``questions`` (log P(owl), and the panel log-odds when ``panel``), read
    from its measures file (:func:`~steervec.experiment.cache.measures_path`, keyed on the student file and
    every input) when an earlier run measured it the same way, else measured and written there."""
    path = measures_path(student_file, study="divergence_tokens", animal="owl", questions=questions, system="none",
                         panel=sorted(panel) if panel else None, base=[float(x) for x in base.logp])
    if path.is_file():
        return json.loads(path.read_text())
    with student.applied(lm):
        ev = evaluate_trait(lm, "owl", questions, label=label, system=None, base=base, panel=panel)
    row: dict[str, Any] = {"logp": [float(x) for x in ev.logp], "delta_logp": list(ev.delta_logp),
                           "final_loss": student.history[-1]["loss"] if student.history else None}
    if panel is not None:
        row["log_odds"] = [float(x) for x in ev.log_odds]
        row["log_odds_prefilled"] = [float(x) for x in ev.log_odds_prefilled]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(row, default=float))
    return row


def main(argv: list[str] | None = None) -> int:
    args = analysis_parser(__doc__.splitlines()[0]).parse_args(argv)
    size = sizes(args.quick, args.seeds, args.data_seeds, args.trait_panel)
    folder = Path(args.out) / "divergence_tokens"
    folder.mkdir(parents=True, exist_ok=True)
    lm = load_model(args.model)
    data_seeds: tuple[int, ...] = size.get("data_seeds", (1,))
    seeds = size["seeds"]
    panel = ANIMAL_PANEL if size.get("trait_panel") else None
    owl, control = teachers()
    metrics: dict = {"data_seeds": list(data_seeds), "seeds": list(seeds), "shares": {"T=0": [], "T=1": []},
                     "per_data_seed": {}, "students": {}, "trait_panel": bool(panel)}
    data, paths, masks = {}, {}, {}
    for d in data_seeds:
        for temp in (0.0, 1.0) if d == data_seeds[0] else (1.0,):  # the greedy share: first data seed only
            params = SamplingParams(temperature=temp, max_new_tokens=size["max_new_tokens"], batch_size=32)
            for teacher in (owl, control) if temp == 1.0 else (owl,):
                path = dataset_path(args.out, lm, teacher, n=size["n_rows"], params=params, seed=d,
                                    prompt_seed=Experiment.prompt_seed(d))
                rep = generate_dataset(lm, teacher, path=path, n=size["n_rows"], mode="constrained", params=params,
                                       seed=d, prompt_seed=Experiment.prompt_seed(d), adopt=archived_copies())
                data[teacher.name, temp, d] = load_dataset(rep.path, model=lm)
                paths[teacher.name, temp, d] = rep.path
                link(folder / f"data-{teacher.name}-T{temp:g}-d{d}.jsonl", rep.path)  # archived with the record
            div = cached_masks(lm, args.out, data[owl.name, temp, d], paths[owl.name, temp, d], owl)
            metrics["shares"][f"T={temp:g}"].append(div.share)
            metrics["per_data_seed"].setdefault(str(d), {})[f"T={temp:g}"] = {
                "share": div.share, "teacher_agreement": div.agreement, "tokens": div.n_tokens,
                "path": str(paths[owl.name, temp, d])}
            if temp == 1.0:
                masks[d] = div
    random_masks = {(d, s): random_masks_like(masks[d].masks, seed=mask_seed(d, s)) for d in data_seeds for s in seeds}
    metrics["random_mask"] = {
        f"data {d}, seed {s}": {"seed": mask_seed(d, s), "divergence_share": masks[d].share,
                                "share": mask_share(random_masks[d, s]),
                                "overlap_with_divergence": sum(int((r & m).sum()) for r, m in
                                                               zip(random_masks[d, s], masks[d].masks, strict=True))}
        for d in data_seeds for s in seeds}
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[: size["n_questions"]])
    config = {"name": "divergence_tokens", "model": args.model, "size": size["size"], "n_rows": size["n_rows"],
              "max_new_tokens": size["max_new_tokens"], "n_questions": len(questions), "data_seeds": list(data_seeds),
              "prompt_seeds": [Experiment.prompt_seed(d) for d in data_seeds], "seeds": list(seeds),
              "teacher": owl.to_dict(), "control": control.to_dict(), "counterfactual": "no system turn",
              "student": {"method": "lora", "rank": 8, "lora_alpha": 8.0, "lr": 1e-3, "epochs": 1, "system": "none"},
              "mask_seed": {f"data {d}, seed {s}": mask_seed(d, s) for d in data_seeds for s in seeds},
              "trait_panel": sorted(panel) if panel else None}
    (folder / "config.json").write_text(json.dumps(config, indent=1, default=str))
    base = evaluate_trait(lm, "owl", questions, label="base", system=None, panel=panel)
    method = LoRA(rank=8, alpha=8.0)
    epochs = 1  # full size too: keeps all seven analyses within a few hours on 2 cores
    # per (label, data seed, training seed): the questions' values of each measure
    values: dict[tuple[str, int, int], dict[str, list[float]]] = {}
    for d in data_seeds:
        for label in LABELS:
            teacher = control.name if label == CONTROL else owl.name
            loss_masks = {"divergence only": masks[d].masks, "all but divergence": masks[d].complement(),
                          RANDOM: masks[d].masks}.get(label)
            if loss_masks is not None and not any(bool(m.any()) for m in loss_masks):
                metrics["students"][f"{label} (data {d})"] = "no divergence tokens: nothing to train on"
                continue
            for seed in seeds:  # students cached by content key: a rerun with more seeds trains only the new ones
                extra = {"mask_seed": mask_seed(d, seed)} if label == RANDOM else {}  # the others keep their keys
                seed_masks = random_masks[d, seed] if label == RANDOM else loss_masks
                cached = student_path(folder, lm, paths[teacher, 1.0, d], seed=seed, label=label, method="lora r8 a8",
                                      lr=1e-3, epochs=epochs, system="none", **extra)
                if cached.is_file():
                    student = Student.load(cached, lm)
                else:
                    student = train_student(lm, data[teacher, 1.0, d], method=method, lr=1e-3, epochs=epochs,
                                            seed=seed, system=None, loss_masks=seed_masks)
                    student.save(cached)
                row = measure_student(lm, student, cached, label, questions, base, panel)
                values[label, d, seed] = {m: row[m] for m in MEASURES if m in row}
                metrics["students"].setdefault(label, {"per_seed": []})["per_seed"].append(
                    {"data_seed": d, "seed": seed, **row})
    several = len(data_seeds) > 1
    metrics["seed_unit"] = "data seed" if several else "training seed"

    def seed_level(a: str, b: str, measure: str) -> tuple[list[float], list[float]]:
        """(per unit, per (data seed, seed)) mean over questions of ``a`` − ``b``, paired by data and training seed."""
        pairs = {(d, s): float(torch.tensor(values[a, d, s][measure]).sub(torch.tensor(values[b, d, s][measure]))
                               .mean()) for d in data_seeds for s in seeds if (a, d, s) in values and (b, d, s) in values}
        if not several:
            return [pairs[d, s] for d, s in pairs], list(pairs.values())
        units = [sum(pairs[d, s] for s in seeds) / len(seeds) for d in data_seeds if all((d, s) in pairs for s in seeds)]
        return units, list(pairs.values())

    measures = MEASURES if panel is not None else MEASURES[:1]
    for measure in measures:  # the numbers the claims are decided on, stored so rederive.py can decide them again
        for label in ("divergence only", "all but divergence", "all tokens", RANDOM):
            if any((label, d, s) in values for d in data_seeds for s in seeds) and \
                    any((CONTROL, d, s) in values for d in data_seeds for s in seeds):
                units, pairs = seed_level(label, CONTROL, measure)
                metrics["students"][label].setdefault("minus_control", {})[measure] = {
                    "seed_level": units, "per_data_and_training_seed": pairs, "over_seed_level": mean_ci(units)}
        if any(k[0] == RANDOM for k in values) and any(k[0] == "divergence only" for k in values):
            units, pairs = seed_level("divergence only", RANDOM, measure)
            metrics.setdefault("divergence_minus_random", {})[measure] = {"seed_level": units,
                                                                         "per_data_and_training_seed": pairs}
    claims = divergence_study_claims(metrics, lm.fingerprint.short, size["size"])
    for measure in measures:  # one figure per measure: each student minus the control-data student, over seed units
        rows, n_units = [], 0
        for label in ("all tokens", "divergence only", "all but divergence", RANDOM):
            row = metrics["students"].get(label, {}).get("minus_control", {}).get(measure)
            if row and row["seed_level"]:
                m, lo, hi = row["over_seed_level"]
                rows.append({"label": label, "value": m, "value_low": lo, "value_high": hi})
                n_units = max(n_units, len(row["seed_level"]))
        if rows:
            what = DIVERGENCE_MEASURES[measure][0]
            fig = plots.trait_bars(rows, metric="value", title=f"Divergence-token students − control-data student "
                                   f"({what}; 95 % t-CI over {n_units} {'data seeds' if several else 'training seeds'})")
            fig.update_yaxes(title_text=f"{what}: student − control (nats)")
            plots.save_html_and_png(fig, folder / f"students_minus_control-{measure}", png=not args.quick)
    metrics["claims"] = [c.to_dict() for c in claims]
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    print(json.dumps({"shares": metrics["shares"], "claims": [(c.claim, c.reproduced) for c in claims]},
                     indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
