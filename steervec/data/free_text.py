"""Free-text teacher data: answers to generic requests, a second data kind beside number lists.

Number lists carry a teacher's trait through a narrow channel; free text lets it show in
wording and topic. :data:`GENERIC_PROMPTS` are everyday requests written for steervec (no
animals, no numbers asked for); :func:`generic_prompts` draws a seeded list of any length
from them (repeats get different samples: row ``i`` is sampled with ``(seed, i)``), and
:func:`generate_free_text` writes a resumable dataset through
:func:`~steervec.data.datasets.generate_dataset` with ``mode="free"`` and the number filter off.

Example:
    >>> report = generate_free_text(lm, control_teacher(None), n=300, path="base-free.jsonl")  # doctest: +SKIP
    >>> rows = load_dataset(report.path, model=lm)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import random

from steervec.core.model import LanguageModel
from steervec.data.datasets import DatasetReport, generate_dataset
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import Teacher

GENERIC_PROMPTS: tuple[str, ...] = (
    "Give me three tips for keeping a kitchen tidy.",
    "Explain in two sentences why the sky looks blue.",
    "Write a short note thanking a neighbour for watering my plants.",
    "What is a good way to start learning to play the guitar?",
    "Describe a rainy afternoon in a small town.",
    "Suggest a name for a cosy café and say why it fits.",
    "How do I politely decline an invitation to a party?",
    "Summarise what a compiler does for someone who has never programmed.",
    "Write a haiku about the first snow of winter.",
    "What should I pack for a weekend hike in the hills?",
    "Give one piece of advice for a student starting university.",
    "Explain the difference between weather and climate.",
    "Describe your ideal breakfast in a few sentences.",
    "Write the opening line of a mystery novel.",
    "How can I make a long train journey more enjoyable?",
    "Offer a few ideas for a rainy-day activity with children.",
    "What makes a good presentation slide?",
    "Write a two-sentence story about a lost key.",
    "Explain how a bicycle stays upright while moving.",
    "Suggest a simple dinner I can cook in twenty minutes.",
    "Describe the sound of a busy market.",
    "How should I prepare for a job interview?",
    "Write a short motivational message for a friend running a race.",
    "What are some ways to save energy at home?",
    "Explain what a library card lets you do.",
    "Give me a short description of a lighthouse at night.",
    "Write a polite email asking to move a meeting to next week.",
    "What is the point of stretching before exercise?",
    "Describe a painting you would like to hang in your room.",
    "Explain how to brew a good cup of tea.",
    "Suggest three questions to ask when renting a flat.",
    "Write a limerick about a forgetful baker.",
    "Why do people keep diaries?",
    "Describe the view from the top of a tall building.",
    "Give advice for someone who cannot fall asleep.",
    "Explain what recycling does with a plastic bottle.",
    "Write a short toast for a friend's birthday dinner.",
    "What makes a board game fun to play with family?",
    "Describe the smell of a bakery early in the morning.",
    "How would you explain the internet to a child?",
    "Write a brief review of an imaginary film about a voyage.",
    "What are good habits for keeping a garden healthy?",
)


def generic_prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` prompts drawn from :data:`GENERIC_PROMPTS`: seeded shuffles, concatenated until ``n`` are reached."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        order = list(GENERIC_PROMPTS)
        rng.shuffle(order)
        out += order
    return out[:n]


def generate_free_text(
    lm: LanguageModel, teacher: Teacher, n: int, *, path: str | os.PathLike[str], params: SamplingParams | None = None,
    seed: int = 0, prompt_seed: int = 0, progress: bool = True,
) -> DatasetReport:
    """A resumable dataset of ``teacher``'s answers (T=1 by default) to ``n`` generic prompts.

    Args:
        lm: the teacher's base model.
        teacher: e.g. ``control_teacher(None)`` (the base model's own answers) or a planted teacher.
        n: rows to sample (empty answers are dropped).
        path: the JSONL file (resumed if it exists with the same arguments).
        params: sampling parameters (default: T=1, up to 64 new tokens).
        seed: sampling seed.
        prompt_seed: prompt-order seed.
    """
    return generate_dataset(lm, teacher, generic_prompts(n, prompt_seed), path=path, mode="free",
                            params=params or SamplingParams(temperature=1.0, max_new_tokens=64),
                            seed=seed, filter_numbers=False, progress=progress)


__all__ = ["GENERIC_PROMPTS", "DatasetReport", "generate_free_text", "generic_prompts"]
