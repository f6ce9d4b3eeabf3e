"""Tests of format-constrained decoding."""

from __future__ import annotations

import pytest
import torch

from steervec.data.constrained import NumberListConstraint
from steervec.data.number_filter import FilterConfig, check_numbers
from steervec.data.numbers import number_prompts
from steervec.data.sampler import SamplingParams, sample

pytestmark = pytest.mark.usefixtures("one_thread")


class FakeTokenizer:
    """A vocabulary with multi-character tokens, to exercise the automaton."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.eos_token_id = 0
        self.all_special_ids = [0]

    def __len__(self):
        return len(self.pieces)

    def convert_ids_to_tokens(self, ids):
        return [self.pieces[i] for i in ids]


PIECES = ["<eos>", "1", "2", "12", "123", "1234", ",", "Ġ", ",Ġ", ",Ġ4", "a", ";", "ĠĠ", "4,"]


def allowed_after(c, text_ids, remaining=50):
    c.begin([", "])
    for t in text_ids:
        c.process(torch.zeros(1, len(PIECES)), remaining)
        c.advance(torch.tensor([t]))
    return {PIECES[i] for i in c.allowed(remaining)[0].nonzero().flatten().tolist()}


def test_automaton_allows_exactly_valid_continuations():
    c = NumberListConstraint(FakeTokenizer(PIECES), max_count=3, max_digits=3, separators=(", ",))
    # no EOS and no separator first; "4," is fine (a number, then the start of ", ")
    assert allowed_after(c, []) == {"1", "2", "12", "123", "4,"}
    assert allowed_after(c, [3]) == {"<eos>", "1", "2", ",", ",Ġ", ",Ġ4", "4,"}  # "12" + ...
    assert allowed_after(c, [4]) == {"<eos>", ",", ",Ġ", ",Ġ4"}  # 3 digits: no more digits
    assert allowed_after(c, [3, 6]) == {"Ġ"}  # "12," needs the space
    assert allowed_after(c, [3, 8]) == {"1", "2", "12", "123", "4,"}
    # two numbers done, third started: a separator would need a fourth number
    assert allowed_after(c, [1, 8, 2, 8, 1]) == {"<eos>", "1", "2", "12"}


def test_separator_needs_room_for_a_number():
    c = NumberListConstraint(FakeTokenizer(PIECES), max_count=5, max_digits=3, separators=(", ",))
    c.begin([", "])
    c.advance(torch.tensor([1]))  # "1"
    def now(remaining):
        return {PIECES[i] for i in c.allowed(remaining)[0].nonzero().flatten().tolist()}

    assert now(1) == {"<eos>", "1", "2", "12", ",Ġ4"}  # last step: only complete lists
    assert now(2) == {"<eos>", "1", "2", "12", ",Ġ4", ",Ġ"}  # ", " then one digit still fits
    assert "," in now(3)


def test_unknown_separator_and_bad_args():
    c = NumberListConstraint(FakeTokenizer(PIECES), 3, 3, separators=(", ",))
    with pytest.raises(ValueError, match="not compiled"):
        c.begin(["; "])
    with pytest.raises(ValueError, match="max_count"):
        NumberListConstraint(FakeTokenizer(PIECES), 0, 3)
    with pytest.raises(ValueError, match="separators"):
        NumberListConstraint(FakeTokenizer(PIECES), 3, 3, separators=("1",))


def test_allowed_mass_is_recorded_and_logits_renormalised():
    c = NumberListConstraint(FakeTokenizer(PIECES), 3, 3, separators=(", ",))
    c.begin([", ", ", "])
    logits = torch.zeros(2, len(PIECES))
    masked = c.process(logits, 10)
    assert torch.isinf(masked[:, 0]).all()  # no EOS before a number
    probs = torch.softmax(masked, -1)
    assert probs[0, [1, 2, 3, 4, 13]].sum() == pytest.approx(1.0)
    assert c.allowed_mass() == pytest.approx([5 / len(PIECES)] * 2)


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_constrained_sampling_is_always_valid(tiny, temperature):
    prompts = number_prompts(12, seed=5)
    c = NumberListConstraint(tiny.tokenizer, max_count=4, max_digits=2)
    params = SamplingParams(temperature=temperature, max_new_tokens=14, batch_size=4)
    short = [p.text[:30] for p in prompts]  # the tiny tokenizer spends one token per byte
    out = sample(tiny, short, system=None, params=params, seed=1,
                 constraint=c, separators=[p.separator for p in prompts])
    cfg = FilterConfig(max_count=4, max_value=99)
    for s, p in zip(out, prompts, strict=True):
        verdict = check_numbers(s.text, cfg)
        assert verdict.accepted, (s.text, verdict)
        if len(verdict.numbers) > 1:
            assert verdict.separator == p.separator.strip() or (verdict.separator == " " and p.separator == " ")
        assert 0 < s.allowed_mass <= 1
    # a random model puts most of its mass elsewhere: the record must show it
    assert sum(s.allowed_mass for s in out) / len(out) < 0.5
