"""Claim (Blank et al. 2026): students learn a shift aligned with v_teacher; alignment grows over training.

cos(v_student, v_teacher) at every layer for students on owl-teacher vs control data, and
the same over training checkpoints (the "EAS" curve), with the control student as baseline.

    python analyses/student_alignment.py --quick
"""

from __future__ import annotations

import sys

from analysis_kit import analysis_parser, sizes
from claims import experiment_claims

from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.run import run_experiment


def main(argv: list[str] | None = None) -> int:
    args = analysis_parser(__doc__.splitlines()[0]).parse_args(argv)
    students = (StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=1),)
    size = sizes(args.quick, args.seeds, args.data_seeds, args.trait_panel)
    if args.quick:  # two steps, so that the curve over training has two points
        size["n_rows"] = 16
    exp = Experiment(name="student_alignment", model=args.model, students=students, out_dir=args.out,
                     track_every=1 if args.quick else 4, **size)
    print(run_experiment(exp, claims=experiment_claims).table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
