"""The tutorial notebooks: stored with their outputs and without errors, and every one runs top to bottom
at quick size (``STEERVEC_NOTEBOOK_SIZE=quick``), in order, in a scratch folder (04 reads 03's run)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5


def test_notebooks_are_built_from_their_source(tmp_path: Path):
    """notebooks/build.py is the source of every notebook's cells: a notebook edited by hand (or a
    build.py edit not followed by ``make notebooks``) fails here."""
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("nb_build", ROOT / "notebooks" / "build.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for fresh in build.build(tmp_path):
        stored = nbformat.read(ROOT / "notebooks" / fresh.name, as_version=4)
        new = nbformat.read(fresh, as_version=4)
        assert [c.source for c in stored.cells] == [c.source for c in new.cells], \
            f"{fresh.name} differs from notebooks/build.py: run `make notebooks`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_with_its_outputs(path: Path):
    """What a plain file viewer shows: every code cell ran, none failed, and figures are PNG images
    (no plotly.js inlined: the notebook stays small)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), f"{path.name}: run `make notebooks`"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert all("application/vnd.plotly.v1+json" not in o.get("data", {}) for o in outputs)
    assert path.stat().st_size < 600_000, f"{path.name} is {path.stat().st_size} bytes"


def test_tutorials_with_figures_store_them_as_png():
    import nbformat

    for name in ("02_fit_vector", "03_subliminal_owl", "04_alignment_figures", "05_planted_vector"):
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        pngs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                if "image/png" in o.get("data", {})]
        assert pngs, f"{name}: no figure stored"


@pytest.mark.embedded
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("STEERVEC_NOTEBOOK_SIZE", "quick")
    monkeypatch.chdir(workdir)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
