"""Sweeps: where (layer) and how hard (alpha) a vector carries the trait, and where it can be fitted.

:func:`sweep_layers_alpha` adds ``alpha * v`` at one layer, at all positions, and scores the
trait on positive ("favourite animal"), negative ("least favourite animal") and off-topic
questions. The accepted setting is the best positive score among settings whose negative
and off-topic scores stay under the gates (PROTOCOLS.md §2): a vector that makes the model
say the target everywhere is forcing a token, not expressing a preference.

**Gated quantity.** The reference gates sampled answer *rates* (share of 100 samples at
T=1 containing the word). Here the gate is on the exact expectation of a cheaper, stricter
rate: the mean over questions of ``P(answer starts with target)`` from
:func:`~steervec.metrics.trait.trait_logprob` (all spellings summed). It equals the expected share
of T=1 samples that *begin* with the target; samples that mention it later are not
counted, so it is a lower bound of the reference's substring rate.

:func:`sweep_fit_layers` runs :func:`~steervec.vectors.fit.fit_steering_vector` at each layer and
tabulates KL explained and trait recovered per layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from steervec.core.chat import TEMPLATE_DEFAULT, Prompt, System
from steervec.core.model import LanguageModel
from steervec.core.steering_vector import SteeringVector
from steervec.data.questions import (
    FAVOURITE_ANIMAL_QUESTIONS,
    LEAST_FAVOURITE_ANIMAL_QUESTIONS,
    OFFTOPIC_QUESTIONS,
)
from steervec.metrics.trait import trait_logprob
from steervec.vectors.fit import (
    AddPositions,
    FitConfig,
    FitResult,
    fit_steering_vector,
)
from steervec.vectors.recovery import trait_reference

DEFAULT_GATE = 0.10


@dataclass(frozen=True)
class SweepRow:
    """Trait scores of one (layer, alpha) setting.

    Attributes:
        layer: the setting's layer (``None``, with ``alpha=0``: the unsteered baseline).
        alpha: the setting's scale.
        positive_p: mean P(answer starts with target) on positive questions.
        negative_p: the same on negative questions.
        offtopic_p: the same on off-topic questions.
        positive_logp: mean log P on positive questions.
        negative_logp: mean log P on negative questions.
        offtopic_logp: mean log P on off-topic questions.
        passes_gates: negative_p and offtopic_p are at most their gates.
    """

    layer: int | None
    alpha: float
    positive_p: float
    negative_p: float
    offtopic_p: float
    positive_logp: float
    negative_logp: float
    offtopic_logp: float
    passes_gates: bool


def select_best(rows: Sequence[SweepRow]) -> SweepRow | None:
    """The steered row (alpha != 0) with the highest ``positive_p`` among those passing the gates."""
    accepted = [r for r in rows if r.passes_gates and r.alpha != 0 and r.layer is not None]
    return max(accepted, key=lambda r: r.positive_p, default=None)


@dataclass
class SweepResult:
    """All settings of a layer × alpha sweep.

    Attributes:
        rows: one :class:`SweepRow` per setting.
        baseline: the unsteered model's scores.
        target: the trait word(s) scored.
        gate_negative: the gate on negative questions' mean P.
        gate_offtopic: the gate on off-topic questions' mean P.
    """

    rows: list[SweepRow]
    baseline: SweepRow
    target: tuple[str, ...]
    gate_negative: float
    gate_offtopic: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> SweepRow | None:
        """The accepted setting, or ``None`` when no steered setting passes the gates."""
        return select_best(self.rows)

    def to_dataframe(self) -> Any:
        """One row per setting (baseline first), with an ``accepted`` column."""
        import pandas as pd

        best = self.best
        records = [{**r.__dict__, "accepted": r is best} for r in (self.baseline, *self.rows)]
        return pd.DataFrame(records)

    def _repr_html_(self) -> str:
        best = self.best
        head = ("no setting passes the gates" if best is None else
                f"accepted: layer {best.layer}, alpha {best.alpha:g} (positive P {best.positive_p:.3g})")
        return (f"<b>SweepResult</b> target {'/'.join(self.target)}, gates negative ≤ "
                f"{self.gate_negative:g}, off-topic ≤ {self.gate_offtopic:g}: {head}"
                + self.to_dataframe().to_html(index=False, float_format=lambda v: f"{v:.4g}"))


def _row(lm: Any, layer: int | None, alpha: float, sets: Sequence[Sequence[str]], target: Any,
         control: System, prefill: str, gates: tuple[float, float]) -> SweepRow:
    scores = [trait_logprob(lm, qs, target, system=control, prefill=prefill) for qs in sets]
    p = [s.mean_prob for s in scores]
    logp = [s.mean_logp for s in scores]
    return SweepRow(layer, alpha, p[0], p[1], p[2], logp[0], logp[1], logp[2],
                    p[1] <= gates[0] and p[2] <= gates[1])


def sweep_layers_alpha(
    lm: Any,
    vector: SteeringVector,
    layers: Sequence[int],
    alphas: Sequence[float] = (1.0, 2.0, 4.0, 8.0),
    target: str | Sequence[str] = "owl",
    positive: Sequence[str] = FAVOURITE_ANIMAL_QUESTIONS,
    negative: Sequence[str] = LEAST_FAVOURITE_ANIMAL_QUESTIONS,
    offtopic: Sequence[str] = OFFTOPIC_QUESTIONS,
    control: System = TEMPLATE_DEFAULT,
    gate_negative: float = DEFAULT_GATE,
    gate_offtopic: float = DEFAULT_GATE,
    positions: AddPositions = "all",
    prefill: str = "",
    progress: bool = True,
) -> SweepResult:
    """Score the trait for every layer × alpha, adding ``alpha * vector[layer]`` at ``positions``.

    Args:
        lm: a :class:`~steervec.core.model.LanguageModel`.
        vector: must hold a direction at every layer swept (e.g. a mean-difference vector).
        layers: the grid's layers (reference: ≈ every fifth of depth).
        alphas: the grid's scales (reference: {1, 2, 4, 8}).
        target: the trait word(s), scored over spellings by :func:`~steervec.metrics.trait.trait_logprob`.
        positive: "favourite animal" questions (steervec's own by default).
        negative: "least favourite animal" questions (steervec's own by default).
        offtopic: off-topic questions (steervec's own by default).
        control: the system condition of the steered model.
        gate_negative: maximum mean P(answer starts with target) allowed on negative
            questions (see the module docstring).
        gate_offtopic: the same on off-topic questions.
        positions: where the vector is added.
        prefill: text that starts every answer (e.g. ``"My favourite animal is the"``).

    Example:
        >>> res = sweep_layers_alpha(lm, owl_vec, layers=[6, 12, 18, 24], alphas=[1, 2, 4])  # doctest: +SKIP
        >>> res.best, res.to_dataframe()  # doctest: +SKIP
    """
    if not layers or not alphas:
        raise ValueError("pass at least one layer and one alpha")
    for qs, name in ((positive, "positive"), (negative, "negative"), (offtopic, "offtopic")):
        if not qs:
            raise ValueError(f"no {name} questions given")
    missing = [x for x in layers if x not in vector.layer_vectors]
    if missing:
        raise ValueError(f"the vector has no direction at layers {missing} (it has {vector.layers}); "
                         "extract it at every swept layer, e.g. mean_difference_vector(..., layers=None)")
    for layer in layers:
        lm.check_layer(layer)
    sets, gates = (positive, negative, offtopic), (gate_negative, gate_offtopic)
    baseline = _row(lm, None, 0.0, sets, target, control, prefill, gates)
    rows = []
    grid = [(x, a) for x in layers for a in alphas]
    for layer, alpha in tqdm(grid, desc="layer x alpha sweep", disable=not progress):
        with vector.apply(lm, alpha=alpha, positions=positions, layers=[layer]):
            rows.append(_row(lm, layer, float(alpha), sets, target, control, prefill, gates))
    words = (target,) if isinstance(target, str) else tuple(target)
    settings = {"positions": positions, "prefill": prefill, "n_positive": len(positive),
                "n_negative": len(negative), "n_offtopic": len(offtopic)}
    return SweepResult(rows, baseline, words, gate_negative, gate_offtopic, settings)


@dataclass
class FitSweepResult:
    """One :class:`~steervec.vectors.fit.FitResult` per layer."""

    results: dict[int, FitResult]

    @property
    def vector(self) -> SteeringVector:
        """All fitted layers in one vector (each fitted alone: apply one layer at a time)."""
        first = next(iter(self.results.values())).vector
        vecs = {x: r.vector[x] for x, r in self.results.items()}
        return SteeringVector(vecs, first.fingerprint, first.positions,
                              {"method": "sweep_fit_layers", "layers": sorted(vecs)})

    @property
    def best_layer(self) -> int:
        """Layer with the highest held-out KL explained (train if there is no held-out set)."""
        def score(x: int) -> float:
            rep = self.results[x].report
            held = rep.kl_explained_heldout
            return held if held is not None else rep.kl_explained_train

        return max(self.results, key=score)

    def to_dataframe(self) -> Any:
        """One row per layer: KL before/after/explained (train, held-out), trait, time."""
        import pandas as pd

        return pd.DataFrame([r.report.summary() for r in self.results.values()])

    def _repr_html_(self) -> str:
        return ("<b>FitSweepResult</b>"
                + self.to_dataframe().to_html(index=False, float_format=lambda v: f"{v:.4g}"))


def sweep_fit_layers(
    lm: LanguageModel,
    system_prompt: str,
    prompts: Sequence[Prompt],
    layers: Sequence[int],
    *,
    completions: Sequence[str | None] | None = None,
    heldout_prompts: Sequence[Prompt] | None = None,
    heldout_completions: Sequence[str | None] | None = None,
    target: str | Sequence[str] | None = None,
    trait_questions: Sequence[str] | None = None,
    config: FitConfig | None = None,
    **settings: Any,
) -> FitSweepResult:
    """Fit one vector at each layer separately and tabulate KL explained and trait recovered.

    Arguments are those of :func:`~steervec.vectors.fit.fit_steering_vector` (``settings``:
    any :class:`~steervec.vectors.fit.FitConfig` field); the base and teacher trait scores are
    computed once and shared by all layers, and ``progress`` shows one bar over the layers.

    Example:
        >>> sweep = sweep_fit_layers(lm, OWL, prompts, [6, 12, 24], completions=comps,  # doctest: +SKIP
        ...                          heldout_prompts=hp, heldout_completions=hc, target="owl")
        >>> sweep.to_dataframe()[["layers", "kl_explained_heldout", "trait_recovered"]]  # doctest: +SKIP
    """
    if not layers:
        raise ValueError("pass at least one layer to sweep")
    for layer in layers:
        lm.check_layer(layer)
    cfg = (config or FitConfig()).with_settings(**settings)
    ref = None if target is None else trait_reference(lm, system_prompt, target, trait_questions, cfg.control)
    results = {}
    for layer in tqdm(list(layers), desc="fit per layer", disable=not cfg.progress):
        results[layer] = fit_steering_vector(
            lm, system_prompt, prompts, layer, completions=completions, heldout_prompts=heldout_prompts,
            heldout_completions=heldout_completions, trait_ref=ref, config=cfg, progress=False,
        )
    return FitSweepResult(results)
