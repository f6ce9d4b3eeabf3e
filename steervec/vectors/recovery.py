"""How much of a prompt's trait a steering vector recovers, on the same questions.

The base model (control condition) and the prompted teacher are scored once into a
:class:`TraitReference`; each steered student is then scored against it. All scores come
from :func:`~steervec.metrics.trait.trait_logprob`, the one trait metric of steervec.

Example:
    >>> ref = trait_reference(lm, "You adore owls.", "owl", held_out_questions)  # doctest: +SKIP
    >>> trait_recovery(lm, vector, ref).recovered  # doctest: +SKIP
    0.41
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from steervec.core.chat import TEMPLATE_DEFAULT, Prompt, System
from steervec.core.model import as_language_model
from steervec.core.steering_vector import SteeringVector
from steervec.metrics.trait import TraitScore, trait_logprob
from steervec.vectors.report import TraitRecovery


@dataclass(frozen=True)
class TraitReference:
    """Trait scores of the base (control) model and of the teacher on fixed questions.

    Attributes:
        questions: the questions scored.
        control: the student's system condition.
        base: the base model's per-question scores (``TraitScore.logp`` is ``[n_questions]``).
        teacher: the teacher's per-question scores.
    """

    questions: tuple[str, ...]
    control: System
    base: TraitScore
    teacher: TraitScore


def trait_reference(
    lm: Any,
    system_prompt: str | None,
    target: str | Sequence[str],
    questions: Sequence[str] | None = None,
    control: System = TEMPLATE_DEFAULT,
    teacher_vector: SteeringVector | None = None,
    teacher_alpha: float = 1.0,
) -> TraitReference:
    """Score base and teacher once (questions default to the favourite-animal set).

    Args:
        system_prompt: the teacher's system prompt (``None``: the control condition).
        teacher_vector: a steered teacher (added at all positions).
        teacher_alpha: the scale of ``teacher_vector``.
    """
    from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS

    lm = as_language_model(lm)
    qs = tuple(questions) if questions is not None else FAVOURITE_ANIMAL_QUESTIONS
    base = trait_logprob(lm, qs, target, system=control)
    context = teacher_vector.apply(lm, alpha=teacher_alpha) if teacher_vector else contextlib.nullcontext()
    with context:
        teacher = trait_logprob(lm, qs, target, system=control if system_prompt is None else system_prompt)
    return TraitReference(qs, control, base, teacher)


def trait_recovery(
    lm: Any,
    vector: SteeringVector,
    reference: TraitReference,
    positions: str = "all",
    alpha: float = 1.0,
    fit_prompts: Sequence[Prompt] = (),
) -> TraitRecovery:
    """Score the control model plus ``alpha * vector`` against ``reference``.

    Args:
        positions: where the vector is added while answering (as it was fitted).
        fit_prompts: the prompts the vector was fitted on, to count overlaps.
    """
    lm = as_language_model(lm)
    with vector.apply(lm, alpha=alpha, positions=positions):
        steered = trait_logprob(lm, reference.questions, reference.base.target, system=reference.control)
    in_train = len(set(reference.questions) & {p for p in fit_prompts if isinstance(p, str)})
    b, t = reference.base, reference.teacher
    return TraitRecovery(b.target, len(reference.questions), in_train, b.mean_prob, t.mean_prob,
                         steered.mean_prob, b.mean_logp, t.mean_logp, steered.mean_logp)
