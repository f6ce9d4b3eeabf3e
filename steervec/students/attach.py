"""Attaching a student method to a model in place, and removing it exactly.

An :class:`Attachment` puts the method's tensors into the model — hooks adding learnable
vectors, peft LoRA layers wrapping linear modules, or the model's own weights made
trainable — with all other weights frozen, and :meth:`Attachment.remove` gives back the
base model: same modules, same weights bit for bit, same ``requires_grad`` flags.

Example:
    >>> att = attach_method(lm, LoRA(rank=8), trainable=True)  # doctest: +SKIP
    >>> ...  # train att.params  # doctest: +SKIP
    >>> detach_method(lm, att)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from steervec.core.errors import CorruptFileError, SteervecError
from steervec.core.hooks import Intervention, Operator, add_operator, intervene
from steervec.core.model import LanguageModel
from steervec.students.methods import FullFinetune, LoRA, Method, VectorStudent, method_kind

ADAPTER_NAME = "steervec"


class Attachment:
    """A method attached to a model in place; :meth:`remove` gives the base model back exactly.

    Attributes:
        params: ``{name: tensor}`` the student's tensors (``nn.Parameter`` s), names as saved.
    """

    def __init__(self, lm: LanguageModel, trainable: bool) -> None:
        self.lm = lm
        self.params: dict[str, nn.Parameter] = {}
        self._flags = {n: p.requires_grad for n, p in lm.model.named_parameters()}
        self._trainable = trainable
        for p in lm.model.parameters():
            p.requires_grad_(False)

    def state(self) -> dict[str, Tensor]:
        """Detached CPU copies of the student's tensors."""
        return {n: p.detach().to("cpu", copy=True).contiguous() for n, p in self.params.items()}

    @torch.no_grad()
    def load_state(self, tensors: dict[str, Tensor]) -> None:
        """Copy ``tensors`` into the attached parameters (names must match)."""
        missing, extra = set(self.params) - set(tensors), set(tensors) - set(self.params)
        if missing or extra:
            raise CorruptFileError(
                f"student tensors do not match the method: missing {sorted(missing)[:4]}, "
                f"unexpected {sorted(extra)[:4]}"
            )
        for name, p in self.params.items():
            if tuple(tensors[name].shape) != tuple(p.shape):
                raise CorruptFileError(f"{name}: shape {tuple(tensors[name].shape)} != {tuple(p.shape)}")
            p.copy_(tensors[name].to(p.device, p.dtype))

    def disabled(self) -> contextlib.AbstractContextManager[None]:
        """Inside the block the model computes as the base model (the student switched off).

        Used for a teacher forward in the same training step (online distillation); the
        student's tensors and the optimiser state are untouched, and on exit the student is
        back exactly.
        """
        raise NotImplementedError

    def remove(self) -> None:
        for p in self.params.values():
            p.grad = None
        for n, p in self.lm.model.named_parameters():
            p.requires_grad_(self._flags.get(n, p.requires_grad))


class _VectorAttachment(Attachment):
    def __init__(self, lm: LanguageModel, method: VectorStudent, trainable: bool) -> None:
        super().__init__(lm, trainable)
        items = []
        for layer in method.layers:
            lm.check_layer(layer)
            init = torch.zeros(lm.d_model)
            if method.init == "normal":
                init = torch.randn(lm.d_model) * method.init_scale
            p = nn.Parameter(init.to(lm.device, torch.float32), requires_grad=trainable)
            self.params[f"layer.{layer}"] = p
            items.append(Intervention(layer, self._switchable(add_operator(p)), method.positions))
        self._off = False
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(intervene(lm, items))

    def _switchable(self, op: Operator) -> Operator:
        def run(hidden: Tensor, positions: Tensor) -> Tensor:
            return hidden if self._off else op(hidden, positions)

        return run

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        self._off = True
        try:
            yield
        finally:
            self._off = False

    def remove(self) -> None:
        self._stack.close()
        super().remove()


def _layers_prefix(lm: LanguageModel) -> str:
    for name, module in lm.model.named_modules():
        if module is lm.layers:
            return name
    raise SteervecError("cannot locate the decoder layers inside the model")


def linear_module_names(lm: LanguageModel) -> list[str]:
    """Short names of the linear modules of a decoder block (valid ``LoRA(modules=...)``)."""
    return sorted({n.rsplit(".", 1)[-1] for n, m in lm.layers[0].named_modules() if isinstance(m, nn.Linear)})


def lora_targets(lm: LanguageModel, method: LoRA) -> list[str]:
    """Full module names the LoRA spec adapts; raises with the valid names on a bad spec."""
    valid = linear_module_names(lm)
    chosen = valid if method.modules == "all-linear" else list(method.modules)
    bad = [m for m in chosen if m not in valid]
    if bad:
        raise ValueError(
            f"LoRA modules {bad} do not exist in {lm.fingerprint.architecture}: valid names are "
            f"{valid} (or 'all-linear')"
        )
    if method.layers is not None:
        for layer in method.layers:
            lm.check_layer(layer)
    layers = range(lm.n_layers) if method.layers is None else method.layers
    prefix = _layers_prefix(lm)
    return [
        f"{prefix}.{layer}.{name}"
        for layer in layers
        for name, module in lm.layers[layer].named_modules()
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in chosen
    ]


class _LoRAAttachment(Attachment):
    def __init__(self, lm: LanguageModel, method: LoRA, trainable: bool) -> None:
        from peft import LoraConfig, inject_adapter_in_model

        targets = lora_targets(lm, method)
        super().__init__(lm, trainable)
        config = LoraConfig(
            r=method.rank, lora_alpha=method.alpha,  # type: ignore[arg-type]  # peft scales by any float
            lora_dropout=method.dropout,
            target_modules=targets, bias="none",
        )
        self._had_peft_config = hasattr(lm.model, "peft_config")
        inject_adapter_in_model(config, lm.model, adapter_name=ADAPTER_NAME)
        for name, p in lm.model.named_parameters():
            is_lora = f".{ADAPTER_NAME}." in name and "lora_" in name
            p.requires_grad_(is_lora and trainable)
            if is_lora:
                self.params[name] = p

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        from peft.tuners.tuners_utils import BaseTunerLayer

        flags = {n: p.requires_grad for n, p in self.params.items()}
        layers = [m for m in self.lm.model.modules() if isinstance(m, BaseTunerLayer)]
        for module in layers:
            module.enable_adapters(False)
        try:
            yield
        finally:
            for module in layers:
                module.enable_adapters(True)
            for n, p in self.params.items():  # peft's enable_adapters sets requires_grad itself
                p.requires_grad_(flags[n])

    def remove(self) -> None:
        from peft.tuners.tuners_utils import BaseTunerLayer

        wrapped = [(n, m) for n, m in self.lm.model.named_modules() if isinstance(m, BaseTunerLayer)]
        for name, module in wrapped:
            parent_name, _, child = name.rpartition(".")
            parent = self.lm.model.get_submodule(parent_name) if parent_name else self.lm.model
            setattr(parent, child, module.get_base_layer())
        if not self._had_peft_config and hasattr(self.lm.model, "peft_config"):
            del self.lm.model.peft_config
        super().remove()


class _FullAttachment(Attachment):
    def __init__(self, lm: LanguageModel, method: FullFinetune, trainable: bool) -> None:
        super().__init__(lm, trainable)
        if method.layers is None:
            chosen = dict(lm.model.named_parameters())
        else:
            prefix = _layers_prefix(lm)
            chosen = {}
            for layer in method.layers:
                lm.check_layer(layer)
                for n, p in lm.layers[layer].named_parameters():
                    chosen[f"{prefix}.{layer}.{n}"] = p
        self._originals = {n: p.detach().clone() for n, p in chosen.items()}
        for p in chosen.values():
            p.requires_grad_(trainable)
        self.params = dict(chosen)

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """The base weights swapped in (the copy kept for :meth:`remove`, no extra memory)."""
        trained = {name: p.data for name, p in self.params.items()}
        try:
            for name, p in self.params.items():
                p.data = self._originals[name]
            yield
        finally:
            for name, p in self.params.items():
                p.data = trained[name]

    @torch.no_grad()
    def remove(self) -> None:
        for name, p in self.params.items():
            p.copy_(self._originals[name])
        self._originals = {}
        super().remove()


def attach_method(lm: LanguageModel, method: Method, trainable: bool = False) -> Attachment:
    """Attach a method spec to ``lm`` in place (fresh, seeded-by-caller init)."""
    kind = method_kind(method)
    if attached(lm) is not None:
        raise SteervecError(
            "a student is already attached to this model: call student.unload() first"
        )
    if kind == "vector":
        att: Attachment = _VectorAttachment(lm, method, trainable)  # type: ignore[arg-type]
    elif kind == "lora":
        att = _LoRAAttachment(lm, method, trainable)  # type: ignore[arg-type]
    else:
        att = _FullAttachment(lm, method, trainable)  # type: ignore[arg-type]
    _ATTACHED[lm.model] = att
    return att


def detach_method(lm: LanguageModel, attachment: Attachment) -> None:
    """Remove an attachment and give ``lm`` its base weights back."""
    attachment.remove()
    _ATTACHED.pop(lm.model, None)


_ATTACHED: weakref.WeakKeyDictionary[Any, Attachment] = weakref.WeakKeyDictionary()
"""The attachment on each model (keyed by its modules, so wrappers of the same model share it)."""


def attached(lm: LanguageModel) -> Attachment | None:
    """The student attachment on ``lm``'s modules, or ``None`` (one at a time)."""
    return _ATTACHED.get(lm.model)


