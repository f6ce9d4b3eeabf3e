"""The prompted-teacher gap on a tiny model: both students trained and measured, cached on a rerun."""

from __future__ import annotations

from dataclasses import replace

import pytest

from steervec.experiment.prompted_gap import GapConfig, prompted_gap, save_gap

pytestmark = pytest.mark.usefixtures("one_thread")


def test_prompted_gap_measures_hard_and_soft_students_and_reuses_them(tiny_llama, tmp_path):
    config = replace(GapConfig.quick(), layer=2)
    first = prompted_gap(tiny_llama, tmp_path, config, progress=False)
    assert [(r["loss"], r["seed"]) for r in first.rows] == [("ce", 0), ("kl_online", 0)]
    for r in first.rows:
        assert -1 <= r["cos_no_system"] <= 1 and -1 <= r["cos_matched"] <= 1 and r["kl_fraction"] >= 0
        assert r["trait_fraction"] == pytest.approx(r["trait_delta"] / first.teacher_trait)
    assert len(list((tmp_path / "_students").glob("*.safetensors"))) == 2
    again = prompted_gap(tiny_llama, tmp_path, config, progress=False)
    assert [r["trait_delta"] for r in again.rows] == [r["trait_delta"] for r in first.rows]
    assert save_gap(again, tmp_path / "gap.json").read_text().startswith("{")
