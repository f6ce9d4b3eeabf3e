"""Claim (steervec, trait-specific alignment): a student moves along its own trait's direction, not another's.

The student-level cross-trait matrix. For each animal, the subliminal-transfer run of
analyses/subliminal_transfer.py (the same Experiment, so the two share datasets, students and run
folders): the animal-lover teacher and the control teacher write number lists, and students train
on each. A student's control-subtracted shift (the trait-data student's shift minus the control-data
student's of the same data seed and training seed, on the run's alignment prompts) is compared, at
every layer, with every trait's *matched* vector (the trait's prompt minus the mean over the other
animals of the panel in the same wording, saved by each run; at full size the personas pirate and poet
as extra columns). The
diagonal must beat the off-diagonal: one value per data seed (diagonal − mean off-diagonal, averaged
over traits and training seeds) is read by the one verdict rule.

    python analyses/student_trait_matrix.py --quick
    python analyses/student_trait_matrix.py --out runs/full --data-seeds 3 --seeds 1 --trait-panel
    python analyses/student_trait_matrix.py --out runs/full --from-records records/full   # nothing trained
    python analyses/student_trait_matrix.py --out runs/full --from-records records/full --baseline template_default \
        --animals owl cat dolphin

Each trait's own row is decided too (its students' diagonal − mean off-diagonal, one value per data
seed of that trait), and so is each column: a trait's students against the *other traits' students* on
that trait's vector, where a vector every student aligns with (a column effect) cancels. With ``--from-records`` the archived runs are read as they are, so the traits may
have different data seeds: the all-traits verdict then reads only the data seeds every trait has (each
value averages the same traits), and each trait's row reads all of its own. ``--baseline template_default``
reads the runs whose control teacher has the template's default system prompt instead (owl's
``prompt_as_vector-prompted``, the others' ``subliminal_transfer-<animal>-default_control``), into
``student_trait_matrix-default_control``: the same trait-data students, a control closer to the prompted teacher.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from analysis_kit import analysis_parser
from claims import experiment_claims, student_column_claim, student_matrix_claim, student_row_claim
from subliminal_transfer import LORA, VECTOR, transfer_experiment

from steervec import plots
from steervec.core.io import atomic_path
from steervec.core.model import load_model
from steervec.core.steering_vector import SteeringVector
from steervec.data.numbers import number_prompts
from steervec.experiment.cache import means_dir
from steervec.experiment.config import Experiment
from steervec.experiment.run import backfill_shifts, build_teachers, run_experiment
from steervec.metrics.cosine_matrix import alignment_by_unit
from steervec.metrics.shifts import controlled_by_unit, load_run_shifts
from steervec.vectors.baselines import ConditionMeans, matched, trait_vectors

QUICK_ANIMALS = ("owl", "cat")
FULL_ANIMALS = ("owl", "cat", "dog", "dolphin", "eagle")
PERSONAS = ("pirate", "poet")


def finished(exp: Experiment) -> bool:
    """Whether ``<out>/<name>`` holds a finished run of exactly ``exp`` (its config and its metrics)."""
    folder = Path(exp.out_dir) / exp.name
    if not (folder / "metrics.json").is_file() or not (folder / "config.json").is_file():
        return False
    stored, wanted = json.loads((folder / "config.json").read_text()), json.loads(json.dumps(exp.to_dict()))
    return {k: v for k, v in stored.items() if k != "out_dir"} == {k: v for k, v in wanted.items() if k != "out_dir"}


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--animals", nargs="+", default=None, metavar="ANIMAL",
                        help=f"students' traits (default: {' '.join(FULL_ANIMALS)}; quick: {' '.join(QUICK_ANIMALS)})")
    parser.add_argument("--layer", type=int, default=25, help="the layer the verdict reads (default 25)")
    parser.add_argument("--from-records", metavar="DIR", default=None,
                        help="read each animal's finished subliminal_transfer run archived under DIR (e.g. "
                             "records/full: its config, shifts and matched vector) instead of running it; nothing "
                             "is trained, and --seeds/--data-seeds are the records' own")
    parser.add_argument("--baseline", choices=("none", "template_default"), default="none",
                        help="the control teacher's system turn in the runs read: none (subliminal_transfer-<animal>) "
                             "or the template's default (the default-control runs; needs --from-records)")
    args = parser.parse_args(argv)
    if args.baseline != "none" and not args.from_records:
        parser.error("--baseline template_default reads finished default-control runs: add --from-records DIR (they "
                     "are trained by subliminal_transfer.py --baseline template_default and prompt_as_vector.py "
                     "--parts prompted)")
    animals = tuple(args.animals) if args.animals else QUICK_ANIMALS if args.quick else FULL_ANIMALS
    bad = [a for a in animals if not a.isalpha()]
    if bad or len(set(animals)) < 2:
        parser.error(f"--animals takes two or more different single words such as 'owl cat'; got {list(animals)}")
    student = VECTOR if args.quick else LORA  # the student subliminal_transfer trains for every animal
    lm = load_model(args.model)
    controlled, runs, vectors = {}, {}, {}
    for animal in animals:
        exp = transfer_experiment(animal, args)
        folder = Path(exp.out_dir) / exp.name
        if args.from_records:
            folder = Path(args.from_records) / exp.name
            exp = archived_run(folder, student.name, parser)
        elif finished(exp):  # a finished run of the same experiment: only the shifts it may predate are measured
            backfill_shifts(exp, lm)
        else:
            folder = run_experiment(exp, lm=lm, claims=experiment_claims).folder
        trait, control = build_teachers(exp, SteeringVector.load(folder / "v_teacher.safetensors", model=lm))
        controlled[animal] = controlled_by_unit(load_run_shifts(folder, model=lm), student.name, trait.name,
                                                control.name)
        vectors[animal] = SteeringVector.load(folder / "v_specific.safetensors", model=lm)  # its matched vector
        runs[animal] = str(folder)
    personas = () if args.quick else PERSONAS  # a forward per panel animal: left out of the CI size
    if personas:  # matched like the animals: the persona's prompt minus the panel's mean, on the same prompts
        prompts = [p.text for p in number_prompts(exp.n_vector_prompts, seed=exp.vector_prompt_seed)]
        vectors |= trait_vectors(ConditionMeans(lm, prompts, cache_dir=means_dir(args.out)), personas, matched())
    alignment = alignment_by_unit(controlled, vectors)
    layer = lm.check_layer(args.layer)
    mean = alignment.mean()
    common = alignment.common_data_seeds()
    if not common:
        parser.error(f"the animals' runs share no data seed ({', '.join(runs.values())}): an all-traits verdict "
                     "needs the same data seeds (their control students) in every run")
    by_seed = alignment.by_data_seed(layer, data_seeds=common)
    rows = {t: alignment.by_data_seed(layer, traits=[t]) for t in alignment.traits}
    table = alignment.to_dataframe()
    margins = mean.diagonal_margin()
    strongest = margins.groupby("layer").margin.mean().idxmax()
    folder = Path(args.out) / ("student_trait_matrix" if args.baseline == "none"
                               else "student_trait_matrix-default_control")
    folder.mkdir(parents=True, exist_ok=True)
    values = {x: mean.values[k].tolist() for k, x in enumerate(mean.layers)}
    fig = plots.cosine_matrix_heatmap(values, mean.rows, mean.cols, layer=layer,
                                      title=f"{student.name} students' control-subtracted shift vs each trait's "
                                            f"matched vector (layer {layer})"
                                            + ("" if args.baseline == "none" else "; default-prompt control"),
                                      row_title="students trained on", col_title="matched vector of")
    figures = plots.save_html_and_png(fig, folder / "student_matrix", png=not args.quick)
    at = mean.at(layer)
    detail = (f"{student.name} students of {', '.join(animals)} ({len(table[table.layer == layer])} trait × data × "
              f"training-seed replicates); columns: matched vectors of {', '.join(mean.cols)}; diagonal at layer "
              f"{layer}: " + ", ".join(f"{t} {at.loc[t, t]:+.3f}" for t in mean.rows)
              + f"; the diagonal wins by most (mean margin over traits) at layer {int(strongest)}")
    if args.baseline != "none":
        detail += "; control teacher: the template's default system prompt (not 'no system turn')"
    if len(common) < max(len(v) for v in rows.values()):
        detail += f"; the all-traits value reads data seeds {', '.join(map(str, common))} (those every trait has)"
    size = "quick" if args.quick else "full"
    claim = student_matrix_claim(list(by_seed.values()), student.name, layer, detail, lm.fingerprint.short, size)
    row_claims = [student_row_claim(list(rows[t].values()), student.name, t, layer,
                                    f"{len(table[(table.layer == layer) & (table.trait == t)])} data × training-seed "
                                    f"replicates; at layer {layer} own {at.loc[t, t]:+.3f}, "
                                    + ", ".join(f"{c} {at.loc[t, c]:+.3f}" for c in mean.cols if c != t)
                                    + f"; its own column wins by most at layer {mean.strongest_layer(t)}"
                                    + ("" if args.baseline == "none" else "; default-prompt control"),
                                    lm.fingerprint.short, size) for t in mean.rows]
    # by columns: each trait's students against the other students on that trait's vector (a column effect cancels)
    columns = {t: alignment.by_column(layer, traits=[t], data_seeds=common) for t in alignment.traits}
    column_all = alignment.by_column(layer, data_seeds=common)
    column_detail = ("; ".join(f"{t} column: own {at.loc[t, t]:+.3f}, other students "
                               + ", ".join(f"{r} {at.loc[r, t]:+.3f}" for r in mean.rows if r != t) for t in mean.rows)
                     + f"; data seeds {', '.join(map(str, common))}"
                     + ("" if args.baseline == "none" else "; default-prompt control"))
    column_claims = [student_column_claim(list(column_all.values()), student.name, None, layer, column_detail,
                                          lm.fingerprint.short, size),
                     *(student_column_claim(list(columns[t].values()), student.name, t, layer, column_detail,
                                            lm.fingerprint.short, size) for t in mean.rows)]
    metrics = {"animals": list(animals), "personas": list(personas), "student": student.name, "layer": layer,
               "by_column": {t: {str(k): v for k, v in r.items()} for t, r in columns.items()},
               "by_column_all": {str(k): v for k, v in column_all.items()},
               "baseline": args.baseline,
               "runs": runs, "matrix": mean.to_dict(), "by_data_seed": {str(k): v for k, v in by_seed.items()},
               "common_data_seeds": common,
               "by_trait_data_seed": {t: {str(k): v for k, v in r.items()} for t, r in rows.items()},
               "replicates": table.to_dict("records"), "diagonal_margin": margins.to_dict("records"),
               "strongest_layer": int(strongest), "figures": [str(f) for f in figures],
               "claims": [claim.to_dict(), *(c.to_dict() for c in row_claims), *(c.to_dict() for c in column_claims)]}
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    print(at.round(3).to_string())
    for c in (claim, *row_claims, *column_claims):
        print(f"{c.reproduced}: {c.claim}")
    return 0


def archived_run(folder: Path, student: str, parser: Any) -> Experiment:
    """The experiment of a finished run archived at ``folder`` (its ``config.json``), checked to hold
    the shifts and the matched vector the matrix reads and a ``student`` student; else a one-line error."""
    needed = [folder / "config.json", folder / "metrics.json", folder / "v_specific.safetensors",
              folder / "v_teacher.safetensors"]
    missing = [p.name for p in needed if not p.is_file()]
    if missing or not any((folder / "shifts").glob("*.safetensors")):
        parser.error(f"--from-records: {folder} is not a finished subliminal_transfer run with shifts (missing "
                     f"{', '.join(missing) or 'shifts/*.safetensors'}); run analyses/subliminal_transfer.py for it "
                     "and archive the run, or leave --from-records out to run it here")
    exp = Experiment.from_dict(json.loads((folder / "config.json").read_text()))
    if student not in [s.name for s in exp.students]:
        parser.error(f"--from-records: {folder} trained no {student!r} students (it has "
                     f"{', '.join(s.name for s in exp.students)})")
    return exp


if __name__ == "__main__":
    sys.exit(main())
