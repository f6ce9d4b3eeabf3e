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
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from steervec.core.io import atomic_dir, atomic_path

Verdict = str
"""``yes`` / ``no`` / ``inconclusive — needs N seeds`` / ``no verdict`` (the seed-level rule of
``analyses/claims.py``); records written before it also say ``partly`` or plain ``inconclusive``."""
VERDICT_WORDS = ("yes", "partly", "no", "inconclusive", "no verdict")


@dataclass(frozen=True)
class Claim:
    """One claim and what this run measured for it.

    Attributes:
        study: short name of the reference study.
        claim: the claim, in one sentence.
        measurement: what was measured, with CIs and seeds.
        model: the model it was measured on.
        reproduced: the verdict (see :data:`Verdict`).
        size: ``quick``, ``demo`` or ``full``.
        rule: how the verdict was decided (empty: the question-level rule of earlier records).
    """

    study: str
    claim: str
    measurement: str
    model: str
    reproduced: Verdict
    size: str = "quick"
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not out["rule"]:  # records written before the field existed read back unchanged
            del out["rule"]
        return out


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


RECORD_PATTERNS = ("metrics.json", "config.json", "*.csv", "*.png", "data-*.jsonl", "v_teacher.safetensors",
                   "v_specific.safetensors", "shifts/*.safetensors")
"""What :func:`archive_runs` keeps of a run: measurements, settings, figures, teacher data, its vectors and
its students' shifts (~70 KB each: what a cross-trait matrix is built from)."""


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
                dest = staging / src.relative_to(folder)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)  # follows links: the dataset, not the link
        written.append(target)
    return written


SIZE_ORDER = ("full", "demo", "custom", "quick")
"""Sections of RESULTS.md, in this order; a claim's size is matched on its first word."""

ASSET_FIGURES = (
    ("planted_vector", "recovery-L25"),
    ("subliminal_transfer-owl", "trait_bars"),
    ("student_alignment", "alignment_over_training"),
    ("student_alignment", "cosine_by_layer"),
    ("lora_rank", "rank_curve"),
    ("prompt_as_vector", "sweep"),
    ("optimizer_ablation", "gradient_alignment"),
)
"""(run folder name, figure) pairs that ``steervec results --assets`` copies for the README."""


def _verdict_word(reproduced: str) -> str:
    """The verdict's first word(s): ``inconclusive — needs 5 seeds`` counts as inconclusive."""
    return next((w for w in sorted(VERDICT_WORDS, key=len, reverse=True) if reproduced.startswith(w)), reproduced)


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
        "Generated by `steervec results` from the run records' `metrics.json`; every number below was",
        "measured by `make demo` or the analyses in `analyses/`. 'full' is an analysis at full size",
        "(300 rows per teacher, 50 questions; each row names its data and training seeds), 'demo'",
        "`make demo` (one seed).",
        "",
        "**How a verdict is decided** (`analyses/claims.py`, one rule: `steervec.metrics.stats.verdict`). The",
        "unit of replication is the seed: one value per data seed (the mean over its training seeds) when",
        "the teacher data was generated with several seeds, else one per training seed (the row says",
        "'one teacher dataset'). The interval is a Student-t interval over those seed means (n − 1 degrees",
        "of freedom) — the two-stage form of a mixed model with a random seed effect, questions nested in",
        "seeds. 'yes' needs that 95 % interval to exclude zero in the claimed direction with at least 3",
        "seeds; 'no' means it excludes zero the other way; a claim of *no* effect is 'yes' only when a TOST",
        "equivalence test puts the effect within the stated margin; otherwise 'inconclusive — needs N",
        "seeds' (80 % power at the measured seed spread); fewer than 3 seeds: 'no verdict'. Training seeds",
        "of one teacher dataset never make a 'yes' or 'no' on their own: the row says what they agree on",
        "and stays 'no verdict' until the teacher data is regenerated with other seeds. The CI across",
        "questions is quoted as the measurement's precision, never as the verdict's interval."
        + (" Verdicts marked '(earlier rule)' come from records without per-seed numbers and still rest"
           " on CIs across questions." if _earlier_anywhere(rows) else "")
        + " The table at the end shows every verdict a re-run or re-derivation changed.",
        "",
        "**How an alignment is measured.** A trait-alignment verdict reads the control-subtracted shift",
        "(the trait-data student's shift minus the control-data student's of the same data and training",
        "seed) against the trait's *matched* vector (its prompt minus the mean over other animals in the",
        "same wording). Cosines with the raw v_teacher (the prompt minus no system turn, or minus the",
        "template's default: mostly the direction of having a system prompt) are kept as measurements and",
        "marked 'no verdict — raw v_teacher'. The student matrix is read by rows (a trait's students on",
        "their own vector against the other vectors) and by columns (a trait's students against the other",
        "traits' students on that trait's vector); only the columns cancel a direction every student moves along.",
        "",
    ]
    for size in SIZE_ORDER:
        part = [(run, c) for run, c in rows if _section(c.get("size", "")) == size]
        if not part:
            continue
        tally = {v: sum(_verdict_word(c["reproduced"]) == v for _, c in part) for v in VERDICT_WORDS}
        distinct = {(c["measurement"], c["reproduced"]): c for _, c in part}  # one student pair, several runs
        dtally = {v: sum(_verdict_word(c["reproduced"]) == v for c in distinct.values()) for v in VERDICT_WORDS}
        same = "" if len(distinct) == len(part) else (
            f" {len(distinct)} distinct results (a measurement shared by several runs counted once): "
            + ", ".join(f"{n} {v}" for v, n in dtally.items() if n) + ".")
        lines += [f"## {titles[size]}", "",
                  f"{len(part)} claims: " + ", ".join(f"{n} {v}" for v, n in tally.items() if n) + "." + same, "",
                  "| study | claim | our measurement | model | reproduced | run |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for run, c in part:
            verdict = c["reproduced"] + ("" if c.get("rule") or not _ruled_anywhere(rows) else " (earlier rule)")
            cells = [c["study"], c["claim"], c["measurement"], c["model"], verdict, run]
            lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
        lines.append("")
    lines += _changed_verdicts(runs)
    path = Path(out)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    if assets is not None:
        copy_assets(runs, assets)
    return path


def _ruled_anywhere(rows: Sequence[tuple[str, dict[str, Any]]]) -> bool:
    """Whether any claim was decided by a named rule (then the others are marked as earlier)."""
    return any(c.get("rule") for _, c in rows)


def _earlier_anywhere(rows: Sequence[tuple[str, dict[str, Any]]]) -> bool:
    """Whether any claim is marked '(earlier rule)': decided without a named rule beside claims that have one."""
    return _ruled_anywhere(rows) and not all(c.get("rule") for _, c in rows)


def _claim_key(text: str) -> str:
    """A claim's sentence without its parenthesised qualifiers (margins, layers, baselines), so a
    re-worded claim is matched with its earlier form."""
    return re.sub(r"\s*\([^)]*\)", "", text).split(" — ")[0].strip()


def _earlier(old: dict[str, str], key: str) -> str | None:
    """The earlier verdict of the claim ``key``: the same sentence, or one the claim spells out after a
    colon ("X" re-worded as "X: how it is now tested")."""
    if key in old:
        return old[key]
    return next((verdict for k, verdict in old.items() if key.startswith(k + ":")), None)


def _changed_verdicts(runs: Roots) -> list[str]:
    """A table of the verdicts a re-derivation changed (``claims_superseded`` beside ``claims``)."""
    lines: list[str] = []
    for name, folder in run_folders(runs):
        path = next((folder / n for n in CLAIM_FILES if (folder / n).is_file()), None)
        if path is None:
            continue
        metrics = json.loads(path.read_text())
        old = {_claim_key(c["claim"]): c["reproduced"] for c in metrics.get("claims_superseded", [])}
        how = metrics.get("superseded_how", "re-derived: the same stored measurements, nothing retrained")
        for c in metrics.get("claims", []) if old else []:
            before = _earlier(old, _claim_key(c["claim"]))
            if before is not None:
                lines.append(f"| {c['claim'].replace('|', '/')} | {name} | was {before} | {c['reproduced']} | "
                             f"{how.replace('|', '/')} |")
    if not lines:
        return []
    return ["## Verdicts before and after the seed-level rule", "",
            "Each record keeps the claims it had before (`claims_superseded` in its metrics.json). 'Re-derived'",
            "rows decide the same stored measurements again by the seed-level rule above (nothing retrained);",
            "'re-run' rows come from a new run of the analysis at the new standard (data seeds varied).",
            "The 'before' column is history, not a verdict: most of those rested on CIs across questions.", "",
            "| claim | run | before | after | how |", "| --- | --- | --- | --- | --- |", *lines, ""]


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
