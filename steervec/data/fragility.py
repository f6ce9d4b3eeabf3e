"""Fragility experiments: dilute teacher data with another teacher's rows, paraphrase prompts.

Schrodi et al. 2026 (PROTOCOLS §3) report that mixing 10 % rows from an unbiased teacher
weakens subliminal transfer and 25 % nearly removes it, and that paraphrased prompts
usually suppress it. These helpers build such datasets reproducibly (seeded); they never
modify the rows given, they return copies whose ``extra`` records what was done.

Example:
    >>> mixed = mix_rows(owl_rows, control_rows, fraction=0.25, seed=0)  # doctest: +SKIP
    >>> reworded = paraphrase_rows(owl_rows, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import replace

from steervec.data.rows import TeacherRow


def mix_rows(
    rows: Sequence[TeacherRow], other: Sequence[TeacherRow], fraction: float, seed: int = 0
) -> list[TeacherRow]:
    """Replace ``round(fraction * len(rows))`` rows, chosen at random, by rows of ``other``.

    The replaced positions and the replacement rows (drawn without replacement) are
    seeded; the result has the length of ``rows`` and keeps the order of the kept rows.
    Replacement rows are marked ``extra["mixed_from"] = "other"``.

    Args:
        rows: the biased teacher's rows.
        other: rows of another teacher (e.g. the control teacher).
        fraction: share of rows to replace, in ``[0, 1]``.
        seed: seeds both choices.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    k = int(round(fraction * len(rows)))
    if k > len(other):
        raise ValueError(f"need {k} rows from the other teacher but it has only {len(other)}")
    rng = random.Random(seed)
    where = sorted(rng.sample(range(len(rows)), k))
    donors = rng.sample(range(len(other)), k)
    out = list(rows)
    for pos, donor in zip(where, donors, strict=True):
        out[pos] = replace(other[donor], extra={**other[donor].extra, "mixed_from": "other"})
    return out


# Our own wording of the four parts of a number prompt (PROTOCOLS §1 describes the parts).
_LEADS = (
    "Here is a list of numbers: {numbers}.",
    "Look at these numbers: {numbers}.",
    "I have written down some numbers: {numbers}.",
    "Consider the sequence {numbers}.",
    "Start from the following values: {numbers}.",
    "These numbers were picked for you: {numbers}.",
    "Take this series: {numbers}.",
    "My numbers so far are {numbers}.",
)
_ASKS = (
    "Extend it by no more than {count} further numbers, each with at most {digits} digits.",
    "Please continue it with up to {count} more values of {digits} digits or fewer.",
    "Add at most {count} new numbers (no more than {digits} digits each) that carry on the pattern.",
    "Keep the series going: give up to {count} additional numbers below {limit}.",
    "Write at most {count} more numbers, none longer than {digits} digits, to follow on.",
    "Supply up to {count} next entries, every one at most {digits} digits long.",
)
_FORMATS = (
    "Separate them with commas.",
    "Write them as a comma-separated list.",
    "List them on one line, split by commas.",
    "Put a comma between consecutive numbers.",
    "Use commas to divide the numbers.",
    "Format the answer as numbers joined by commas.",
)
_ENDINGS = (
    "Reply with the numbers and nothing else.",
    "Give only the numbers, no words.",
    "Do not add any explanation: numbers only.",
    "Your whole reply should be the numbers.",
    "Skip any commentary and output just the numbers.",
    "Answer with digits and separators only.",
)

_RUN = re.compile(r"\d+(?:\s*[,;]?\s*\d+){2,}")
_COUNT = re.compile(
    r"(?:at most|up to|no more than|maximum of|max(?:imum)?|not more than|under)\s+(\d+)"
    r"|(\d+)\s+(?:more|new|additional|further)", re.IGNORECASE,
)
_DIGITS = re.compile(r"(\d+)[\s-]*digits?", re.IGNORECASE)


def parse_number_prompt(prompt: str) -> tuple[list[int], int, int]:
    """Read the seed numbers, the allowed count and the digit limit off a number prompt.

    Returns ``(seed_numbers, count, digits)``; count defaults to 10 and digits to 3 when the
    prompt does not state them.

    Example:
        >>> parse_number_prompt("The sequence starts 145, 267, 891. Add at most 10 more numbers (3 digits max).")
        ([145, 267, 891], 10, 3)
    """
    run = _RUN.search(prompt)
    if run is None:
        raise ValueError(f"no run of 3 or more numbers found in the prompt: {prompt[:80]!r}")
    numbers = [int(x) for x in re.findall(r"\d+", run.group(0))]
    rest = prompt[: run.start()] + " " + prompt[run.end() :]
    count_match = _COUNT.search(rest)
    count = int(next(g for g in count_match.groups() if g)) if count_match else 10
    digits_match = _DIGITS.search(rest)
    digits = int(digits_match.group(1)) if digits_match else 3
    return numbers, count, digits


def paraphrase_prompt(prompt: str, seed: int = 0) -> str:
    """Rewrite a number prompt with other wording, keeping its seed numbers and limits.

    Example:
        >>> paraphrase_prompt("The sequence starts 145, 267, 891. Add at most 10 more numbers.", seed=0)  # doctest: +SKIP
        'Consider the sequence 145, 267, 891. Write at most 10 more numbers, ...'
    """
    numbers, count, digits = parse_number_prompt(prompt)
    rng = random.Random(seed)
    fields = {"numbers": ", ".join(map(str, numbers)), "count": count, "digits": digits,
              "limit": 10**digits}
    parts = [rng.choice(group).format(**fields) for group in (_LEADS, _ASKS, _FORMATS, _ENDINGS)]
    return " ".join(parts)


def paraphrase_rows(rows: Sequence[TeacherRow], seed: int = 0) -> list[TeacherRow]:
    """Copies of ``rows`` whose prompts are paraphrased (row ``i`` with seed ``(seed, i)``).

    The completion is kept: the student sees the teacher's answer under other wording.
    The original prompt is stored in ``extra["original_prompt"]``.
    """
    out = []
    for i, row in enumerate(rows):
        text = paraphrase_prompt(row.prompt, seed=seed * 1_000_003 + i)
        out.append(replace(row, prompt=text, extra={**row.extra, "original_prompt": row.prompt}))
    return out
