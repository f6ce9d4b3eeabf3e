"""Cosine matrices between labelled vectors, per layer, and whether each row's diagonal wins.

* :func:`cosine_matrix` — cos(row vector, column vector) at every shared layer, e.g.
  trait vectors against each other (a cross-trait matrix).
* :func:`alignment_matrix` — students' (control-subtracted) shifts ``{trait: shift}``
  against every trait's vector ``{trait: vector}``: a student trained on owl data should
  align with the owl vector more than with any other trait's.
* :meth:`CosineMatrix.diagonal_margin` — per row and layer, the diagonal minus the largest
  off-diagonal entry (> 0: the row is closest to its own trait).

Example:
    >>> m = alignment_matrix({"owl": shift_owl, "cat": shift_cat}, vectors)  # doctest: +SKIP
    >>> m.diagonal_margin().query("layer == 25")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from steervec.core.errors import ComparisonError
from steervec.core.steering_vector import SteeringVector, check_same_model


@dataclass(frozen=True)
class CosineMatrix:
    """Cosines between labelled vectors, one matrix per layer.

    Attributes:
        rows: labels of the rows (e.g. trait names).
        cols: labels of the columns.
        layers: the layers, in the order of ``values``' first axis.
        values: ``[n_layers, n_rows, n_cols]`` cosines (NaN where a vector is zero).
        label: what the matrix compares (e.g. ``"matched"``).
    """

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    layers: tuple[int, ...]
    values: Tensor
    label: str = ""

    def __post_init__(self) -> None:
        shape = (len(self.layers), len(self.rows), len(self.cols))
        if tuple(self.values.shape) != shape:
            raise ComparisonError(f"values have shape {tuple(self.values.shape)}, expected {shape} (layers, rows, cols)")

    def at(self, layer: int) -> Any:
        """The ``rows × cols`` matrix at ``layer`` (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.values[self._index(layer)].tolist(), index=list(self.rows), columns=list(self.cols))

    def _index(self, layer: int) -> int:
        if layer not in self.layers:
            raise ComparisonError(f"no layer {layer} in this matrix: it has layers {list(self.layers)}")
        return self.layers.index(layer)

    def diagonal_margin(self) -> Any:
        """Per layer and row: its own column, the largest other column, and their difference.

        Only rows whose label is also a column count; each needs at least one other column.
        Columns: ``layer, row, diagonal, max_off_diagonal, rival, margin, beats``.
        """
        import pandas as pd

        own = [r for r in self.rows if r in self.cols]
        if not own or len(self.cols) < 2:
            raise ComparisonError("a diagonal needs rows that are also columns and at least two columns; "
                                  "label shifts and vectors by the same trait names")
        recs = []
        for k, layer in enumerate(self.layers):
            for r in own:
                i, j = self.rows.index(r), self.cols.index(r)
                others = [(float(self.values[k, i, c]), self.cols[c]) for c in range(len(self.cols)) if c != j]
                best, rival = max(others)
                diag = float(self.values[k, i, j])
                recs.append({"layer": layer, "row": r, "diagonal": diag, "max_off_diagonal": best,
                             "rival": rival, "margin": diag - best, "beats": diag > best})
        return pd.DataFrame(recs)

    def strongest_layer(self, row: str) -> int:
        """The layer where ``row``'s diagonal beats its off-diagonal entries by the most."""
        table = self.diagonal_margin()
        table = table[table.row == row]
        if table.empty:
            raise ComparisonError(f"{row!r} is not both a row and a column: rows {list(self.rows)}, cols {list(self.cols)}")
        return int(table.loc[table.margin.idxmax(), "layer"])

    def to_dataframe(self) -> Any:
        """Long form: one row per ``layer, row, col`` with its ``cosine``."""
        import pandas as pd

        return pd.DataFrame([{"label": self.label, "layer": x, "row": r, "col": c, "cosine": float(self.values[k, i, j])}
                             for k, x in enumerate(self.layers) for i, r in enumerate(self.rows)
                             for j, c in enumerate(self.cols)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: labels and ``{layer: [[cosine]]}``."""
        return {"label": self.label, "rows": list(self.rows), "cols": list(self.cols),
                "values": {str(x): self.values[k].tolist() for k, x in enumerate(self.layers)}}


def _cosines(a: Tensor, b: Tensor) -> Tensor:
    """``[n_a, n_b]`` cosines of the rows of ``a`` ``[n_a, d]`` and ``b`` ``[n_b, d]``; NaN for zero rows."""
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    out = (a @ b.T) / (na * nb.T)
    return torch.where((na > 0) & (nb.T > 0), out, torch.full_like(out, float("nan")))


def cosine_matrix(rows: Mapping[str, SteeringVector], cols: Mapping[str, SteeringVector],
                  layers: Sequence[int] | None = None, label: str = "") -> CosineMatrix:
    """cos(rows[r], cols[c]) at every layer all the vectors share (or at ``layers``).

    Args:
        rows: ``{label: SteeringVector}``, all of one model.
        cols: ``{label: SteeringVector}``, of the same model.
        layers: layers to compare (default: every layer all vectors have).
    """
    if not rows or not cols:
        raise ComparisonError("cosine_matrix needs at least one row vector and one column vector")
    every = [*rows.values(), *cols.values()]
    for vec in every[1:]:
        check_same_model(every[0].fingerprint, vec.fingerprint, "the first vector")
    shared = sorted(set.intersection(*(set(v.layers) for v in every)))
    chosen = shared if layers is None else list(layers)
    missing = sorted(set(chosen) - set(shared))
    if not chosen or missing:
        raise ComparisonError(f"layers {missing or chosen} are not in every vector (shared layers: {shared}); "
                              "compute the vectors at the same layers")
    values = torch.stack([
        _cosines(torch.stack([v[x].double() for v in rows.values()]), torch.stack([v[x].double() for v in cols.values()]))
        for x in chosen
    ])
    return CosineMatrix(tuple(rows), tuple(cols), tuple(chosen), values.float(), label)


def alignment_matrix(shifts: Mapping[str, SteeringVector], vectors: Mapping[str, SteeringVector],
                     layers: Sequence[int] | None = None, label: str = "alignment") -> CosineMatrix:
    """Each trait's student shift against every trait's vector, per layer.

    Args:
        shifts: ``{trait: v_student}`` (control-subtracted shifts, see
            :mod:`steervec.metrics.shifts`).
        vectors: ``{trait: v_teacher}``; must hold every trait of ``shifts`` (the diagonal)
            and at least one other.

    Returns:
        A :class:`CosineMatrix` with rows = shifts' traits and columns = vectors' traits (the
        shifts' traits first, in their order); ``diagonal_margin()`` is the summary.
    """
    return cosine_matrix(shifts, _columns(shifts, vectors), layers, label)


def _columns(traits: Sequence[str] | Mapping[str, Any], vectors: Mapping[str, SteeringVector]) -> dict[str, SteeringVector]:
    """The columns of an alignment matrix: every trait's own vector first (the diagonal), then the rest."""
    missing = [t for t in traits if t not in vectors]
    if missing:
        raise ComparisonError(f"no vector for traits {missing}: every shift needs its own trait's vector "
                              "(the diagonal); add them to `vectors`")
    order = [*traits, *(t for t in vectors if t not in traits)]
    if len(order) < 2:
        raise ComparisonError("an alignment matrix needs vectors of at least two traits to compare against")
    return {t: vectors[t] for t in order}


@dataclass(frozen=True)
class UnitAlignment:
    """Students of several traits, one control-subtracted shift per replicate, against every trait's vector.

    Attributes:
        per_unit: ``{(trait, unit): CosineMatrix}`` with one row (the trait) and every vector as a column;
            ``unit`` is the replicate, ``(data seed, training seed)``.
        cols: the vectors' traits (the shifts' traits first).
    """

    per_unit: dict[tuple[str, Any], CosineMatrix]
    cols: tuple[str, ...]

    @property
    def traits(self) -> list[str]:
        return list(dict.fromkeys(t for t, _ in self.per_unit))

    @property
    def layers(self) -> tuple[int, ...]:
        return next(iter(self.per_unit.values())).layers

    def mean(self) -> CosineMatrix:
        """Each trait's row averaged over its replicates (``rows`` = the shifts' traits)."""
        rows = []
        for t in self.traits:
            mats = [m.values[:, 0, :] for (trait, _), m in self.per_unit.items() if trait == t]
            rows.append(torch.stack(mats).mean(0))
        return CosineMatrix(tuple(self.traits), self.cols, self.layers, torch.stack(rows, dim=1), "mean over replicates")

    def to_dataframe(self) -> Any:
        """Per layer, trait and replicate: the diagonal, the mean and the largest off-diagonal cosine, and
        ``specificity`` = diagonal − mean off-diagonal (columns ``layer, trait, data_seed, seed, ...``)."""
        import pandas as pd

        recs = []
        for (trait, unit), m in self.per_unit.items():
            j = self.cols.index(trait)
            for k, layer in enumerate(m.layers):
                row = m.values[k, 0]
                others = torch.cat([row[:j], row[j + 1:]]).double()
                diag = float(row[j])
                data_seed, seed = unit if isinstance(unit, tuple) else (unit, unit)
                recs.append({"layer": layer, "trait": trait, "data_seed": data_seed, "seed": seed, "diagonal": diag,
                             "mean_off_diagonal": float(others.mean()), "max_off_diagonal": float(others.max()),
                             "specificity": diag - float(others.mean()), "beats_all": diag > float(others.max())})
        return pd.DataFrame(recs)

    def by_data_seed(self, layer: int, traits: Sequence[str] | None = None,
                     data_seeds: Collection[int] | None = None) -> dict[int, float]:
        """At ``layer``, one value per data seed: the specificity averaged over traits and training seeds.
        Traits share each data seed's control students, so their replicates are not independent; the
        data seeds are (what a verdict reads).

        ``traits`` keeps those traits' students only (one trait: that row's own specificity);
        ``data_seeds`` keeps those data seeds only (e.g. the ones every trait has, so that each value
        averages the same traits). Without ``data_seeds`` every data seed of the kept traits counts.
        """
        table = self.to_dataframe()
        table = table[table.layer == layer]
        if table.empty:
            raise ComparisonError(f"no layer {layer}: the shifts have layers {list(self.layers)}")
        if traits is not None:
            unknown = sorted(set(traits) - set(self.traits))
            if unknown:
                raise ComparisonError(f"no students of {unknown}: the traits are {self.traits}")
            table = table[table.trait.isin(list(traits))]
        if data_seeds is not None:
            table = table[table.data_seed.isin([int(d) for d in data_seeds])]
            if table.empty:
                raise ComparisonError(f"none of data seeds {sorted(data_seeds)} among the kept students' replicates")
        return {int(d): float(v) for d, v in table.groupby("data_seed").specificity.mean().items()}

    def by_column(self, layer: int, traits: Sequence[str] | None = None,
                  data_seeds: Collection[int] | None = None) -> dict[int, float]:
        """At ``layer``, one value per data seed: how much more a trait's students move along *that trait's*
        vector than the other traits' students do (own cell − mean of the other students' cells in the
        trait's column; each cell the mean over its training seeds), averaged over ``traits`` (default: every
        trait with students). A direction every student moves along (a column effect: a vector that any
        number-list fine-tuning aligns with) cancels here, where :meth:`by_data_seed` (own column − the other
        columns of the same students) counts it as specificity. Reads the data seeds every trait has (each
        data seed's students share its control students), within ``data_seeds`` when given."""
        if len(self.traits) < 2:
            raise ComparisonError(f"a column comparison needs students of two traits or more; got {self.traits}")
        chosen = list(traits) if traits is not None else self.traits
        unknown = sorted(set(chosen) - set(self.traits))
        if unknown:
            raise ComparisonError(f"no students of {unknown}: the traits are {self.traits}")
        cells: dict[tuple[str, int], list[Tensor]] = {}
        for (trait, unit), m in self.per_unit.items():
            data_seed = unit[0] if isinstance(unit, tuple) else unit
            cells.setdefault((trait, int(data_seed)), []).append(m.values[m._index(layer), 0].double())
        means = {key: torch.stack(v).mean(0) for key, v in cells.items()}
        seeds = set(self.common_data_seeds())
        if data_seeds is not None:
            seeds &= {int(d) for d in data_seeds}
        if not seeds:
            raise ComparisonError("no data seed that every trait's students have: a column compares students "
                                  "of the same data seed (the same control students)")
        out = {}
        for d in sorted(seeds):
            values = []
            for t in chosen:
                j = self.cols.index(t)
                others = [float(means[(r, d)][j]) for r in self.traits if r != t]
                values.append(float(means[(t, d)][j]) - sum(others) / len(others))
            out[d] = sum(values) / len(values)
        return out

    def common_data_seeds(self) -> list[int]:
        """The data seeds every trait's students have (a balanced average over traits reads only these)."""
        seeds = [{u[0] if isinstance(u, tuple) else u for t, u in self.per_unit if t == trait} for trait in self.traits]
        return sorted(set.intersection(*seeds))


def alignment_by_unit(controlled: Mapping[str, Mapping[Any, SteeringVector]], vectors: Mapping[str, SteeringVector],
                      layers: Sequence[int] | None = None) -> UnitAlignment:
    """:func:`alignment_matrix` for every replicate of every trait's students.

    Args:
        controlled: ``{trait: {unit: control-subtracted shift}}``
            (:func:`steervec.metrics.shifts.controlled_by_unit`).
        vectors: ``{trait: vector}`` (e.g. matched trait vectors); holds every trait of ``controlled``
            and at least one other.
    """
    if not controlled or not all(controlled.values()):
        raise ComparisonError("no shifts: pass {trait: {unit: shift}} with at least one unit per trait")
    cols = _columns(list(controlled), vectors)  # one column order for every replicate
    per_unit = {(t, u): cosine_matrix({t: v}, cols, layers, "replicate") for t, units in controlled.items()
                for u, v in units.items()}
    return UnitAlignment(per_unit, tuple(cols))
