"""The studies' claims and the one verdict rule (analyses/claims.py) on constructed summaries:
each claim kind must be able to come out yes, no, inconclusive and no verdict."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from claims import (
    ADAPTIVE_OPTIMIZERS,
    NULL_MARGIN_NATS,
    PLAIN_OPTIMIZERS,
    RAW_DIRECTION,
    RULE,
    control_choice_claims,
    cross_model_claim,
    experiment_claims,
    necessity_contrast_claims,
    optimizer_claim,
    pct,
    rank_claims,
    student_row_claim,
)

from steervec.experiment.config import Experiment, StudentSpec

LORA = (StudentSpec("LoRA r2", "lora", rank=2, lora_alpha=2.0),)


def _exp(teacher: str = "prompted", seeds: int = 3, **kw) -> Experiment:
    return Experiment(layer=1, seeds=tuple(range(seeds)), n_questions=3, students=LORA, teacher=teacher, size="full",
                      **kw)


def _row(per_seed: list[float], cos: list[float] | None = None, **extra) -> dict:
    cos = cos if cos is not None else [0.0] * len(per_seed)
    return {"trait_minus_control": [sum(per_seed) / len(per_seed), -9.0, 9.0],
            "trait_minus_control_per_seed": per_seed, "trait_minus_control_seed_level": per_seed,
            "seed_unit": "data seed", "cosine_trait": [0.2, 0.1, 0.3], "cosine_control": [0.1, 0.0, 0.2],
            "cosine_minus_control_per_seed": cos, "cosine_minus_control_seed_level": cos, **extra}


def _verdict(claims: list, text: str) -> str:
    return next(c for c in claims if text in c.claim).reproduced


@pytest.mark.parametrize(("per_seed", "expected"), [
    ([0.9, 1.1, 1.0], "yes"),                       # every seed up, tight: the seed CI excludes 0
    ([-0.9, -1.1, -1.0], "no"),                      # excludes 0 the other way
    ([0.36, 0.78, -2.90], "inconclusive"),           # seeds of both signs: the question CI does not matter
    ([1.0, 1.2], "no verdict"),                      # two seeds never decide
])
def test_transfer_claim_reads_the_seed_level_interval(per_seed, expected):
    exp = _exp(seeds=len(per_seed))
    claims = experiment_claims({"LoRA r2": _row(per_seed)}, exp, "m")
    got = _verdict(claims, "prefers")
    assert got.startswith(expected) and all(c.rule == RULE for c in claims)
    if expected == "inconclusive":
        assert "needs" in got or got == "inconclusive"


@pytest.mark.parametrize("per_seed", [[0.9, 1.1, 1.0], [-0.9, -1.1, -1.0]])
def test_training_seeds_of_one_teacher_dataset_never_decide(per_seed):
    """The same tight values as the yes / no cases above, but only the training seed varied: no verdict,
    with what those seeds alone agree on."""
    row = _row(per_seed, seed_unit="training seed")
    got = _verdict(experiment_claims({"LoRA r2": row}, _exp(), "m"), "prefers")
    alone = "yes" if per_seed[0] > 0 else "no"
    assert got == f"no verdict — one teacher dataset (its 3 training seeds alone: {alone})"


def test_an_inconclusive_verdict_says_how_many_seeds_it_needs():
    got = _verdict(experiment_claims({"LoRA r2": _row([0.1, 0.9, 0.2])}, _exp(), "m"), "prefers")
    assert got.startswith("inconclusive — needs ") and got.endswith(" seeds")
    assert int(got.split()[-2]) > 3


@pytest.mark.parametrize(("per_seed", "expected"), [
    ([0.01, -0.02, 0.0, 0.02, -0.01], "yes"),        # equivalent to 0 within the margin (TOST)
    ([0.9, 1.1, 1.0], "no"),                         # a clear effect: necessity fails
    ([-0.73, 0.00, 0.86], "inconclusive"),           # the recorded necessity seeds: a wide CI is no 'yes'
])
def test_a_claim_of_no_effect_needs_equivalence(per_seed, expected):
    claims = experiment_claims({"LoRA r2": _row(per_seed)}, _exp("projected", seeds=len(per_seed)), "m")
    assert _verdict(claims, "prefers").startswith(expected)


def test_specific_alignment_claim_reads_the_sign_and_the_direction():
    up = _row([1.0, 1.1, 0.9], controlled_cosine_specific_seed_level=[0.10, 0.12, 0.11])
    assert _verdict(experiment_claims({"LoRA r2": up}, _exp(), "m"), "specific direction") == "yes"
    # necessity predicts no alignment: the same clear cosine refutes it
    assert _verdict(experiment_claims({"LoRA r2": up}, _exp("projected"), "m"), "specific direction") == "no"
    down = _row([1.0, 1.1, 0.9], controlled_cosine_specific_seed_level=[-0.10, -0.12, -0.11])
    assert _verdict(experiment_claims({"LoRA r2": down}, _exp(), "m"), "specific direction") == "no"
    claim = next(c for c in experiment_claims({"LoRA r2": {**up, "controlled_cosine_teacher": [0.2, 0.1, 0.3]}},
                                              _exp("projected", baseline="template_default"), "m")
                 if "specific direction" in c.claim)
    assert "with v_teacher (raw, baseline 'template_default') +0.200" in claim.measurement  # names its baseline
    flat = _row([1.0, 1.1, 0.9], controlled_cosine_specific_seed_level=[0.01, -0.01, 0.0, 0.005, -0.004])
    assert _verdict(experiment_claims({"LoRA r2": flat}, _exp("projected", seeds=5), "m"),
                    "specific direction") == "yes"


def _growth(rise: list[float], unit: str = "data seed") -> dict:
    final = [0.05 + r for r in rise]
    return _row([1.0, 1.1, 0.9], seed_unit=unit, eas_controlled_specific={
        "steps": [4, 8, 12], "cosine": [0.05, 0.07, sum(final) / len(final)], "per_seed_final": final,
        "final_seed_level": final, "growth_seed_level": rise})


@pytest.mark.parametrize(("rise", "expected"), [
    ([0.10, 0.12, 0.11], "yes"),                   # every data seed's curve rises, tight
    ([-0.10, -0.12, -0.11], "no"),                 # it falls
    ([0.10, -0.08, 0.02], "inconclusive"),         # seeds of both signs
    ([0.10, 0.12], "no verdict"),                  # two seeds never decide
])
def test_specific_growth_claim_reads_the_rise_of_the_control_subtracted_curve(rise, expected):
    claims = experiment_claims({"LoRA r2": _growth(rise)}, _exp(), "m")
    claim = next(c for c in claims if "grows over training" in c.claim)
    assert "owl-specific direction" in claim.claim and claim.reproduced.startswith(expected)
    assert "step 4 → 12: +0.050" in claim.measurement and claim.rule == RULE
    # the same rise from the training seeds of one teacher dataset: reported, not decided
    alone = next(c for c in experiment_claims({"LoRA r2": _growth([0.10, 0.12, 0.11], "training seed")}, _exp(), "m")
                 if "grows over training" in c.claim)
    assert alone.reproduced == "no verdict — one teacher dataset (its 3 training seeds alone: yes)"


def test_the_raw_v_teacher_never_decides_an_alignment_claim():
    """v_teacher against a baseline without the trait's wording is mostly the system-prompt direction:
    however clear its cosine, the claim is a measurement, not a verdict."""
    up = _row([1.0, 1.1, 0.9], cos=[0.10, 0.12, 0.11])
    for exp in (_exp(), _exp("projected")):
        claim = next(c for c in experiment_claims({"LoRA r2": up}, exp, "m") if "v_teacher (raw" in c.claim)
        assert claim.reproduced == RAW_DIRECTION and "+0.10, +0.12, +0.11" in claim.measurement


def test_context_claim_is_a_claim_of_no_effect():
    exp = _exp(student_system="template_default", eval_systems=("none",))
    gone = _row([1.0, 1.1, 0.9], trait_minus_control_eval_none_seed_level=[0.01, -0.01, 0.0])
    kept = _row([1.0, 1.1, 0.9], trait_minus_control_eval_none_seed_level=[0.9, 1.0, 1.1])
    assert _verdict(experiment_claims({"LoRA r2": gone}, exp, "m"), "disappears") == "yes"
    assert _verdict(experiment_claims({"LoRA r2": kept}, exp, "m"), "disappears") == "no"


def test_measurement_states_seed_values_and_the_question_ci_apart():
    claim = next(c for c in experiment_claims({"LoRA r2": _row([0.58, 1.13, 1.28], seed_unit="training seed")}, _exp(), "m")
                 if "prefers" in c.claim)
    assert "+0.58, +1.13, +1.28" in claim.measurement and "seed-level" in claim.measurement
    assert "across questions" in claim.measurement and "training seeds of one teacher dataset" in claim.measurement


def test_rate_ci_is_clipped_but_a_difference_is_not():
    assert pct((0.01, -0.02, 0.04)) == "1.0 % [0.0, 4.0]"
    assert pct((0.01, -0.02, 0.04), sign=True) == "+1.0 % [-2.0, +4.0]"
    assert pct(None) == "n/a"


def _strings_outside_docstrings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]


def test_the_library_states_no_study_claim():
    """Docstrings may cite a method's source; no value the library computes names a study."""
    library = Path(__file__).resolve().parents[2] / "steervec"
    named = [p.name for p in library.rglob("*.py") if any("et al." in s for s in _strings_outside_docstrings(p))]
    assert not named, f"study names belong in analyses/claims.py, found in {named}"


@pytest.mark.parametrize(("per_rank", "full", "expected"), [
    ([[0.1, 0.2, 0.15], [1.0, 1.2, 1.1], [0.3, 0.2, 0.25]], [0.0, -0.1, 0.1], ["yes", "yes"]),   # U, full FT at 0
    ([[0.1, 0.2, 0.15], [0.3, 0.2, 0.25], [1.0, 1.2, 1.1]], [1.0, 1.1, 1.2], ["no", "no"]),     # rising, full FT high
    ([[0.1, 0.9, 0.5], [0.6, 0.8, 0.4], [0.1, 0.2, 0.3]], None, ["inconclusive"]),              # inner peak in the noise
])
def test_rank_claims_compare_ranks_seed_by_seed(per_rank, full, expected):
    """The rank sweep trains on one teacher dataset: what its seeds agree on is stated, never a verdict."""
    claims = rank_claims([1, 8, 64], per_rank, full, "model", "full")
    one = "no verdict — one teacher dataset (its 3 training seeds alone: {})"
    assert [c.reproduced.split(" — ")[0] if e == "inconclusive" else c.reproduced
            for c, e in zip(claims, expected, strict=True)] == \
        [e if e == "inconclusive" else one.format(e) for e in expected]
    assert "r8 − r1" in claims[0].measurement and "3 seeds" in claims[0].measurement
    # the same values as one per data seed (the teacher data varied): the rule decides
    decided = rank_claims([1, 8, 64], per_rank, full, "model", "full", unit="data seed")
    assert [c.reproduced.split(" — ")[0] for c in decided] == expected
    assert "trait − control per data seed" in decided[0].measurement


@pytest.mark.parametrize(("per_optimizer", "expected"), [
    ({"adamw": [0.5, 0.45, 0.6], "sgd": [0.1, 0.0, 0.2]}, "yes"),
    ({"adamw": [0.01, 0.0, 0.02], "sgd": [0.1, 0.09, 0.12], "sgd_momentum": [0.2, 0.18, 0.22]}, "no"),
    ({"adamw": [0.1, 0.3, 0.0], "sgd": [0.15, 0.05, 0.2]}, "inconclusive"),
    # the best adaptive optimiser beats SGD on every seed, but the family's mean does not: the contrast is the mean
    ({"adamw": [0.5, 0.45, 0.6], "signsgd": [-0.4, -0.5, -0.45], "sgd": [0.05, 0.0, 0.1]}, "inconclusive"),
    ({"adamw": [0.1, 0.2, 0.1], "adam": [0.1, 0.2, 0.1]}, "no verdict"),  # --quick: no SGD student
    ({"adamw": [0.5], "sgd": [0.1]}, "no verdict"),                       # one seed
])
def test_optimizer_claim_compares_the_family_means_by_seed(per_optimizer, expected):
    claim = optimizer_claim(per_optimizer, ADAPTIVE_OPTIMIZERS, PLAIN_OPTIMIZERS, "model", "full")
    assert claim.reproduced.split(" — ")[0] == expected and "adamw" in claim.measurement
    if "sgd" in per_optimizer:
        assert "mean of adamw" in claim.measurement and "not decided" in claim.measurement


def _grad_unit(pooled: float, specific: float | None = None) -> dict:
    unit = {"pooled_difference": {"25": pooled}, "fraction_along_trait": {"25": 0.04},
            "fraction_along_control": {"25": 0.03}, "top5_share_trait": {"25": 0.15}}
    if specific is not None:
        unit["pooled_difference_specific"] = {"25": specific}
    return unit


@pytest.mark.parametrize(("specific", "expected"), [
    ([0.2, 0.25, 0.3], "yes"), ([-0.2, -0.25, -0.3], "no"), ([0.2, -0.1, 0.05], "inconclusive")])
def test_gradient_claims_decide_the_matched_direction_per_data_seed(specific, expected):
    from claims import RAW_DIRECTION, gradient_claims

    grad = {**_grad_unit(0.5, specific[0]),
            "per_data_seed": [_grad_unit(0.5 + i, s) for i, s in enumerate(specific)]}
    raw, matched = gradient_claims(grad, "m", "full")
    assert raw.reproduced == RAW_DIRECTION  # v_teacher: a measurement, even with every seed positive
    assert "3 seeds" in raw.measurement and "+0.50, +1.50, +2.50" in raw.measurement
    assert matched.reproduced.startswith(expected) and "trait-specific direction" in matched.claim
    assert "v_specific" in matched.measurement and "0.040, 0.040, 0.040" in matched.measurement


def test_gradient_claims_of_a_record_with_one_dataset():
    """Records written before the data seed varied hold one dataset's numbers at the top level: one value, no
    seed-level interval, and no matched claim (it was not measured)."""
    from claims import RAW_DIRECTION, gradient_claims

    claims = gradient_claims(_grad_unit(0.01), "m", "full")
    assert len(claims) == 1 and claims[0].reproduced == RAW_DIRECTION
    assert "one seed" in claims[0].measurement and "+0.01" in claims[0].measurement


def test_the_specific_measure_gets_its_own_claim_when_measured():
    row = _row([1.0, 1.1, 0.9], log_odds_trait_minus_control=[0.1, -0.2, 0.4],
               log_odds_trait_minus_control_seed_level=[0.1, -0.3, 0.2])
    claims = experiment_claims({"LoRA r2": row}, _exp(), "m")
    assert _verdict(claims, "prefers 'owl' more") == "yes"  # Δlog P moves
    assert _verdict(claims, "over the other animals (at the answer position)").startswith("inconclusive")


def _sweep(select_pos: float, report_pos: float, report_neg: float = 0.001, base: float = 0.001):
    from steervec.vectors.sweep import SweepResult, SweepRow, passes_gates

    def row(layer, alpha, pos, neg):
        return SweepRow(layer, alpha, pos, neg, 0.001, 0.0, 0.0, 0.0, passes_gates(pos, neg, 0.001))

    return SweepResult([row(25, 2.0, select_pos, 0.001)], row(None, 0.0, base, 0.001), ("owl",), 0.1, 0.1,
                       report_rows=[row(25, 2.0, report_pos, report_neg)], report_baseline=row(None, 0.0, base, 0.001),
                       halves={"positive": (["a", "b"], ["c", "d"])})


@pytest.mark.parametrize(("sweep", "expected", "text"), [
    (_sweep(0.02, 0.02), "yes", "passes the gates"),
    (_sweep(0.02, 0.002), "no", "fails the gates"),          # chosen on the selection half, gone on the report half
    (_sweep(0.02, 0.02, report_neg=0.01), "no", "fails"),    # on the report half, not 3x its negative score
    (_sweep(0.02, 0.02, base=0.015), "no", "passes"),        # passes, but below 2x the unsteered model
    (_sweep(0.002, 0.02), "no", "no setting passed"),         # nothing passes on the selection half
])
def test_sweep_claim_reads_the_report_half(sweep, expected, text):
    from claims import SWEEP_RULE, sweep_claim

    claim = sweep_claim(sweep, "owl", "m", "full")
    assert claim.reproduced == expected and text in claim.measurement and claim.rule == SWEEP_RULE
    assert "2 / 2 positive questions" in claim.measurement and "3× above" in claim.claim


@pytest.mark.parametrize(("per_seed", "expected"), [
    ([0.9, 1.1, 1.0], "yes"), ([-0.9, -1.1, -1.0], "no"), ([0.5, 0.6], "no verdict")])
def test_random_mask_claim_compares_divergence_only_with_random_tokens(per_seed, expected):
    from claims import random_mask_claim

    claim = random_mask_claim(per_seed, "both masks keep 4.4 %", "m", "full")  # one teacher dataset
    assert claim.rule == RULE
    if expected == "no verdict":
        assert claim.reproduced == "no verdict"
    else:
        assert claim.reproduced == f"no verdict — one teacher dataset (its 3 training seeds alone: {expected})"
    assert "random-mask student" in claim.measurement and "4.4 %" in claim.measurement


@pytest.mark.parametrize(("units", "expected"), [
    ([0.9, 1.1, 1.0], "yes"), ([-0.9, -1.1, -1.0], "no"), ([0.9, -1.1, 0.2], "inconclusive")])
def test_random_mask_claim_over_data_seeds_decides(units, expected):
    from claims import random_mask_claim

    claim = random_mask_claim(units, "both masks keep 4.4 %", "m", "full", unit="data seeds", measure="log_odds_prefilled")
    assert claim.reproduced.startswith(expected) and "after the prefill" in claim.claim
    assert "log-odds against the animal panel" in claim.measurement


def test_divergence_claims_over_data_seeds():
    """Three teacher datasets decide: the share of each, and each student's value per data seed; the
    all-but-divergence student is an equivalence claim (within the margin), the minority claim is made once."""
    from claims import divergence_claims

    shares = {"T=0": [0.04], "T=1": [0.03, 0.05, 0.04]}
    per_unit = {"divergence only": [0.9, 1.1, 1.0], "all but divergence": [0.02, -0.03, 0.01],
                "all tokens": [0.5, -0.4, 0.1]}
    claims = divergence_claims(shares, per_unit, "m", "full", "data seeds")
    words = {c.claim.split(" (")[0]: c.reproduced for c in claims}
    assert words["divergence tokens are a minority"] == "yes"
    assert words["a student trained on divergence only learns the trait"] == "yes"
    assert words["a student trained on all tokens learns the trait"].startswith("inconclusive")
    assert next(c for c in claims if "all but" in c.claim).reproduced == "yes"  # within ±0.25 by TOST
    wider = divergence_claims(shares, {"all but divergence": [0.6, -0.5, 0.2]}, "m", "full", "data seeds")
    assert next(c for c in wider if "all but" in c.claim).reproduced.startswith("inconclusive")
    panel = divergence_claims(shares, per_unit, "m", "full", "data seeds", measure="log_odds")
    assert len(panel) == 3 and all("answer position" in c.claim for c in panel)  # no second minority claim
    one = divergence_claims({"T=1": [0.04]}, {"divergence only": [0.9, 1.1, 1.0]}, "m", "full")
    assert all(c.reproduced.startswith("no verdict") for c in one)  # one teacher dataset never decides


def test_optimizer_claim_states_how_each_rate_was_chosen():
    from claims import lr_selection_text

    selection = {"heldout_fraction": 0.25, "split_seed": 0, "selection_seeds": [0], "per_optimizer": {
        "adamw": {"lr": 0.03, "heldout_loss": {"0.01": 1.2345, "0.03": 1.2001}},
        "sgd": {"lr": 100.0, "heldout_loss": {"100.0": 1.3, "300.0": 1.31}}}}
    text = lr_selection_text(selection)
    assert "adamw lr 0.03 (held-out loss 0.01: 1.2345, 0.03: 1.2001)" in text and "sgd lr 100" in text
    assert "25% of the owl and control prompts held out" in text
    claim = optimizer_claim({"adamw": [0.2, 0.3, 0.25], "sgd": [0.0, 0.1, 0.05]}, ADAPTIVE_OPTIMIZERS,
                            PLAIN_OPTIMIZERS, "m", "full", text)
    assert claim.measurement.endswith(text) and claim.reproduced == "yes"


@pytest.mark.parametrize(("per_seed", "expected"), [
    ([0.01, -0.02, 0.0, 0.02, -0.01], "yes"),        # equivalent to 0 within the margin
    ([0.36, 0.78, -2.90], "inconclusive"),           # the recorded per-seed values: a wide interval is no 'yes'
    ([1.1, 0.9, 1.0], "no"),                         # the other family picks the trait up
])
def test_cross_family_claim_needs_equivalence_over_data_seeds(per_seed, expected):
    claim = cross_model_claim(per_seed, "detail", "m", "full", unit="data seed")
    assert claim.reproduced.startswith(expected) and f"±{NULL_MARGIN_NATS}" in claim.claim
    one_dataset = cross_model_claim(per_seed, "detail", "m", "full")  # training seeds of one dataset
    assert one_dataset.reproduced.startswith("no verdict" if expected != "inconclusive" else "inconclusive")


def test_run_seed_unit_is_data_seed_only_when_every_row_says_so():
    from claims import run_seed_unit

    assert run_seed_unit({"LoRA r1": {"seed_unit": "data seed"}, "full FT": {"seed_unit": "data seed"}}) == "data seed"
    assert run_seed_unit({"LoRA r1": {"seed_unit": "data seed"}, "full FT": {"seed_unit": "training seed"}}) \
        == "training seed"
    assert run_seed_unit({"LoRA r1": {}, "note": "text"}) == "training seed"


def test_the_divergence_study_trains_on_the_owl_runs_teacher_data():
    """divergence_tokens' teachers are the prompted owl experiment's (baseline 'none'), so the run cache
    keys their datasets alike and the study reuses the owl run's data instead of generating its own."""
    from divergence_tokens import teachers

    from steervec.experiment.run import build_teachers

    ours = teachers()
    theirs = build_teachers(Experiment(animal="owl", teacher="prompted", baseline="none"), None)  # type: ignore[arg-type]
    assert [t.to_dict() for t in ours] == [t.to_dict() for t in theirs]


def test_cross_model_study_claims_read_the_seed_unit_and_each_panel_measure():
    """One claim per measure from metrics.json alone; the panel measures are decided by the same rule and
    named outside parentheses, so each is a claim of its own."""
    from claims import cross_model_study_claims

    metrics = {"difference": [0.0, -0.1, 0.1], "difference_per_seed": [0.3, -0.3, 0.1, -0.1, 0.0, 0.0],
               "difference_seed_level": [0.01, -0.02, 0.01], "seed_unit": "data seed", "detail": "Gemma students",
               "panel": {"log_odds": {"seed_level": [1.1, 0.9, 1.0], "detail": "panel at the answer"},
                         "log_odds_prefilled": {"seed_level": [0.5, -0.6, 0.2], "detail": "panel after the prefill"}}}
    claims = cross_model_study_claims(metrics, "m", "full")
    assert [c.reproduced.split(" — ")[0] for c in claims] == ["yes", "no", "inconclusive"]
    assert "answer position" in claims[1].claim and "after the prefill" in claims[2].claim
    assert "(" not in claims[1].claim.split("(within")[0]
    assert "panel after the prefill" in claims[2].measurement and "Gemma students" in claims[0].measurement
    old = {"difference": [-0.59, -0.73, -0.45], "difference_per_seed": [0.36, 0.78, -2.90]}
    (only,) = cross_model_study_claims(old, "m", "full")  # no seed unit stored: training seeds of one dataset
    assert only.reproduced.startswith("inconclusive") and "one teacher dataset" in only.measurement


def test_a_trait_row_of_the_student_matrix_is_decided_over_that_traits_data_seeds():
    yes = student_row_claim([0.04, 0.03, 0.05, 0.02, 0.04], "LoRA r8", "owl", 25, "detail", "m", "full")
    assert yes.reproduced == "yes" and "owl's matched vector" in yes.claim and "t over 5 seeds" in yes.measurement
    mixed = student_row_claim([0.04, -0.03, 0.05, -0.02, 0.01], "LoRA r8", "owl", 25, "detail", "m", "full")
    assert mixed.reproduced.startswith("inconclusive")
    no = student_row_claim([-0.04, -0.03, -0.05], "LoRA r8", "cat", 25, "detail", "m", "full")
    assert no.reproduced == "no"
    one = student_row_claim([0.5], "LoRA r8", "cat", 25, "detail", "m", "full")
    assert one.reproduced not in ("yes", "no")


def test_necessity_as_a_contrast_reads_intact_minus_projected_per_data_seed():
    dlogp, cos = "trait_minus_control_seed_level", "controlled_cosine_specific_seed_level"
    intact = {dlogp: {1: 0.8, 2: 0.7, 3: 0.9, 4: 0.6}, cos: {1: 0.04, 2: 0.05, 3: 0.035}}
    # the projected teacher's students: no transfer, and alignment inside a ±0.05 margin yet below intact
    projected = {dlogp: {1: 0.1, 2: -0.2, 3: 0.0}, cos: {1: 0.01, 2: 0.02, 3: 0.0}}
    claims = necessity_contrast_claims(intact, projected, "the matched owl vector", "LoRA r8", "m", "full")
    assert [c.reproduced for c in claims] == ["yes", "yes"]  # measures a run lacks are left out
    assert "log P(owl)" in claims[0].claim and "matched owl vector" in claims[1].claim
    assert "data seeds 1, 2, 3)" in claims[0].measurement  # data seed 4: intact only, left out
    assert "seed-level +0.032" in claims[1].measurement  # mean of +0.03, +0.03, +0.035
    same = necessity_contrast_claims(intact, {k: {d: v + 0.01 * (-1) ** d for d, v in vals.items()}
                                              for k, vals in intact.items()}, "v_teacher", "LoRA r8", "m", "full")
    assert all(c.reproduced.startswith("inconclusive") for c in same)  # differences ±0.01 around zero
    higher = {k: {d: v + 0.5 + 0.01 * d for d, v in vals.items()} for k, vals in intact.items()}
    assert necessity_contrast_claims(intact, higher, "v_teacher", "LoRA r8", "m", "full")[0].reproduced == "no"
    with pytest.raises(ValueError, match="share no data seed"):
        necessity_contrast_claims(intact, {dlogp: {7: 0.1}}, "v", "L", "m", "full")


def test_the_choice_of_control_is_read_on_the_data_seeds_both_runs_have():
    key = "trait_minus_control_seed_level"
    no_system = {key: {1: 0.9, 2: 0.8, 3: 0.6, 4: 1.0}}  # seed 4: only in this run, left out
    default = {key: {1: 0.0, 2: -0.3, 3: -0.2}}
    (claim,) = control_choice_claims(no_system, default, "LoRA r8", "m", "full")
    assert claim.reproduced == "yes" and "data seeds 1, 2, 3" in claim.measurement and "+0.767" in claim.measurement
    same = control_choice_claims(no_system, {key: {1: 0.9, 2: 0.7, 3: 0.7}}, "LoRA r8", "m", "full")[0]
    assert same.reproduced.startswith("inconclusive")
    with pytest.raises(ValueError, match="share no data seed"):
        control_choice_claims({key: {4: 1.0}}, default, "LoRA r8", "m", "full")


def test_the_column_claim_names_its_trait_and_reads_the_one_rule():
    from claims import student_column_claim

    claim = student_column_claim([0.03, 0.05, 0.04], "LoRA r8", "dolphin", 25, "d", "m", "full")
    assert claim.reproduced == "yes" and "students of dolphin data move" in claim.claim and "dolphin's" in claim.claim
    null = student_column_claim([0.01, -0.01, 0.002], "LoRA r8", None, 25, "d", "m", "full")
    assert null.reproduced.startswith("inconclusive") and "LoRA r8 students of each trait move" in null.claim
    assert student_column_claim([0.5, 0.4], "LoRA r8", "cat", 25, "d", "m", "full").reproduced == "no verdict"
