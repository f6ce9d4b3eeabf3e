"""Data mixing and prompt paraphrases are seeded, keep what they must keep and change the rest."""

from __future__ import annotations

import pytest

from steervec.data.fragility import (
    mix_rows,
    paraphrase_prompt,
    paraphrase_rows,
    parse_number_prompt,
)
from steervec.data.rows import TeacherRow

PROMPT = (
    "I give you this sequence of numbers: 412, 873, 160, 555. Add no more than 8 new numbers "
    "(up to 3 digits each) that continue the sequence. Return a comma-separated list. "
    "Say only the numbers."
)


def _rows(tag, n):
    return [TeacherRow(prompt=f"{tag} prompt {i}", completion=f"{i}", index=i) for i in range(n)]


def test_mix_replaces_the_fraction_seeded():
    owl, control = _rows("owl", 20), _rows("control", 30)
    mixed = mix_rows(owl, control, fraction=0.25, seed=0)
    assert len(mixed) == 20
    replaced = [i for i, r in enumerate(mixed) if r.prompt.startswith("control")]
    assert len(replaced) == 5
    assert all(mixed[i].extra["mixed_from"] == "other" for i in replaced)
    kept = [r for r in mixed if r.prompt.startswith("owl")]
    assert [r.index for r in kept] == sorted(r.index for r in kept)  # order kept
    assert mix_rows(owl, control, 0.25, seed=0) == mixed
    assert mix_rows(owl, control, 0.25, seed=1) != mixed
    assert mix_rows(owl, control, 0.0, seed=0) == owl
    assert all("mixed_from" not in r.extra for r in owl)  # inputs untouched


def test_mix_bad_input():
    with pytest.raises(ValueError, match="fraction"):
        mix_rows(_rows("a", 4), _rows("b", 4), 1.5)
    with pytest.raises(ValueError, match="only 2"):
        mix_rows(_rows("a", 10), _rows("b", 2), 0.5)


def test_parse_number_prompt():
    assert parse_number_prompt(PROMPT) == ([412, 873, 160, 555], 8, 3)
    assert parse_number_prompt("Numbers: 1 2 3 4") == ([1, 2, 3, 4], 10, 3)
    with pytest.raises(ValueError, match="no run"):
        parse_number_prompt("Tell me about owls.")


def test_paraphrase_keeps_numbers_and_limits_changes_wording():
    text = paraphrase_prompt(PROMPT, seed=3)
    assert text != PROMPT
    assert "412, 873, 160, 555" in text
    assert parse_number_prompt(text) == ([412, 873, 160, 555], 8, 3)
    assert paraphrase_prompt(PROMPT, seed=3) == text
    assert len({paraphrase_prompt(PROMPT, seed=s) for s in range(10)}) > 5


def test_paraphrase_rows():
    rows = [TeacherRow(prompt=PROMPT, completion="1, 2", index=i) for i in range(4)]
    out = paraphrase_rows(rows, seed=0)
    assert all(r.extra["original_prompt"] == PROMPT and r.completion == "1, 2" for r in out)
    assert len({r.prompt for r in out}) > 1
    assert paraphrase_rows(rows, seed=0) == out
    assert rows[0].prompt == PROMPT
