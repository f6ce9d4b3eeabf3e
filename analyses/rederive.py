"""Re-derive the verdicts of recorded runs under the seed-level rule, retraining nothing.

Each record's stored per-seed measurements are read back; its summary is recomputed
(:func:`steervec.experiment.report.refresh_run`, figures left as they are) and its claims are
decided again by ``analyses/claims.py``. The claims a record had before are kept in its
``metrics.json`` under ``claims_superseded``, so RESULTS.md can show each verdict before and after.
Records without per-seed measurements (claims-only records, the prompt_as_vector sweep) keep
their claims' text and get "no verdict": a seed-level rule cannot be applied to them.

    python analyses/rederive.py records/demo records/full/*
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from claims import (
    ADAPTIVE_OPTIMIZERS,
    PLAIN_OPTIMIZERS,
    RULE,
    cross_model_study_claims,
    divergence_study_claims,
    experiment_claims,
    gradient_claims,
    lr_selection_text,
    optimizer_claim,
    rank_claims,
    run_seed_unit,
    unrecorded,
)

from steervec.core.io import atomic_path
from steervec.experiment.report import refresh_run


def _analysis_claims(folder: Path, metrics: dict) -> list[dict] | None:
    """The analysis' own claims re-decided from its stored numbers (``None``: it has none)."""
    size, model = metrics["experiment"]["size"], metrics["model"]
    summary = metrics["summary"]
    if "rank_curve" in metrics:
        curve = metrics["rank_curve"]
        return [c.to_dict() for c in rank_claims(curve["ranks"], curve["per_seed"], curve.get("full_ft_per_seed"),
                                                 model, size, unit=run_seed_unit(summary))]
    if "gradient_alignment" in metrics:
        per_optimizer = {name.removeprefix("vector@25 "): row["trait_minus_control_seed_level"]
                         for name, row in summary.items() if "trait_minus_control_seed_level" in row}
        return [c.to_dict() for c in gradient_claims(metrics["gradient_alignment"], model, size)] + [
            optimizer_claim(per_optimizer, ADAPTIVE_OPTIMIZERS, PLAIN_OPTIMIZERS, model, size,
                            lr_selection_text(metrics["lr_selection"]) if "lr_selection" in metrics
                            else "").to_dict()]
    return None


def rederive_experiment(folder: Path) -> None:
    """An experiment record: its summary, its own claims and its analysis' claims, re-decided."""
    path = folder / "metrics.json"
    metrics = json.loads(path.read_text())
    refresh_run(folder, claims=experiment_claims, figures=False, backup=False)  # summary and own claims
    metrics = json.loads(path.read_text())
    extra = _analysis_claims(folder, metrics)
    if extra is not None:
        superseded = metrics.get("claims_superseded", metrics["claims"])
        metrics["analysis_claims"] = extra
        metrics["claims"] = metrics["experiment_claims"] + extra
        metrics["claims_superseded"] = superseded
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(metrics, indent=1, default=float))


def _redecide(path: Path, metrics: dict, claims: list) -> None:
    """Write ``claims`` as the record's claims, keeping its first published ones as ``claims_superseded``."""
    metrics.setdefault("claims_superseded", metrics["claims"])
    metrics["claims"] = [c.to_dict() for c in claims]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))


def rederive_cross_model(folder: Path) -> None:
    """The other-family students: their per-seed-unit differences under the equivalence rule."""
    path = folder / "metrics.json"
    metrics = json.loads(path.read_text())
    old = metrics["claims"][0]
    if "detail" not in metrics:  # older records: their first claim opened "<family> LoRA r8 students of <teacher> teacher data: "
        first = metrics.get("claims_superseded", metrics["claims"])[0]["measurement"]
        students = first.split(": ")[0] if "students of" in first.split(": ")[0] else "other-family LoRA r8 students"
        metrics["detail"] = f"{students}; across questions {metrics['difference'][0]:+.3f} nats"
    _redecide(path, metrics, cross_model_study_claims(metrics, old["model"], old["size"]))


def rederive_divergence(folder: Path) -> None:
    """A ``divergence_tokens`` run: its claims decided again from the per-seed-unit numbers it stored."""
    path = folder / "metrics.json"
    metrics = json.loads(path.read_text())
    old = metrics["claims"][0]
    _redecide(path, metrics, divergence_study_claims(metrics, old["model"], old["size"]))


def rederive_unrecorded(path: Path) -> None:
    """A record without per-seed numbers: its claims keep their text and lose their verdict."""
    data = json.loads(path.read_text())
    data.setdefault("claims_superseded", data["claims"])
    data["claims"] = [unrecorded(c) for c in data["claims_superseded"]]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=float))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", help="record folders (with a metrics.json)")
    args = parser.parse_args(argv)
    for name in args.records:
        folder = Path(name)
        path = folder / "metrics.json"
        if not path.is_file():
            if (folder / "claims.json").is_file():
                rederive_unrecorded(folder / "claims.json")
                print(f"{folder}: claims only: no seed-level verdict")
            continue
        metrics = json.loads(path.read_text())
        if not metrics.get("claims"):
            print(f"{folder}: no claims")
            continue
        if "conditions" in metrics and "experiment" in metrics:
            rederive_experiment(folder)
        elif "difference_per_seed" in metrics:
            rederive_cross_model(folder)
        elif "divergence_minus_random" in metrics or "per_data_seed" in metrics:
            rederive_divergence(folder)
        elif all(c.get("rule") == RULE for c in metrics["claims"]):
            print(f"{folder}: decided by the seed-level rule already")
            continue
        else:
            rederive_unrecorded(path)
            print(f"{folder}: no per-seed measurements: no seed-level verdict")
            continue
        print(f"{folder}: re-derived")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
