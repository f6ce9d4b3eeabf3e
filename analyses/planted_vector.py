"""Claim (steervec planted-vector pilot): a student distilled from base + α·v recovers v — soft labels at
the planted layer almost exactly, hard labels less; how many teacher rows each needs.

Teachers: the base model plus α·v at layer L (every position), v the owl v_teacher or seeded random directions
of the same norm; students: a vector at L, a vector at L − 5, LoRA r8; losses: cross-entropy on the teacher's
sampled tokens and online KL at every real position; data: number lists and free text; N teacher rows. Measured:
cos(u, α·v), |u|/|α·v|, the cosine under the output's Fisher metric, held-out KL as a fraction of the base's,
and for the planted owl vector the share of the teacher's Δlog P(owl) the student carries. Question 3 (the
prompted owl teacher's hard- vs soft-label vector students, steervec.experiment.prompted_gap) runs after.

    python analyses/planted_vector.py --quick
    python analyses/planted_vector.py                  # PlantedGrid.machine(): hours on 2 cores, resumable
    python analyses/planted_vector.py --students vector --data numbers --no-gap   # the recovery curve only
    python analyses/planted_vector.py --cached-only    # record what is trained, plus question 3
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from analysis_kit import analysis_parser
from claims import (
    SAME_ROWS,
    best_vector_trait_claim,
    planted_claims,
    planted_condition_claim,
    planted_trait_claim,
    prompted_gap_claim,
)

from steervec import plots
from steervec.core.io import atomic_path
from steervec.core.model import load_model
from steervec.experiment.planted_study import PlantedGrid, run_planted
from steervec.experiment.prompted_gap import GapConfig, GapResult, prompted_gap, save_gap
from steervec.experiment.records import Claim
from steervec.metrics.planted import rows_to_reach

MATCH = {"vector": "vector@L", "vector_other": "vector@L−5", "lora": "LoRA r8"}


GROUPS = ("owl", "random", "owl_specific")


def group_of(planted: str) -> str:
    """The direction group of a planted name: ``random0`` … are ``"random"``; the rest are their own."""
    return "random" if planted.startswith("random") else planted


def curves(students: list[dict], layer: int, group: str, key: str = "cosine") -> dict[str, dict[int, list[float]]]:
    """``{loss · data · student: {N: [value per replicate and direction]}}`` for one planted layer and
    direction group (``"owl"``, ``"random"``, ``"owl_specific"``, or ``""`` for every planted direction)."""
    out: dict[str, dict[int, list[float]]] = {}
    for s in students:
        if s["layer"] == layer and group in ("", group_of(s["planted"])):
            label = f"{s['loss']} · {s['data']} · {MATCH[s['student']]}"
            out.setdefault(label, {}).setdefault(s["n_rows"], []).append(s[key])
    return out


def reach_table(students: list[dict], layers: tuple[int, ...]) -> list[dict]:
    """Rows N needed for a mean cos(u, α·v) of 0.5 and 0.9, per layer, direction group and condition."""
    table = []
    for layer in layers:
        for group in GROUPS:
            for label, curve in curves(students, layer, group).items():
                table.append({"layer": layer, "planted": group, "condition": label,
                              "n_for_cos_0.5": rows_to_reach(curve, 0.5), "n_for_cos_0.9": rows_to_reach(curve, 0.9)})
    return table


def trait_points(students: list[dict], layer: int) -> dict[str, list[tuple[float, float]]]:
    """``{planted · loss · data · student: [(cos, trait fraction)]}`` at the largest N, for the students whose
    planted teacher has a trait (the owl vector and the owl-specific direction)."""
    n = max((s["n_rows"] for s in students if s["layer"] == layer), default=None)
    out: dict[str, list[tuple[float, float]]] = {}
    for s in students:
        if s["layer"] == layer and s["n_rows"] == n and "trait_fraction" in s:
            label = f"{s['planted']} · {s['loss']} · {s['data']} · {MATCH[s['student']]}"
            out.setdefault(label, []).append((s["cosine"], s["trait_fraction"]))
    return out


def _pick(students: list[dict], layer: int, n: int, **match: str) -> dict[tuple, dict]:
    """Students at ``layer`` and ``N = n`` matching ``match``, keyed by (planted, data seed, training seed)."""
    return {(s["planted"], s["data_seed"], s["train_seed"]): s for s in students
            if s["layer"] == layer and s["n_rows"] == n and all(s[k] == v for k, v in match.items())}


def _paired(a: dict[tuple, dict], b: dict[tuple, dict], key: str = "cosine") -> tuple[list[float], list[float]]:
    both = sorted(set(a) & set(b))
    return [a[k][key] for k in both], [b[k][key] for k in both]


def recovery_claims(students: list[dict], grid: PlantedGrid, model: str) -> list[Claim]:
    """The ground-truth claims (analyses/claims.py) at every planted layer, each at the largest N reached
    there: question 1 and hard labels (planted_claims), question 2's other conditions, question 4 on the
    owl. A claim of a layer after the first names its layer (its text is the claim's key in RESULTS.md)."""
    claims: list[Claim] = []
    for i, layer in enumerate(grid.layers):
        found = _layer_claims(students, grid, model, layer)
        if i:
            found = [c if f"layer {layer}" in c.claim else
                     dataclasses.replace(c, claim=f"{c.claim} (planted at layer {layer})") for c in found]
        claims += found
    return claims


def _layer_claims(students: list[dict], grid: PlantedGrid, model: str, layer: int) -> list[Claim]:
    done = [s["n_rows"] for s in students if s["layer"] == layer and s["student"] == "vector"
            and s["loss"] == "kl_online" and s["data"] == "numbers"]
    if not done:
        return []
    n = max(done)  # the grid's largest N, or the largest a partial run has reached
    every_soft = _pick(students, layer, n, student="vector", loss="kl_online", data="numbers")
    every_hard = _pick(students, layer, n, student="vector", loss="ce", data="numbers")

    def of(picked: dict[tuple, dict], specific: bool) -> dict[tuple, dict]:
        return {k: s for k, s in picked.items() if (group_of(k[0]) == "owl_specific") == specific}

    # the owl vector and the random directions pooled (as first recorded); the owl-specific direction apart
    soft, hard = of(every_soft, False), of(every_hard, False)
    claims = _recovery(soft, hard, layer, n, grid, model, "the planted vector")
    claims += _recovery(of(every_soft, True), of(every_hard, True), layer, n, grid, model,
                        "the planted owl-specific direction (v_owl minus the animal panel's mean, at v_owl's norm)")
    where = f"layer {layer}, N={n}, {grid.steps} steps of {grid.batch_size}"
    for what, other, base, than in (
            ("a vector student at layer L − 5 (cos of its shift at L)",
             _pick(students, layer, n, student="vector_other", loss="kl_online", data="numbers"), soft, SAME_ROWS),
            ("LoRA r8 (cos of its shift at L)", _pick(students, layer, n, student="lora", loss="kl_online",
                                                     data="numbers"), soft, SAME_ROWS),
            ("a same-layer vector student with soft labels on the teacher's number lists",
             soft, _pick(students, layer, n, student="vector", loss="kl_online", data="free"),
             "the same student on as many rows of the teacher's free text")):
        x, y = _paired(base, other)
        if x:
            claims.append(planted_condition_claim(x, y, what, f"soft labels; {where}", model, grid.size, than))
    owl = [s for k, s in sorted(soft.items()) if k[0] == "owl" and "trait_fraction" in s]
    if owl:
        detail = f"planted owl teacher Δlog P(owl) {owl[0]['teacher_trait_delta']:+.3f} nats; soft labels; {where}"
        recovered = sum(s["cosine"] for s in owl) / len(owl) >= 0.9  # "recovered" only where question 1's bar is met
        claims.append(planted_trait_claim([s["trait_fraction"] for s in owl], [s["cosine"] for s in owl], detail,
                                          model, grid.size, **({} if recovered else {
                                              "who": "a soft-label vector student at the planted layer (mean "
                                                     "cos(u, α·v) below 0.9)"})))
    specific = [s for k, s in sorted(of(every_soft, True).items()) if "trait_fraction" in s]
    if specific:  # a direction of the trait alone: does its student carry the trait, whatever its cosine?
        detail = (f"planted owl-specific teacher Δlog P(owl) {specific[0]['teacher_trait_delta']:+.3f} nats; soft labels; "
                  f"{where}")
        claims.append(planted_trait_claim([s["trait_fraction"] for s in specific], [s["cosine"] for s in specific],
                                          detail, model, grid.size, who="a vector student distilled with soft labels "
                                                                         "from the planted owl-specific teacher"))
    lora = [s for k, s in sorted(_pick(students, layer, n, student="lora", loss="kl_online", data="numbers").items())
            if k[0] == "owl" and "trait_fraction" in s]
    if lora:  # matching the teacher on number prompts is not carrying its trait elsewhere
        detail = (f"planted owl teacher Δlog P(owl) {lora[0]['teacher_trait_delta']:+.3f} nats; KL left on held-out "
                  "number prompts " + ", ".join(f"{s['kl_fraction']:.3f}" for s in lora) + f" of base's; {where}")
        claims.append(planted_trait_claim([s["trait_fraction"] for s in lora], [s["cosine"] for s in lora], detail,
                                          model, grid.size, who="a LoRA r8 student distilled with soft labels on "
                                                                "the planted owl teacher's number lists"))
    return claims


def _recovery(soft: dict[tuple, dict], hard: dict[tuple, dict], layer: int, n: int, grid: PlantedGrid, model: str,
              what: str) -> list[Claim]:
    """Question 1 (soft labels at the planted layer) and hard against soft labels, for one pool of directions."""
    if not soft:
        return []
    soft_twin, hard_twin = _paired(soft, hard)  # hard labels may have been trained on fewer replicates
    twins = sorted({k[0] for k in set(soft) & set(hard)})
    return planted_claims([soft[k]["cosine"] for k in sorted(soft)], hard_twin, layer, n, grid.steps, model, grid.size,
                          soft_paired=soft_twin,
                          paired_what=f"replicates (data × seed) of the {' and '.join(twins)} direction(s)", what=what)


def gap_claims(gap: GapResult, model: str, size: str) -> list[Claim]:
    """Question 3 from :func:`steervec.experiment.prompted_gap.prompted_gap`."""
    by = {(r["loss"], r["seed"]): r for r in gap.rows}
    seeds = sorted({r["seed"] for r in gap.rows})
    soft = [by[("kl_online", s)]["trait_delta"] for s in seeds]
    hard = [by[("ce", s)]["trait_delta"] for s in seeds]
    c = gap.config
    def mean(loss: str, key: str) -> float:
        return sum(by[(loss, s)][key] for s in seeds) / len(seeds)

    detail = (f"vector at layer {c['layer']}, {c['n_rows']} rows, {c['steps']} steps of {c['batch_size']}, both at one "
              f"Adam lr; KL fraction soft {mean('kl_online', 'kl_fraction'):.3f}, hard {mean('ce', 'kl_fraction'):.3f}; "
              f"|u| soft {mean('kl_online', 'norm'):.0f}, hard {mean('ce', 'norm'):.0f} (|v_owl| against no system "
              f"turn {by[('ce', seeds[0])]['norm_no_system']:.0f})")
    fractions = [by[("kl_online", s)]["trait_fraction"] for s in seeds]
    best = (f"Δlog P(owl) {', '.join(f'{x:+.3f}' for x in soft)} nats against the prompted teacher's "
            f"{gap.teacher_trait:+.3f}; KL fraction left {mean('kl_online', 'kl_fraction'):.3f}; cos with the owl "
            f"vector against no system turn {mean('kl_online', 'cos_no_system'):+.3f}, against the matched baseline "
            f"{mean('kl_online', 'cos_matched'):+.3f}; layer {c['layer']}, {c['n_rows']} rows, {c['steps']} steps")
    return [prompted_gap_claim(soft, hard, gap.teacher_trait, detail, model, size),
            best_vector_trait_claim(fractions, c["layer"], best, model, size)]


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--layers", default=None, help="planted layers, e.g. 25,6 (default: the grid's)")
    parser.add_argument("--students", default=None, help="e.g. vector,lora (default: the grid's)")
    parser.add_argument("--data", default=None, help="e.g. numbers (default: the grid's)")
    parser.add_argument("--losses", default=None, help="e.g. ce or kl_online (default: the grid's)")
    parser.add_argument("--train-rows", default=None,
                        help="train only at these N, e.g. 256 (datasets and cache keys stay the whole grid's)")
    parser.add_argument("--directions", default="all",
                        help="which planted directions to train, comma-separated: owl, random, owl_specific "
                             "(default all: every direction of the grid)")
    parser.add_argument("--no-gap", action="store_true", help="skip question 3 (the prompted teacher's gap)")
    parser.add_argument("--cached-only", action="store_true",
                        help="record the grid's students trained so far (by this or a running run) and train no "
                             "more of them; question 3 still runs unless --no-gap (its students are cached too, so "
                             "a second record only measures them)")
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
    if args.data:
        changes["data"] = tuple(args.data.split(","))
    if args.losses:
        changes["losses"] = tuple(args.losses.split(","))
    if args.train_rows:
        changes["train_rows"] = tuple(int(x) for x in args.train_rows.split(","))
    if args.directions != "all":
        chosen = set(args.directions.split(","))
        if not chosen or not chosen <= {"owl", "random", "owl_specific"}:
            parser.error(f"--directions takes owl, random and/or owl_specific (comma-separated) or all, "
                         f"got {args.directions!r}")
        changes["owl"] = "owl" in chosen
        changes["owl_specific"] = "owl_specific" in chosen
        if "random" not in chosen:
            changes["random_directions"] = 0
    grid = PlantedGrid(**{**grid.to_dict(), **changes})
    folder = Path(args.out) / "planted_vector"
    folder.mkdir(parents=True, exist_ok=True)
    lm = load_model(args.model)
    progress = folder / ("students-cached.jsonl" if args.cached_only else "students.jsonl")  # one line per student
    progress.unlink(missing_ok=True)

    def log(row: dict) -> None:
        with progress.open("a") as f:
            f.write(json.dumps(row, default=float) + "\n")

    result = run_planted(lm, grid, args.out, on_student=log, cached_only=args.cached_only)
    students = result.students
    figures = []
    for layer in grid.layers:
        for group in ("", *GROUPS):
            data = curves(students, layer, group)
            if data:
                what = {"owl": "the owl vector", "random": "the random directions",
                        "owl_specific": "the owl-specific direction", "": "every planted direction"}[group]
                fig = plots.recovery_curve(data, title=f"Recovery of {what} at layer {layer} (α {grid.alpha:g})")
                stem = f"recovery-L{layer}" + (f"-{group}" if group else "")
                figures += plots.save_html_and_png(fig, folder / stem, png=not args.quick)
    for layer in grid.layers:
        points = trait_points(students, layer)
        if points:
            fig = plots.trait_vs_recovery(points, title=f"Trait carried against direction recovered, planted at layer "
                                                        f"{layer} (N = {max(s['n_rows'] for s in students)})")
            figures += plots.save_html_and_png(fig, folder / f"trait-vs-cos-L{layer}", png=not args.quick)
    claims = recovery_claims(students, grid, lm.fingerprint.short)
    if result.skipped:  # a partial record says so in every claim
        done = f"; partial run: {len(students)} of {len(students) + result.skipped} students of the grid trained"
        claims = [dataclasses.replace(c, measurement=c.measurement + done) for c in claims]
    gap = None
    if not args.no_gap:
        gap = prompted_gap(lm, args.out, GapConfig.quick() if args.quick else GapConfig())
        save_gap(gap, folder / "prompted_gap.json")
        claims += gap_claims(gap, lm.fingerprint.short, grid.size)
    metrics = {"grid": grid.to_dict(), "partial": {"students_done": len(students), "students_left": result.skipped},
               "model": lm.fingerprint.short, "planted": result.planted,
               "students": students, "rows_to_reach": reach_table(students, grid.layers),
               "students_reused": sum(s["reused"] for s in students),
               "claims": [c.to_dict() for c in claims], "prompted_gap": gap.to_dict() if gap else None,
               "figures": [str(p) for p in figures], "seconds": round(time.perf_counter() - start, 1)}
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    print(json.dumps({k: metrics[k] for k in ("planted", "rows_to_reach", "claims", "seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
