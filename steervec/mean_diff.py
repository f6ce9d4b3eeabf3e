"""Mean-difference steering vectors: prompted minus control mean activation, at every layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .chat import TEMPLATE_DEFAULT, Prompt, System, describe_system, encode_chat
from .hooks import record
from .model import as_language_model
from .steering_vector import SteeringVector

MeanPositions = Literal["last_prompt", "prompt", "response"]


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
        positions: ``"last_prompt"`` (the last chat-template token, where the assistant
            turn opens), ``"prompt"`` (every prompt token, template included) or
            ``"response"`` (teacher-forced ``completions`` tokens).
    """
    lm = as_language_model(lm)
    if positions not in ("last_prompt", "prompt", "response"):
        raise ValueError(f"unknown positions {positions!r}: use 'last_prompt', 'prompt' or 'response'")
    if positions == "response" and completions is None:
        raise ValueError("positions='response' needs completions: pass the teacher's responses")
    if len(prompts) == 0:
        raise ValueError("no prompts given: pass at least one prompt")
    chosen = list(range(lm.n_layers)) if layers is None else [lm.check_layer(x) for x in layers]  # type: ignore[attr-defined]
    sums = {x: torch.zeros(lm.d_model, dtype=torch.float64) for x in chosen}  # type: ignore[attr-defined]
    count = 0
    starts = range(0, len(prompts), batch_size)
    for start in tqdm(starts, desc=f"activations ({describe_system(system)[:30]})", disable=not progress):
        rows = prompts[start : start + batch_size]
        comps = None if completions is None else completions[start : start + batch_size]
        batch = encode_chat(lm, rows, system, comps)
        if positions == "last_prompt":
            mask = batch.last_prompt_mask
        elif positions == "prompt":
            mask = batch.prompt_mask
        else:
            mask = batch.response_mask
        with record(lm, chosen) as rec:
            lm.model(**batch.model_inputs(), use_cache=False)  # type: ignore[attr-defined]
        for x in chosen:
            sums[x] += rec[x][mask].double().sum(dim=0).cpu()
        count += int(mask.sum())
    return {x: (s / count).float() for x, s in sums.items()}


def mean_difference_vector(
    lm: object,
    system_prompt: str,
    prompts: Sequence[Prompt],
    control: System = TEMPLATE_DEFAULT,
    layers: Sequence[int] | None = None,
    positions: MeanPositions = "last_prompt",
    completions: Sequence[str] | None = None,
    control_completions: Sequence[str] | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> SteeringVector:
    """Mean activation with ``system_prompt`` minus with the ``control`` condition.

    This is the reference study's ``v_teacher``: by default the difference at the last
    chat-template token, at every layer. The raw (unnormalised) vector is returned; its
    norms are in ``vector.norms`` and ``vector.provenance['norms']``.

    Args:
        lm: a :class:`~steervec.model.LanguageModel`.
        system_prompt: the teacher's system prompt.
        prompts: user messages (e.g. number prompts).
        control: ``TEMPLATE_DEFAULT`` (the template's own default system turn, if any),
            ``None`` (no system turn at all) or another system prompt.
        layers: layers to compute (all by default).
        positions: see :func:`mean_activations`.
        completions / control_completions: responses for ``positions="response"``.

    Example:
        >>> vec = mean_difference_vector(lm, "You love owls.", prompts, layers=[20, 25])  # doctest: +SKIP
    """
    lm = as_language_model(lm)
    if control == system_prompt:
        raise ValueError("the system prompt equals the control: the difference would be zero")
    common = dict(layers=layers, positions=positions, batch_size=batch_size, progress=progress)
    pos = mean_activations(lm, prompts, system_prompt, completions=completions, **common)  # type: ignore[arg-type]
    neg = mean_activations(
        lm, prompts, control, completions=control_completions or completions, **common  # type: ignore[arg-type]
    )
    vectors = {x: pos[x] - neg[x] for x in pos}
    provenance = {
        "method": "mean_difference",
        "system_prompt": system_prompt,
        "control": describe_system(control),
        "n_prompts": len(prompts),
        "positions": positions,
        "norms": {x: float(v.norm()) for x, v in vectors.items()},
    }
    return SteeringVector(vectors, lm.fingerprint, positions, provenance)  # type: ignore[attr-defined]
