"""Tests of run_experiment on a tiny random model: files written, claims, shared data and students."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from analysis_kit import sizes
from claims import experiment_claims

from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.run import run_experiment

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = Experiment(name="tiny", size="quick", layer=1, n_vector_prompts=2, n_rows=8, max_new_tokens=8, n_questions=3,
                  n_align_prompts=2, students=(StudentSpec("vector@1", "vector", (1,), epochs=1),
                                               StudentSpec("LoRA r2", "lora", rank=2, lora_alpha=2.0, lr=1e-3, epochs=1)))


@pytest.fixture(scope="module")
def first(tiny_llama, tmp_path_factory):
    exp = replace(TINY, out_dir=str(tmp_path_factory.mktemp("runs")))
    return run_experiment(exp, lm=tiny_llama, progress=False, claims=experiment_claims)


def test_run_writes_its_folder(first):
    folder = first.folder
    for name in ("config.json", "metrics.json", "v_teacher.safetensors", "report.html",
                 "data-owl-prompted.jsonl", "data-control.jsonl"):
        assert (folder / name).exists(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    students = [c for c in metrics["conditions"] if "student" in c]
    assert len(students) == 4  # two methods x (trait, control) x one seed
    assert all(c["steps"] == 1 and c["loss_first"] is not None and len(c["loss_curve"]) == 1 for c in students)
    assert {c["student"] for c in students} == {"vector@1", "LoRA r2"}
    assert metrics["claims"] and all(c["size"] == "quick" for c in metrics["claims"])
    assert "trait_minus_control" in metrics["summary"]["LoRA r2"]
    assert "vector@1" in first.table() and "LoRA r2" in first.table()


def test_html_repr_has_a_row_per_condition_and_the_claims(first):
    from _html import html_text

    title, rows = html_text(first._repr_html_())
    assert title.startswith("ExperimentResult tiny: 'owl', prompted teacher, layer 1, size quick")
    conditions = first.metrics["conditions"]
    assert rows[0] == ["condition", "Δlog P (95% CI)", "P(owl)", "cos@1", "loss"]
    assert [r[0] for r in rows[1 : 1 + len(conditions)]] == [c["label"] for c in conditions]
    claims = rows[1 + len(conditions):]
    assert claims[0] == ["claim", "reproduced"] and len(claims) == 1 + len(first.metrics["claims"])


def test_second_run_reuses_data_and_students(first, tiny_llama):
    again = run_experiment(replace(first.experiment, name="tiny-again"), lm=tiny_llama, progress=False)
    m1, m2 = first.metrics, again.metrics
    assert all(d["generated_rows_now"] == 0 for d in m2["data"].values())
    assert all(d["generated_rows_now"] == 8 for d in m1["data"].values())
    assert len(m2["students_reused"]) == 4 and not m1["students_reused"]
    key = [(c["label"], c["logp"]) for c in m1["conditions"]]
    assert key == [(c["label"], c["logp"]) for c in m2["conditions"]]  # the same students, the same numbers
    vectors = list((first.folder.parent / "_vectors").glob("*.safetensors"))
    assert len(vectors) == 2  # v_teacher and the matched vector extracted once, read back by the second run
    from steervec.core.steering_vector import SteeringVector

    v1, v2 = (SteeringVector.load(r.folder / "v_teacher.safetensors") for r in (first, again))
    assert v1.provenance == v2.provenance
    assert all(torch.equal(v1.layer_vectors[x], v2.layer_vectors[x]) for x in v1.layers)


def _student_rows(metrics: dict) -> list[dict]:
    """The students' condition rows without what differs between runs by design (timing, reuse)."""
    return [{k: v for k, v in c.items() if k not in ("train_seconds", "reused")}
            for c in metrics["conditions"] if "student" in c]


def test_a_reused_student_is_read_from_its_measures_not_evaluated_again(first, tiny_llama, monkeypatch):
    """A second run reusing the first run's students reads what the first measured (trait scores and shift),
    and its rows equal the first run's field for field; with the measures files gone the students are
    evaluated again and give the same rows, so reading them back changes no number. A changed measurement
    setting (another sampling size) is a different measures file: evaluated, never read from the old one."""
    from steervec.experiment import run as run_module

    calls = []
    real = run_module.evaluate_trait
    monkeypatch.setattr(run_module, "evaluate_trait", lambda *a, **kw: calls.append(kw.get("label")) or real(*a, **kw))
    again = run_experiment(replace(first.experiment, name="tiny-measures"), lm=tiny_llama, progress=False)
    assert [c for c in calls if " on " in str(c)] == []  # base and teacher only: no student evaluated
    assert _student_rows(again.metrics) == _student_rows(first.metrics)
    measures = sorted((first.folder.parent / "_students").glob("*.measures-*.json"))
    assert len(measures) == 4 and all(m.with_suffix(".safetensors").is_file() for m in measures)
    for m in measures:
        m.unlink()
    calls.clear()
    fresh = run_experiment(replace(first.experiment, name="tiny-measures-fresh"), lm=tiny_llama, progress=False)
    assert len([c for c in calls if " on " in str(c)]) == 4 and _student_rows(fresh.metrics) == _student_rows(first.metrics)
    calls.clear()
    other = run_experiment(replace(first.experiment, name="tiny-measures-k", sample_k=3), lm=tiny_llama, progress=False)
    assert len([c for c in calls if " on " in str(c)]) == 4 and len(other.metrics["students_reused"]) == 4


def test_teacher_vector_cache_keys_on_its_settings(first, tiny_llama):
    from steervec.experiment.run import build_teacher_vector

    exp = replace(first.experiment, n_vector_prompts=3)
    v = build_teacher_vector(tiny_llama, exp)
    assert len(list((first.folder.parent / "_vectors").glob("*.safetensors"))) == 3  # + the first run's two
    assert v.provenance != build_teacher_vector(tiny_llama, first.experiment).provenance


def test_changed_settings_are_not_reused(first, tiny_llama):
    exp = replace(first.experiment, name="tiny-lr", students=(StudentSpec("LoRA r2", "lora", rank=2, lora_alpha=2.0,
                                                                           lr=3e-3),))
    m = run_experiment(exp, lm=tiny_llama, progress=False).metrics
    assert not m["students_reused"]


def test_without_claims_a_run_states_none(first, tiny_llama):
    m = run_experiment(replace(first.experiment, name="tiny-plain"), lm=tiny_llama, progress=False).metrics
    assert m["claims"] == [] and json.dumps(m["summary"]) == json.dumps(first.metrics["summary"])  # NaN bounds


def test_data_seeds_give_a_dataset_pair_each_and_pair_students_within_them(first, tiny_llama):
    exp = replace(first.experiment, name="tiny-data-seeds", data_seeds=(1, 3), students=first.experiment.students[1:])
    result = run_experiment(exp, lm=tiny_llama, progress=False, claims=experiment_claims)
    m = result.metrics
    assert set(m["data"]) == {"owl-prompted", "control", "owl-prompted-d3", "control-d3"}
    assert m["data"]["owl-prompted"]["generated_rows_now"] == 0  # data seed 1 is the earlier runs' data
    assert (result.folder / "data-control-d3.jsonl").exists()
    row = m["summary"]["LoRA r2"]
    assert row["units"] == [[1, 0], [3, 0]] and row["seed_unit"] == "data seed"
    assert len(row["trait_minus_control_seed_level"]) == 2
    assert {c["data_seed"] for c in m["conditions"] if "student" in c} == {1, 3}


def test_specific_trait_measure_is_stored_summarised_and_claimed(first, tiny_llama):
    exp = replace(first.experiment, name="tiny-panel", trait_panel=True, students=first.experiment.students[1:])
    m = run_experiment(exp, lm=tiny_llama, progress=False, claims=experiment_claims).metrics
    assert len(m["students_reused"]) == 2  # the measure changes no student
    student = next(c for c in m["conditions"] if c.get("student") == "LoRA r2")
    assert len(student["log_odds"]) == exp.n_questions and len(student["delta_log_odds_prefilled"]) == 3
    row = m["summary"]["LoRA r2"]
    assert len(row["log_odds_trait_minus_control_seed_level"]) == 1
    assert any("over the other animals" in c["claim"] for c in m["claims"])


def test_reporting_layer_retrains_no_lora_student(first, tiny_llama):
    exp = replace(first.experiment, name="tiny-report-layer", report_layer=0, students=first.experiment.students[1:])
    m = run_experiment(exp, lm=tiny_llama, progress=False).metrics
    assert len(m["students_reused"]) == 2
    lora = next(c for c in m["conditions"] if c.get("student") == "LoRA r2")
    assert lora["cosine_at_layer"] == lora["cosine_by_layer"][0]


def test_sizes():
    """Full size crosses 3 data seeds with 2 training seeds and reads the trait panel unless told otherwise
    (a verdict needs 3 data seeds); quick is one of each, the Experiment defaults."""
    quick, full = sizes(True), sizes(False)
    assert quick["n_rows"] < full["n_rows"]
    assert (full["data_seeds"], full["seeds"], full["trait_panel"]) == ((1, 2, 3), (0, 1), True)
    assert (quick["data_seeds"], quick["seeds"], "trait_panel" in quick) == ((1,), (0,), False)
    assert len(Experiment(name="x", **full).units) == 6
    asked = sizes(False, seeds=1, data_seeds=5)
    assert (asked["data_seeds"], asked["seeds"]) == ((1, 2, 3, 4, 5), (0,))
    assert sizes(True, trait_panel=True)["trait_panel"] is True


def test_sampling_rates_become_claims(first, tiny_llama):
    exp = replace(first.experiment, name="tiny-rates", sample_k=2, students=first.experiment.students[1:])
    m = run_experiment(exp, lm=tiny_llama, progress=False, claims=experiment_claims).metrics
    students = [c for c in m["conditions"] if "student" in c]
    assert all(len(c["rates"]) == exp.n_questions and 0 <= c["rate"][0] <= 1 for c in students)
    assert "rate" in m["conditions"][0] and "rate" in m["conditions"][1]  # base and teacher are sampled too
    row = m["summary"]["LoRA r2"]
    assert {"rate_trait", "rate_control", "rate_trait_minus_control"} <= set(row)
    rate_claims = [c for c in m["claims"] if "sampled answers" in c["claim"]]
    assert len(rate_claims) == 1 and "2 samples (T=1)" in rate_claims[0]["measurement"]
    assert rate_claims[0]["reproduced"] == "no verdict"  # one seed never decides
    assert len(m["students_reused"]) == 2  # sampling does not retrain


def test_alignment_over_training_is_summarised_drawn_and_claimed(first, tiny_llama):
    exp = replace(first.experiment, name="tiny-eas", track_every=2, seeds=(0, 1),
                  students=(StudentSpec("LoRA r2", "lora", rank=2, lora_alpha=2.0, lr=1e-3, epochs=1, batch_size=2),))
    result = run_experiment(exp, lm=tiny_llama, progress=False, claims=experiment_claims)
    row = result.metrics["summary"]["LoRA r2"]
    assert row["eas_trait"]["steps"] == [2, 4] and len(row["eas_control"]["per_seed_final"]) == 2
    assert (result.folder / "alignment_over_training.html").exists()
    claim = next(c for c in result.metrics["claims"] if "grows over training" in c["claim"])
    # the raw v_teacher never decides an alignment claim (analyses/claims.py RAW_DIRECTION)
    assert "step 2 → 4" in claim["measurement"] and claim["reproduced"].startswith("no verdict — raw v_teacher")
    # the control-subtracted alignment with the matched vector over training, recomputed from the kept checkpoints
    growth = row["eas_controlled_specific"]
    assert growth["steps"] == [2, 4] and len(growth["growth_seed_level"]) == 2
    trait_rows = sorted((c for c in result.metrics["conditions"] if c.get("data") == "owl-prompted"),
                        key=lambda c: c["seed"])
    layer = exp.reporting_layer
    for c, final, rise in zip(trait_rows, growth["final_seed_level"], growth["growth_seed_level"], strict=True):
        curve = [h["cosine"][layer] for h in c["eas_controlled_specific"]]
        assert [h["step"] for h in c["eas_controlled_specific"]] == [2, 4]
        assert final == pytest.approx(curve[-1]) and rise == pytest.approx(curve[-1] - curve[0])
        # the last checkpoint is the trained student: its value is the run's control-subtracted cosine
        assert curve[-1] == pytest.approx(c["controlled_cosine_specific_by_layer"][layer], abs=1e-5)
    specific = next(c for c in result.metrics["claims"] if "grows over training" in c["claim"]
                    and "specific direction" in c["claim"])
    # one teacher dataset: its training seeds never decide (analyses/claims.py ONE_DATASET)
    assert specific["reproduced"].startswith(("no verdict", "inconclusive"))
    assert "last checkpoint − at the first" in specific["measurement"]


def test_refresh_run_rederives_claims_and_keeps_analysis_claims(first, tmp_path):
    import shutil

    from steervec.experiment.report import refresh_run

    folder = tmp_path / "copy"
    shutil.copytree(first.folder, folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    extra = {"study": "S", "claim": "an analysis's own claim", "measurement": "1.0", "model": "m",
             "reproduced": "yes", "size": "quick"}
    metrics["claims"], metrics["analysis_claims"] = [], [extra]
    (folder / "metrics.json").write_text(json.dumps(metrics))
    result = refresh_run(folder, claims=experiment_claims)
    assert result.metrics["claims"][:-1] == first.metrics["claims"] and result.metrics["claims"][-1] == extra
    kept = refresh_run(folder)  # without a claims function the experiment's claims stay as they were
    assert kept.metrics["claims"] == result.metrics["claims"]
    assert (folder / "metrics.previous.json").exists() and (folder / "trait_bars.html").exists()
    with pytest.raises(FileNotFoundError, match="run the experiment first"):
        refresh_run(tmp_path / "nothing")


def test_baseline_sets_the_control_and_steered_teachers_system(tiny_llama):
    import torch

    from steervec import TEMPLATE_DEFAULT
    from steervec.core.steering_vector import SteeringVector
    from steervec.experiment.run import build_teachers

    v = SteeringVector({1: torch.ones(tiny_llama.d_model)}, tiny_llama.fingerprint)
    trait, control = build_teachers(Experiment(teacher="steered", layer=1), v)
    assert trait.system is None and control.system is None and control.name == "control"
    trait, control = build_teachers(Experiment(teacher="steered", layer=1, baseline="template_default"), v)
    assert trait.system is TEMPLATE_DEFAULT and control.system is TEMPLATE_DEFAULT
    assert control.name != "control"  # its datasets never mix with the no-system control's


def test_projected_specific_teacher_removes_the_matched_vector_and_reads_as_necessity(tiny_llama, tmp_path):
    from steervec.core.errors import InputError
    from steervec.core.steering_vector import SteeringVector
    from steervec.experiment.run import build_teachers

    exp = replace(TINY, name="tiny-projected-specific", teacher="projected_specific", out_dir=str(tmp_path),
                  students=TINY.students[:1])
    v = SteeringVector({i: torch.ones(tiny_llama.d_model) for i in range(tiny_llama.n_layers)}, tiny_llama.fingerprint)
    with pytest.raises(InputError, match="v_specific=build_specific_vector"):
        build_teachers(exp, v)
    result = run_experiment(exp, lm=tiny_llama, progress=False, claims=experiment_claims)
    v_specific = SteeringVector.load(result.folder / "v_specific.safetensors", model=tiny_llama)
    trait, _ = build_teachers(exp, v, v_specific)
    assert trait.name == "owl-projected-specific" and list(trait.project_layers) == list(range(tiny_llama.n_layers))
    assert torch.equal(trait.project_out[1], v_specific[1]) and trait.project_out.layers == [1]
    assert (result.folder / "data-owl-projected-specific.jsonl").is_file()
    transfer = result.metrics["claims"][0]
    assert "matched (trait-specific) vector projected out" in transfer["claim"] and "necessity" in transfer["claim"]


def test_student_spec_rejects_bad_optimizers_before_any_work():
    with pytest.raises(ValueError, match="optimizer='sgd', momentum=0.9"):
        StudentSpec("v", "vector", (1,), optimizer="sgd_momentum")
    with pytest.raises(ValueError, match="takes no momentum"):
        StudentSpec("v", "vector", (1,), optimizer="adamw", momentum=0.9)
    with pytest.raises(ValueError, match="unknown kind"):
        StudentSpec("v", "vectors")


def test_an_experiment_reads_back_from_its_json_config():
    exp = Experiment(name="x", layer=3, seeds=(0, 1), data_seeds=(1, 2, 3), eval_systems=("default",),
                     students=(StudentSpec("v", "vector", (3,)), StudentSpec("LoRA r2", "lora", rank=2, lora_alpha=2.0)))
    back = Experiment.from_dict(json.loads(json.dumps(exp.to_dict())))  # lists where it holds tuples
    assert back == exp and back.students[0].layers == (3,) and back.students[1].layers is None
    with pytest.raises(TypeError):
        Experiment.from_dict({**exp.to_dict(), "no_such_setting": 1})


def test_student_spec_settings_keep_old_cache_keys():
    spec = StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=1)
    assert "momentum" not in spec.settings() and "name" not in spec.settings()
    assert spec.settings() == {"kind": "lora", "layers": None, "rank": 8, "lora_alpha": 8.0, "optimizer": "adamw",
                               "lr": 1e-3, "epochs": 1, "batch_size": 8}
    assert StudentSpec("v", "vector", (1,), optimizer="sgd", momentum=0.9).settings()["momentum"] == 0.9


def test_momentum_reaches_the_optimiser(tiny_llama, tmp_path):
    spec = StudentSpec("vector@1 sgd+m", "vector", (1,), optimizer="sgd", lr=1.0, momentum=0.9, epochs=1)
    exp = replace(TINY, name="tiny-momentum", students=(spec,), out_dir=str(tmp_path))
    result = run_experiment(exp, lm=tiny_llama, progress=False)
    students = [c for c in result.metrics["conditions"] if c.get("student") == spec.name]
    assert len(students) == 2 and all(c["steps"] == 1 for c in students)
    from steervec.students.student import Student

    trained = Student.load(next(result.folder.glob("student-*.safetensors")), tiny_llama)
    assert trained.info["args"]["optimizer"]["kwargs"] == {"momentum": 0.9}


def test_a_run_folder_has_one_writer(tiny_llama, tmp_path):
    from steervec.core.errors import WriterBusyError
    from steervec.core.locks import exclusive_lock

    exp = replace(TINY, out_dir=str(tmp_path))
    busy = pytest.raises(WriterBusyError, match=f"run folder {tmp_path / exp.name} is being written")
    with exclusive_lock(tmp_path / exp.name, "run folder"), busy:  # another run is writing it
        run_experiment(exp, lm=tiny_llama, progress=False)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_a_shared_student_has_one_writer(first, tiny_llama):
    from steervec.core.errors import WriterBusyError
    from steervec.core.locks import exclusive_lock, lock_path

    shared = next(first.folder.glob("student-*.safetensors")).resolve()  # the run links the shared entry
    busy = pytest.raises(WriterBusyError, match=r"student cache entry .*\.safetensors is being written")
    with exclusive_lock(shared, "student cache entry"), busy:  # another run is training that student
        run_experiment(replace(first.experiment, name="tiny-busy"), lm=tiny_llama, progress=False)
    assert not lock_path(shared).exists()


def test_control_subtracted_shift_is_measured_against_the_matched_vector(first, tiny_llama):
    """The summary's controlled cosine is cos(trait student's shift − control student's shift, v_specific),
    recomputed here from the students in the run folder; the claim reads its sign."""
    from steervec.core.steering_vector import SteeringVector
    from steervec.data.numbers import number_prompts
    from steervec.metrics.alignment import student_shift
    from steervec.students.student import Student

    exp, m = first.experiment, first.metrics
    v_specific = SteeringVector.load(first.folder / "v_specific.safetensors")
    assert v_specific.provenance["baseline"]["kind"] == "matched" and "owl" not in v_specific.provenance["baseline"]["panel"]
    prompts = [p.text for p in number_prompts(exp.n_align_prompts, seed=exp.align_prompt_seed)]
    shifts = {d: student_shift(tiny_llama, Student.load(first.folder / f"student-LoRA_r2-{d}-s0.safetensors", tiny_llama),
                               prompts) for d in ("owl-prompted", "control")}
    expected = (shifts["owl-prompted"] - shifts["control"]).cosine(v_specific)[exp.reporting_layer]
    row = m["summary"]["LoRA r2"]
    assert row["controlled_cosine_specific_per_seed"] == [pytest.approx(expected, abs=1e-5)]
    assert row["controlled_cosine_specific"][1] != row["controlled_cosine_specific"][1]  # one seed: NaN bounds
    claim = next(c for c in m["claims"] if "control-subtracted shift" in c["claim"] and "LoRA r2" in c["claim"])
    assert claim["reproduced"] == "no verdict" and "sufficiency" in claim["claim"]
    trait_rows = [c for c in m["conditions"] if c.get("data") == "owl-prompted" and "student" in c]
    assert all("controlled_cosine_teacher_by_layer" in c for c in trait_rows)
    # the run folder keeps every shift, so cross-trait matrices can be built from a record alone
    from steervec.metrics.shifts import controlled_by_unit, load_run_shifts

    saved = load_run_shifts(first.folder, model=tiny_llama)
    assert ("LoRA r2", "control", (exp.data_seeds[0], 0)) in saved
    delta = controlled_by_unit(saved, "LoRA r2", "owl-prompted", "control")[(exp.data_seeds[0], 0)]
    assert delta.cosine(v_specific)[exp.reporting_layer] == pytest.approx(expected, abs=1e-5)


def test_backfill_writes_the_shifts_a_run_would_have_kept(first, tiny_llama, tmp_path):
    """A run recorded before runs kept shifts gets them from its cached students, equal to the ones
    measure_student saves; nothing is retrained, and a missing student names the fix."""
    import shutil

    from steervec.core.errors import InputError
    from steervec.core.steering_vector import SteeringVector
    from steervec.experiment.run import backfill_shifts
    from steervec.metrics.shifts import load_run_shifts

    kept = tmp_path / "kept"
    shutil.move(first.folder / "shifts", kept)  # as if the run predated shifts/
    try:
        written = backfill_shifts(first.experiment, lm=tiny_llama, progress=False)
        assert sorted(p.name for p in written) == sorted(p.name for p in kept.iterdir())
        fresh = load_run_shifts(first.folder, tiny_llama)
        for name in (p.name for p in kept.iterdir()):
            a, b = SteeringVector.load(kept / name), SteeringVector.load(first.folder / "shifts" / name)
            assert all(torch.allclose(a[x], b[x], atol=1e-5) for x in a.layers), name
        assert len(fresh) == len(written)
        assert backfill_shifts(first.experiment, lm=tiny_llama, progress=False) == []  # kept, not rewritten
        link = next(first.folder.glob("student-*.safetensors"))
        (first.folder / "shifts" / link.name.removeprefix("student-")).unlink()
        hidden = link.with_name("hidden")
        link.rename(hidden)
        with pytest.raises(InputError, match="run the experiment again"):
            backfill_shifts(first.experiment, lm=tiny_llama, progress=False)
        hidden.rename(link)
        assert len(backfill_shifts(first.experiment, lm=tiny_llama, progress=False)) == 1
    finally:
        shutil.rmtree(first.folder / "shifts", ignore_errors=True)
        shutil.move(kept, first.folder / "shifts")


def test_length_matched_pair_trains_every_student_on_matched_data(first, tiny_llama):
    """``length_matched`` adds students on the length-matched pair, labelled '-lenmatch', summarised and
    claimed beside the full-data ones, and leaves the full-data students as they were (reused, same numbers).
    This tiny model's two teachers write lists of the same lengths, so the matched pair is the whole data."""
    from steervec.experiment.report import refresh_run

    exp = replace(first.experiment, name="tiny-lenmatch", length_matched=True, students=first.experiment.students[1:])
    result = run_experiment(exp, lm=tiny_llama, progress=False, claims=experiment_claims)
    m = result.metrics
    report = m["data"]["owl-prompted-lenmatch"]["length_match"]
    assert report["rows_before"] == report["rows_kept"] == [8, 8] and report["mean_before"] == report["mean_after"]
    assert m["data"]["control-lenmatch"]["rows"] == 8 and (result.folder / "data-control-lenmatch.jsonl").exists()
    matched = [c for c in m["conditions"] if c.get("data", "").endswith("-lenmatch")]
    assert sorted(c["data"] for c in matched) == ["control-lenmatch", "owl-prompted-lenmatch"]
    assert all(c["steps"] == 1 and "-lenmatch (seed 0)" in c["label"] for c in matched)
    assert len(m["students_reused"]) == 2  # the full-data students are the first run's ...
    before = {c["label"]: c["logp"] for c in first.metrics["conditions"] if c.get("student") == "LoRA r2"}
    full = [c for c in m["conditions"] if c.get("student") == "LoRA r2" and not c["data"].endswith("-lenmatch")]
    assert len(full) == 2 and all(before[c["label"]] == c["logp"] for c in full)  # ... with the same numbers
    assert json.dumps(m["summary"]["LoRA r2"]) == json.dumps(first.metrics["summary"]["LoRA r2"])
    row = m["summary"]["LoRA r2 (length-matched)"]
    assert len(row["trait_minus_control_per_seed"]) == 1 and "controlled_cosine_specific_per_seed" in row
    assert any("LoRA r2 (length-matched) student" in c["claim"] for c in m["claims"])
    again = refresh_run(result.folder, claims=experiment_claims, figures=False)  # re-derived from metrics.json
    assert json.dumps(again.metrics["summary"]) == json.dumps(m["summary"])
    assert again.metrics["claims"] == m["claims"]


def test_length_matched_students_train_on_the_matched_subset(tiny_llama, tmp_path, monkeypatch):
    """When the two datasets' distributions differ, the matched students see only the kept rows. This tiny
    model's teachers write lists of identical lengths (the sampler's seed fixes where each list ends), so
    the matching is given another measure through its ``count`` argument, one on which the two datasets
    differ (the digit sum mod 4); the experiment's plumbing is the same for any measure."""
    from collections import Counter
    from functools import partial

    import steervec.experiment.run as run_module
    from steervec.data.datasets import load_dataset
    from steervec.data.length_match import length_match
    from steervec.students.student import Student

    def measure(text: str) -> int:
        return sum(int(ch) for ch in text if ch.isdigit()) % 4

    monkeypatch.setattr(run_module, "length_match", partial(length_match, count=measure))
    exp = replace(TINY, name="tiny-lenmatch-chars", out_dir=str(tmp_path), length_matched=True, students=TINY.students[1:])
    result = run_experiment(exp, lm=tiny_llama, progress=False)
    report = result.metrics["data"]["owl-prompted-lenmatch"]["length_match"]
    kept = report["rows_kept"][0]
    assert 0 < kept < 8 and report["rows_kept"] == [kept, kept]
    rows = {d: load_dataset(result.folder / f"data-{d}.jsonl") for d in ("owl-prompted-lenmatch", "control-lenmatch")}
    assert Counter(measure(r.completion) for r in rows["owl-prompted-lenmatch"]) == \
        Counter(measure(r.completion) for r in rows["control-lenmatch"])
    for d in rows:
        student = Student.load(result.folder / f"student-LoRA_r2-{d}-s0.safetensors", tiny_llama)
        assert student.info["args"]["n_rows"] == kept
    full = Student.load(result.folder / "student-LoRA_r2-owl-prompted-s0.safetensors", tiny_llama)
    assert full.info["args"]["n_rows"] == 8


def _page_text(markup: str) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(markup)
    return " ".join(" ".join(parser.parts).split())


def test_report_explains_the_run_and_loads_plotly_once(first):
    page = (first.folder / "report.html").read_text()
    assert (first.folder / "plotly.min.js").stat().st_size > 1_000_000  # the library, written once beside the page
    assert len(page.encode()) < 100_000, "the page itself stays small"
    assert page.count("<script src=") == 1 and "cdn.plot.ly" not in page
    text = _page_text(page)
    metrics = first.metrics
    for needed in ("The question.", metrics["model"], "training [0] × data [1]", "Every condition",
                   "Trait data against control data", "Claims", "What the teachers wrote",
                   "steervec report"):
        assert needed in text, needed
    captions = page.count("class='caption'")
    figures = page.count("plotly-graph-div")
    assert figures >= 2 and captions >= figures + 3  # each figure and each table has its reading line
    first_row = json.loads((first.folder / "data-owl-prompted.jsonl").read_text().splitlines()[0])
    assert " ".join(first_row["prompt"].split()) in text


def test_report_rebuilds_from_a_record_and_keeps_its_extra_sections(first, tmp_path):
    import shutil

    from steervec.experiment.html_report import write_report

    record = tmp_path / "record"
    record.mkdir()
    for name in ("metrics.json", "data-owl-prompted.jsonl", "data-control.jsonl"):  # what records/ archives
        shutil.copy(first.folder / name, record / name)
    extra = {"title": "Part <1>", "text": "a & b", "table": {"columns": ["x"], "rows": [["<y>"]]}}
    page = write_report(record, extras=[extra]).read_text()
    assert "Part &lt;1&gt;" in page and "a &amp; b" in page and "&lt;y&gt;" in page and "<y>" not in page
    again = write_report(record).read_text()  # no extras given: the saved ones are kept
    assert again == page


def test_report_command_errors_in_one_line_and_writes_nothing(tmp_path, capsys):
    from steervec.cli import main

    (tmp_path / "metrics.json").write_text('{"claims": []}')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not an experiment run's metrics.json" in err
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "plotly.min.js").exists()


def test_a_fresh_cache_adopts_the_archived_teacher_data(first, tiny_llama, tmp_path, monkeypatch):
    """On a fresh machine (an empty runs folder) with the record's teacher data named in
    ``$STEERVEC_REUSE_DATA``, the teacher-data step takes the archived rows instead of sampling them:
    the same rows, each dataset's ``adopted_from`` set, no row generated."""
    import shutil

    from steervec.core.steering_vector import SteeringVector
    from steervec.data import datasets
    from steervec.experiment.cache import REUSE_ENV
    from steervec.experiment.run import teacher_data

    record = tmp_path / "records" / "tiny"
    record.mkdir(parents=True)
    for data in first.folder.glob("data-*.jsonl"):
        shutil.copyfile(data, record / data.name)  # follows the link, as archive_runs does
    monkeypatch.setenv(REUSE_ENV, str(tmp_path / "records"))
    monkeypatch.setattr(datasets, "sample", lambda *a, **kw: pytest.fail("sampled instead of adopting"))
    exp = replace(first.experiment, out_dir=str(tmp_path / "runs"))
    folder = tmp_path / "runs" / "tiny"
    folder.mkdir(parents=True)
    v_teacher = SteeringVector.load(first.folder / "v_teacher.safetensors")
    teachers = teacher_data(tiny_llama, exp, v_teacher, folder, progress=False)
    assert set(teachers.stats) == set(first.metrics["data"])
    for label, stats in teachers.stats.items():
        assert stats["generated_rows_now"] == 0 and stats["adopted_from"] == str(record / f"data-{label}.jsonl")
        assert (folder / f"data-{label}.jsonl").read_bytes() == (first.folder / f"data-{label}.jsonl").read_bytes()
