"""Claims (Blank et al. 2026): a trait system prompt acts as one steering vector — approximable by
a vector (layer × α sweep with gates; fitted vectors' KL explained), sufficient (a steered teacher
with no prompt transmits the trait) and necessary (projecting it out of the prompted teacher stops it). ``--parts projected_specific``
asks the necessity question of the trait-specific direction: the matched owl vector (owl prompt minus
the mean over other animals in the same wording) projected out instead of v_teacher. ``--parts prompted``
trains students of the intact prompted teacher on the same baseline, so that they share their control-data
students with the projected runs: with it, necessity is also read as a contrast (intact − projected
teacher's students, per data seed, written to ``prompt_as_vector-necessity``), which an equivalence test
of the projected run alone cannot give when the intact effect is smaller than its margin. The same
students against the owl ``subliminal_transfer`` run's (whose control teacher has no system turn) show
how much a transfer effect depends on the choice of control (``prompt_as_vector-control_choice``). Both
contrasts are derived from the finished runs by analyses/contrasts.py.

    python analyses/prompt_as_vector.py --quick
    python analyses/prompt_as_vector.py --out runs/full --data-seeds 3 --seeds 2 --trait-panel --parts projected
    python analyses/prompt_as_vector.py --out runs/full --data-seeds 3 --seeds 2 --trait-panel --parts prompted \\
        --archive records/full
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from analysis_kit import analysis_parser, sizes
from claims import experiment_claims, sweep_claim
from contrasts import REMOVED, write_contrasts
from subliminal_transfer import VECTOR

from steervec import TEMPLATE_DEFAULT, plots
from steervec.core.io import atomic_path
from steervec.core.model import load_model
from steervec.data.numbers import number_prompts
from steervec.data.questions import (
    FAVOURITE_ANIMAL_QUESTIONS,
    LEAST_FAVOURITE_ANIMAL_QUESTIONS,
    OFFTOPIC_QUESTIONS,
)
from steervec.data.teachers import animal_lover_prompt
from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.run import build_teacher_vector, run_experiment
from steervec.vectors.sweep import sweep_fit_layers, sweep_layers_alpha

PARTS = ("sweep", "steered", "projected", "projected_specific", "prompted")
"""The analysis' parts: whether a vector approximates the prompt, whether it suffices, whether it is needed
(and the intact teacher on the same baseline, the necessity contrast's other side)."""

GATE_RATIO = 3.0
"""A sweep setting's positive P(owl) must exceed this many times its negative and off-topic P(owl)."""


def sweep_and_fits(lm: Any, exp: Experiment, folder: Path, quick: bool) -> None:
    """Whether one vector approximates the prompt: the layer × α sweep with its gates and the fitted
    vectors' KL explained and trait recovered (train and held-out), into ``folder/metrics.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    v = build_teacher_vector(lm, exp)
    n_q = 6 if quick else 50
    layers = [25] if quick else [3, 6, 12, 18, 22, 24, 25, 26, 27]
    alphas = (3.0,) if quick else (1.0, 2.0, 4.0, 8.0)
    # the setting is chosen on a seeded half of each question set and its numbers come from the other half;
    # it passes only with its positive P(owl) above GATE_RATIO x its own negative and off-topic P(owl)
    sweep = sweep_layers_alpha(lm, v, layers, alphas, target=exp.animal, positive=FAVOURITE_ANIMAL_QUESTIONS[:n_q],
                               negative=LEAST_FAVOURITE_ANIMAL_QUESTIONS[: max(4, n_q // 2)],
                               offtopic=OFFTOPIC_QUESTIONS[: max(4, n_q // 2)], control=TEMPLATE_DEFAULT,
                               ratio=GATE_RATIO, split_seed=0)
    table = sweep.to_dataframe()
    table.to_csv(folder / "sweep.csv", index=False)
    grid = [[float(table[(table.layer == x) & (table.alpha == a)].positive_p.iloc[0]) for a in alphas] for x in layers]
    ok = [[bool(table[(table.layer == x) & (table.alpha == a)].passes_gates.iloc[0]) for a in alphas] for x in layers]
    best = sweep.best
    plots.save_html_and_png(plots.sweep_heatmap(layers, alphas, grid, ok, None if best is None else (best.layer, best.alpha),
                                          title=f"{exp.animal}: layer × α sweep of v_teacher (selection half)"),
                            folder / "sweep", png=not quick)
    # fits: the training sets are those of every earlier run; held-out prompts and questions are added beside them
    # (the number prompts' list is prefix-stable, so the first n are the earlier training prompts), and every fit
    # reports KL explained and trait recovered on both, labelled (FitReport: *_train / *_heldout)
    n_prompts, n_fit_q = (8, 8) if quick else (64, 32)
    n_held = 4 if quick else 18
    made = [p.text for p in number_prompts(n_prompts + n_held, seed=30_000)]
    prompts, held_prompts = made[:n_prompts], made[n_prompts:]
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[:n_fit_q])
    held_questions = list(FAVOURITE_ANIMAL_QUESTIONS[n_fit_q : n_fit_q + n_held])  # never fitted on
    fit_layers = [25] if quick else [3, 6, 12, 18, 24, 25]
    kl: dict[str, dict[int, float]] = {}
    fit_heldout: dict[str, dict[str, dict[int, float | None]]] = {}
    prompt_sets = (("favourite-animal questions", questions, held_questions), ("number prompts", prompts, held_prompts))
    for name, train, held in prompt_sets[:1] if quick else prompt_sets:
        fits = sweep_fit_layers(lm, animal_lover_prompt(exp.animal), train, fit_layers, control=TEMPLATE_DEFAULT,
                                target=exp.animal, trait_questions=questions[:6], heldout_prompts=held,
                                heldout_questions=held_questions, steps=4 if quick else 40)
        fits.to_dataframe().to_csv(folder / f"fit-{name.split()[0]}.csv", index=False)
        kl[name] = {x: r.report.kl_explained_train for x, r in fits.results.items()}
        fit_heldout[name] = {
            "kl_explained_train": kl[name],
            "kl_explained_heldout": {x: r.report.kl_explained_heldout for x, r in fits.results.items()},
            "trait_recovered_train_questions": {x: r.report.trait_recovered for x, r in fits.results.items()},
            "trait_recovered_heldout_questions": {x: r.report.trait_recovered_heldout
                                                  for x, r in fits.results.items()}}
    plots.save_html_and_png(plots.kl_explained_by_layer(kl), folder / "kl_explained", png=not quick)
    claims = [sweep_claim(sweep, exp.animal, lm.fingerprint.short, "quick" if quick else "full")]
    held = sweep.best_report
    metrics = {"sweep": table.to_dict("records"), "sweep_ratio": sweep.ratio,
               "sweep_halves": {k: {"selection": v[0], "report": v[1]} for k, v in sweep.halves.items()},
               "sweep_choice": None if best is None else {
                   "layer": best.layer, "alpha": best.alpha, "selection": best.__dict__,
                   "report": None if held is None else held.__dict__, "confirmed": sweep.confirmed},
               "kl_explained": kl, "fit_reports": fit_heldout, "claims": [c.to_dict() for c in claims]}
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS[:3]), metavar="PART",
                        help=f"which parts to run: {', '.join(PARTS)} (default: the first three; projected_specific "
                             "projects the matched owl vector out instead of v_teacher; prompted trains the intact "
                             "teacher's students for the necessity contrast); each writes its own run folder")
    parser.add_argument("--archive", metavar="DIR", default=None,
                        help="for the contrasts with the prompted part, read a run that --out lacks (a projected "
                             "run, the owl subliminal_transfer run) from DIR (e.g. records/full, where finished runs "
                             "are archived) instead of running it again")
    args = parser.parse_args(argv)
    quick = args.quick
    common = sizes(quick, args.seeds, args.data_seeds, args.trait_panel)
    # v_teacher = owl prompt minus the template's default system prompt, swept and steered on the default-prompted
    # model: "without the prompt" in the reference studies (Qwen's template injects a default too), and the
    # setting in which the vector steers this model (the no-system-turn difference did not raise P(owl) at any
    # layer x alpha in the first full run)
    base = {"baseline": "template_default"}
    exp = Experiment(name="prompt_as_vector", model=args.model, out_dir=args.out, **base, **common)
    lm = load_model(args.model)
    if "sweep" in args.parts:
        sweep_and_fits(lm, exp, Path(args.out) / exp.name, quick)
    students = (StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=1),)
    for kind in [p for p in args.parts if p != "sweep"]:  # in the order asked
        # the intact teacher also trains the owl run's vector student (the same spec: its owl-data students
        # come from the run cache), so the choice of control is read for both of the owl run's students
        run = Experiment(name=f"prompt_as_vector-{kind}", model=args.model, teacher=kind,
                         students=(VECTOR, *students) if kind == "prompted" and not quick else students,
                         out_dir=args.out, **base, **common)
        print(run_experiment(run, lm=lm, claims=experiment_claims).table())
    if set(args.parts) & {"prompted", *REMOVED}:  # analyses/contrasts.py: derived from the finished runs
        write_contrasts(Path(args.out), Path(args.archive) if args.archive else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
