"""Measurements of a model or a student: the trait (Δlog P, panel log-odds, sampling rates), the
alignment of a student's learned shift with a teacher vector (raw and control-subtracted, against
one vector or a matrix of trait vectors), and the seed-level statistics verdicts rest on.
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
from steervec.metrics.alignment_claims import alignment_verdict
from steervec.metrics.cosine_matrix import CosineMatrix, alignment_matrix, cosine_matrix
from steervec.metrics.evaluate import (
    TraitEval,
    aggregate,
    evaluate_trait,
    is_hit,
    mean_ci,
    sample_answers,
)
from steervec.metrics.length import LengthRegression, length_regression
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
from steervec.metrics.shifts import (
    ControlledShifts,
    ShiftCosines,
    controlled_shifts,
    seed_t_interval,
)
from steervec.metrics.stats import (
    Equivalence,
    Interval,
    Verdict,
    equivalence,
    hierarchical_bootstrap,
    min_detectable_effect,
    seeds_needed,
    t_interval,
    verdict,
)
from steervec.metrics.trait import (
    PanelScore,
    TraitScore,
    panel_log_odds,
    spellings,
    target_sequences,
    trait_logprob,
)

__all__ = [
    "Equivalence",
    "Interval",
    "PanelScore",
    "Verdict",
    "equivalence",
    "hierarchical_bootstrap",
    "min_detectable_effect",
    "seeds_needed",
    "t_interval",
    "verdict",
    "AlignmentTracker",
    "ControlledShifts",
    "CosineMatrix",
    "GradientAlignment",
    "KLRecovery",
    "LayerAlignment",
    "LengthRegression",
    "ShiftCosines",
    "OutputMetric",
    "TraitEval",
    "TraitScore",
    "VectorRecovery",
    "aggregate",
    "alignment_matrix",
    "alignment_verdict",
    "controlled_shifts",
    "cosine_matrix",
    "distillation_kl",
    "evaluate_trait",
    "gradient_alignment",
    "is_hit",
    "layer_alignment",
    "length_regression",
    "mean_ci",
    "necessity",
    "panel_log_odds",
    "output_metric",
    "planted_vector",
    "pooled_difference",
    "row_projections",
    "rows_to_reach",
    "sample_answers",
    "seed_t_interval",
    "shift_recovery",
    "spellings",
    "student_shift",
    "sufficiency",
    "target_sequences",
    "trait_logprob",
    "vector_recovery",
]
