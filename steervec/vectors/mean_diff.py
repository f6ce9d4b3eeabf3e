"""Mean-difference steering vectors: prompted minus control mean activation, at every layer."""

from __future__ import annotations

from collections.abc import Sequence

from steervec.core.activations import MeanPositions, mean_activations
from steervec.core.chat import TEMPLATE_DEFAULT, Prompt, System, check_texts, describe_system
from steervec.core.model import as_language_model
from steervec.core.steering_vector import SteeringVector
from steervec.vectors.baselines import as_baseline


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
    norms are in ``vector.norms`` and ``vector.provenance['norms']``, and the control it
    was measured against in ``vector.provenance['baseline']`` (a
    :class:`~steervec.vectors.baselines.Baseline` record). For a vector about the trait
    rather than about having a system prompt, see
    :func:`~steervec.vectors.baselines.trait_vector`.

    Args:
        lm: a :class:`~steervec.core.model.LanguageModel`.
        system_prompt: the teacher's system prompt.
        prompts: user messages (e.g. number prompts).
        control: ``TEMPLATE_DEFAULT`` (the template's own default system turn, if any),
            ``None`` (no system turn at all) or another system prompt.
        layers: layers to compute (all by default).
        positions: see :func:`mean_activations`.
        completions: responses for ``positions="response"``.
        control_completions: the control condition's responses for ``positions="response"``.

    Example:
        >>> vec = mean_difference_vector(lm, "You love owls.", prompts, layers=[20, 25])  # doctest: +SKIP
    """
    lm = as_language_model(lm)
    check_texts(prompts, "prompts")
    for name, texts in (("completions", completions), ("control_completions", control_completions)):
        if texts is not None:
            check_texts(texts, name)
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
        "baseline": as_baseline(control).to_dict(),
        "n_prompts": len(prompts),
        "positions": positions,
        "norms": {x: float(v.norm()) for x, v in vectors.items()},
    }
    return SteeringVector(vectors, lm.fingerprint, positions, provenance)
