"""The API reference builds with ``mkdocs build --strict`` (every docstring warning is an error).

10-20 s on 2 busy CPU cores: griffe reads the source statically, nothing is imported or run.
Skipped where the docs extra (``pip install -e '.[docs]'``) is not installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_reference_builds_strict(tmp_path: Path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for layer in ("core", "backends", "data", "metrics", "vectors", "students", "plots", "experiment"):
        assert (site / "reference" / layer / "index.html").is_file()
    page = (site / "reference" / "vectors" / "index.html").read_text(encoding="utf-8")
    # docs/griffe_docstrings.py: Sphinx roles become links, ``Example:`` a code section
    assert 'href="../core/#steervec.core.model.LanguageModel"' in page
    assert ":class:" not in page and ":func:" not in page
    assert '<span class="gp">&gt;&gt;&gt; </span>' in page
