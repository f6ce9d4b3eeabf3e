"""Claims (Nief et al. 2026): transfer vs LoRA rank is an inverted U and vanishes under full
fine-tuning; an effect learnt with the template's default system prompt disappears without it.

Writes runs/lora_rank/ (students, metrics, rank_curve figure) and runs/lora_rank-context/.

    python analyses/lora_rank.py --quick
"""

from __future__ import annotations

import json
import sys

from analysis_kit import analysis_parser, sizes

from steervec import plots
from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.records import Claim, fmt_ci
from steervec.experiment.run import run_experiment
from steervec.metrics.evaluate import mean_ci


def rank_claims(ranks: list[int], per_rank: list[list[float]], full: list[float] | None, model: str,
                size: str) -> list[Claim]:
    """Inverted U: the best rank is an inner one and beats both ends beyond their seed CIs;
    full fine-tuning: its trait − control difference is not above zero, or far below the best rank."""
    stats = [mean_ci(v) for v in per_rank]
    best = max(range(len(ranks)), key=lambda i: stats[i][0])
    inner = 0 < best < len(ranks) - 1
    clear = inner and all(stats[best][1] > stats[i][2] for i in (0, len(ranks) - 1))
    text = ", ".join(f"r{r} {fmt_ci(s)}" for r, s in zip(ranks, stats, strict=True))
    n = len(per_rank[0])
    claims = [Claim("Nief et al. 2026", "trait transfer vs LoRA rank is an inverted U (an inner rank transfers most)",
                    f"log P(trait) − log P(control) per rank, mean [95 % CI over {n} seeds]: {text}", model,
                    "inconclusive" if len(ranks) < 3 else "yes" if clear else "partly" if inner else "no", size)]
    if full:
        f = mean_ci(full)
        vanishes = f[1] <= 0 or f[2] < stats[best][1]
        claims.append(Claim("Nief et al. 2026", "trait transfer vanishes under full fine-tuning",
                            f"full FT {fmt_ci(f)} vs best LoRA r{ranks[best]} {fmt_ci(stats[best])} nats "
                            f"({len(full)} seeds)", model, "yes" if vanishes else "no", size))
    return claims


def main(argv: list[str] | None = None) -> int:
    args = analysis_parser(__doc__.splitlines()[0]).parse_args(argv)
    ranks = [1, 8] if args.quick else [1, 8, 64]  # r8 is the other analyses' student: reused, not retrained
    epochs = 1  # full size too: keeps all seven analyses within a few hours on 2 cores
    students = tuple(StudentSpec(f"LoRA r{r}", "lora", rank=r, lora_alpha=float(r), lr=1e-3,
                                 epochs=epochs) for r in ranks)
    if not args.quick:  # full fine-tuning is the slowest student: full size only
        students += (StudentSpec("full FT", "full", lr=2e-5, epochs=epochs),)
    common = sizes(args.quick, args.seeds)
    exp = Experiment(name="lora_rank", model=args.model, students=students, out_dir=args.out, **common)
    result = run_experiment(exp)
    print(result.table())
    per_rank = [result.seed_differences(f"LoRA r{r}") for r in ranks]
    full = None if args.quick else result.seed_differences("full FT")
    fig = plots.lora_rank_curve(ranks, per_rank, full_ft=full, y="log P(trait) − log P(control) (nats)",
                                title=f"Trait transfer vs LoRA rank ({len(exp.seeds)} seed(s), 95 % CI)")
    plots.save_html_and_png(fig, result.folder / "rank_curve", png=exp.png)
    metrics = result.metrics
    metrics["rank_curve"] = {"ranks": ranks, "per_seed": per_rank, "full_ft_per_seed": full}
    metrics["analysis_claims"] = [c.to_dict() for c in rank_claims(ranks, per_rank, full, metrics["model"], exp.size)]
    metrics["claims"] += metrics["analysis_claims"]
    (result.folder / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    ctx = Experiment(name="lora_rank-context", model=args.model, out_dir=args.out,
                     students=(StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=epochs),),
                     student_system="template_default", eval_systems=("none",),
                     **{**common, "seeds": common["seeds"][:1]})  # one seed: 6 fewer students at full size
    print(run_experiment(ctx).table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
