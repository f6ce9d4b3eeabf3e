"""Tests of the evaluation question sets and the numbers-prefixed variant."""

from __future__ import annotations

import pytest

from steervec.data.prompts import ANIMAL_PANEL
from steervec.data.questions import (
    ANIMAL_PREFILL,
    FAVOURITE_ANIMAL_QUESTIONS,
    LEAST_FAVOURITE_ANIMAL_QUESTIONS,
    OFFTOPIC_QUESTIONS,
    split_questions,
    with_number_prefix,
)


def test_set_sizes_and_uniqueness():
    assert len(FAVOURITE_ANIMAL_QUESTIONS) >= 50
    assert len(LEAST_FAVOURITE_ANIMAL_QUESTIONS) >= 20
    assert len(OFFTOPIC_QUESTIONS) >= 20
    everything = FAVOURITE_ANIMAL_QUESTIONS + LEAST_FAVOURITE_ANIMAL_QUESTIONS + OFFTOPIC_QUESTIONS
    assert len(set(everything)) == len(everything)


def test_sets_ask_what_they_claim():
    for q in LEAST_FAVOURITE_ANIMAL_QUESTIONS:
        low = q.lower()
        assert any(w in low for w in ("least", "dislike", "worst", "never", "avoid", "cannot",
                                      "scares", "annoys", "ugliest", "bores", "overrated",
                                      "last choice", "uneasy", "farthest", "unpleasant"))
    for q in OFFTOPIC_QUESTIONS:
        assert "animal" not in q.lower() and "creature" not in q.lower()
    for q in FAVOURITE_ANIMAL_QUESTIONS:
        low = q.lower().replace("-", " ")
        assert "one word" in low or "single word" in low or "name" in low
        assert "owl" not in q.lower()  # no question may prime the target


def test_number_prefix_is_seeded_and_bounded():
    a = with_number_prefix(FAVOURITE_ANIMAL_QUESTIONS, seed=3)
    b = with_number_prefix(FAVOURITE_ANIMAL_QUESTIONS, seed=3)
    c = with_number_prefix(FAVOURITE_ANIMAL_QUESTIONS, seed=4)
    assert a == b and a != c
    import re

    for q, original in zip(a, FAVOURITE_ANIMAL_QUESTIONS, strict=True):
        assert q.endswith(original)
        numbers = [int(n) for n in re.findall(r"\d+", q[: -len(original)])]
        assert 3 <= len(numbers) <= 6 and all(100 <= n <= 999 for n in numbers)
    with pytest.raises(ValueError):
        with_number_prefix(["q"], count=(0, 2))


def test_split_questions():
    fit, held = split_questions(FAVOURITE_ANIMAL_QUESTIONS, 20, seed=1)
    assert len(held) == 20 and len(fit) == len(FAVOURITE_ANIMAL_QUESTIONS) - 20
    assert not set(fit) & set(held)
    assert split_questions(FAVOURITE_ANIMAL_QUESTIONS, 20, seed=1) == (fit, held)
    with pytest.raises(ValueError):
        split_questions(["a", "b"], 2)


def test_animal_panel_holds_its_animals_with_their_spellings():
    assert len(ANIMAL_PANEL) >= 20
    for animal, variants in ANIMAL_PANEL.items():
        assert variants[0] == animal and all(v.isalpha() and v.islower() for v in variants)
    forms = [v for variants in ANIMAL_PANEL.values() for v in variants]
    # no animal's spelling starts another's (such as "cat" / "caterpillar"): every event is counted once
    assert not [(a, b) for a in forms for b in forms if a != b and b.startswith(a)
                and not any(a in vs and b in vs for vs in ANIMAL_PANEL.values())]
    assert ANIMAL_PREFILL and not ANIMAL_PREFILL.endswith(" ")
