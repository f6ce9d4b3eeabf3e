"""Keep a record's earlier claims inside the run that re-ran it, so RESULTS.md shows both verdicts.

A re-run at the new standard (data seeds varied) writes a new run folder; archiving it replaces the
old record. Before that, this copies the old record's claims into the new run's ``metrics.json`` as
``claims_superseded`` (with ``superseded_how``, what changed), which RESULTS.md's before/after table reads.

    python analyses/supersede.py records/full/subliminal_transfer-owl runs/full/subliminal_transfer-owl \\
        --how "re-run: 3 data seeds x 2 training seeds (was 1 x 3)"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from steervec.core.io import atomic_path


def old_claims(record: Path) -> list[dict]:
    """The claims of a record as first published: its ``claims_superseded`` when a re-derivation already
    re-decided them (the verdicts the analysis wrote, before any later rule), else its ``claims``."""
    for name in ("metrics.json", "claims.json"):
        path = record / name
        if path.is_file():
            data = json.loads(path.read_text())
            claims = data.get("claims_superseded") or data.get("claims", [])
            if claims:
                return claims
    raise FileNotFoundError(f"no claims in {record}: pass the record folder of the earlier run")


def supersede(record: Path, run: Path, how: str) -> int:
    """Write ``record``'s claims into ``run/metrics.json`` as ``claims_superseded``; returns their count."""
    path = run / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {run}: finish the re-run first")
    if record.resolve() == run.resolve():
        raise ValueError("the record and the re-run are the same folder: archive the re-run only after this step")
    claims = old_claims(record)
    metrics = json.loads(path.read_text())
    metrics["claims_superseded"] = claims
    metrics["superseded_how"] = how
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    return len(claims)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record", type=Path, help="the earlier run's record folder")
    parser.add_argument("run", type=Path, help="the re-run's folder (with its metrics.json)")
    parser.add_argument("--how", required=True, help="what the re-run changed, in a few words")
    args = parser.parse_args(argv)
    try:
        n = supersede(args.record, args.run, args.how)
    except (FileNotFoundError, ValueError) as exc:
        print(f"supersede: {exc}", file=sys.stderr)
        return 2
    print(f"{n} earlier claims kept in {args.run / 'metrics.json'} as claims_superseded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
