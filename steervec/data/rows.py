"""One teacher completion: the unit of every dataset steervec writes and every student reads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TeacherRow:
    """A (prompt, completion) pair written by a teacher, with its provenance.

    Attributes:
        prompt: the user message the teacher answered (never the teacher's system
            prompt: a student is trained without it).
        completion: the teacher's answer text.
        teacher: the teacher spec as a dict (system prompt, steering, projection).
        sampling: sampling parameters and mode (``free`` / ``constrained`` / ``prefill``).
        seed: the seed that produced this row.
        model: the teacher model's fingerprint as a dict.
        version: steervec version that wrote the row.
        index: position of the prompt in the generation run (for resume and splits).
        extra: anything else (allowed probability mass, teacher log-probs, loss masks…).
    """

    prompt: str
    completion: str
    teacher: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    model: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    index: int = -1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherRow:
        """Build a row from its dict form, refusing (``ValueError``) any field of the wrong type.

        Nothing is converted or repaired: a row that does not have exactly the documented
        types is refused, so that a damaged file cannot train a student by accident.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a dataset row must be a JSON object, got {type(data).__name__}")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        missing = {"prompt", "completion"} - set(known)
        if missing:
            raise ValueError(f"a dataset row needs {sorted(missing)}; got keys {sorted(data)}")
        for name, value in known.items():
            expected = _FIELD_TYPES[name]
            if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
                kinds = " or ".join("null" if t is type(None) else t.__name__ for t in expected)
                raise ValueError(f"field {name!r} must be {kinds}, got {type(value).__name__} {value!r:.40}")
        valid = known.get("extra", {}).get("valid", True)
        if not isinstance(valid, bool):
            raise ValueError(f"extra['valid'] must be true or false, got {valid!r:.40}")
        return cls(**known)


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "prompt": (str,), "completion": (str,), "teacher": (dict,), "sampling": (dict,),
    "seed": (int, type(None)), "model": (dict,), "version": (str,), "index": (int,), "extra": (dict,),
}


TOPK_KEY = "teacher_topk"
"""``row.extra[TOPK_KEY] = {"ids": [[int] * k] * n, "logprobs": [[float] * k] * n}`` over
the row's response tokens (see :func:`steervec.data.divergence.attach_teacher_topk`)."""


