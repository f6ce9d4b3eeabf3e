"""Control masks for token-selective training: the same number of tokens, chosen at random.

A student trained on a row's divergence tokens alone (:func:`steervec.data.divergence.divergence_masks`)
sees only a few percent of the response tokens. To tell "these tokens carry the trait" from "few
tokens, any tokens, do something", it is compared with a student trained on a random mask that
keeps exactly as many tokens *in every row* as the divergence mask does (so the same share overall),
placed uniformly at random by a seeded generator.

Example:
    >>> div = divergence_masks(lm, rows, owl, [Teacher("none", system=None)])  # doctest: +SKIP
    >>> control = random_masks_like(div.masks, seed=0)  # doctest: +SKIP
    >>> student = train_student(lm, rows, method=LoRA(), lr=1e-3, loss_masks=control)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


def random_masks_like(masks: Sequence[Any], seed: int = 0) -> list[Tensor]:
    """Per row, a bool mask of the same length with as many True entries as ``masks[i]``, at positions
    drawn uniformly without replacement by ``torch.Generator().manual_seed(seed)`` (rows in order).

    Args:
        masks: one bool mask (tensor or list) per row, e.g. ``DivergenceResult.masks``.
        seed: the generator's seed: the same masks and seed give the same random masks.

    Returns:
        One ``[n_i]`` bool tensor per row; row ``i`` keeps ``masks[i].sum()`` tokens, so the share of all
        tokens kept equals the given masks' share exactly.
    """
    gen = torch.Generator().manual_seed(seed)
    out = []
    for mask in masks:
        m = torch.as_tensor(mask, dtype=torch.bool).flatten()
        k = int(m.sum())
        chosen = torch.zeros(m.numel(), dtype=torch.bool)
        if m.numel():
            chosen[torch.randperm(m.numel(), generator=gen)[:k]] = True
        out.append(chosen)
    return out


def mask_share(masks: Sequence[Any]) -> float:
    """The share of all entries that are True (0 for no entries)."""
    total = sum(torch.as_tensor(m).numel() for m in masks)
    return sum(int(torch.as_tensor(m, dtype=torch.bool).sum()) for m in masks) / max(total, 1)


__all__ = ["mask_share", "random_masks_like"]
