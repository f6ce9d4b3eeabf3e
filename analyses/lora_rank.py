"""Claims (Nief et al. 2026): transfer vs LoRA rank is an inverted U and vanishes under full
fine-tuning; an effect learnt with the template's default system prompt disappears without it.

Writes runs/lora_rank/ (students, metrics, rank_curve figure) and runs/lora_rank-context/.

    python analyses/lora_rank.py --quick
    python analyses/lora_rank.py --out runs/full --data-seeds 3 --seeds 2 --trait-panel --parts rank   # the rank curve only
"""

from __future__ import annotations

import json
import sys
from typing import Any

from analysis_kit import analysis_parser, sizes
from claims import experiment_claims, rank_claims, run_seed_unit

from steervec import plots
from steervec.core.io import atomic_path
from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.run import run_experiment

PARTS = ("rank", "context")


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--ranks", nargs="+", type=int, default=None, metavar="R",
                        help="LoRA ranks, ascending (default: 1 8 at quick size, 1 8 64 at full size)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), metavar="PART",
                        help=f"which runs to make: {', '.join(PARTS)} (default: both)")
    args = parser.parse_args(argv)
    ranks = args.ranks or ([1, 8] if args.quick else [1, 8, 64])  # r8 is the other analyses' student: reused
    if any(r < 1 for r in ranks) or ranks != sorted(set(ranks)):
        parser.error(f"--ranks takes distinct positive ranks in ascending order, e.g. '1 8 64'; got {ranks}")
    epochs = 1  # full size too: keeps all seven analyses within a few hours on 2 cores
    students = tuple(StudentSpec(f"LoRA r{r}", "lora", rank=r, lora_alpha=float(r), lr=1e-3,
                                 epochs=epochs) for r in ranks)
    if not args.quick:  # full fine-tuning is the slowest student: full size only
        students += (StudentSpec("full FT", "full", lr=2e-5, epochs=epochs),)
    common = sizes(args.quick, args.seeds, args.data_seeds, args.trait_panel)
    if "rank" in args.parts:
        rank_run(args, ranks, students, common)
    if "context" in args.parts:
        ctx = Experiment(name="lora_rank-context", model=args.model, out_dir=args.out,
                         students=(StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=epochs),),
                         student_system="template_default", eval_systems=("none",),
                         **{**common, "seeds": common["seeds"][:1]})  # one seed: 6 fewer students at full size
        print(run_experiment(ctx, claims=experiment_claims).table())
    return 0


def rank_run(args: Any, ranks: list[int], students: tuple[StudentSpec, ...], common: dict[str, Any]) -> None:
    """The rank curve: every rank (and full fine-tuning at full size) on the same seeds, its figure and claims."""
    exp = Experiment(name="lora_rank", model=args.model, students=students, out_dir=args.out, **common)
    result = run_experiment(exp, claims=experiment_claims)
    print(result.table())
    per_rank = [result.seed_level(f"LoRA r{r}") for r in ranks]
    full = None if args.quick else result.seed_level("full FT")
    metrics = result.metrics
    unit = run_seed_unit(metrics["summary"])
    fig = plots.lora_rank_curve(ranks, per_rank, full_ft=full, y="log P(trait) − log P(control) (nats)",
                                title=f"Trait transfer vs LoRA rank ({len(per_rank[0])} {unit}(s), 95 % t interval)")
    plots.save_html_and_png(fig, result.folder / "rank_curve", png=exp.png)
    metrics["rank_curve"] = {"ranks": ranks, "per_seed": per_rank, "full_ft_per_seed": full}
    metrics["analysis_claims"] = [c.to_dict() for c in rank_claims(ranks, per_rank, full, metrics["model"], exp.size,
                                                                   unit=unit)]
    metrics["claims"] += metrics["analysis_claims"]
    with atomic_path(result.folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))


if __name__ == "__main__":
    sys.exit(main())
