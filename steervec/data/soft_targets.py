"""Soft targets: a teacher's full next-token distributions, computed on the fly.

Online soft distillation scores a student against its teacher's next-token distribution at
chosen positions of teacher-forced rows. This module holds the pieces the trainer
(:func:`steervec.students.train.train_student` with ``loss="kl_online"``) and the recovery
metrics (:mod:`steervec.metrics.planted`) share:

* :func:`scored_positions` — which positions of a :class:`~steervec.core.chat.ChatBatch` are
  scored: ``"response"`` (the positions predicting a response token, as the hard loss) or
  ``"all"`` (every real position predicting a real token, prompt included — the
  planted-vector pilot's choice);
* :func:`~steervec.core.suffix_forward.next_token_logits` (from core, re-exported here) — one
  forward, the logits at those positions (gradients flow);
* :func:`teacher_logprobs` — the teacher's log-probs at the same positions, no gradients;
* :func:`kl_sum` — summed KL(teacher ‖ student) over positions.

Rows are left-padded and responses end every row, so the ``k``-th scored response position
of a row is the same token for the student (rendered with its system condition) and for a
teacher rendered with another system prompt: the two targets are aligned on the right.

Example:
    >>> batch = encode_chat(lm, prompts, None, completions)  # doctest: +SKIP
    >>> target = scored_positions(batch, "all")  # doctest: +SKIP
    >>> teacher = teacher_logprobs(lm, planted, prompts, completions, target, student_system=None)  # doctest: +SKIP
    >>> kl = kl_sum(teacher, next_token_logits(lm, batch.input_ids, batch.attention_mask, target))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import torch
from torch import Tensor

from steervec.core.chat import ChatBatch, Prompt, System, describe_system, encode_chat
from steervec.core.errors import SteervecError
from steervec.core.model import LanguageModel
from steervec.core.suffix_forward import next_token_logits
from steervec.data.teachers import Teacher

KLPositions: TypeAlias = Literal["response", "all"]
POSITIONS = ("response", "all")


def check_positions(positions: str) -> KLPositions:
    """``positions`` if it is ``"response"`` or ``"all"``, else a clear error."""
    if positions not in POSITIONS:
        raise ValueError(f"unknown KL positions {positions!r}: use 'response' (the answer tokens) or 'all' "
                         "(every real position, prompt included)")
    return positions  # type: ignore[return-value]


def scored_positions(batch: ChatBatch, positions: KLPositions) -> Tensor:
    """``[batch, seq - 1]`` bool: position ``t`` is scored on its prediction of token ``t + 1``.

    ``"response"``: the positions predicting a response token (completion + end-of-turn);
    ``"all"``: every real position whose next token is real (the prompt's template tokens too).
    """
    check_positions(positions)
    if positions == "response":
        return batch.response_mask[:, 1:].clone()
    real = batch.attention_mask.bool()
    return real[:, :-1] & real[:, 1:]


def right_align(target: Tensor, width: int) -> Tensor:
    """``target [batch, w]`` placed at the right end of a ``[batch, width]`` mask.

    Raises:
        SteervecError: a scored position would fall off the left edge (the other rendering
            is shorter than the scored span).
    """
    batch, w = target.shape
    if width >= w:
        out = torch.zeros(batch, width, dtype=torch.bool, device=target.device)
        out[:, width - w :] = target
        return out
    if bool(target[:, : w - width].any()):
        raise SteervecError(f"scored positions span more than the {width + 1} tokens of the other rendering")
    return target[:, w - width :].clone()


@torch.no_grad()
def teacher_logprobs(
    lm: LanguageModel, teacher: Teacher, prompts: Sequence[Prompt], completions: Sequence[str],
    target: Tensor, student_system: System, positions: KLPositions = "response",
) -> Tensor:
    """The teacher's next-token log-probs ``[n_target, vocab]`` at the student's scored positions.

    The rows are rendered with the teacher's system condition and run under
    ``teacher.context(lm)`` (its steering / projection hooks), in one teacher-forced forward.
    The caller makes sure nothing else is attached to ``lm`` (a student's hooks or adapters).

    Args:
        prompts: the batch's prompts.
        completions: the batch's completions, one per prompt.
        target: the student's scored positions ``[batch, seq_student - 1]``.
        student_system: the student's system condition (to check ``"all"`` positions).
        positions: how ``target`` was built; ``"all"`` needs the teacher to render the rows as
            the student does (same system condition), else the prompt tokens differ.
    """
    if positions == "all" and describe_system(teacher.system) != describe_system(student_system):
        raise SteervecError(
            f"KL at every position needs the teacher to see the student's tokens, but the teacher's system is "
            f"{describe_system(teacher.system)!r} and the student's {describe_system(student_system)!r}: use "
            "positions='response' for a prompted teacher"
        )
    batch = encode_chat(lm, prompts, teacher.system, completions)
    aligned = right_align(target, batch.input_ids.shape[1] - 1)
    with teacher.context(lm):
        logits = next_token_logits(lm, batch.input_ids, batch.attention_mask, aligned)
    return torch.log_softmax(logits, dim=-1)


def kl_sum(teacher_logp: Tensor, student_logits: Tensor) -> Tensor:
    """Summed KL(teacher ‖ student) in nats over rows of ``[n, vocab]`` (teacher: log-probs)."""
    student = torch.log_softmax(student_logits, dim=-1)
    return (teacher_logp.exp() * (teacher_logp - student)).sum()


__all__ = ["KLPositions", "check_positions", "kl_sum", "next_token_logits", "right_align", "scored_positions",
           "teacher_logprobs"]
