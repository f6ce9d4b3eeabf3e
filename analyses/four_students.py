"""The four student parameterisations on one owl dataset and its control (issue: students).

A prompted owl teacher and a control teacher (no system turn) each write ``n_rows``
format-constrained number lists; a vector student at layer 25, LoRA r=8, single-layer full
fine-tuning (layer 0, the early layer where divergence-token work localises transfer) and
full fine-tuning are trained on each, one epoch, batch 8, AdamW. Reports each student's loss
at the start and end of training, Δlog P(owl) with 95 % CIs across questions, the paired
trait − control difference and cos(v_student, v_teacher) at layer 25.
Writes runs/four_students/.

    python analyses/four_students.py --quick        # CI size
    python analyses/four_students.py                # 1,000 rows per teacher (about an hour on 2 cores)
    python analyses/four_students.py --out runs/full --data-seeds 3 --seeds 1 --trait-panel --rows 300
        # the seed-level standard on the owl run's teacher data (the same 300-row datasets, by content key)
"""

from __future__ import annotations

import json
import sys

from analysis_kit import analysis_parser, sizes
from claims import experiment_claims

from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.run import run_experiment

STUDENTS = (
    StudentSpec("vector@25", "vector", (25,), lr=1e-2, epochs=1),
    StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=1),
    StudentSpec("full @0", "full", (0,), lr=1e-4, epochs=1),
    StudentSpec("full", "full", None, lr=2e-5, epochs=1),
)


def loss_end_points(metrics: dict) -> list[str]:
    """One line per trained student: first and last logged loss."""
    lines = []
    for row in metrics["conditions"]:
        if "student" in row and row.get("loss_first") is not None:
            lines.append(f"{row['label']:44s} loss (mean of first / last 10 steps) {row['loss_first']:.3f} -> {row['loss_last']:.3f} "
                         f"({row['steps']} steps, {row['train_seconds']:.0f} s training)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, metavar="N",
                        help="rows per teacher at full size (default 1,000; 300 shares the other studies' teacher data)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be at least 1 (got {args.rows})")
    size = {**sizes(args.quick, args.seeds or 1, args.data_seeds, args.trait_panel), **({} if args.quick else {"n_rows": args.rows})}
    exp = Experiment(name="four_students", model=args.model, students=STUDENTS, out_dir=args.out, **size)
    result = run_experiment(exp, claims=experiment_claims)
    print(result.table())
    print("\n".join(loss_end_points(result.metrics)))
    print(json.dumps(result.metrics["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
