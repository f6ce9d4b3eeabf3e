"""Claim (steervec planted-vector pilot): a student distilled from base + α·v recovers v — soft labels at
the planted layer almost exactly, hard labels less; how many teacher rows each needs.

Teachers: the base model plus α·v at layer L (every position), v the owl v_teacher or seeded random directions
of the same norm; students: a vector at L, a vector at L − 5, LoRA r8; losses: cross-entropy on the teacher's
sampled tokens and online KL at every real position; data: number lists and free text; N teacher rows. Measured:
cos(u, α·v), |u|/|α·v|, the cosine under the output's Fisher metric, held-out KL as a fraction of the base's.

    python analyses/planted_vector.py --quick
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from analysis_kit import analysis_parser
from claims import planted_claims

from steervec import plots
from steervec.core.io import atomic_path
from steervec.core.model import load_model
from steervec.experiment.planted_study import PlantedGrid, run_planted
from steervec.experiment.records import Claim
from steervec.metrics.planted import rows_to_reach

MATCH = {"vector": "vector@L", "vector_other": "vector@L−5", "lora": "LoRA r8"}


def curves(students: list[dict], layer: int, group: str, key: str = "cosine") -> dict[str, dict[int, list[float]]]:
    """``{loss · data · student: {N: [value per replicate and direction]}}`` for one planted layer and
    direction group (``"owl"`` or ``"random"``)."""
    out: dict[str, dict[int, list[float]]] = {}
    for s in students:
        if s["layer"] == layer and s["planted"].startswith(group):
            label = f"{s['loss']} · {s['data']} · {MATCH[s['student']]}"
            out.setdefault(label, {}).setdefault(s["n_rows"], []).append(s[key])
    return out


def reach_table(students: list[dict], layers: tuple[int, ...]) -> list[dict]:
    """Rows N needed for a mean cos(u, α·v) of 0.5 and 0.9, per layer, direction group and condition."""
    table = []
    for layer in layers:
        for group in ("owl", "random"):
            for label, curve in curves(students, layer, group).items():
                table.append({"layer": layer, "planted": group, "condition": label,
                              "n_for_cos_0.5": rows_to_reach(curve, 0.5), "n_for_cos_0.9": rows_to_reach(curve, 0.9)})
    return table


def recovery_claims(students: list[dict], grid: PlantedGrid, model: str) -> list[Claim]:
    """The ground-truth claims (analyses/claims.py) at the planted layer and the largest N."""
    layer, n = grid.layers[0], max(grid.rows)
    pick = sorted((s for s in students if s["layer"] == layer and s["student"] == "vector" and s["n_rows"] == n),
                  key=lambda s: (s["planted"], s["data"], s["data_seed"], s["train_seed"]))
    soft = [s["cosine"] for s in pick if s["loss"] == "kl_online"]
    hard = [s["cosine"] for s in pick if s["loss"] == "ce"]
    return planted_claims(soft, hard, layer, n, grid.steps, model, grid.size)


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--layers", default=None, help="planted layers, e.g. 25,6 (default: the grid's)")
    parser.add_argument("--students", default=None, help="e.g. vector,lora (default: the grid's)")
    parser.add_argument("--grid", choices=("paper", "machine"), default="machine",
                        help="full size: 'machine' (what 2 cores afford, PlantedGrid.machine) or 'paper' (the whole "
                             "grid of the issue, ~100 h on 2 cores)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    grid = PlantedGrid.quick() if args.quick else PlantedGrid.machine() if args.grid == "machine" else PlantedGrid()
    changes: dict = {}
    if args.seeds:  # --seeds k: replicates (i, i) for i < k, plus (0, 1) to separate training-seed noise
        changes["replicates"] = (*((i, i) for i in range(args.seeds)), (0, 1))
    if args.layers:
        changes["layers"] = tuple(int(x) for x in args.layers.split(","))
    if args.students:
        changes["students"] = tuple(args.students.split(","))
    grid = PlantedGrid(**{**grid.to_dict(), **changes})
    folder = Path(args.out) / "planted_vector"
    folder.mkdir(parents=True, exist_ok=True)
    lm = load_model(args.model)
    progress = folder / "students.jsonl"  # one line per measured student, as the run goes
    progress.unlink(missing_ok=True)

    def log(row: dict) -> None:
        with progress.open("a") as f:
            f.write(json.dumps(row, default=float) + "\n")

    result = run_planted(lm, grid, args.out, on_student=log)
    students = result.students
    figures = []
    for layer in grid.layers:
        for group in ("owl", "random"):
            data = curves(students, layer, group)
            if data:
                fig = plots.recovery_curve(data, title=f"Planted {group} vector at layer {layer} (α {grid.alpha:g})")
                figures += plots.save_html_and_png(fig, folder / f"recovery-L{layer}-{group}", png=not args.quick)
    metrics = {"grid": grid.to_dict(), "model": lm.fingerprint.short, "planted": result.planted,
               "students": students, "rows_to_reach": reach_table(students, grid.layers),
               "students_reused": sum(s["reused"] for s in students),
               "claims": [c.to_dict() for c in recovery_claims(students, grid, lm.fingerprint.short)],
               "figures": [str(p) for p in figures], "seconds": round(time.perf_counter() - start, 1)}
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    print(json.dumps({k: metrics[k] for k in ("planted", "rows_to_reach", "claims", "seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
