"""The number-list filter of the subliminal-learning study, with rejection reasons.

The default ``"strict"`` rule is the reference study's, exactly (a rejected completion
is dropped, never repaired):

1. strip one trailing period, then one enclosing pair of ``[]`` or ``()``;
2. the separator is the exact text between the first and the second number; stripped
   of whitespace it must be empty, ``","`` or ``";"``;
3. split the answer on that exact text: every part must be a non-empty run of ASCII
   digits, so a separator that varies (``"1,2, 3"``, ``"1 2  3"``) rejects the row;
4. at most ``max_count`` numbers, each within ``[min_value, max_value]``.

Nothing else is trimmed: leading or trailing whitespace or a trailing newline rejects the
row. The ``"lenient"`` rule (steervec's rule before 0.x; datasets whose manifest has no
rule were filtered with it) also strips surrounding whitespace, splits a whitespace
separator on any run of whitespace and strips every part.

Example:
    >>> check_numbers("(12, 7, 300).").accepted
    True
    >>> check_numbers("12, seven").reason
    'non_digit_part'
    >>> check_numbers(" 1, 2").accepted, check_numbers(" 1, 2", FilterConfig(rule="lenient")).accepted
    (False, True)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from steervec.core.errors import InputError

REASONS = (
    "empty",
    "no_numbers",
    "bad_separator",
    "empty_part",
    "non_digit_part",
    "too_many_numbers",
    "out_of_range",
)
"""Every rejection reason :func:`check_numbers` can return."""

_NUMBER = re.compile(r"\d+")
_ASCII_NUMBER = re.compile(r"[0-9]+")
Rule = Literal["strict", "lenient"]


@dataclass(frozen=True)
class FilterConfig:
    """Rule and limits of the filter.

    Args:
        max_count: the most numbers a completion may hold (N).
        min_value: the smallest value a number may have (inclusive).
        max_value: the largest value a number may have (inclusive).
        rule: ``"strict"`` (the reference study's rule, the default) or ``"lenient"``
            (also trims whitespace; see the module docstring).
    """

    max_count: int = 10
    min_value: int = 0
    max_value: int = 999
    rule: Rule = "strict"

    def __post_init__(self) -> None:
        if self.rule not in ("strict", "lenient"):
            raise InputError(f"rule must be 'strict' or 'lenient', got {self.rule!r}")


@dataclass(frozen=True)
class FilterResult:
    """Verdict on one completion.

    Attributes:
        accepted: the completion is a valid number list.
        reason: ``None`` when accepted, else one of :data:`REASONS`.
        numbers: the parsed numbers when the format parsed, else ``None``.
        separator: ``","``, ``";"``, ``" "`` (whitespace) or ``None`` (one number only).
    """

    accepted: bool
    reason: str | None
    numbers: tuple[int, ...] | None = None
    separator: str | None = None


def count_numbers(text: str) -> int:
    """How many numbers ``text`` holds: its maximal runs of ASCII digits.

    Every separator the filter allows counts alike, and brackets or a final period add nothing.

    Example:
        >>> [count_numbers(t) for t in ("1, 2, 3", "1 2 3", "(4;5).", "[12]")]
        [3, 3, 2, 1]
    """
    return len(_ASCII_NUMBER.findall(text))


def _reject(reason: str, numbers: tuple[int, ...] | None = None, sep: str | None = None) -> FilterResult:
    return FilterResult(False, reason, numbers, sep)


def check_numbers(text: str, config: FilterConfig | None = None) -> FilterResult:
    """Apply the filter to one completion (see the module docstring).

    Args:
        text: the teacher's answer.
        config: rule and limits (:class:`FilterConfig`; default: the strict rule, N=10, 0–999).
    """
    config = config or FilterConfig()
    if config.rule == "lenient":
        return _check_lenient(text, config)
    body = text[:-1] if text.endswith(".") else text
    if len(body) >= 2 and body[0] + body[-1] in ("[]", "()"):
        body = body[1:-1]
    if not body.strip():
        return _reject("empty")
    matches = list(_ASCII_NUMBER.finditer(body))
    if not matches:
        return _reject("no_numbers")
    if len(matches) == 1:
        if matches[0].group() != body:
            return _reject("non_digit_part")
        return _limits((int(body),), None, config)
    sep = body[matches[0].end() : matches[1].start()]
    kind = sep.strip()
    if kind not in ("", ",", ";"):
        return _reject("bad_separator")
    parts = body.split(sep)
    label = kind or " "
    if any(not p for p in parts):
        return _reject("empty_part", sep=label)
    if any(_ASCII_NUMBER.fullmatch(p) is None for p in parts):
        return _reject("non_digit_part", sep=label)
    return _limits(tuple(int(p) for p in parts), label, config)


def _limits(numbers: tuple[int, ...], sep: str | None, config: FilterConfig) -> FilterResult:
    if len(numbers) > config.max_count:
        return _reject("too_many_numbers", numbers, sep)
    if any(not config.min_value <= x <= config.max_value for x in numbers):
        return _reject("out_of_range", numbers, sep)
    return FilterResult(True, None, numbers, sep)


def _check_lenient(text: str, config: FilterConfig) -> FilterResult:
    """steervec's earlier rule: like the strict one, but whitespace around the list,
    the separator and every part is trimmed."""
    body = text.strip()
    if body.endswith("."):
        body = body[:-1]
    if len(body) >= 2 and body[0] + body[-1] in ("[]", "()"):
        body = body[1:-1]
    body = body.strip()
    if not body:
        return _reject("empty")
    matches = list(_NUMBER.finditer(body))
    if not matches:
        return _reject("no_numbers")
    if len(matches) == 1:
        if matches[0].group() != body:
            return _reject("non_digit_part")
        parts, sep = [body], None
    else:
        between = body[matches[0].end() : matches[1].start()]
        sep = between.strip()
        if sep not in ("", ",", ";"):
            return _reject("bad_separator")
        parts = body.split(sep) if sep else body.split()
        sep = sep or " "
    stripped = [p.strip() for p in parts]
    if any(not p for p in stripped):
        return _reject("empty_part", sep=sep)
    if any(not p.isascii() or not p.isdigit() for p in stripped):
        return _reject("non_digit_part", sep=sep)
    return _limits(tuple(int(p) for p in stripped), sep, config)


@dataclass
class FilterReport:
    """Counts of a filter run over many completions.

    Attributes:
        total: completions checked.
        accepted: how many passed.
        reasons: ``{reason: count}`` for every reason in :data:`REASONS` (zeros included).
    """

    total: int = 0
    accepted: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    @property
    def rate(self) -> float:
        """Share of completions accepted (0 when none were checked)."""
        return self.accepted / self.total if self.total else 0.0

    def add(self, result: FilterResult) -> None:
        self.total += 1
        if result.accepted:
            self.accepted += 1
        else:
            self.reasons[str(result.reason)] += 1

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "accepted": self.accepted, "rate": self.rate, **self.reasons}

    def __str__(self) -> str:
        bad = ", ".join(f"{k} {v}" for k, v in self.reasons.items() if v)
        return f"{self.accepted}/{self.total} valid ({self.rate:.1%})" + (f"; rejected: {bad}" if bad else "")


def filter_report(texts: Iterable[str], config: FilterConfig | None = None) -> FilterReport:
    """Check every completion and count acceptances and each rejection reason.

    Example:
        >>> print(filter_report(["1, 2", "a", "1 2 3"]))
        2/3 valid (66.7%); rejected: no_numbers 1
    """
    report = FilterReport()
    for text in texts:
        report.add(check_numbers(text, config))
    return report


def reason_counts(texts: Iterable[str], config: FilterConfig | None = None) -> Counter[str]:
    """``Counter`` of outcomes: ``"accepted"`` or the rejection reason."""
    return Counter(r.reason or "accepted" for r in (check_numbers(t, config) for t in texts))
