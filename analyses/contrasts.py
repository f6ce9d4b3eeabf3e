"""Record-level contrasts: claims derived from two finished runs' stored summaries, nothing trained.

Two contrasts pair runs whose students share something, one value per data seed both runs have:

* **the choice of control** (``<default run>-control_choice``): one trait teacher's students read against two
  control teachers, one with no system turn (the ``subliminal_transfer-<animal>`` run) and one with the
  template's default system prompt (``prompt_as_vector-prompted`` for owl, ``subliminal_transfer-<animal>-
  default_control`` for the other animals). Paired on the data seeds whose trait data is the same file, so
  (trait − control_none) − (trait − control_default) = control_default − control_none;
* **necessity as a contrast** (``prompt_as_vector-necessity``): the intact owl teacher's students minus the
  students of a teacher with a direction projected out, on one baseline (the control cancels).

The analyses that train those runs write their contrasts when they finish; this script derives them again
from run folders (e.g. after a run was extended, or to re-read archived runs):

    python analyses/contrasts.py --out runs/full --archive records/full
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from claims import CONTRAST_MEASURES, control_choice_claims, necessity_contrast_claims

from steervec.core.io import atomic_path

INTACT = "prompt_as_vector-prompted"
"""The intact owl teacher's run on the baseline of the projected runs (its control has the default prompt)."""

REMOVED = {"projected": "v_teacher", "projected_specific": "the matched owl vector"}
"""What each projected teacher (``prompt_as_vector-<kind>``) has projected out (the necessity contrast's words)."""


def finished(out: Path, name: str, archive: Path | None = None) -> dict[str, Any] | None:
    """The metrics of run ``name`` in ``out``, else in ``archive``, with ``folder`` added; ``None`` where
    neither has it."""
    for root in (out, archive):
        if root is not None and (root / name / "metrics.json").is_file():
            return {**json.loads((root / name / "metrics.json").read_text()), "folder": str(root / name)}
    return None


def by_data_seed(metrics: dict[str, Any], student: str) -> dict[str, dict[int, float]]:
    """``{summary key: {data seed: value}}`` of the seed-level measures of ``student`` in a run's metrics."""
    row, seeds = metrics["summary"][student], metrics["experiment"]["data_seeds"]
    return {key: dict(zip(seeds, row[key], strict=True)) for key, *_ in CONTRAST_MEASURES if key in row}


def trait_data(metrics: dict[str, Any], animal: str) -> dict[int, str]:
    """``{data seed: dataset file}`` of a run's trait teacher (the run cache's name: the same file is the same data)."""
    return {d["data_seed"]: Path(d["path"]).name for label, d in metrics["data"].items()
            if label.startswith(f"{animal}-prompted") and "path" in d}


def write(folder: Path, metrics: dict[str, Any]) -> Path:
    """``folder/metrics.json`` written whole (atomically); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    return folder


def default_control_run(animal: str) -> str:
    """The run whose control teacher has the template's default system prompt, for ``animal``'s trait data."""
    return INTACT if animal == "owl" else f"subliminal_transfer-{animal}-default_control"


def control_choice(out: Path, default_run: str, archive: Path | None = None) -> Path | None:
    """``<out>/<default_run's stem>-control_choice/metrics.json``: the students of ``default_run`` (whose control
    teacher has the template's default system prompt, read from ``out``) against the ``subliminal_transfer`` run
    of the same animal (whose control teacher has no system turn; from ``out``, else ``archive``), on the data
    seeds where both trained the same students on the same trait data. ``None`` where either run is missing or
    they share no such data seed."""
    default = finished(out, default_run)
    if default is None:
        return None
    animal = default["experiment"]["animal"]
    plain = finished(out, f"subliminal_transfer-{animal}", archive)
    if plain is None:
        return None
    same = [d for d, f in trait_data(default, animal).items() if trait_data(plain, animal).get(d) == f]
    if default["experiment"]["seeds"] != plain["experiment"]["seeds"] or not same:
        print(f"choice of control: {plain['folder']} left out, it shares no trait dataset and training seeds "
              f"with {default['folder']}")
        return None
    claims = []
    for student, row in default["summary"].items():
        if isinstance(row, dict) and isinstance(plain["summary"].get(student), dict):
            a, b = by_data_seed(plain, student), by_data_seed(default, student)
            a = {k: {d: v for d, v in vals.items() if d in same} for k, vals in a.items()}
            claims += control_choice_claims(a, b, student, default["model"], default["experiment"]["size"], animal)
    if not claims:
        return None
    return write(out / f"{default_run.rsplit('-', 1)[0]}-control_choice",
                 {"default_prompt_control": default["folder"], "no_system_control": plain["folder"],
                  "data_seeds": sorted(same), "claims": [c.to_dict() for c in claims]})


def necessity_contrast(out: Path, archive: Path | None = None) -> Path | None:
    """``<out>/prompt_as_vector-necessity/metrics.json``: intact − projected teacher's students per data seed,
    for each projected run finished beside the intact one (``prompt_as_vector-prompted``, read from ``out``) on
    the same data seeds, training seeds, baseline and students (a projected run ``out`` lacks is read from
    ``archive``). ``None`` when the intact run or every projected run is missing."""
    intact = finished(out, INTACT)
    if intact is None:
        return None
    claims, pairs, data_seeds = [], {}, {}
    for kind, removed in REMOVED.items():
        projected = finished(out, f"prompt_as_vector-{kind}", archive)
        if projected is None:
            continue
        same = ("seeds", "baseline", "size", "animal")  # the students both runs trained are paired by name
        differ = [k for k in same if intact["experiment"].get(k) != projected["experiment"].get(k)]
        shared = sorted(set(intact["experiment"]["data_seeds"]) & set(projected["experiment"]["data_seeds"]))
        if differ or not shared:
            print(f"necessity contrast: {projected['folder']} left out, it differs from the intact run in "
                  f"{differ or ['data_seeds (none shared)']}")
            continue
        for student, row in intact["summary"].items():
            if isinstance(row, dict) and isinstance(projected["summary"].get(student), dict):
                claims += necessity_contrast_claims(by_data_seed(intact, student), by_data_seed(projected, student),
                                                    removed, student, intact["model"], intact["experiment"]["size"])
        pairs[kind] = projected["folder"]
        data_seeds[kind] = shared
    if not claims:
        return None
    return write(out / "prompt_as_vector-necessity", {"intact": intact["folder"], "projected": pairs,
                                                      "data_seeds": data_seeds, "claims": [c.to_dict() for c in claims]})


def write_contrasts(out: Path, archive: Path | None = None, animals: tuple[str, ...] = ()) -> list[Path]:
    """Every contrast whose runs are finished: necessity (when the intact owl run is in ``out``) and the choice
    of control for owl and each of ``animals`` (when its default-control run is in ``out``). Prints each."""
    written = []
    for what, folder in [("necessity contrast", necessity_contrast(out, archive)),
                         *[("choice of control", control_choice(out, default_control_run(a), archive))
                           for a in dict.fromkeys(("owl", *animals))]]:
        if folder is not None:
            print(f"{what}: {folder}")
            written.append(folder)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs", help="runs folder holding the finished runs")
    parser.add_argument("--archive", metavar="DIR", default=None,
                        help="read a paired run that --out lacks from DIR (e.g. records/full)")
    parser.add_argument("--animals", nargs="+", default=("cat", "dolphin"), metavar="ANIMAL",
                        help="animals besides owl whose choice of control to read (default: cat dolphin)")
    args = parser.parse_args(argv)
    if not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is not a folder; pass the runs folder the analyses wrote (e.g. runs/full)")
    written = write_contrasts(Path(args.out), Path(args.archive) if args.archive else None, tuple(args.animals))
    if not written:
        print(f"no contrast: {args.out} holds no finished pair of runs (see this script's docstring)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
