"""The core every layer builds on: the model and its adapters, chat templates, positions, hooks,
activations, the SteeringVector type, atomic file writes and the library's errors.

Nothing here imports from another steervec subpackage.
"""

from steervec.core.activations import mean_activations
from steervec.core.chat import (
    TEMPLATE_DEFAULT,
    ChatBatch,
    TemplateInfo,
    describe_system,
    encode_chat,
    render_chat,
    system_from_label,
    template_info,
)
from steervec.core.errors import (
    ComparisonError,
    CorruptFileError,
    InputError,
    MissingPackageError,
    ModelMismatchError,
    OutputPathError,
    PositionError,
    SteervecError,
)
from steervec.core.fingerprint import Fingerprint
from steervec.core.hooks import (
    Intervention,
    Recording,
    add_operator,
    intervene,
    project_out_operator,
    record,
    replace_operator,
)
from steervec.core.model import LanguageModel, as_language_model, cache_dir, load_model, wrap_model
from steervec.core.optim import (
    OptimizerConfig,
    PreconditionedSGD,
    SignSGD,
    frozen_adam_preconditioner,
    make_optimizer,
    optimizer_ablation,
)
from steervec.core.steering_vector import SteeringVector

__all__ = [
    "OptimizerConfig",
    "PreconditionedSGD",
    "SignSGD",
    "frozen_adam_preconditioner",
    "make_optimizer",
    "optimizer_ablation",
    "describe_system",
    "system_from_label",
    "ChatBatch",
    "ComparisonError",
    "CorruptFileError",
    "Fingerprint",
    "InputError",
    "Intervention",
    "LanguageModel",
    "MissingPackageError",
    "ModelMismatchError",
    "OutputPathError",
    "PositionError",
    "Recording",
    "SteeringVector",
    "SteervecError",
    "TEMPLATE_DEFAULT",
    "TemplateInfo",
    "add_operator",
    "as_language_model",
    "cache_dir",
    "encode_chat",
    "intervene",
    "load_model",
    "mean_activations",
    "project_out_operator",
    "record",
    "render_chat",
    "replace_operator",
    "template_info",
    "wrap_model",
]
