"""The reference studies' claims, in our words, and how each one is decided from our measurements.

Every verdict comes from one rule, :func:`steervec.metrics.stats.verdict`, applied to
**seed-level values**: one value per data seed (the mean over its training seeds) when the
teacher data was generated with several seeds, else one per training seed. The rule:

* "yes" only when the seed-level 95 % t interval (n − 1 degrees of freedom) excludes zero in
  the claimed direction, with at least 3 seeds;
* "no" when it excludes zero the other way;
* a claim of *no effect* (another model family, the projected-out teacher, full fine-tuning)
  is "yes" only when a TOST equivalence test shows the effect within ±margin (stated in the
  claim), and "no" when the interval excludes zero;
* otherwise "inconclusive — needs N seeds", N from the power of the t-test at the measured
  seed spread; fewer than 3 seeds: "no verdict".

The CI across questions is quoted as the precision of the measurement for those students, never
as the verdict's interval. The library (:mod:`steervec.experiment`) measures; this module is the
only place that knows which study said what.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from steervec.experiment.config import Experiment
from steervec.experiment.records import Claim, fmt_ci
from steervec.metrics.stats import Verdict, verdict

CLOUD, BLANK, NIEF, SCHRODI = "Cloud et al. 2025", "Blank et al. 2026", "Nief et al. 2026", "Schrodi et al. 2026"
RULE = "seed-level t (metrics.stats.verdict)"
"""Marks a claim decided by the seed-level rule (earlier claims carry no ``rule``)."""

NULL_MARGIN_NATS = 0.25
"""Equivalence margin of "no transfer" claims on trait − control Δlog P (nats): a quarter of the
smallest same-model LoRA r8 effect measured at full size (+0.58 nats, one seed)."""
NULL_MARGIN_COSINE = 0.05
"""Equivalence margin of "not aligned" claims on a cosine difference."""


def word(v: Verdict) -> str:
    """The verdict as the RESULTS.md column shows it."""
    if v.word == "inconclusive":
        return f"inconclusive — needs {v.seeds_needed} seeds" if v.seeds_needed else "inconclusive"
    return v.word


def seed_text(values: Sequence[float], v: Verdict, unit: str) -> str:
    """``seed-level +0.998 [+0.079, +1.917] (t over 3 seeds, training seeds of one teacher dataset:
    +0.58, +1.13, +1.28; smallest effect 80 % power detects 1.21)``."""
    vals = ", ".join(f"{x:+.2f}" for x in values)
    if v.interval is None:
        return f"one seed ({unit}): {vals} (no seed-level interval)"
    mde = f"; smallest effect 80 % power detects {v.mde:.2f}" if v.mde is not None else ""
    return f"seed-level {fmt_ci(tuple(v.interval))} (t over {v.n_seeds} seeds, {unit}: {vals}{mde})"


def decide(values: Sequence[float], direction: str, unit: str, margin: float | None = None) -> tuple[str, str]:
    """(verdict word, measurement text) of seed-level ``values`` under the one rule. A claim about what a
    teacher's data teaches is not decided by the training seeds of one teacher dataset (``ONE_DATASET``):
    their agreement is reported, and the verdict is "no verdict" until the data seed varies."""
    v = verdict(list(values), direction, margin=margin)  # type: ignore[arg-type]
    decided = one_dataset(word(v), len(values)) if unit == ONE_DATASET else word(v)
    return decided, seed_text(values, v, unit)


def one_dataset(decided: str, n_seeds: int) -> str:
    """A yes / no from the training seeds of one teacher dataset becomes "no verdict", saying what they agree on."""
    if decided in ("yes", "no"):
        return f"no verdict — one teacher dataset (its {n_seeds} training seeds alone: {decided})"
    return decided


ONE_DATASET = "training seeds of one teacher dataset"
"""The seed unit when the teacher data was generated once (only the training seed varied)."""


def _unit(summary_row: dict[str, Any]) -> str:
    return "data seeds" if summary_row.get("seed_unit") == "data seed" else ONE_DATASET


def run_seed_unit(summary: dict[str, Any]) -> str:
    """A run summary's one seed unit (``"data seed"`` when the teacher data varied); ``"training
    seed"`` when its rows disagree or name none, so a mixed run never decides as if over data seeds."""
    units = {row["seed_unit"] for row in summary.values() if isinstance(row, dict) and "seed_unit" in row}
    return units.pop() if len(units) == 1 else "training seed"


def _teacher_words(exp: Experiment) -> str:
    return {"prompted": "prompted", "steered": "steered (no prompt, + α·v_teacher)",
            "projected": "prompted with v_teacher projected out",
            "projected_specific": "prompted with the matched (trait-specific) vector projected out"}[exp.teacher]


def _necessity(exp: Experiment) -> bool:
    """A projected-out teacher: its claims predict *no* transfer (an equivalence test)."""
    return exp.teacher in ("projected", "projected_specific")


def transfer_claim(name: str, row: dict[str, Any], exp: Experiment, model: str) -> Claim:
    """A student of the trait teacher prefers the trait more than one trained on control data
    (necessity, the projected-out teacher: it does not, within ±NULL_MARGIN_NATS)."""
    necessity = _necessity(exp)
    values = row.get("trait_minus_control_seed_level", row["trait_minus_control_per_seed"])
    verdict_word, text = decide(values, "none" if necessity else "positive", _unit(row),
                                NULL_MARGIN_NATS if necessity else None)
    claim = (f"a {name} student of a {_teacher_words(exp)} {exp.animal} teacher prefers '{exp.animal}' more than one "
             f"trained on control data" + (f" (necessity: expected NOT to, within ±{NULL_MARGIN_NATS} nats)"
                                           if necessity else ""))
    measurement = (f"log P(trait-data student) − log P(control-data student): {text}; across questions "
                   f"{fmt_ci(row['trait_minus_control'])} nats; {exp.n_rows} rows, {exp.n_questions} questions")
    return Claim(BLANK if exp.teacher != "prompted" else CLOUD, claim, measurement, model, verdict_word, exp.size)


def specific_claim(name: str, row: dict[str, Any], exp: Experiment, model: str, key: str = "log_odds") -> Claim:
    """The transfer claim on the specific trait measure: the target's log-odds against the other
    animals of the panel (it does not move when fine-tuning shifts every animal word alike)."""
    necessity = _necessity(exp)
    values = row[f"{key}_trait_minus_control_seed_level"]
    verdict_word, text = decide(values, "none" if necessity else "positive", _unit(row),
                                NULL_MARGIN_NATS if necessity else None)
    where = "after the prefill" if key.endswith("prefilled") else "at the answer position"
    return Claim(BLANK if exp.teacher != "prompted" else CLOUD,
                 f"a {name} student of a {_teacher_words(exp)} {exp.animal} teacher prefers '{exp.animal}' over the "
                 f"other animals ({where}) more than one trained on control data"
                 + (f" (necessity: expected NOT to, within ±{NULL_MARGIN_NATS} nats)" if necessity else ""),
                 f"log-odds(trait-data student) − log-odds(control-data student): {text}; across questions "
                 f"{fmt_ci(row[f'{key}_trait_minus_control'])} nats", model, verdict_word, exp.size)


def pct(stats: Sequence[float] | None, sign: bool = False) -> str:
    """``12.0 % [8.1, 15.9]`` from a (mean, low, high) of fractions; a rate's CI is clipped to [0, 100]."""
    if not stats:
        return "n/a"
    m, lo, hi = (100 * float(x) for x in stats)
    if not sign:
        lo, hi = max(lo, 0.0), min(hi, 100.0)
    f = "+.1f" if sign else ".1f"
    return f"{m:{f}} % [{lo:{f}}, {hi:{f}}]"


def rate_claim(name: str, row: dict[str, Any], exp: Experiment, model: str) -> Claim:
    """Sampled answers name the trait more often (whole words) than the control-data student's."""
    necessity = _necessity(exp)
    values = row.get("rate_trait_minus_control_seed_level", [])
    verdict_word, text = decide(values, "none" if necessity else "positive", _unit(row), 0.02 if necessity else None)
    return Claim(CLOUD, f"a {name} student of a {_teacher_words(exp)} {exp.animal} teacher names '{exp.animal}' more "
                 "often in sampled answers than one trained on control data"
                 + (" (necessity: expected NOT to, within ±2 points)" if necessity else ""),
                 f"rate difference: {text}; '{exp.animal}' in {pct(row['rate_trait'])} of answers (trait data) vs "
                 f"{pct(row['rate_control'])} (control), base {pct(row.get('rate_base'))}, teacher "
                 f"{pct(row.get('rate_teacher'))}; {exp.sample_k} samples (T=1) × {exp.n_questions} questions",
                 model, verdict_word, exp.size)


RAW_DIRECTION = "no verdict — raw v_teacher (mostly the generic system-prompt direction)"
"""What a claim against the raw ``v_teacher`` gets: that vector is the prompt minus a baseline without
the trait's wording (no system turn, or the template's default), so it is mostly the direction of
*having a system prompt* (cos(v_owl, v_cat) = 0.985 at layer 25). A trait-alignment verdict reads the
control-subtracted shift against the trait's matched vector (:func:`specific_alignment_claim`); the
raw cosine stays in the table as a measurement."""


def alignment_claim(name: str, row: dict[str, Any], exp: Experiment, model: str) -> Claim:
    """The student's shift vs the raw v_teacher, trait data minus control data (paired by seed): a
    measurement, never a verdict (:data:`RAW_DIRECTION`)."""
    necessity = _necessity(exp)
    values = row.get("cosine_minus_control_seed_level", row.get("cosine_minus_control_per_seed", []))
    _, text = decide(values, "none" if necessity else "positive", _unit(row),
                     NULL_MARGIN_COSINE if necessity else None)
    layer = exp.reporting_layer
    return Claim(BLANK, f"the {name} student's shift aligns with v_teacher (raw: layer {layer}, baseline "
                 f"'{exp.baseline}') more on trait data than on control",
                 f"cos trait − cos control: {text}; cos trait {fmt_ci(row['cosine_trait'])} vs control "
                 f"{fmt_ci(row['cosine_control'])}", model, RAW_DIRECTION, exp.size)


def specific_alignment_claim(name: str, row: dict[str, Any], exp: Experiment, model: str) -> Claim:
    """The trait-specific alignment claim: the student's control-subtracted shift (trait-data student
    minus control-data student of the same unit) points along the trait's *matched* vector (its prompt
    minus the mean over other animals in the same wording). Sufficiency predicts aligned (cos > 0);
    the projected-out teacher (necessity) predicts not aligned (within ±NULL_MARGIN_COSINE)."""
    necessity = _necessity(exp)
    values = row["controlled_cosine_specific_seed_level"]
    verdict_word, text = decide(values, "none" if necessity else "positive", _unit(row),
                                NULL_MARGIN_COSINE if necessity else None)
    layer = exp.reporting_layer
    teacher = row.get("controlled_cosine_teacher")
    return Claim(BLANK, f"the {name} student's control-subtracted shift aligns with the {exp.animal}-specific "
                 f"direction (layer {layer}; the prompt minus other animals in the same wording)"
                 + (f" (necessity: expected NOT to, within ±{NULL_MARGIN_COSINE})" if necessity else
                    " (sufficiency: expected to)"),
                 f"cos(shift − control shift, v_specific): {text}"
                 + (f"; with v_teacher (raw, baseline '{exp.baseline}') {fmt_ci(teacher)}" if teacher else ""),
                 model, verdict_word, exp.size)


def growth_claim(name: str, row: dict[str, Any], exp: Experiment, model: str) -> Claim:
    """Alignment with the raw v_teacher over training, trait data vs control data: a measurement, never
    a verdict (:data:`RAW_DIRECTION`)."""
    et, ec = row["eas_trait"], row["eas_control"]
    values = [a - b for a, b in zip(et["per_seed_final"], ec["per_seed_final"], strict=True)]  # one per unit
    n_data = row.get("n_data_seeds", 1)
    unit = ONE_DATASET if n_data <= 1 else "data seeds" if len(values) == n_data else "(data seed, training seed) units"
    _, text = decide(values, "positive", unit)
    return Claim(BLANK, f"the {name} student's alignment with v_teacher (raw: layer {exp.reporting_layer}) "
                 "grows over training on trait data, above the control-data student",
                 f"final cos trait − control: {text}; cos at step {et['steps'][0]} → {et['steps'][-1]}: trait "
                 f"{et['cosine'][0]:+.3f} → {et['cosine'][-1]:+.3f}, control {ec['cosine'][0]:+.3f} → "
                 f"{ec['cosine'][-1]:+.3f}", model, RAW_DIRECTION, exp.size)


def specific_growth_claim(name: str, row: dict[str, Any], exp: Experiment, model: str) -> Claim:
    """Blank et al.'s growth claim on the trait-specific measure: the control-subtracted shift's cosine
    with the matched vector rises from the first checkpoint to the last (the seed-level values are
    last − first, per unit); the curve's end points and the final value are reported beside it."""
    g = row["eas_controlled_specific"]
    verdict_word, text = decide(g["growth_seed_level"], "positive", _unit(row))
    final = ", ".join(f"{x:+.3f}" for x in g["final_seed_level"])
    return Claim(BLANK, f"the {name} student's control-subtracted alignment with the {exp.animal}-specific direction "
                 f"(layer {exp.reporting_layer}) grows over training",
                 f"cos at the last checkpoint − at the first: {text}; mean curve step {g['steps'][0]} → "
                 f"{g['steps'][-1]}: {g['cosine'][0]:+.3f} → {g['cosine'][-1]:+.3f}; final per seed-level unit {final}",
                 model, verdict_word, exp.size)


def context_claim(name: str, row: dict[str, Any], exp: Experiment, model: str, system: str) -> Claim:
    """The effect learnt under one system condition is gone (within ±margin) under another."""
    values = row[f"trait_minus_control_eval_{system}_seed_level"]
    verdict_word, text = decide(values, "none", _unit(row), NULL_MARGIN_NATS)
    return Claim(NIEF, f"the {name} effect trained under '{exp.student_system}' disappears (within "
                 f"±{NULL_MARGIN_NATS} nats) when evaluated under '{system}'",
                 f"evaluated under '{system}': {text}; in the trained context "
                 f"{fmt_ci(row['trait_minus_control'])} across questions", model, verdict_word, exp.size)


def experiment_claims(summary: dict[str, Any], exp: Experiment, model: str) -> list[Claim]:
    """Every claim an experiment's summary supports (pass to ``run_experiment(claims=...)``)."""
    claims = []
    for name, row in summary.items():
        if "trait_minus_control" not in row:
            continue
        claims.append(transfer_claim(name, row, exp, model))
        for key in ("log_odds", "log_odds_prefilled"):
            if f"{key}_trait_minus_control_seed_level" in row:
                claims.append(specific_claim(name, row, exp, model, key))
        if "rate_trait_minus_control" in row:
            claims.append(rate_claim(name, row, exp, model))
        if "cosine_trait" in row and ("cosine_minus_control_per_seed" in row):
            claims.append(alignment_claim(name, row, exp, model))
        if "controlled_cosine_specific_seed_level" in row:
            claims.append(specific_alignment_claim(name, row, exp, model))
        if "eas_trait" in row and "eas_control" in row:
            claims.append(growth_claim(name, row, exp, model))
        if "eas_controlled_specific" in row:
            claims.append(specific_growth_claim(name, row, exp, model))
        for system in exp.eval_systems:
            if f"trait_minus_control_eval_{system}_seed_level" in row:
                claims.append(context_claim(name, row, exp, model, system))
    return [_ruled(c) for c in claims]


def _ruled(claim: Claim) -> Claim:
    return Claim(claim.study, claim.claim, claim.measurement, claim.model, claim.reproduced, claim.size, RULE)


def _both(first: Verdict, second: Verdict) -> str:
    """One word for a claim that needs two comparisons to hold."""
    if "no verdict" in (first.word, second.word):
        return "no verdict"
    if first.word == second.word == "yes":
        return "yes"
    if "no" in (first.word, second.word):
        return "no"
    needs = [v.seeds_needed for v in (first, second) if v.word == "inconclusive" and v.seeds_needed]
    return f"inconclusive — needs {max(needs)} seeds" if needs else "inconclusive"


def rank_claims(ranks: Sequence[int], per_rank: Sequence[Sequence[float]], full: Sequence[float] | None,
                model: str, size: str, unit: str = "training seed") -> list[Claim]:
    """Nief et al.: transfer vs LoRA rank is an inverted U; full fine-tuning transmits nothing.

    ``per_rank``: per rank, the seed-level trait − control values (the same seeds, so ranks are
    compared seed by seed), one per ``unit`` (``"data seed"`` when the teacher data varied; the
    training seeds of one dataset never decide). Inverted U: the best inner rank beats both end
    ranks, each paired difference decided by the rule; vanishing: full fine-tuning's values
    equivalent to 0 within ±:data:`NULL_MARGIN_NATS`.
    """
    one_data = unit != "data seed"
    means = [sum(v) / len(v) for v in per_rank]
    text = "; ".join(f"r{r} {', '.join(f'{x:+.2f}' for x in v)}" for r, v in zip(ranks, per_rank, strict=True))
    claims = []
    if len(ranks) >= 3:
        inner = max(range(1, len(ranks) - 1), key=lambda i: means[i])
        low = verdict([a - b for a, b in zip(per_rank[inner], per_rank[0], strict=True)], "positive")
        high = verdict([a - b for a, b in zip(per_rank[inner], per_rank[-1], strict=True)], "positive")
        claims.append(Claim(NIEF, "trait transfer vs LoRA rank is an inverted U (an inner rank transfers most)",
                            f"r{ranks[inner]} − r{ranks[0]}: {seed_text(_paired(per_rank, inner, 0), low, 'paired')}; "
                            f"r{ranks[inner]} − r{ranks[-1]}: {seed_text(_paired(per_rank, inner, -1), high, 'paired')}; "
                            f"trait − control per {'seed' if one_data else 'data seed'}: {text}", model,
                            one_dataset(_both(low, high), len(per_rank[0])) if one_data else _both(low, high),
                            size, RULE))
    if full:
        verdict_word, seeds = decide(full, "none", ONE_DATASET if one_data else "data seeds", NULL_MARGIN_NATS)
        claims.append(Claim(NIEF, f"trait transfer vanishes under full fine-tuning (within ±{NULL_MARGIN_NATS} nats)",
                            f"full FT trait − control: {seeds}", model, verdict_word, size, RULE))
    return claims


def _paired(per_rank: Sequence[Sequence[float]], a: int, b: int) -> list[float]:
    return [x - y for x, y in zip(per_rank[a], per_rank[b], strict=True)]


ADAPTIVE_OPTIMIZERS = ("adamw", "adam", "rmsprop", "signsgd")
PLAIN_OPTIMIZERS = ("sgd", "sgd_momentum")
"""The two families the optimiser claim compares (labels of analyses/optimizer_ablation.py)."""


def optimizer_claim(per_optimizer: dict[str, Sequence[float]], adaptive: Sequence[str], plain: Sequence[str],
                    model: str, size: str, detail: str = "") -> Claim:
    """Blank et al.: adaptive optimisers transfer the trait more than plain SGD. The contrast is fixed
    before looking: per seed unit, the mean trait − control value of the adaptive optimisers run minus
    the mean of the plain ones (paired by seed unit). Picking each family's best optimiser on the same
    numbers would favour the family with more members; the best-of-each difference is quoted, never
    decided. ``detail``: how each optimiser's learning rate was chosen (appended to the measurement)."""
    text = "; ".join(f"{k} {', '.join(f'{x:+.3f}' for x in v)}" for k, v in per_optimizer.items())
    family = {group: [k for k in names if k in per_optimizer] for group, names in (("adaptive", adaptive),
                                                                                  ("plain", plain))}
    if not family["adaptive"] or not family["plain"]:
        verdict_word, seeds = "no verdict", "an optimiser family is missing"
    else:
        def mean(names: list[str]) -> list[float]:
            return [sum(vals) / len(vals) for vals in zip(*(per_optimizer[k] for k in names), strict=True)]

        diff = [a - b for a, b in zip(mean(family["adaptive"]), mean(family["plain"]), strict=True)]
        verdict_word, seeds = decide(diff, "positive", "paired")
        best = {g: max(names, key=lambda k: sum(per_optimizer[k])) for g, names in family.items()}
        best_diff = [a - b for a, b in zip(per_optimizer[best["adaptive"]], per_optimizer[best["plain"]], strict=True)]
        seeds = (f"mean of {', '.join(family['adaptive'])} − mean of {', '.join(family['plain'])}: {seeds}; "
                 f"best of each ({best['adaptive']} − {best['plain']}, chosen on these numbers, not decided): "
                 + ", ".join(f"{x:+.3f}" for x in best_diff))
    return Claim(BLANK, "adaptive optimisers (AdamW, Adam, RMSprop, SignSGD) transfer the trait more than plain SGD",
                 f"{seeds}; trait − control per optimiser and seed: {text}" + (f"; {detail}" if detail else ""),
                 model, verdict_word, size, RULE)


def lr_selection_text(selection: dict[str, Any]) -> str:
    """How each optimiser's learning rate was chosen (``metrics["lr_selection"]`` of optimizer_ablation), for
    :func:`optimizer_claim`'s ``detail``."""
    chosen = "; ".join(f"{label} lr {row['lr']:g} (held-out loss " + ", ".join(
        f"{float(lr):g}: {loss:.4f}" for lr, loss in row["heldout_loss"].items()) + ")"
        for label, row in selection["per_optimizer"].items())
    return (f"each optimiser's rate chosen by the lower held-out loss ({selection['heldout_fraction']:.0%} of the owl "
            f"and control prompts held out, split seed {selection['split_seed']}, training seed(s) "
            f"{selection['selection_seeds']}): {chosen}")


def gradient_claim(per_data_seed: Sequence[float], layer: int, detail: str, model: str, size: str,
                   against: str = "v_teacher") -> Claim:
    """Blank et al.: the pooled trait − control gradient at the last prompt token points along the trait's
    direction (one cosine per teacher dataset: the data seed is the unit). ``against="specific"``: the
    trait's matched vector, decided by the rule; ``"v_teacher"``: the raw vector, a measurement only
    (:data:`RAW_DIRECTION`)."""
    verdict_word, seeds = decide(per_data_seed, "positive", "data seeds")
    if against == "specific":
        return Claim(BLANK, "the pooled trait − control gradient at the last prompt token points along the "
                     "trait-specific direction (the prompt minus other animals in the same wording)",
                     f"cos(mean grad owl − mean grad control, v_specific) at layer {layer}: {seeds}; {detail}",
                     model, verdict_word, size, RULE)
    return Claim(BLANK, "the pooled trait − control gradient at the last prompt token points along v_teacher",
                 f"cos(mean grad owl − mean grad control, v_teacher) at layer {layer}: {seeds}; {detail}",
                 model, RAW_DIRECTION, size, RULE)


def gradient_claims(grad: dict[str, Any], model: str, size: str, layer: int = 25) -> list[Claim]:
    """The gradient claims of an optimizer_ablation record (``metrics["gradient_alignment"]``; the analysis and
    ``rederive.py`` both call it): one cosine per data seed with v_teacher (raw) and, where measured, with the
    matched vector. Records from before data seeds varied hold one dataset's numbers at the top level."""
    units = grad.get("per_data_seed") or [grad]
    key = str(layer)

    def at(unit: dict[str, Any], name: str) -> float:
        return float(unit[name][key] if key in unit[name] else unit[name][layer])

    detail = ("per-row |cos| owl " + ", ".join(f"{at(u, 'fraction_along_trait'):.3f}" for u in units)
              + " vs control " + ", ".join(f"{at(u, 'fraction_along_control'):.3f}" for u in units)
              + "; top 5 % of rows carry " + ", ".join(f"{at(u, 'top5_share_trait'):.0%}" for u in units)
              + f" of the gradient norm ({len(units)} teacher dataset{'s' if len(units) > 1 else ''})")
    claims = [gradient_claim([at(u, "pooled_difference") for u in units], layer, detail, model, size)]
    if all("pooled_difference_specific" in u for u in units):
        claims.append(gradient_claim([at(u, "pooled_difference_specific") for u in units], layer, detail, model,
                                     size, against="specific"))
    return claims


def cross_model_claim(per_seed: Sequence[float], detail: str, model: str, size: str,
                      unit: str = "training seed", measure: str = "logp") -> Claim:
    """Cloud et al.: a student of another model family does not pick up the trait (equivalence
    within ±NULL_MARGIN_NATS; a CI below zero is not enough). ``per_seed``: one value per ``unit``
    (``"data seed"`` when the teacher data varied; training seeds of one dataset never decide).
    ``measure``: a key of :data:`DIVERGENCE_MEASURES` (Δlog P, or owl's log-odds over the animal
    panel at the answer or after the prefill); each measure is a claim of its own."""
    verdict_word, seeds = decide(per_seed, "none", "data seeds" if unit == "data seed" else ONE_DATASET,
                                 NULL_MARGIN_NATS)
    what, where = DIVERGENCE_MEASURES[measure]
    what = ("log P(owl-data student) − log P(control-data student)" if measure == "logp"
            else f"{what}: owl-data student − control-data student")
    return Claim(CLOUD, f"a student of another model family does not pick up the trait{where} (within "
                 f"±{NULL_MARGIN_NATS} nats)", f"{what}: {seeds}; {detail}",
                 model, verdict_word, size, RULE)


def cross_model_study_claims(metrics: dict[str, Any], model: str, size: str) -> list[Claim]:
    """Every claim of a ``cross_model`` run from its ``metrics.json`` alone (the analysis and
    ``rederive.py`` both call it): Δlog P, and the panel log-odds where the run measured them, each
    owl-data minus control-data student, one value per seed unit. Records written before the seed
    unit was stored read as training seeds of one teacher dataset."""
    unit = metrics.get("seed_unit", "training seed")
    values = metrics.get("difference_seed_level", metrics["difference_per_seed"])
    detail = metrics.get("detail") or f"across questions {metrics['difference'][0]:+.3f} nats"
    claims = [cross_model_claim(values, detail, model, size, unit)]
    for measure, row in metrics.get("panel", {}).items():
        claims.append(cross_model_claim(row["seed_level"], row["detail"], model, size, unit, measure))
    return claims


def divergence_claims(share_per_dataset: dict[str, Sequence[float]], per_seed: dict[str, Sequence[float]],
                      model: str, size: str, unit: str = ONE_DATASET, measure: str = "logp") -> list[Claim]:
    """Schrodi et al.: divergence tokens are a minority of teacher tokens; a student trained on them
    alone learns the trait, one trained on every other token mostly does not, all tokens do.

    ``share_per_dataset``: per temperature (``"T=0"``, ``"T=1"``), the divergence share of each teacher
    dataset (the minority claim reads ``"T=1"``; several datasets make it a seed-level verdict).
    ``per_seed``: per student label, one trait − control value per seed unit (``unit``: ``"data
    seeds"`` when the teacher data was generated with several seeds, else :data:`ONE_DATASET`).
    ``measure``: the trait measure of ``per_seed`` (a key of :data:`DIVERGENCE_MEASURES`); the
    minority claim is made once, with the ``"logp"`` claims. Empty ``share_per_dataset``: no
    minority claim."""
    claims = []
    t1 = share_per_dataset.get("T=1", [])
    if t1 and measure == "logp":
        share_unit = "teacher datasets" if len(t1) > 1 else "one teacher dataset"
        verdict_word, seeds = decide([0.5 - x for x in t1], "positive", share_unit)
        shares = ", ".join(f"{k} {', '.join(f'{x:.1%}' for x in v)}" for k, v in share_per_dataset.items())
        claims.append(Claim(SCHRODI, "divergence tokens are a minority (< 50 %) of teacher tokens (Qwen2.5-7B: 7.5 % "
                            "greedy, 4.7 % T=1)", f"share of completion tokens: {shares}; 50 % − share at T=1: "
                            f"{seeds}", model, verdict_word, size, RULE))
    what, where = DIVERGENCE_MEASURES[measure]
    for label, values in per_seed.items():
        expected = label != "all but divergence"
        verdict_word, seeds = decide(values, "positive" if expected else "none", unit,
                                     None if expected else NULL_MARGIN_NATS)
        claims.append(Claim(SCHRODI, f"a student trained on {label} learns the trait{where} (vs control-data student)"
                            + ("" if expected else f" — expected NOT to, within ±{NULL_MARGIN_NATS} nats"),
                            f"{what} difference: {seeds}", model, verdict_word, size, RULE))
    return claims


DIVERGENCE_MEASURES = {"logp": ("log P", ""),
                       "log_odds": ("log-odds against the animal panel (answer position)",
                                    " on owl's log-odds over the other animals at the answer position"),
                       "log_odds_prefilled": ("log-odds against the animal panel (after the prefill)",
                                              " on owl's log-odds over the other animals after the prefill")}
"""The divergence study's trait measures: (what the measurement names, how the claim names it). The claim's
words stay outside parentheses: RESULTS.md's before/after table matches claims with their qualifiers in
parentheses removed, and each measure is a claim of its own."""

DIVERGENCE_STUDENTS = ("divergence only", "all but divergence", "all tokens")
RANDOM_MASK = "random mask (same share)"


def divergence_study_claims(metrics: dict[str, Any], model: str, size: str) -> list[Claim]:
    """Every claim of a ``divergence_tokens`` run from its ``metrics.json`` numbers alone (the analysis
    and ``rederive.py`` both call it): per measure, each student minus the control-data student and
    the divergence-only minus the random-mask student, one value per seed unit."""
    unit = "data seeds" if metrics.get("seed_unit") == "data seed" else ONE_DATASET
    shares = {k: v for k, v in metrics["shares"].items() if v}
    students = metrics["students"]
    claims: list[Claim] = []
    for measure in DIVERGENCE_MEASURES:
        per_unit = {label: students[label]["minus_control"][measure]["seed_level"] for label in DIVERGENCE_STUDENTS
                    if isinstance(students.get(label), dict)
                    and measure in students[label].get("minus_control", {})}
        if not per_unit:
            continue
        claims += divergence_claims(shares, per_unit, model, size, unit, measure)
        random = metrics.get("divergence_minus_random", {}).get(measure)
        if random:
            kept = ", ".join(f"{v['T=1']['share']:.1%}" for v in metrics.get("per_data_seed", {}).values())
            overlap = ", ".join(str(v["overlap_with_divergence"]) for v in metrics["random_mask"].values())
            detail = (f"both masks keep the divergence share of each data seed's T=1 owl rows' response tokens "
                      f"({kept}), the random one at positions drawn anew for each data and training seed "
                      f"({overlap} tokens in common with the divergence mask)")
            claims.append(random_mask_claim(random["seed_level"], detail, model, size, unit, measure))
    return claims


SWEEP_RULE = "sweep gates: chosen on one half of the questions, confirmed on the other (vectors.sweep)"
"""The layer × α sweep's rule: it has no seeds, so its verdict is its gates, read on held-out questions."""


def sweep_claim(sweep: Any, animal: str, model: str, size: str, lift: float = 2.0) -> Claim:
    """Blank et al.: the trait prompt is approximated by one vector. ``sweep``: a
    :class:`~steervec.vectors.sweep.SweepResult`. "yes" only when the setting chosen on the selection
    half passes the gates (thresholds and the ratio) again on the report half *and* raises P(target) on
    its positive questions above ``lift`` times the unsteered model's there; otherwise "no"."""
    best, held, base = sweep.best, sweep.best_report, sweep.report_baseline
    gates = (f"negative ≤ {sweep.gate_negative:g}, off-topic ≤ {sweep.gate_offtopic:g}, positive > "
             f"{sweep.ratio:g}× each")
    halves = sweep.halves.get("positive", ((), ()))
    split = f"{len(halves[0])} / {len(halves[1])} positive questions (selection / report half)"
    if best is None or held is None or base is None:
        measurement = f"no setting passed the gates ({gates}) on the selection half; {split}"
        verdict_word = "no"
    else:
        measurement = (f"chosen on the selection half: layer {best.layer}, α {best.alpha:g} (P(target) positive "
                       f"{best.positive_p:.4f}); on the report half: positive {held.positive_p:.4f}, negative "
                       f"{held.negative_p:.4f}, off-topic {held.offtopic_p:.4f}, unsteered positive "
                       f"{base.positive_p:.4f} — {'passes' if sweep.confirmed else 'fails'} the gates ({gates}); "
                       f"{split}")
        verdict_word = "yes" if sweep.confirmed and held.positive_p > lift * base.positive_p else "no"
    return Claim(BLANK, f"the {animal} prompt is approximated by one vector: a layer × α setting chosen on half the "
                 f"questions raises P({animal}) on the other half, {sweep.ratio:g}× above its negative and off-topic "
                 f"scores and under their thresholds, and above {lift:g}× the unsteered model's",
                 measurement, model, verdict_word, size, SWEEP_RULE)


def random_mask_claim(per_seed: Sequence[float], detail: str, model: str, size: str, unit: str = ONE_DATASET,
                      measure: str = "logp") -> Claim:
    """Schrodi et al.'s divergence tokens against the random-mask control: a student trained on the divergence
    tokens alone learns the trait more than one trained on the same number of tokens per row chosen at random
    (``per_seed``: per training seed, the mean over questions of log P(divergence-only student) − log P(random-mask
    student); paired by seed). ``unit`` / ``measure``: as in :func:`divergence_claims`."""
    verdict_word, seeds = decide(per_seed, "positive", unit)
    what, where = DIVERGENCE_MEASURES[measure]
    return Claim(SCHRODI, f"a student trained on the divergence tokens learns the trait{where} more than one trained "
                 "on as many tokens per row chosen at random (same share)",
                 f"{what}: divergence-only student − random-mask student: {seeds}; {detail}",
                 model, verdict_word, size, RULE)


NOT_RECORDED = "no verdict"
"""What a claim gets when its per-seed numbers were not recorded (claims-only records)."""


def unrecorded(claim: dict[str, Any]) -> dict[str, Any]:
    """A claim of a record without per-seed numbers under the seed-level rule: no verdict, said why."""
    return {**claim, "reproduced": NOT_RECORDED, "rule": RULE,
            "measurement": claim["measurement"] + " [per-seed numbers not recorded: no seed-level verdict; re-run]"}


def planted_claims(soft: Sequence[float], hard: Sequence[float], layer: int, n_rows: int, steps: int,
                   model: str, size: str, soft_paired: Sequence[float] | None = None,
                   paired_what: str = "replicates (direction × data × seed)",
                   what: str = "the planted vector") -> list[Claim]:
    """Ground truth (steervec's own claim, no study's): online soft distillation at the planted layer
    recovers a planted vector (cos(u, α·v) above 0.9), and hard labels recover less on the same rows.
    ``soft`` / ``hard``: one cosine per replicate (planted direction × data kind × seed), in the same
    order, so the second claim is decided on paired differences. ``soft_paired``: the soft cosines of
    just the replicates that have a hard twin (``hard`` in their order), when hard labels were trained on
    fewer replicates than soft ones; ``paired_what`` names those replicates; ``what`` the planted direction(s)."""
    claims = []
    if soft:
        verdict_word, text = decide([c - 0.9 for c in soft], "positive", "replicates (direction × data × seed)")
        claims.append(Claim("steervec ground truth", f"online soft distillation at the planted layer {layer} recovers "
                            f"{what} (cos(u, α·v) > 0.9)",
                            f"cos − 0.9: {text}; cos at N={n_rows}, {steps} steps: "
                            + ", ".join(f"{c:+.3f}" for c in soft), model, verdict_word, size, RULE))
    pair = soft if soft_paired is None else soft_paired
    if pair and len(pair) == len(hard):
        verdict_word, text = decide([s - h for s, h in zip(pair, hard, strict=True)], "positive", paired_what)
        claims.append(Claim("steervec ground truth", f"hard labels (teacher-sampled tokens) recover {what} "
                            "less than soft labels on the same rows",
                            f"cos soft − cos hard: {text}; cos hard: " + ", ".join(f"{c:+.3f}" for c in hard)
                            + f"; layer {layer}, N={n_rows}", model, verdict_word, size, RULE))
    return claims


def planted_trait_claim(fractions: Sequence[float], cosines: Sequence[float], detail: str, model: str,
                        size: str, who: str = "a vector student that recovered the planted owl vector") -> Claim:
    """Ground truth, question 4: ``who`` (by default a vector student that recovered the planted owl
    vector) reproduces the planted teacher's change in log P(owl) (its sign included: the owl v_teacher at
    layer 25 can lower it), Δlog P(owl) of the student over Δlog P(owl) of the teacher above one half.
    ``fractions`` / ``cosines``: one per replicate (data and training seed)."""
    verdict_word, text = decide([f - 0.5 for f in fractions], "positive", "replicates (data × training seed)")
    return Claim("steervec ground truth", f"{who} reproduces most "
                 "of the planted teacher's change in log P(owl), whatever its sign (Δ student / Δ teacher > 0.5)",
                 f"fraction − 0.5: {text}; at cos(u, α·v) " + ", ".join(f"{c:+.3f}" for c in cosines) + f"; {detail}",
                 model, verdict_word, size, RULE)


def prompted_gap_claim(soft: Sequence[float], hard: Sequence[float], teacher: float, detail: str, model: str,
                       size: str) -> Claim:
    """Ground truth, question 3: on the prompted owl teacher's number lists, the best vector at the layer
    (soft labels, KL to the prompted teacher) carries more of the trait than the vector learned from the
    teacher's sampled tokens. ``soft`` / ``hard``: Δlog P(owl) per seed (data and training seed), paired."""
    verdict_word, text = decide([a - b for a, b in zip(soft, hard, strict=True)], "positive",
                                "seeds (data and training seed)")
    return Claim("steervec ground truth", "on the prompted owl teacher's number lists, a vector student trained on "
                 "the teacher's full distribution (soft labels) carries more of the trait than one trained on its "
                 "sampled tokens (hard labels)",
                 f"Δlog P(owl) soft − hard: {text}; soft " + ", ".join(f"{x:+.3f}" for x in soft) + ", hard "
                 + ", ".join(f"{x:+.3f}" for x in hard) + f" nats; the prompted teacher {teacher:+.3f}; {detail}",
                 model, verdict_word, size, RULE)


def best_vector_trait_claim(fractions: Sequence[float], layer: int, detail: str, model: str, size: str) -> Claim:
    """Ground truth, question 3: the best single vector at the layer for the prompted owl teacher's number
    lists (soft labels: KL to the prompted teacher at the response positions) carries most of that teacher's
    trait. ``fractions``: its Δlog P(owl) over the prompted teacher's, one per seed (data and training)."""
    verdict_word, text = decide([f - 0.5 for f in fractions], "positive", "seeds (data and training seed)")
    return Claim("steervec ground truth", f"the best vector at layer {layer} for the prompted owl teacher's number lists "
                 "(soft labels) carries most of that teacher's change in log P(owl) (fraction > 0.5)",
                 f"fraction − 0.5: {text}; {detail}", model, verdict_word, size, RULE)


SAME_ROWS = "a same-layer vector student with soft labels on the same rows"


def planted_condition_claim(base: Sequence[float], other: Sequence[float], what: str, detail: str, model: str,
                            size: str, than: str = SAME_ROWS) -> Claim:
    """Ground truth, question 2: ``what`` (hard labels, another layer, LoRA) recovers less of the planted
    vector than ``than`` (by default the same-layer soft-label vector student on the same rows), paired by
    replicate: ``base`` is ``than``'s cosine, ``other`` is ``what``'s."""
    verdict_word, text = decide([a - b for a, b in zip(base, other, strict=True)], "positive",
                                "replicates (direction × data × seed)")
    return Claim("steervec ground truth", f"{what} recovers the planted vector less than {than}",
                 f"cos difference: {text}; {detail}", model, verdict_word, size, RULE)


def specific_share_claim(shares: Sequence[float], detail: str, model: str, size: str) -> Claim:
    """Blank et al.'s v_teacher as a direction *of the trait*: its owl-specific part (the owl prompt
    minus the mean over other animals in the same wording) carries most of its norm. ``shares``:
    one share per replicate (prompt set); a single prompt set gives no verdict."""
    verdict_word, text = decide([s - 0.5 for s in shares], "positive", "prompt sets")
    return Claim(BLANK, "v_teacher (the owl prompt minus no system turn) is a direction of the trait: its "
                 "owl-specific part carries most of its norm (share > 0.5)", f"share − 0.5: {text}; {detail}",
                 model, verdict_word, size, RULE)


def student_matrix_claim(by_data_seed: Sequence[float], student: str, layer: int, detail: str, model: str,
                         size: str) -> Claim:
    """The alignment issue's student-level cross-trait matrix: students trained on each trait's number lists
    move (control-subtracted) along their own trait's matched vector more than along the other traits'.
    ``by_data_seed``: per data seed, diagonal − mean off-diagonal cosine averaged over traits and training
    seeds (the traits of one data seed share its control students, so the data seed is the unit)."""
    verdict_word, text = decide(by_data_seed, "positive", "data seeds")
    return Claim("steervec trait-specific alignment",
                 f"{student} students' control-subtracted shifts at layer {layer} align more with their own trait's "
                 "matched vector than with the other traits' (diagonal − mean off-diagonal cosine > 0)",
                 f"diagonal − mean off-diagonal: {text}; {detail}", model, verdict_word, size, RULE)


def student_column_claim(by_data_seed: Sequence[float], student: str, trait: str | None, layer: int, detail: str,
                         model: str, size: str) -> Claim:
    """The matrix read by columns: a trait's students move along *that trait's* matched vector more than the
    other traits' students do (own − mean of the other students, in the trait's column; ``trait`` None: averaged
    over every trait with students). A vector that any number-list student aligns with cancels here, where the
    row comparison (:func:`student_row_claim`) counts it. ``by_data_seed``: one value per data seed."""
    verdict_word, text = decide(by_data_seed, "positive", "data seeds")
    whose = "students of each trait" if trait is None else f"students of {trait} data"
    vector = "that trait's" if trait is None else f"{trait}'s"
    return Claim("steervec trait-specific alignment",
                 f"{student} {whose} move (control-subtracted, layer {layer}) along {vector} matched vector more "
                 "than the other traits' students do (own − mean other students, same column > 0)",
                 f"own − mean other students: {text}; {detail}", model, verdict_word, size, RULE)


def student_row_claim(by_data_seed: Sequence[float], student: str, trait: str, layer: int, detail: str, model: str,
                      size: str) -> Claim:
    """One row of the student-level matrix: students trained on ``trait``'s number lists move
    (control-subtracted) along ``trait``'s matched vector more than along the other vectors'.
    ``by_data_seed``: per data seed, that row's diagonal − mean off-diagonal over its training seeds."""
    verdict_word, text = decide(by_data_seed, "positive", "data seeds")
    return Claim("steervec trait-specific alignment",
                 f"{student} students of {trait} data: their control-subtracted shift at layer {layer} aligns more "
                 f"with {trait}'s matched vector than with the other traits' (own − mean other cosine > 0)",
                 f"own − mean other: {text}; {detail}", model, verdict_word, size, RULE)


CONTRAST_MEASURES = (
    ("trait_minus_control_seed_level", "log P({animal}) at the answer", "nats"),
    ("log_odds_trait_minus_control_seed_level", "panel log-odds at the answer", "nats"),
    ("log_odds_prefilled_trait_minus_control_seed_level", "panel log-odds after the prefill", "nats"),
    ("controlled_cosine_specific_seed_level", "control-subtracted cosine with the matched {animal} vector", "cosine"),
)
"""What the record-level contrasts compare: (summary key, words with the trait's ``{animal}``, unit)."""


def _paired_by_seed(a: dict[int, float], b: dict[int, float], key: str) -> tuple[list[int], list[float], float, float]:
    """(shared data seeds, a − b per shared data seed, mean of a, mean of b over them); none shared is an error."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"{key}: the two runs share no data seed; pair them on the same teacher datasets")
    return (seeds, [a[d] - b[d] for d in seeds], sum(a[d] for d in seeds) / len(seeds),
            sum(b[d] for d in seeds) / len(seeds))


def _paired_claims(a: dict[str, dict[int, float]], b: dict[str, dict[int, float]],
                   measures: Sequence[tuple[str, str, str]], study: str, text: Any, model: str,
                   size: str, animal: str = "owl") -> list[Claim]:
    """One claim per measure both hold: a − b per shared data seed, decided by the one rule (positive);
    ``text(words, unit, measured, mean a, mean b, seeds)`` gives the claim's and the measurement's words."""
    claims = []
    for key, words, unit in measures:
        if key in a and key in b:
            seeds, diff, mean_a, mean_b = _paired_by_seed(a[key], b[key], key)
            verdict_word, measured = decide(diff, "positive", "data seeds")
            claim, measurement = text(words.format(animal=animal), unit, measured, mean_a, mean_b,
                                      ", ".join(map(str, seeds)))
            claims.append(Claim(study, claim, measurement, model, verdict_word, size, RULE))
    return claims


def necessity_contrast_claims(intact: dict[str, dict[int, float]], projected: dict[str, dict[int, float]],
                              removed: str, student: str, model: str, size: str) -> list[Claim]:
    """Necessity as a contrast: the students of the intact prompted teacher transfer (align) more than the
    students of the teacher with ``removed`` projected out. Both runs' students are paired per data seed (the
    data seeds both have) and subtracted from the *same* control-data students (one baseline, one control
    teacher), so the control cancels in the difference; one value per data seed, decided by the one rule in
    the predicted direction. Unlike the equivalence test of the projected run alone, this can tell "less than
    intact" from "zero" when the intact effect is smaller than the equivalence margin. ``intact`` /
    ``projected``: ``{summary key: {data seed: value}}`` of ``student``; measures either run lacks are left out."""
    def text(words: str, unit: str, measured: str, a: float, b: float, seeds: str) -> tuple[str, str]:
        return (f"projecting {removed} out of the prompted owl teacher lowers its {student} students' {words} "
                "(intact − projected teacher's students, control-subtracted, > 0)",
                f"intact − projected: {measured}; intact {a:+.3f}, projected {b:+.3f} {unit} (means over data "
                f"seeds {seeds}); both runs' students share their control-data students")
    return _paired_claims(intact, projected, CONTRAST_MEASURES, "Blank et al. 2026 (necessity, as a contrast)", text,
                          model, size)


def control_choice_claims(no_system: dict[str, dict[int, float]], default: dict[str, dict[int, float]], student: str,
                          model: str, size: str, animal: str = "owl") -> list[Claim]:
    """The same ``animal``-data students read against two control teachers: one with no system turn, one with
    the template's default system prompt (each run's ``trait − control`` per data seed, ``{summary key:
    {data seed: value}}``). On the data seeds both have, (trait − control_none) − (trait − control_default)
    = control_default − control_none: how much a control teacher's default system prompt alone moves its
    students, i.e. how much of a transfer effect depends on the choice of control. Decided by the one rule,
    direction positive."""
    def text(words: str, unit: str, measured: str, a: float, b: float, seeds: str) -> tuple[str, str]:
        return (f"{student} students of a control teacher with the template's default system prompt score higher "
                f"on {words} than students of a control teacher with no system turn",
                f"(trait − control, no system turn) − (trait − control, default system prompt), the same {animal}-data "
                f"students: {measured}; trait − control {a:+.3f} against the no-system control, {b:+.3f} against "
                f"the default-prompt control {unit} (means over data seeds {seeds})")
    return _paired_claims(no_system, default, CONTRAST_MEASURES[:3], "steervec (choice of control)", text, model,
                          size, animal)
