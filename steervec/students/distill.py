"""Online soft distillation: the teacher's next-token distribution, computed in the training step.

``train_student(..., loss="kl_online", teacher=OnlineTeacher(teacher, positions))`` scores the
student by KL(teacher ‖ student) summed over the scored positions of each batch, the teacher
being the *same base model* run with its own interventions (a
:class:`~steervec.data.teachers.Teacher`: a system prompt, a steering vector — e.g. a
:func:`~steervec.data.teachers.planted_teacher` — or a projection). Nothing is stored: the
teacher forward runs under ``torch.no_grad()`` with the student switched off
(:meth:`~steervec.students.attach.Attachment.disabled`: vector hooks pass through, LoRA
adapters disabled, full fine-tuning swaps the base weights it keeps for unloading back in),
then the student forward runs with gradients.

The stored top-k path (``loss="kl"``, :func:`~steervec.data.divergence.attach_teacher_topk`)
stays for teachers too expensive to run at every step (another model, a long context).

Example:
    >>> teacher = planted_teacher(lm, random_direction(lm, 25, 48.0, seed=0), layer=25, alpha=3.0)  # doctest: +SKIP
    >>> student = train_student(lm, rows, VectorStudent(layers=[25]), optimizer="adam", lr=1.0,  # doctest: +SKIP
    ...                         loss="kl_online", teacher=OnlineTeacher(teacher, positions="all"))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from steervec.core.chat import System
from steervec.core.model import LanguageModel
from steervec.data.rows import TeacherRow
from steervec.data.soft_targets import KLPositions, check_positions, teacher_logprobs
from steervec.data.teachers import Teacher
from steervec.students.attach import Attachment


@dataclass(frozen=True)
class OnlineTeacher:
    """A teacher for ``loss="kl_online"`` and where its distribution is compared.

    Args:
        teacher: the :class:`~steervec.data.teachers.Teacher` (prompted, steered, planted, projected).
        positions: ``"response"`` (the response tokens, as the hard loss; loss masks apply) or
            ``"all"`` (every real position of the teacher-forced row, prompt included; the
            teacher must render rows as the student does, i.e. the same system condition).
    """

    teacher: Teacher
    positions: KLPositions = "response"

    def __post_init__(self) -> None:
        if not isinstance(self.teacher, Teacher):
            raise TypeError(f"OnlineTeacher needs a steervec Teacher, got {type(self.teacher).__name__}; build one "
                            "with planted_teacher / steered_teacher / animal_teacher")
        check_positions(self.positions)

    def to_dict(self) -> dict[str, Any]:
        """Provenance stored in the student's training arguments (and checked on resume)."""
        return {"teacher": self.teacher.to_dict(), "positions": self.positions}


def as_online_teacher(teacher: OnlineTeacher | Teacher | None) -> OnlineTeacher:
    """An :class:`OnlineTeacher` from a bare :class:`Teacher` (response positions) or itself."""
    if teacher is None:
        raise ValueError("loss='kl_online' needs teacher=...: e.g. teacher=OnlineTeacher(planted_teacher(lm, v, "
                         "layer=25, alpha=3.0), positions='all')")
    return teacher if isinstance(teacher, OnlineTeacher) else OnlineTeacher(teacher)


def online_targets(
    lm: LanguageModel, attachment: Attachment, online: OnlineTeacher, rows: Sequence[TeacherRow],
    target: Tensor, student_system: System,
) -> Tensor:
    """The teacher's log-probs ``[n_target, vocab]`` at the batch's scored positions, student off.

    Args:
        rows: the batch's rows, in batch order.
        target: the student's scored positions ``[batch, seq - 1]``.
    """
    was_training = lm.model.training
    lm.model.eval()  # the teacher is deterministic: no dropout in its forward
    try:
        with attachment.disabled():
            return teacher_logprobs(lm, online.teacher, [r.prompt for r in rows], [r.completion for r in rows],
                                    target, student_system, online.positions)
    finally:
        lm.model.train(was_training)


__all__ = ["OnlineTeacher", "as_online_teacher", "online_targets"]
