"""Backends: the same interventions through plain torch hooks, TransformerLens 4 or nnsight 0.8.

One contract (:class:`Backend`) with one small module per backend. Each can

* ``run`` a forward pass with interventions, recording layer outputs (under autograd
  when asked, so learnable vectors receive gradients), and
* ``generate`` with interventions, positions staying correct across decode steps.

Interventions are the same :class:`~steervec.core.hooks.Intervention` objects everywhere, so a
:class:`~steervec.core.steering_vector.SteeringVector` applies unchanged on each backend.
:func:`as_language_model` turns a TransformerLens bridge or an nnsight model into a
steervec :class:`~steervec.core.model.LanguageModel` over the same modules, so every public
steervec function accepts any of the three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from steervec.core.hooks import Intervention
from steervec.core.model import LanguageModel


@dataclass
class RunOutput:
    """Logits ``[batch, seq, vocab]`` and recorded layer outputs ``{layer: [batch, seq, d_model]}``."""

    logits: Tensor
    recorded: dict[int, Tensor] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """What every backend provides; ``lm`` is the steervec LanguageModel it serves."""

    name: str
    lm: LanguageModel

    def run(self, input_ids: Tensor, attention_mask: Tensor, interventions: Sequence[Intervention] = (),
            record_layers: Sequence[int] = (), grad: bool = False) -> RunOutput:
        """One forward pass with interventions; records the (edited) outputs of ``record_layers``."""
        ...

    def generate(self, input_ids: Tensor, attention_mask: Tensor, interventions: Sequence[Intervention] = (),
                 **generate_kwargs: Any) -> Tensor:
        """Token ids ``[batch, prompt + new]`` generated with interventions."""
        ...


__all__ = ["Backend", "RunOutput"]
