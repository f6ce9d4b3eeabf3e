"""Logits at chosen positions: one full forward (:func:`next_token_logits`), or only the layers
above an edited one (:class:`SuffixForward`, the speed trick behind :func:`fit_steering_vector`).

:func:`decoder_hidden` (the decoder's last hidden state, final norm applied) and :func:`head_logits`
(the output head on selected hidden states) are the one "decoder, then head at selected positions"
forward: the trainer's loss, the online teacher, the divergence masks and the planted-vector
metrics all run it.

A vector added at the output of block ``L`` leaves blocks ``0..L`` unchanged, so their
output can be computed once and cached. Each optimisation step then runs blocks
``L+1..`` plus the final norm and the unembedding, and only at the positions whose
logits are needed. The keyword arguments each block received in a full forward
(attention mask, rotary embeddings, position ids) are captured once and replayed, so the
suffix reproduces the model's own computation; :meth:`SuffixForward.max_error` compares it
with a full forward through :func:`~steervec.core.hooks.intervene` (tests check it is exact).

Example:
    >>> suffix = SuffixForward.build(lm, batch, first_layer=24)  # doctest: +SKIP
    >>> logits = suffix.logits({24: vector}, add_mask=batch.attention_mask.bool(),  # doctest: +SKIP
    ...                        logit_mask=batch.response_mask)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from steervec.core.hooks import Intervention, add_operator, intervene, split_output
from steervec.core.model import LanguageModel
from steervec.core.positions import mask_position_ids

_NORM_NAMES = ("norm", "final_layernorm", "ln_f", "final_layer_norm")


def final_norm(lm: LanguageModel) -> nn.Module:
    """The normalisation applied after the last block (``model.model.norm`` for Llama/Qwen2)."""
    for name in _NORM_NAMES:
        module = getattr(lm.decoder, name, None)
        if isinstance(module, nn.Module):
            return module
    raise NotImplementedError(
        f"cannot find the final norm of {type(lm.model).__name__} (looked for "
        f"{', '.join(_NORM_NAMES)} on the decoder): pass cached=False to fit with full forwards"
    )


def decoder_hidden(lm: LanguageModel, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """``[batch, seq, d_model]``: the decoder's last hidden state, final norm applied.

    One forward of ``lm.decoder`` without the KV cache, position ids counting real tokens only
    (:func:`~steervec.core.positions.mask_position_ids`, as ``ChatBatch.model_inputs``), so each
    left-padded row is computed as it would be alone. Hooks on ``lm`` apply; gradients flow.
    """
    out = lm.decoder(input_ids=input_ids, attention_mask=attention_mask,
                     position_ids=mask_position_ids(attention_mask), use_cache=False)
    hidden: Tensor = out[0] if isinstance(out, tuple) else out.last_hidden_state
    return hidden


def head_logits(lm: LanguageModel, hidden: Tensor) -> Tensor:
    """float32 logits ``[..., vocab]`` of ``lm``'s output head on final hidden states ``[..., d_model]``
    (from :func:`decoder_hidden`; select positions first, the head is the costly part)."""
    model: Any = lm.model
    logits: Tensor = model.get_output_embeddings()(hidden)
    return logits.float()


def next_token_logits(lm: LanguageModel, input_ids: Tensor, attention_mask: Tensor, target: Tensor) -> Tensor:
    """Logits ``[n_target, vocab]`` (float32) at the scored positions of one forward, row-major.

    Args:
        lm: the model (hooks and adapters on it apply).
        input_ids: ``[batch, seq]``, left-padded.
        attention_mask: ``[batch, seq]``, left-padded.
        target: ``[batch, seq - 1]`` bool; position ``t`` is scored on its prediction of token
            ``t + 1`` (see :func:`steervec.data.soft_targets.scored_positions`).
    """
    return head_logits(lm, decoder_hidden(lm, input_ids, attention_mask)[:, :-1][target])


def _cast(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.to(dtype)
    if isinstance(value, tuple):
        return tuple(_cast(v, dtype) for v in value)
    if isinstance(value, list):
        return [_cast(v, dtype) for v in value]
    if isinstance(value, dict):
        return {k: _cast(v, dtype) for k, v in value.items()}
    return value


@dataclass
class SuffixModules:
    """The modules above a layer, possibly copied to another dtype (e.g. bfloat16)."""

    first_layer: int
    blocks: list[nn.Module]
    norm: nn.Module
    unembed: nn.Module
    dtype: torch.dtype

    @classmethod
    def of(cls, lm: LanguageModel, first_layer: int, dtype: torch.dtype | None = None) -> SuffixModules:
        """Blocks ``first_layer+1..``, final norm and unembedding (copies when ``dtype`` differs)."""
        lm.check_layer(first_layer)
        blocks = list(lm.layers[first_layer + 1 :])
        norm, unembed = final_norm(lm), lm.model.get_output_embeddings()
        model_dtype = lm.dtype
        if dtype is None or dtype == model_dtype:
            return cls(first_layer, blocks, norm, unembed, model_dtype)
        blocks = [copy.deepcopy(b).to(dtype) for b in blocks]
        norm, unembed = copy.deepcopy(norm).to(dtype), copy.deepcopy(unembed).to(dtype)
        for module in (*blocks, norm, unembed):
            module.requires_grad_(False)
        return cls(first_layer, blocks, norm, unembed, dtype)


@dataclass
class SuffixForward:
    """Cached residual stream at ``first_layer`` for one batch, plus the replay arguments.

    Attributes:
        hidden: ``[batch, seq, d_model]`` output of block ``first_layer`` (no vector added).
        block_kwargs: the keyword arguments blocks ``first_layer+1..`` received.
        modules: the modules that are run per step.
    """

    hidden: Tensor
    block_kwargs: list[dict[str, Any]]
    modules: SuffixModules

    @classmethod
    @torch.no_grad()
    def build(
        cls, lm: LanguageModel, inputs: Mapping[str, Tensor], first_layer: int,
        modules: SuffixModules | None = None,
    ) -> SuffixForward:
        """Run one full forward of ``inputs`` and keep what the suffix needs."""
        modules = modules or SuffixModules.of(lm, first_layer)
        captured: dict[str, Any] = {"kwargs": []}

        def keep_hidden(module: nn.Module, args: Any, output: Any) -> None:
            captured["hidden"] = split_output(output)[0].detach()

        def keep_kwargs(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
            if len(args) > 1:
                raise NotImplementedError(
                    f"{type(module).__name__} takes positional arguments besides the hidden "
                    "state; pass cached=False to fit with full forwards"
                )
            captured["kwargs"].append(dict(kwargs))

        handles = [lm.layers[first_layer].register_forward_hook(keep_hidden)]
        for block in lm.layers[first_layer + 1 :]:
            handles.append(block.register_forward_pre_hook(keep_kwargs, with_kwargs=True))
        try:
            lm.model(**inputs, use_cache=False)
        finally:
            for handle in handles:
                handle.remove()
        kwargs = [_cast(k, modules.dtype) for k in captured["kwargs"]]
        return cls(captured["hidden"].to(modules.dtype), kwargs, modules)

    def with_modules(self, modules: SuffixModules) -> SuffixForward:
        """The same cache run by other modules (e.g. bfloat16 copies), cast to their dtype."""
        if modules.first_layer != self.modules.first_layer:
            raise ValueError(f"modules start above layer {modules.first_layer}, the cache at {self.modules.first_layer}")
        return SuffixForward(self.hidden.to(modules.dtype),
                             [_cast(k, modules.dtype) for k in self.block_kwargs], modules)

    def logits(
        self, vectors: Mapping[int, Tensor], add_mask: Tensor, logit_mask: Tensor
    ) -> Tensor:
        """``[n_selected, vocab]`` logits at ``logit_mask`` with ``vectors`` added at ``add_mask``.

        Args:
            vectors: ``{layer: [d_model]}``; every layer must be ``>= first_layer``.
            add_mask: ``[batch, seq]`` bool, where the vectors are added.
            logit_mask: ``[batch, seq]`` bool, where logits are computed (row-major order).
        """
        first = self.modules.first_layer
        if any(layer < first for layer in vectors):
            raise ValueError(f"vector layers {sorted(vectors)} lie below the cached layer {first}")
        where = add_mask.unsqueeze(-1).to(self.modules.dtype)
        hidden = self.hidden
        if first in vectors:
            hidden = hidden + where * vectors[first].to(self.modules.dtype)
        for offset, block in enumerate(self.modules.blocks):
            hidden = split_output(block(hidden, **self.block_kwargs[offset]))[0]
            layer = first + 1 + offset
            if layer in vectors:
                hidden = hidden + where * vectors[layer].to(self.modules.dtype)
        selected = self.modules.norm(hidden)[logit_mask]
        return self.modules.unembed(selected)


@torch.no_grad()
def full_forward_logits(
    lm: LanguageModel, inputs: Mapping[str, Tensor], vectors: Mapping[int, Tensor],
    add_mask: Tensor, logit_mask: Tensor,
) -> Tensor:
    """The reference for :meth:`SuffixForward.logits`: a full forward through steervec's hooks."""
    items = [Intervention(layer, add_operator(v), add_mask) for layer, v in vectors.items()]
    with intervene(lm, items):
        out = lm.model(**inputs, use_cache=False)
    return out.logits[logit_mask]


@torch.no_grad()
def max_error(
    suffix: SuffixForward, lm: LanguageModel, inputs: Mapping[str, Tensor], vectors: Mapping[int, Tensor],
    add_mask: Tensor, logit_mask: Tensor,
) -> float:
    """Largest absolute logit difference between the suffix and a full forward."""
    fast = suffix.logits(vectors, add_mask, logit_mask).float()
    full = full_forward_logits(lm, inputs, vectors, add_mask, logit_mask).float()
    return float((fast - full).abs().max())
