"""Tests of fit_steering_vector, the cached-layer suffix forward and FitReport."""

from __future__ import annotations

import pytest
import torch

from steervec.core.chat import TEMPLATE_DEFAULT, encode_chat
from steervec.core.errors import SteervecError
from steervec.core.steering_vector import SteeringVector
from steervec.core.suffix_forward import SuffixForward, SuffixModules, max_error
from steervec.vectors.fit import fit_split, fit_steering_vector
from steervec.vectors.report import FitReport, TraitRecovery

PROMPTS = [f"Tell me about item number {i}." for i in range(12)]
HELDOUT = [f"Describe thing {i} briefly." for i in range(6)]


def _batch(lm):
    return encode_chat(lm, ["hi", "a somewhat longer prompt"], system="Be brief.",
                       completions=["ok", "fine, then"])


@pytest.mark.parametrize("layer", [0, 1, 3])
def test_suffix_forward_equals_full_forward(tiny, layer):
    batch = _batch(tiny)
    suffix = SuffixForward.build(tiny, batch.model_inputs(), layer)
    vectors = {layer: torch.randn(tiny.d_model), tiny.n_layers - 1: torch.randn(tiny.d_model)}
    for add in (batch.attention_mask.bool(), batch.response_mask, batch.last_prompt_mask):
        err = max_error(suffix, tiny, batch.model_inputs(), vectors, add, batch.attention_mask.bool())
        assert err < 1e-5


def test_suffix_forward_detects_a_wrong_vector(tiny):
    # the comparison is not vacuous: a different vector gives different logits
    batch = _batch(tiny)
    suffix = SuffixForward.build(tiny, batch.model_inputs(), 1)
    mask = batch.attention_mask.bool()
    a = suffix.logits({1: torch.zeros(tiny.d_model)}, mask, mask)
    b = suffix.logits({1: torch.ones(tiny.d_model)}, mask, mask)
    assert (a - b).abs().max() > 1e-3


def test_suffix_forward_bfloat16_is_close(tiny):
    batch = _batch(tiny)
    modules = SuffixModules.of(tiny, 1, torch.bfloat16)
    suffix = SuffixForward.build(tiny, batch.model_inputs(), 1, modules)
    mask = batch.attention_mask.bool()
    err = max_error(suffix, tiny, batch.model_inputs(), {1: torch.randn(tiny.d_model)}, mask, mask)
    assert 0 < err < 0.05
    assert tiny.dtype == torch.float32  # the model itself was not cast


def test_fit_recovers_a_known_teacher_vector(tiny_llama):
    torch.manual_seed(1)
    known = SteeringVector({1: torch.randn(tiny_llama.d_model) * 2.0}, tiny_llama.fingerprint)
    res = fit_steering_vector(
        tiny_llama, None, PROMPTS, 1, teacher_vector=known, control=None, lr=0.1, steps=100,
        batch_size=12, heldout_prompts=HELDOUT, progress=False,
    )
    rep = res.report
    assert rep.kl_before_train > 1e-2
    assert rep.kl_after_train < 0.03 * rep.kl_before_train
    assert 0.95 < rep.kl_explained_train <= 1.0
    assert 0.95 < rep.kl_explained_heldout <= 1.0
    assert res.vector.cosine(known)[1] > 0.9
    assert rep.suffix_error is not None and rep.suffix_error < 1e-3
    assert len(rep.loss_curve) == 100 and rep.loss_curve[-1] < rep.loss_curve[0]
    assert rep.seconds_to_fraction(0.9) is not None


def test_fit_with_completions_and_two_layers(tiny_qwen):
    torch.manual_seed(2)
    known = SteeringVector({2: torch.randn(tiny_qwen.d_model)}, tiny_qwen.fingerprint)
    comps = [f"{i} {i + 1} {i + 2}" for i in range(len(PROMPTS))]
    res = fit_steering_vector(
        tiny_qwen, None, PROMPTS, [1, 2], teacher_vector=known, completions=comps, lr=0.05,
        steps=30, batch_size=6, progress=False,
    )
    rep = res.report
    assert rep.settings["loss_positions"] == "response"
    assert rep.train_positions > len(PROMPTS)  # answer position plus completion positions
    assert 0.0 <= rep.kl_explained_train <= 1.0
    assert rep.kl_explained_train > 0.5
    assert res.vector.layers == [1, 2]


def test_bfloat16_steps_keep_float32_reports(tiny_llama):
    known = SteeringVector({2: torch.randn(tiny_llama.d_model)}, tiny_llama.fingerprint)
    kw = dict(teacher_vector=known, lr=0.05, steps=3, batch_size=12, progress=False)
    fast = fit_steering_vector(tiny_llama, None, PROMPTS, 2, dtype=torch.bfloat16, **kw)
    exact = fit_steering_vector(tiny_llama, None, PROMPTS, 2, **kw)
    assert fast.report.settings["dtype"] == "torch.bfloat16"
    assert fast.vector[2].dtype == torch.float32 and tiny_llama.dtype == torch.float32
    # KL before the fit is measured in float32 in both runs: identical
    assert fast.report.kl_before_train == exact.report.kl_before_train
    # the bfloat16 loss curve is close to, not equal to, the float32 one
    assert fast.report.loss_curve[0] == pytest.approx(exact.report.loss_curve[0], rel=0.05)


def test_cached_and_full_forward_fits_agree(tiny_llama):
    known = SteeringVector({2: torch.randn(tiny_llama.d_model)}, tiny_llama.fingerprint)
    kw = dict(teacher_vector=known, lr=0.05, steps=5, batch_size=12, progress=False)
    fast = fit_steering_vector(tiny_llama, None, PROMPTS, 2, cached=True, **kw)
    slow = fit_steering_vector(tiny_llama, None, PROMPTS, 2, cached=False, **kw)
    assert fast.report.loss_curve == pytest.approx(slow.report.loss_curve, rel=1e-4, abs=1e-7)
    assert torch.allclose(fast.vector[2], slow.vector[2], atol=1e-5)


def test_fit_is_seeded(tiny_llama):
    known = SteeringVector({1: torch.randn(tiny_llama.d_model)}, tiny_llama.fingerprint)
    kw = dict(teacher_vector=known, lr=0.05, steps=6, batch_size=2, progress=False)
    a = fit_steering_vector(tiny_llama, None, PROMPTS, 1, seed=3, **kw)
    b = fit_steering_vector(tiny_llama, None, PROMPTS, 1, seed=3, **kw)
    c = fit_steering_vector(tiny_llama, None, PROMPTS, 1, seed=4, **kw)
    assert a.report.loss_curve == b.report.loss_curve
    assert a.report.loss_curve != c.report.loss_curve  # chunk order depends on the seed


def test_system_prompt_fit_reports_trait(tiny_llama):
    res = fit_steering_vector(
        tiny_llama, "You are a cat who loves owls.", PROMPTS[:8], 2, lr=0.05, steps=3,
        batch_size=8, target="x", trait_questions=["Favourite animal?", PROMPTS[0]],
        progress=False,
    )
    trait = res.report.trait
    assert isinstance(trait, TraitRecovery)
    assert trait.n_questions == 2 and trait.questions_in_train == 1
    assert 0 < trait.p_base < 1 and 0 < trait.p_teacher < 1
    row = res.report.to_dataframe().iloc[0]
    assert "trait_recovered" in row and "kl_explained_train" in row
    assert "FitReport" in res.report._repr_html_()
    assert res.vector.provenance["report"]["n_train"] == 8


def test_norm_penalty_shrinks_the_vector(tiny_llama):
    known = SteeringVector({1: torch.randn(tiny_llama.d_model) * 2}, tiny_llama.fingerprint)
    kw = dict(teacher_vector=known, lr=0.1, steps=25, batch_size=12, progress=False)
    free = fit_steering_vector(tiny_llama, None, PROMPTS, 1, **kw)
    tied = fit_steering_vector(tiny_llama, None, PROMPTS, 1, norm_penalty=1.0, **kw)
    assert tied.vector.norms[1] < 0.5 * free.vector.norms[1]


def test_mean_diff_init_starts_below_zero_init(tiny_llama):
    res = fit_steering_vector(tiny_llama, "Always answer like a pirate.", PROMPTS[:8], 2,
                              init="mean_diff", lr=0.01, steps=1, progress=False)
    assert res.report.kl_init_train != res.report.kl_before_train
    assert res.report.settings["init"] == "mean_diff"


# ------------------------------------------------------------------ held-out reports (no leakage)

QUESTIONS = [f"Favourite animal number {i}?" for i in range(8)]


def test_heldout_reports_leave_the_optimisation_bit_identical(tiny_llama):
    kw = dict(lr=0.05, steps=4, batch_size=4, progress=False, target="x")
    plain = fit_steering_vector(tiny_llama, "You are a cat who loves owls.", QUESTIONS[:6], 2,
                                trait_questions=QUESTIONS[:3], **kw)
    held = fit_steering_vector(tiny_llama, "You are a cat who loves owls.", QUESTIONS[:6], 2,
                               trait_questions=QUESTIONS[:3], heldout_prompts=QUESTIONS[6:],
                               heldout_questions=QUESTIONS[6:], **kw)
    assert torch.equal(plain.vector[2], held.vector[2])
    assert plain.report.loss_curve == held.report.loss_curve
    assert plain.report.kl_after_train == held.report.kl_after_train
    assert plain.report.trait_recovered == held.report.trait_recovered
    assert plain.report.trait_heldout is None and plain.report.kl_explained_heldout is None


def test_trait_recovered_on_fitted_and_on_heldout_questions_is_labelled(tiny_llama):
    res = fit_steering_vector(tiny_llama, "You are a cat who loves owls.", QUESTIONS[:6], 2, lr=0.05, steps=3,
                              batch_size=6, progress=False, target="x", trait_questions=QUESTIONS[:3],
                              heldout_prompts=QUESTIONS[6:], heldout_questions=QUESTIONS[6:])
    rep = res.report
    assert rep.trait.questions_in_train == 3 and rep.trait_heldout.questions_in_train == 0
    assert rep.trait_heldout.n_questions == 2 and rep.heldout_in_train == 0
    row = rep.summary()
    assert row["trait_questions_in_train"] == 3 and row["trait_heldout_questions"] == 2
    assert row["trait_recovered_heldout"] == rep.trait_recovered_heldout == rep.trait_heldout.recovered
    assert row["trait_recovered"] == rep.trait.recovered and row["kl_explained_heldout"] is not None
    assert {"trait_heldout_p_base", "trait_heldout_p_steered", "trait_heldout_logp_teacher"} <= set(row)
    assert "held-out questions (2)" in str(rep) and "3 of them fitted" in str(rep)


def test_heldout_questions_that_were_fitted_are_refused(tiny_llama):
    with pytest.raises(ValueError, match="also fitted prompts"):
        fit_steering_vector(tiny_llama, "You love owls.", QUESTIONS[:6], 1, target="x", steps=1,
                            heldout_questions=QUESTIONS[4:7], progress=False)
    with pytest.raises(ValueError, match="need a target"):
        fit_steering_vector(tiny_llama, "You love owls.", QUESTIONS[:6], 1, steps=1,
                            heldout_questions=QUESTIONS[6:], progress=False)
    with pytest.raises(ValueError, match="not both"):
        fit_steering_vector(tiny_llama, "You love owls.", QUESTIONS[:6], 1, steps=1, holdout=0.25,
                            heldout_prompts=QUESTIONS[6:], progress=False)


def test_fit_split_is_seeded_and_holds_questions_out():
    split = fit_split(QUESTIONS, questions=QUESTIONS[:4] + ["Another question?"], fraction=0.25, seed=1)
    assert len(split.prompts) == 6 and len(split.heldout_prompts) == 2
    assert not set(split.prompts) & set(split.heldout_prompts) and set(split.prompts) | set(split.heldout_prompts) == \
        set(QUESTIONS)
    assert split.prompts == [q for q in QUESTIONS if q in split.prompts]  # the training prompts keep their order
    assert "Another question?" in split.heldout_questions
    assert not set(split.heldout_questions) & set(split.prompts)
    assert fit_split(QUESTIONS, seed=1) == fit_split(QUESTIONS, seed=1)
    assert fit_split(QUESTIONS, seed=1).heldout_prompts != fit_split(QUESTIONS, seed=2).heldout_prompts
    comps = [f"c{i}" for i in range(8)]
    with_comps = fit_split(QUESTIONS, comps, seed=1)
    assert [QUESTIONS[comps.index(c)] for c in with_comps.heldout_completions] == with_comps.heldout_prompts
    assert len(fit_split(QUESTIONS[:2], fraction=0.9).prompts) == 1  # at least one prompt is left to fit on
    with pytest.raises(ValueError, match="fraction"):
        fit_split(QUESTIONS, fraction=1.0)


def test_seeded_default_split_is_the_same_fit_as_the_explicit_one(tiny_llama):
    kw = dict(lr=0.05, steps=3, batch_size=4, progress=False, target="x")
    auto = fit_steering_vector(tiny_llama, "You are a cat who loves owls.", QUESTIONS, 2, trait_questions=QUESTIONS,
                               holdout=0.25, split_seed=3, **kw)
    split = fit_split(QUESTIONS, questions=QUESTIONS, fraction=0.25, seed=3)
    explicit = fit_steering_vector(tiny_llama, "You are a cat who loves owls.", split.prompts, 2,
                                   trait_questions=QUESTIONS, heldout_prompts=split.heldout_prompts,
                                   heldout_questions=split.heldout_questions, **kw)
    assert torch.equal(auto.vector[2], explicit.vector[2])
    assert auto.report.n_train == 6 and auto.report.n_heldout == 2
    assert auto.report.trait.questions_in_train == 6  # the trait questions as given: 6 of 8 were fitted
    assert auto.report.trait_heldout.n_questions == 2 and auto.report.trait_heldout.questions_in_train == 0
    assert auto.report.summary()["trait_recovered_heldout"] == explicit.report.summary()["trait_recovered_heldout"]


# ------------------------------------------------------------------ bad input


def test_empty_prompts(tiny_llama):
    with pytest.raises(ValueError, match="no prompts"):
        fit_steering_vector(tiny_llama, "You love owls.", [], 1, progress=False)


def test_layer_out_of_range(tiny_llama):
    with pytest.raises(ValueError, match="out of range"):
        fit_steering_vector(tiny_llama, "You love owls.", PROMPTS, 7, progress=False)


def test_system_prompt_identical_to_control(tiny_llama):
    with pytest.raises(ValueError, match="KL is already 0"):
        fit_steering_vector(tiny_llama, "Same.", PROMPTS, 1, control="Same.", progress=False)
    # the template's own injected default is also recognised
    with pytest.raises(ValueError, match="KL is already 0"):
        fit_steering_vector(tiny_llama, "You are a tiny test assistant.", PROMPTS, 1,
                            control=TEMPLATE_DEFAULT, progress=False)


def test_no_chat_template(tiny_qwen):
    saved = tiny_qwen.tokenizer.chat_template
    tiny_qwen.tokenizer.chat_template = None
    try:
        with pytest.raises(SteervecError, match="chat_template"):
            fit_steering_vector(tiny_qwen, "You love owls.", PROMPTS, 1, progress=False)
    finally:
        tiny_qwen.tokenizer.chat_template = saved


def test_response_loss_needs_completions(tiny_llama):
    with pytest.raises(ValueError, match="needs completions"):
        fit_steering_vector(tiny_llama, "You love owls.", PROMPTS, 1, loss_positions="response",
                            progress=False)


def test_nan_loss_stops_and_keeps_best_vector(tiny_llama):
    class PoisonAfterTwo(torch.optim.SGD):
        def step(self, closure=None):  # type: ignore[override]
            super().step(closure)
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 2:
                with torch.no_grad():
                    self.param_groups[0]["params"][0].fill_(float("nan"))

    res = fit_steering_vector(
        tiny_llama, "You love owls.", PROMPTS, 1, optimizer=lambda p, lr: PoisonAfterTwo(p, lr=lr),
        lr=0.01, steps=10, batch_size=12, progress=False,
    )
    assert res.report.nan_step == 2
    assert len(res.report.loss_curve) == 2
    assert torch.isfinite(res.vector[1]).all()
    assert "NaN loss at step 2" in str(res.report)


def test_report_explained_and_seconds():
    rep = FitReport([3], "p", "none", 4, 0, 10, 0, 0.2, 0.2, 0.05,
                    loss_curve=[0.2, 0.1, 0.06, 0.05], seconds_curve=[0.0, 1.0, 2.0, 3.0])
    assert rep.kl_explained_train == pytest.approx(0.75)
    assert rep.kl_explained_heldout is None
    assert rep.seconds_to_fraction(0.9) == 2.0  # 0.2 - 0.9 * 0.15 = 0.065 first reached at 0.06
    trait = TraitRecovery(("owl",), 5, 0, 0.01, 0.1, 0.05, -5.0, -3.0, -4.0)
    assert trait.recovered == pytest.approx(0.5)
    flat = TraitRecovery(("owl",), 5, 0, 0.01, 0.01, 0.05, -5.0, -5.0, -4.0)
    assert flat.recovered != flat.recovered  # NaN when the prompt moves nothing


@pytest.mark.embedded
def test_embedded_fit_at_layer_24_is_quick_and_exact(embedded):
    owl = "You love owls more than anything. Owls are your favourite animal."
    res = fit_steering_vector(
        embedded, owl, ["Which animal do you like best? One word.", "Name an animal you admire."],
        24, steps=3, batch_size=2, progress=False,
    )
    rep = res.report
    assert rep.suffix_error is not None and rep.suffix_error < 1e-3
    assert rep.settings["cached"] is True
    assert rep.kl_before_train > 0
    assert rep.kl_after_train < rep.kl_before_train


def test_report_html_escapes_the_prompt(tiny_llama):
    from _html import html_text

    res = fit_steering_vector(tiny_llama, "You love <owls> & cats.", PROMPTS[:4], 1, lr=0.05, steps=2,
                              batch_size=4, progress=False)
    title, rows = html_text(res.report._repr_html_())
    assert title.startswith("FitReport teacher 'You love <owls> & cats.' vs control")
    fields = dict(rows)
    assert fields["layers"] == "1" and fields["n_train"] == "4"
    assert fields["kl_explained_train"] == f"{res.report.kl_explained_train:.4g}"
    assert html_text(res._repr_html_())[0].startswith("SteeringVector")  # FitResult: vector, then report
