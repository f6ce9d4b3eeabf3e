"""What a run measured: the metrics of one experiment folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steervec.core.reprs import html_table
from steervec.experiment.config import Experiment


@dataclass
class ExperimentResult:
    """Everything :func:`run_experiment` measured (also written to ``metrics.json``)."""

    experiment: Experiment
    folder: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text summary: one row per condition."""
        head = f"{'condition':34s} {'Δlog P (95% CI)':>26s} {'P(owl)':>9s} {'cos@L':>7s} {'loss':>7s}"
        lines = [head, "-" * len(head)]
        for row in self.metrics.get("conditions", []):
            d = row.get("delta_logp")
            ci = f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]" if d else "—"
            cos = row.get("cosine_at_layer")
            loss = row.get("final_loss")
            lines.append(f"{row['label']:34s} {ci:>26s} {row['mean_prob']:9.5f} "
                         f"{'' if cos is None else f'{cos:+.3f}':>7s} {'' if loss is None else f'{loss:.3f}':>7s}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        exp = self.experiment
        rows = []
        for row in self.metrics.get("conditions", []):
            d = row.get("delta_logp")
            rows.append([row.get("label"), f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]" if d else None,
                         row.get("mean_prob"), row.get("cosine_at_layer"), row.get("final_loss")])
        caption = (f"{exp.name}: {exp.animal!r}, {exp.teacher} teacher, layer {exp.reporting_layer}, "
                   f"size {exp.size}, in {self.folder}")
        out = html_table("ExperimentResult", rows, caption=caption,
                         header=["condition", "Δlog P (95% CI)", f"P({exp.animal})",
                                 f"cos@{exp.reporting_layer}", "loss"])
        claims = [(c.get("claim"), c.get("reproduced")) for c in self.metrics.get("claims", [])]
        if claims:
            out += html_table("claims", claims, header=["claim", "reproduced"])
        return out

    def seed_differences(self, student: str) -> list[float]:
        """Per seed: mean over questions of log P(trait-data student) − log P(control-data student)
        (the summary's ``trait_minus_control_per_seed``)."""
        summary = self.metrics.get("summary", {})
        if "trait_minus_control_per_seed" not in summary.get(student, {}):
            raise KeyError(f"no trait and control students named {student!r} in this run: one of "
                           f"{sorted(k for k, v in summary.items() if 'trait_minus_control_per_seed' in v)}")
        return summary[student]["trait_minus_control_per_seed"]

    def seed_level(self, student: str) -> list[float]:
        """The values a verdict reads for ``student``: trait − control per data seed (mean over its
        training seeds) when data seeds varied, else per training seed."""
        row = self.metrics.get("summary", {}).get(student, {})
        return row.get("trait_minus_control_seed_level", self.seed_differences(student))


def summary_json(path: str | Path) -> dict[str, Any]:
    """Read a run's ``metrics.json``."""
    return json.loads(Path(path).read_text())


