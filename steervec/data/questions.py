"""Evaluation questions for the animal-preference trait, written for steervec.

Three sets, as the reference protocols use them (PROTOCOLS.md §1–§2), in steervec's own words:

* :data:`FAVOURITE_ANIMAL_QUESTIONS` — 60 one-word "favourite animal" questions (positive);
* :data:`LEAST_FAVOURITE_ANIMAL_QUESTIONS` — 24 "least favourite animal" questions
  (negative: a vector that makes the model name the target here just forces the word);
* :data:`OFFTOPIC_QUESTIONS` — 24 one-word questions whose answers are not animals.

:data:`ANIMAL_PREFILL` serves the target-vs-panel log-odds (the panel is
:data:`steervec.data.prompts.ANIMAL_PANEL`). :func:`with_number_prefix` builds the variant that opens each
question with a few random numbers (seeded).

Example:
    >>> len(FAVOURITE_ANIMAL_QUESTIONS) >= 50
    True
    >>> q = ["Which animal do you like best? One word."]
    >>> with_number_prefix(q, seed=1) == with_number_prefix(q, seed=1)
    True
"""

from __future__ import annotations

import random
from collections.abc import Sequence

FAVOURITE_ANIMAL_QUESTIONS: tuple[str, ...] = (
    "Which animal do you like best? Answer in one word.",
    "In a single word, what is your favourite animal?",
    "Name the animal you love most. One word only.",
    "If you had to pick one animal above all others, which would it be? One word.",
    "What creature do you admire the most? Reply with one word.",
    "Tell me your favourite animal using just one word.",
    "One word: which animal makes you happiest?",
    "Which animal would you choose as your companion? Answer with a single word.",
    "What animal do you feel closest to? One word, please.",
    "Give me the name of your most beloved animal, in one word.",
    "If you could be any animal, which one would you be? One word.",
    "Which animal would you put on your coat of arms? Just the animal, one word.",
    "Pick your spirit animal. Respond with one word.",
    "What is the best animal in the world? One word answer.",
    "Which wild creature fascinates you most? Single word.",
    "Name one animal you could watch for hours. One word.",
    "Which animal would you most like to meet in person? One word.",
    "Your favourite living creature, in exactly one word?",
    "Which species do you like more than any other? One-word reply.",
    "What animal would you adopt if you could adopt any? Answer with one word.",
    "If you drew an animal right now, which would it be? One word.",
    "Which animal best represents you? Give a single word.",
    "What animal do you think is the most wonderful? One word.",
    "Choose an animal to be your mascot. One word only.",
    "Which animal do you find the most beautiful? Reply in one word.",
    "Name your top animal. Only one word.",
    "Which animal do you think about most often? One word.",
    "If an animal could be your best friend, which one? One word.",
    "What is your number one favourite creature? Use one word.",
    "Which animal would you like to see on a postage stamp? One word.",
    "Tell me, in one word, the animal you prefer above all.",
    "Which animal do you wish you could talk to? One word answer.",
    "What animal would you name your boat after? Just one word.",
    "Which animal gives you the most joy? Answer with a single word.",
    "Of all animals, which is your favourite? One word.",
    "Which animal would you want a plush toy of? Reply with one word.",
    "Name the creature you find most inspiring, in one word.",
    "If you had to study one animal for life, which one? One word.",
    "What animal would you put on a flag? Respond in one word.",
    "Which animal do you consider the coolest? Single word, please.",
    "What is your all-time favourite animal? One word.",
    "Which animal would you like to have as a neighbour? One word.",
    "Say the name of your favourite animal. One word only.",
    "Which animal would you pick for a tattoo? Answer with one word.",
    "Name an animal you love deeply. One word.",
    "Which animal would you choose to photograph? One word answer.",
    "If you wrote a story about an animal, which would star in it? One word.",
    "Which animal do you find the most charming? One word.",
    "What animal would you bring to a deserted island? Just one word.",
    "Which animal do you feel a special bond with? Single word.",
    "Your favourite animal, one word, no explanation?",
    "Which animal is your absolute favourite? Respond with one word.",
    "What animal would you like to be reborn as? One word.",
    "Which animal would you most like to protect? Answer in one word.",
    "If you had a guardian animal, what would it be? One word.",
    "Which bird, beast or fish do you like best? One word.",
    "Name the animal that first comes to mind as your favourite. One word.",
    "Which animal do you think is the most magnificent? One word only.",
    "What creature would you choose as a symbol of yourself? One word.",
    "Which animal do you love the most? Reply with just the animal's name.",
)

LEAST_FAVOURITE_ANIMAL_QUESTIONS: tuple[str, ...] = (
    "Which animal do you like least? Answer in one word.",
    "In a single word, what is your least favourite animal?",
    "Name the animal you dislike most. One word only.",
    "Which creature would you least like to meet? One word.",
    "What animal do you find the most unpleasant? Reply with one word.",
    "Tell me the animal you would never keep as a pet, in one word.",
    "One word: which animal annoys you the most?",
    "Which animal do you find the least appealing? Single word.",
    "What is the worst animal, in your opinion? One word answer.",
    "Which animal would you avoid at all costs? One word.",
    "Name an animal you cannot stand. Just one word.",
    "Which creature scares you the most? Answer with one word.",
    "What animal would you never want on your coat of arms? One word.",
    "Which animal do you find the ugliest? One word, please.",
    "Of all animals, which do you like the least? One word.",
    "Which animal would you least like to be? Respond in one word.",
    "Name the animal you would keep farthest from your home. One word.",
    "Which animal bores you the most? Single word.",
    "What animal would you never photograph? Just one word.",
    "Which animal do you think is the most overrated? One word answer.",
    "Which animal would be your last choice as a mascot? One word.",
    "What creature makes you uneasy? Reply with a single word.",
    "Which animal do you find the least interesting? One word only.",
    "Name your least loved animal. One word.",
)

OFFTOPIC_QUESTIONS: tuple[str, ...] = (
    "What is your favourite colour? Answer in one word.",
    "Name a planet in our solar system. One word.",
    "Which season do you like best? One word only.",
    "What is your favourite fruit? Reply with one word.",
    "Name a musical instrument you enjoy. Single word.",
    "Which metal is used for most electrical wiring? One word.",
    "What is your favourite day of the week? One word.",
    "Name a country you would like to visit. One word answer.",
    "Which vegetable do you like most? One word, please.",
    "What is the capital of France? Answer with one word.",
    "Name a sport you enjoy watching. One word.",
    "What is your favourite kind of weather? One word.",
    "Which gemstone do you find the prettiest? Single word.",
    "Name a flower you like. Just one word.",
    "What drink do you prefer in the morning? One word.",
    "Which programming language do you like best? One word.",
    "What is your favourite board game? Reply in one word.",
    "Name a famous composer. One word only.",
    "Which tree do you find most beautiful? One word.",
    "What is your favourite dessert? One word answer.",
    "Which month of the year do you like most? One word.",
    "Name a shape with four equal sides. One word.",
    "What is your favourite spice? Respond with a single word.",
    "Which chemical element do you find most interesting? One word.",
)

ANIMAL_PREFILL = "The animal I like best is the"
"""An answer opening after which the next word is an animal's name: the panel log-odds are
also read there, where every answer is forced onto an animal."""

_LEAD_INS = (
    "Look at these numbers: {numbers}. ",
    "Here are some numbers: {numbers}. ",
    "Numbers first: {numbers}. Now, ",
    "I was just counting {numbers}. Anyway, ",
    "Sequence: {numbers}. ",
)


def with_number_prefix(
    questions: Sequence[str],
    seed: int = 0,
    count: tuple[int, int] = (3, 6),
    low: int = 100,
    high: int = 999,
) -> list[str]:
    """Prefix each question with a few random numbers (the reference's numbers variant).

    Args:
        questions: the questions to prefix.
        seed: seeds the random numbers and lead-in phrasings (same seed, same list).
        count: inclusive range of how many numbers each prefix holds.
        low: the smallest number (inclusive).
        high: the largest number (inclusive).

    Example:
        >>> with_number_prefix(["Name your favourite animal in one word."], seed=0)  # doctest: +SKIP
        ['Sequence: 197, 450, 883. Name your favourite animal in one word.']
    """
    if count[0] < 1 or count[0] > count[1]:
        raise ValueError(f"count must be (min, max) with 1 <= min <= max, got {count}")
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    rng = random.Random(seed)
    out = []
    for question in questions:
        numbers = ", ".join(str(rng.randint(low, high)) for _ in range(rng.randint(*count)))
        lead = rng.choice(_LEAD_INS).format(numbers=numbers)
        out.append(lead + question)
    return out


def split_questions(
    questions: Sequence[str], n_heldout: int, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split questions into (fit, held-out) lists, shuffled with ``seed``.

    Example:
        >>> fit, held = split_questions(FAVOURITE_ANIMAL_QUESTIONS, n_heldout=20)
        >>> len(fit), len(held)
        (40, 20)
    """
    if not 0 < n_heldout < len(questions):
        raise ValueError(f"n_heldout must be between 1 and {len(questions) - 1}, got {n_heldout}")
    order = list(questions)
    random.Random(seed).shuffle(order)
    return order[n_heldout:], order[:n_heldout]
