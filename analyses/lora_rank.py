"""Claims (Nief et al. 2026): transfer vs LoRA rank is an inverted U and vanishes under full
fine-tuning; an effect learnt with the template's default system prompt disappears without it.

    python analyses/lora_rank.py --quick
"""

from __future__ import annotations

import sys

from steervec.experiment import Experiment, StudentSpec, analysis_parser, run_experiment, sizes


def main(argv: list[str] | None = None) -> int:
    args = analysis_parser(__doc__.splitlines()[0]).parse_args(argv)
    ranks = (1, 8) if args.quick else (1, 8, 64)  # r8 is the other analyses' student: reused, not retrained
    epochs = 1  # full size too: one epoch of 1,000 rows keeps all seven analyses within a few hours
    students = tuple(StudentSpec(f"LoRA r{r}", "lora", rank=r, lora_alpha=float(r), lr=1e-3,
                                 epochs=epochs) for r in ranks)
    if not args.quick:  # full fine-tuning is the slowest student: full size only
        students += (StudentSpec("full FT", "full", lr=2e-5, epochs=epochs),)
    common = sizes(args.quick, args.seeds)
    exp = Experiment(name="lora_rank", model=args.model, students=students, out_dir=args.out, **common)
    print(run_experiment(exp).table())
    ctx = Experiment(name="lora_rank-context", model=args.model, out_dir=args.out,
                     students=(StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=epochs),),
                     student_system="template_default", eval_systems=("none",),
                     **{**common, "seeds": common["seeds"][:1]})  # one seed: 6 fewer students at full size
    print(run_experiment(ctx).table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
