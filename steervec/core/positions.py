"""Which token positions an intervention touches.

A position spec is one of:

* ``"all"`` — every real (non-padding) token, prompt and generated;
* ``"prompt"`` — the tokens given to the model (the prefill of a ``generate`` call);
* ``"generated"`` (alias ``"response"``) — tokens produced by decode steps of ``generate``;
* ``"last_prompt"`` — the last prompt token of each row;
* a boolean tensor ``[batch, seq]`` — e.g. ``batch.response_mask`` for teacher-forced rows;
  positions past its length (generated tokens) are left alone;
* a sequence of ints — absolute positions; negative ones count back from the end of the
  prompt (``-1`` is the last prompt token).

Padding positions are never touched, whatever the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor

KEYWORDS = ("all", "prompt", "generated", "response", "last_prompt")
PositionSpec: TypeAlias = "str | Tensor | Sequence[int]"


def validate_positions(positions: PositionSpec) -> PositionSpec:
    """Check a position spec early, so that bad input fails before any forward pass."""
    if isinstance(positions, str):
        if positions not in KEYWORDS:
            raise ValueError(
                f"unknown positions keyword {positions!r}: use one of {list(KEYWORDS)}, "
                "a bool mask [batch, seq] or a list of int positions"
            )
        return positions
    if isinstance(positions, Tensor):
        if positions.dtype != torch.bool or positions.dim() != 2:
            raise ValueError(
                f"a positions mask must be a bool tensor [batch, seq], got dtype "
                f"{positions.dtype} and shape {tuple(positions.shape)}; e.g. pass batch.response_mask"
            )
        return positions
    if isinstance(positions, Sequence) and all(
        isinstance(p, int) and not isinstance(p, bool) for p in positions
    ):
        return list(positions)
    raise TypeError(
        f"positions must be a keyword {list(KEYWORDS)}, a bool tensor or a list of ints, "
        f"got {type(positions).__name__}"
    )


@dataclass
class StepView:
    """The tokens of one forward call as seen at a layer.

    Attributes:
        offset: absolute position of the first token of this call (cache length before it).
        length: number of tokens in this call.
        prompt_length: padded length of the prompt (the first call of the sequence).
        real: ``[batch, length]`` bool, False on padding.
    """

    offset: int
    length: int
    prompt_length: int
    real: Tensor

    @property
    def absolute(self) -> Tensor:
        return torch.arange(self.offset, self.offset + self.length, device=self.real.device)


def resolve_positions(spec: PositionSpec, view: StepView) -> Tensor:
    """``[batch, length]`` bool mask of the positions ``spec`` selects in this call."""
    pos = view.absolute
    batch = view.real.shape[0]
    if isinstance(spec, str):
        if spec == "all":
            sel = torch.ones_like(view.real)
        elif spec == "prompt":
            sel = (pos < view.prompt_length).expand(batch, -1)
        elif spec in ("generated", "response"):
            sel = (pos >= view.prompt_length).expand(batch, -1)
        else:  # last_prompt
            sel = (pos == view.prompt_length - 1).expand(batch, -1)
    elif isinstance(spec, Tensor):
        mask = spec.to(view.real.device)
        if mask.shape[0] != batch:
            if batch % mask.shape[0]:
                raise ValueError(
                    f"positions mask has batch {mask.shape[0]} but the model sees batch "
                    f"{batch}: pass a mask with one row per input row"
                )
            mask = mask.repeat_interleave(batch // mask.shape[0], dim=0)
        if view.offset == 0 and mask.shape[1] != view.length:
            raise ValueError(
                f"positions mask has {mask.shape[1]} columns but the input has {view.length} "
                "tokens: build the mask from the same batch (e.g. batch.response_mask)"
            )
        inside = pos < mask.shape[1]
        sel = torch.zeros_like(view.real)
        if inside.any():
            cols = pos[inside]
            sel[:, inside] = mask[:, cols]
    else:
        wanted = torch.tensor(
            [p if p >= 0 else view.prompt_length + p for p in spec], device=pos.device
        )
        sel = torch.isin(pos, wanted).expand(batch, -1)
    return sel & view.real
