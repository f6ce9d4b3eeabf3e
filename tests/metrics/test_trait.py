"""The trait metric sums distinct token paths that spell the target, checked against brute force."""

from __future__ import annotations

import contextlib

import pytest
import torch

from steervec.core.chat import render_chat
from steervec.data.prompts import ANIMAL_PANEL
from steervec.data.questions import ANIMAL_PREFILL
from steervec.metrics.trait import (
    panel_forms,
    panel_log_odds,
    spellings,
    target_sequences,
    trait_logprob,
)

QUESTIONS = ["Which animal?", "Name one animal, please."]
# a small panel keeps the byte-level tiny tokenizer's continuations few; the rule is the same for 20
PANEL = {a: ANIMAL_PANEL[a] for a in ("dog", "cat", "horse", "bear", "frog")}


def test_spellings_cover_case_plural_and_space():
    forms = spellings("owl")
    for f in ("owl", "Owl", "OWL", "owls", "Owls", " owl", " Owls"):
        assert f in forms


def test_sequences_are_prefix_free(tiny_llama):
    seqs = target_sequences(tiny_llama.tokenizer, ["owl"])
    for a in seqs:
        for b in seqs:
            assert a == b or b[: len(a)] != a


def test_matches_brute_force(tiny_llama):
    questions = ["Which animal?", "Name one animal, please."]
    got = trait_logprob(tiny_llama, questions, "owl", system=None, prefill="It is")
    seqs = target_sequences(tiny_llama.tokenizer, ["owl"])
    for i, q in enumerate(questions):
        prompt = tiny_llama.tokenizer(render_chat(tiny_llama, q, None) + "It is", add_special_tokens=False)["input_ids"]
        total = []
        for seq in seqs:
            ids = torch.tensor([prompt + list(seq)])
            with torch.no_grad():
                lp = torch.log_softmax(tiny_llama.model(ids).logits[0].float(), -1)
            total.append(sum(lp[len(prompt) - 1 + k, t] for k, t in enumerate(seq)))
        assert got.logp[i] == pytest.approx(float(torch.logsumexp(torch.stack(total), 0)), abs=1e-4)


def test_bad_input(tiny_llama):
    with pytest.raises(ValueError, match="no questions"):
        trait_logprob(tiny_llama, [], "owl")
    with pytest.raises(ValueError, match="no target"):
        trait_logprob(tiny_llama, ["q"], "  ")


def _first_tokens(tok, words) -> set[int]:
    return {tok(f, add_special_tokens=False)["input_ids"][0] for w in words
            for f in panel_forms(ANIMAL_PANEL.get(w, (w, w + "s")))}


@contextlib.contextmanager
def _answer_bias(lm, token_ids: set[int], amount: float):
    """Add ``amount`` to the logits of ``token_ids`` at the answer position only (the first forward
    over the whole prompt; the short continuations that spell the rest of a word are left alone)."""
    bias = torch.zeros(len(lm.tokenizer))
    bias[sorted(token_ids)] = amount

    def hook(module, args, output):
        if output.shape[1] > 12:  # the prompt, not a continuation of at most a few tokens
            output = output.clone()
            output[:, -1] += bias
        return output

    handle = lm.model.lm_head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def test_panel_log_odds_ignore_a_rise_of_every_animal(tiny_llama):
    before = panel_log_odds(tiny_llama, QUESTIONS, "owl", PANEL, system=None)
    assert before.log_odds.shape == (2,) and before.panel == tuple(PANEL)
    every_animal = _first_tokens(tiny_llama.tokenizer, ["owl", *PANEL])
    with _answer_bias(tiny_llama, every_animal, 3.0):
        after = panel_log_odds(tiny_llama, QUESTIONS, "owl", PANEL, system=None)
    assert (after.target_logp - before.target_logp).min() > 0.5  # the target did rise …
    assert torch.allclose(after.log_odds, before.log_odds, atol=1e-4)  # … but no more than the panel


def test_panel_log_odds_move_when_only_the_target_rises(tiny_llama):
    tok = tiny_llama.tokenizer
    only_owl = {tok(f, add_special_tokens=False)["input_ids"][0] for f in ("owl", "Owl")}
    assert not only_owl & _first_tokens(tok, list(PANEL))  # no panel animal starts with o/O
    before = panel_log_odds(tiny_llama, QUESTIONS, "owl", PANEL, system=None, prefill=ANIMAL_PREFILL)
    with _answer_bias(tiny_llama, only_owl, 3.0):
        after = panel_log_odds(tiny_llama, QUESTIONS, "owl", PANEL, system=None, prefill=ANIMAL_PREFILL)
    moved = after.log_odds - before.log_odds
    assert moved.min() > 0.5 and torch.allclose(moved, after.target_logp - before.target_logp - (
        after.panel_logp - before.panel_logp))


def test_panel_leaves_the_target_out_and_explains_bad_input(tiny_llama):
    cat = panel_log_odds(tiny_llama, QUESTIONS[:1], "Cat", PANEL, system=None)
    assert cat.panel == ("dog", "horse", "bear", "frog")
    with pytest.raises(ValueError, match="no target"):
        panel_log_odds(tiny_llama, QUESTIONS, " ")
    with pytest.raises(ValueError, match="besides the target"):
        panel_log_odds(tiny_llama, QUESTIONS, "cat", panel={"cat": ("cat", "cats")})
