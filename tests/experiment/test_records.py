"""RESULTS.md from runs' metrics: nested runs, sections by size, verdict tallies, README assets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steervec.experiment.records import (
    Claim,
    _verdict_word,
    archive_runs,
    collect,
    copy_assets,
    fmt_ci,
    write_results,
)


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


def test_ci_format_and_verdict_tally():
    assert fmt_ci((0.5, 0.5, 0.5)) == "+0.500 (no CI: one value)"
    assert _verdict_word("inconclusive — needs 7 seeds") == "inconclusive"
    assert _verdict_word("no verdict") == "no verdict" and _verdict_word("no") == "no"


def test_new_claims_are_tallied_by_their_first_words(tmp_path):
    root = tmp_path / "runs"
    _run(root, "full/x", Claim("S", "a", "m", "model", "inconclusive — needs 9 seeds", "full", "rule"),
         Claim("S", "b", "m", "model", "no verdict", "full", "rule"), _claim("full", "no"))
    text = write_results(root, tmp_path / "R.md").read_text()
    assert "3 claims: 1 no, 1 inconclusive, 1 no verdict." in text


def test_archive_keeps_measured_runs_and_follows_links(runs, tmp_path):
    shared = runs / "full" / "_datasets" / "owl-abc.jsonl"
    shared.parent.mkdir(parents=True)
    shared.write_text('{"prompt": "1, 2", "completion": "3, 4"}\n')
    (runs / "full/lora_rank/data-owl.jsonl").symlink_to("../_datasets/owl-abc.jsonl")
    (runs / "full/lora_rank/student.safetensors").write_bytes(b"weights")
    (runs / "full/lora_rank/shifts").mkdir()
    (runs / "full/lora_rank/shifts/LoRA_r8-owl-s0.safetensors").write_bytes(b"shift")
    records = tmp_path / "records"
    written = archive_runs(runs, records)
    assert sorted(p.relative_to(records).as_posix() for p in written) == ["demo", "full/lora_rank"]  # no quick run
    kept = records / "full/lora_rank"
    assert sorted(p.name for p in kept.iterdir()) == ["data-owl.jsonl", "metrics.json", "rank_curve.png", "shifts"]
    assert (kept / "shifts/LoRA_r8-owl-s0.safetensors").read_bytes() == b"shift"  # shifts kept, students not
    assert not (kept / "data-owl.jsonl").is_symlink() and (kept / "data-owl.jsonl").read_text() == shared.read_text()
    # the table rebuilt from the records alone equals the one from the runs, less the quick section
    from_runs = write_results(runs, tmp_path / "a.md").read_text()
    from_records = write_results(records, tmp_path / "b.md").read_text()
    assert "## Quick runs" not in from_records
    assert from_records.strip() == from_runs[: from_runs.index("## Quick runs")].strip()


def test_archive_replaces_an_old_record_whole(runs, tmp_path):
    records = tmp_path / "records"
    stale = records / "full/lora_rank"
    stale.mkdir(parents=True)
    (stale / "old_figure.png").write_bytes(b"old")
    archive_runs(runs, records)
    assert not (stale / "old_figure.png").exists()
    assert not list(records.rglob(".*.partial"))


def test_claims_only_records_are_read_and_marked(runs, tmp_path):
    rec = tmp_path / "records" / "full" / "student_alignment"
    rec.mkdir(parents=True)
    (rec / "claims.json").write_text(json.dumps({"source": "an earlier table", "claims": [_claim("full").to_dict()]}))
    assert [name for name, _ in collect([runs, tmp_path / "records"])].count("full/student_alignment") == 1
    text = write_results([runs, tmp_path / "records"], tmp_path / "R.md").read_text()
    assert "| full/student_alignment (claims only) |" in text
    assert "3 claims: 2 yes, 1 partly." in text


def test_a_run_in_two_roots_is_taken_once_from_the_first(runs, tmp_path):
    other = tmp_path / "other"
    _run(other, "demo", _claim("demo", "yes"))
    rows = collect([runs, other])
    assert [c["reproduced"] for name, c in rows if name == "demo"] == ["no"]


def test_a_rerun_keeps_the_old_records_claims_and_results_show_both(runs, tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).parents[2] / "analyses"))
    from supersede import main as supersede_main

    rec = tmp_path / "records" / "full" / "student_alignment"
    rec.mkdir(parents=True)
    (rec / "claims.json").write_text(json.dumps({  # re-derived once already: the first verdicts are carried on
        "claims": [_claim("full", "no verdict", "owl (L25) moves").to_dict()],
        "claims_superseded": [_claim("full", "yes (earlier rule)", "owl (L25) moves").to_dict()]}))
    new = _run(tmp_path / "new", "full/student_alignment", _claim("full", "inconclusive — needs 6 seeds", "owl moves"))
    assert supersede_main([str(rec), str(new), "--how", "re-run: 3 data seeds"]) == 0
    assert json.loads((new / "metrics.json").read_text())["claims_superseded"][0]["reproduced"] == "yes (earlier rule)"
    archive_runs(tmp_path / "new", tmp_path / "records")  # the re-run replaces the record, the old claims inside it
    text = write_results(tmp_path / "records", tmp_path / "R.md").read_text()
    assert ("| owl moves | full/student_alignment | was yes (earlier rule) | inconclusive — needs 6 seeds | "
            "re-run: 3 data seeds |") in text
    assert supersede_main([str(tmp_path / "nowhere"), str(new), "--how", "x"]) == 2  # one line, no traceback


def test_a_claim_spelled_out_after_a_colon_is_matched_with_its_earlier_form(tmp_path):
    """The sweep claim was re-worded as "<the old sentence>: <how it is now tested>"; the before/after table
    still pairs it with its earlier verdict, and a different claim sharing only a prefix is not paired."""
    new = _run(tmp_path / "new", "full/prompt_as_vector",
               _claim("full", "no", "the owl prompt is approximated by one vector: a setting chosen on half the questions"),
               _claim("full", "no", "the owl prompt is approximated by one vectorial thing"))
    metrics = json.loads((new / "metrics.json").read_text())
    metrics["claims_superseded"] = [_claim("full", "yes (earlier rule)",
                                           "the owl prompt is approximated by one vector (a setting passes)").to_dict()]
    metrics["superseded_how"] = "re-run: gates"
    (new / "metrics.json").write_text(json.dumps(metrics))
    text = write_results(tmp_path / "new", tmp_path / "R.md").read_text()
    assert ("| the owl prompt is approximated by one vector: a setting chosen on half the questions | "
            "full/prompt_as_vector | was yes (earlier rule) | no | re-run: gates |") in text
    assert "vectorial thing | full/prompt_as_vector | was" not in text


def test_the_header_explains_earlier_rule_verdicts_only_where_a_row_has_one(tmp_path):
    ruled = Claim("Cloud et al. 2025", "ruled", "+1.0", "model #1", "yes", "full", "seed-level t")
    _run(tmp_path / "a", "full/x", ruled, _claim("full", "no", "unruled"))
    text = write_results(tmp_path / "a", tmp_path / "A.md").read_text()
    assert "Verdicts marked '(earlier rule)'" in text and "| no (earlier rule) |" in text
    _run(tmp_path / "b", "full/x", ruled)
    text = write_results(tmp_path / "b", tmp_path / "B.md").read_text()
    assert "earlier rule" not in text and "| yes |" in text
