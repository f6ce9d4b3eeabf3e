"""Execute notebooks top to bottom and store them with their outputs (``make notebooks``).

    python notebooks/execute.py [NOTEBOOK ...] [--workdir DIR] [--check]

Each notebook runs in ``--workdir`` (default ``runs/notebooks``, so the files it writes stay out of
``notebooks/``), in order, since 04 reads 03's run. Outputs are kept small: figures are PNG
(``sv.plots.use_static_figures``), execution timestamps are dropped so that a re-run changes only
what the run changed. A notebook whose cell errors is not overwritten and the command exits 1.
With ``--check`` nothing is written (CI: every cell runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).parent


def _strip(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            # progress bars and model-loading chatter on stderr are noise in a tutorial
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["text"] = ""
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream" and not o.get("text"))]


def execute(path: Path, workdir: Path, write: bool = True, timeout: int = 1800) -> float:
    """Run ``path`` in ``workdir``; store it with outputs unless ``write`` is false. Returns seconds."""
    nb = nbformat.read(path, as_version=4)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    seconds = time.perf_counter() - start
    if write:
        _strip(nb)
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb, in order")
    parser.add_argument("--workdir", type=Path, default=Path("runs/notebooks"))
    parser.add_argument("--check", action="store_true", help="run every cell, write nothing")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        try:
            seconds = execute(path, args.workdir.resolve(), write=not args.check)
        except CellExecutionError as err:
            print(f"{path}: a cell failed, notebook left as it was: {str(err).splitlines()[0]}", file=sys.stderr)
            return 1
        print(f"{path}: {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
