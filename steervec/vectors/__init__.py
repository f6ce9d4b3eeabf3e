"""Vectors that approximate a system prompt: mean differences, fits by KL to the prompted model,
their reports, and layer x alpha sweeps.
"""

from steervec.vectors.fit import FitResult, fit_steering_vector
from steervec.vectors.mean_diff import mean_difference_vector
from steervec.vectors.recovery import TraitReference, trait_recovery, trait_reference
from steervec.vectors.report import FitReport, TraitRecovery
from steervec.vectors.sweep import (
    FitSweepResult,
    SweepResult,
    SweepRow,
    sweep_fit_layers,
    sweep_layers_alpha,
)

__all__ = [
    "FitReport",
    "FitResult",
    "FitSweepResult",
    "SweepResult",
    "SweepRow",
    "TraitRecovery",
    "TraitReference",
    "fit_steering_vector",
    "mean_difference_vector",
    "sweep_fit_layers",
    "sweep_layers_alpha",
    "trait_recovery",
    "trait_reference",
]
