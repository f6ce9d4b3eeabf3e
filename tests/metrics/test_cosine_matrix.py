"""Cosine matrices match hand-computed cosines; the diagonal summary names the rival that wins."""

from __future__ import annotations

import math

import pytest
import torch

from steervec.core.errors import ComparisonError
from steervec.core.steering_vector import SteeringVector
from steervec.metrics.cosine_matrix import CosineMatrix, alignment_matrix, cosine_matrix


def _sv(**layers):
    return SteeringVector({int(k[1:]): torch.tensor(v, dtype=torch.float32) for k, v in layers.items()})


VECTORS = {"owl": _sv(l3=[1.0, 0.0, 0.0], l6=[1.0, 1.0, 0.0]),
           "cat": _sv(l3=[1.0, 1.0, 0.0], l6=[0.0, 0.0, 2.0]),
           "pirate": _sv(l3=[0.0, 0.0, -1.0], l6=[-1.0, 0.0, 0.0])}


def test_values_are_the_cosines_at_every_shared_layer():
    m = cosine_matrix(VECTORS, VECTORS, label="raw")
    assert m.layers == (3, 6) and m.rows == m.cols == ("owl", "cat", "pirate")
    assert m.at(3).loc["owl", "cat"] == pytest.approx(1 / math.sqrt(2))
    assert m.at(6).loc["owl", "pirate"] == pytest.approx(-1 / math.sqrt(2))
    assert m.at(6).loc["cat", "pirate"] == pytest.approx(0.0)
    assert torch.allclose(m.values.diagonal(dim1=1, dim2=2), torch.ones(2, 3))
    assert len(m.to_dataframe()) == 2 * 3 * 3 and m.to_dict()["values"]["6"][0][2] == pytest.approx(-1 / math.sqrt(2))
    assert cosine_matrix(VECTORS, VECTORS, layers=[6]).layers == (6,)


def test_diagonal_margin_and_strongest_layer():
    shifts = {"owl": _sv(l3=[1.0, 0.9, 0.0], l6=[1.0, 0.2, 0.0]), "cat": _sv(l3=[0.0, 0.0, 1.0], l6=[0.0, 0.1, 1.0])}
    m = alignment_matrix(shifts, VECTORS)
    assert m.cols == ("owl", "cat", "pirate")
    table = m.diagonal_margin().set_index(["layer", "row"])
    owl3 = table.loc[(3, "owl")]
    assert owl3.rival == "cat" and not owl3.beats  # [1, .9, 0] is closer to cat's [1, 1, 0] than to owl's
    assert owl3.margin == pytest.approx(owl3.diagonal - owl3.max_off_diagonal)
    assert table.loc[(6, "owl")].beats and table.loc[(6, "cat")].beats and not table.loc[(3, "cat")].beats
    assert m.strongest_layer("owl") == 6


def test_zero_vectors_give_nan_and_bad_inputs_are_refused():
    m = cosine_matrix({"none": _sv(l3=[0.0, 0.0, 0.0])}, VECTORS)
    assert torch.isnan(m.values).all()
    with pytest.raises(ComparisonError, match="no vector for traits"):
        alignment_matrix({"dog": VECTORS["owl"]}, VECTORS)
    with pytest.raises(ComparisonError, match="at least two traits"):
        alignment_matrix({"owl": VECTORS["owl"]}, {"owl": VECTORS["owl"]})
    with pytest.raises(ComparisonError, match="not in every vector"):
        cosine_matrix(VECTORS, {"x": _sv(l3=[1.0, 0.0, 0.0])}, layers=[6])
    with pytest.raises(ComparisonError, match="rows that are also columns"):
        cosine_matrix({"dog": VECTORS["owl"]}, VECTORS).diagonal_margin()
    with pytest.raises(ComparisonError, match="no layer 9"):
        cosine_matrix(VECTORS, VECTORS).at(9)
    with pytest.raises(ComparisonError, match="expected"):
        CosineMatrix(("a",), ("b",), (1, 2), torch.zeros(1, 1, 1))
