"""A student's loss on rows it was not trained on: what a learning rate is chosen by.

:func:`heldout_loss` scores the same loss :func:`~steervec.students.train.train_student` trains
(cross-entropy on the teacher's response tokens: completion and end-of-turn), as a mean per token
over held-out rows, with the student attached and nothing updated. Pair it with
:func:`steervec.data.datasets.heldout_split` (a prompt never lands on both sides).

Example:
    >>> train, held = heldout_split(rows, 0.25, seed=0)  # doctest: +SKIP
    >>> student = train_student(lm, train, method=VectorStudent([25]), lr=1e-2)  # doctest: +SKIP
    >>> heldout_loss(lm, student, held)  # doctest: +SKIP
    1.234
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch

from steervec.core.chat import System, encode_chat
from steervec.core.model import LanguageModel
from steervec.data.rows import TeacherRow
from steervec.students.student import Student
from steervec.students.train import batch_loss


@torch.no_grad()
def heldout_loss(lm: LanguageModel, student: Student | None, rows: Sequence[TeacherRow], system: System = None,
                 batch_size: int = 8) -> float:
    """Mean per-token cross-entropy of the student (``None``: the base model) on ``rows``' response tokens.

    Args:
        lm: the base model the student was trained from.
        student: the trained student, attached for the call and detached after it.
        rows: held-out teacher rows.
        system: the student's system condition (as in training).
        batch_size: rows per forward (does not change the value beyond float rounding).
    """
    if not rows:
        raise ValueError("no held-out rows: pass at least one TeacherRow")
    was_training = lm.model.training
    lm.model.eval()
    total, count = 0.0, 0
    try:
        context: Any = student.applied(lm) if student is not None else contextlib.nullcontext()
        with context:
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                batch = encode_chat(lm, [r.prompt for r in chunk], system, [r.completion for r in chunk])
                summed, n = batch_loss(lm, batch.input_ids, batch.attention_mask, batch.response_mask[:, 1:])
                total += float(summed)
                count += n
    finally:
        lm.model.train(was_training)
    return total / max(count, 1)


__all__ = ["heldout_loss"]
