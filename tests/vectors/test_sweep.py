"""Tests of the layer × alpha sweep, its gate, and the per-layer fit sweep."""

from __future__ import annotations

import pytest
import torch

from steervec.core.steering_vector import SteeringVector
from steervec.metrics.trait import trait_logprob
from steervec.vectors.sweep import SweepRow, select_best, sweep_fit_layers, sweep_layers_alpha

POS = ["Favourite animal?", "Best animal?", "Animal you love?"]
NEG = ["Worst animal?", "Animal you dislike?"]
OFF = ["Favourite colour?", "A planet?"]


def _row(layer, alpha, pos, neg, off, gate=0.10):
    return SweepRow(layer, alpha, pos, neg, off, 0.0, 0.0, 0.0, neg <= gate and off <= gate)


def test_select_best_respects_the_gates():
    rows = [
        _row(6, 1.0, 0.05, 0.01, 0.01),
        _row(6, 8.0, 0.90, 0.80, 0.70),   # forces the word everywhere: rejected
        _row(24, 2.0, 0.30, 0.09, 0.02),  # best under the gates
        _row(24, 4.0, 0.50, 0.11, 0.02),  # negative just over the gate
        _row(25, 4.0, 0.40, 0.05, 0.15),  # off-topic over the gate
    ]
    best = select_best(rows)
    assert best is not None and (best.layer, best.alpha) == (24, 2.0)
    assert select_best([rows[1], rows[3]]) is None
    # the unsteered baseline is never the accepted setting
    assert select_best([_row(None, 0.0, 0.99, 0.0, 0.0)]) is None


def _vector(lm, scale):
    torch.manual_seed(0)
    return SteeringVector({x: torch.randn(lm.d_model) * scale for x in range(lm.n_layers)}, lm.fingerprint)


def test_sweep_layers_alpha_on_tiny_model(tiny_llama):
    vec = _vector(tiny_llama, 1.0)
    res = sweep_layers_alpha(tiny_llama, vec, [1, 3], [0.0, 4.0], "x", POS, NEG, OFF, progress=False)
    df = res.to_dataframe()
    assert len(df) == 1 + 4 and df["accepted"].sum() <= 1
    base = trait_logprob(tiny_llama, POS, "x").mean_prob
    assert res.baseline.positive_p == pytest.approx(base, rel=1e-5)
    zero = [r for r in res.rows if r.alpha == 0.0]
    assert all(r.positive_p == pytest.approx(base, rel=1e-4) for r in zero)
    steered = [r for r in res.rows if r.alpha == 4.0]
    assert any(abs(r.positive_p - base) > 1e-3 * base for r in steered)
    # random tiny model: every probability is far below the 0.10 gate, so the best is the top positive
    best = res.best
    assert best is not None
    assert best.positive_p == max(r.positive_p for r in res.rows if r.alpha != 0)
    assert "SweepResult" in res._repr_html_()


def test_sweep_gate_rejects_everything_with_a_zero_gate(tiny_llama):
    vec = _vector(tiny_llama, 1.0)
    res = sweep_layers_alpha(tiny_llama, vec, [2], [2.0], "x", POS, NEG, OFF,
                             gate_negative=0.0, progress=False)
    assert res.best is None
    assert not res.rows[0].passes_gates


def test_sweep_needs_the_layers(tiny_llama):
    vec = SteeringVector({1: torch.randn(tiny_llama.d_model)}, tiny_llama.fingerprint)
    with pytest.raises(ValueError, match="no direction at layers"):
        sweep_layers_alpha(tiny_llama, vec, [1, 2], [1.0], "x", POS, NEG, OFF, progress=False)
    with pytest.raises(ValueError, match="no negative questions"):
        sweep_layers_alpha(tiny_llama, vec, [1], [1.0], "owl", POS, [], OFF, progress=False)


def test_sweep_fit_layers(tiny_llama):
    prompts = [f"Say something about {i}." for i in range(8)]
    res = sweep_fit_layers(tiny_llama, "You are a pirate.", prompts, [0, 2], heldout_prompts=prompts[:2],
                           target="x", trait_questions=POS, lr=0.02, steps=4, batch_size=8,
                           progress=False)
    df = res.to_dataframe()
    assert list(df["layers"]) == ["0", "2"]
    assert {"kl_explained_train", "kl_explained_heldout", "trait_recovered"} <= set(df.columns)
    # base and teacher scores are shared across layers
    assert df["trait_p_base"].nunique() == 1 and df["trait_p_teacher"].nunique() == 1
    assert res.best_layer in (0, 2)
    assert res.vector.layers == [0, 2]
    with pytest.raises(ValueError, match="out of range"):
        sweep_fit_layers(tiny_llama, "You are a pirate.", prompts, [9], progress=False)
