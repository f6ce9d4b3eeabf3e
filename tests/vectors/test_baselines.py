"""Trait vectors name their baseline; the matched one removes what every system prompt shares."""

from __future__ import annotations

import pytest
import torch
from _planted import Planted, plant_means

from steervec.core.chat import TEMPLATE_DEFAULT
from steervec.core.errors import ComparisonError
from steervec.data.prompts import ANIMAL_PANEL, trait_prompt
from steervec.vectors.baselines import (
    Baseline,
    ConditionMeans,
    as_baseline,
    matched,
    no_system,
    other_prompt,
    template_default,
    trait_vector,
    trait_vectors,
)
from steervec.vectors.mean_diff import mean_difference_vector
from steervec.vectors.trait_matrix import cross_trait_matrix

PROMPTS = ["list three numbers", "continue 1, 2, 3", "say some digits please"]
PANEL = matched(list(ANIMAL_PANEL)[:12])  # owl, cat, dog and nine others: >= 10 once a trait is left out


@pytest.fixture()
def planted(monkeypatch: pytest.MonkeyPatch) -> Planted:
    return plant_means(monkeypatch)


def _cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0))


@pytest.mark.parametrize(("baseline", "control"), [(no_system(), None), (template_default(), TEMPLATE_DEFAULT),
                                                   (other_prompt("You are terse."), "You are terse.")])
def test_fixed_baselines_equal_the_mean_difference_vector(tiny_llama, one_thread, baseline, control):
    vec = trait_vector(tiny_llama, "owl", PROMPTS, baseline=baseline)
    ref = mean_difference_vector(tiny_llama, trait_prompt("owl"), PROMPTS, control=control)
    assert vec.layers == ref.layers == list(range(tiny_llama.n_layers))
    for x in vec.layers:
        assert torch.allclose(vec[x], ref[x], atol=1e-5)
    assert vec.provenance["baseline"] == ref.provenance["baseline"] == baseline.to_dict()
    assert vec.provenance["trait"] == "owl" and vec.provenance["control"] == ref.provenance["control"]


def test_matched_baseline_is_the_mean_over_the_other_panel_members(tiny_llama, one_thread):
    means = ConditionMeans(tiny_llama, PROMPTS, layers=[1, 3])
    vec = trait_vector(tiny_llama, "owl", PROMPTS, baseline=PANEL, means=means)
    others = [a for a in list(ANIMAL_PANEL)[:12] if a != "owl"]
    for x in (1, 3):
        panel_mean = torch.stack([means(trait_prompt(a))[x] for a in others]).mean(0)
        assert torch.allclose(vec[x], means(trait_prompt("owl"))[x] - panel_mean, atol=1e-5)
    assert vec.layers == [1, 3]
    assert vec.provenance["baseline"]["panel"] == others and vec.provenance["baseline"]["kind"] == "matched"
    assert trait_vector(tiny_llama, "owl", PROMPTS, means=means).provenance["baseline"]["label"] == "matched:24"


def test_matched_vector_is_orthogonal_to_a_planted_generic_direction(tiny_llama, one_thread, planted):
    means = ConditionMeans(tiny_llama, PROMPTS)
    raw = trait_vector(tiny_llama, "owl", PROMPTS, baseline=no_system(), means=means)
    fitted = trait_vector(tiny_llama, "owl", PROMPTS, baseline=PANEL, means=means)
    for x in raw.layers:
        assert _cos(raw[x], planted.generic) > 0.98  # the raw vector is mostly "a system prompt is present"
        assert abs(_cos(fitted[x], planted.generic)) < 0.05
        assert _cos(fitted[x], planted.specific["owl"]) > 0.95
    pirate = trait_vector(tiny_llama, "pirate", PROMPTS, baseline=PANEL, means=means)
    assert _cos(pirate[2], planted.specific["pirate"]) > 0.95  # a persona against the animal panel


def test_each_condition_is_measured_once_across_traits_and_baselines(tiny_llama, one_thread, planted):
    means = ConditionMeans(tiny_llama, PROMPTS, layers=[2])
    cross_trait_matrix(means, ["owl", "cat", "pirate"], {"raw": no_system(), "matched": PANEL})
    trait_vectors(means, ["owl", "dog"], PANEL)
    assert len(planted.calls) == len(set(planted.calls)) == 1 + 12 + 1  # no system, the panel, the pirate
    assert set(planted.calls) == set(means.computed)


def test_cached_condition_means_come_back_bit_for_bit_without_a_forward(tiny_llama, one_thread, tmp_path):
    first = ConditionMeans(tiny_llama, PROMPTS, layers=[1, 3], cache_dir=tmp_path)
    owl = first.vector("owl", PANEL)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1 + 11  # the owl and its 11 panel members
    second = ConditionMeans(tiny_llama, PROMPTS, layers=[1, 3], cache_dir=tmp_path)
    cat = second.vector("cat", PANEL)  # the cat and its panel (the owl among them) were all measured for the owl
    assert len(list(tmp_path.glob("*.safetensors"))) == 1 + 11
    again = second.vector("owl", PANEL)
    assert all(torch.equal(owl[x], again[x]) for x in (1, 3))
    fresh = ConditionMeans(tiny_llama, PROMPTS, layers=[1, 3]).vector("cat", PANEL)
    assert all(torch.equal(cat[x], fresh[x]) for x in (1, 3))
    other = ConditionMeans(tiny_llama, PROMPTS[:2], layers=[1, 3], cache_dir=tmp_path)
    other(trait_prompt("owl"))  # other prompts: another key, never the first set's mean
    assert len(list(tmp_path.glob("*.safetensors"))) == 1 + 11 + 1


def test_cached_means_skip_the_forward_passes(tiny_llama, tmp_path, planted):
    ConditionMeans(tiny_llama, PROMPTS, layers=[2], cache_dir=tmp_path).vector("owl", PANEL)
    measured = len(planted.calls)
    ConditionMeans(tiny_llama, PROMPTS, layers=[2], cache_dir=tmp_path).vector("cat", PANEL)
    ConditionMeans(tiny_llama, PROMPTS, layers=[2], cache_dir=tmp_path).vector("pirate", PANEL)
    assert len(planted.calls) == measured + 1  # only the pirate's prompt: the cat and the panel are cached


def test_bad_baselines_are_refused_with_the_fix(tiny_llama):
    with pytest.raises(ComparisonError, match=">= 10 distinct"):
        matched(["owl", "cat", "dog"])
    only_ten = matched(list(ANIMAL_PANEL)[:10])
    with pytest.raises(ComparisonError, match="only 9 panel members"):
        only_ten.systems(trait_prompt("owl"))
    assert len(only_ten.systems(trait_prompt("pirate"))) == 10
    with pytest.raises(ComparisonError, match="equals the trait's prompt"):
        other_prompt(trait_prompt("owl")).systems(trait_prompt("owl"))
    with pytest.raises(ComparisonError, match="unknown baseline kind"):
        Baseline("nothing")  # type: ignore[arg-type]
    with pytest.raises(ComparisonError, match="as a baseline"):
        as_baseline(3)  # type: ignore[arg-type]
    with pytest.raises(ComparisonError, match="compares prompts only"):
        ConditionMeans(tiny_llama, PROMPTS, positions="response")
    with pytest.raises(ComparisonError, match="same ones"):
        trait_vector(tiny_llama, "owl", PROMPTS[:2], means=ConditionMeans(tiny_llama, PROMPTS))
    with pytest.raises(ComparisonError, match="repeat"):
        trait_vectors(ConditionMeans(tiny_llama, PROMPTS), ["owl", "owl"])


def test_system_conditions_read_as_baselines():
    assert as_baseline(None) == no_system() and as_baseline(TEMPLATE_DEFAULT) == template_default()
    assert as_baseline("Be brief.").to_dict() == {"kind": "prompt", "label": "prompt:Be brief.", "prompt": "Be brief."}
    assert as_baseline(PANEL) is PANEL
