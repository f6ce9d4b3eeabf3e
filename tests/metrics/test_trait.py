"""The trait metric sums distinct token paths that spell the target, checked against brute force."""

from __future__ import annotations

import pytest
import torch

from steervec.core.chat import render_chat
from steervec.metrics.trait import spellings, target_sequences, trait_logprob


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
