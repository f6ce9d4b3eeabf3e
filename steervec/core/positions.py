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

Absolute positions are the columns of the left-padded batch (prompt columns first, then one
per decode step), padding included; integer positions must lie inside the sequence when it
is known. Padding positions are never touched, whatever the spec.

The model's *position ids* are another thing: :func:`mask_position_ids` numbers each row's
real tokens from 0, so that a left-padded row is computed like the same row alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

import torch
from torch import Tensor

from steervec.core.errors import PositionError

PositionKeyword: TypeAlias = Literal["all", "prompt", "generated", "response", "last_prompt"]
"""The one vocabulary of positions, used by interventions, teachers, fits and mean activations."""
KEYWORDS: tuple[str, ...] = get_args(PositionKeyword)
PositionSpec: TypeAlias = "PositionKeyword | str | Tensor | Sequence[int]"


def mask_position_ids(attention_mask: Tensor, new_tokens: int | None = None) -> Tensor:
    """Position ids that count only real tokens: ``[batch, n]`` long.

    Each row's first real token gets position 0, whatever the left padding before it
    (padding gets 0 too; it is masked out of attention anyway). This is what HF
    ``generate``, TransformerLens and nnsight use; a plain HF forward without
    ``position_ids`` would count the padding instead.

    Args:
        attention_mask: ``[batch, seq]`` 1 on real tokens, 0 on padding; with a KV cache it
            covers the cached tokens and the new ones.
        new_tokens: return only the last ``new_tokens`` columns (the tokens of a cached
            decode step, which continue from each row's real length); all columns by default.
    """
    ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    return ids if new_tokens is None else ids[:, ids.shape[1] - new_tokens :]


def validate_positions(positions: PositionSpec) -> PositionSpec:
    """Check a position spec early, so that bad input fails before any forward pass."""
    if isinstance(positions, str):
        if positions not in KEYWORDS:
            raise PositionError(
                f"unknown positions keyword {positions!r}: use one of {list(KEYWORDS)}, "
                "a bool mask [batch, seq] or a list of int positions"
            )
        return positions
    if isinstance(positions, Tensor):
        if positions.dtype != torch.bool or positions.dim() != 2:
            raise PositionError(
                f"a positions mask must be a bool tensor [batch, seq], got dtype "
                f"{positions.dtype} and shape {tuple(positions.shape)}; e.g. pass batch.response_mask"
            )
        return positions
    if isinstance(positions, Sequence) and all(
        isinstance(p, int) and not isinstance(p, bool) for p in positions
    ):
        if not positions:
            raise PositionError("an empty list of positions selects nothing: pass at least one position")
        return [int(p) for p in positions]
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
        decoding: more calls may follow (generation with a KV cache, or without a cache
            but with a known prompt length), so positions past this call are not out of range.
    """

    offset: int
    length: int
    prompt_length: int
    real: Tensor
    decoding: bool = False

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
                raise PositionError(
                    f"positions mask has batch {mask.shape[0]} but the model sees batch "
                    f"{batch}: pass a mask with one row per input row"
                )
            mask = mask.repeat_interleave(batch // mask.shape[0], dim=0)
        if view.offset == 0 and mask.shape[1] != view.prompt_length:
            raise PositionError(
                f"positions mask has {mask.shape[1]} columns but the input has {view.prompt_length} "
                "tokens: build the mask from the same batch (e.g. batch.response_mask)"
            )
        inside = pos < mask.shape[1]
        sel = torch.zeros_like(view.real)
        if inside.any():
            cols = pos[inside]
            sel[:, inside] = mask[:, cols]
    else:
        sel = torch.isin(pos, _int_positions(spec, view)).expand(batch, -1)
    return sel & view.real


def _int_positions(spec: Sequence[int], view: StepView) -> Tensor:
    """Absolute positions of an int spec; out-of-range ones are refused on the prompt call."""
    wanted = [p if p >= 0 else view.prompt_length + p for p in spec]
    if view.offset == 0:
        # the prompt call: negative positions must land in the prompt, and with no decode
        # step to come (a plain forward) non-negative ones must land in the sequence too
        low = [p for p, w in zip(spec, wanted, strict=True) if w < 0]
        high = [] if view.decoding else [p for p in wanted if p >= view.length]
        if low or high:
            raise PositionError(
                f"positions {low + high} are out of range for a sequence of {view.length} tokens: "
                f"use 0..{view.length - 1}, or -{view.prompt_length}..-1 counted back from the end "
                "of the prompt"
            )
    return torch.tensor(wanted, device=view.real.device)
