"""The trait metric: probability that an answer starts with the target word.

``log P(target)`` at the answer start is summed over the word's spellings ("owl", "Owl",
"OWL", "owls", with and without a leading space) and over the token sequences that spell
them (SmolLM2 writes "Owl" as "O" + "wl"). The token sequences are reduced to a
prefix-free set, so every counted event is distinct and their probabilities add up.
One function serves the fit sweeps, the steered-teacher checks and the student
evaluation, so all of them measure the same thing.

:func:`panel_log_odds` is the *specific* measure: the target against a fixed panel of other
animals (:data:`steervec.data.prompts.ANIMAL_PANEL`), so that a model that names any
animal more often — or answers with an animal name more readily — does not count as
preferring the target.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor

from steervec.core.chat import TEMPLATE_DEFAULT, System, check_texts, render_chat
from steervec.core.model import LanguageModel, as_language_model
from steervec.core.positions import mask_position_ids
from steervec.data.prompts import ANIMAL_PANEL


def spellings(word: str) -> list[str]:
    """Surface forms of ``word`` at the start of an answer."""
    base = word.strip()
    forms = {base, base.lower(), base.capitalize(), base.upper()}
    plurals = {f + ("S" if f.isupper() else "s") for f in forms}
    out = forms | plurals
    return sorted(out | {" " + f for f in out})


def target_sequences(tokenizer: Any, words: Sequence[str]) -> list[tuple[int, ...]]:
    """Prefix-free token sequences that spell any of ``words`` (see :func:`spellings`)."""
    return form_sequences(tokenizer, [form for word in words for form in spellings(word)])


def form_sequences(tokenizer: Any, forms: Sequence[str]) -> list[tuple[int, ...]]:
    """Prefix-free token sequences of the surface ``forms`` (a sequence that extends a kept one is
    dropped: its probability is already inside the shorter one's)."""
    seqs = set()
    for form in forms:
        ids = tuple(tokenizer(form, add_special_tokens=False)["input_ids"])
        if ids:
            seqs.add(ids)
    ordered = sorted(seqs, key=len)
    kept: list[tuple[int, ...]] = []
    for seq in ordered:
        if not any(seq[: len(k)] == k for k in kept):
            kept.append(seq)
    return kept


@dataclass
class TraitScore:
    """Per-question log-probability that the answer starts with the target.

    Attributes:
        logp: ``[n_questions]`` natural-log probabilities.
        target: the target word(s).
    """

    logp: Tensor
    target: tuple[str, ...]

    @property
    def mean_logp(self) -> float:
        return float(self.logp.mean())

    @property
    def mean_prob(self) -> float:
        return float(self.logp.exp().mean())

    def __repr__(self) -> str:
        return f"TraitScore({'/'.join(self.target)}: mean P={self.mean_prob:.4g}, mean log P={self.mean_logp:.3f})"


@torch.no_grad()
def trait_logprob(
    lm: Any,
    questions: Sequence[str],
    target: str | Sequence[str],
    system: System = TEMPLATE_DEFAULT,
    prefill: str = "",
    batch_size: int = 32,
) -> TraitScore:
    """log P(answer starts with ``target``) for each question, under ``lm`` as it is now.

    Interventions active around the call (a steered teacher) and adapters (a student)
    are included. With ``prefill`` the answer is started for the model (e.g.
    ``"My favourite animal is the"``) and the target is scored after it.

    Example:
        >>> trait_logprob(lm, ["Name your favourite animal in one word."], "owl", system="You love owls.")  # doctest: +SKIP
    """
    lm = as_language_model(lm)
    check_texts(questions, "questions")
    words = (target,) if isinstance(target, str) else tuple(target)
    if not words or not all(w.strip() for w in words):
        raise ValueError("no target word given: pass e.g. target='owl'")
    targets = target_sequences(lm.tokenizer, words)
    return TraitScore(sequence_logprobs(lm, questions, [targets], system, prefill, batch_size)[0], words)


@torch.no_grad()
def sequence_logprobs(
    lm: LanguageModel, questions: Sequence[str], groups: Sequence[Sequence[tuple[int, ...]]],
    system: System = TEMPLATE_DEFAULT, prefill: str = "", batch_size: int = 32,
) -> list[Tensor]:
    """Per group, log P(the answer starts with one of the group's token sequences), per question.

    Each group must be prefix-free (:func:`form_sequences`) so its sequences are distinct
    events. All groups share one forward per batch and one continuation per token prefix.

    Returns:
        one ``[n_questions]`` tensor (natural log) per group.
    """
    if any(not group for group in groups):
        raise ValueError("a group of token sequences is empty: every word must tokenise to something")
    tok = lm.tokenizer
    prefixes = sorted({s[:k] for group in groups for s in group for k in range(1, len(s))}, key=len)
    out: list[list[Tensor]] = [[] for _ in groups]
    for start in range(0, len(questions), batch_size):
        texts = [render_chat(lm, q, system) + prefill for q in questions[start : start + batch_size]]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
        res = lm.model(**enc, position_ids=mask_position_ids(enc["attention_mask"]), use_cache=bool(prefixes))
        first = torch.log_softmax(res.logits[:, -1].float(), dim=-1)
        after: dict[tuple[int, ...], Tensor] = {(): first}
        for prefix in prefixes:
            ids = torch.tensor(prefix, device=lm.device).expand(len(texts), -1)
            mask = torch.cat([enc["attention_mask"], torch.ones_like(ids)], dim=1)
            cont = lm.model(input_ids=ids, attention_mask=mask, position_ids=mask_position_ids(mask, ids.shape[1]),
                            cache=copy.deepcopy(res.cache))
            after[prefix] = torch.log_softmax(cont.logits[:, -1].float(), dim=-1)
        for group, acc in zip(groups, out, strict=True):
            per_seq = [sum(after[seq[:k]][:, tok_id] for k, tok_id in enumerate(seq)) for seq in group]
            acc.append(torch.logsumexp(torch.stack(cast(list[Tensor], per_seq)), dim=0).cpu())
    return [torch.cat(acc) for acc in out]


def panel_forms(variants: Sequence[str]) -> list[str]:
    """Surface forms of an animal's ``variants`` (singular, plural): lower-case and Capitalised,
    each with and without a leading space. All-capitals forms are left out: the model hardly
    writes them, and each costs extra continuations."""
    return [space + form for v in variants for form in (v.lower(), v.capitalize()) for space in ("", " ")]


@dataclass
class PanelScore:
    """Per-question log-odds of the target against a panel of other animals.

    Attributes:
        log_odds: ``[n_questions]`` ``target_logp − panel_logp`` (nats).
        target_logp: ``[n_questions]`` log P(answer starts with a spelling of the target).
        panel_logp: ``[n_questions]`` log Σ over the panel of P(answer starts with that animal).
        target: the target word.
        panel: the panel animals compared against (the target itself left out).
    """

    log_odds: Tensor
    target_logp: Tensor
    panel_logp: Tensor
    target: str
    panel: tuple[str, ...]


def _overlaps(seq: tuple[int, ...], others: Sequence[tuple[int, ...]]) -> bool:
    return any(seq[: len(o)] == o or o[: len(seq)] == seq for o in others)


def panel_animals(target: str, panel: Mapping[str, Sequence[str]] = ANIMAL_PANEL) -> tuple[str, ...]:
    """The animals of ``panel`` that ``target`` is compared against: all but the target itself."""
    key = target.strip().lower()
    if not key:
        raise ValueError("no target word given: pass e.g. target='owl'")
    others = tuple(a for a in panel if a.strip().lower() != key)
    if not others:
        raise ValueError("the panel holds no animal besides the target: pass a panel of other animals")
    return others


def panel_log_odds(
    lm: LanguageModel, questions: Sequence[str], target: str,
    panel: Mapping[str, Sequence[str]] = ANIMAL_PANEL, system: System = TEMPLATE_DEFAULT,
    prefill: str = "", batch_size: int = 32,
) -> PanelScore:
    """log P(target) − log Σ_panel P(animal) at the answer position, per question.

    Both sides are sums over token sequences (:func:`panel_forms` of each animal's variants;
    the target's variants are its panel entry, else the word and its ``+s`` plural). The panel
    side is the **sum**, not the mean, over animals: then the measure is exactly the log-odds of
    naming the target rather than a panel animal, given that the answer names one of them.
    Any change that multiplies every animal's probability by the same factor (more
    animal-like answers, a general shift towards animal words) cancels. The mean would only
    subtract ``log(len(panel))``, a constant that no Δ against a base sees.

    Args:
        lm: the model, as it is during the call (steering, adapters…).
        questions: the questions asked.
        target: the target word (left out of the panel if it is in it).
        panel: ``{animal: (singular, plural…)}``; panel sequences that are a prefix of a target
            sequence or extend one are dropped, so no event is counted on both sides.
        system: the chat condition.
        prefill: an optional start of the answer (e.g.
            :data:`steervec.data.questions.ANIMAL_PREFILL`).

    Example:
        >>> score = panel_log_odds(lm, ["Which animal do you like best?"], "owl")  # doctest: +SKIP
        >>> score.log_odds  # doctest: +SKIP
    """
    lm = as_language_model(lm)
    if not questions:
        raise ValueError("no questions given: pass at least one question")
    others = panel_animals(target, panel)
    key = target.strip().lower()
    tok = lm.tokenizer
    target_seqs = form_sequences(tok, panel_forms(panel.get(key, (key, key + "s"))))
    panel_seqs = [s for s in form_sequences(tok, [f for a in others for f in panel_forms(panel[a])])
                  if not _overlaps(s, target_seqs)]
    if not panel_seqs:
        raise ValueError(f"every panel spelling overlaps with {target!r}'s tokens: choose other panel animals")
    target_logp, panel_logp = sequence_logprobs(lm, questions, [target_seqs, panel_seqs], system, prefill, batch_size)
    return PanelScore(target_logp - panel_logp, target_logp, panel_logp, target, others)
