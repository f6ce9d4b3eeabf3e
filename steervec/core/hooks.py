"""Exact reads and writes of the residual stream at the output of decoder blocks.

Layer ``L`` is the output of decoder block ``L`` (0-based). Interventions are applied
through PyTorch forward hooks that are always removed when the ``with`` block ends,
also when it raises. They work for plain forwards, under autograd, and during
``generate`` with a KV cache: a pre-hook on the decoder reads the cache length and the
attention mask, so each decode step knows the absolute positions of its tokens and
which of them are padding.

Example:
    >>> op = add_operator(vector, alpha=4.0)  # doctest: +SKIP
    >>> with intervene(lm, [Intervention(layer=20, operator=op, positions="all")]):  # doctest: +SKIP
    ...     out = lm.generate(**batch.model_inputs(), max_new_tokens=20)
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import torch
from torch import Tensor, nn

from steervec.core.errors import InputError
from steervec.core.model import LanguageModel, as_language_model
from steervec.core.positions import PositionSpec, StepView, resolve_positions, validate_positions

# decoder -> padded prompt length declared by a caller that splits its prompt over several forwards
_DECLARED_PROMPT: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()
# decoder -> position specs of the interventions active on it
_ACTIVE_SPECS: weakref.WeakKeyDictionary[nn.Module, list[PositionSpec]] = weakref.WeakKeyDictionary()

Operator: TypeAlias = Callable[[Tensor, Tensor], Tensor]
"""``(hidden [batch, seq, d_model], absolute_positions [seq]) -> new hidden``."""


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float if it is a finite number, else :class:`InputError`.

    A NaN or infinite scale would turn every steered activation into NaN, and a teacher
    would then fail minutes later on an impossible token; it is refused up front.
    """
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha must be a number, got {alpha!r}") from None
    if not math.isfinite(value):
        raise InputError(f"alpha must be a finite number, got {alpha!r}: pass e.g. alpha=3.0")
    return value


def add_operator(vector: Tensor, alpha: float = 1.0) -> Operator:
    """Add ``alpha * vector`` to the residual stream (``vector`` may be an ``nn.Parameter``).

    Raises:
        InputError: ``alpha`` is not a finite number.
    """
    check_alpha(alpha)

    def op(hidden: Tensor, positions: Tensor) -> Tensor:
        return hidden + (alpha * vector).to(device=hidden.device, dtype=hidden.dtype)

    return op


def _unit(direction: Tensor) -> Tensor:
    norm = direction.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("the direction has zero or non-finite norm: pass a non-zero finite vector")
    return direction / norm


def project_out_operator(direction: Tensor) -> Operator:
    """Remove the component of the residual stream along ``direction``."""
    unit = _unit(direction.detach().float())

    def op(hidden: Tensor, positions: Tensor) -> Tensor:
        u = unit.to(device=hidden.device, dtype=hidden.dtype)
        return hidden - (hidden @ u).unsqueeze(-1) * u

    return op


def replace_operator(direction: Tensor, value: float | Tensor) -> Operator:
    """Set the component along the unit ``direction`` to ``value``.

    Args:
        direction: ``[d_model]``.
        value: a number, or ``[batch, seq]`` components indexed by absolute position
            (e.g. the base model's components, to test necessity).
    """
    unit = _unit(direction.detach().float())

    def op(hidden: Tensor, positions: Tensor) -> Tensor:
        u = unit.to(device=hidden.device, dtype=hidden.dtype)
        current = hidden @ u
        if isinstance(value, Tensor) and value.dim() == 2:
            value_here = value.to(hidden.device)
            target = value_here[:, positions.clamp(max=value.shape[1] - 1)].to(hidden)
            target = torch.where(positions < value.shape[1], target, current)
        else:
            target = torch.as_tensor(value, dtype=hidden.dtype, device=hidden.device)
        return hidden + (target - current).unsqueeze(-1) * u

    return op


@dataclass(frozen=True)
class Intervention:
    """An operator applied at one layer's output, at some positions."""

    layer: int
    operator: Operator
    positions: PositionSpec = "all"


@dataclass
class _Tracker:
    """Cache length, prompt length and padding of the forward call in flight.

    ``fixed_prompt_length`` serves generation without a KV cache, where every call
    starts at position 0 and the prompt length cannot be read off the first call. A length
    declared with :func:`prompt_layout` comes next; otherwise the first call of a sequence
    is the prompt.
    """

    view: StepView | None = None
    fixed_prompt_length: int | None = None

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        ref = input_ids if input_ids is not None else embeds
        if ref is None:
            self.view = None
            return
        batch, length = ref.shape[0], ref.shape[1]
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        offset = int(cache.get_seq_length()) if cache is not None and hasattr(cache, "get_seq_length") else 0
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        if isinstance(mask, Tensor) and mask.dim() == 2:
            real = mask[:, offset : offset + length].bool()
            if real.shape[1] != length:  # mask covers only the new tokens
                real = mask[:, -length:].bool()
        else:
            real = torch.ones(batch, length, dtype=torch.bool, device=ref.device)
        prompt_length = length if offset == 0 or self.view is None else self.view.prompt_length
        declared = _DECLARED_PROMPT.get(module)
        if self.fixed_prompt_length is not None:
            prompt_length = self.fixed_prompt_length
        elif declared is not None:
            prompt_length = declared
        decoding = (
            cache is not None or kwargs.get("use_cache") is True
            or self.fixed_prompt_length is not None or declared is not None
        )
        self.view = StepView(offset, length, prompt_length, real, decoding)

    def current(self, hidden: Tensor) -> StepView:
        view = self.view
        if view is None or view.length != hidden.shape[1] or view.real.shape[0] != hidden.shape[0]:
            real = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
            view = StepView(0, hidden.shape[1], hidden.shape[1], real)
        return view


def split_output(output: Any) -> tuple[Tensor, Callable[[Tensor], Any]]:
    """A decoder block's output as (hidden states ``[batch, seq, d_model]``, a function that puts
    an edited hidden state back into the same output structure: tensor, tuple or list)."""
    if isinstance(output, Tensor):
        return output, lambda h: h
    if isinstance(output, tuple):
        return output[0], lambda h: (h, *output[1:])
    hidden = output[0]

    def rebuild(h: Tensor) -> Any:
        output[0] = h
        return output

    return hidden, rebuild


@contextlib.contextmanager
def track_positions(lm: LanguageModel, prompt_length: int | None = None) -> Iterator[_Tracker]:
    """Track the absolute positions of every forward of ``lm``'s decoder (prompt, then each cached
    decode step) for the ``with`` block; the yielded tracker's ``view()`` gives the current ones."""
    tracker = _Tracker(fixed_prompt_length=prompt_length)
    handle = lm.decoder.register_forward_pre_hook(tracker.pre_hook, with_kwargs=True)
    try:
        yield tracker
    finally:
        handle.remove()


@contextlib.contextmanager
def prompt_layout(lm: LanguageModel, prompt_length: int) -> Iterator[None]:
    """Declare the padded prompt length of the forwards run inside the ``with`` block.

    For callers that compute one prompt in several forwards (e.g. a shared prefix at batch 1,
    then the rest of each row): position specs then resolve against the whole prompt, as in
    one forward of the left-padded batch.

    Args:
        lm: the model whose forwards are declared.
        prompt_length: columns of the padded prompt (prefix included).
    """
    decoder = lm.decoder
    before = _DECLARED_PROMPT.get(decoder)
    _DECLARED_PROMPT[decoder] = prompt_length
    try:
        yield
    finally:
        if before is None:
            _DECLARED_PROMPT.pop(decoder, None)
        else:
            _DECLARED_PROMPT[decoder] = before


def active_position_specs(lm: LanguageModel) -> list[PositionSpec]:
    """Position specs of the interventions that :func:`intervene` has active on ``lm`` now."""
    return list(_ACTIVE_SPECS.get(lm.decoder, []))


def needs_padded_layout(lm: LanguageModel) -> bool:
    """Some active intervention selects columns of the left-padded batch (a bool mask or ints),
    so the prompt must be run as one left-padded forward (no shared prefix)."""
    return any(not isinstance(spec, str) for spec in active_position_specs(lm))


@contextlib.contextmanager
def intervene(lm: Any, interventions: Sequence[Intervention]) -> Iterator[None]:
    """Apply interventions for the duration of the ``with`` block.

    Several interventions at the same layer are applied in the order given.
    """
    lm = as_language_model(lm)
    checked = []
    for item in interventions:
        lm.check_layer(item.layer)
        checked.append(Intervention(item.layer, item.operator, validate_positions(item.positions)))
    with contextlib.ExitStack() as stack:
        tracker = stack.enter_context(track_positions(lm))
        specs = _ACTIVE_SPECS.setdefault(lm.decoder, [])
        for item in checked:
            handle = lm.layers[item.layer].register_forward_hook(_write_hook(tracker, item))
            stack.callback(handle.remove)
            specs.append(item.positions)
            stack.callback(_forget, specs, item.positions)
        yield


def _forget(specs: list[PositionSpec], spec: PositionSpec) -> None:
    for i, known in enumerate(specs):
        if known is spec:
            del specs[i]
            return


def apply_intervention(item: Intervention, hidden: Tensor, view: StepView) -> Tensor | None:
    """``hidden [batch, seq, d_model]`` with ``item``'s operator applied at the positions its spec
    selects in ``view`` and unchanged elsewhere; ``None`` when the spec selects none (then the
    caller leaves the layer's output as it is).

    The one mask-then-operator body: :func:`intervene`'s hooks, the TransformerLens backend's hook
    points and the nnsight backend's trace edits all call it (so remote nnsight runs ship it with
    this module, see ``steervec.backends.nnsight.register_for_remote``).
    """
    mask = resolve_positions(item.positions, view)
    if not bool(mask.any()):
        return None
    new = item.operator(hidden, view.absolute)
    return new if bool(mask.all()) else torch.where(mask.unsqueeze(-1), new, hidden)


def _write_hook(tracker: _Tracker, item: Intervention) -> Callable[..., Any]:
    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        hidden, rebuild = split_output(output)
        new = apply_intervention(item, hidden, tracker.current(hidden))
        return None if new is None else rebuild(new)

    return hook


@dataclass
class Recording:
    """Activations recorded at layer outputs, one entry per forward call.

    Attributes:
        calls: ``{layer: [hidden [batch, seq_i, d_model], ...]}`` in call order.
        real: ``[[batch, seq_i] bool, ...]`` padding masks of the calls.
    """

    calls: dict[int, list[Tensor]] = field(default_factory=dict)
    real: list[Tensor] = field(default_factory=list)

    def __getitem__(self, layer: int) -> Tensor:
        """``[batch, seq, d_model]``: all calls concatenated along the sequence."""
        if layer not in self.calls or not self.calls[layer]:
            raise KeyError(f"layer {layer} was not recorded: recorded {sorted(self.calls)}")
        return torch.cat(self.calls[layer], dim=1)

    @property
    def mask(self) -> Tensor:
        """``[batch, seq]`` bool, True on real tokens."""
        return torch.cat(self.real, dim=1)

    @property
    def layers(self) -> list[int]:
        return sorted(self.calls)


@contextlib.contextmanager
def record(lm: Any, layers: Sequence[int] | None = None, detach: bool = True) -> Iterator[Recording]:
    """Record the residual stream at the output of ``layers`` (all layers by default).

    Args:
        lm: a :class:`~steervec.core.model.LanguageModel`.
        layers: layer indices (0-based block outputs).
        detach: store detached tensors; ``False`` keeps them in the autograd graph
            (call ``retain_grad()`` on them to read gradients).

    Example:
        >>> with record(lm, [3, 20]) as rec:  # doctest: +SKIP
        ...     lm(**batch.model_inputs())
        >>> rec[20].shape  # doctest: +SKIP
        torch.Size([8, 61, 576])
    """
    lm = as_language_model(lm)
    chosen = list(range(lm.n_layers)) if layers is None else [lm.check_layer(x) for x in layers]
    rec = Recording({layer: [] for layer in chosen})
    with contextlib.ExitStack() as stack:
        tracker = stack.enter_context(track_positions(lm))

        def make(layer: int) -> Callable[..., None]:
            def hook(module: nn.Module, args: Any, output: Any) -> None:
                hidden, _ = split_output(output)
                rec.calls[layer].append(hidden.detach() if detach else hidden)
                if layer == chosen[0]:
                    rec.real.append(tracker.current(hidden).real)

            return hook

        for layer in chosen:
            stack.callback(lm.layers[layer].register_forward_hook(make(layer)).remove)
        yield rec
