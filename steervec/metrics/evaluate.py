"""Trait evaluation: sampling hit rates with CIs across questions, and Δlog P against the base.

Two metrics on the same questions:

* **sampling rate** — ``k`` answers per question at temperature 1; a hit is one of the
  answer's words being the target or its plural (``hit="word"``), the target anywhere in the
  lower-cased answer (``hit="substring"``, the reference rule) or the answer's first word
  being the target or its plural (``hit="first_word"``). Per-question rates, then the mean
  and a 95 % Student-t CI across questions.
* **Δlog P** — mean over questions of log P(answer starts with the target) (see
  :func:`steervec.metrics.trait.trait_logprob`) minus the base model's value on the same questions.
* **Δ log-odds** (with ``panel=``) — the same for the target's log-odds against a panel of
  other animals (:func:`steervec.metrics.trait.panel_log_odds`), at the answer position and
  after an animal-forcing prefill: specific to the target, blind to a rise of every animal.

The evaluated model is ``lm`` as it is during the call: wrap the call in a steering
context (steered teacher), a system prompt (prompted teacher) or a student's context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steervec.core.chat import TEMPLATE_DEFAULT, System, check_texts, describe_system, encode_chat
from steervec.core.model import LanguageModel, as_language_model
from steervec.core.reprs import html_table, shorten
from steervec.data.questions import ANIMAL_PREFILL
from steervec.metrics.stats import t_half_width
from steervec.metrics.trait import panel_animals, panel_log_odds, trait_logprob

HitRule = Literal["word", "substring", "first_word"]


def mean_ci(values: Sequence[float] | Tensor, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval ``(mean, low, high)`` of ``values`` (``n − 1`` degrees of freedom).

    With 3 values the half-width is 4.30 standard errors, with 50 it is 2.01. One value has
    no interval: ``(mean, mean, mean)``, which tables print as "no CI: one value".
    """
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if x.numel() == 0:
        raise ValueError("no values to average")
    mean = float(x.mean())
    if x.numel() < 2:
        return mean, mean, mean
    half = t_half_width(float(x.std(unbiased=True)), x.numel(), level)
    return mean, mean - half, mean + half


def is_hit(answer: str, target: str, rule: HitRule = "word") -> bool:
    """Whether ``answer`` names ``target`` under ``rule``.

    * ``"word"``: one of the answer's words is the target or its plural, in any case
      ("Owls!" and "an owl" count; "knowledge" and "bowling" do not);
    * ``"substring"``: the target anywhere in the lower-cased answer (the reference study's
      rule, which counts "knowledge" as an owl and "education" as a cat);
    * ``"first_word"``: the answer's first word is the target or its plural.
    """
    low, word = answer.lower(), target.lower().strip()
    if rule == "substring":
        return word in low
    if rule == "word":
        return re.search(rf"(?<![a-z]){re.escape(word)}(?:s|es)?(?![a-z])", low) is not None
    if rule == "first_word":
        first = re.findall(r"[a-z]+", low)[:1]
        return bool(first) and first[0] in (word, word + "s", word + "es")
    raise ValueError(f"unknown hit rule {rule!r}: use 'word', 'substring' or 'first_word'")


@torch.no_grad()
def sample_answers(
    lm: Any, questions: Sequence[str], system: System = TEMPLATE_DEFAULT, k: int = 10,
    temperature: float = 1.0, max_new_tokens: int = 8, seed: int = 0, batch_size: int = 16,
    progress: bool = False,
) -> list[list[str]]:
    """``k`` sampled answers per question (seeded)."""
    lm = as_language_model(lm)
    check_texts(questions, "questions")
    torch.manual_seed(seed)
    out: list[list[str]] = []
    for start in tqdm(range(0, len(questions), batch_size), desc="sampling", disable=not progress):
        rows = list(questions[start : start + batch_size])
        batch = encode_chat(lm, rows, system)
        gen = lm.generate(
            **batch.model_inputs(), do_sample=True, temperature=temperature, top_p=1.0, top_k=0,
            max_new_tokens=max_new_tokens, num_return_sequences=k,
        )
        texts = lm.tokenizer.batch_decode(gen[:, batch.input_ids.shape[1] :], skip_special_tokens=True)
        out.extend(texts[i * k : (i + 1) * k] for i in range(len(rows)))
    return out


@dataclass
class TraitEval:
    """One model condition evaluated on one question set.

    Attributes:
        label: name of the condition (``"base"``, ``"owl teacher"``, …).
        target: the target word.
        questions: the questions, in order.
        logp: ``[n_questions]`` log P(answer starts with target).
        base_logp: the base model's ``logp`` on the same questions (for Δlog P).
        answers: sampled answers per question (empty when ``k=0``).
        hit: the hit rule used for rates.
        seed: sampling seed.
        system: the system condition, in words.
        log_odds: ``[n_questions]`` target-vs-panel log-odds at the same answer position as
            ``logp`` (:func:`~steervec.metrics.trait.panel_log_odds`); ``None`` unless
            evaluated with ``panel=``.
        log_odds_prefilled: the same after :data:`~steervec.data.questions.ANIMAL_PREFILL`.
        base_log_odds / base_log_odds_prefilled: the base model's values (for Δ log-odds).
        panel: the animals the target was compared against.
    """

    label: str
    target: str
    questions: list[str]
    logp: Tensor
    base_logp: Tensor | None = None
    answers: list[list[str]] = field(default_factory=list)
    hit: HitRule = "word"
    seed: int = 0
    system: str = ""
    log_odds: Tensor | None = None
    log_odds_prefilled: Tensor | None = None
    base_log_odds: Tensor | None = None
    base_log_odds_prefilled: Tensor | None = None
    panel: tuple[str, ...] = ()

    @property
    def rates(self) -> Tensor:
        """``[n_questions]`` per-question hit rate (empty when nothing was sampled)."""
        return torch.tensor([sum(is_hit(a, self.target, self.hit) for a in ans) / len(ans)
                             for ans in self.answers if ans], dtype=torch.float64)

    @property
    def rate(self) -> tuple[float, float, float]:
        """Mean hit rate and its 95 % CI across questions."""
        if not self.answers:
            raise ValueError("no answers were sampled: evaluate with k > 0")
        return mean_ci(self.rates)

    @property
    def delta_logp(self) -> tuple[float, float, float]:
        """Mean over questions of logp − base logp, with its 95 % CI across questions."""
        if self.base_logp is None:
            raise ValueError("no base values: pass base= to evaluate_trait")
        return mean_ci(self.logp - self.base_logp)

    @property
    def delta_log_odds(self) -> tuple[float, float, float]:
        """Mean over questions of the target-vs-panel log-odds − the base's, with its 95 % CI
        across questions: the trait's rise net of any rise shared by every animal."""
        return _delta(self.log_odds, self.base_log_odds)

    @property
    def delta_log_odds_prefilled(self) -> tuple[float, float, float]:
        """:attr:`delta_log_odds` after :data:`~steervec.data.questions.ANIMAL_PREFILL`."""
        return _delta(self.log_odds_prefilled, self.base_log_odds_prefilled)

    @property
    def mean_prob(self) -> float:
        return float(self.logp.exp().mean())

    def summary(self) -> dict[str, Any]:
        row: dict[str, Any] = {"label": self.label, "target": self.target, "system": self.system,
                               "n_questions": len(self.questions), "seed": self.seed,
                               "mean_logp": float(self.logp.mean()), "mean_prob": self.mean_prob}
        if self.base_logp is not None:
            row["delta_logp"], row["delta_logp_low"], row["delta_logp_high"] = self.delta_logp
        if self.answers:
            row["rate"], row["rate_low"], row["rate_high"] = self.rate
            row["k"] = len(self.answers[0])
        for key in ("log_odds", "log_odds_prefilled"):
            values = getattr(self, key)
            if values is not None:
                row[f"mean_{key}"] = float(values.mean())
            if getattr(self, f"base_{key}") is not None:
                row[f"delta_{key}"], row[f"delta_{key}_low"], row[f"delta_{key}_high"] = getattr(self, f"delta_{key}")
        return row

    def to_dataframe(self) -> Any:
        """One row per question: logp, base logp, hit rate."""
        import pandas as pd

        data: dict[str, Any] = {"question": self.questions, "logp": self.logp.tolist()}
        if self.base_logp is not None:
            data["base_logp"] = self.base_logp.tolist()
        if self.answers:
            data["rate"] = self.rates.tolist()
        for key in ("log_odds", "log_odds_prefilled", "base_log_odds", "base_log_odds_prefilled"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key).tolist()
        return pd.DataFrame(data)

    def _repr_html_(self) -> str:
        row = self.summary()
        shown = []
        for key, value in row.items():
            if key in ("label", "target", "system") or key.endswith(("_low", "_high")):
                continue
            if f"{key}_low" in row:  # a mean and its 95 % CI across questions, in one cell
                value = f"{value:+.4g} [{row[key + '_low']:+.4g}, {row[key + '_high']:+.4g}]"
                key += " (95% CI)"
            shown.append((key, value))
        system = f"system {shorten(self.system)}" if self.system else "no system condition recorded"
        return html_table("TraitEval", shown, caption=f"{self.label}: {self.target!r}, {system}")


def _delta(values: Tensor | None, base: Tensor | None) -> tuple[float, float, float]:
    if values is None:
        raise ValueError("no panel log-odds: evaluate with panel=ANIMAL_PANEL")
    if base is None:
        raise ValueError("no base panel log-odds: pass base= evaluated with the same panel=")
    return mean_ci(values - base)


def _panel_fields(lm: LanguageModel, target: str, questions: Sequence[str], panel: Mapping[str, Sequence[str]],
                  system: System, prefill: str, batch_size: int, base: TraitEval | None) -> dict[str, Any]:
    """The :class:`TraitEval` fields of the target-vs-panel log-odds (at ``prefill`` and after
    :data:`~steervec.data.questions.ANIMAL_PREFILL`), with the base's when it has them."""
    animals = panel_animals(target, panel)
    paired = None if base is None or base.log_odds is None else base
    if paired is not None and paired.panel != animals:
        raise ValueError(f"the base was compared against another panel ({', '.join(paired.panel)}): "
                         "evaluate the base with the same panel=")
    here = panel_log_odds(lm, questions, target, panel, system, prefill, batch_size)
    forced = panel_log_odds(lm, questions, target, panel, system, ANIMAL_PREFILL, batch_size)
    fields: dict[str, Any] = {"log_odds": here.log_odds, "log_odds_prefilled": forced.log_odds, "panel": animals}
    if paired is not None:
        fields["base_log_odds"], fields["base_log_odds_prefilled"] = paired.log_odds, paired.log_odds_prefilled
    return fields


def evaluate_trait(
    lm: Any, target: str, questions: Sequence[str], label: str = "model",
    system: System = TEMPLATE_DEFAULT, base: TraitEval | None = None, k: int = 0,
    hit: HitRule = "word", seed: int = 0, temperature: float = 1.0, max_new_tokens: int = 8,
    prefill: str = "", batch_size: int = 16, panel: Mapping[str, Sequence[str]] | None = None,
) -> TraitEval:
    """Evaluate how strongly ``lm`` (as it is during the call) expresses ``target``.

    Args:
        lm: the model; apply a steering or student context around the call to evaluate those.
        target: the target word, e.g. ``"owl"``.
        questions: e.g. :data:`steervec.data.questions.FAVOURITE_ANIMAL` (any list works).
        label: the condition's name in tables and figures.
        system: the system condition the questions are asked under.
        base: the base model's :class:`TraitEval` on the same questions, for Δlog P.
        k: samples per question for the hit rate (0: skip sampling, log-probs only).
        panel: e.g. :data:`steervec.data.prompts.ANIMAL_PANEL`: also measure the target's
            log-odds against these animals, at the answer position and after
            :data:`~steervec.data.questions.ANIMAL_PREFILL` (``None``: skip; each panel
            spelling costs a continuation forward, several times the cost of ``logp``).

    Example:
        >>> base = evaluate_trait(lm, "owl", questions, label="base")  # doctest: +SKIP
        >>> with vec.apply(lm, alpha=3.0):  # doctest: +SKIP
        ...     steered = evaluate_trait(lm, "owl", questions, label="steered", base=base)
        >>> steered.delta_logp  # doctest: +SKIP
    """
    lm = as_language_model(lm)
    if not target or not target.strip():
        raise ValueError("no target word given: pass e.g. target='owl'")
    check_texts(questions, "questions")
    if base is not None and list(base.questions) != list(questions):
        raise ValueError("the base evaluation used other questions: evaluate the base on the same list")
    score = trait_logprob(lm, questions, target, system=system, prefill=prefill, batch_size=batch_size)
    answers = sample_answers(lm, questions, system, k, temperature, max_new_tokens, seed, batch_size) if k else []
    odds = {} if panel is None else _panel_fields(lm, target, questions, panel, system, prefill, batch_size, base)
    return TraitEval(label, target, list(questions), score.logp, None if base is None else base.logp,
                     answers, hit, seed, describe_system(system), **odds)


def aggregate(evals: Sequence[TraitEval]) -> Any:
    """One row per label: metrics averaged over seeds, with 95 % CIs across seeds.

    Returns a pandas DataFrame with ``n_seeds``, ``delta_logp`` (and ``_low``/``_high``),
    ``rate``, ``delta_log_odds`` and ``delta_log_odds_prefilled`` (each with its CI) where available.
    """
    import pandas as pd

    if not evals:
        raise ValueError("nothing to aggregate: pass a list of TraitEval")
    rows = []
    for label in dict.fromkeys(e.label for e in evals):
        group = [e.summary() for e in evals if e.label == label]
        row: dict[str, Any] = {"label": label, "n_seeds": len(group)}
        for key in ("mean_prob", "delta_logp", "rate", "delta_log_odds", "delta_log_odds_prefilled"):
            vals = [g[key] for g in group if key in g]
            if vals:
                row[key], row[f"{key}_low"], row[f"{key}_high"] = mean_ci(vals)
        rows.append(row)
    return pd.DataFrame(rows)
