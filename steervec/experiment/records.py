"""RESULTS.md from the runs' metrics: one row per claim of the reference studies.

Each analysis writes ``runs/<name>/metrics.json`` with a ``claims`` list of
:class:`Claim` dicts; :func:`write_results` gathers them into a Markdown table. Nothing in
the table is typed by hand: rerun the analyses and this command to refresh it.

``runs/`` is scratch space (students, caches) and is not kept in git. :func:`archive_runs`
copies what a finished demo- or full-size run measured — ``metrics.json``, ``config.json``,
its tables, PNG figures and teacher datasets — into a tracked records folder
(``records/``), so RESULTS.md can be rebuilt and audited from the repository alone.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from steervec.core.io import atomic_dir, atomic_path

Verdict = Literal["yes", "no", "partly", "inconclusive"]


@dataclass(frozen=True)
class Claim:
    """One claim and what this run measured for it.

    Attributes:
        study: short name of the reference study.
        claim: the claim, in one sentence.
        measurement: what was measured, with CIs and seeds.
        model: the model it was measured on.
        reproduced: ``yes`` / ``no`` / ``partly`` / ``inconclusive`` (CIs overlap zero etc.).
        size: ``quick`` or ``full``.
    """

    study: str
    claim: str
    measurement: str
    model: str
    reproduced: Verdict
    size: str = "quick"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(low: float, high: float, expected_positive: bool = True) -> Verdict:
    """``yes`` when a 95 % CI excludes zero in the expected direction, ``no`` when it excludes it
    the other way, else ``inconclusive``."""
    if expected_positive:
        return "yes" if low > 0 else "no" if high < 0 else "inconclusive"
    return "yes" if high < 0 else "no" if low > 0 else "inconclusive"


def across_seeds(v: Verdict, per_seed: Sequence[float]) -> Verdict:
    """A ``yes`` from an across-question CI holds only if every seed's difference is positive too;
    seeds of both signs put the effect within the seed spread: ``partly``."""
    return "partly" if v == "yes" and len(per_seed) > 1 and min(per_seed) <= 0 else v


def seeds_text(per_seed: Sequence[float]) -> str:
    """`` (per seed +0.40, +0.43, +1.32)`` for several seeds, else ``""``: a CI across questions
    says nothing of the spread between seeds, so it is stated beside it."""
    return f" (per seed {', '.join(f'{x:+.2f}' for x in per_seed)})" if len(per_seed) > 1 else ""


def fmt_ci(stats: tuple[float, float, float] | list[float], digits: int = 3) -> str:
    mean, low, high = stats
    if low == high == mean:
        return f"{mean:+.{digits}f} (no CI: one value)"
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


Roots = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""One folder of runs, or several (``runs`` and the tracked records)."""

CLAIM_FILES = ("metrics.json", "claims.json")
"""Files a run's claims are read from: its metrics, or a claims-only record (see README)."""


def _roots(runs: Roots) -> list[Path]:
    return [Path(runs)] if isinstance(runs, str | os.PathLike) else [Path(r) for r in runs]


def run_folders(runs: Roots) -> list[tuple[str, Path]]:
    """``(run name, folder)`` for every run under ``runs`` (any depth) that has a claims file.

    The run name is the folder's path below its root (``full/lora_rank``); folders whose name
    starts with ``_`` (shared datasets and students) are skipped. A name found under several
    roots is taken from the first root that has it.
    """
    found: dict[str, Path] = {}
    for root in _roots(runs):
        for name in CLAIM_FILES:
            for path in sorted(root.rglob(name)):
                rel = path.parent.relative_to(root)
                if any(part.startswith("_") for part in rel.parts):
                    continue
                found.setdefault(rel.as_posix(), path.parent)
    return sorted(found.items())


def _claims_of(folder: Path) -> list[dict[str, Any]]:
    for name in CLAIM_FILES:
        if (folder / name).is_file():
            return list(json.loads((folder / name).read_text()).get("claims", []))
    return []


def collect(runs: Roots) -> list[tuple[str, dict[str, Any]]]:
    """``(run name, claim dict)`` for every claim of every run under ``runs`` (see :func:`run_folders`)."""
    return [(name, claim) for name, folder in run_folders(runs) for claim in _claims_of(folder)]


RECORD_PATTERNS = ("metrics.json", "config.json", "*.csv", "*.png", "data-*.jsonl")
"""What :func:`archive_runs` keeps of a run: measurements, settings, figures, teacher data."""


def archive_runs(runs: Roots, records: str | os.PathLike[str] = "records") -> list[Path]:
    """Copy every demo- or full-size run under ``runs`` into ``records`` (tracked in git).

    Quick runs (CI plumbing) are skipped. Linked files (shared teacher datasets) are copied
    as their content, and a run's old record is replaced only once its new copy is complete. Students and caches stay behind: they are large and
    every number they gave is in ``metrics.json``.

    Returns:
        The record folders written.
    """
    target_root = Path(records).resolve()
    written = []
    for name, folder in run_folders(runs):
        if folder.resolve().is_relative_to(target_root):
            continue
        sizes = {_section(c.get("size", "")) for c in _claims_of(folder)}
        if not sizes or sizes <= {"quick"}:
            continue
        files = sorted({p for pattern in RECORD_PATTERNS for p in folder.glob(pattern) if p.is_file()})
        target = target_root / name
        with atomic_dir(target) as staging:
            for src in files:
                shutil.copyfile(src, staging / src.name)  # follows links: the dataset, not the link
        written.append(target)
    return written


SIZE_ORDER = ("full", "demo", "custom", "quick")
"""Sections of RESULTS.md, in this order; a claim's size is matched on its first word."""

ASSET_FIGURES = (
    ("subliminal_transfer-owl", "trait_bars"),
    ("student_alignment", "alignment_over_training"),
    ("student_alignment", "cosine_by_layer"),
    ("lora_rank", "rank_curve"),
    ("prompt_as_vector", "sweep"),
    ("optimizer_ablation", "gradient_alignment"),
)
"""(run folder name, figure) pairs that ``steervec results --assets`` copies for the README."""


def _section(size: str) -> str:
    word = (size or "custom").split()[0]
    return word if word in SIZE_ORDER else "custom"


def write_results(runs: Roots = "runs", out: str | os.PathLike[str] = "RESULTS.md",
                  assets: str | os.PathLike[str] | None = None) -> Path:
    """Write the claims of every run under ``runs`` to ``out`` (atomically), full-size runs first.

    With ``assets``, also copy the PNG figures named in :data:`ASSET_FIGURES` from the full-size
    runs into that folder (as ``<run>-<figure>.png``). A run recorded by its claims alone
    (``claims.json``, no metrics) is marked so in the run column.
    """
    folders = dict(run_folders(runs))
    rows = [(name if (folders[name] / "metrics.json").is_file() else f"{name} (claims only)", c)
            for name, c in collect(runs)]
    if not rows:
        raise FileNotFoundError(f"no runs with claims under {runs}: run the analyses first "
                                "(e.g. `steervec run subliminal_transfer --quick`)")
    titles = {"full": "Full-size analyses", "demo": "`make demo`", "custom": "Other runs",
              "quick": "Quick runs (CI size: plumbing, not evidence)"}
    lines = [
        "# Results",
        "",
        "Generated by `steervec results` from the runs' `metrics.json`; every number below was",
        "measured by `make demo` or the analyses in `analyses/`. 'full' is an analysis at full size",
        "(300 rows per teacher, 50 questions, 3 training seeds unless the row says otherwise), 'demo'",
        "`make demo` (one seed; rows per teacher as the measurement says). 95 % CIs are across questions unless the measurement says seeds.",
        "'reproduced': yes = the 95 % CI excludes zero in the claimed direction; no = it excludes it the",
        "other way (or the claim fails); partly / inconclusive = as the measurement shows. A student's",
        "trait − control difference over several seeds is 'yes' only when every seed's difference is positive",
        "too; seeds of both signs make it 'partly' (the per-seed values are in the measurement).",
        "",
    ]
    for size in SIZE_ORDER:
        part = [(run, c) for run, c in rows if _section(c.get("size", "")) == size]
        if not part:
            continue
        tally = {v: sum(c["reproduced"] == v for _, c in part) for v in ("yes", "partly", "no", "inconclusive")}
        lines += [f"## {titles[size]}", "",
                  f"{len(part)} claims: " + ", ".join(f"{n} {v}" for v, n in tally.items() if n) + ".", "",
                  "| study | claim | our measurement | model | reproduced | run |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for run, c in part:
            cells = [c["study"], c["claim"], c["measurement"], c["model"], c["reproduced"], run]
            lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
        lines.append("")
    path = Path(out)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    if assets is not None:
        copy_assets(runs, assets)
    return path


def copy_assets(runs: Roots, assets: str | os.PathLike[str]) -> list[Path]:
    """Copy :data:`ASSET_FIGURES` PNGs of full-size runs under ``runs`` into ``assets``."""
    folders = dict(run_folders(runs))
    full = {Path(run).name: folders[run] for run, c in collect(runs) if _section(c.get("size", "")) == "full"}
    target = Path(assets)
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for run, figure in ASSET_FIGURES:
        src = full.get(run, Path("/nonexistent")) / f"{figure}.png"
        if src.is_file():
            dst = target / f"{run}-{figure}.png"
            with atomic_path(dst) as tmp:
                tmp.write_bytes(src.read_bytes())
            copied.append(dst)
    return copied
