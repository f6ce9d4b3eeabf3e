"""Mean activations of a model over prompts, per layer: the measurement under every vector."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steervec.core.chat import (
    TEMPLATE_DEFAULT,
    Prompt,
    System,
    check_texts,
    describe_system,
    encode_chat,
)
from steervec.core.errors import PositionError
from steervec.core.hooks import record
from steervec.core.model import as_language_model
from steervec.core.positions import KEYWORDS, PositionKeyword

MeanPositions = PositionKeyword  # the one vocabulary of positions (kept as a name for existing imports)


@torch.no_grad()
def mean_activations(
    lm: object,
    prompts: Sequence[Prompt],
    system: System = TEMPLATE_DEFAULT,
    layers: Sequence[int] | None = None,
    positions: MeanPositions = "last_prompt",
    completions: Sequence[str] | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[int, Tensor]:
    """Mean residual activation ``{layer: [d_model]}`` over prompts at the chosen positions.

    Args:
        positions: a position keyword (:data:`steervec.core.positions.PositionKeyword`):
            ``"last_prompt"`` (the last chat-template token, where the assistant turn opens),
            ``"prompt"`` (every prompt token, template included), ``"response"`` (teacher-forced
            ``completions`` tokens) or ``"all"``.
    """
    lm = as_language_model(lm)
    if positions not in KEYWORDS:
        raise PositionError(f"unknown positions {positions!r}: use one of {list(KEYWORDS)}")
    if positions in ("response", "generated") and completions is None:
        raise ValueError("positions='response' needs completions: pass the teacher's responses")
    check_texts(prompts, "prompts")
    if completions is not None:
        check_texts(completions, "completions")
    chosen = list(range(lm.n_layers)) if layers is None else [lm.check_layer(x) for x in layers]
    sums = {x: torch.zeros(lm.d_model, dtype=torch.float64) for x in chosen}
    count = 0
    starts = range(0, len(prompts), batch_size)
    for start in tqdm(starts, desc=f"activations ({describe_system(system)[:30]})", disable=not progress):
        rows = prompts[start : start + batch_size]
        comps = None if completions is None else completions[start : start + batch_size]
        batch = encode_chat(lm, rows, system, comps)
        mask = batch.positions_mask(positions)
        with record(lm, chosen) as rec:
            lm.model(**batch.model_inputs(), use_cache=False)
        for x in chosen:
            sums[x] += rec[x][mask].double().sum(dim=0).cpu()
        count += int(mask.sum())
    return {x: (s / count).float() for x, s in sums.items()}


