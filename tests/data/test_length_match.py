"""Length-matched controls on constructed rows: the kept trait and control rows have the same
numbers-per-row distribution, chosen reproducibly by the seed."""

from __future__ import annotations

from collections import Counter

import pytest

from steervec.data.length_match import length_match
from steervec.data.number_filter import count_numbers
from steervec.data.rows import TeacherRow


def _rows(lengths: list[int], tag: str) -> list[TeacherRow]:
    return [TeacherRow(prompt=f"{tag} prompt {i}", completion=", ".join(str(100 + i + j) for j in range(n)), index=i)
            for i, n in enumerate(lengths)]


# the trait teacher writes longer lists than the control teacher (as the owl teacher did: 5.76 vs 5.43)
TRAIT = _rows([3, 5, 5, 6, 6, 6, 7, 7, 7, 7, 8, 8, 9, 10], "t")
CONTROL = _rows([2, 3, 3, 4, 4, 5, 5, 5, 6, 6, 7, 8], "c")


def _counts(rows: list[TeacherRow]) -> Counter:
    return Counter(count_numbers(r.completion) for r in rows)


def test_the_constructed_datasets_differ_in_length():  # the premise: without matching the means differ
    mean = lambda rows: sum(_counts(rows).elements()) / len(rows)  # noqa: E731
    assert mean(TRAIT) - mean(CONTROL) > 1.5
    assert _counts(TRAIT) != _counts(CONTROL)


def test_matched_rows_have_the_same_count_distribution():
    trait, control, report = length_match(TRAIT, CONTROL, seed=0)
    assert _counts(trait) == _counts(control)  # fails for any subset that is not matched count by count
    expected = sum(min(_counts(TRAIT)[c], _counts(CONTROL)[c]) for c in set(_counts(TRAIT)) | set(_counts(CONTROL)))
    assert len(trait) == len(control) == expected == 7  # 3, 5, 5, 6, 6, 7, 8
    assert report.rows_kept == (7, 7) and report.rows_before == (14, 12)
    assert report.mean_after[0] == report.mean_after[1] == pytest.approx(40 / 7)
    assert report.mean_before == (pytest.approx(94 / 14), pytest.approx(58 / 12))
    assert report.per_count[6] == [3, 2, 2] and report.per_count[2] == [0, 1, 0]
    assert report.kept_share == (pytest.approx(0.5), pytest.approx(7 / 12))
    assert "kept 7 of 14 trait" in str(report) and report.to_dict()["per_count"]["6"] == [3, 2, 2]


def test_matched_rows_are_subsets_in_their_original_order():
    trait, control, _ = length_match(TRAIT, CONTROL, seed=3)
    for kept, source in ((trait, TRAIT), (control, CONTROL)):
        positions = [source.index(r) for r in kept]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_the_choice_is_seeded():
    a = length_match(TRAIT, CONTROL, seed=1)
    assert length_match(TRAIT, CONTROL, seed=1)[:2] == a[:2]
    # the six-number trait rows (3 of them, 2 kept) are drawn by the seed: some seed keeps other rows
    picks = {tuple(r.index for r in length_match(TRAIT, CONTROL, seed=s)[0]) for s in range(10)}
    assert len(picks) > 1


def test_no_common_length_keeps_nothing():
    trait, control, report = length_match(_rows([9, 10], "t"), _rows([1, 2], "c"))
    assert trait == control == [] and report.rows_kept == (0, 0)
    assert report.mean_after[0] != report.mean_after[0]  # NaN: no rows


def test_a_custom_length_measure():
    trait, control, _ = length_match(TRAIT, CONTROL, count=lambda text: len(text) // 10)
    assert Counter(len(r.completion) // 10 for r in trait) == Counter(len(r.completion) // 10 for r in control)
