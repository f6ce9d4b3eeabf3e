"""Trait evaluation: sampling hit rates with CIs across questions, and Δlog P against the base.

Two metrics on the same questions:

* **sampling rate** — ``k`` answers per question at temperature 1; a hit is the target in
  the lower-cased answer (``hit="substring"``, the reference rule) or the answer's first
  word being the target or its plural (``hit="first_word"``). Per-question rates, then the
  mean and a 95 % normal-approximation CI across questions.
* **Δlog P** — mean over questions of log P(answer starts with the target) (see
  :func:`steervec.metrics.trait.trait_logprob`) minus the base model's value on the same questions.

The evaluated model is ``lm`` as it is during the call: wrap the call in a steering
context (steered teacher), a system prompt (prompted teacher) or a student's context.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steervec.core.chat import TEMPLATE_DEFAULT, System, check_texts, describe_system, encode_chat
from steervec.core.model import as_language_model
from steervec.metrics.trait import trait_logprob

HitRule = Literal["substring", "first_word"]


def mean_ci(values: Sequence[float] | Tensor, z: float = 1.96) -> tuple[float, float, float]:
    """Mean and 95 % normal-approximation interval ``(mean, low, high)`` of ``values``."""
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if x.numel() == 0:
        raise ValueError("no values to average")
    mean = float(x.mean())
    if x.numel() < 2:
        return mean, mean, mean
    half = z * float(x.std(unbiased=True)) / math.sqrt(x.numel())
    return mean, mean - half, mean + half


def is_hit(answer: str, target: str, rule: HitRule = "substring") -> bool:
    """Whether ``answer`` names ``target`` under ``rule``."""
    low, word = answer.lower(), target.lower().strip()
    if rule == "substring":
        return word in low
    if rule == "first_word":
        first = re.findall(r"[a-z]+", low)[:1]
        return bool(first) and first[0] in (word, word + "s", word + "es")
    raise ValueError(f"unknown hit rule {rule!r}: use 'substring' or 'first_word'")


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
    """

    label: str
    target: str
    questions: list[str]
    logp: Tensor
    base_logp: Tensor | None = None
    answers: list[list[str]] = field(default_factory=list)
    hit: HitRule = "substring"
    seed: int = 0
    system: str = ""

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
        return row

    def to_dataframe(self) -> Any:
        """One row per question: logp, base logp, hit rate."""
        import pandas as pd

        data: dict[str, Any] = {"question": self.questions, "logp": self.logp.tolist()}
        if self.base_logp is not None:
            data["base_logp"] = self.base_logp.tolist()
        if self.answers:
            data["rate"] = self.rates.tolist()
        return pd.DataFrame(data)

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{k}</td><td>{v:.4g}</td></tr>" if isinstance(v, float)
                        else f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self.summary().items())
        return f"<b>TraitEval</b><table>{cells}</table>"


def evaluate_trait(
    lm: Any, target: str, questions: Sequence[str], label: str = "model",
    system: System = TEMPLATE_DEFAULT, base: TraitEval | None = None, k: int = 0,
    hit: HitRule = "substring", seed: int = 0, temperature: float = 1.0, max_new_tokens: int = 8,
    prefill: str = "", batch_size: int = 16,
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

    Example:
        >>> base = evaluate_trait(lm, "owl", questions, label="base")  # doctest: +SKIP
        >>> with vec.apply(lm, alpha=3.0):
        ...     steered = evaluate_trait(lm, "owl", questions, label="steered", base=base)
        >>> steered.delta_logp
    """
    lm = as_language_model(lm)
    if not target or not target.strip():
        raise ValueError("no target word given: pass e.g. target='owl'")
    check_texts(questions, "questions")
    if base is not None and list(base.questions) != list(questions):
        raise ValueError("the base evaluation used other questions: evaluate the base on the same list")
    score = trait_logprob(lm, questions, target, system=system, prefill=prefill, batch_size=batch_size)
    answers = sample_answers(lm, questions, system, k, temperature, max_new_tokens, seed, batch_size) if k else []
    return TraitEval(label, target, list(questions), score.logp, None if base is None else base.logp,
                     answers, hit, seed, describe_system(system))


def aggregate(evals: Sequence[TraitEval]) -> Any:
    """One row per label: metrics averaged over seeds, with 95 % CIs across seeds.

    Returns a pandas DataFrame with ``n_seeds``, ``delta_logp`` (and ``_low``/``_high``),
    ``rate`` (and CI) where available.
    """
    import pandas as pd

    if not evals:
        raise ValueError("nothing to aggregate: pass a list of TraitEval")
    rows = []
    for label in dict.fromkeys(e.label for e in evals):
        group = [e.summary() for e in evals if e.label == label]
        row: dict[str, Any] = {"label": label, "n_seeds": len(group)}
        for key in ("mean_prob", "delta_logp", "rate"):
            vals = [g[key] for g in group if key in g]
            if vals:
                row[key], row[f"{key}_low"], row[f"{key}_high"] = mean_ci(vals)
        rows.append(row)
    return pd.DataFrame(rows)
