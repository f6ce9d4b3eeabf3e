"""Claim (Blank et al. 2026): adaptive optimisers amplify a small, persistent gradient component
along v_teacher; plain SGD lets outlier gradients dominate.

Vector students at layer 25 under AdamW, Adam, RMSprop, SGD, SGD+momentum and SignSGD on owl vs
control data (trait transfer and alignment), plus per-row gradient alignment at the last prompt
token and the pooled trait − control gradient difference vs v_teacher (raw) and vs the matched owl
vector, once per teacher dataset (data seed). The optimiser claim compares the adaptive family's mean
with the plain family's, per seed unit.

Each optimiser gets two learning rates (the one earlier runs used and 3x it). Its rate is chosen
on a held-out split: students of both rates are trained on 75 % of the owl and of the control rows
(split by prompt, seeded) and the rate with the lower mean held-out loss (owl and control rows
alike, so trait and control students share it) is the one the comparison trains on all rows, with
the run's training seeds (3 at full size) and data seeds.

    python analyses/optimizer_ablation.py --quick
    python analyses/optimizer_ablation.py --out runs/full --data-seeds 3 --seeds 1 --trait-panel
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from analysis_kit import analysis_parser, sizes
from claims import (
    ADAPTIVE_OPTIMIZERS,
    PLAIN_OPTIMIZERS,
    experiment_claims,
    gradient_claims,
    lr_selection_text,
    optimizer_claim,
)

from steervec import plots
from steervec.core.chat import system_from_label
from steervec.core.io import atomic_path
from steervec.core.model import LanguageModel, load_model
from steervec.core.steering_vector import SteeringVector
from steervec.data.datasets import heldout_split, load_dataset
from steervec.experiment.cache import student_path
from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.run import build_teacher_vector, run_experiment, teacher_data
from steervec.metrics.alignment import gradient_alignment, pooled_difference
from steervec.students.heldout import heldout_loss
from steervec.students.student import Student
from steervec.students.train import train_student

# the initial gradient norm on the vector is ~0.007 (measured), so plain SGD needs lr 30-300;
# (label, optimizer, learning rates, momentum): the first rate is the one every earlier run used, the second 3x it
OPTIMIZERS = (("adamw", "adamw", (1e-2, 3e-2), None), ("adam", "adam", (1e-2, 3e-2), None),
              ("rmsprop", "rmsprop", (1e-3, 3e-3), None), ("sgd", "sgd", (100.0, 300.0), None),
              ("sgd_momentum", "sgd", (30.0, 100.0), 0.9), ("signsgd", "signsgd", (1e-3, 3e-3), None))
HOLDOUT = 0.25
"""Share of each dataset's prompts held out to choose the learning rate on."""
SPLIT_SEED = 0
SELECT_SEEDS = 1
"""How many of the run's training seeds (the first ones) train the students that choose a rate."""


def spec(label: str, name: str, lr: float, momentum: float | None, layer: int = 25) -> StudentSpec:
    """The vector student at ``layer`` of one optimiser and rate (named by the optimiser alone)."""
    return StudentSpec(f"vector@{layer} {label}", "vector", (layer,), optimizer=name, lr=lr, momentum=momentum,
                       epochs=1)


def optimizers(quick: bool) -> tuple[tuple[str, str, tuple[float, ...], float | None], ...]:
    """The optimisers compared (the first two at --quick size), each with its learning rates."""
    return OPTIMIZERS[:2] if quick else OPTIMIZERS


def students(quick: bool) -> tuple[StudentSpec, ...]:
    """Every candidate student: one vector student at layer 25 per optimiser and learning rate."""
    return tuple(spec(label, name, lr, momentum) for label, name, lrs, momentum in optimizers(quick) for lr in lrs)


def choose_lrs(lm: LanguageModel, exp: Experiment, out: str, quick: bool, progress: bool = True) -> dict[str, dict]:
    """Per optimiser: every rate's mean held-out loss over the owl and control splits and the selection seeds,
    and the chosen rate (the lower loss). Students are cached in ``<out>/_students/`` like every other."""
    folder = Path(out) / exp.name
    folder.mkdir(parents=True, exist_ok=True)
    teachers = teacher_data(lm, exp, build_teacher_vector(lm, exp), folder, progress)
    system = system_from_label(exp.student_system)
    data_seed = exp.data_seeds[0]
    splits = {name: heldout_split(teachers.rows[name, data_seed], HOLDOUT, SPLIT_SEED)
              for name in (teachers.trait.name, teachers.control.name)}
    out_rows: dict[str, dict] = {}
    for label, name, lrs, momentum in optimizers(quick):
        losses: dict[float, list[float]] = {}
        for lr, (data, (train, held)), seed in ((lr, d, s) for lr in lrs for d in splits.items()
                                               for s in exp.seeds[:SELECT_SEEDS]):
            s = spec(label, name, lr, momentum, exp.layer)
            cached = student_path(out, lm, teachers.paths[data, data_seed], seed=seed, spec=s.settings(),
                                  system=exp.student_system, split={"heldout": HOLDOUT, "seed": SPLIT_SEED})
            if cached.is_file():
                student = Student.load(cached, lm)
            else:
                student = train_student(lm, train, method=s.method(exp.layer), optimizer=s.optimizer, lr=lr,
                                        momentum=momentum, epochs=s.epochs, batch_size=s.batch_size, seed=seed,
                                        system=system, progress=progress)
                student.save(cached)
            losses.setdefault(lr, []).append(heldout_loss(lm, student, held, system))
        mean = {lr: sum(v) / len(v) for lr, v in losses.items()}
        best = min(mean, key=lambda lr: mean[lr])
        out_rows[label] = {"lr": best, "heldout_loss": {str(lr): mean[lr] for lr in lrs},
                           "per_student": {str(lr): v for lr, v in losses.items()},
                           "n_heldout_rows": {d: len(h) for d, (_, h) in splits.items()}}
    return out_rows


def main(argv: list[str] | None = None) -> int:
    args = analysis_parser(__doc__.splitlines()[0]).parse_args(argv)
    # the run's training seeds (3 at full size, --seeds for others): a verdict needs at least 3
    exp = Experiment(name="optimizer_ablation", model=args.model, out_dir=args.out,
                     **sizes(args.quick, args.seeds, args.data_seeds, args.trait_panel))
    lm = load_model(args.model)
    lr_selection = choose_lrs(lm, exp, args.out, args.quick)
    exp = replace(exp, students=tuple(spec(label, name, lr_selection[label]["lr"], momentum, exp.layer)
                                      for label, name, _, momentum in optimizers(args.quick)))
    result = run_experiment(exp, lm=lm, claims=experiment_claims)
    print(result.table())
    folder = result.folder
    v = SteeringVector.load(folder / "v_teacher.safetensors", model=lm)
    specific = folder / "v_specific.safetensors"
    v_specific = SteeringVector.load(specific, model=lm) if specific.is_file() else None
    layers = [25] if args.quick else [6, 12, 18, 25]
    # one pooled-gradient cosine per teacher dataset (the data seed is the unit), with v_teacher (raw) and the
    # matched owl vector; the first data seed's numbers also stay at the top level, as records before kept them
    units, figure = [], {}
    for data_seed in exp.data_seeds:
        trait, control = (load_dataset(dataset_file(folder, result.metrics, prefix, data_seed), model=lm)
                          for prefix in (f"{exp.animal}-prompted", "control"))
        g_trait = gradient_alignment(lm, trait, v, layers, label="owl data")
        g_control = gradient_alignment(lm, control, v, layers, label="control data")
        unit = {"data_seed": data_seed, "rows": [len(trait), len(control)],
                "pooled_difference": pooled_difference(g_trait, g_control, v),
                "fraction_along_trait": g_trait.fraction_along(), "fraction_along_control": g_control.fraction_along(),
                "top5_share_trait": g_trait.top_share(0.05),
                "mean_cos_trait": {x: float(c.mean()) for x, c in g_trait.cos_last_prompt.items()},
                "mean_cos_control": {x: float(c.mean()) for x, c in g_control.cos_last_prompt.items()}}
        if v_specific is not None:
            unit["pooled_difference_specific"] = pooled_difference(g_trait, g_control, v_specific)
        units.append(unit)
        if not figure:
            figure = {f"{lab} L{x}": g.cos_last_prompt[x].tolist() for lab, g in (("owl", g_trait), ("control", g_control))
                      for x in layers}
    plots.save_html_and_png(plots.gradient_alignment_distributions(figure), folder / "gradient_alignment",
                            png=not args.quick)
    grad = {**{k: val for k, val in units[0].items() if k not in ("data_seed", "rows")}, "per_data_seed": units}
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["gradient_alignment"] = grad
    metrics["lr_selection"] = {"heldout_fraction": HOLDOUT, "split_seed": SPLIT_SEED,
                               "selection_seeds": list(exp.seeds[:SELECT_SEEDS]), "per_optimizer": lr_selection}
    size = "quick" if args.quick else "full"
    per_optimizer = {label: result.seed_level(f"vector@25 {label}") for label, *_ in OPTIMIZERS
                     if f"vector@25 {label}" in metrics["summary"]}
    metrics["analysis_claims"] = [c.to_dict() for c in gradient_claims(grad, lm.fingerprint.short, size)]
    metrics["analysis_claims"].append(
        optimizer_claim(per_optimizer, ADAPTIVE_OPTIMIZERS, PLAIN_OPTIMIZERS, lm.fingerprint.short, size,
                        lr_selection_text(metrics["lr_selection"])).to_dict())
    metrics["claims"] += metrics["analysis_claims"]
    with atomic_path(Path(folder) / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    return 0


def dataset_file(folder: Path, metrics: dict, prefix: str, data_seed: int) -> Path:
    """The run folder's dataset of teacher ``prefix`` (e.g. ``owl-prompted``, ``control``) at ``data_seed``:
    ``data-<label>.jsonl``, the label (``<teacher>`` or ``<teacher>-d<seed>``) read from ``metrics["data"]``."""
    for label, stats in metrics["data"].items():
        if stats.get("data_seed") == data_seed and label in (prefix, f"{prefix}-d{data_seed}"):
            return Path(folder) / f"data-{label}.jsonl"
    raise KeyError(f"no {prefix} dataset for data seed {data_seed} in the run's metrics")


if __name__ == "__main__":
    sys.exit(main())
