"""Teacher data: number prompts, the number filter, constrained sampling, teachers, resumable
datasets, divergence tokens, evaluation questions, data fragility and length-matched controls.
"""

from steervec.data.constrained import NumberListConstraint
from steervec.data.datasets import (
    DatasetReport,
    dedup,
    generate_dataset,
    heldout_split,
    load_dataset,
    recount_lengths,
)
from steervec.data.divergence import (
    DivergenceResult,
    attach_teacher_topk,
    divergence_masks,
)
from steervec.data.fragility import mix_rows, paraphrase_prompt, paraphrase_rows
from steervec.data.free_text import GENERIC_PROMPTS, generate_free_text, generic_prompts
from steervec.data.length_match import LengthMatchReport, length_match
from steervec.data.mask_controls import mask_share, random_masks_like
from steervec.data.number_filter import (
    FilterConfig,
    FilterReport,
    FilterResult,
    check_numbers,
    count_numbers,
    filter_report,
)
from steervec.data.numbers import NumberPrompt, NumberPromptConfig, number_prompts, prompt_capacity
from steervec.data.prompts import ANIMAL_PANEL, PERSONA_PROMPTS, trait_prompt
from steervec.data.questions import (
    ANIMAL_PREFILL,
    FAVOURITE_ANIMAL_QUESTIONS,
    LEAST_FAVOURITE_ANIMAL_QUESTIONS,
    OFFTOPIC_QUESTIONS,
    split_questions,
    with_number_prefix,
)
from steervec.data.sampler import Sample, SamplingParams, sample
from steervec.data.teachers import (
    Teacher,
    animal_lover_prompt,
    animal_teacher,
    control_teacher,
    planted_teacher,
    projected_teacher,
    random_direction,
    steered_teacher,
)

__all__ = [
    "ANIMAL_PANEL",
    "ANIMAL_PREFILL",
    "DatasetReport",
    "DivergenceResult",
    "FAVOURITE_ANIMAL_QUESTIONS",
    "GENERIC_PROMPTS",
    "FilterConfig",
    "FilterReport",
    "FilterResult",
    "LEAST_FAVOURITE_ANIMAL_QUESTIONS",
    "LengthMatchReport",
    "NumberListConstraint",
    "NumberPrompt",
    "NumberPromptConfig",
    "OFFTOPIC_QUESTIONS",
    "PERSONA_PROMPTS",
    "Sample",
    "SamplingParams",
    "Teacher",
    "animal_lover_prompt",
    "generate_free_text",
    "generic_prompts",
    "planted_teacher",
    "random_direction",
    "animal_teacher",
    "attach_teacher_topk",
    "check_numbers",
    "control_teacher",
    "count_numbers",
    "dedup",
    "divergence_masks",
    "filter_report",
    "generate_dataset",
    "heldout_split",
    "length_match",
    "load_dataset",
    "mask_share",
    "mix_rows",
    "number_prompts",
    "paraphrase_prompt",
    "paraphrase_rows",
    "projected_teacher",
    "prompt_capacity",
    "random_masks_like",
    "recount_lengths",
    "sample",
    "split_questions",
    "steered_teacher",
    "trait_prompt",
    "with_number_prefix",
]
