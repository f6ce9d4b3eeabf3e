"""Control-subtracted student shifts: what training on trait data moved beyond training on control data.

A student's raw shift (student minus base mean activation, :func:`student_shift`) holds
everything fine-tuning on number lists does, trait or not. Subtracting the shift of a
student trained the same way (same seed, same prompts) on control-teacher data leaves the
part that the trait data adds:

    v_student(seed) = shift(trait-data student, seed) − shift(control-data student, seed)

:class:`ControlledShifts` keeps the raw shifts too, and :meth:`ControlledShifts.cosine_with`
gives the cosine with a direction per seed, with the mean and a t-interval across seeds.

Example:
    >>> shifts = controlled_shifts(lm, "owl", owl_students, control_students, prompts)  # doctest: +SKIP
    >>> shifts.cosine_with(v_owl).to_dataframe()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from steervec.core.activations import MeanPositions, mean_activations
from steervec.core.chat import Prompt, System
from steervec.core.errors import ComparisonError, InputError
from steervec.core.model import LanguageModel, as_language_model
from steervec.core.steering_vector import SteeringVector
from steervec.metrics.alignment import student_shift
from steervec.metrics.stats import t_interval

ShiftKind = Literal["controlled", "raw", "control"]


def seed_t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` over seeds: :func:`steervec.metrics.stats.t_interval`, with NaN bounds
    for a single seed (no spread to estimate), so no alignment claim reads as settled from one.

    Example:
        >>> tuple(round(v, 3) for v in seed_t_interval([1.0, 2.0, 3.0]))
        (2.0, -0.484, 4.484)
    """
    x = [float(v) for v in values]
    if not x:
        raise ComparisonError("no values to average: pass one value per seed")
    if not 0 < level < 1:
        raise ComparisonError(f"level is a probability such as 0.95, got {level}")
    if len(x) < 2:
        return x[0], float("nan"), float("nan")
    iv = t_interval(x, level)
    return float(iv.mean), float(iv.low), float(iv.high)


@dataclass(frozen=True)
class ShiftCosines:
    """Cosine of each seed's shift with a direction, per layer, and its spread across seeds.

    Attributes:
        label: e.g. ``"owl vs v_owl"``.
        kind: which shift (``"controlled"``, ``"raw"`` or ``"control"``).
        per_seed: ``{seed: {layer: cosine}}``.
        level: the t-interval's coverage.
    """

    label: str
    kind: ShiftKind
    per_seed: dict[int, dict[int, float]]
    level: float = 0.95

    @property
    def layers(self) -> list[int]:
        return sorted(next(iter(self.per_seed.values())))

    def interval(self, layer: int) -> tuple[float, float, float]:
        """``(mean, low, high)`` across seeds at ``layer``."""
        return seed_t_interval([c[layer] for c in self.per_seed.values()], self.level)

    def to_dataframe(self) -> Any:
        """One row per layer: mean, t-interval, number of seeds and the per-seed cosines."""
        import pandas as pd

        recs = []
        for x in self.layers:
            mean, low, high = self.interval(x)
            recs.append({"label": self.label, "kind": self.kind, "layer": x, "mean": mean, "low": low, "high": high,
                         "n_seeds": len(self.per_seed), **{f"seed_{s}": c[x] for s, c in self.per_seed.items()}})
        return pd.DataFrame(recs)


@dataclass(frozen=True)
class ControlledShifts:
    """A trait's students' shifts per seed, raw and minus the control students' of the same seed.

    Attributes:
        trait: the trait of the teacher data.
        trait_shifts: ``{seed: shift of the trait-data student}`` (raw: student minus base).
        control_shifts: ``{seed: shift of the control-data student}``.
    """

    trait: str
    trait_shifts: dict[int, SteeringVector]
    control_shifts: dict[int, SteeringVector]

    def __post_init__(self) -> None:
        if not self.trait_shifts:
            raise ComparisonError("no shifts given: pass one shift per training seed")
        if set(self.trait_shifts) != set(self.control_shifts):
            raise ComparisonError(f"seeds differ: trait students {sorted(self.trait_shifts)}, control students "
                                  f"{sorted(self.control_shifts)}; train a control student for every seed")
        layers = next(iter(self.trait_shifts.values())).layers
        for seed, shift in self.trait_shifts.items():
            if shift.layers != layers:
                raise ComparisonError(f"seed {seed}'s shift has layers {shift.layers}, another seed's {layers}; "
                                      "measure every seed at the same layers")
            if shift.layers != self.control_shifts[seed].layers:
                raise ComparisonError(f"seed {seed}: the trait shift has layers {shift.layers} but the control's "
                                      f"{self.control_shifts[seed].layers}; measure both at the same layers")

    @property
    def seeds(self) -> list[int]:
        return sorted(self.trait_shifts)

    @property
    def controlled(self) -> dict[int, SteeringVector]:
        """``{seed: trait shift − control shift}``."""
        return {s: self.trait_shifts[s] - self.control_shifts[s] for s in self.seeds}

    def mean(self, kind: ShiftKind = "controlled") -> SteeringVector:
        """The shift averaged over seeds ``{layer: [d_model]}``."""
        shifts = list(self._pick(kind).values())
        return SteeringVector({x: torch.stack([v[x] for v in shifts]).mean(0) for x in shifts[0].layers},
                              shifts[0].fingerprint, shifts[0].positions,
                              {"method": f"{kind}_shift_mean", "trait": self.trait, "seeds": self.seeds})

    def _pick(self, kind: ShiftKind) -> dict[int, SteeringVector]:
        if kind == "controlled":
            return self.controlled
        if kind in ("raw", "control"):
            return dict(self.trait_shifts if kind == "raw" else self.control_shifts)
        raise ComparisonError(f"unknown shift kind {kind!r}: use 'controlled', 'raw' or 'control'")

    def cosine_with(self, direction: SteeringVector, kind: ShiftKind = "controlled", label: str | None = None,
                    level: float = 0.95) -> ShiftCosines:
        """cos(shift, ``direction``) per seed at every shared layer, with a t-interval across seeds."""
        per_seed = {s: v.cosine(direction) for s, v in self._pick(kind).items()}
        return ShiftCosines(label or f"{self.trait} ({kind})", kind, per_seed, level)


def controlled_shifts(lm: LanguageModel, trait: str, trait_students: Mapping[int, Any],
                      control_students: Mapping[int, Any], prompts: Sequence[Prompt], layers: Sequence[int] | None = None,
                      system: System = None, positions: MeanPositions = "prompt") -> ControlledShifts:
    """Measure every student's shift on the same prompts (the base measured once) and pair them by seed.

    Args:
        lm: the base model.
        trait: the trait of the teacher data (a label).
        trait_students: ``{seed: Student}`` trained on trait data.
        control_students: ``{seed: Student}`` trained on control data.
        prompts: e.g. number prompts, rendered with ``system`` (default: no system turn).
        positions: ``"prompt"`` (every prompt token, the reference choice) or ``"last_prompt"``.
    """
    lm = as_language_model(lm)
    if set(trait_students) != set(control_students):
        raise ComparisonError(f"seeds differ: trait students {sorted(trait_students)}, control students "
                              f"{sorted(control_students)}; pair each trait student with a control of the same seed")
    base = mean_activations(lm, prompts, system, layers, positions)
    kw = dict(layers=layers, system=system, positions=positions, base_means=base)
    trait_shifts = {s: student_shift(lm, st, prompts, **kw) for s, st in trait_students.items()}  # type: ignore[arg-type]
    control = {s: student_shift(lm, st, prompts, **kw) for s, st in control_students.items()}  # type: ignore[arg-type]
    return ControlledShifts(trait, trait_shifts, control)


Unit = tuple[int, int]
"""A replicate of a run: ``(data seed, training seed)``."""


def load_run_shifts(folder: str | os.PathLike[str], model: Any = None) -> dict[tuple[str, str, Unit], SteeringVector]:
    """Every student shift a run saved (``<run>/shifts/*.safetensors``, written by
    :func:`~steervec.experiment.run.run_experiment` with ``specific_alignment``), keyed by
    ``(student, data, (data seed, training seed))``.

    Example:
        >>> shifts = load_run_shifts("records/full/subliminal_transfer-owl")  # doctest: +SKIP
    """
    files = sorted((Path(folder) / "shifts").glob("*.safetensors"))
    if not files:
        raise InputError(f"{folder} holds no shifts/*.safetensors: run it again with "
                         "Experiment(specific_alignment=True) (its students are reused from the cache)")
    out: dict[tuple[str, str, Unit], SteeringVector] = {}
    for file in files:
        vector = SteeringVector.load(file, model=model)
        p = vector.provenance
        if not {"student", "data", "data_seed", "seed"} <= set(p):
            raise InputError(f"{file} does not say which student it is (student, data, data_seed, seed in its "
                             "provenance): it was not written by run_experiment; remove it")
        out[str(p["student"]), str(p["data"]), (int(p["data_seed"]), int(p["seed"]))] = vector
    return out


def controlled_by_unit(shifts: Mapping[tuple[str, str, Unit], SteeringVector], student: str, trait_data: str,
                       control_data: str) -> dict[Unit, SteeringVector]:
    """``{unit: shift(trait-data student) − shift(control-data student)}`` for one student kind, over the
    units that have both (a unit missing either is left out; none in common is an error)."""
    trait = {u: v for (st, d, u), v in shifts.items() if st == student and d == trait_data}
    control = {u: v for (st, d, u), v in shifts.items() if st == student and d == control_data}
    units = sorted(set(trait) & set(control))
    if not units:
        have = sorted({(st, d) for st, d, _ in shifts})
        raise ComparisonError(f"no unit has both a {student!r} student on {trait_data!r} and one on {control_data!r} "
                              f"data; the shifts hold (student, data) {have}")
    return {u: trait[u] - control[u] for u in units}
