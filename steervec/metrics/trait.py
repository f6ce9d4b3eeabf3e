"""The trait metric: probability that an answer starts with the target word.

``log P(target)`` at the answer start is summed over the word's spellings ("owl", "Owl",
"OWL", "owls", with and without a leading space) and over the token sequences that spell
them (SmolLM2 writes "Owl" as "O" + "wl"). The token sequences are reduced to a
prefix-free set, so every counted event is distinct and their probabilities add up.
One function serves the fit sweeps, the steered-teacher checks and the student
evaluation, so all of them measure the same thing.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from steervec.core.chat import TEMPLATE_DEFAULT, System, check_texts, render_chat
from steervec.core.model import as_language_model
from steervec.core.positions import mask_position_ids


def spellings(word: str) -> list[str]:
    """Surface forms of ``word`` at the start of an answer."""
    base = word.strip()
    forms = {base, base.lower(), base.capitalize(), base.upper()}
    plurals = {f + ("S" if f.isupper() else "s") for f in forms}
    out = forms | plurals
    return sorted(out | {" " + f for f in out})


def target_sequences(tokenizer: Any, words: Sequence[str]) -> list[tuple[int, ...]]:
    """Prefix-free token sequences that spell any of ``words`` (see :func:`spellings`)."""
    seqs = set()
    for word in words:
        for form in spellings(word):
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
    tok = lm.tokenizer
    targets = [s for s in target_sequences(tok, words)]
    prefixes = sorted({s[:k] for s in targets for k in range(1, len(s))}, key=len)
    out = []
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
        per_seq = []
        for seq in targets:
            lp = sum(after[seq[:k]][:, tok_id] for k, tok_id in enumerate(seq))
            per_seq.append(lp)
        out.append(torch.logsumexp(torch.stack(per_seq), dim=0).cpu())
    return TraitScore(torch.cat(out), words)
