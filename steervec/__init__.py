"""steervec: steering vectors for mechanistic-interpretability research on subliminal learning.

Layer convention everywhere: layer ``L`` is the output of decoder block ``L`` (0-based).
"""

from . import plots
from .alignment import (
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
from .backends import Backend, RunOutput, get_backend
from .chat import TEMPLATE_DEFAULT, ChatBatch, TemplateInfo, encode_chat, render_chat, template_info
from .constrained import NumberListConstraint
from .datasets import DatasetReport, dedup, generate_dataset, heldout_split, load_dataset
from .divergence import DivergenceResult, TeacherCondition, attach_teacher_topk, divergence_masks
from .errors import CorruptFileError, MissingPackageError, ModelMismatchError, SteervecError
from .evaluate import TraitEval, aggregate, evaluate_trait, is_hit, mean_ci, sample_answers
from .experiment import Experiment, ExperimentResult, StudentSpec, refresh_run, run_experiment
from .fingerprint import Fingerprint
from .fit import FitResult, fit_steering_vector
from .fit_report import FitReport, TraitRecovery
from .fragility import mix_rows, paraphrase_prompt, paraphrase_rows
from .hooks import (
    Intervention,
    Recording,
    add_operator,
    intervene,
    project_out_operator,
    record,
    replace_operator,
)
from .mean_diff import mean_activations, mean_difference_vector
from .model import LanguageModel, as_language_model, cache_dir, load_model, wrap_model
from .number_filter import FilterConfig, FilterReport, FilterResult, check_numbers, filter_report
from .numbers import NumberPrompt, NumberPromptConfig, number_prompts, prompt_capacity
from .optim import (
    OptimizerConfig,
    PreconditionedSGD,
    SignSGD,
    frozen_adam_preconditioner,
    make_optimizer,
    optimizer_ablation,
)
from .plots import save_figure
from .questions import (
    FAVOURITE_ANIMAL_QUESTIONS,
    LEAST_FAVOURITE_ANIMAL_QUESTIONS,
    OFFTOPIC_QUESTIONS,
    split_questions,
    with_number_prefix,
)
from .results import Claim, archive_runs, write_results
from .sampler import Sample, SamplingParams, sample
from .steering_vector import SteeringVector
from .students import FullFinetune, LoRA, Student, VectorStudent
from .sweep import FitSweepResult, SweepResult, SweepRow, sweep_fit_layers, sweep_layers_alpha
from .teachers import (
    Teacher,
    animal_lover_prompt,
    animal_teacher,
    control_teacher,
    projected_teacher,
    steered_teacher,
)
from .train import CheckpointEvent, NonFiniteLossError, train_student
from .trait import TraitScore, spellings, target_sequences, trait_logprob
from .trait_recovery import TraitReference, trait_recovery, trait_reference

__version__ = "0.1.0"

__all__ = [
    "Claim",
    "Experiment",
    "ExperimentResult",
    "StudentSpec",
    "refresh_run",
    "run_experiment",
    "write_results",
    "archive_runs",
    "AlignmentTracker",
    "plots",
    "save_figure",
    "Backend",
    "GradientAlignment",
    "LayerAlignment",
    "RunOutput",
    "TraitEval",
    "aggregate",
    "as_language_model",
    "evaluate_trait",
    "get_backend",
    "gradient_alignment",
    "is_hit",
    "layer_alignment",
    "mean_ci",
    "necessity",
    "pooled_difference",
    "row_projections",
    "sample_answers",
    "student_shift",
    "sufficiency",
    "TEMPLATE_DEFAULT",
    "ChatBatch",
    "CorruptFileError",
    "Fingerprint",
    "Intervention",
    "LanguageModel",
    "MissingPackageError",
    "ModelMismatchError",
    "Recording",
    "SteeringVector",
    "SteervecError",
    "TemplateInfo",
    "TraitScore",
    "__version__",
    "add_operator",
    "cache_dir",
    "encode_chat",
    "intervene",
    "load_model",
    "mean_activations",
    "mean_difference_vector",
    "project_out_operator",
    "record",
    "render_chat",
    "replace_operator",
    "spellings",
    "target_sequences",
    "template_info",
    "trait_logprob",
    "wrap_model",
    "DivergenceResult",
    "TeacherCondition",
    "attach_teacher_topk",
    "divergence_masks",
    "mix_rows",
    "paraphrase_prompt",
    "paraphrase_rows",
    "OptimizerConfig",
    "SignSGD",
    "make_optimizer",
    "optimizer_ablation",
    "PreconditionedSGD",
    "frozen_adam_preconditioner",
    "FullFinetune",
    "LoRA",
    "Student",
    "VectorStudent",
    "CheckpointEvent",
    "NonFiniteLossError",
    "train_student",
    "NumberListConstraint",
    "DatasetReport",
    "dedup",
    "generate_dataset",
    "heldout_split",
    "load_dataset",
    "FilterConfig",
    "FilterReport",
    "FilterResult",
    "check_numbers",
    "filter_report",
    "NumberPrompt",
    "NumberPromptConfig",
    "number_prompts",
    "prompt_capacity",
    "Sample",
    "SamplingParams",
    "sample",
    "Teacher",
    "animal_lover_prompt",
    "animal_teacher",
    "control_teacher",
    "projected_teacher",
    "steered_teacher",
    "FitResult",
    "fit_steering_vector",
    "FitReport",
    "TraitRecovery",
    "FAVOURITE_ANIMAL_QUESTIONS",
    "LEAST_FAVOURITE_ANIMAL_QUESTIONS",
    "OFFTOPIC_QUESTIONS",
    "split_questions",
    "with_number_prefix",
    "FitSweepResult",
    "SweepResult",
    "SweepRow",
    "sweep_fit_layers",
    "sweep_layers_alpha",
    "TraitReference",
    "trait_recovery",
    "trait_reference",
]
