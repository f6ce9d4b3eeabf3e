"""Confound check (steervec): does a trait effect grow with how much longer the trait teacher's lists are?

Teachers with a trait often write longer number lists than their control (the steered and the
projected-out owl teachers: 7.7–7.9 numbers per row against 5.4–5.8). Read from finished records —
nothing is trained: for every run whose teacher data were generated with several data seeds, one
point per data seed: x = the trait dataset's mean numbers per row minus its control dataset's, y = the
students' trait − control effect on that pair (the seed-level value: the mean over its training
seeds). A least-squares line over all points, with the slope's t interval (n − 2 degrees of freedom),
per student kind and per measure (Δlog P at the answer position, and the panel log-odds after the
prefill where measured). A slope clearly above zero says longer trait data go with larger effects,
so an unmatched effect may be partly a length effect; the length-matched students
(``Experiment(length_matched=True)``) are the direct control.

    python analyses/length_confound.py records/full/* --out runs/full
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from steervec import plots
from steervec.core.io import atomic_path
from steervec.experiment.records import Claim
from steervec.metrics.length import length_regression

MEASURES = {"trait_minus_control_seed_level": "Δlog P at the answer position",
            "log_odds_prefilled_trait_minus_control_seed_level": "panel log-odds after the prefill"}
SHORT = {"trait_minus_control_seed_level": "Δlog P", "log_odds_prefilled_trait_minus_control_seed_level": "log-odds"}
NOT_A_SEED_TEST = "no verdict — a regression across teacher datasets, not a seed-level test"
RULE = "least squares across teacher datasets (metrics.length)"


def dataset_pairs(metrics: dict[str, Any]) -> dict[int, tuple[float, float]] | None:
    """``{data seed: (trait numbers per row, control numbers per row)}`` of a run's teacher data, or
    ``None`` when a data seed does not have exactly one trait and one control dataset."""
    by_seed: dict[int, dict[str, list[float]]] = {}
    for name, data in metrics.get("data", {}).items():
        if "data_seed" not in data or data.get("data_seed") is None or "mean_numbers_per_row" not in data:
            return None
        side = "control" if name.startswith("control") else "trait"
        by_seed.setdefault(int(data["data_seed"]), {"trait": [], "control": []})[side].append(
            float(data["mean_numbers_per_row"]))
    if any(len(v["trait"]) != 1 or len(v["control"]) != 1 for v in by_seed.values()):
        return None
    return {k: (v["trait"][0], v["control"][0]) for k, v in sorted(by_seed.items())}


def collect(records: list[Path]) -> dict[str, dict[str, list[tuple[str, int, float, float]]]]:
    """``{student: {measure: [(run, data seed, extra numbers per row, effect)]}}`` over the records whose
    teacher data vary (seed unit 'data seed'); the rest are skipped."""
    points: dict[str, dict[str, list[tuple[str, int, float, float]]]] = {}
    for folder in records:
        path = folder / "metrics.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text())
        pairs = dataset_pairs(metrics) if "summary" in metrics else None
        if not pairs or len(pairs) < 2:
            continue
        for student, row in metrics["summary"].items():
            if row.get("seed_unit") != "data seed":
                continue
            for key in MEASURES:
                values = row.get(key)
                if values is None or len(values) != len(pairs):
                    continue
                for (seed, (trait, control)), value in zip(pairs.items(), values, strict=True):
                    points.setdefault(student, {}).setdefault(key, []).append(
                        (folder.name, seed, trait - control, float(value)))
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="record folders (with a metrics.json)")
    parser.add_argument("--out", default="runs/full", help="where the length_confound folder goes")
    parser.add_argument("--student", default="LoRA r8", help="the student kind to regress (default 'LoRA r8')")
    parser.add_argument("--png", action=argparse.BooleanOptionalAction, default=True, help="also write PNGs")
    args = parser.parse_args(argv)
    points = collect(args.records).get(args.student, {})
    main_key = "trait_minus_control_seed_level"
    if len(points.get(main_key, [])) < 3:
        parser.error(f"fewer than 3 teacher datasets with a '{args.student}' effect in these records: pass records "
                     "of runs made with --data-seeds 2 or more")
    used = [json.loads((f / "metrics.json").read_text()) for f in args.records
            if (f / "metrics.json").is_file() and f.name in {p[0] for p in points[main_key]}]
    size = "full" if {m.get("experiment", {}).get("size") for m in used} == {"full"} else "custom"
    models = sorted({str(m.get("model", "")) for m in used})
    folder = Path(args.out) / "length_confound"
    folder.mkdir(parents=True, exist_ok=True)
    fits, figures, parts = {}, [], []
    for key, label in MEASURES.items():
        pts = points.get(key, [])
        if len(pts) < 3:
            continue
        fit = length_regression([p[2] for p in pts], [p[3] for p in pts])
        fits[key] = {"measure": label, **fit.to_dict(),
                     "points": [{"run": r, "data_seed": s, "extra_numbers_per_row": x, "effect": y} for r, s, x, y in pts]}
        by_run: dict[str, list[tuple[float, float]]] = {}
        for r, _, x, y in pts:
            by_run.setdefault(r, []).append((x, y))
        stem = "effect-vs-length" if key == main_key else "log-odds-vs-length"
        figures += plots.save_html_and_png(
            plots.effect_vs_length(by_run, (fit.intercept, fit.slope),
                                   title=f"{args.student} students: {label}",
                                   y=f"{SHORT[key]}, trait − control (nats)"), folder / stem, png=args.png)
        parts.append(f"{label}: slope {fit.slope:+.3f} [{fit.slope_low:+.3f}, {fit.slope_high:+.3f}] nats per extra "
                     f"number per row (t, {fit.n - 2} df), R² {fit.r2:.2f}, over {fit.n} teacher datasets")
    runs = sorted({p[0] for p in points[main_key]})
    extra = [p[2] for p in points[main_key]]
    claim = Claim("steervec confound check",
                  f"the {args.student} students' trait − control effect grows with how much longer the trait "
                  "teacher's lists are than its control's",
                  "; ".join(parts) + f"; extra numbers per row {min(extra):+.2f} to {max(extra):+.2f}; runs: "
                  + ", ".join(runs), " / ".join(models), NOT_A_SEED_TEST, size, RULE)
    metrics = {"student": args.student, "runs": runs, "regressions": fits,
               "figures": [str(f) for f in figures], "claims": [claim.to_dict()]}
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    print("\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
