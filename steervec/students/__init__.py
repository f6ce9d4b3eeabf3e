"""Students: how a copy of the base model is parameterised (methods), attached, trained
(any optimiser of :mod:`steervec.core.optim`, loss masks, stored or online soft distillation)
and checkpointed.
"""

from steervec.students.distill import OnlineTeacher
from steervec.students.heldout import heldout_loss
from steervec.students.methods import FullFinetune, LoRA, VectorStudent
from steervec.students.student import Student
from steervec.students.train import CheckpointEvent, NonFiniteLossError, TrainConfig, train_student

__all__ = [
    "CheckpointEvent",
    "FullFinetune",
    "LoRA",
    "NonFiniteLossError",
    "TrainConfig",
    "OnlineTeacher",
    "Student",
    "VectorStudent",
    "heldout_loss",
    "train_student",
]
