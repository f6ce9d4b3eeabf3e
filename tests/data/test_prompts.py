"""The animal panel and the personas share one sentence frame; trait names resolve to their prompts."""

from __future__ import annotations

import re

import pytest

from steervec.core.errors import ComparisonError
from steervec.data.prompts import ANIMAL_PANEL, PERSONA_PROMPTS, trait_prompt
from steervec.data.teachers import animal_lover_prompt

# the four-sentence frame every trait prompt shares, with the trait-specific words left open
FRAME = re.compile(r"You adore [\w' ]+\. Your thoughts keep drifting back to [\w ]+ all day long\. "
                   r"No (\w+) means more to you than [\w ]+\. Let your affection for this (\w+) colour "
                   r"everything you write\.")


def test_panel_is_twenty_distinct_single_words_with_regular_plurals():
    assert len(ANIMAL_PANEL) >= 20 and len(set(ANIMAL_PANEL)) == len(ANIMAL_PANEL)
    for animal in ANIMAL_PANEL:
        assert re.fullmatch(r"[a-z]+", animal), animal
        plural = animal_lover_prompt(animal).split(". ")[0].removeprefix("You adore ")
        assert plural in (animal + "s", animal + "es"), (animal, plural)


def test_personas_use_the_animal_frame_and_differ_from_it():
    assert FRAME.fullmatch(animal_lover_prompt("owl"))
    for name, prompt in PERSONA_PROMPTS.items():
        match = FRAME.fullmatch(prompt)
        assert match, name
        assert match.group(1) == match.group(2) != "animal" and "animal" not in prompt
        assert trait_prompt(name) == prompt


def test_trait_prompt_falls_back_to_the_animal_wording():
    assert trait_prompt("owl") == animal_lover_prompt("owl")
    assert trait_prompt("fox") == animal_lover_prompt("fox")
    with pytest.raises(ComparisonError, match="non-empty"):
        trait_prompt(" ")
