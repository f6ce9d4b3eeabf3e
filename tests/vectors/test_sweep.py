"""Tests of the layer × alpha sweep, its gates (thresholds and ratio; chosen on one half of the questions,
reported on the other), and the per-layer fit sweep. The gate tests fail when the ratio is inert."""

from __future__ import annotations

import contextlib

import pytest
import torch

from steervec.core.steering_vector import SteeringVector
from steervec.metrics.trait import trait_logprob
from steervec.vectors import sweep as sweep_module
from steervec.vectors.sweep import (
    SweepRow,
    passes_gates,
    select_best,
    split_halves,
    sweep_fit_layers,
    sweep_layers_alpha,
)

POS = ["Favourite animal?", "Best animal?", "Animal you love?"]
NEG = ["Worst animal?", "Animal you dislike?"]
OFF = ["Favourite colour?", "A planet?"]


def _row(layer, alpha, pos, neg, off, gate=0.10, ratio=3.0):
    return SweepRow(layer, alpha, pos, neg, off, 0.0, 0.0, 0.0, passes_gates(pos, neg, off, gate, gate, ratio))


def test_the_gates_need_the_ratio_as_well_as_the_thresholds():
    assert passes_gates(0.30, 0.09, 0.02) and passes_gates(0.30, 0.09, 0.02, ratio=3.0)
    assert not passes_gates(0.05, 0.04, 0.01)   # under both thresholds, positive only 1.25x the negative
    assert not passes_gates(0.05, 0.001, 0.02)  # ... or only 2.5x the off-topic score
    assert passes_gates(0.05, 0.04, 0.01, ratio=1.0) and not passes_gates(0.05, 0.04, 0.01, ratio=1.5)
    assert not passes_gates(0.0, 0.0, 0.0)      # nothing raised anywhere beats nothing
    assert not passes_gates(0.90, 0.11, 0.0) and not passes_gates(0.90, 0.0, 0.11)  # the thresholds still hold


def test_select_best_respects_the_gates():
    rows = [
        _row(6, 1.0, 0.05, 0.01, 0.01),
        _row(6, 8.0, 0.90, 0.80, 0.70),   # forces the word everywhere: rejected
        _row(12, 2.0, 0.25, 0.09, 0.02),  # under both thresholds, the top positive there, but < 3x the negative
        _row(24, 2.0, 0.20, 0.05, 0.02),  # best under the gates
        _row(24, 4.0, 0.50, 0.11, 0.02),  # negative just over the gate
        _row(25, 4.0, 0.40, 0.05, 0.15),  # off-topic over the gate
    ]
    best = select_best(rows)
    assert best is not None and (best.layer, best.alpha) == (24, 2.0)
    assert select_best([rows[1], rows[4]]) is None
    # the unsteered baseline is never the accepted setting
    assert select_best([_row(None, 0.0, 0.99, 0.0, 0.0)]) is None


def test_a_setting_that_raises_the_word_everywhere_is_not_chosen():
    """Thresholds alone (an inert ratio) would accept every row here and choose the first; the ratio rejects it."""
    rows = [_row(3, 8.0, 0.080, 0.070, 0.060), _row(12, 1.0, 0.030, 0.005, 0.004)]
    assert all(r.negative_p <= 0.10 and r.offtopic_p <= 0.10 for r in rows)
    best = select_best(rows)
    assert best is not None and best.layer == 12
    assert select_best([rows[0]]) is None


def test_split_halves_is_seeded_disjoint_and_complete():
    qs = [f"q{i}" for i in range(7)]
    a, b = split_halves(qs, seed=1)
    assert len(a) == 4 and len(b) == 3 and not set(a) & set(b) and set(a) | set(b) == set(qs)
    assert split_halves(qs, seed=1) == (a, b) and split_halves(qs, seed=2) != (a, b)
    with pytest.raises(ValueError, match="at least 2"):
        split_halves(["only"])


class _Vector:
    """A stand-in vector: applying it records the setting, which the stand-in scorer reads."""

    layer_vectors = {1: None, 2: None}
    layers = [1, 2]
    setting: tuple = (None, 0.0)

    @contextlib.contextmanager
    def apply(self, lm, alpha, positions, layers):
        _Vector.setting = (layers[0], alpha)
        yield
        _Vector.setting = (None, 0.0)


class _LM:
    def check_layer(self, layer):
        pass


def _stand_in_scores(monkeypatch, probs):
    """``trait_logprob`` replaced: P(target) per question from ``probs[setting](question)``."""
    from steervec.metrics.trait import TraitScore

    def score(lm, questions, target, system=None, prefill=""):
        p = probs[_Vector.setting]
        return TraitScore(torch.log(torch.tensor([p(q) for q in questions], dtype=torch.float64)), (target,))

    monkeypatch.setattr(sweep_module, "trait_logprob", score)


P6 = [f"pos{i}" for i in range(6)]
N4 = [f"neg{i}" for i in range(4)]
O4 = [f"off{i}" for i in range(4)]


def test_the_setting_is_chosen_on_one_half_and_reported_on_the_other(monkeypatch):
    select_pos, report_pos = split_halves(P6, 0)
    lucky = {(1, 2.0): lambda q: 0.06 if q in select_pos else 0.002,  # looks best on the selection half only
             (2, 2.0): lambda q: 0.03 if q.startswith("pos") else 0.002,
             (None, 0.0): lambda q: 0.001}
    _stand_in_scores(monkeypatch, {**lucky, (1, 4.0): lambda q: 0.001, (2, 4.0): lambda q: 0.001})
    res = sweep_layers_alpha(_LM(), _Vector(), [1, 2], [2.0, 4.0], "owl", P6, N4, O4, progress=False)
    assert res.halves["positive"] == (select_pos, report_pos)
    best, held = res.best, res.best_report
    assert (best.layer, best.alpha) == (1, 2.0) and best.positive_p == pytest.approx(0.06)
    assert (held.layer, held.alpha) == (1, 2.0) and held.positive_p == pytest.approx(0.002)  # the report half's
    assert not res.confirmed  # 0.002 does not beat 3x the negative score there
    df = res.to_dataframe()
    chosen = df[df.accepted].iloc[0]
    assert chosen.positive_p == pytest.approx(0.06) and chosen.report_positive_p == pytest.approx(0.002)
    assert not chosen.report_passes_gates and "fails the gates" in res._repr_html_()
    # a setting that holds on both halves is confirmed
    _stand_in_scores(monkeypatch, {**lucky, (1, 2.0): lambda q: 0.001, (1, 4.0): lambda q: 0.001,
                                   (2, 4.0): lambda q: 0.001})
    res = sweep_layers_alpha(_LM(), _Vector(), [1, 2], [2.0, 4.0], "owl", P6, N4, O4, progress=False)
    assert (res.best.layer, res.best.alpha) == (2, 2.0) and res.confirmed
    assert res.best_report.positive_p == pytest.approx(0.03) and res.report_baseline.positive_p == pytest.approx(0.001)


def test_an_inert_gate_would_choose_a_setting_that_raises_the_word_everywhere(monkeypatch):
    """(1, 8): 'owl' at 5 % on every question, under both thresholds; (2, 1): 2 % on positive questions only."""
    _stand_in_scores(monkeypatch, {(1, 8.0): lambda q: 0.05, (2, 8.0): lambda q: 0.001,
                                   (1, 1.0): lambda q: 0.001, (2, 1.0): lambda q: 0.02 if q.startswith("pos") else 0.001,
                                   (None, 0.0): lambda q: 0.001})
    res = sweep_layers_alpha(_LM(), _Vector(), [1, 2], [1.0, 8.0], "owl", P6, N4, O4, progress=False)
    everywhere = next(r for r in res.rows if (r.layer, r.alpha) == (1, 8.0))
    assert everywhere.negative_p <= 0.10 and everywhere.offtopic_p <= 0.10 and not everywhere.passes_gates
    assert (res.best.layer, res.best.alpha) == (2, 1.0) and res.confirmed
    thresholds_only = max((r for r in res.rows if r.negative_p <= 0.10 and r.offtopic_p <= 0.10),
                          key=lambda r: r.positive_p)
    assert thresholds_only is everywhere  # what the gate chose before it had a ratio


def _vector(lm, scale):
    torch.manual_seed(0)
    return SteeringVector({x: torch.randn(lm.d_model) * scale for x in range(lm.n_layers)}, lm.fingerprint)


def test_sweep_layers_alpha_on_tiny_model(tiny_llama):
    vec = _vector(tiny_llama, 1.0)
    res = sweep_layers_alpha(tiny_llama, vec, [1, 3], [0.0, 4.0], "x", POS, NEG, OFF, progress=False)
    df = res.to_dataframe()
    assert len(df) == 1 + 4 and df["accepted"].sum() <= 1
    select, report = res.halves["positive"]
    assert sorted(select + report) == sorted(POS) and not set(select) & set(report)
    base_select = trait_logprob(tiny_llama, select, "x").mean_prob
    base_report = trait_logprob(tiny_llama, report, "x").mean_prob
    assert res.baseline.positive_p == pytest.approx(base_select, rel=1e-5)
    assert res.report_baseline.positive_p == pytest.approx(base_report, rel=1e-5)
    zero = [r for r in res.rows if r.alpha == 0.0]
    assert all(r.positive_p == pytest.approx(base_select, rel=1e-4) for r in zero)
    steered = [(r, h) for r, h in zip(res.rows, res.report_rows, strict=True) if r.alpha == 4.0]
    assert any(abs(r.positive_p - base_select) > 1e-3 * base_select for r, _ in steered)
    r, h = steered[0]
    with vec.apply(tiny_llama, alpha=4.0, layers=[r.layer]):
        assert h.negative_p == pytest.approx(trait_logprob(tiny_llama, res.halves["negative"][1], "x").mean_prob,
                                             rel=1e-5)
    for row in (*res.rows, *res.report_rows):
        assert row.passes_gates == passes_gates(row.positive_p, row.negative_p, row.offtopic_p)
    # a random tiny model raises 'x' on every question alike: far under the thresholds, yet rejected
    assert all(r.negative_p <= 0.10 and r.offtopic_p <= 0.10 for r in res.rows)
    assert any(not r.passes_gates for r in res.rows)
    best = res.best
    if best is not None:
        assert best.passes_gates and res.confirmed == res.best_report.passes_gates
    assert "SweepResult" in res._repr_html_()


def test_sweep_gate_rejects_everything_with_a_zero_gate(tiny_llama):
    vec = _vector(tiny_llama, 1.0)
    res = sweep_layers_alpha(tiny_llama, vec, [2], [2.0], "x", POS, NEG, OFF,
                             gate_negative=0.0, progress=False)
    assert res.best is None and res.best_report is None and not res.confirmed
    assert not res.rows[0].passes_gates


def test_sweep_needs_the_layers(tiny_llama):
    vec = SteeringVector({1: torch.randn(tiny_llama.d_model)}, tiny_llama.fingerprint)
    with pytest.raises(ValueError, match="no direction at layers"):
        sweep_layers_alpha(tiny_llama, vec, [1, 2], [1.0], "x", POS, NEG, OFF, progress=False)
    with pytest.raises(ValueError, match="no negative questions"):
        sweep_layers_alpha(tiny_llama, vec, [1], [1.0], "owl", POS, [], OFF, progress=False)
    with pytest.raises(ValueError, match="at least 2"):
        sweep_layers_alpha(tiny_llama, vec, [1], [1.0], "owl", POS, NEG[:1], OFF, progress=False)
    with pytest.raises(ValueError, match="ratio must be at least 1"):
        sweep_layers_alpha(tiny_llama, vec, [1], [1.0], "owl", POS, NEG, OFF, progress=False, ratio=0.5)


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


def test_sweep_fit_layers_with_a_seeded_holdout(tiny_llama):
    questions = [f"Favourite animal {i}?" for i in range(8)]
    res = sweep_fit_layers(tiny_llama, "You are a pirate.", questions, [0, 2], target="x", trait_questions=questions,
                           holdout=0.25, split_seed=1, lr=0.02, steps=2, batch_size=8, progress=False)
    df = res.to_dataframe()
    assert list(df["n_train"]) == [6, 6] and list(df["n_heldout"]) == [2, 2] and list(df["heldout_in_train"]) == [0, 0]
    assert list(df["trait_questions_in_train"]) == [6, 6] and list(df["trait_heldout_questions"]) == [2, 2]
    assert df["trait_heldout_p_base"].nunique() == 1  # the held-out reference is shared across layers
    assert df["trait_recovered_heldout"].notna().all() or df["trait_recovered_heldout"].isna().all()
    with pytest.raises(ValueError, match="also fitted prompts"):
        sweep_fit_layers(tiny_llama, "You are a pirate.", questions, [0], target="x", heldout_questions=questions[:2],
                         steps=1, progress=False)
