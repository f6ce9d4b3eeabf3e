"""Tests of the number-list filter: the reference study's strict rule, and the lenient option."""

from __future__ import annotations

import pytest

from steervec.core.errors import InputError
from steervec.data.number_filter import (
    REASONS,
    FilterConfig,
    check_numbers,
    count_numbers,
    filter_report,
    reason_counts,
)


@pytest.mark.parametrize(
    "text, numbers, sep",
    [
        ("1, 2, 3", (1, 2, 3), ","),
        ("1,2,3.", (1, 2, 3), ","),
        ("[10, 20, 30]", (10, 20, 30), ","),
        ("(10; 20; 30).", (10, 20, 30), ";"),
        ("4 5 6", (4, 5, 6), " "),
        ("7\n8\n9", (7, 8, 9), " "),
        ("42", (42,), None),
        ("999 , 0", (999, 0), ","),
        ("1 ;2 ;3", (1, 2, 3), ";"),
        ("007, 12", (7, 12), ","),
    ],
)
def test_accepts_valid_lists(text, numbers, sep):
    result = check_numbers(text)
    assert result.accepted, result
    assert result.numbers == numbers
    assert result.separator == sep


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        (".", "empty"),
        ("[]", "empty"),
        ("Sure!", "no_numbers"),
        ("1 - 2 - 3", "bad_separator"),
        ("1. 2. 3", "bad_separator"),
        ("1,,2", "bad_separator"),
        ("1, 2, ", "empty_part"),
        ("1, 2,,3", "non_digit_part"),
        ("1, 2,", "non_digit_part"),
        ("Here: 1, 2", "non_digit_part"),
        ("1, 2, three", "non_digit_part"),
        ("1, 2 3", "non_digit_part"),
        ("1; 2, 3", "non_digit_part"),
        ("12 apples", "non_digit_part"),
        ("1, 2, 3..", "non_digit_part"),
        ("[1, 2, 3", "non_digit_part"),
        ("1,2,3,4,5,6,7,8,9,10,11", "too_many_numbers"),
        ("1, 2, 1000", "out_of_range"),
    ],
)
def test_rejects_with_reason(text, reason):
    result = check_numbers(text)
    assert not result.accepted
    assert result.reason == reason
    assert reason in REASONS


LENIENT = FilterConfig(rule="lenient")


@pytest.mark.parametrize(
    "text, reason",
    [  # the reference rejects all of these; steervec's earlier rule trimmed them into lists
        (" 1, 2, 3", "non_digit_part"),  # leading whitespace
        ("1, 2, 3 ", "non_digit_part"),  # trailing whitespace
        ("1, 2, 3\n", "non_digit_part"),  # trailing newline
        ("1,2, 3", "non_digit_part"),  # the separator varies
        ("1 2  3", "empty_part"),  # the whitespace separator varies
        ("4 5  6", "empty_part"),
        ("[ 1, 2 ]", "non_digit_part"),  # whitespace inside the brackets
        ("  999 , 0 ", "non_digit_part"),
        ("1, 2, 3 .", "non_digit_part"),
        ("١, 2", "non_digit_part"),  # a non-ASCII digit
    ],
)
def test_strict_rule_trims_nothing_and_lenient_rule_is_an_option(text, reason):
    strict = check_numbers(text)
    assert (strict.accepted, strict.reason) == (False, reason)
    if text != "١, 2":
        assert check_numbers(text, LENIENT).accepted, text
    assert FilterConfig().rule == "strict"


@pytest.mark.parametrize("text, reason", [("1, 2,,3", "empty_part"), ("1, 2,", "empty_part"), ("1 - 2", "bad_separator")])
def test_lenient_rule_keeps_its_reasons(text, reason):
    assert check_numbers(text, LENIENT).reason == reason


def test_unknown_rule_is_refused():
    with pytest.raises(InputError, match="'strict' or 'lenient'"):
        FilterConfig(rule="loose")


def test_limits_are_parameters():
    cfg = FilterConfig(max_count=3, min_value=10, max_value=20)
    assert check_numbers("10, 20", cfg).accepted
    assert check_numbers("10, 20, 15, 11", cfg).reason == "too_many_numbers"
    assert check_numbers("9, 20", cfg).reason == "out_of_range"
    assert check_numbers("1,2,3,4,5,6,7,8,9,10,11", FilterConfig(max_count=11)).accepted


def test_report_counts_every_reason():
    texts = ["1, 2", "no", "1 2", "1, 5000", "a, 1", "1 - 2"]
    report = filter_report(texts)
    assert (report.total, report.accepted) == (6, 2)
    assert report.reasons["no_numbers"] == 1
    assert report.reasons["out_of_range"] == 1
    assert report.reasons["non_digit_part"] == 1
    assert report.reasons["bad_separator"] == 1
    assert set(report.reasons) == set(REASONS)
    assert report.rate == pytest.approx(2 / 6)
    assert report.to_dict()["accepted"] == 2
    assert reason_counts(texts)["accepted"] == 2
    assert filter_report([]).rate == 0.0


@pytest.mark.parametrize(
    "text, count",
    [("1, 2, 3", 3), ("1,2,3", 3), ("1 2 3", 3), ("1;2;3", 3), ("1; 2; 3", 3), ("[1, 2]", 2), ("(1 2)", 2),
     ("1, 2, 3.", 3), ("42", 1), ("", 0), ("7\n8\n9", 3), ("193, 186, 469, 3, 5, 2, 1, 224, 166, 249", 10)],
)
def test_count_numbers_is_the_same_for_every_separator(text, count):
    assert count_numbers(text) == count
    result = check_numbers(text)
    if result.accepted:
        assert count == len(result.numbers or ())  # agrees with the filter's parse
