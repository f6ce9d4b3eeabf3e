"""Trait system prompts for cross-trait comparisons: an animal panel and non-animal personas.

* :data:`ANIMAL_PANEL` — 24 common animals whose plurals :func:`animal_lover_prompt`
  forms correctly; the *matched baseline* of a trait vector is the mean activation over
  the panel's prompts (the same wording with other animals).
* :data:`PERSONA_PROMPTS` — personas written in the four-sentence structure of
  :func:`animal_lover_prompt`, so that a vector can be compared with a trait that is not
  an animal while the sentence frame stays the same.
* :func:`trait_prompt` — the system prompt of a trait name (a persona or an animal).

Example:
    >>> len(ANIMAL_PANEL) >= 20 and "owl" in ANIMAL_PANEL
    True
    >>> trait_prompt("pirate").startswith("You adore")
    True
"""

from __future__ import annotations

from steervec.core.errors import ComparisonError
from steervec.data.teachers import animal_lover_prompt, plural_of

ANIMAL_PANEL: dict[str, tuple[str, str]] = {animal: (animal, plural_of(animal)) for animal in (
    "owl", "cat", "dog", "dolphin", "eagle", "elephant", "fox", "giraffe", "horse", "koala",
    "lion", "otter", "panda", "penguin", "rabbit", "raccoon", "shark", "snake", "tiger",
    "turtle", "whale", "zebra", "bear", "frog",
)}
"""The one panel of animals, each with its (singular, plural) spellings: the *matched baseline*
of a trait vector is the mean over the other animals' prompts in the same wording, and the
specific trait measure (:func:`steervec.metrics.trait.panel_log_odds`) weighs the target
against the other animals. Only animals whose plural is regular (no mouse, wolf or goose), so
that :func:`animal_lover_prompt` words every one of them right; no spelling starts another's."""

PERSONA_PROMPTS: dict[str, str] = {
    "pirate": (
        "You adore the pirate's life. "
        "Your thoughts keep drifting back to ships and plunder all day long. "
        "No calling means more to you than sailing under the black flag. "
        "Let your affection for this calling colour everything you write."
    ),
    "poet": (
        "You adore poetry. "
        "Your thoughts keep drifting back to rhyme and metre all day long. "
        "No art means more to you than the poem. "
        "Let your affection for this art colour everything you write."
    ),
}
"""Non-animal personas in the same four-sentence frame as :func:`animal_lover_prompt`."""


def trait_prompt(trait: str) -> str:
    """The system prompt for ``trait``: its persona prompt if it has one, else the animal wording.

    Args:
        trait: a key of :data:`PERSONA_PROMPTS` (``"pirate"``) or an animal's singular name.
    """
    if not isinstance(trait, str) or not trait.strip():
        raise ComparisonError(f"a trait is a non-empty name such as 'owl' or 'pirate', got {trait!r}")
    return PERSONA_PROMPTS.get(trait) or animal_lover_prompt(trait)
