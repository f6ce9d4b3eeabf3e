"""The generic / specific split adds up to the raw vector; cross-trait matrices see planted directions."""

from __future__ import annotations

import pytest
import torch
from _planted import Planted, plant_means

from steervec.core.errors import ComparisonError
from steervec.core.steering_vector import SteeringVector
from steervec.data.prompts import ANIMAL_PANEL, trait_prompt
from steervec.metrics.cosine_matrix import alignment_matrix
from steervec.vectors.baselines import ConditionMeans, matched, no_system, trait_vector
from steervec.vectors.mean_diff import mean_difference_vector
from steervec.vectors.trait_matrix import cross_trait_matrix, decompose_trait

PROMPTS = ["list three numbers", "continue 1, 2, 3", "say some digits please"]
PANEL = matched(list(ANIMAL_PANEL)[:12])


@pytest.fixture()
def planted(monkeypatch: pytest.MonkeyPatch) -> Planted:
    return plant_means(monkeypatch)


def test_decomposition_parts_add_up_to_the_raw_vector(tiny_llama, one_thread):
    means = ConditionMeans(tiny_llama, PROMPTS)
    parts = decompose_trait(means, "owl", PANEL)
    raw = mean_difference_vector(tiny_llama, trait_prompt("owl"), PROMPTS, control=None)  # measured on its own
    specific = trait_vector(tiny_llama, "owl", PROMPTS, baseline=PANEL, means=means)
    for x in raw.layers:
        assert torch.allclose(parts.generic[x] + parts.specific[x], raw[x], atol=1e-5)
        assert torch.allclose(parts.specific[x], specific[x], atol=1e-6)
        assert parts.generic[x].norm() > 0 and parts.specific[x].norm() > 0
    table = parts.to_dataframe()
    assert list(table.layer) == raw.layers and set(table.trait) == {"owl"}
    row = table.iloc[2]
    assert row.raw_norm == pytest.approx(float(raw[2].norm()), rel=1e-4)
    assert row.specific_share == pytest.approx(row.specific_norm / row.raw_norm)
    assert row.specific_over_generic == pytest.approx(row.specific_norm / row.generic_norm)
    with pytest.raises(ComparisonError, match="matched baseline"):
        decompose_trait(means, "owl", no_system())


def test_decomposition_reads_the_planted_sizes(tiny_llama, one_thread, planted):
    table = decompose_trait(ConditionMeans(tiny_llama, PROMPTS, layers=[0, 3]), "owl", PANEL).to_dataframe()
    # generic: 1000 along one direction; specific: 100 along another, less the panel's share of cat and dog
    assert table.generic_norm.tolist() == pytest.approx([1000.0, 1000.0], rel=0.02)
    assert table.specific_norm.tolist() == pytest.approx([100.0, 100.0], rel=0.1)
    assert (table.specific_share.between(0.08, 0.12)).all() and (table.cos_raw_generic > 0.99).all()


def test_raw_vectors_look_alike_and_matched_ones_do_not(tiny_llama, one_thread, planted):
    traits = ["owl", "cat", "dog", "pirate"]
    result = cross_trait_matrix(ConditionMeans(tiny_llama, PROMPTS), traits, {"raw": no_system(), "matched": PANEL})
    raw, fitted = result.matrices["raw"], result.matrices["matched"]
    assert raw.rows == fitted.cols == tuple(traits) and raw.layers == tuple(range(tiny_llama.n_layers))
    off = ~torch.eye(len(traits), dtype=torch.bool)
    assert (raw.values[:, off] > 0.98).all()  # every raw vector is mostly the shared system-prompt direction
    assert (fitted.values[:, off].abs() < 0.2).all()
    assert fitted.diagonal_margin().beats.all()
    pair = result.off_diagonal("owl", "cat")
    assert list(pair.columns) == ["raw", "matched"] and (pair.raw > pair.matched + 0.7).all()
    assert set(result.to_dataframe().label) == {"raw", "matched"}


def test_alignment_matrix_puts_a_planted_specific_direction_on_the_diagonal(tiny_llama, one_thread, planted):
    traits = ["owl", "cat", "pirate"]
    vectors = cross_trait_matrix(ConditionMeans(tiny_llama, PROMPTS, layers=[1, 2]), traits,
                                 {"matched": PANEL}).vectors["matched"]
    g = torch.Generator().manual_seed(3)
    artifact = torch.randn(tiny_llama.d_model, generator=g) * 3  # what training on any number data does
    shifts = {t: SteeringVector({x: artifact + 0.1 * planted.specific[t] + 0.3 * torch.randn(tiny_llama.d_model, generator=g)
                                 for x in (1, 2)}, tiny_llama.fingerprint) for t in traits}
    margin = alignment_matrix(shifts, vectors).diagonal_margin()
    assert margin.beats.all() and (margin.margin > 0.1).all()
    swapped = alignment_matrix({"owl": shifts["cat"], "cat": shifts["owl"]}, vectors).diagonal_margin()
    assert not swapped.beats.any()  # the planted direction, not the row order, makes the diagonal


@pytest.mark.embedded
@pytest.mark.slow
def test_owl_and_cat_vectors_part_once_the_panel_is_subtracted(embedded):
    """Measured (16 number prompts, 24-animal panel): layer 25 raw cos(v_owl, v_cat) +0.983, matched +0.072."""
    from steervec.data.numbers import number_prompts

    prompts = [p.text for p in number_prompts(2, seed=30_000)]
    result = cross_trait_matrix(ConditionMeans(embedded, prompts, layers=[25]), ["owl", "cat"],
                                {"raw": no_system(), "matched": PANEL})
    pair = result.off_diagonal("owl", "cat").loc[25]
    assert pair.raw > 0.9 and pair.matched < 0.5
