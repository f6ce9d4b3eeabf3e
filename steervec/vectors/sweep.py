"""Sweeps: where (layer) and how hard (alpha) a vector carries the trait, and where it can be fitted.

:func:`sweep_layers_alpha` adds ``alpha * v`` at one layer, at all positions, and scores the
trait on positive ("favourite animal"), negative ("least favourite animal") and off-topic
questions. A setting passes the gates (PROTOCOLS.md §2) only when its negative and off-topic
scores stay under absolute thresholds **and** its positive score beats each of them by a stated
ratio (default 3×): a vector that makes the model say the target everywhere is forcing a token,
not expressing a preference, and so is one that raises it on every question alike at a level too
low for the thresholds to see.

**Selection and report halves.** Each question set is split in two by a seeded shuffle: the
accepted setting is chosen on the *selection* half (the best positive score among settings that
pass there), and its numbers are reported on the other, *report* half, where it must pass the
gates again (:attr:`SweepResult.confirmed`). Choosing the maximum of a grid on the same questions
that report it would overstate it.

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

import math
import random
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
    fit_split,
    fit_steering_vector,
)
from steervec.vectors.recovery import trait_reference

DEFAULT_GATE = 0.10
DEFAULT_RATIO = 3.0
"""How many times its negative and off-topic scores a setting's positive score must exceed."""


def passes_gates(positive: float, negative: float, offtopic: float, gate_negative: float = DEFAULT_GATE,
                 gate_offtopic: float = DEFAULT_GATE, ratio: float = DEFAULT_RATIO) -> bool:
    """The gates of one setting: ``negative <= gate_negative``, ``offtopic <= gate_offtopic``, and the
    positive score above ``ratio`` times each of them (strictly: all zeros do not pass).

    Example:
        >>> passes_gates(0.05, 0.04, 0.01)  # under both thresholds, but not 3x the negative score
        False
        >>> passes_gates(0.30, 0.09, 0.02)
        True
    """
    return (negative <= gate_negative and offtopic <= gate_offtopic
            and positive > ratio * negative and positive > ratio * offtopic)


def split_halves(questions: Sequence[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """(selection half, report half) of ``questions`` by a seeded shuffle; the selection half gets the
    extra question of an odd count. Needs at least two questions."""
    if len(questions) < 2:
        raise ValueError(f"a question set needs at least 2 questions to split into halves, got {len(questions)}")
    order = list(questions)
    random.Random(seed).shuffle(order)
    cut = math.ceil(len(order) / 2)
    return order[:cut], order[cut:]


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
        passes_gates: :func:`passes_gates` of these numbers (the thresholds and the ratio).
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
    """All settings of a layer × alpha sweep, scored on the selection and on the report half.

    Attributes:
        rows: one :class:`SweepRow` per setting on the *selection* half of each question set.
        baseline: the unsteered model's scores on the selection half.
        target: the trait word(s) scored.
        gate_negative: the gate on negative questions' mean P.
        gate_offtopic: the gate on off-topic questions' mean P.
        ratio: the positive score must exceed this multiple of the negative and off-topic scores.
        report_rows: the same settings (same order) on the *report* half.
        report_baseline: the unsteered model's scores on the report half.
        halves: ``{"positive": (selection, report), ...}``: the questions of each half.
    """

    rows: list[SweepRow]
    baseline: SweepRow
    target: tuple[str, ...]
    gate_negative: float
    gate_offtopic: float
    settings: dict[str, Any] = field(default_factory=dict)
    ratio: float = DEFAULT_RATIO
    report_rows: list[SweepRow] = field(default_factory=list)
    report_baseline: SweepRow | None = None
    halves: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)

    @property
    def best(self) -> SweepRow | None:
        """The setting chosen on the selection half, or ``None`` when no steered setting passes there."""
        return select_best(self.rows)

    @property
    def best_report(self) -> SweepRow | None:
        """The chosen setting's scores on the report half (the numbers to quote)."""
        best = self.best
        if best is None:
            return None
        return next((r for r in self.report_rows if (r.layer, r.alpha) == (best.layer, best.alpha)), None)

    @property
    def confirmed(self) -> bool:
        """The chosen setting passes the gates on the report half too."""
        held = self.best_report
        return held is not None and held.passes_gates

    def to_dataframe(self) -> Any:
        """One row per setting (baseline first): the selection half's scores, the report half's
        (``report_*`` columns) and an ``accepted`` column (the chosen setting)."""
        import pandas as pd

        best = self.best
        report = [self.report_baseline, *self.report_rows] if self.report_rows else [None] * (1 + len(self.rows))
        records = []
        for r, held in zip((self.baseline, *self.rows), report, strict=True):
            record = {**r.__dict__, "accepted": r is best}
            if held is not None:
                record.update({f"report_{k}": v for k, v in held.__dict__.items() if k not in ("layer", "alpha")})
            records.append(record)
        return pd.DataFrame(records)

    def _repr_html_(self) -> str:
        best, held = self.best, self.best_report
        if best is None:
            head = "no setting passes the gates on the selection half"
        elif held is None:
            head = f"chosen: layer {best.layer}, alpha {best.alpha:g} (positive P {best.positive_p:.3g})"
        else:
            head = (f"chosen on the selection half: layer {best.layer}, alpha {best.alpha:g}; on the report half "
                    f"positive P {held.positive_p:.3g} vs negative {held.negative_p:.3g}, off-topic "
                    f"{held.offtopic_p:.3g} ({'passes' if self.confirmed else 'fails'} the gates)")
        return (f"<b>SweepResult</b> target {'/'.join(self.target)}, gates negative ≤ "
                f"{self.gate_negative:g}, off-topic ≤ {self.gate_offtopic:g}, positive > {self.ratio:g}× each: {head}"
                + self.to_dataframe().to_html(index=False, float_format=lambda v: f"{v:.4g}"))


def _row(lm: LanguageModel, layer: int | None, alpha: float, halves: Sequence[tuple[list[str], list[str]]], target: Any,
         control: System, prefill: str, gates: tuple[float, float, float]) -> tuple[SweepRow, SweepRow]:
    """The setting's (selection half, report half) rows: each set is scored once, then split."""
    scores = [trait_logprob(lm, [*select, *report], target, system=control, prefill=prefill)
              for select, report in halves]
    out = []
    for half in (0, 1):
        logps = []
        for score, (select, _) in zip(scores, halves, strict=True):
            n = len(select)
            logps.append(score.logp[:n] if half == 0 else score.logp[n:])
        p = [float(x.exp().mean()) for x in logps]
        logp = [float(x.mean()) for x in logps]
        out.append(SweepRow(layer, alpha, p[0], p[1], p[2], logp[0], logp[1], logp[2], passes_gates(p[0], p[1], p[2], *gates)))
    return out[0], out[1]


def sweep_layers_alpha(
    lm: LanguageModel,
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
    ratio: float = DEFAULT_RATIO,
    split_seed: int = 0,
) -> SweepResult:
    """Score the trait for every layer × alpha, adding ``alpha * vector[layer]`` at ``positions``.

    Args:
        lm: a :class:`~steervec.core.model.LanguageModel`.
        vector: must hold a direction at every layer swept (e.g. a mean-difference vector).
        layers: the grid's layers (reference: ≈ every fifth of depth).
        alphas: the grid's scales (reference: {1, 2, 4, 8}).
        target: the trait word(s), scored over spellings by :func:`~steervec.metrics.trait.trait_logprob`.
        positive: "favourite animal" questions (steervec's own by default), at least two: split into a
            selection and a report half (:func:`split_halves`), like the other two sets.
        negative: "least favourite animal" questions (steervec's own by default).
        offtopic: off-topic questions (steervec's own by default).
        control: the system condition of the steered model.
        gate_negative: maximum mean P(answer starts with target) allowed on negative
            questions (see the module docstring).
        gate_offtopic: the same on off-topic questions.
        positions: where the vector is added.
        prefill: text that starts every answer (e.g. ``"My favourite animal is the"``).
        ratio: the positive score must exceed ``ratio`` times the negative and the off-topic score.
        split_seed: seed of the halves.

    Example:
        >>> res = sweep_layers_alpha(lm, owl_vec, layers=[6, 12, 18, 24], alphas=[1, 2, 4])  # doctest: +SKIP
        >>> res.best, res.best_report, res.confirmed, res.to_dataframe()  # doctest: +SKIP
    """
    if not layers or not alphas:
        raise ValueError("pass at least one layer and one alpha")
    for qs, name in ((positive, "positive"), (negative, "negative"), (offtopic, "offtopic")):
        if not qs:
            raise ValueError(f"no {name} questions given")
        if len(qs) < 2:
            raise ValueError(f"{name} questions: pass at least 2 (one for the selection half, one for the report half)")
    if ratio < 1:
        raise ValueError(f"ratio must be at least 1 (the positive score beats the others), got {ratio}")
    missing = [x for x in layers if x not in vector.layer_vectors]
    if missing:
        raise ValueError(f"the vector has no direction at layers {missing} (it has {vector.layers}); "
                         "extract it at every swept layer, e.g. mean_difference_vector(..., layers=None)")
    for layer in layers:
        lm.check_layer(layer)
    names = ("positive", "negative", "offtopic")
    halves = {name: split_halves(qs, split_seed + i) for i, (name, qs) in enumerate(zip(names, (positive, negative,
                                                                                                offtopic), strict=True))}
    sets, gates = [halves[n] for n in names], (gate_negative, gate_offtopic, ratio)
    baseline, report_baseline = _row(lm, None, 0.0, sets, target, control, prefill, gates)
    rows, report_rows = [], []
    grid = [(x, a) for x in layers for a in alphas]
    for layer, alpha in tqdm(grid, desc="layer x alpha sweep", disable=not progress):
        with vector.apply(lm, alpha=alpha, positions=positions, layers=[layer]):
            select, report = _row(lm, layer, float(alpha), sets, target, control, prefill, gates)
        rows.append(select)
        report_rows.append(report)
    words = (target,) if isinstance(target, str) else tuple(target)
    settings = {"positions": positions, "prefill": prefill, "n_positive": len(positive),
                "n_negative": len(negative), "n_offtopic": len(offtopic), "ratio": ratio, "split_seed": split_seed}
    return SweepResult(rows, baseline, words, gate_negative, gate_offtopic, settings, ratio, report_rows,
                       report_baseline, halves)


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
    heldout_questions: Sequence[str] | None = None,
    holdout: float | None = None,
    split_seed: int = 0,
    config: FitConfig | None = None,
    **settings: Any,
) -> FitSweepResult:
    """Fit one vector at each layer separately and tabulate KL explained and trait recovered.

    Arguments are those of :func:`~steervec.vectors.fit.fit_steering_vector` (``settings``:
    any :class:`~steervec.vectors.fit.FitConfig` field, ``heldout_questions``, ``holdout`` and
    ``split_seed``); the base and teacher trait scores (on the trait questions and on the held-out
    questions) are computed once and shared by all layers, and ``progress`` shows one bar over the layers.

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
    if holdout is not None:  # split once, so every layer is fitted and scored on the same halves
        if heldout_prompts is not None:
            raise ValueError("pass heldout_prompts or holdout (a seeded split of prompts), not both")
        split = fit_split(prompts, completions, trait_questions, holdout, split_seed)
        prompts, completions = split.prompts, split.completions
        heldout_prompts, heldout_completions = split.heldout_prompts, split.heldout_completions
        if heldout_questions is None and target is not None:
            heldout_questions = split.heldout_questions
    held_ref = None
    if heldout_questions is not None:
        if target is None:
            raise ValueError("heldout_questions need a target (the trait word) to score")
        leaked = set(heldout_questions) & {p for p in prompts if isinstance(p, str)}
        if leaked:
            raise ValueError(f"{len(leaked)} held-out question(s) are also fitted prompts: hold them out of prompts")
        held_ref = trait_reference(lm, system_prompt, target, heldout_questions, cfg.control)
    results = {}
    for layer in tqdm(list(layers), desc="fit per layer", disable=not cfg.progress):
        results[layer] = fit_steering_vector(
            lm, system_prompt, prompts, layer, completions=completions, heldout_prompts=heldout_prompts,
            heldout_completions=heldout_completions, trait_ref=ref, heldout_trait_ref=held_ref, config=cfg,
            progress=False,
        )
    return FitSweepResult(results)
