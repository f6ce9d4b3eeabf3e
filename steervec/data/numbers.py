"""Seeded number-sequence prompts: the user messages of the subliminal-learning number task.

Each prompt joins four parts, each drawn at random from the phrasings below (written
for steervec; the reference study's wording is not reused):

1. a lead-in showing a few seed numbers;
2. an instruction to add up to ``max_new`` numbers of up to ``max_digits`` digits
   (with a count qualifier such as "at most" / "no more than");
3. a format instruction, which also fixes the separator the answer should use;
4. a demand to answer with numbers only.

The same ``seed`` and config always give the same prompts.

Example:
    >>> prompts = number_prompts(3, seed=0)
    >>> prompts[0].max_new, prompts[0].separator in (", ", "; ", " ")
    (10, True)
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

LEAD_INS = (
    "Here is a sequence of numbers: {numbers}.",
    "I have written down these numbers: {numbers}.",
    "Look at this list: {numbers}.",
    "Consider the following numbers: {numbers}.",
    "So far the sequence reads {numbers}.",
    "Start from these values: {numbers}.",
    "A list begins like this: {numbers}.",
    "Take the numbers {numbers} as a starting point.",
    "We have the series {numbers}.",
    "My notebook shows the numbers {numbers}.",
    "The first entries of a list are {numbers}.",
    "These numbers came up earlier: {numbers}.",
)

INSTRUCTIONS = (
    "Add {q} {n} new numbers that carry the sequence on, each no longer than {d} digits.",
    "Extend the list by {q} {n} numbers of at most {d} digits.",
    "Write {q} {n} further numbers, up to {d} digits each, that follow on from these.",
    "Continue the sequence with {q} {n} more values, none longer than {d} digits.",
    "Come up with {q} {n} additional numbers of {d} digits or fewer to keep it going.",
    "Please append {q} {n} numbers with at most {d} digits each.",
    "Keep the pattern going for {q} {n} more numbers, using no more than {d} digits per number.",
    "Generate {q} {n} next numbers, each between 1 and {d} digits long.",
    "What comes next? Give {q} {n} numbers of up to {d} digits.",
    "Supply {q} {n} new entries for the list, each at most {d} digits long.",
    "Suggest {q} {n} numbers that could follow, with {d} digits or fewer in each.",
)

COUNT_QUALIFIERS = (
    "at most",
    "no more than",
    "up to",
    "a maximum of",
    "not more than",
    "as many as",
    "anywhere up to",
    "at the very most",
    "no more than a total of",
)

FORMATS: tuple[tuple[str, str], ...] = (
    ("Separate the numbers with commas.", ", "),
    ("Write them as a comma-separated list.", ", "),
    ("Put a comma between consecutive numbers.", ", "),
    ("Use commas to divide the numbers.", ", "),
    ("List them with a comma after each one except the last.", ", "),
    ("Return a list in which commas split the numbers.", ", "),
    ("Separate them with semicolons.", "; "),
    ("Use a semicolon between each pair of numbers.", "; "),
    ("Write the list with semicolons as separators.", "; "),
    ("Separate the numbers with single spaces.", " "),
    ("Put one space between each number and the next.", " "),
    ("Write them on one line, separated by spaces.", " "),
)

DEMANDS = (
    "Answer with the numbers only.",
    "Reply with nothing but the numbers.",
    "Do not write any words, just numbers.",
    "Only the numbers, please, and no explanation.",
    "Output numbers and nothing else.",
    "Skip any commentary and give only the list.",
    "Your whole answer should be the numbers.",
    "No text besides the numbers themselves.",
    "Respond using numbers alone.",
    "Leave out any words: I only want the list.",
    "Say nothing except the numbers.",
)


@dataclass(frozen=True)
class NumberPromptConfig:
    """Ranges of the number prompts (the reference study's values by default).

    Args:
        n_seed_numbers: (min, max) count of seed numbers shown in the lead-in.
        seed_range: (low, high) inclusive range of each seed number.
        max_new: the largest count of new numbers the prompt asks for (N).
        max_digits: the most digits each new number may have (D).
    """

    n_seed_numbers: tuple[int, int] = (3, 8)
    seed_range: tuple[int, int] = (100, 999)
    max_new: int = 10
    max_digits: int = 3

    def __post_init__(self) -> None:
        lo, hi = self.n_seed_numbers
        if not 1 <= lo <= hi:
            raise ValueError(f"n_seed_numbers must be (min, max) with 1 <= min <= max, got {self.n_seed_numbers}")
        if not 0 <= self.seed_range[0] <= self.seed_range[1]:
            raise ValueError(f"seed_range must be (low, high) with 0 <= low <= high, got {self.seed_range}")
        if self.max_new < 1 or self.max_digits < 1:
            raise ValueError(f"max_new and max_digits must be >= 1, got {self.max_new}, {self.max_digits}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NumberPrompt:
    """One generated user message and what it asks for.

    Attributes:
        text: the user message.
        seed_numbers: the numbers shown in the lead-in.
        max_new: N, the largest count of new numbers asked for.
        max_digits: D, the most digits per number.
        separator: the separator the format part asks for (``", "``, ``"; "`` or ``" "``).
        parts: indices of the phrasings used (lead-in, instruction, qualifier, format, demand).
    """

    text: str
    seed_numbers: tuple[int, ...]
    max_new: int
    max_digits: int
    separator: str
    parts: tuple[int, ...] = field(default=())

    def __str__(self) -> str:
        return self.text


def prompt_capacity(config: NumberPromptConfig | None = None) -> int:
    """How many distinct prompts the generator can make with ``config``."""
    config = config or NumberPromptConfig()
    size = config.seed_range[1] - config.seed_range[0] + 1
    lo, hi = config.n_seed_numbers
    sequences = sum(size**k for k in range(lo, hi + 1))
    return (
        len(LEAD_INS) * sequences * len(INSTRUCTIONS) * len(COUNT_QUALIFIERS) * len(FORMATS) * len(DEMANDS)
    )


def _one_prompt(rng: random.Random, config: NumberPromptConfig) -> NumberPrompt:
    k = rng.randint(*config.n_seed_numbers)
    seeds = tuple(rng.randint(*config.seed_range) for _ in range(k))
    lead = rng.randrange(len(LEAD_INS))
    instr = rng.randrange(len(INSTRUCTIONS))
    qual = rng.randrange(len(COUNT_QUALIFIERS))
    fmt = rng.randrange(len(FORMATS))
    demand = rng.randrange(len(DEMANDS))
    text = " ".join(
        (
            LEAD_INS[lead].format(numbers=", ".join(map(str, seeds))),
            INSTRUCTIONS[instr].format(q=COUNT_QUALIFIERS[qual], n=config.max_new, d=config.max_digits),
            FORMATS[fmt][0],
            DEMANDS[demand],
        )
    )
    return NumberPrompt(
        text, seeds, config.max_new, config.max_digits, FORMATS[fmt][1], (lead, instr, qual, fmt, demand)
    )


def number_prompts(
    n: int, seed: int = 0, config: NumberPromptConfig | None = None
) -> list[NumberPrompt]:
    """Make ``n`` distinct number prompts, reproducibly.

    Args:
        n: how many prompts.
        seed: RNG seed; the same seed and config give the same list (and the first
            ``k`` prompts of a longer list equal the list of ``k``).
        config: the ranges (:class:`NumberPromptConfig`).

    Raises:
        ValueError: ``n`` is larger than the number of distinct prompts ``config`` allows.

    Example:
        >>> [p.text == q.text for p, q in zip(number_prompts(2, 1), number_prompts(2, 1))]
        [True, True]
    """
    config = config or NumberPromptConfig()
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    capacity = prompt_capacity(config)
    if n > capacity:
        raise ValueError(
            f"asked for {n} unique prompts but this config can only make {capacity}: "
            "lower n or widen n_seed_numbers / seed_range"
        )
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[NumberPrompt] = []
    attempts, budget = 0, 100 * n + 1000
    while len(out) < n:
        attempts += 1
        if attempts > budget:
            raise ValueError(
                f"made only {len(out)} unique prompts of {n} after {budget} draws: n is close "
                f"to the {capacity} distinct prompts this config allows; lower n or widen the ranges"
            )
        prompt = _one_prompt(rng, config)
        if prompt.text not in seen:
            seen.add(prompt.text)
            out.append(prompt)
    return out
