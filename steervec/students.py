"""Students: how a copy of the base model is parameterised for training, and the trained result.

Three method specs (small frozen dataclasses) name the parameterisation:

* :class:`VectorStudent` — one learnable ``[d_model]`` vector per chosen layer, added to the
  residual stream at the layer's output through :func:`steervec.hooks.intervene`; all
  weights frozen (hooked activation training).
* :class:`LoRA` — peft low-rank adapters on chosen layers and linear modules.
* :class:`FullFinetune` — every weight, or only the weights of chosen decoder layers.

A :class:`Student` holds the trained tensors (the vectors, the adapter, or the changed
weights), its base model's fingerprint and the training record. It is applied to the base
model in place — ``with student.applied(lm): ...`` or ``student.attach(lm)`` /
``student.unload()`` — so generate, :func:`~steervec.hooks.record` and trait evaluation
run on ``lm`` unchanged; unloading restores the base weights exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

from torch import Tensor

from .atomic import atomic_path
from .errors import CorruptFileError, SteervecError
from .fingerprint import Fingerprint
from .steering_vector import FORMAT as VECTOR_FORMAT
from .steering_vector import LAYER_CONVENTION, SteeringVector, check_same_model

STUDENT_FORMAT = "steervec.student/1"


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
    return _METHODS[kind](**data)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ the trained result


@dataclass
class Student:
    """A trained student: its method, tensors, base-model fingerprint and training record.

    Attributes:
        method: the :class:`VectorStudent` / :class:`LoRA` / :class:`FullFinetune` spec.
        tensors: ``{name: tensor}`` — ``layer.{L}`` vectors ``[d_model]``, LoRA ``A``/``B``
            matrices, or the changed weights, on CPU.
        fingerprint: the base model the student was trained from.
        info: training arguments and summary (system condition, steps, final loss…).
        history: the training log, one dict per step.

    Example:
        >>> student = train_student(lm, rows, method=VectorStudent(layers=[9]))  # doctest: +SKIP
        >>> with student.applied(lm):
        ...     out = lm.generate(**batch.model_inputs(), max_new_tokens=20)
        >>> student.save("owl_student.safetensors")
    """

    method: Method
    tensors: dict[str, Tensor]
    fingerprint: Fingerprint
    info: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._attached: tuple[Any, Any] | None = None

    @property
    def kind(self) -> str:
        return method_kind(self.method)

    @property
    def system(self) -> Any:
        """The system condition the student was trained under (evaluate under the same one).

        ``None`` (no system turn), ``TEMPLATE_DEFAULT`` or the system prompt text.
        """
        from .chat import TEMPLATE_DEFAULT

        label = self.info.get("system")
        if label is None or label == "none":
            return None
        if label == "template_default":
            return TEMPLATE_DEFAULT
        return str(label).removeprefix("prompt:")

    # ------------------------------------------------------------ applying
    def attach(self, lm: Any, allow_other_model: bool = False) -> Any:
        """Apply the student to ``lm`` in place until :meth:`unload`; returns ``lm``."""
        if self._attached is not None:
            raise SteervecError("this student is already attached: call student.unload() first")
        if not allow_other_model:
            check_same_model(self.fingerprint, lm, "this student")
        from .attachments import attach_method, detach_method

        att = attach_method(lm, self.method, trainable=False)
        try:
            att.load_state(self.tensors)
        except Exception:
            detach_method(lm, att)
            raise
        self._attached = (lm, att)
        return lm

    def unload(self) -> None:
        """Remove the student from the model it is attached to; base weights come back exactly."""
        if self._attached is None:
            return
        from .attachments import detach_method

        lm, att = self._attached
        detach_method(lm, att)
        self._attached = None

    @contextlib.contextmanager
    def applied(self, lm: Any, allow_other_model: bool = False) -> Iterator[Any]:
        """``with student.applied(lm): ...`` — the student inside the block, the base after it."""
        self.attach(lm, allow_other_model)
        try:
            yield lm
        finally:
            self.unload()

    def steering_vector(self) -> SteeringVector:
        """A vector student's vectors as a :class:`SteeringVector`."""
        if self.kind != "vector":
            raise SteervecError(f"only vector students are steering vectors; this one is {self.kind}")
        vecs = {int(k.split(".", 1)[1]): v for k, v in self.tensors.items()}
        return SteeringVector(vecs, self.fingerprint, "all", {"student": self.info})

    # ------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write one ``.safetensors`` file (metadata in the header), atomically.

        A vector student's file is also a valid :class:`SteeringVector` file.
        """
        from safetensors.torch import save_file

        path = Path(path)
        record = json.dumps({
            "method": method_to_dict(self.method), "info": self.info, "history": self.history,
        }, default=str)
        meta = {"student": record, "student_format": STUDENT_FORMAT,
                "fingerprint": self.fingerprint.to_json()}
        if self.kind == "vector":
            vec = self.steering_vector()
            meta.update({
                "format": VECTOR_FORMAT, "layer_convention": LAYER_CONVENTION, "positions": "all",
                "norms": json.dumps(vec.norms), "provenance": json.dumps({"student": True}),
            })
        else:
            meta["format"] = STUDENT_FORMAT
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.tensors.items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], lm: Any = None, allow_other_model: bool = False) -> Student:
        """Read a file written by :meth:`save`; with ``lm``, refuse another base model.

        Raises:
            ModelMismatchError: ``lm`` is not the student's base model.
        """
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no student file at {path}")
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as exc:
            raise CorruptFileError(f"{path} is truncated or not a safetensors file ({exc})") from exc
        if meta.get("student_format") != STUDENT_FORMAT:
            raise CorruptFileError(f"{path} was not written by Student.save (no student header)")
        record = json.loads(meta["student"])
        fp = Fingerprint.from_json(meta["fingerprint"])
        if lm is not None and not allow_other_model:
            check_same_model(fp, lm, f"the student in {path.name}")
        return cls(method_from_dict(record["method"]), tensors, fp, record["info"], record["history"])

    # ------------------------------------------------------------ tables
    def summary(self) -> dict[str, Any]:
        """Plain-dict summary: method, size, steps, first/last loss."""
        losses = [h["loss"] for h in self.history if "loss" in h]
        return {
            "method": self.kind, **{f"method.{k}": v for k, v in method_to_dict(self.method).items() if k != "kind"},
            "n_parameters": sum(t.numel() for t in self.tensors.values()),
            "steps": self.info.get("steps"), "system": self.info.get("system"),
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "model": self.fingerprint.short,
        }

    def to_dataframe(self) -> Any:
        """One row per tensor: name, shape, numel, norm (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame([
            {"name": k, "shape": tuple(v.shape), "numel": v.numel(), "norm": float(v.float().norm())}
            for k, v in self.tensors.items()
        ])

    def __repr__(self) -> str:
        s = self.summary()
        return (f"Student({self.method!r}, {s['n_parameters']:,} parameters, steps={s['steps']}, "
                f"last_loss={s['last_loss']}, model={self.fingerprint.short!r})")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self.summary().items())
        return f"<b>Student</b><table>{rows}</table>"
