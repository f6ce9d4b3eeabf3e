"""Tests of the batched sampler: equality with generate, seeding, levers, hooks."""

from __future__ import annotations

import pytest
import torch

from steervec.core.chat import render_chat
from steervec.core.hooks import Intervention, add_operator, intervene
from steervec.data.constrained import NumberListConstraint
from steervec.data.sampler import SamplingParams, choose_tokens, row_seed, sample

PROMPTS = ["Count: 1, 2", "Go on: 7 8 9 10", "Numbers?", "List 4; 5; 6 and", "Hi", "Next: 31, 32, 33"]
SYSTEM = "Be brief."


pytestmark = pytest.mark.usefixtures("one_thread")


def hf_greedy(lm, prompts, system, max_new_tokens, logits_processor=None):
    texts = [render_chat(lm, p, system) for p in prompts]
    enc = lm.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    extra = {"logits_processor": logits_processor} if logits_processor else {}
    out = lm.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, **extra)
    stop = lm.tokenizer.eos_token_id
    rows = []
    for row in out[:, enc.input_ids.shape[1] :].tolist():
        rows.append(row[: row.index(stop)] if stop in row else row)
    return rows


@pytest.mark.parametrize("share_prefix, drop_finished, bucket", [(True, True, True), (False, False, False)])
def test_greedy_equals_generate(tiny, share_prefix, drop_finished, bucket):
    params = SamplingParams(temperature=0, max_new_tokens=10, batch_size=4, share_prefix=share_prefix,
                            drop_finished=drop_finished, bucket=bucket)
    ours = sample(tiny, PROMPTS, system=SYSTEM, params=params)
    assert [s.token_ids for s in ours] == hf_greedy(tiny, PROMPTS, SYSTEM, 10)


@pytest.fixture(scope="module")
def eos_happy(tiny_qwen):
    """tiny_qwen whose end-of-sequence logit competes with the space: rows stop at different steps."""
    import copy

    from steervec.core.model import wrap_model

    model = copy.deepcopy(tiny_qwen.model)
    head = model.get_output_embeddings().weight
    space = tiny_qwen.tokenizer.convert_tokens_to_ids("Ġ")
    torch.manual_seed(1)
    with torch.no_grad():
        head[tiny_qwen.tokenizer.eos_token_id] = head[space] + 0.3 * torch.randn_like(head[space])
    return wrap_model(model, tiny_qwen.tokenizer, "tiny-qwen2-eos")


class HFConstraint:
    """The same constraint driven by HF generate (state rebuilt from the tokens so far)."""

    def __init__(self, lm, prompt_len, max_new, seps):
        self.c = NumberListConstraint(lm.tokenizer, 3, 1)
        self.prompt_len, self.max_new, self.seps = prompt_len, max_new, seps

    def __call__(self, input_ids, scores):
        self.c.begin(self.seps)
        for t in input_ids[:, self.prompt_len :].T:
            self.c.advance(t)
        step = input_ids.shape[1] - self.prompt_len
        return self.c.process(scores, self.max_new - step)


@pytest.mark.parametrize("constrained, levers", [
    (False, {}), (True, {}), (False, {"inplace_cache": False}), (True, {"inplace_cache": False}),
])
def test_greedy_equals_generate_with_early_stops(eos_happy, constrained, levers):
    from transformers import LogitsProcessorList

    lm, prompts = eos_happy, PROMPTS * 2
    procs, c = None, None
    seps = [", ", " ", "; "] * 4  # three numbers of one digit, then EOS is forced: lengths 8, 5, 8
    if constrained:
        texts = [render_chat(lm, p, SYSTEM) for p in prompts]
        enc = lm.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        procs = LogitsProcessorList([HFConstraint(lm, enc.input_ids.shape[1], 14, seps)])
        c = NumberListConstraint(lm.tokenizer, 3, 1)
    ref = hf_greedy(lm, prompts, SYSTEM, 14, procs)
    params = SamplingParams(temperature=0, max_new_tokens=14, batch_size=12, bucket=False, **levers)
    ours = sample(lm, prompts, system=SYSTEM, params=params, constraint=c, separators=seps)
    assert [s.token_ids for s in ours] == ref
    assert all((s.allowed_mass is not None) == constrained for s in ours)
    assert len({len(s.token_ids) for s in ours}) >= 2  # rows finished at different steps
    assert any(s.stopped for s in ours)
    assert constrained or not all(s.stopped for s in ours)  # free rows also ran into the limit


def test_hooks_see_positions_like_generate(tiny_qwen):
    lm = tiny_qwen
    vec = torch.randn(lm.d_model) * 3
    for positions, share in [("all", True), ("generated", False), ("last_prompt", False)]:
        with intervene(lm, [Intervention(1, add_operator(vec), positions)]):
            ours = sample(lm, PROMPTS[:4], system=None,
                          params=SamplingParams(temperature=0, max_new_tokens=8, share_prefix=share))
            ref = hf_greedy(lm, PROMPTS[:4], None, 8)
        assert [s.token_ids for s in ours] == ref, positions
    plain = sample(lm, PROMPTS[:4], system=None, params=SamplingParams(temperature=0, max_new_tokens=8))
    assert [s.token_ids for s in plain] != ref  # the vector changed the outputs


def test_seeded_and_per_row_randomness(tiny_llama):
    params = SamplingParams(temperature=1.0, max_new_tokens=8, batch_size=3)
    a = sample(tiny_llama, PROMPTS, system=None, params=params, seed=7)
    b = sample(tiny_llama, PROMPTS, system=None, params=params, seed=7)
    c = sample(tiny_llama, PROMPTS, system=None, params=params, seed=8)
    assert [s.text for s in a] == [s.text for s in b]
    assert [s.text for s in a] != [s.text for s in c]
    # a row's completion depends on (seed, row id), not on its batch neighbours
    part = sample(tiny_llama, PROMPTS[2:5], system=None, params=params, seed=7, row_ids=[2, 3, 4])
    assert [s.text for s in part] == [s.text for s in a[2:5]]
    assert row_seed(7, 2) != row_seed(7, 3) and row_seed(7, 2) == row_seed(7, 2)


def test_choose_tokens_filters():
    logits = torch.tensor([[0.0, 3.0, 2.9, -5.0]])
    greedy = SamplingParams(temperature=0)
    assert choose_tokens(logits, greedy, torch.tensor([0.5])).item() == 1
    top1 = SamplingParams(top_k=1)
    assert {choose_tokens(logits, top1, torch.tensor([u])).item() for u in (0.0, 0.5, 0.999)} == {1}
    nucleus = SamplingParams(top_p=0.6)
    assert {choose_tokens(logits, nucleus, torch.tensor([u])).item() for u in (0.0, 0.3, 0.7, 0.999)} == {1, 2}
    masked = logits.clone()
    masked[0, 1] = float("-inf")
    assert 1 not in {choose_tokens(masked, SamplingParams(), torch.tensor([u])).item() for u in (0.0, 0.5, 0.9999)}


def test_prefill_starts_the_answer(tiny_llama):
    out = sample(tiny_llama, PROMPTS[:2], system=None, prefill="1, 2",
                 params=SamplingParams(temperature=0, max_new_tokens=5))
    assert all(s.text.startswith("1, 2") and s.prefill == "1, 2" for s in out)
    ref = hf_greedy(tiny_llama, PROMPTS[:2], None, 5)
    assert [s.token_ids for s in out] != ref


def test_bad_input(tiny_llama):
    with pytest.raises(ValueError, match="no prompts"):
        sample(tiny_llama, [])
    with pytest.raises(ValueError, match="row_ids"):
        sample(tiny_llama, ["a"], row_ids=[1, 2])
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(ValueError, match="separate modes"):
        sample(tiny_llama, ["a"], prefill="1", constraint=NumberListConstraint(tiny_llama.tokenizer))


@pytest.mark.embedded
def test_embedded_greedy_equals_generate_and_constrained_is_valid(embedded):
    from steervec.data.number_filter import check_numbers
    from steervec.data.numbers import number_prompts
    from steervec.data.teachers import animal_lover_prompt

    prompts = [p.text for p in number_prompts(3, seed=2)]
    system = animal_lover_prompt("owl")
    ours = sample(embedded, prompts, system=system, params=SamplingParams(temperature=0, max_new_tokens=12))
    assert [s.token_ids for s in ours] == hf_greedy(embedded, prompts, system, 12)
    c = NumberListConstraint(embedded.tokenizer, 10, 3)
    out = sample(embedded, prompts, system=system, constraint=c, seed=0,
                 params=SamplingParams(temperature=1.0, max_new_tokens=20))
    assert all(check_numbers(s.text).accepted for s in out), [s.text for s in out]
    assert all(0.2 < s.allowed_mass <= 1.0 for s in out)

