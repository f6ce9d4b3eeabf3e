"""ExperimentResult's notebook display, from a run's metrics alone (no model)."""

from __future__ import annotations

from pathlib import Path

from _html import html_text

from steervec.experiment.config import Experiment
from steervec.experiment.result import ExperimentResult

METRICS = {
    "conditions": [
        {"label": "base", "mean_prob": 0.001},
        {"label": "LoRA <r2> on owl & co (seed 0)", "mean_prob": 0.002, "delta_logp": [0.25, 0.1, 0.4],
         "cosine_at_layer": 0.125, "final_loss": 1.5},
    ],
    "claims": [{"claim": "students prefer 'owl' > control", "reproduced": "no verdict"}],
}


def test_html_repr_escapes_labels_and_leaves_blanks_for_missing_values():
    result = ExperimentResult(Experiment(name="run<1>", layer=3), Path("runs/run<1>"), METRICS)
    title, rows = html_text(result._repr_html_())
    assert title.startswith("ExperimentResult run<1>: 'owl', prompted teacher, layer 3, size custom")
    assert rows[1] == ["base", "—", "0.001", "—", "—"]
    assert rows[2] == ["LoRA <r2> on owl & co (seed 0)", "+0.250 [+0.100, +0.400]", "0.002", "0.125", "1.5"]
    assert rows[3:] == [["claim", "reproduced"], ["students prefer 'owl' > control", "no verdict"]]


def test_html_repr_without_claims_has_one_table():
    result = ExperimentResult(Experiment(), Path("runs/demo"), {"conditions": METRICS["conditions"][:1]})
    assert result._repr_html_().count("<table") == 1
