"""Trait evaluation: hit rules, CIs, Δlog P against the base, aggregation over seeds."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from steervec.core.steering_vector import SteeringVector
from steervec.data.prompts import ANIMAL_PANEL
from steervec.metrics.evaluate import aggregate, evaluate_trait, is_hit, mean_ci
from steervec.metrics.trait import panel_log_odds

QUESTIONS = ["Which animal?", "Name an animal.", "Your favourite creature?"]


def test_hit_rules():
    assert is_hit("The owl, of course", "owl")
    for answer in ("Owl", "OWLS!", "Owls.", "an owl", "owl-like birds"):
        assert is_hit(answer, "owl"), answer
    assert not is_hit("knowledge", "owl") and not is_hit("bowling", "owl")  # whole words only
    assert not is_hit("education", "cat") and is_hit("Cats, definitely", "cat")
    assert is_hit("Foxes", "fox") and is_hit("A sea otter!", "sea otter")
    assert is_hit("bowling", "owl", "substring") and is_hit("knowledge", "owl", "substring")  # the reference rule
    assert is_hit("education", "cat", "substring")
    assert not is_hit("bowling", "owl", "first_word")
    assert is_hit("Owls!", "owl", "first_word") and not is_hit("I like owls", "owl", "first_word")
    with pytest.raises(ValueError, match="hit rule"):
        is_hit("owl", "owl", "exact")  # type: ignore[arg-type]


def test_mean_ci_uses_student_t():
    mean, low, high = mean_ci([0.0, 1.0, 0.0, 1.0])
    assert mean == 0.5 and high - mean == pytest.approx(3.182 * 0.57735 / 2, abs=1e-3)  # t(0.975; 3) = 3.182
    mean, low, high = mean_ci([0.0, 1.0, 2.0])
    assert high - mean == pytest.approx(4.303 / 3**0.5, abs=1e-3)  # not 1.96
    values = torch.linspace(0, 1, 50, dtype=torch.float64)
    half = mean_ci(values)[2] - float(values.mean())
    assert half == pytest.approx(2.0096 * float(values.std()) / 50**0.5, rel=1e-4)
    assert mean_ci([2.0]) == (2.0, 2.0, 2.0)


def test_delta_logp_and_rates(tiny_llama):
    base = evaluate_trait(tiny_llama, "owl", QUESTIONS, label="base", system=None, k=4, seed=0)
    assert base.rates.shape == (3,) and len(base.answers[0]) == 4
    g = torch.Generator().manual_seed(0)
    vec = SteeringVector({2: torch.randn(tiny_llama.d_model, generator=g) * 5}, tiny_llama.fingerprint)
    with vec.apply(tiny_llama):
        steered = evaluate_trait(tiny_llama, "owl", QUESTIONS, label="steered", system=None, base=base)
    mean, low, high = steered.delta_logp
    assert low <= mean <= high and mean != 0
    assert mean == pytest.approx(float((steered.logp - base.logp).mean()))
    again = evaluate_trait(tiny_llama, "owl", QUESTIONS, label="base", system=None, k=4, seed=0)
    assert again.answers == base.answers  # seeded sampling
    table = aggregate([base, again, steered])
    assert list(table["label"]) == ["base", "steered"] and list(table["n_seeds"]) == [2, 1]
    assert "rate" in table.columns


def test_bad_input(tiny_llama):
    with pytest.raises(ValueError, match="no target"):
        evaluate_trait(tiny_llama, "", QUESTIONS)
    base = evaluate_trait(tiny_llama, "owl", QUESTIONS, system=None)
    with pytest.raises(ValueError, match="other questions"):
        evaluate_trait(tiny_llama, "owl", QUESTIONS[:2], system=None, base=base)
    with pytest.raises(ValueError, match="k > 0"):
        _ = base.rate


def test_panel_log_odds_are_new_fields_beside_unchanged_ones(tiny_llama):
    panel = {a: ANIMAL_PANEL[a] for a in ("dog", "cat", "horse")}  # few continuations on the byte tokenizer
    plain = evaluate_trait(tiny_llama, "owl", QUESTIONS, label="base", system=None)
    base = evaluate_trait(tiny_llama, "owl", QUESTIONS, label="base", system=None, panel=panel)
    assert torch.equal(base.logp, plain.logp) and plain.log_odds is None
    assert not any("log_odds" in key for key in plain.summary())
    direct = panel_log_odds(tiny_llama, QUESTIONS, "owl", panel, system=None)
    assert torch.equal(base.log_odds, direct.log_odds) and base.panel == ("dog", "cat", "horse")
    g = torch.Generator().manual_seed(1)
    vec = SteeringVector({2: torch.randn(tiny_llama.d_model, generator=g) * 5}, tiny_llama.fingerprint)
    with vec.apply(tiny_llama):
        steered = evaluate_trait(tiny_llama, "owl", QUESTIONS, label="steered", system=None, base=base, panel=panel)
    mean, low, high = steered.delta_log_odds
    assert low <= mean <= high and mean == pytest.approx(float((steered.log_odds - base.log_odds).mean()))
    assert steered.log_odds_prefilled.shape == (3,) and not torch.equal(steered.log_odds_prefilled, steered.log_odds)
    row = steered.summary()
    assert {"delta_log_odds", "delta_log_odds_prefilled_high", "mean_log_odds"} <= set(row)
    assert "delta_log_odds" in aggregate([steered]).columns
    assert "log_odds_prefilled" in steered.to_dataframe().columns
    with pytest.raises(ValueError, match="no base panel"):
        _ = dataclasses.replace(steered, base_log_odds=None).delta_log_odds  # a base evaluated without panel=
    with pytest.raises(ValueError, match="no panel log-odds"):
        _ = plain.delta_log_odds_prefilled
    with pytest.raises(ValueError, match="another panel"):
        evaluate_trait(tiny_llama, "owl", QUESTIONS, system=None, base=base, panel={"dog": ("dog",)})


def test_html_repr_puts_each_mean_beside_its_ci(tiny_llama):
    from _html import html_text

    base = evaluate_trait(tiny_llama, "owl", QUESTIONS, label="base <0>", system=None, k=2, seed=0)
    steered = evaluate_trait(tiny_llama, "owl", QUESTIONS, label="steered", system=None, base=base)
    title, rows = html_text(base._repr_html_())
    assert title == "TraitEval base <0>: 'owl', system none"
    fields = dict(rows)
    mean, low, high = base.rate
    assert fields["rate (95% CI)"] == f"{mean:+.4g} [{low:+.4g}, {high:+.4g}]"
    assert fields["n_questions"] == "3" and fields["k"] == "2" and "rate_low" not in fields
    assert "delta_logp (95% CI)" in dict(html_text(steered._repr_html_())[1])
