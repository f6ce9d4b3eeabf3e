"""steervec: steering vectors for mechanistic-interpretability research on subliminal learning.

The subpackages are the layers, each importing only from the ones before it:

* :mod:`steervec.core` — the model and its adapters, chat templates, positions, hooks,
  activations, :class:`SteeringVector`, atomic writes, errors;
* :mod:`steervec.backends` — the same interventions through torch, TransformerLens or nnsight;
* :mod:`steervec.data` — number prompts, the filter, teachers, resumable teacher datasets;
* :mod:`steervec.metrics` — the trait measure and the alignment of students with a vector;
* :mod:`steervec.vectors` — vectors that approximate a system prompt (mean differences, fits);
* :mod:`steervec.students` — vector, LoRA and fine-tuning students, and their trainer;
* :mod:`steervec.experiment` — a whole experiment as data, its run, cache, report and records;
* :mod:`steervec.plots` — paper figures.

This module re-exports the names a researcher reaches for first; everything else is
importable from its subpackage (``from steervec.data import heldout_split``).
Layer convention everywhere: layer ``L`` is the output of decoder block ``L`` (0-based).
"""

from steervec import plots
from steervec.core.activations import mean_activations
from steervec.core.chat import TEMPLATE_DEFAULT, encode_chat, render_chat, template_info
from steervec.core.errors import SteervecError
from steervec.core.hooks import Intervention, add_operator, intervene, record
from steervec.core.model import LanguageModel, as_language_model, load_model
from steervec.core.steering_vector import SteeringVector
from steervec.core.version import __version__ as __version__
from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.numbers import number_prompts
from steervec.data.teachers import (
    Teacher,
    animal_lover_prompt,
    control_teacher,
    projected_teacher,
    steered_teacher,
)
from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.run import run_experiment
from steervec.metrics.alignment import layer_alignment, student_shift
from steervec.metrics.evaluate import evaluate_trait
from steervec.metrics.trait import trait_logprob
from steervec.plots import save_figure
from steervec.students.methods import FullFinetune, LoRA, VectorStudent
from steervec.students.student import Student
from steervec.students.train import train_student
from steervec.vectors.fit import fit_steering_vector
from steervec.vectors.mean_diff import mean_difference_vector
from steervec.vectors.sweep import sweep_layers_alpha

__all__ = [
    # models and chat templates
    "load_model", "LanguageModel", "as_language_model", "TEMPLATE_DEFAULT", "template_info",
    "render_chat", "encode_chat",
    # steering vectors and interventions
    "SteeringVector", "Intervention", "intervene", "add_operator", "record", "mean_activations",
    # vectors that approximate a system prompt
    "mean_difference_vector", "fit_steering_vector", "sweep_layers_alpha",
    # teacher data
    "Teacher", "animal_lover_prompt", "control_teacher", "steered_teacher", "projected_teacher",
    "number_prompts", "generate_dataset", "load_dataset",
    # students
    "VectorStudent", "LoRA", "FullFinetune", "Student", "train_student",
    # measurements
    "trait_logprob", "evaluate_trait", "student_shift", "layer_alignment",
    # experiments and figures
    "Experiment", "StudentSpec", "run_experiment", "plots", "save_figure",
    "SteervecError",
]
