"""SteeringVector: per-layer residual-stream directions tied to the model they came from.

Layer convention (stored in every file as ``layer_convention``): **layer ``L`` is the
output of decoder block ``L``, 0-based**, before any final norm — ``hidden_states[L + 1]``
of a HuggingFace forward with ``output_hidden_states=True`` (except the last layer, whose
HF entry is normed). llama.cpp numbers control-vector layers from
1: its loader puts ``direction.N`` (N >= 1) in slot N and adds slot ``il`` after the
0-based block ``il``, so the file's ``direction.N`` *is* steervec's layer ``N`` and layer 0
(the first block's output) cannot be expressed; :meth:`SteeringVector.to_gguf` refuses it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from steervec.core.errors import CorruptFileError, ModelMismatchError
from steervec.core.fingerprint import Fingerprint
from steervec.core.hooks import (
    Intervention,
    add_operator,
    check_alpha,
    intervene,
    project_out_operator,
)
from steervec.core.io import atomic_path, read_safetensors
from steervec.core.model import LanguageModel, as_language_model
from steervec.core.positions import PositionSpec
from steervec.core.reprs import html_table

LAYER_CONVENTION = "output of decoder block L, 0-based, before any final norm (HF hidden_states[L+1] except the last, which HF returns normed)"
FORMAT = "steervec.core.steering_vector/1"


def _as_fingerprint(model: Any) -> Fingerprint | None:
    if model is None or isinstance(model, Fingerprint):
        return model
    return getattr(model, "fingerprint", None)


def check_same_model(expected: Fingerprint | None, model: Any, what: str) -> None:
    """Raise :class:`ModelMismatchError` when ``model`` is not the model ``expected`` names."""
    actual = _as_fingerprint(model)
    if expected is None or actual is None or expected == actual:
        return
    raise ModelMismatchError(
        f"{what} belongs to {expected.short} but the model given is {actual.short}; "
        "use the model it was made with, or pass allow_other_model=True to override"
    )


@dataclass
class SteeringVector:
    """Directions in the residual stream, one ``[d_model]`` tensor per layer.

    Attributes:
        layer_vectors: ``{layer: tensor [d_model]}`` (float32, on CPU by default).
        fingerprint: the model the vector was extracted from (``None``: unknown).
        positions: where it was extracted (e.g. ``"last_prompt"``).
        provenance: free-form record of how it was made (JSON-serialisable).

    Example:
        >>> vec = SteeringVector({20: torch.randn(576)}, lm.fingerprint)  # doctest: +SKIP
        >>> with vec.apply(lm, alpha=4.0):  # doctest: +SKIP
        ...     out = lm.generate(**batch.model_inputs(), max_new_tokens=20)
    """

    layer_vectors: dict[int, Tensor]
    fingerprint: Fingerprint | None = None
    positions: str = "unspecified"
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layer_vectors:
            raise ValueError("a SteeringVector needs at least one layer")
        dims = set()
        clean: dict[int, Tensor] = {}
        for layer, vec in sorted(self.layer_vectors.items()):
            if not isinstance(layer, int) or layer < 0:
                raise ValueError(f"layer keys must be ints >= 0, got {layer!r}")
            vec = torch.as_tensor(vec).detach()
            if vec.dim() != 1:
                raise ValueError(f"layer {layer}: expected a [d_model] vector, got shape {tuple(vec.shape)}")
            if not torch.isfinite(vec).all():
                raise ValueError(
                    f"layer {layer}: the vector has NaN or inf entries; recompute it "
                    "(e.g. check the activations it was built from)"
                )
            dims.add(vec.shape[0])
            clean[layer] = vec
        if len(dims) != 1:
            raise ValueError(f"all layers must have the same d_model, got {sorted(dims)}")
        if self.fingerprint is not None and self.fingerprint.d_model not in dims:
            raise ValueError(
                f"vectors have d_model {dims.pop()} but the fingerprint says {self.fingerprint.d_model}"
            )
        self.layer_vectors = clean

    # ------------------------------------------------------------ basic views
    @property
    def layers(self) -> list[int]:
        return sorted(self.layer_vectors)

    @property
    def d_model(self) -> int:
        return int(next(iter(self.layer_vectors.values())).shape[0])

    @property
    def norms(self) -> dict[int, float]:
        return {layer: float(v.float().norm()) for layer, v in self.layer_vectors.items()}

    def __getitem__(self, layer: int) -> Tensor:
        if layer not in self.layer_vectors:
            raise KeyError(f"no vector at layer {layer}: this one has layers {self.layers}")
        return self.layer_vectors[layer]

    def __repr__(self) -> str:
        model = self.fingerprint.short if self.fingerprint else "unknown model"
        shown = self.layers if len(self.layers) <= 6 else f"{self.layers[:3]}…{self.layers[-2:]}"
        return f"SteeringVector(layers={shown}, d_model={self.d_model}, model={model!r})"

    def select(self, layers: Sequence[int]) -> SteeringVector:
        """The same vector restricted to ``layers``."""
        return SteeringVector({x: self[x] for x in layers}, self.fingerprint, self.positions, dict(self.provenance))

    # ------------------------------------------------------------ arithmetic
    def _combine(self, other: SteeringVector, sign: float) -> SteeringVector:
        if not isinstance(other, SteeringVector):
            return NotImplemented
        if self.fingerprint and other.fingerprint and self.fingerprint != other.fingerprint:
            raise ModelMismatchError(
                f"cannot combine vectors of {self.fingerprint.short} and {other.fingerprint.short}"
            )
        layers = sorted(set(self.layers) | set(other.layers))
        zero = torch.zeros(self.d_model)
        out = {
            x: self.layer_vectors.get(x, zero).float() + sign * other.layer_vectors.get(x, zero).float()
            for x in layers
        }
        return SteeringVector(out, self.fingerprint or other.fingerprint, self.positions,
                              {"op": "+" if sign > 0 else "-"})

    def __add__(self, other: SteeringVector) -> SteeringVector:
        return self._combine(other, 1.0)

    def __sub__(self, other: SteeringVector) -> SteeringVector:
        return self._combine(other, -1.0)

    def __mul__(self, scalar: float) -> SteeringVector:
        if not isinstance(scalar, (int, float)):
            return NotImplemented
        return SteeringVector({x: v * scalar for x, v in self.layer_vectors.items()},
                              self.fingerprint, self.positions, {**self.provenance, "scaled": scalar})

    __rmul__ = __mul__

    def __neg__(self) -> SteeringVector:
        return self * -1.0

    def normalized(self) -> SteeringVector:
        """Unit-norm copy at every layer (the norms stay in ``provenance['norms']``)."""
        for layer, norm in self.norms.items():
            if norm == 0:
                raise ValueError(f"layer {layer} has a zero vector and cannot be normalised")
        return SteeringVector({x: v / v.norm() for x, v in self.layer_vectors.items()},
                              self.fingerprint, self.positions, {**self.provenance, "norms": self.norms})

    def cosine(self, other: SteeringVector | Mapping[int, Tensor]) -> dict[int, float]:
        """Cosine similarity per shared layer."""
        theirs = other.layer_vectors if isinstance(other, SteeringVector) else other
        shared = [x for x in self.layers if x in theirs]
        if not shared:
            raise ValueError(f"no layer in common: {self.layers} vs {sorted(theirs)}")
        return {
            x: float(torch.nn.functional.cosine_similarity(
                self.layer_vectors[x].float(), theirs[x].float().cpu(), dim=0))
            for x in shared
        }

    # ------------------------------------------------------------ applying
    def _check_model(self, lm: LanguageModel, allow_other_model: bool) -> None:
        if not allow_other_model:
            check_same_model(self.fingerprint, lm, "this steering vector")
        if self.d_model != lm.d_model:
            raise ModelMismatchError(
                f"the vector has d_model {self.d_model} but {lm.fingerprint.short} has {lm.d_model}"
            )

    def interventions(
        self, lm: Any, alpha: float = 1.0, positions: PositionSpec = "all",
        layers: Sequence[int] | None = None, allow_other_model: bool = False,
    ) -> list[Intervention]:
        """The add interventions :meth:`apply` uses (to combine with others).

        Raises:
            InputError: ``alpha`` is not a finite number.
        """
        check_alpha(alpha)
        lm = as_language_model(lm)
        self._check_model(lm, allow_other_model)
        chosen = self.layers if layers is None else list(layers)
        return [
            Intervention(lm.check_layer(x), add_operator(self[x].to(lm.device), alpha), positions)
            for x in chosen
        ]

    @contextlib.contextmanager
    def apply(
        self, lm: Any, alpha: float = 1.0, positions: PositionSpec = "all",
        layers: Sequence[int] | None = None, allow_other_model: bool = False,
    ) -> Iterator[None]:
        """Add ``alpha * vector`` at each of its layers (or ``layers``) inside the block."""
        lm = as_language_model(lm)
        with intervene(lm, self.interventions(lm, alpha, positions, layers, allow_other_model)):
            yield

    @contextlib.contextmanager
    def project_out(
        self, lm: Any, layers: Sequence[int] | None = None, positions: PositionSpec = "all",
        allow_other_model: bool = False,
    ) -> Iterator[None]:
        """Remove the component along the vector at ``layers`` inside the block.

        With a one-layer vector and ``layers`` given, that one direction is projected
        out at every layer listed (the reference necessity test uses all layers).
        """
        lm = as_language_model(lm)
        self._check_model(lm, allow_other_model)
        chosen = self.layers if layers is None else list(layers)
        items = []
        for x in chosen:
            direction = self.layer_vectors.get(x, self[self.layers[0]] if len(self.layers) == 1 else None)
            if direction is None:
                raise ValueError(f"no direction for layer {x}: the vector has layers {self.layers}")
            items.append(Intervention(lm.check_layer(x), project_out_operator(direction.to(lm.device)), positions))
        with intervene(lm, items):
            yield

    # ------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a ``.safetensors`` file (metadata in its header), atomically."""
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {f"layer.{x}": v.detach().float().cpu().contiguous() for x, v in self.layer_vectors.items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=self.header())
        return path

    def header(self) -> dict[str, str]:
        """The metadata :meth:`save` writes into the file's header (any file that carries it, with tensors
        named ``layer.<L>``, loads as a vector: a vector student's file does)."""
        return {
            "format": FORMAT,
            "layer_convention": LAYER_CONVENTION,
            "fingerprint": self.fingerprint.to_json() if self.fingerprint else "",
            "positions": self.positions,
            "norms": json.dumps(self.norms),
            "provenance": json.dumps(self.provenance, default=str),
        }

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], model: Any = None, allow_other_model: bool = False
    ) -> SteeringVector:
        """Read a file written by :meth:`save`; refuse it if ``model`` is another model.

        A file whose fingerprint is empty (saved from a vector made without one) names no
        model, so it cannot be checked: with ``model`` given it is refused unless
        ``allow_other_model=True`` says to apply it anyway; loaded without a model it comes
        back with ``fingerprint=None``.

        Raises:
            FileNotFoundError: no file at ``path``.
            CorruptFileError: the file is truncated, not a steervec vector, or its metadata or
                tensor names are damaged.
            ModelMismatchError: ``model`` is another model, or the file names none.
        """
        path = Path(path)
        meta, tensors = read_safetensors(path, "steering-vector", "save the vector again")
        if meta.get("format") != FORMAT:
            raise CorruptFileError(f"{path} was not written by SteeringVector.save (no steervec header)")
        vec = _from_file(cls, path, meta, tensors)
        fp = vec.fingerprint
        if model is not None:
            if fp is None and not allow_other_model:
                raise ModelMismatchError(
                    f"the vector in {path.name} has an empty fingerprint, so steervec cannot check "
                    f"that it belongs to {model.fingerprint.short}: pass allow_other_model=True to "
                    "apply it anyway, or save it again from a vector made with lm.fingerprint"
                )
            if not allow_other_model:
                check_same_model(fp, model, f"the vector in {path.name}")
            if vec.d_model != model.d_model:
                raise ModelMismatchError(
                    f"{path.name} holds d_model {vec.d_model} vectors but the model has {model.d_model}"
                )
        return vec

    def to_gguf(self, path: str | os.PathLike[str], model_hint: str | None = None) -> Path:
        """Export as a llama.cpp control vector (``--control-vector``).

        llama.cpp has no slot for the first block's output, so layer 0 is refused; layer
        ``L >= 1`` is written as ``direction.L`` (see the module docstring).
        """
        import gguf
        import numpy as np

        path = Path(path)
        if 0 in self.layer_vectors:
            raise ValueError(
                "llama.cpp control vectors cannot steer layer 0 (its loader numbers layers "
                "from 1); drop it with vec.select([...]) before exporting"
            )
        hint = model_hint or (self.fingerprint.architecture if self.fingerprint else "unknown")
        with atomic_path(path) as tmp:
            writer = gguf.GGUFWriter(str(tmp), "controlvector")
            writer.add_string("controlvector.model_hint", hint)
            writer.add_uint32("controlvector.layer_count", len(self.layers))
            for layer in self.layers:
                writer.add_tensor(f"direction.{layer}", self[layer].float().cpu().numpy().astype(np.float32))
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
            writer.close()
        return path

    # ------------------------------------------------------------ tables
    def to_dataframe(self) -> Any:
        """One row per layer: layer, norm (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame({"layer": self.layers, "norm": [self.norms[x] for x in self.layers]})

    def _repr_html_(self) -> str:
        model = self.fingerprint.short if self.fingerprint else "unknown model"
        method = self.provenance.get("method", self.provenance.get("op", "unrecorded"))
        norms = self.norms
        return html_table(
            "SteeringVector", [["norm", *(norms[x] for x in self.layers)]], header=["layer", *map(str, self.layers)],
            caption=f"on {model}, d_model {self.d_model}, extracted at {self.positions!r} by {method}",
        )


def _from_file(cls: type[SteeringVector], path: Path, meta: dict[str, str], tensors: dict[str, Tensor]) -> SteeringVector:
    """Build the vector from a file's header and tensors; damage of either is a CorruptFileError."""
    try:
        fp = Fingerprint.from_json(meta["fingerprint"]) if meta.get("fingerprint") else None
        provenance = json.loads(meta.get("provenance", "{}"))
        if not isinstance(provenance, dict):
            raise TypeError(f"provenance is a {type(provenance).__name__}, not a JSON object")
        layers = {int(name.split(".", 1)[1]): v for name, v in tensors.items()}  # "layer.N"
        return cls(layers, fp, meta.get("positions", "unspecified"), provenance)
    except (ValueError, TypeError, IndexError, KeyError) as exc:  # JSONDecodeError is a ValueError
        raise CorruptFileError(
            f"{path} has a damaged header or tensor names ({type(exc).__name__}: {exc}); "
            "it cannot be read as a steering vector: save the vector again"
        ) from exc
