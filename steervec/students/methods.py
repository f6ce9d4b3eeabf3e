"""How a student's copy of the base model is parameterised: one frozen spec per method."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeAlias


def _int_tuple(layers: Sequence[int] | int | None, what: str) -> tuple[int, ...] | None:
    if layers is None:
        return None
    if isinstance(layers, int):
        layers = [layers]
    out = tuple(layers)
    if not out or not all(isinstance(x, int) and not isinstance(x, bool) for x in out):
        raise ValueError(f"{what}: layers must be a non-empty list of ints, got {layers!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: layers repeat: {list(out)}")
    return out


@dataclass(frozen=True)
class VectorStudent:
    """A learnable vector added to the residual stream at each of ``layers``; weights frozen.

    Args:
        layers: layer indices (output of decoder block ``L``, 0-based).
        init: ``"zeros"`` or ``"normal"`` (``init_scale`` * standard normal, seeded).
        init_scale: standard deviation of the ``"normal"`` init.
        positions: where the vector is added (``"all"`` real tokens by default).

    Example:
        >>> method = VectorStudent(layers=[9])
    """

    layers: tuple[int, ...] = (0,)
    init: Literal["zeros", "normal"] = "zeros"
    init_scale: float = 0.01
    positions: str = "all"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", _int_tuple(self.layers, "VectorStudent"))
        if self.layers is None:
            raise ValueError("VectorStudent needs layers, e.g. VectorStudent(layers=[9])")
        if self.init not in ("zeros", "normal"):
            raise ValueError(f"unknown init {self.init!r}: use 'zeros' or 'normal'")


@dataclass(frozen=True)
class LoRA:
    """Low-rank adapters (peft) on linear modules of chosen decoder layers.

    Args:
        rank: adapter rank ``r``.
        alpha: ``lora_alpha``; the update is scaled by ``alpha / rank``.
        layers: decoder layers to adapt (``None``: all).
        modules: ``"all-linear"`` or short module names such as ``["q_proj", "v_proj"]``.
        dropout: LoRA dropout (seeded through the training seed).

    Example:
        >>> method = LoRA(rank=8, alpha=8, layers=None, modules="all-linear")
    """

    rank: int = 8
    alpha: float = 8.0
    layers: tuple[int, ...] | None = None
    modules: str | tuple[str, ...] = "all-linear"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", _int_tuple(self.layers, "LoRA"))
        if not isinstance(self.modules, str):
            object.__setattr__(self, "modules", tuple(self.modules))
            if not self.modules:
                raise ValueError("LoRA modules is empty: use 'all-linear' or names like ['q_proj']")
        elif self.modules != "all-linear":
            object.__setattr__(self, "modules", (self.modules,))
        if not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"LoRA rank must be an int >= 1, got {self.rank!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class FullFinetune:
    """Fine-tune every weight (``layers=None``) or only the weights of chosen decoder layers.

    Example:
        >>> method = FullFinetune(layers=[0])  # single-layer fine-tuning
    """

    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", _int_tuple(self.layers, "FullFinetune"))


Method: TypeAlias = "VectorStudent | LoRA | FullFinetune"


_METHODS: dict[str, type] = {"vector": VectorStudent, "lora": LoRA, "full": FullFinetune}


MethodKind = Literal["vector", "lora", "full"]
"""The one word for each parameterisation: ``"vector"`` (:class:`VectorStudent`), ``"lora"``
(:class:`LoRA`), ``"full"`` (:class:`FullFinetune`)."""


def make_method(kind: str, layers: Sequence[int] | None = None, rank: int = 8, alpha: float | None = None,
                default_layer: int | None = None) -> Method:
    """The method spec of a kind: the one constructor the experiment config and the CLI share.

    Args:
        kind: a :data:`MethodKind`.
        layers: the vector's layers / the layers LoRA or fine-tuning touch (``None``: a vector at
            ``default_layer``; LoRA and fine-tuning on every layer).
        rank: LoRA's rank.
        alpha: LoRA's alpha (default: the rank).
    """
    if kind == "vector":
        chosen = list(layers) if layers else ([] if default_layer is None else [default_layer])
        if not chosen:
            raise ValueError("a vector student needs layers=[...] (or a default layer)")
        return VectorStudent(layers=tuple(chosen))
    if kind == "lora":
        return LoRA(rank=rank, alpha=float(rank) if alpha is None else alpha, layers=None if not layers else tuple(layers))
    if kind == "full":
        return FullFinetune(layers=None if not layers else tuple(layers))
    raise ValueError(f"unknown student kind {kind!r}: use 'vector', 'lora' or 'full'")


def method_kind(method: Method) -> str:
    """``"vector"``, ``"lora"`` or ``"full"``."""
    for kind, cls in _METHODS.items():
        if isinstance(method, cls):
            return kind
    raise TypeError(
        f"method must be VectorStudent(...), LoRA(...) or FullFinetune(...), got {method!r}"
    )


def method_to_dict(method: Method) -> dict[str, Any]:
    """A JSON-serialisable record of a method spec."""
    data = asdict(method)
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
    return {"kind": method_kind(method), **data}


def method_from_dict(data: dict[str, Any]) -> Method:
    """Inverse of :func:`method_to_dict`."""
    data = dict(data)
    kind = data.pop("kind")
    return _METHODS[kind](**data)


