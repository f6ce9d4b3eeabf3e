"""What a finished experiment run says: per-student summaries, claims, figures.

:func:`steervec.experiment.run_experiment` measures (teachers, students, evaluations) and
stores every per-condition number in ``metrics.json``; this module derives from those numbers
the summary (trait vs control, over seeds), the :class:`~steervec.experiment.records.Claim` rows and the
figures, and :func:`refresh_run` re-derives them for a finished run without retraining.

Example:
    >>> result = refresh_run("runs/full/student_alignment")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steervec.core.io import atomic_path
from steervec.experiment.records import Claim, across_seeds, fmt_ci, seeds_text, verdict
from steervec.metrics.evaluate import mean_ci

if TYPE_CHECKING:
    from steervec.experiment.config import Experiment
    from steervec.experiment.result import ExperimentResult

def summarise_conditions(conditions: Sequence[dict[str, Any]], trait: str, control: str, exp: Experiment) -> dict[str, Any]:
    """Per student: Δlog P and cosine on trait vs control data (95 % CIs over seeds), and the
    paired per-question difference log P(trait-data student) − log P(control-data student),
    averaged over seeds (95 % CI across questions)."""
    out: dict[str, Any] = {}
    for spec in exp.students:
        row: dict[str, Any] = {"n_seeds": len(exp.seeds)}
        groups = {}
        for data_name, tag in ((trait, "trait"), (control, "control")):
            group = sorted((c for c in conditions if c.get("student") == spec.name and c.get("data") == data_name),
                           key=lambda c: c.get("seed", 0))  # trait and control students paired by seed
            groups[tag] = group
            if group:
                row[f"delta_logp_{tag}"] = mean_ci([c["delta_logp"][0] for c in group])
                row[f"cosine_{tag}"] = mean_ci([c["cosine_at_layer"] for c in group])
                if group[0].get("eas"):
                    row[f"eas_{tag}"] = _eas_mean(group, exp.layer)
                if "rates" in group[0]:  # per question, averaged over seeds; CI across questions
                    per_q = [sum(c["rates"][i] for c in group) / len(group) for i in range(len(group[0]["rates"]))]
                    row[f"rate_{tag}"] = mean_ci(per_q)
        if groups["trait"] and groups["control"]:
            row["trait_minus_control"] = _paired(groups, "logp")
            row["trait_minus_control_per_seed"] = _per_seed(groups, "logp")
            if "rates" in groups["trait"][0] and "rates" in groups["control"][0]:
                row["rate_trait_minus_control"] = _paired(groups, "rates")
                row["rate_base"] = conditions[0].get("rate")
                row["rate_teacher"] = conditions[1].get("rate")
            for name in exp.eval_systems:
                row[f"trait_minus_control_eval_{name}"] = _paired(groups, f"logp_eval_{name}")
        out[spec.name] = row
    return out


def claims_from_summary(summary: dict[str, Any], exp: Experiment, model: str) -> list[Claim]:
    size = exp.size
    claims = []
    teacher = {"prompted": "prompted", "steered": "steered (no prompt, + α·v_teacher)",
               "projected": "prompted with v_teacher projected out"}[exp.teacher]
    for name, row in summary.items():
        if "trait_minus_control" not in row:
            continue
        diff, per_seed = row["trait_minus_control"], row.get("trait_minus_control_per_seed", [])
        expected = exp.teacher != "projected"
        claims.append(Claim(
            "Cloud et al. 2025" if exp.teacher == "prompted" else "Blank et al. 2026",
            f"a {name} student of a {teacher} {exp.animal} teacher prefers '{exp.animal}' more than one trained "
            f"on control data" + ("" if expected else " (necessity: expected NOT to)"),
            f"log P(trait-data student) − log P(control-data student) = {fmt_ci(diff)} nats, "
            f"{len(exp.seeds)} seed(s){seeds_text(per_seed)}, {exp.n_rows} rows, {exp.n_questions} questions",
            model, across_seeds(verdict(diff[1], diff[2], expected), per_seed) if expected else
            ("yes" if diff[1] <= 0 <= diff[2] or diff[2] < 0 else "no"), size))
        if "rate_trait_minus_control" in row:
            rd, rt, rc = row["rate_trait_minus_control"], row["rate_trait"], row["rate_control"]
            claims.append(Claim(
                "Cloud et al. 2025",
                f"a {name} student of a {teacher} {exp.animal} teacher names '{exp.animal}' more often in sampled "
                f"answers than one trained on control data" + ("" if expected else " (necessity: expected NOT to)"),
                f"'{exp.animal}' in {_pct(rt)} of answers (trait data) vs {_pct(rc)} (control); difference "
                f"{_pct(rd, sign=True)}; base {_pct(row['rate_base'])}, teacher {_pct(row['rate_teacher'])}; "
                f"{exp.sample_k} samples (T=1) × {exp.n_questions} questions, {len(exp.seeds)} seed(s)",
                model, verdict(rd[1], rd[2], expected) if expected else ("yes" if rd[1] <= 0 else "no"), size))
        if "cosine_trait" in row:
            ct, cc = row["cosine_trait"], row["cosine_control"]
            aligned = ct[0] > cc[0] and (len(exp.seeds) < 2 or ct[1] > cc[2])
            claims.append(Claim(
                "Blank et al. 2026",
                f"the {name} student's shift aligns with v_teacher (layer {exp.layer}) more on trait data than on control",
                f"cos trait {fmt_ci(ct)} vs control {fmt_ci(cc)} ({len(exp.seeds)} seed(s))",
                model, ("yes" if aligned and len(exp.seeds) >= 2 else "partly" if ct[0] > cc[0] else "no"), size))
        if "eas_trait" in row and "eas_control" in row:
            et, ec = row["eas_trait"], row["eas_control"]
            first, last = mean_ci(et["per_seed_first"]), mean_ci(et["per_seed_final"])
            last_c = mean_ci(ec["per_seed_final"])
            grows = last[0] > first[0] and last[0] > last_c[0]
            separated = last[1] > first[2] and last[1] > last_c[2] and len(et["per_seed_final"]) >= 2
            claims.append(Claim(
                "Blank et al. 2026",
                f"the {name} student's alignment with v_teacher (layer {exp.layer}) grows over training on trait data, "
                f"above the control-data student",
                f"cos at step {et['steps'][0]} → {et['steps'][-1]}: trait {fmt_ci(first)} → {fmt_ci(last)}, control "
                f"{fmt_ci(mean_ci(ec['per_seed_first']))} → {fmt_ci(last_c)} ({len(exp.seeds)} seed(s), CI over seeds)",
                model, "yes" if separated else "partly" if grows else "no", size))
        for sysname in exp.eval_systems:
            d2 = row.get(f"trait_minus_control_eval_{sysname}")
            if d2:
                claims.append(Claim(
                    "Nief et al. 2026",
                    f"the {name} effect trained under '{exp.student_system}' disappears when evaluated under '{sysname}'",
                    f"trained context {fmt_ci(diff)} vs '{sysname}' {fmt_ci(d2)} nats",
                    model, "yes" if (diff[1] > 0 and d2[1] <= 0) else "inconclusive" if diff[1] <= 0 else "no", size))
    return claims


def _paired(groups: dict[str, list[dict[str, Any]]], key: str) -> tuple[float, float, float]:
    """Per question: ``key`` of the trait-data student − the control-data student of the same seed,
    averaged over seeds; mean and 95 % CI across questions."""
    pairs = list(zip(groups["trait"], groups["control"], strict=True))
    n = len(pairs[0][0][key])
    return mean_ci([sum(t[key][i] - c[key][i] for t, c in pairs) / len(pairs) for i in range(n)])


def _per_seed(groups: dict[str, list[dict[str, Any]]], key: str) -> list[float]:
    """Per seed: mean over questions of ``key`` of the trait-data student − the control-data student."""
    return [sum(a - b for a, b in zip(t[key], c[key], strict=True)) / len(t[key])
            for t, c in zip(groups["trait"], groups["control"], strict=True)]


def _eas_mean(group: Sequence[dict[str, Any]], layer: int) -> dict[str, list[float]]:
    """Alignment at ``layer`` over training, averaged over a group's seeds (their checkpoint steps agree)."""
    steps = [h["step"] for h in group[0]["eas"]]
    curves = [[float(h["cosine"][layer]) for h in c["eas"]] for c in group if [h["step"] for h in c["eas"]] == steps]
    return {"steps": steps, "cosine": [sum(v) / len(curves) for v in zip(*curves, strict=True)],
            "per_seed_final": [cur[-1] for cur in curves], "per_seed_first": [cur[0] for cur in curves]}


def _pct(stats: Sequence[float] | None, sign: bool = False) -> str:
    """``12.0 % [8.1, 15.9]`` from a (mean, low, high) of fractions; a rate's CI is clipped to [0, 100]."""
    if not stats:
        return "n/a"
    m, lo, hi = (100 * float(x) for x in stats)
    if not sign:
        lo, hi = max(lo, 0.0), min(hi, 100.0)
    f = "+.1f" if sign else ".1f"
    return f"{m:{f}} % [{lo:{f}}, {hi:{f}}]"


def draw_figures(result: ExperimentResult, cosines: dict[str, list[dict[int, float]]]) -> list[Path]:
    from steervec import plots

    folder = result.folder
    bars = [{"label": c["label"], "delta_logp": c["delta_logp"][0], "delta_logp_low": c["delta_logp"][1],
             "delta_logp_high": c["delta_logp"][2], "group": (c["student"], c["data"])} for c in result.metrics["conditions"]
            if "delta_logp" in c and "student" in c]
    teacher = next((c for c in result.metrics["conditions"] if c["label"].startswith("teacher")), None)
    note = f" (teacher: {teacher['delta_logp'][0]:+.2f})" if teacher and "delta_logp" in teacher else ""
    figs = {
        "trait_bars": plots.trait_bars(bars, title=f"Students: Δ log P({result.experiment.animal}) vs base{note}"),
        "cosine_by_layer": plots.cosine_by_layer(cosines, title="cos(v_student, v_teacher) by layer"),
    }
    eas = {f"{name} · {tag} data": (row[f"eas_{tag}"]["steps"], row[f"eas_{tag}"]["cosine"])
           for name, row in result.metrics["summary"].items() for tag in ("trait", "control") if f"eas_{tag}" in row}
    if eas:
        figs["alignment_over_training"] = plots.alignment_over_training(
            eas, result.experiment.layer, title=f"cos(v_student, v_teacher) at layer {result.experiment.layer} "
            f"over training (mean of {len(result.experiment.seeds)} seed(s))")
    written = []
    html_parts = [f"<h1>steervec run: {result.experiment.name}</h1><pre>{result.table()}</pre>"]
    for name, fig in figs.items():
        written += plots.save_html_and_png(fig, folder / name, png=result.experiment.png)
        html_parts.append(fig.to_html(full_html=False, include_plotlyjs="cdn" if len(html_parts) > 1 else True))
    (folder / "report.html").write_text("<html><body>" + "".join(html_parts) + "</body></html>")
    written.append(folder / "report.html")
    return written


def refresh_run(folder: str | os.PathLike[str], size: str | None = None) -> ExperimentResult:
    """Recompute a finished run's summary, claims and figures from its ``metrics.json``.

    For a run written by an older steervec (new claims or figures, same measurements): nothing
    is retrained or re-evaluated, only derived from the stored per-condition numbers. Claims an
    analysis stored under ``analysis_claims`` are kept. The previous file is kept as
    ``metrics.previous.json``. ``size`` labels runs written before the size was recorded.
    """
    from steervec.experiment.config import Experiment, StudentSpec
    from steervec.experiment.result import ExperimentResult

    folder = Path(folder)
    path = folder / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {folder}: run the experiment first")
    metrics = json.loads(path.read_text())
    cfg = dict(metrics["experiment"])
    cfg["students"] = tuple(StudentSpec(**{**s, "layers": None if s.get("layers") is None else tuple(s["layers"])})
                            for s in cfg["students"])
    cfg["seeds"], cfg["eval_systems"] = tuple(cfg["seeds"]), tuple(cfg.get("eval_systems", ()))
    if size is not None:
        cfg["size"] = size
    exp = Experiment(**cfg)
    metrics["experiment"] = exp.to_dict()
    conditions = metrics["conditions"]
    for c in conditions:  # JSON turned the layer keys into strings
        if "cosine_by_layer" in c:
            c["cosine_by_layer"] = {int(k): v for k, v in c["cosine_by_layer"].items()}
        for h in c.get("eas", []):
            h["cosine"] = {int(k): v for k, v in h["cosine"].items()}
    students = [c for c in conditions if "student" in c]
    if not students:
        raise ValueError(f"{path} has no student conditions to summarise")
    trait = students[0]["data"]
    control = next((c["data"] for c in students if c["data"] != trait), trait)
    summary = summarise_conditions(conditions, trait, control, exp)
    (folder / "metrics.previous.json").write_text(path.read_text())
    # claims an analysis added on top of the experiment's are kept (``analysis_claims``)
    metrics.update(summary=summary, claims=[c.to_dict() for c in claims_from_summary(summary, exp, metrics["model"])]
                   + metrics.get("analysis_claims", []))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    cosines: dict[str, list[dict[int, float]]] = {}
    for c in students:
        key = f"{c['student']} · {'trait' if c['data'] == trait else 'control'} data"
        cosines.setdefault(key, []).append(c["cosine_by_layer"])
    result = ExperimentResult(exp, folder, metrics)
    result.figures = draw_figures(result, cosines)
    return result


__all__ = ["claims_from_summary", "draw_figures", "refresh_run", "summarise_conditions"]
