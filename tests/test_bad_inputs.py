"""Bad inputs across the library: one table of input -> error type and the fix its message names.

Every row runs in an empty folder that is also steervec's cache, and must leave nothing
behind there (no half-written file) besides the inputs the row itself prepared.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from steervec.core.activations import mean_activations
from steervec.core.chat import encode_chat
from steervec.core.errors import (
    CorruptFileError,
    InputError,
    ModelMismatchError,
    PositionError,
    SteervecError,
)
from steervec.core.hooks import Intervention, add_operator, intervene
from steervec.core.steering_vector import SteeringVector
from steervec.data.sampler import sample
from steervec.metrics.evaluate import evaluate_trait
from steervec.metrics.trait import trait_logprob
from steervec.students.student import STUDENT_FORMAT, Student
from steervec.vectors.fit import fit_steering_vector
from steervec.vectors.mean_diff import mean_difference_vector


def _vector_file(lm, folder: Path, named: bool = True, **meta_changes: str) -> Path:
    """A vector file (``named``: with the model's fingerprint), its header edited with ``meta_changes``;
    ``tensor_name`` renames its one tensor."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    vec = SteeringVector({1: torch.ones(lm.d_model)}, lm.fingerprint if named else None)
    path = vec.save(folder / "v.safetensors")
    with safe_open(str(path), "pt") as handle:
        meta, tensors = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    renamed = meta_changes.pop("tensor_name", None)
    if renamed:
        tensors = {renamed: tensors["layer.1"]}
    meta.update(meta_changes)
    save_file(tensors, str(path), metadata=meta)
    return path


def _student_file(lm, folder: Path, record: str, fingerprint: str | None = None) -> Path:
    meta = {"student_format": STUDENT_FORMAT, "student": record}
    return _vector_file(lm, folder, **meta, **({} if fingerprint is None else {"fingerprint": fingerprint}))


def _steered_forward(lm, positions) -> None:
    batch = encode_chat(lm, ["hi", "a longer prompt"], None)
    with intervene(lm, [Intervention(1, add_operator(torch.ones(lm.d_model)), positions)]), torch.no_grad():
        lm.model(**batch.model_inputs())


GOOD_RECORD = json.dumps({"method": {"kind": "vector", "layers": [1]}, "info": {}, "history": []})

# (id, call(lm, folder), error type, text the message must contain: the fix)
CASES: list[tuple[str, Callable, type[SteervecError], str]] = [
    ("mean_difference_vector prompts as one string",
     lambda lm, d: mean_difference_vector(lm, "You love owls.", "Name a number."),
     InputError, "prompts is one string ('Name a number.'), not a sequence of prompts: wrap it in a list"),
    ("mean_activations prompts as one string", lambda lm, d: mean_activations(lm, "Name a number."),
     InputError, "wrap it in a list, e.g. ['Name a number.']"),
    ("mean_activations completions as one string",
     lambda lm, d: mean_activations(lm, ["a", "b"], positions="response", completions="1, 2"),
     InputError, "completions is one string"),
    ("fit_steering_vector prompts as one string",
     lambda lm, d: fit_steering_vector(lm, "You love owls.", "Name a number.", layers=1, steps=1),
     InputError, "prompts is one string"),
    ("fit_steering_vector trait_questions as one string",
     lambda lm, d: fit_steering_vector(lm, "You love owls.", ["Name a number."], layers=1, steps=1,
                                       trait_questions="Which animal?"),
     InputError, "trait_questions is one string"),
    ("trait_logprob questions as one string", lambda lm, d: trait_logprob(lm, "Which animal?", "owl"),
     InputError, "questions is one string ('Which animal?')"),
    ("evaluate_trait questions as one string", lambda lm, d: evaluate_trait(lm, "owl", "Which animal?"),
     InputError, "questions is one string"),
    ("sample prompts as one string", lambda lm, d: sample(lm, "Count to three."),
     InputError, "prompts is one string"),
    ("encode_chat prompts as one string", lambda lm, d: encode_chat(lm, "hi"), InputError, "wrap it in a list"),
    ("int position past the end", lambda lm, d: _steered_forward(lm, [3, 500]),
     PositionError, "positions [500] are out of range for a sequence of"),
    ("int position before the start", lambda lm, d: _steered_forward(lm, [-500]),
     PositionError, "or -"),
    ("empty list of positions", lambda lm, d: _steered_forward(lm, []),
     PositionError, "pass at least one position"),
    ("vector file: fingerprint not JSON",
     lambda lm, d: SteeringVector.load(_vector_file(lm, d, fingerprint="{oops")),
     CorruptFileError, "JSONDecodeError"),
    ("vector file: fingerprint with unknown fields",
     lambda lm, d: SteeringVector.load(_vector_file(lm, d, fingerprint='{"model": "x"}')),
     CorruptFileError, "TypeError"),
    ("vector file: provenance not JSON",
     lambda lm, d: SteeringVector.load(_vector_file(lm, d, provenance="[1, 2")),
     CorruptFileError, "save the vector again"),
    ("vector file: provenance not an object",
     lambda lm, d: SteeringVector.load(_vector_file(lm, d, provenance="[1, 2]")),
     CorruptFileError, "provenance is a list"),
    ("vector file: tensor name without a layer",
     lambda lm, d: SteeringVector.load(_vector_file(lm, d, tensor_name="layer1")),
     CorruptFileError, "IndexError"),
    ("vector file: empty fingerprint, loaded for a model",
     lambda lm, d: SteeringVector.load(_vector_file(lm, d, named=False), model=lm),
     ModelMismatchError, "pass allow_other_model=True to apply it anyway"),
    ("student file: record not JSON", lambda lm, d: Student.load(_student_file(lm, d, "{oops")),
     CorruptFileError, "train and save it again"),
    ("student file: record without history",
     lambda lm, d: Student.load(_student_file(lm, d, json.dumps({"method": {}, "info": {}}))),
     CorruptFileError, "not a {method, info, history} object"),
    ("student file: empty fingerprint",
     lambda lm, d: Student.load(_student_file(lm, d, GOOD_RECORD, fingerprint="")),
     CorruptFileError, "JSONDecodeError"),
]


@pytest.mark.parametrize(("call", "error", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_the_fix(tiny_llama, tmp_path, monkeypatch, call, error, fix):
    monkeypatch.setenv("STEERVEC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as caught:
        call(tiny_llama, tmp_path)
    assert fix in str(caught.value)
    left = sorted(p.name for p in tmp_path.rglob("*"))
    assert left in ([], ["v.safetensors"]), left  # only the input the row prepared


def test_an_empty_fingerprint_still_loads_when_asked(tiny_llama, tmp_path):
    path = _vector_file(tiny_llama, tmp_path, named=False)
    assert SteeringVector.load(path).fingerprint is None  # no model given: nothing to check against
    assert SteeringVector.load(path, model=tiny_llama, allow_other_model=True).layers == [1]
