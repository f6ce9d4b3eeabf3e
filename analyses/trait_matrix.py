"""Is v_teacher about its trait, or about having a system prompt? (a check on Blank et al. 2026's v_teacher)

For a panel of traits (animals in the teacher wording and non-animal personas in the same
sentence frame) on number prompts: each trait's raw vector (trait prompt minus no system
turn) split into a generic part (the animal panel's mean minus no system turn) and a
trait-specific part (the trait prompt minus the panel's mean, the other animals only), per
layer; and cos(v_a, v_b) per layer for the raw and the matched vectors.

    python analyses/trait_matrix.py --quick
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from analysis_kit import analysis_parser
from claims import specific_share_claim

from steervec import plots
from steervec.core.model import load_model
from steervec.data.numbers import number_prompts
from steervec.data.prompts import ANIMAL_PANEL, trait_prompt
from steervec.experiment.cache import means_dir
from steervec.vectors.baselines import ConditionMeans, matched, no_system
from steervec.vectors.trait_matrix import cross_trait_matrix, decompose_trait

QUICK_TRAITS = ("owl", "cat", "dog", "dolphin", "eagle", "pirate")
FULL_TRAITS = ("owl", "cat", "dog", "dolphin", "eagle", "elephant", "penguin", "tiger", "pirate", "poet")


def _plain(value: object) -> object:
    """numpy scalars (pandas records) as plain Python numbers for JSON."""
    return value.item() if hasattr(value, "item") else float(value)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--n-prompts", type=int, default=None, help="number prompts (quick 16, full 64)")
    parser.add_argument("--layers", type=int, nargs="+", default=[6, 15, 25], help="layers to report")
    args = parser.parse_args(argv)
    quick = args.quick
    n_prompts = args.n_prompts or (16 if quick else 64)
    traits = QUICK_TRAITS if quick else FULL_TRAITS
    folder = Path(args.out) / "trait_matrix"
    folder.mkdir(parents=True, exist_ok=True)
    lm = load_model(args.model)
    report = [x for x in args.layers if x < lm.n_layers] or [lm.n_layers - 1]
    means = ConditionMeans(lm, [p.text for p in number_prompts(n_prompts, seed=30_000)], progress=True,
                           cache_dir=means_dir(args.out))
    panel = matched(tuple(ANIMAL_PANEL))
    parts = {t: decompose_trait(means, t, panel).to_dataframe() for t in traits}
    result = cross_trait_matrix(means, traits, {"raw": no_system(), "matched": panel})
    margins = result.matrices["matched"].diagonal_margin()
    for name, matrix in result.matrices.items():
        values = {x: matrix.values[k].tolist() for k, x in enumerate(matrix.layers)}
        fig = plots.cosine_matrix_heatmap(values, matrix.rows, matrix.cols, layer=report[-1],
                                          title=f"cos(v_a, v_b), {name} vectors ({n_prompts} number prompts)")
        plots.save_html_and_png(fig, folder / f"cosine_{name}", png=not quick)
    owl = parts["owl"].set_index("layer")
    pair = result.off_diagonal("owl", "cat")
    deep = report[-1]
    owl_margin = margins[margins.row == "owl"].set_index("layer").margin
    summary = {
        "n_prompts": n_prompts, "traits": list(traits), "panel": list(ANIMAL_PANEL),
        "norms": {str(x): {k: float(owl.loc[x, k]) for k in ("raw_norm", "generic_norm", "specific_norm",
                                                              "specific_share")} for x in report},
        "cos_owl_cat": {str(deep): {"raw": float(pair.loc[deep, "raw"]), "matched": float(pair.loc[deep, "matched"])}},
        "owl_strongest_layer": int(owl_margin.idxmax()), "owl_strongest_margin": float(owl_margin.max()),
    }
    n_others = len(panel.members(trait_prompt("owl")))
    shares = ", ".join(f"layer {x} {owl.loc[x, 'specific_share']:.0%}" for x in report)
    detail = (f"{n_prompts} number prompts, one forward per condition: owl-specific share of |v_owl| {shares} "
              f"(the panel: {n_others} other animals); cos(v_owl, v_cat) at layer {deep} raw "
              f"{pair.loc[deep, 'raw']:+.3f}, matched {pair.loc[deep, 'matched']:+.3f}")
    claim = specific_share_claim([float(owl.loc[deep, "specific_share"])], detail, lm.fingerprint.short,
                                 "quick" if quick else "full")
    for name, table in parts.items():
        table.to_csv(folder / f"decomposition-{name}.csv", index=False)
    metrics = {"summary": summary, "decomposition": {t: p.to_dict("records") for t, p in parts.items()},
               "matrices": {name: m.to_dict() for name, m in result.matrices.items()},
               "diagonal_margin": margins.to_dict("records"), "claims": [claim.to_dict()]}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1, default=_plain))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
