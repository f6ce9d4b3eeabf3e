"""RESULTS.md from runs' metrics: nested runs, sections by size, verdict tallies, README assets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steervec.results import Claim, collect, copy_assets, fmt_ci, verdict, write_results


def _run(root: Path, rel: str, *claims: Claim, figures: tuple[str, ...] = ()) -> Path:
    folder = root / rel
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"claims": [c.to_dict() for c in claims]}))
    for name in figures:
        (folder / f"{name}.png").write_bytes(b"\x89PNG fake " + name.encode())
    return folder


def _claim(size: str, reproduced: str = "yes", text: str = "a claim") -> Claim:
    return Claim("Cloud et al. 2025", text, "+1.0 [+0.5, +1.5] nats", "model #1", reproduced, size)


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    _run(root, "demo", _claim("demo", "no"))
    _run(root, "full/lora_rank", _claim("full", "yes", "rank | pipe"), _claim("full", "partly"), figures=("rank_curve",))
    _run(root, "quick/lora_rank", _claim("quick"), figures=("rank_curve",))
    _run(root, "full/_students/x", _claim("full", "no"))  # shared files, never a run
    return root


def test_collect_finds_nested_runs_and_skips_shared_folders(runs):
    names = [run for run, _ in collect(runs)]
    assert names == ["demo", "full/lora_rank", "full/lora_rank", "quick/lora_rank"]


def test_sections_full_first_with_tallies(runs, tmp_path):
    text = write_results(runs, tmp_path / "RESULTS.md").read_text()
    full, demo, quick = (text.index(h) for h in ("## Full-size", "## `make demo`", "## Quick runs"))
    assert full < demo < quick
    assert "2 claims: 1 yes, 1 partly." in text and "1 claims: 1 no." in text
    assert "rank \\| pipe" in text  # a pipe in a claim does not break the table


def test_assets_come_from_full_size_runs_only(runs, tmp_path):
    copied = copy_assets(runs, tmp_path / "assets")
    assert [p.name for p in copied] == ["lora_rank-rank_curve.png"]
    assert copied[0].read_bytes() == (runs / "full/lora_rank/rank_curve.png").read_bytes()


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the analyses first"):
        write_results(tmp_path, tmp_path / "RESULTS.md")
    assert not (tmp_path / "RESULTS.md").exists()


def test_verdict_and_ci_format():
    assert verdict(0.1, 0.3) == "yes" and verdict(-0.3, -0.1) == "no" and verdict(-0.1, 0.1) == "inconclusive"
    assert verdict(-0.3, -0.1, expected_positive=False) == "yes"
    assert fmt_ci((0.5, 0.5, 0.5)) == "+0.500 (no CI: one value)"
