"""Students: how a copy of the base model is parameterised (methods), attached, trained
(any optimiser, loss masks, stored or online soft distillation) and checkpointed.
"""

from steervec.students.distill import OnlineTeacher
from steervec.students.methods import FullFinetune, LoRA, VectorStudent
from steervec.students.optim import (
    OptimizerConfig,
    PreconditionedSGD,
    SignSGD,
    frozen_adam_preconditioner,
    make_optimizer,
    optimizer_ablation,
)
from steervec.students.student import Student
from steervec.students.train import CheckpointEvent, NonFiniteLossError, TrainConfig, train_student

__all__ = [
    "CheckpointEvent",
    "FullFinetune",
    "LoRA",
    "NonFiniteLossError",
    "TrainConfig",
    "OnlineTeacher",
    "OptimizerConfig",
    "PreconditionedSGD",
    "SignSGD",
    "Student",
    "VectorStudent",
    "frozen_adam_preconditioner",
    "make_optimizer",
    "optimizer_ablation",
    "train_student",
]
