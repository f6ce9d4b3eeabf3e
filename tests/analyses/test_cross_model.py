"""analyses/cross_model.py's panel measures on constructed per-question values: one row per measure, one
value per data seed (the mean of its training seeds), the base model's level beside it."""

from __future__ import annotations

import torch
from cross_model import _panel_row


def test_panel_row_pairs_each_unit_and_reads_one_value_per_data_seed():
    units = [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    measured = {}
    for d, s in units:  # owl-data student d + s/10 above its control at every question
        measured["control", d, s] = torch.full((4,), -3.0) + torch.arange(4.0)
        measured["owl-prompted", d, s] = measured["control", d, s] + d + s / 10
    row = _panel_row("log_odds_prefilled", measured, units, torch.tensor([-2.0, -4.0]), "Gemma students")
    assert [round(v, 5) for v in row["per_unit"]] == [1.0, 1.1, 2.0, 2.1, 3.0, 3.1]
    assert [round(v, 5) for v in row["seed_level"]] == [1.05, 2.05, 3.05]
    assert abs(row["difference"][0] - 2.05) < 1e-6 and row["base_mean"] == -3.0
    assert row["detail"].startswith("Gemma students; the base model's log-odds against the animal panel (after "
                                    "the prefill) -3.00")
