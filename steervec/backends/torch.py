"""The default backend: plain PyTorch forward hooks (steervec.core.hooks)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from steervec.backends.base import RunOutput
from steervec.core.hooks import Intervention, intervene, record
from steervec.core.model import LanguageModel
from steervec.core.positions import mask_position_ids


@dataclass
class TorchBackend:
    """Interventions as forward hooks on the decoder blocks of the HF model."""

    lm: LanguageModel
    name: str = "torch"

    def run(self, input_ids: Tensor, attention_mask: Tensor, interventions: Sequence[Intervention] = (),
            record_layers: Sequence[int] = (), grad: bool = False) -> RunOutput:
        ctx = torch.enable_grad() if grad else torch.no_grad()
        with ctx, intervene(self.lm, interventions), record(self.lm, list(record_layers), detach=not grad) as rec:
            logits = self.lm.model(input_ids=input_ids, attention_mask=attention_mask,
                                   position_ids=mask_position_ids(attention_mask), use_cache=False).logits
        return RunOutput(logits, {x: rec[x] for x in record_layers})

    def generate(self, input_ids: Tensor, attention_mask: Tensor, interventions: Sequence[Intervention] = (),
                 **generate_kwargs: Any) -> Tensor:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            stack.enter_context(intervene(self.lm, interventions))
            return self.lm.generate(input_ids=input_ids, attention_mask=attention_mask, **generate_kwargs)
