"""TransformerLens 4 backend: interventions through the bridge's ``blocks.{L}.hook_out`` hook points.

``TransformerBridge.boot_transformers(name, hf_model=..., tokenizer=...)`` wraps an
already-loaded model offline by replacing its modules *in place* (embedding, blocks, final
norm, rotary embedding, unembedding) with bridge wrappers. Two traps, measured here
(transformers 5.24, TransformerLens 4.3): booting switches the shared model to eager
attention, and with the wrappers in place HF ``generate`` with a KV cache produces garbage
(the cache stays empty: "I'm so glad you asked that." became "I-------"), also through
the original modules, which keep the bridge's hooks. So this backend sets the model's
attention implementation back to the user's choice, marks the steervec model so that
:meth:`~steervec.core.model.LanguageModel.generate` runs without the KV cache from then on
(each step recomputes the sequence: slower, exact), and hooks the bridge's blocks.

What its outputs equal: the bridge's attention wrappers compute attention eagerly, so results
match an *eager-attention* forward of the model, not the attention implementation the user
chose (``sdpa`` by default); they agree at real positions up to kernel rounding. That eager
attention is most of the bridge's cost: of the ≈ 1.46× a plain torch forward measured earlier
(2026-12-03, ``/work/shared/ENVIRONMENT.md``), ≈ 1.2× is eager attention itself. Positions are
numbered from each row's first real token, as in the other backends.
"""

from __future__ import annotations

import contextlib
import difflib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from steervec.backends.base import RunOutput
from steervec.core.errors import MissingPackageError
from steervec.core.hooks import Intervention, apply_intervention, track_positions
from steervec.core.model import LanguageModel
from steervec.core.positions import mask_position_ids, validate_positions


def _attn_impl(model: Any) -> str | None:
    return getattr(model.config, "_attn_implementation", None)


def _set_attn_impl(model: Any, impl: str | None) -> None:
    if impl is None:
        return
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(impl)
    else:
        model.config._attn_implementation = impl


def boot_bridge(lm: LanguageModel) -> Any:
    """Wrap ``lm.model`` in a TransformerBridge offline, keeping the user's attention implementation."""
    try:
        from transformer_lens.model_bridge import TransformerBridge
    except ImportError as exc:
        raise MissingPackageError("the TransformerLens backend needs `pip install transformer-lens>=4`") from exc
    tok = lm.tokenizer
    if "name_or_path" not in tok.init_kwargs or not tok.init_kwargs["name_or_path"]:
        # the bridge rebuilds the tokenizer from name_or_path: give it a local copy
        folder = tempfile.mkdtemp(prefix="steervec-tok-")
        tok.save_pretrained(folder)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(folder)
    before = _attn_impl(lm.model)
    bridge = TransformerBridge.boot_transformers(
        str(tok.name_or_path), hf_model=lm.model, tokenizer=tok, device=str(lm.device)
    )
    _set_attn_impl(lm.model, before)
    from steervec.core.model import find_layers

    lm.layers = find_layers(lm.model)  # the bridge replaced the blocks in place
    lm.info["kv_cache_broken"] = "a TransformerBridge wraps this model's modules"
    return bridge


def hook_name(bridge: Any, layer: int) -> str:
    """The bridge's hook point for the output of block ``layer``; unknown names list near matches."""
    name = f"blocks.{layer}.hook_out"
    if name not in bridge.hook_dict:
        near = difflib.get_close_matches(name, list(bridge.hook_dict), n=5)
        raise KeyError(f"TransformerLens hook {name!r} does not exist; near matches: {near}")
    return name


@dataclass
class TransformerLensBackend:
    """Interventions as TransformerLens hooks on a bridge over the steervec model's modules."""

    lm: LanguageModel
    bridge: Any
    name: str = "transformer_lens"
    _prompt_length: int | None = None

    @classmethod
    def boot(cls, lm: LanguageModel) -> TransformerLensBackend:
        return cls(lm, boot_bridge(lm))

    def hook(self, name: str) -> Any:
        if name not in self.bridge.hook_dict:
            near = difflib.get_close_matches(name, list(self.bridge.hook_dict), n=5)
            raise KeyError(f"TransformerLens hook {name!r} does not exist; near matches: {near}")
        return self.bridge.hook_dict[name]

    @contextlib.contextmanager
    def _hooks(self, interventions: Sequence[Intervention], record_layers: Sequence[int],
               store: dict[int, list[Tensor]], grad: bool) -> Iterator[None]:
        items = [Intervention(self.lm.check_layer(i.layer), i.operator, validate_positions(i.positions))
                 for i in interventions]
        with track_positions(self.lm, self._prompt_length) as tracker:
            added = []
            try:
                for item in items:
                    point = self.hook(hook_name(self.bridge, item.layer))
                    point.add_hook(self._edit(tracker, item))
                    added.append(point)
                for layer in record_layers:
                    point = self.hook(hook_name(self.bridge, layer))
                    point.add_hook(self._save(store, layer, grad))
                    added.append(point)
                yield
            finally:
                for point in added:
                    point.remove_hooks()

    @staticmethod
    def _edit(tracker: Any, item: Intervention) -> Callable[..., Any]:
        def fn(hidden: Tensor, hook: Any) -> Tensor | None:
            return apply_intervention(item, hidden, tracker.current(hidden))

        return fn

    @staticmethod
    def _save(store: dict[int, list[Tensor]], layer: int, grad: bool) -> Callable[..., None]:
        def fn(hidden: Tensor, hook: Any) -> None:
            store.setdefault(layer, []).append(hidden if grad else hidden.detach())

        return fn

    def run(self, input_ids: Tensor, attention_mask: Tensor, interventions: Sequence[Intervention] = (),
            record_layers: Sequence[int] = (), grad: bool = False) -> RunOutput:
        store: dict[int, list[Tensor]] = {}
        ctx = torch.enable_grad() if grad else torch.no_grad()
        with ctx, self._hooks(interventions, record_layers, store, grad):
            logits = self.lm.model(input_ids=input_ids, attention_mask=attention_mask,
                                   position_ids=mask_position_ids(attention_mask), use_cache=False).logits
        return RunOutput(logits, {x: torch.cat(v, 1) for x, v in store.items()})

    def generate(self, input_ids: Tensor, attention_mask: Tensor, interventions: Sequence[Intervention] = (),
                 **generate_kwargs: Any) -> Tensor:
        generate_kwargs["use_cache"] = False  # the bridged blocks leave HF's KV cache empty
        self._prompt_length = input_ids.shape[1]
        try:
            with torch.no_grad(), self._hooks(interventions, (), {}, False):
                return self.lm.generate(input_ids=input_ids, attention_mask=attention_mask, **generate_kwargs)
        finally:
            self._prompt_length = None
