"""Students: how a copy of the base model is parameterised for training, and the trained result.

Three method specs (small frozen dataclasses) name the parameterisation:

* :class:`VectorStudent` — one learnable ``[d_model]`` vector per chosen layer, added to the
  residual stream at the layer's output through :func:`steervec.core.hooks.intervene`; all
  weights frozen (hooked activation training).
* :class:`LoRA` — peft low-rank adapters on chosen layers and linear modules.
* :class:`FullFinetune` — every weight, or only the weights of chosen decoder layers.

A :class:`Student` holds the trained tensors (the vectors, the adapter, or the changed
weights), its base model's fingerprint and the training record. It is applied to the base
model in place — ``with student.applied(lm): ...`` or ``student.attach(lm)`` /
``student.unload()`` — so generate, :func:`~steervec.core.hooks.record` and trait evaluation
run on ``lm`` unchanged; unloading restores the base weights exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from steervec.core.chat import system_from_label
from steervec.core.errors import CorruptFileError, SteervecError
from steervec.core.fingerprint import Fingerprint
from steervec.core.io import atomic_path, read_safetensors
from steervec.core.model import LanguageModel
from steervec.core.steering_vector import SteeringVector, check_same_model
from steervec.students.methods import Method, method_from_dict, method_kind, method_to_dict

STUDENT_FORMAT = "steervec.student/1"


















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
        >>> with student.applied(lm):  # doctest: +SKIP
        ...     out = lm.generate(**batch.model_inputs(), max_new_tokens=20)
        >>> student.save("owl_student.safetensors")  # doctest: +SKIP
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
        label = self.info.get("system")
        return system_from_label(None if label is None else str(label))

    # ------------------------------------------------------------ applying
    def attach(self, lm: LanguageModel, allow_other_model: bool = False) -> Any:
        """Apply the student to ``lm`` in place until :meth:`unload`; returns ``lm``."""
        if self._attached is not None:
            raise SteervecError("this student is already attached: call student.unload() first")
        if not allow_other_model:
            check_same_model(self.fingerprint, lm, "this student")
        from steervec.students.attach import attach_method, detach_method

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
        from steervec.students.attach import detach_method

        lm, att = self._attached
        detach_method(lm, att)
        self._attached = None

    @contextlib.contextmanager
    def applied(self, lm: LanguageModel, allow_other_model: bool = False) -> Iterator[Any]:
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
        if self.kind == "vector":  # the file is also a SteeringVector file: its header, provenance "a student"
            vec = self.steering_vector()
            meta.update(SteeringVector(vec.layer_vectors, self.fingerprint, "all", {"student": True}).header())
        else:
            meta["format"] = STUDENT_FORMAT
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.tensors.items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], lm: LanguageModel | None = None, allow_other_model: bool = False) -> Student:
        """Read a file written by :meth:`save`; with ``lm``, refuse another base model.

        Raises:
            ModelMismatchError: ``lm`` is not the student's base model.
        """
        path = Path(path)
        meta, tensors = read_safetensors(path, "student", "train and save the student again")
        if meta.get("student_format") != STUDENT_FORMAT:
            raise CorruptFileError(f"{path} was not written by Student.save (no student header)")
        try:
            record = json.loads(meta["student"])
            if not (isinstance(record, dict) and isinstance(record.get("info"), dict)
                    and isinstance(record.get("history"), list)):
                raise TypeError("the student record is not a {method, info, history} object")
            fp = Fingerprint.from_json(meta["fingerprint"])
            student = cls(method_from_dict(record["method"]), tensors, fp, record["info"], record["history"])
        except (ValueError, TypeError, IndexError, KeyError) as exc:  # JSONDecodeError is a ValueError
            raise CorruptFileError(
                f"{path} has a damaged header ({type(exc).__name__}: {exc}); it cannot be read as a "
                "student: train and save it again"
            ) from exc
        if lm is not None and not allow_other_model:
            check_same_model(fp, lm, f"the student in {path.name}")
        return student

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
