"""The optimiser comparison's learning-rate choice on a held-out split, on a tiny model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from steervec.experiment.config import Experiment

pytestmark = pytest.mark.usefixtures("one_thread")
SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "optimizer_ablation.py"


def _module():
    spec = importlib.util.spec_from_file_location("optimizer_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_optimiser_gets_the_rate_with_the_lower_heldout_loss(tiny_llama, tmp_path):
    ablation = _module()
    exp = Experiment(name="optimizer_ablation", size="quick", layer=1, n_vector_prompts=2, n_rows=8, max_new_tokens=8,
                     n_questions=3, n_align_prompts=2, out_dir=str(tmp_path))
    chosen = ablation.choose_lrs(tiny_llama, exp, str(tmp_path), quick=True, progress=False)
    assert set(chosen) == {"adamw", "adam"}
    for label, _name, lrs, _ in ablation.optimizers(True):
        row = chosen[label]
        assert len(lrs) >= 2 and set(row["heldout_loss"]) == {str(lr) for lr in lrs}
        assert row["lr"] == min(lrs, key=lambda lr: row["heldout_loss"][str(lr)])
        assert all(len(v) == 2 for v in row["per_student"].values())  # owl and control split, one seed
        assert row["n_heldout_rows"] == {"owl-prompted": 2, "control": 2}
    students = list((tmp_path / "_students").glob("*.safetensors"))
    assert len(students) == 8  # 2 optimisers x 2 rates x 2 datasets
    again = ablation.choose_lrs(tiny_llama, exp, str(tmp_path), quick=True, progress=False)
    assert again == chosen and len(list((tmp_path / "_students").glob("*.safetensors"))) == 8  # cached
    from steervec.students.student import Student

    trained = Student.load(students[0], tiny_llama)
    assert trained.info["args"]["n_rows"] == 6  # trained on the 75 % split, not on every row


def test_each_data_seed_finds_its_own_datasets(tmp_path):
    """The gradient comparison is made once per teacher dataset: the first data seed's files carry the
    teacher's name, later ones ``-d<seed>``; a data seed the run did not generate is an error, not a fallback."""
    ablation = _module()
    data = {"owl-prompted": {"data_seed": 1}, "control": {"data_seed": 1},
            "owl-prompted-d2": {"data_seed": 2}, "control-d2": {"data_seed": 2}}
    metrics = {"data": data}
    assert ablation.dataset_file(tmp_path, metrics, "owl-prompted", 1) == tmp_path / "data-owl-prompted.jsonl"
    assert ablation.dataset_file(tmp_path, metrics, "control", 2) == tmp_path / "data-control-d2.jsonl"
    with pytest.raises(KeyError, match="data seed 3"):
        ablation.dataset_file(tmp_path, metrics, "owl-prompted", 3)
