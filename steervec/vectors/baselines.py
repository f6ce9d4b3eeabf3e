"""Teacher vectors that name their baseline, and the per-condition means they are built from.

A trait's teacher vector is the mean activation with the trait's system prompt minus the
mean activation under a **baseline**. What the baseline is decides what the vector means:

* :func:`no_system` — no system turn at all. The difference then mostly says "a system
  prompt is present": on SmolLM2 at layer 25, cos(v_owl, v_cat) is ≈ 0.98 this way.
* :func:`template_default` — the chat template's own default system prompt.
* :func:`other_prompt` — one fixed other system prompt.
* :func:`matched` — the same wording with other values of the trait (the mean over a
  panel of ≥ 10 other animals): what is left is about *this* trait. The default of
  :func:`trait_vector`.

:class:`ConditionMeans` computes each condition's mean activation once, so a panel of
traits (or a cross-trait matrix) shares the panel's forward passes.

Example:
    >>> means = ConditionMeans(lm, prompts)  # doctest: +SKIP
    >>> v_owl = trait_vector(lm, "owl", prompts, baseline=matched(), means=means)  # doctest: +SKIP
    >>> v_owl.provenance["baseline"]["kind"]  # doctest: +SKIP
    'matched'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import save_file
from torch import Tensor

from steervec.core.activations import MeanPositions, mean_activations
from steervec.core.chat import TEMPLATE_DEFAULT, Prompt, System, describe_system
from steervec.core.errors import ComparisonError
from steervec.core.io import atomic_path, json_sha, read_safetensors
from steervec.core.model import LanguageModel, as_language_model
from steervec.core.steering_vector import SteeringVector
from steervec.core.version import __version__
from steervec.data.prompts import ANIMAL_PANEL, trait_prompt
from steervec.data.teachers import animal_lover_prompt

BaselineKind = Literal["none", "template_default", "prompt", "matched"]


@dataclass(frozen=True)
class Baseline:
    """What a teacher vector is measured against (build one with the constructors below).

    Attributes:
        kind: ``"none"``, ``"template_default"``, ``"prompt"`` or ``"matched"``.
        prompt: the fixed other system prompt (kind ``"prompt"``).
        panel: the other trait values (kind ``"matched"``); the trait itself is left out.
        wording: ``value -> system prompt`` for the panel (kind ``"matched"``).
        min_panel: the fewest panel members that must remain once the trait is left out.
    """

    kind: BaselineKind
    prompt: str | None = None
    panel: tuple[str, ...] = ()
    wording: Callable[[str], str] = animal_lover_prompt
    min_panel: int = 10

    def __post_init__(self) -> None:
        if self.kind not in ("none", "template_default", "prompt", "matched"):
            raise ComparisonError(f"unknown baseline kind {self.kind!r}: use no_system(), template_default(), "
                                  "other_prompt(text) or matched(panel)")
        if self.kind == "prompt" and not isinstance(self.prompt, str):
            raise ComparisonError(f"other_prompt() needs the system prompt's text, got {self.prompt!r}")
        if self.kind == "matched" and len(set(self.panel)) < self.min_panel:
            raise ComparisonError(f"a matched baseline needs >= {self.min_panel} distinct panel members, got "
                                  f"{len(set(self.panel))}; pass a longer panel (e.g. ANIMAL_PANEL)")

    def systems(self, system_prompt: str) -> list[System]:
        """The system conditions whose mean activations, averaged, are the baseline for ``system_prompt``."""
        if self.kind == "none":
            return [None]
        if self.kind == "template_default":
            return [TEMPLATE_DEFAULT]
        if self.kind == "prompt":
            if self.prompt == system_prompt:
                raise ComparisonError("the baseline prompt equals the trait's prompt: the vector would be zero; "
                                      "choose another prompt or matched()")
            return [self.prompt]
        others: list[System] = list(dict.fromkeys(p for p in map(self.wording, self.panel) if p != system_prompt))
        if len(others) < self.min_panel:
            raise ComparisonError(f"only {len(others)} panel members differ from the trait's prompt; a matched "
                                  f"baseline needs >= {self.min_panel}: add animals to the panel")
        return others

    def members(self, system_prompt: str) -> list[str]:
        """The panel values used for ``system_prompt`` (empty unless the kind is ``"matched"``)."""
        if self.kind != "matched":
            return []
        return [v for v in dict.fromkeys(self.panel) if self.wording(v) != system_prompt]

    @property
    def label(self) -> str:
        """A short label for tables: ``none``, ``template_default``, ``prompt:…`` or ``matched:<n>``."""
        if self.kind == "prompt":
            return describe_system(self.prompt)
        if self.kind == "matched":
            return f"matched:{len(set(self.panel))}"
        return self.kind

    def to_dict(self, system_prompt: str | None = None) -> dict[str, Any]:
        """JSON-ready provenance; with ``system_prompt``, the panel members actually used."""
        out: dict[str, Any] = {"kind": self.kind, "label": self.label}
        if self.kind == "prompt":
            out["prompt"] = self.prompt
        if self.kind == "matched":
            out["wording"] = getattr(self.wording, "__qualname__", repr(self.wording))
            out["panel"] = self.members(system_prompt) if system_prompt is not None else list(self.panel)
        return out


def no_system() -> Baseline:
    """No system turn at all (even where the template would inject a default one)."""
    return Baseline("none")


def template_default() -> Baseline:
    """Whatever the chat template does without a system message (its injected default included)."""
    return Baseline("template_default")


def other_prompt(text: str) -> Baseline:
    """One fixed other system prompt."""
    return Baseline("prompt", prompt=text)


def matched(panel: Sequence[str] = tuple(ANIMAL_PANEL), wording: Callable[[str], str] = animal_lover_prompt,
            min_panel: int = 10) -> Baseline:
    """The mean over ``panel`` of the same ``wording`` with other trait values (the trait left out).

    Example:
        >>> matched().to_dict(animal_lover_prompt("owl"))["panel"][:2]
        ['cat', 'dog']
    """
    return Baseline("matched", panel=tuple(panel), wording=wording, min_panel=min_panel)


def as_baseline(control: Baseline | System) -> Baseline:
    """A :class:`Baseline` for a system condition (``None``, ``TEMPLATE_DEFAULT`` or a prompt)."""
    if isinstance(control, Baseline):
        return control
    if control is None:
        return no_system()
    if control is TEMPLATE_DEFAULT:
        return template_default()
    if isinstance(control, str):
        return other_prompt(control)
    raise ComparisonError(f"cannot read {control!r} as a baseline: pass a Baseline, None, TEMPLATE_DEFAULT or a prompt")


class ConditionMeans:
    """Mean activations ``{layer: [d_model]}`` per system condition over one prompt set, each computed once.

    Args:
        lm: the model.
        prompts: user messages (e.g. number prompts), the same for every condition.
        layers: layers to record (all by default).
        positions: ``"last_prompt"`` or ``"prompt"`` (see :func:`mean_activations`).
        cache_dir: a folder where each condition's mean is kept (``<key>.safetensors``, the key
            covering the weights, steervec's version, chat template, prompts, layers, positions,
            batch size and the condition, like the other caches), so another run on the same prompts reuses the panel's forward passes; the
            same tensors come back bit for bit.
    """

    def __init__(self, lm: LanguageModel, prompts: Sequence[Prompt], layers: Sequence[int] | None = None,
                 positions: MeanPositions = "last_prompt", batch_size: int = 16, progress: bool = False,
                 cache_dir: str | os.PathLike[str] | None = None) -> None:
        if positions not in ("last_prompt", "prompt"):
            raise ComparisonError(f"ConditionMeans compares prompts only (positions 'last_prompt' or 'prompt'), got "
                                  f"{positions!r}; for responses use mean_difference_vector(..., completions=...)")
        if len(prompts) == 0:
            raise ComparisonError("no prompts given: pass at least one prompt")
        self.lm = as_language_model(lm)
        self.prompts = list(prompts)
        self.layers = list(range(self.lm.n_layers)) if layers is None else [self.lm.check_layer(x) for x in layers]
        self.positions: MeanPositions = positions
        self.batch_size = batch_size
        self.progress = progress
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._means: dict[str, dict[int, Tensor]] = {}

    def __call__(self, system: System) -> dict[int, Tensor]:
        """The mean activation under ``system`` (computed on first use, then reused; read from and
        written to ``cache_dir`` when one is given)."""
        key = describe_system(system)
        if key not in self._means:
            path = self._cache_path(key)
            if path is not None and path.is_file():
                _, tensors = read_safetensors(path, "condition mean", f"delete {path} to measure it again")
                self._means[key] = {int(x): t for x, t in tensors.items()}
            else:
                self._means[key] = mean_activations(self.lm, self.prompts, system, self.layers, self.positions,
                                                    batch_size=self.batch_size, progress=self.progress)
                if path is not None:
                    with atomic_path(path) as tmp:
                        save_file({str(x): t.contiguous() for x, t in self._means[key].items()}, str(tmp))
        return self._means[key]

    def _cache_path(self, condition: str) -> Path | None:
        if self.cache_dir is None:
            return None
        spec = {"model": self.lm.fingerprint.short, "version": __version__, "template": self.lm.tokenizer.chat_template,
                "prompts": [p if isinstance(p, str) else repr(p) for p in self.prompts], "layers": self.layers,
                "positions": self.positions, "batch_size": self.batch_size, "condition": condition}
        return self.cache_dir / f"{json_sha(spec)}.safetensors"

    @property
    def computed(self) -> list[str]:
        """Labels of the conditions measured so far."""
        return list(self._means)

    def baseline(self, baseline: Baseline, system_prompt: str) -> dict[int, Tensor]:
        """The baseline's mean activation for a trait with ``system_prompt``: the mean over its conditions."""
        means = [self(s) for s in baseline.systems(system_prompt)]
        return {x: torch.stack([m[x] for m in means]).mean(0) for x in self.layers}

    def vector(self, trait: str, baseline: Baseline, system_prompt: str | None = None) -> SteeringVector:
        """``trait``'s prompt mean minus ``baseline``'s mean, at every layer, with the baseline in provenance."""
        prompt = trait_prompt(trait) if system_prompt is None else system_prompt
        pos, neg = self(prompt), self.baseline(baseline, prompt)
        vectors = {x: pos[x] - neg[x] for x in self.layers}
        provenance = {
            "method": "trait_vector", "trait": trait, "system_prompt": prompt,
            "baseline": baseline.to_dict(prompt), "control": baseline.label,
            "n_prompts": len(self.prompts), "positions": self.positions,
            "norms": {x: float(v.norm()) for x, v in vectors.items()},
        }
        return SteeringVector(vectors, self.lm.fingerprint, self.positions, provenance)


def trait_vector(lm: LanguageModel, trait: str, prompts: Sequence[Prompt], baseline: Baseline | None = None,
                 system_prompt: str | None = None, means: ConditionMeans | None = None) -> SteeringVector:
    """``trait``'s teacher vector against a named baseline (default: :func:`matched` over the animal panel).

    Args:
        lm: the model.
        trait: an animal (``"owl"``) or a persona of :data:`~steervec.data.prompts.PERSONA_PROMPTS`.
        prompts: user messages; ignored in favour of ``means.prompts`` when ``means`` is given.
        baseline: what the trait's prompt is compared with.
        system_prompt: the trait's prompt (default :func:`~steervec.data.prompts.trait_prompt`).
        means: shared per-condition means (layers and positions are read from it), so that
            several traits reuse the baseline's forward passes.

    Returns:
        A :class:`SteeringVector` ``{layer: [d_model]}``; ``provenance['baseline']`` names the
        baseline (and the panel members used).
    """
    if means is None:
        means = ConditionMeans(lm, prompts)
    elif means.lm is not as_language_model(lm) or means.prompts != list(prompts):
        raise ComparisonError("the shared means were measured on another model or prompt set; build "
                              "ConditionMeans(lm, prompts) with the same ones")
    return means.vector(trait, matched() if baseline is None else baseline, system_prompt)


def trait_vectors(means: ConditionMeans, traits: Sequence[str], baseline: Baseline | None = None) -> dict[str, SteeringVector]:
    """``{trait: vector}`` for a panel of traits against one baseline, sharing ``means``."""
    if len(set(traits)) != len(traits):
        raise ComparisonError(f"traits repeat: {list(traits)}; list each once")
    return {t: means.vector(t, matched() if baseline is None else baseline) for t in traits}
