"""nnsight 0.8 backend: interventions written inside local ``trace`` / ``generate`` blocks.

The nnsight model wraps the same HF module as the steervec model. Under transformers 5 a
decoder layer's ``.output`` is a tensor. Remote execution on NDIF (``remote=True``) needs an
API key in ``NDIF_API_KEY``; without one the backend refuses before any network call.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from steervec.backends.base import RunOutput
from steervec.core.errors import MissingPackageError, ModelMismatchError, SteervecError
from steervec.core.hooks import Intervention, apply_intervention
from steervec.core.model import LanguageModel
from steervec.core.positions import StepView, mask_position_ids, validate_positions


def wrap_nnsight(lm: LanguageModel) -> Any:
    """An nnsight LanguageModel over ``lm.model`` (no copy, no download)."""
    try:
        import nnsight
    except ImportError as exc:
        raise MissingPackageError("the nnsight backend needs `pip install nnsight>=0.8`") from exc
    cls = getattr(nnsight, "TransformersModel", None) or nnsight.LanguageModel
    return cls(lm.model, tokenizer=lm.tokenizer)


def check_remote(remote: bool) -> None:
    """Refuse remote execution without an NDIF API key (no network call is made)."""
    if remote and not os.environ.get("NDIF_API_KEY"):
        raise SteervecError(
            "remote=True runs on NDIF and needs an API key: set NDIF_API_KEY (from login.ndif.us) "
            "or run locally with remote=False"
        )


def register_for_remote() -> list[str]:
    """Ship steervec's intervention code by value with NDIF requests (``nnsight.register``).

    NDIF's servers do not have steervec installed; the operators and position logic that
    run inside a remote trace must travel with the request. Returns the registered names.
    """
    import nnsight

    from steervec.core import hooks, positions

    names = []
    for module in (hooks, positions):
        nnsight.register(module)
        names.append(module.__name__)
    return names


def _apply(items: Sequence[Intervention], layer: int, hidden: Tensor, view: StepView) -> Tensor:
    """``hidden`` after every intervention at ``layer``, in the order given."""
    for item in items:
        if item.layer == layer:
            new = apply_intervention(item, hidden, view)
            hidden = hidden if new is None else new
    return hidden


@dataclass
class NNsightBackend:
    """Interventions as nnsight trace edits on ``envoy.<layers>[L].output``."""

    lm: LanguageModel
    nn_model: Any
    remote: bool = False
    name: str = "nnsight"

    @classmethod
    def wrap(cls, lm: LanguageModel, nn_model: Any = None, remote: bool = False) -> NNsightBackend:
        check_remote(remote)
        if remote:
            register_for_remote()
        nn_model = nn_model if nn_model is not None else wrap_nnsight(lm)
        if vars(nn_model).get("_module") is not lm.model:
            from steervec.core.fingerprint import fingerprint_model
            from steervec.core.model import find_layers

            inner = vars(nn_model)["_module"]
            fp = fingerprint_model(inner, find_layers(inner), lm.d_model)
            if fp != lm.fingerprint:
                raise ModelMismatchError(
                    f"the nnsight model wraps {fp.short} but steervec's model is {lm.fingerprint.short}"
                )
        return cls(lm, nn_model, remote)

    def _layer_envoys(self) -> Any:
        envoy = self.nn_model
        path = self._layers_path()
        for part in path.split("."):
            envoy = getattr(envoy, part)
        return envoy

    def _layers_path(self) -> str:
        from steervec.core.model import find_layers

        model = self.lm.model
        layers = find_layers(model)  # fresh: a TransformerLens bridge may have wrapped the blocks
        for name, module in model.named_modules():
            if module is layers:
                return name
        raise SteervecError("cannot locate the decoder layers inside the nnsight model")

    def _items(self, interventions: Sequence[Intervention]) -> list[Intervention]:
        return [Intervention(self.lm.check_layer(i.layer), i.operator, validate_positions(i.positions))
                for i in interventions]

    def run(self, input_ids: Tensor, attention_mask: Tensor, interventions: Sequence[Intervention] = (),
            record_layers: Sequence[int] = (), grad: bool = False) -> RunOutput:
        items = self._items(interventions)
        layers = sorted({i.layer for i in items} | set(record_layers))
        real = attention_mask.bool()
        view = StepView(0, input_ids.shape[1], input_ids.shape[1], real)
        envoys = self._layer_envoys()
        ctx = torch.enable_grad() if grad else torch.no_grad()
        saved: dict[int, Tensor] = {}  # filled inside the trace body, which runs in another frame
        with ctx, self.nn_model.trace(input_ids=input_ids, attention_mask=attention_mask,
                                      position_ids=mask_position_ids(attention_mask),
                                      use_cache=False, remote=self.remote):
            for layer in layers:
                hidden = envoys[layer].output
                edited = _apply(items, layer, hidden, view)
                if any(i.layer == layer for i in items):
                    envoys[layer].output = edited
                if layer in record_layers:
                    saved[layer] = edited.save()  # type: ignore[attr-defined]  # nnsight adds .save() in a trace
            logits = self.nn_model.output.logits.save()
        return RunOutput(logits, {x: saved[x] for x in record_layers})

    def generate(self, input_ids: Tensor, attention_mask: Tensor, interventions: Sequence[Intervention] = (),
                 **generate_kwargs: Any) -> Tensor:
        items = self._items(interventions)
        layers = sorted({i.layer for i in items})
        envoys = self._layer_envoys()
        prompt_len = input_ids.shape[1]
        batch = input_ids.shape[0]
        if self.lm.info.get("kv_cache_broken"):
            generate_kwargs["use_cache"] = False
        if generate_kwargs.get("use_cache") is False:
            raise SteervecError(
                "the nnsight backend tracks decode steps through the KV cache; this model's cache "
                f"is unusable ({self.lm.info.get('kv_cache_broken', 'use_cache=False')}): load a fresh "
                "copy of the model for nnsight"
            )
        with warnings.catch_warnings(), torch.no_grad(), \
                self.nn_model.generate(remote=self.remote, **generate_kwargs) as tracer:
            # the open-ended step loop ends by running past the last step, by design
            warnings.filterwarnings("ignore", message=".*was never reached.*")
            with tracer.invoke(input_ids=input_ids, attention_mask=attention_mask):
                self._edit_steps(tracer, items, layers, envoys, attention_mask, prompt_len, batch)
            with tracer.invoke():  # after the open-ended loop of the first invoke
                ids = tracer.result.save()
        return ids

    @staticmethod
    def _edit_steps(tracer: Any, items: list[Intervention], layers: list[int], envoys: Any,
                    attention_mask: Tensor, prompt_len: int, batch: int) -> None:
        offset = 0
        for _ in tracer.iter[:]:
            length = None
            for layer in layers:
                hidden = envoys[layer].output
                length = hidden.shape[1]
                if offset == 0:
                    real = attention_mask.bool()
                else:
                    real = torch.ones(batch, length, dtype=torch.bool, device=hidden.device)
                view = StepView(offset, length, prompt_len, real, decoding=True)
                envoys[layer].output = _apply(items, layer, hidden, view)
            offset += length or 0
