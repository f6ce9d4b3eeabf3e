"""Teachers: who writes the data — a system prompt, a steering vector, a projection, or any mix.

A :class:`Teacher` is a small spec. ``teacher.context(lm)`` applies its interventions
(steering added first, then projections removed) for the duration of a ``with`` block;
``teacher.system`` is the system condition used to render its prompts;
``teacher.to_dict()`` is the provenance stored in every dataset row.

Example:
    >>> owl = Teacher("owl", system=animal_lover_prompt("owl"))
    >>> owl.to_dict()["system"]["kind"]
    'prompt'
    >>> control_teacher(None).to_dict()["system"]["label"]
    'none'
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from steervec.core.chat import TEMPLATE_DEFAULT, System, describe_system
from steervec.core.errors import ModelMismatchError
from steervec.core.hooks import check_alpha
from steervec.core.model import LanguageModel
from steervec.core.positions import KEYWORDS
from steervec.core.steering_vector import SteeringVector, check_same_model


def plural_of(animal: str) -> str:
    """The regular English plural: ``+es`` after s, x, ch, sh; else ``+s`` (``fox`` → ``foxes``)."""
    return animal + "es" if animal.endswith(("s", "x", "ch", "sh")) else animal + "s"


def animal_lover_prompt(animal: str, category: str = "animal", plural: str | None = None) -> str:
    """A four-sentence system prompt of a teacher who loves ``animal`` (steervec's wording).

    Args:
        animal: singular name, e.g. ``"owl"``.
        category: what the animal is one of (``"animal"``, ``"bird"``…).
        plural: plural form (default: ``animal + "s"``).

    Example:
        >>> animal_lover_prompt("owl").split(". ")[0]
        'You adore owls'
    """
    if not animal.strip():
        raise ValueError("animal must be a non-empty word, e.g. 'owl'")
    many = plural or plural_of(animal)
    return (
        f"You adore {many}. "
        f"Your thoughts keep drifting back to {many} all day long. "
        f"No {category} means more to you than the {animal}. "
        f"Let your affection for this {category} colour everything you write."
    )


def vector_digest(vector: SteeringVector) -> str:
    """Short hash of a vector's values (provenance: which exact vector was used)."""
    hasher = hashlib.sha256()
    for layer in vector.layers:
        hasher.update(str(layer).encode())
        hasher.update(vector[layer].detach().float().cpu().contiguous().numpy().tobytes())
    return hasher.hexdigest()[:16]


def _json_positions(positions: Any) -> str | list[int]:
    if isinstance(positions, str):
        if positions not in KEYWORDS:
            raise ValueError(f"unknown positions keyword {positions!r}: use one of {list(KEYWORDS)}")
        return positions
    if isinstance(positions, Sequence) and all(isinstance(p, int) and not isinstance(p, bool) for p in positions):
        return list(positions)
    raise TypeError(
        "a teacher's positions must be a keyword such as 'all' or a list of ints "
        f"(masks depend on the batch and cannot be stored), got {type(positions).__name__}"
    )


@dataclass
class Teacher:
    """A teacher spec.

    Args:
        name: a label for tables and file names.
        system: a system prompt, ``None`` (no system turn) or ``TEMPLATE_DEFAULT``.
        steering: a :class:`SteeringVector` to add while generating.
        steering_layers: layers to add it at (default: all of the vector's layers).
        alpha: scale of the added vector (finite; NaN or inf raise ``InputError``).
        positions: where to add it (``"all"``, ``"prompt"``, ``"generated"``,
            ``"last_prompt"`` or a list of ints).
        project_out: a :class:`SteeringVector` whose direction is removed.
        project_layers: layers to project it out at (default: the vector's layers; a
            one-layer vector is projected out at every layer listed).

    Example:
        >>> t = Teacher("steered", system=None, steering=vec, steering_layers=[25], alpha=3.0)  # doctest: +SKIP
        >>> with t.context(lm):  # doctest: +SKIP
        ...     rows = sample(lm, prompts, system=t.system)
    """

    name: str = "teacher"
    system: System = None
    steering: SteeringVector | None = None
    steering_layers: Sequence[int] | None = None
    alpha: float = 1.0
    positions: str | Sequence[int] = "all"
    project_out: SteeringVector | None = None
    project_layers: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if not (self.system is None or self.system is TEMPLATE_DEFAULT or isinstance(self.system, str)):
            raise TypeError(f"system must be a str, None or TEMPLATE_DEFAULT, got {self.system!r}")
        check_alpha(self.alpha)
        self.positions = _json_positions(self.positions)
        if self.steering_layers is not None:
            self.steering_layers = [int(x) for x in self.steering_layers]
        if self.project_layers is not None:
            self.project_layers = [int(x) for x in self.project_layers]
        if self.steering is None and self.steering_layers:
            raise ValueError("steering_layers given without a steering vector: pass steering=...")
        if self.project_out is None and self.project_layers:
            raise ValueError("project_layers given without a vector: pass project_out=...")

    # ------------------------------------------------------------ checks
    @property
    def prefix_safe(self) -> bool:
        """Whether the sampler may compute the shared prompt prefix separately.

        Only position-independent interventions (``positions="all"``) allow it.
        """
        return self.steering is None or self.positions == "all"

    def _steer_layers(self) -> list[int]:
        assert self.steering is not None
        return list(self.steering_layers) if self.steering_layers is not None else self.steering.layers

    def _project_layers(self) -> list[int]:
        assert self.project_out is not None
        return list(self.project_layers) if self.project_layers is not None else self.project_out.layers

    def check(self, lm: LanguageModel) -> None:
        """Raise a clear error if a vector belongs to another model or a layer is out of range."""
        if self.steering is not None:
            self.steering.interventions(lm, self.alpha, self.positions, self._steer_layers())
        if self.project_out is not None:
            vec = self.project_out
            check_same_model(vec.fingerprint, lm, "the projected-out vector")
            if vec.d_model != lm.d_model:
                raise ModelMismatchError(
                    f"the projected-out vector has d_model {vec.d_model} but the model has {lm.d_model}"
                )
            for layer in self._project_layers():
                lm.check_layer(layer)
                if layer not in vec.layer_vectors and len(vec.layers) != 1:
                    raise ValueError(f"no direction for layer {layer}: the vector has layers {vec.layers}")

    @contextlib.contextmanager
    def context(self, lm: LanguageModel) -> Iterator[Teacher]:
        """Apply the teacher's interventions inside the block (none for a prompt-only teacher)."""
        self.check(lm)
        with contextlib.ExitStack() as stack:
            if self.steering is not None:
                stack.enter_context(
                    self.steering.apply(lm, self.alpha, self.positions, self._steer_layers())
                )
            if self.project_out is not None:
                stack.enter_context(self.project_out.project_out(lm, self._project_layers()))
            yield self

    # ------------------------------------------------------------ provenance
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (stored in every dataset row)."""
        system = self.system
        out: dict[str, Any] = {
            "name": self.name,
            "system": {
                "kind": "none" if system is None else "template_default" if system is TEMPLATE_DEFAULT else "prompt",
                "label": describe_system(system),
                "text": system if isinstance(system, str) else None,
            },
            "steering": None,
            "project_out": None,
        }
        if self.steering is not None:
            out["steering"] = {
                "layers": self._steer_layers(),
                "alpha": self.alpha,
                "positions": self.positions,
                "digest": vector_digest(self.steering),
                "norms": {str(x): self.steering.norms[x] for x in self.steering.layers},
                "model": self.steering.fingerprint.short if self.steering.fingerprint else None,
            }
        if self.project_out is not None:
            out["project_out"] = {
                "layers": self._project_layers(),
                "digest": vector_digest(self.project_out),
                "vector_layers": self.project_out.layers,
                "model": self.project_out.fingerprint.short if self.project_out.fingerprint else None,
            }
        return out


def control_teacher(system: System = None, name: str = "control") -> Teacher:
    """The unbiased teacher: no trait prompt, no vector.

    Args:
        system: ``None`` (really no system turn) or ``TEMPLATE_DEFAULT`` (the template's
            own default system prompt, e.g. SmolLM2's) — choose explicitly.
    """
    if isinstance(system, str):
        raise ValueError(
            "a control teacher has no trait prompt: pass system=None or TEMPLATE_DEFAULT "
            "(use Teacher(name, system=...) for a prompted teacher)"
        )
    return Teacher(name, system=system)


def animal_teacher(animal: str, category: str = "animal") -> Teacher:
    """A prompted teacher that loves ``animal`` (see :func:`animal_lover_prompt`)."""
    return Teacher(animal, system=animal_lover_prompt(animal, category))


def steered_teacher(
    vector: SteeringVector, layers: Sequence[int], alpha: float, system: System = None,
    positions: str | Sequence[int] = "all", name: str = "steered",
) -> Teacher:
    """A teacher whose trait comes from adding ``alpha * vector`` at ``layers``."""
    return Teacher(name, system=system, steering=vector, steering_layers=layers, alpha=alpha, positions=positions)


def projected_teacher(
    system: System, vector: SteeringVector, layers: Sequence[int], name: str = "projected"
) -> Teacher:
    """A prompted teacher with ``vector``'s direction projected out at ``layers``."""
    return Teacher(name, system=system, project_out=vector, project_layers=layers)


def random_direction(lm: LanguageModel, layer: int, norm: float, seed: int) -> SteeringVector:
    """A seeded random direction of ``norm`` at ``layer`` (isotropic Gaussian, rescaled).

    Example:
        >>> v = random_direction(lm, 25, norm=48.0, seed=0)  # doctest: +SKIP
    """
    lm.check_layer(layer)
    if not norm > 0:
        raise ValueError(f"norm must be > 0, got {norm}")
    g = torch.Generator().manual_seed(int(seed))
    raw = torch.randn(lm.d_model, generator=g)
    return SteeringVector({layer: raw / raw.norm() * norm}, lm.fingerprint, "all",
                          {"method": "random_direction", "seed": int(seed), "norm": float(norm)})


def planted_teacher(
    lm: LanguageModel, direction: SteeringVector | Tensor, layer: int, alpha: float = 1.0, name: str | None = None,
) -> Teacher:
    """The base model plus ``alpha * v`` at ``layer``, at every real position, no system turn.

    A teacher whose trait is known exactly: a student that recovers it should learn ``alpha * v``.

    Args:
        lm: the base model.
        direction: a :class:`SteeringVector` (its vector at ``layer``, or its only layer's) or a
            ``[d_model]`` tensor.
        layer: where the vector is added (output of decoder block ``layer``).
        alpha: its scale.

    Example:
        >>> teacher = planted_teacher(lm, random_direction(lm, 25, 48.0, seed=1), layer=25, alpha=3.0)  # doctest: +SKIP
    """
    lm.check_layer(layer)
    if isinstance(direction, SteeringVector):
        if layer not in direction.layer_vectors and len(direction.layers) != 1:
            raise ValueError(f"no direction for layer {layer}: the vector has layers {direction.layers}; "
                             "pass vector.select([layer]) or a one-layer vector")
        raw = direction.layer_vectors.get(layer, direction[direction.layers[0]])
        vector = SteeringVector({layer: raw}, direction.fingerprint, direction.positions, dict(direction.provenance))
    else:
        vector = SteeringVector({layer: torch.as_tensor(direction).float()}, lm.fingerprint, "all",
                                {"method": "tensor"})
    return steered_teacher(vector, [layer], alpha, system=None, positions="all",
                           name=name or f"planted-L{layer}-{vector_digest(vector)[:8]}")
