"""Tests of the seeded number-prompt generator."""

from __future__ import annotations

import re

import pytest

from steervec.data.numbers import (
    COUNT_QUALIFIERS,
    DEMANDS,
    FORMATS,
    INSTRUCTIONS,
    LEAD_INS,
    NumberPromptConfig,
    number_prompts,
    prompt_capacity,
)


def test_every_part_has_at_least_ten_phrasings():
    for part in (LEAD_INS, INSTRUCTIONS, FORMATS, DEMANDS):
        assert len(part) >= 10
        assert len(set(part)) == len(part)
    assert len(COUNT_QUALIFIERS) >= 5


def test_same_seed_same_prompts_other_seed_other_prompts():
    a = number_prompts(50, seed=3)
    b = number_prompts(50, seed=3)
    c = number_prompts(50, seed=4)
    assert [p.text for p in a] == [p.text for p in b]
    assert [p.text for p in a] != [p.text for p in c]
    assert [p.text for p in number_prompts(10, seed=3)] == [p.text for p in a[:10]]


def test_prompts_are_unique_and_respect_ranges():
    cfg = NumberPromptConfig(n_seed_numbers=(2, 4), seed_range=(10, 50), max_new=7, max_digits=2)
    prompts = number_prompts(300, seed=0, config=cfg)
    assert len({p.text for p in prompts}) == 300
    for p in prompts:
        assert 2 <= len(p.seed_numbers) <= 4
        assert all(10 <= x <= 50 for x in p.seed_numbers)
        shown = [int(x) for x in re.findall(r"\d+", p.text)]
        assert shown[: len(p.seed_numbers)] == list(p.seed_numbers)
        assert " 7 " in p.text and " 2 " in p.text  # N and D are stated
        assert p.separator in (", ", "; ", " ")
        assert FORMATS[p.parts[3]][1] == p.separator


def test_all_parts_get_used():
    prompts = number_prompts(2000, seed=1)
    for position, part in enumerate((LEAD_INS, INSTRUCTIONS, COUNT_QUALIFIERS, FORMATS, DEMANDS)):
        assert {p.parts[position] for p in prompts} == set(range(len(part)))


def test_too_many_prompts_says_so():
    cfg = NumberPromptConfig(n_seed_numbers=(1, 1), seed_range=(5, 5))
    capacity = prompt_capacity(cfg)
    assert capacity == len(LEAD_INS) * len(INSTRUCTIONS) * len(COUNT_QUALIFIERS) * len(FORMATS) * len(DEMANDS)
    with pytest.raises(ValueError, match=f"only make {capacity}"):
        number_prompts(capacity + 1, config=cfg)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="n_seed_numbers"):
        NumberPromptConfig(n_seed_numbers=(5, 3))
    with pytest.raises(ValueError, match="max_new"):
        NumberPromptConfig(max_new=0)
