"""Planted activations: known generic and trait-specific shifts on top of a tiny model's means.

Tests of trait vectors patch ``mean_activations`` with :func:`plant_means` (a fixture in each
module that uses it), then check that a baseline removes or keeps what was planted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor

from steervec.core.chat import TEMPLATE_DEFAULT, describe_system
from steervec.data.prompts import trait_prompt
from steervec.vectors import baselines

PLANTED_TRAITS = ("owl", "cat", "dog", "pirate")
GENERIC_NORM, SPECIFIC_NORM = 1000.0, 100.0


@dataclass
class Planted:
    """What the patched ``mean_activations`` adds, and which conditions it was asked for.

    Attributes:
        generic: ``[d_model]`` added to the mean of every run with a system prompt (any text).
        specific: ``{trait: [d_model]}`` added only under that trait's prompt; orthogonal to
            ``generic`` and to each other.
        calls: the label of every condition measured, in order.
    """

    generic: Tensor
    specific: dict[str, Tensor]
    calls: list[str] = field(default_factory=list)


def plant_means(monkeypatch: pytest.MonkeyPatch) -> Planted:
    """Patch :mod:`steervec.vectors.baselines`' ``mean_activations`` to add the planted shifts."""
    d_model = 64  # the tiny models' width (tests/conftest.py)
    basis = torch.linalg.qr(torch.randn(d_model, 1 + len(PLANTED_TRAITS), generator=torch.Generator().manual_seed(7))).Q.T
    plant = Planted(GENERIC_NORM * basis[0], {t: SPECIFIC_NORM * basis[1 + i] for i, t in enumerate(PLANTED_TRAITS)})
    by_prompt = {trait_prompt(t): v for t, v in plant.specific.items()}
    real = baselines.mean_activations

    def patched(lm, prompts, system=TEMPLATE_DEFAULT, layers=None, positions="last_prompt", **kw):
        plant.calls.append(describe_system(system))
        means = real(lm, prompts, system, layers, positions, **kw)
        if isinstance(system, str):
            extra = plant.generic + by_prompt.get(system, torch.zeros(d_model))
            means = {x: v + extra for x, v in means.items()}
        return means

    monkeypatch.setattr(baselines, "mean_activations", patched)
    return plant
