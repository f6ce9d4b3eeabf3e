"""Measurements of a model or a student: the trait (Δlog P, sampling rates), the alignment of
a student's learned shift with a teacher vector, and the seed-level statistics verdicts rest on.
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
    "GradientAlignment",
    "LayerAlignment",
    "TraitEval",
    "TraitScore",
    "aggregate",
    "evaluate_trait",
    "gradient_alignment",
    "is_hit",
    "layer_alignment",
    "mean_ci",
    "necessity",
    "panel_log_odds",
    "pooled_difference",
    "row_projections",
    "sample_answers",
    "spellings",
    "student_shift",
    "sufficiency",
    "target_sequences",
    "trait_logprob",
]
