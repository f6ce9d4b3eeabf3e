"""What a finished experiment run says: per-student summaries and figures (claims come from the caller).

:func:`steervec.experiment.run_experiment` measures (teachers, students, evaluations) and
stores every per-condition number in ``metrics.json``; this module derives from those numbers
the summary (trait vs control, paired by seed), and :func:`refresh_run` re-derives it, the
figures and (given a :data:`ClaimsFn`) the claims for a finished run without retraining. Which
study claimed what, and how a verdict is decided, lives with the analyses (``analyses/claims.py``).

Example:
    >>> result = refresh_run("runs/full/student_alignment")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steervec.core.io import atomic_path
from steervec.experiment.records import Claim
from steervec.metrics.evaluate import mean_ci
from steervec.metrics.shifts import seed_t_interval

if TYPE_CHECKING:
    from steervec.experiment.config import Experiment
    from steervec.experiment.result import ExperimentResult

ClaimsFn = Callable[[dict[str, Any], "Experiment", str], list[Claim]]
"""``claims(summary, experiment, model) -> [Claim]``: what a run's summary says about a study's
claims (``analyses/claims.py::experiment_claims``)."""

LENMATCH = "-lenmatch"
"""Suffix of a length-matched dataset's name (``owl-prompted-lenmatch``; see ``Experiment.length_matched``)."""
LENMATCH_LABEL = " (length-matched)"
"""Suffix of a student's summary key for its length-matched pair (``"LoRA r8 (length-matched)"``)."""


def summarise_run(conditions: Sequence[dict[str, Any]], trait: str, control: str, exp: Experiment) -> dict[str, Any]:
    """:func:`summarise_conditions` for the run's datasets, plus, when ``exp.length_matched``, the same
    summary of the students trained on the length-matched pair (``trait + LENMATCH`` vs
    ``control + LENMATCH``) under ``"<student> (length-matched)"``."""
    out = summarise_conditions(conditions, trait, control, exp)
    if getattr(exp, "length_matched", False):
        matched = summarise_conditions(conditions, trait + LENMATCH, control + LENMATCH, exp)
        out.update({name + LENMATCH_LABEL: row for name, row in matched.items()})
    return out


def _unit(c: dict[str, Any]) -> tuple[int, int]:
    """A student condition's (data seed, training seed); runs before data seeds varied used data seed 1."""
    return int(c.get("data_seed", 1)), int(c.get("seed", 0))


def summarise_conditions(conditions: Sequence[dict[str, Any]], trait: str, control: str, exp: Experiment) -> dict[str, Any]:
    """Per student: what the trait-data students did against the control-data students.

    Students are paired by unit, a (data seed, training seed) pair (the data seed's trait and
    control datasets, trained with the same training seed). Per student the summary holds:

    * ``delta_logp_{trait,control}`` and ``cosine_{trait,control}``: mean and 95 % t interval over units;
    * ``trait_minus_control``: the paired per-question difference log P(trait-data student) −
      log P(control-data student), averaged over units; mean and 95 % CI **across questions**
      (how sure the measurement is for these students; not a replication interval);
    * ``trait_minus_control_per_seed``: one mean-over-questions difference per unit, and
      ``units`` their (data seed, training seed);
    * ``seed_level``: the values a verdict reads: per data seed (the mean over its training
      seeds) when several data seeds ran, else per training seed; ``seed_unit`` names which;
      ``by_question_per_seed``: per seed-level unit, the per-question differences (for a
      hierarchical bootstrap);
    * the same for the cosine at the reporting layer (``cosine_minus_control_*``) and for the
      other evaluation conditions;
    * with ``exp.specific_alignment``: ``controlled_cosine_{specific,teacher}`` (mean and seed-level t
      interval), ``..._per_seed`` and ``..._seed_level``: the cosine of the control-subtracted shift with
      the matched trait vector and with v_teacher at the reporting layer, and
      ``cosine_specific_{trait,control}`` (the raw shifts' cosines with the matched vector).
    """
    out: dict[str, Any] = {}
    for spec in exp.students:
        row: dict[str, Any] = {"n_seeds": len(exp.seeds), "n_data_seeds": len(exp.data_seeds)}
        groups = {}
        for data_name, tag in ((trait, "trait"), (control, "control")):
            group = sorted((c for c in conditions if c.get("student") == spec.name and c.get("data") == data_name),
                           key=_unit)  # trait and control students paired by unit
            groups[tag] = group
            if group:
                row[f"delta_logp_{tag}"] = mean_ci([c["delta_logp"][0] for c in group])
                row[f"cosine_{tag}"] = mean_ci([c["cosine_at_layer"] for c in group])
                if group[0].get("eas"):
                    row[f"eas_{tag}"] = _eas_mean(group, exp.reporting_layer)
                if "rates" in group[0]:  # per question, averaged over seeds; CI across questions
                    per_q = [sum(c["rates"][i] for c in group) / len(group) for i in range(len(group[0]["rates"]))]
                    row[f"rate_{tag}"] = mean_ci(per_q)
        if groups["trait"] and groups["control"]:
            if [_unit(c) for c in groups["trait"]] != [_unit(c) for c in groups["control"]]:
                raise ValueError(f"student {spec.name!r}: trait and control students cover different (data seed, "
                                 "seed) units; rerun the experiment so that both finish")
            row["units"] = [list(_unit(c)) for c in groups["trait"]]
            row["seed_unit"] = seed_level({_unit(c): 0.0 for c in groups["trait"]})[0]
            row.update(_paired_summary(groups, "logp", "trait_minus_control"))
            pairs = list(zip(groups["trait"], groups["control"], strict=True))
            cos = {_unit(t): t["cosine_at_layer"] - c["cosine_at_layer"] for t, c in pairs}
            row["cosine_minus_control_per_seed"] = list(cos.values())
            row["cosine_minus_control_seed_level"] = seed_level(cos)[1]
            row.update(_controlled_summary(groups, exp.reporting_layer))
            for key in ("log_odds", "log_odds_prefilled"):  # the specific trait measure, when measured
                if key in groups["trait"][0] and key in groups["control"][0]:
                    row.update(_paired_summary(groups, key, f"{key}_trait_minus_control"))
            if "rates" in groups["trait"][0] and "rates" in groups["control"][0]:
                row.update(_paired_summary(groups, "rates", "rate_trait_minus_control"))
                row["rate_base"] = conditions[0].get("rate")
                row["rate_teacher"] = conditions[1].get("rate")
            for name in exp.eval_systems:
                row.update(_paired_summary(groups, f"logp_eval_{name}", f"trait_minus_control_eval_{name}"))
        out[spec.name] = row
    return out


def _at(by_layer: dict[Any, float], layer: int) -> float:
    """A ``{layer: value}`` dict's value at ``layer`` (JSON turns the keys into strings)."""
    return float(by_layer[layer] if layer in by_layer else by_layer[str(layer)])


def _controlled_summary(groups: dict[str, list[dict[str, Any]]], layer: int) -> dict[str, Any]:
    """The control-subtracted alignment at ``layer`` (see :func:`summarise_conditions`); empty for
    runs that did not measure it."""
    out: dict[str, Any] = {}
    for tag in ("trait", "control"):
        if groups[tag] and "cosine_specific_by_layer" in groups[tag][0]:
            out[f"cosine_specific_{tag}"] = mean_ci([_at(c["cosine_specific_by_layer"], layer) for c in groups[tag]])
    for direction in ("specific", "teacher"):
        key = f"controlled_cosine_{direction}_by_layer"
        if not all(key in c for c in groups["trait"]):
            continue
        per_unit = {_unit(c): _at(c[key], layer) for c in groups["trait"]}
        values = seed_level(per_unit)[1]
        out[f"controlled_cosine_{direction}"] = list(seed_t_interval(values))
        out[f"controlled_cosine_{direction}_per_seed"] = list(per_unit.values())
        out[f"controlled_cosine_{direction}_seed_level"] = values
    if groups["trait"] and all(c.get("eas_controlled_specific") for c in groups["trait"]):
        out["eas_controlled_specific"] = _controlled_growth(groups["trait"], layer)
    return out


def _controlled_growth(trait_rows: Sequence[dict[str, Any]], layer: int) -> dict[str, Any]:
    """The control-subtracted alignment with the matched vector over training, at ``layer``, on the
    checkpoint steps every unit shares: the mean curve (``steps``, ``cosine``), and per seed-level
    unit the last checkpoint's value (``final_seed_level``) and its rise from the first checkpoint
    (``growth_seed_level``: last − first), the values the growth claim reads."""
    steps = sorted(set.intersection(*({h["step"] for h in c["eas_controlled_specific"]} for c in trait_rows)))
    if not steps:
        raise ValueError("the tracked students share no checkpoint step: rerun with the same track_every for all")
    curves = {_unit(c): [_at(h["cosine"], layer) for h in sorted(c["eas_controlled_specific"], key=lambda h: h["step"])
                         if h["step"] in steps] for c in trait_rows}
    _, levels = seed_level(curves)
    return {"steps": steps, "cosine": [sum(v) / len(curves) for v in zip(*curves.values(), strict=True)],
            "per_seed_final": [cur[-1] for cur in curves.values()],
            "final_seed_level": [cur[-1] for cur in levels],
            "growth_seed_level": [cur[-1] - cur[0] for cur in levels]}


def seed_level(per_unit: dict[tuple[int, int], Any]) -> tuple[str, list[Any]]:
    """The values a verdict reads from per-unit values (``{(data seed, training seed): value}``, a value
    a number or a list of per-question numbers): one per data seed (the mean over its training seeds)
    when the units span several data seeds, else one per training seed; with the unit's name
    (``"data seed"`` or ``"training seed"``).

    Example:
        >>> seed_level({(1, 0): 1.0, (1, 1): 3.0, (2, 0): 5.0, (2, 1): 7.0})
        ('data seed', [2.0, 6.0])
    """
    data_seeds = sorted({d for d, _ in per_unit})
    if len(data_seeds) == 1:
        return "training seed", [per_unit[u] for u in sorted(per_unit)]
    means = []
    for d in data_seeds:
        values = [v for (dd, _), v in sorted(per_unit.items()) if dd == d]
        means.append([sum(col) / len(values) for col in zip(*values, strict=True)] if isinstance(values[0], list)
                     else sum(values) / len(values))
    return "data seed", means


def _paired_summary(groups: dict[str, list[dict[str, Any]]], key: str, name: str) -> dict[str, Any]:
    """``key`` of each trait-data student minus the control-data student of the same unit:
    ``name`` (per question, averaged over units; mean and CI across questions),
    ``name_per_seed`` (per unit, mean over questions), ``name_seed_level`` and
    ``name_by_question_per_seed`` (per seed-level unit; see :func:`summarise_conditions`)."""
    pairs = list(zip(groups["trait"], groups["control"], strict=True))
    n = len(pairs[0][0][key])
    per_unit = {_unit(t): [t[key][i] - c[key][i] for i in range(n)] for t, c in pairs}
    _, by_question = seed_level(per_unit)
    return {
        name: mean_ci([sum(d[i] for d in per_unit.values()) / len(per_unit) for i in range(n)]),
        f"{name}_per_seed": [sum(d) / n for d in per_unit.values()],
        f"{name}_seed_level": [sum(d) / n for d in by_question],
        f"{name}_by_question_per_seed": by_question,
    }


def _eas_mean(group: Sequence[dict[str, Any]], layer: int) -> dict[str, list[float]]:
    """Alignment at ``layer`` over training, averaged over a group's seeds (their checkpoint steps agree)."""
    steps = [h["step"] for h in group[0]["eas"]]
    curves = [[float(h["cosine"][layer]) for h in c["eas"]] for c in group if [h["step"] for h in c["eas"]] == steps]
    return {"steps": steps, "cosine": [sum(v) / len(curves) for v in zip(*curves, strict=True)],
            "per_seed_final": [cur[-1] for cur in curves], "per_seed_first": [cur[0] for cur in curves]}


def draw_figures(result: ExperimentResult) -> list[Path]:
    """Write the run's figures (HTML, and PNG when ``experiment.png``) and its self-explaining
    ``report.html`` (:func:`steervec.experiment.html_report.write_report`), all drawn from
    ``result.metrics``."""
    from steervec import plots
    from steervec.experiment.html_report import experiment_figures, write_report

    figs = experiment_figures(result.metrics)
    written: list[Path] = []
    for name, fig, _ in figs:
        written += plots.save_html_and_png(fig, result.folder / name, png=result.experiment.png)
    written.append(write_report(result.folder, figures=figs))
    return written


def refresh_run(folder: str | os.PathLike[str], size: str | None = None,
                claims: ClaimsFn | None = None, figures: bool = True, backup: bool = True) -> ExperimentResult:
    """Recompute a finished run's summary, figures and (with ``claims``) claims from its ``metrics.json``.

    For a run written by an older steervec (new claims or figures, same measurements): nothing
    is retrained or re-evaluated, only derived from the stored per-condition numbers. Claims an
    analysis stored under ``analysis_claims`` are kept; without ``claims`` the experiment's own
    claims are left as they were. Claims that change are kept under ``claims_superseded`` (the
    first time only, so the earliest verdicts stay visible); with ``backup`` the previous file is
    also kept as ``metrics.previous.json``. ``figures=False`` leaves the figures as they are (a run
    record's PNGs). ``size`` labels runs written before the size was recorded.
    """
    from steervec.experiment.config import Experiment
    from steervec.experiment.result import ExperimentResult

    folder = Path(folder)
    path = folder / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {folder}: run the experiment first")
    metrics = json.loads(path.read_text())
    cfg = dict(metrics["experiment"])
    if size is not None:
        cfg["size"] = size
    exp = Experiment.from_dict(cfg)
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
    control = next((c["data"] for c in students if c["data"] != trait and not c["data"].endswith(LENMATCH)), trait)
    summary = summarise_run(conditions, trait, control, exp)
    if backup:
        (folder / "metrics.previous.json").write_text(path.read_text())
    before = list(metrics.get("claims", []))
    # claims an analysis added on top of the experiment's are kept (``analysis_claims``)
    own = [c.to_dict() for c in claims(summary, exp, metrics["model"])] if claims is not None else \
        metrics.get("experiment_claims", _own_claims(metrics))
    metrics.update(summary=summary, experiment_claims=own, claims=own + metrics.get("analysis_claims", []))
    if metrics["claims"] != before and "claims_superseded" not in metrics:
        metrics["claims_superseded"] = before
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    result = ExperimentResult(exp, folder, metrics)
    if figures:
        result.figures = draw_figures(result)
    return result


def _own_claims(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The experiment's own claims of a run written before ``experiment_claims`` was stored."""
    extra = metrics.get("analysis_claims", [])
    return [c for c in metrics.get("claims", []) if c not in extra]


__all__ = ["LENMATCH", "LENMATCH_LABEL", "ClaimsFn", "draw_figures", "refresh_run", "seed_level", "summarise_conditions",
           "summarise_run"]
