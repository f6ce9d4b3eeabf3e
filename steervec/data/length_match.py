"""Length-matched controls: trait and control datasets with the same numbers-per-row distribution.

An owl teacher that writes slightly longer lists than the control teacher gives its students
more number tokens per row: a trait − control difference could then come from list length,
not from the trait. :func:`length_match` keeps, for every count of numbers per row
(:func:`~steervec.data.number_filter.count_numbers`), ``min(n_trait, n_control)`` rows of each
dataset, chosen with a seeded generator, so the two kept datasets have *identical* count
distributions (and so equal mean counts). Rows keep their original order.

Example:
    >>> trait, control, report = length_match(owl_rows, control_rows, seed=1)  # doctest: +SKIP
    >>> report.mean_before, report.mean_after  # doctest: +SKIP
    ((5.76, 5.43), (5.52, 5.52))
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from steervec.data.number_filter import count_numbers
from steervec.data.rows import TeacherRow


@dataclass(frozen=True)
class LengthMatchReport:
    """What :func:`length_match` kept.

    Attributes:
        seed: the generator's seed.
        rows_before / rows_kept: (trait, control) row counts before and after (the kept counts are equal).
        mean_before / mean_after: (trait, control) mean numbers per row before and after.
        per_count: ``{count: [n_trait, n_control, kept of each]}`` over every count seen.
    """

    seed: int
    rows_before: tuple[int, int]
    rows_kept: tuple[int, int]
    mean_before: tuple[float, float]
    mean_after: tuple[float, float]
    per_count: dict[int, list[int]] = field(default_factory=dict)

    @property
    def kept_share(self) -> tuple[float, float]:
        """(trait, control): the share of each dataset's rows kept."""
        return (self.rows_kept[0] / max(1, self.rows_before[0]), self.rows_kept[1] / max(1, self.rows_before[1]))

    def to_dict(self) -> dict[str, Any]:
        """As JSON stores it: pairs as lists, counts as string keys."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        out["per_count"] = {str(k): v for k, v in self.per_count.items()}
        return out

    def __str__(self) -> str:
        return (f"length-matched (seed {self.seed}): kept {self.rows_kept[0]} of {self.rows_before[0]} trait and "
                f"{self.rows_kept[1]} of {self.rows_before[1]} control rows; mean numbers per row "
                f"{self.mean_before[0]:.2f} / {self.mean_before[1]:.2f} before, "
                f"{self.mean_after[0]:.2f} / {self.mean_after[1]:.2f} after")


def _mean(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else float("nan")


def length_match(
    trait_rows: Sequence[TeacherRow],
    control_rows: Sequence[TeacherRow],
    seed: int = 0,
    count: Callable[[str], int] = count_numbers,
) -> tuple[list[TeacherRow], list[TeacherRow], LengthMatchReport]:
    """Seeded subsets of both datasets whose numbers-per-row distributions are identical.

    For each count value ``c`` (``count(row.completion)``), ``min(n_trait(c), n_control(c))`` rows
    of each dataset are kept, drawn without replacement by ``random.Random(seed)`` (count values
    visited in increasing order, trait before control), so the same inputs and seed always keep
    the same rows. Kept rows stay in their original order.

    Args:
        trait_rows / control_rows: the two teachers' rows.
        seed: the generator's seed.
        count: how long a completion is (default: its numbers, :func:`count_numbers`).

    Returns:
        ``(trait_kept, control_kept, report)``; the kept lists have equal length (possibly 0).
    """
    counts = ([count(r.completion) for r in trait_rows], [count(r.completion) for r in control_rows])
    groups: list[dict[int, list[int]]] = [{}, {}]
    for side in (0, 1):
        for i, c in enumerate(counts[side]):
            groups[side].setdefault(c, []).append(i)
    rng = random.Random(seed)
    keep: list[list[int]] = [[], []]
    per_count: dict[int, list[int]] = {}
    for c in sorted(set(groups[0]) | set(groups[1])):
        members = (groups[0].get(c, []), groups[1].get(c, []))
        k = min(len(members[0]), len(members[1]))
        per_count[c] = [len(members[0]), len(members[1]), k]
        for side in (0, 1):
            keep[side] += rng.sample(members[side], k)
    kept = [sorted(k) for k in keep]
    trait = [trait_rows[i] for i in kept[0]]
    control = [control_rows[i] for i in kept[1]]
    assert Counter(counts[0][i] for i in kept[0]) == Counter(counts[1][i] for i in kept[1])
    report = LengthMatchReport(
        seed, (len(trait_rows), len(control_rows)), (len(trait), len(control)),
        (_mean(counts[0]), _mean(counts[1])),
        (_mean([counts[0][i] for i in kept[0]]), _mean([counts[1][i] for i in kept[1]])), per_count)
    return trait, control, report


__all__ = ["LengthMatchReport", "length_match"]
