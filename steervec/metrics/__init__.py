"""Measurements of a model or a student: the trait (Δlog P, sampling rates) and the alignment of
a student's learned shift with a teacher vector, and the recovery of a planted vector.
"""

from steervec.metrics.alignment import (
    AlignmentTracker,
    GradientAlignment,
    LayerAlignment,
    gradient_alignment,
    layer_alignment,
    necessity,
    pooled_difference,
    row_projections,
    student_shift,
    sufficiency,
)
from steervec.metrics.evaluate import (
    TraitEval,
    aggregate,
    evaluate_trait,
    is_hit,
    mean_ci,
    sample_answers,
)
from steervec.metrics.planted import (
    KLRecovery,
    OutputMetric,
    VectorRecovery,
    distillation_kl,
    output_metric,
    planted_vector,
    rows_to_reach,
    shift_recovery,
    vector_recovery,
)
from steervec.metrics.trait import TraitScore, spellings, target_sequences, trait_logprob

__all__ = [
    "AlignmentTracker",
    "GradientAlignment",
    "KLRecovery",
    "LayerAlignment",
    "OutputMetric",
    "TraitEval",
    "TraitScore",
    "VectorRecovery",
    "aggregate",
    "distillation_kl",
    "evaluate_trait",
    "gradient_alignment",
    "is_hit",
    "layer_alignment",
    "mean_ci",
    "necessity",
    "output_metric",
    "planted_vector",
    "pooled_difference",
    "row_projections",
    "rows_to_reach",
    "sample_answers",
    "shift_recovery",
    "spellings",
    "student_shift",
    "sufficiency",
    "target_sequences",
    "trait_logprob",
    "vector_recovery",
]
