"""Claim (Cloud et al. 2025): a student trained on a trait teacher's number lists picks up the trait.

Owl plus two other animals: prompted teacher vs control teacher (no system turn) →
vector (owl) and LoRA students, three seeds at full size; Δlog P, the sampling rate (10 answers at
T=1 per question) and the paired trait − control differences with 95 % CIs. Writes runs/subliminal_transfer-<animal>/.

    python analyses/subliminal_transfer.py --quick
    python analyses/subliminal_transfer.py --out runs/full --animals cat dolphin
    python analyses/subliminal_transfer.py --out runs/full --length-matched   # + length-matched LoRA students
    python analyses/subliminal_transfer.py --out runs/full --animals cat --baseline template_default

``--baseline template_default`` runs ``subliminal_transfer-<animal>-default_control`` instead: the same
trait-data students (shared through the run cache) against a control teacher with the template's default
system prompt, the closer match to a prompted teacher; with the plain run finished beside it (in --out, or
--archive), analyses/contrasts.py then reads how much the transfer depends on that choice of control.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis_kit import analysis_parser, sizes
from claims import experiment_claims
from contrasts import default_control_run, write_contrasts

from steervec.experiment.config import DEMO_STUDENTS, Experiment, StudentSpec
from steervec.experiment.run import run_experiment

# one epoch like every full-size student (the demo's two-epoch vector showed no transfer); the same settings as
# optimizer_ablation's AdamW student, so that run's seed-0 students are shared
VECTOR = StudentSpec("vector@25", "vector", (25,), optimizer="adamw", lr=1e-2, epochs=1)
LORA = DEMO_STUDENTS[1]


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--animals", nargs="+", default=None, metavar="ANIMAL",
                        help="target words to run (default: owl at quick size; owl cat dolphin at full size)")
    parser.add_argument("--length-matched", action="store_true",
                        help="run subliminal_transfer-<animal>-lenmatch instead: LoRA students on each data seed's "
                             "full pair (shared with the plain run) and on its length-matched pair")
    parser.add_argument("--baseline", choices=("none", "template_default"), default="none",
                        help="the control teacher's system turn: none (the plain run) or the template's default "
                             "(the run <name>-default_control, then the choice-of-control contrast)")
    parser.add_argument("--archive", metavar="DIR", default=None,
                        help="with --baseline template_default, read the plain run from DIR (e.g. records/full) "
                             "where --out lacks it")
    args = parser.parse_args(argv)
    if args.baseline != "none" and args.length_matched:
        parser.error("--baseline template_default runs the plain students only; drop --length-matched")
    if args.baseline != "none" and "owl" in (args.animals or ("owl",)):
        parser.error("owl's default-control run is prompt_as_vector-prompted: run analyses/prompt_as_vector.py "
                     "--parts prompted, or drop owl from --animals")
    animals = tuple(args.animals) if args.animals else ("owl",) if args.quick else ("owl", "cat", "dolphin")
    bad = [a for a in animals if not a.isalpha()]
    if bad:
        parser.error(f"--animals takes single words such as 'owl cat'; got {bad}")
    for animal in animals:
        result = run_experiment(transfer_experiment(animal, args), claims=experiment_claims)
        print(result.table())
    if args.baseline != "none":
        write_contrasts(Path(args.out), Path(args.archive) if args.archive else None, animals)
    return 0


def transfer_experiment(animal: str, args: argparse.Namespace) -> Experiment:
    """The run of one animal (analyses/student_trait_matrix.py builds the same runs, so they share them).

    With ``args.length_matched``: the run ``subliminal_transfer-<animal>-lenmatch``, whose LoRA students
    train on the full pair (the plain run's students, reused from the cache) and on the length-matched
    pair (``Experiment.length_matched``), so the two are reported side by side on the same seeds."""
    if getattr(args, "length_matched", False):
        return Experiment(name=f"subliminal_transfer-{animal}-lenmatch", model=args.model, animal=animal,
                          students=(LORA,), length_matched=True, out_dir=args.out, sample_k=2 if args.quick else 10,
                          **sizes(args.quick, args.seeds, args.data_seeds, args.trait_panel))
    # the vector student on owl only: it showed no transfer in the demo, LoRA carries the other animals
    students = (VECTOR,) if args.quick else (VECTOR, LORA) if animal == "owl" else (LORA,)
    baseline = getattr(args, "baseline", "none")
    name = f"subliminal_transfer-{animal}" if baseline == "none" else default_control_run(animal)
    return Experiment(name=name, model=args.model, animal=animal, baseline=baseline,
                      students=students, out_dir=args.out, sample_k=2 if args.quick else 10,
                      **sizes(args.quick, args.seeds, args.data_seeds, args.trait_panel))


if __name__ == "__main__":
    sys.exit(main())
