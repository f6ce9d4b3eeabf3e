"""Claims (Blank et al. 2026): a trait system prompt acts as one steering vector — approximable by
a vector (layer × α sweep with gates; fitted vectors' KL explained), sufficient (a steered teacher
with no prompt transmits the trait) and necessary (projecting it out of the prompted teacher stops it).

    python analyses/prompt_as_vector.py --quick
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from analysis_kit import analysis_parser, sizes
from claims import experiment_claims

from steervec import TEMPLATE_DEFAULT, plots
from steervec.core.model import load_model
from steervec.data.numbers import number_prompts
from steervec.data.questions import (
    FAVOURITE_ANIMAL_QUESTIONS,
    LEAST_FAVOURITE_ANIMAL_QUESTIONS,
    OFFTOPIC_QUESTIONS,
)
from steervec.data.teachers import animal_lover_prompt
from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.records import Claim
from steervec.experiment.run import build_teacher_vector, run_experiment
from steervec.vectors.sweep import sweep_fit_layers, sweep_layers_alpha


def main(argv: list[str] | None = None) -> int:
    args = analysis_parser(__doc__.splitlines()[0]).parse_args(argv)
    quick = args.quick
    common = sizes(quick, args.seeds, args.data_seeds, args.trait_panel)
    # v_teacher = owl prompt minus the template's default system prompt, swept and steered on the default-prompted
    # model: "without the prompt" in the reference studies (Qwen's template injects a default too), and the
    # setting in which the vector steers this model (the no-system-turn difference did not raise P(owl) at any
    # layer x alpha in the first full run)
    base = {"baseline": "template_default"}
    exp = Experiment(name="prompt_as_vector", model=args.model, out_dir=args.out, **base, **common)
    folder = Path(args.out) / exp.name
    folder.mkdir(parents=True, exist_ok=True)
    lm = load_model(args.model)
    v = build_teacher_vector(lm, exp)
    n_q = 6 if quick else 50
    layers = [25] if quick else [3, 6, 12, 18, 22, 24, 25, 26, 27]
    alphas = (3.0,) if quick else (1.0, 2.0, 4.0, 8.0)
    sweep = sweep_layers_alpha(lm, v, layers, alphas, target=exp.animal, positive=FAVOURITE_ANIMAL_QUESTIONS[:n_q],
                               negative=LEAST_FAVOURITE_ANIMAL_QUESTIONS[: max(4, n_q // 2)],
                               offtopic=OFFTOPIC_QUESTIONS[: max(4, n_q // 2)], control=TEMPLATE_DEFAULT)
    table = sweep.to_dataframe()
    table.to_csv(folder / "sweep.csv", index=False)
    grid = [[float(table[(table.layer == x) & (table.alpha == a)].positive_p.iloc[0]) for a in alphas] for x in layers]
    ok = [[bool(table[(table.layer == x) & (table.alpha == a)].passes_gates.iloc[0]) for a in alphas] for x in layers]
    best = sweep.best
    plots.save_html_and_png(plots.sweep_heatmap(layers, alphas, grid, ok, None if best is None else (best.layer, best.alpha),
                                          title=f"{exp.animal}: layer × α sweep of v_teacher"), folder / "sweep", png=not quick)
    prompts = [p.text for p in number_prompts(8 if quick else 64, seed=30_000)]
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[: (8 if quick else 32)])
    fit_layers = [25] if quick else [3, 6, 12, 18, 24, 25]
    kl: dict[str, dict[int, float]] = {}
    prompt_sets = (("favourite-animal questions", questions), ("number prompts", prompts))
    for name, train in prompt_sets[:1] if quick else prompt_sets:
        fits = sweep_fit_layers(lm, animal_lover_prompt(exp.animal), train, fit_layers, control=TEMPLATE_DEFAULT,
                                target=exp.animal, trait_questions=questions[:6], steps=4 if quick else 40)
        fits.to_dataframe().to_csv(folder / f"fit-{name.split()[0]}.csv", index=False)
        kl[name] = {x: r.report.kl_explained_train for x, r in fits.results.items()}
    plots.save_html_and_png(plots.kl_explained_by_layer(kl), folder / "kl_explained", png=not quick)
    claims = [Claim("Blank et al. 2026", f"the {exp.animal} prompt is approximated by one vector (a layer × α setting "
                    "raises the trait with negative and off-topic rates under the gates)",
                    "no setting passed the gates" if best is None else
                    f"best: layer {best.layer}, α {best.alpha}: P(target) positive {best.positive_p:.4f}, negative "
                    f"{best.negative_p:.4f}, off-topic {best.offtopic_p:.4f} (base {sweep.baseline.positive_p:.4f})",
                    lm.fingerprint.short, "yes" if best is not None and best.positive_p > 2 * sweep.baseline.positive_p
                    else "no", "quick" if quick else "full")]
    metrics = {"sweep": table.to_dict("records"), "kl_explained": kl, "claims": [c.to_dict() for c in claims]}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    students = (StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=1),)
    for kind in ("steered", "projected"):
        run = Experiment(name=f"prompt_as_vector-{kind}", model=args.model, teacher=kind, students=students,
                         out_dir=args.out, **base, **common)
        print(run_experiment(run, lm=lm, claims=experiment_claims).table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
