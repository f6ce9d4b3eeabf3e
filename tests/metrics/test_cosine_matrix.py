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


def test_alignment_by_unit_averages_replicates_and_reads_one_value_per_data_seed():
    from steervec.metrics.cosine_matrix import alignment_by_unit

    owl_like, cat_like = [1.0, 0.1, 0.0], [0.1, 0.0, 2.0]
    controlled = {"owl": {(0, 0): _sv(l3=owl_like, l6=owl_like), (1, 0): _sv(l3=[1.0, 0.0, 0.0], l6=[1.0, 0.0, 0.0])},
                  "cat": {(0, 0): _sv(l3=[1.0, 1.0, 0.0], l6=cat_like), (1, 0): _sv(l3=[1.0, 1.0, 0.1], l6=cat_like)}}
    al = alignment_by_unit(controlled, VECTORS)
    assert al.cols == ("owl", "cat", "pirate") and al.traits == ["owl", "cat"] and al.layers == (3, 6)
    mean = al.mean()
    hand = (cosine_matrix({"o": controlled["owl"][(0, 0)]}, VECTORS).values[:, 0, :]
            + cosine_matrix({"o": controlled["owl"][(1, 0)]}, VECTORS).values[:, 0, :]) / 2
    assert torch.allclose(mean.values[:, 0, :], hand)
    table = al.to_dataframe()
    assert len(table) == 2 * 2 * 2  # layers x traits x replicates
    row = table[(table.layer == 6) & (table.trait == "cat") & (table.data_seed == 1)].iloc[0]
    cos = cosine_matrix({"c": controlled["cat"][(1, 0)]}, VECTORS).at(6).iloc[0]
    assert row.diagonal == pytest.approx(cos["cat"])
    assert row.specificity == pytest.approx(cos["cat"] - (cos["owl"] + cos["pirate"]) / 2)
    per_seed = al.by_data_seed(6)
    assert set(per_seed) == {0, 1}
    expect = table[(table.layer == 6) & (table.data_seed == 0)].specificity.mean()
    assert per_seed[0] == pytest.approx(expect) and per_seed[0] > 0  # both traits sit on their own vector at 6
    assert al.by_data_seed(3)[1] < per_seed[1]  # owl and cat vectors are 45° apart at layer 3, 90° at 6
    with pytest.raises(ComparisonError, match="no vector for traits"):
        alignment_by_unit({"dog": {(0, 0): VECTORS["owl"]}}, VECTORS)
    with pytest.raises(ComparisonError, match="no layer 9"):
        al.by_data_seed(9)


def test_by_data_seed_keeps_one_trait_or_the_data_seeds_every_trait_has():
    from steervec.metrics.cosine_matrix import alignment_by_unit

    own = {t: VECTORS[t] for t in ("owl", "cat")}
    wrong = _sv(l3=[0.0, 0.0, -1.0], l6=[-1.0, 0.0, 0.0])  # sits on pirate: negative specificity
    # owl has data seeds 1..3, cat only 1..2; cat's seed-2 student sits on pirate
    controlled = {"owl": {(1, 0): own["owl"], (2, 0): own["owl"], (3, 0): wrong},
                  "cat": {(1, 0): own["cat"], (2, 0): wrong}}
    al = alignment_by_unit(controlled, VECTORS)
    assert al.common_data_seeds() == [1, 2]
    table = al.to_dataframe()
    spec = {(r.trait, r.data_seed): r.specificity for r in table[table.layer == 6].itertuples()}
    owl_row = al.by_data_seed(6, traits=["owl"])
    assert owl_row == pytest.approx({1: spec["owl", 1], 2: spec["owl", 2], 3: spec["owl", 3]})
    assert owl_row[1] > 0 > owl_row[3]
    balanced = al.by_data_seed(6, data_seeds=al.common_data_seeds())
    assert set(balanced) == {1, 2}  # data seed 3 would average owl alone
    assert balanced[2] == pytest.approx((spec["owl", 2] + spec["cat", 2]) / 2)
    assert set(al.by_data_seed(6)) == {1, 2, 3}
    with pytest.raises(ComparisonError, match="no students of"):
        al.by_data_seed(6, traits=["dog"])
    with pytest.raises(ComparisonError, match="none of data seeds"):
        al.by_data_seed(6, data_seeds=[7])
    disjoint = alignment_by_unit({"owl": {(1, 0): own["owl"]}, "cat": {(2, 0): own["cat"]}}, VECTORS)
    assert disjoint.common_data_seeds() == []


def test_run_shifts_load_by_unit_and_subtract_the_control(tmp_path):
    from steervec.core.errors import InputError
    from steervec.metrics.shifts import controlled_by_unit, load_run_shifts

    with pytest.raises(InputError, match="specific_alignment=True"):
        load_run_shifts(tmp_path)
    (tmp_path / "shifts").mkdir()
    for data, value in (("owl", 3.0), ("control", 1.0)):
        for unit in ((0, 0), (1, 0)):
            v = _sv(l3=[value, unit[0], 0.0])
            v.provenance.update({"student": "LoRA r8", "data": data, "data_seed": unit[0], "seed": unit[1]})
            v.save(tmp_path / "shifts" / f"{data}-{unit[0]}.safetensors")
    shifts = load_run_shifts(tmp_path)
    assert set(shifts) == {("LoRA r8", d, u) for d in ("owl", "control") for u in ((0, 0), (1, 0))}
    delta = controlled_by_unit(shifts, "LoRA r8", "owl", "control")
    assert set(delta) == {(0, 0), (1, 0)} and torch.equal(delta[(1, 0)][3], torch.tensor([2.0, 0.0, 0.0]))
    with pytest.raises(ComparisonError, match="no unit has both"):
        controlled_by_unit(shifts, "vector@25", "owl", "control")


def test_by_column_cancels_a_direction_every_student_moves_along():
    from steervec.metrics.cosine_matrix import alignment_by_unit

    on_cat = _sv(l3=[0.0, 0.0, 1.0], l6=[0.0, 0.0, 1.0])  # at layer 6: cat's vector
    # every student, of owl data and of cat data, moves along cat's vector: a column effect
    generic = alignment_by_unit({"owl": {(1, 0): on_cat, (2, 0): on_cat}, "cat": {(1, 0): on_cat, (2, 0): on_cat}},
                                VECTORS)
    assert generic.by_data_seed(6, traits=["cat"]) == pytest.approx({1: 1.0, 2: 1.0})  # the row reads it as specific
    assert generic.by_column(6, traits=["cat"]) == pytest.approx({1: 0.0, 2: 0.0})  # the column does not
    assert generic.by_column(6) == pytest.approx({1: 0.0, 2: 0.0})
    # each trait's students on their own vector: +1 in both columns; training seeds average within a cell
    own = alignment_by_unit({"owl": {(1, 0): VECTORS["owl"], (1, 1): VECTORS["owl"]}, "cat": {(1, 0): on_cat}},
                            VECTORS)
    assert own.by_column(6, traits=["owl"]) == pytest.approx({1: 1.0})
    assert own.by_column(6) == pytest.approx({1: 1.0})
    with pytest.raises(ComparisonError, match="no students of"):
        own.by_column(6, traits=["pirate"])
    with pytest.raises(ComparisonError, match="no data seed that every trait"):
        own.by_column(6, data_seeds=[7])
    with pytest.raises(ComparisonError, match="two traits or more"):
        alignment_by_unit({"owl": {(1, 0): on_cat}}, VECTORS).by_column(6)
