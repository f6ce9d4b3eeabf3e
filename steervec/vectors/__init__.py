"""Vectors that approximate a system prompt: mean differences, trait vectors against a named
baseline (and how much of them is about the trait), fits by KL to the prompted model, their
reports, and layer x alpha sweeps.
"""

from steervec.vectors.baselines import (
    Baseline,
    ConditionMeans,
    matched,
    no_system,
    other_prompt,
    template_default,
    trait_vector,
    trait_vectors,
)
from steervec.vectors.fit import FitResult, FitSplit, fit_split, fit_steering_vector
from steervec.vectors.mean_diff import mean_difference_vector
from steervec.vectors.recovery import TraitReference, trait_recovery, trait_reference
from steervec.vectors.report import FitReport, TraitRecovery
from steervec.vectors.sweep import (
    FitSweepResult,
    SweepResult,
    SweepRow,
    passes_gates,
    split_halves,
    sweep_fit_layers,
    sweep_layers_alpha,
)
from steervec.vectors.trait_matrix import (
    TraitDecomposition,
    TraitMatrices,
    cross_trait_matrix,
    decompose_trait,
)

__all__ = [
    "Baseline",
    "ConditionMeans",
    "FitReport",
    "FitResult",
    "FitSplit",
    "FitSweepResult",
    "SweepResult",
    "SweepRow",
    "TraitDecomposition",
    "TraitMatrices",
    "TraitRecovery",
    "TraitReference",
    "cross_trait_matrix",
    "decompose_trait",
    "fit_split",
    "fit_steering_vector",
    "matched",
    "mean_difference_vector",
    "no_system",
    "other_prompt",
    "passes_gates",
    "split_halves",
    "sweep_fit_layers",
    "sweep_layers_alpha",
    "template_default",
    "trait_recovery",
    "trait_reference",
    "trait_vector",
    "trait_vectors",
]
