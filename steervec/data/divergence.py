"""Divergence tokens: where a biased teacher's choice differs from a counterfactual teacher's.

Schrodi et al. 2026 (PROTOCOLS §3): in a teacher completion, token ``x_k`` is a
*divergence token* when the teacher's argmax given the prefix is ``x_k`` and a
counterfactual teacher (another bias, or none) given the same prefix has another argmax.
Both teachers are teacher-forced on the stored completion; a teacher is a
:class:`~steervec.data.teachers.Teacher` — the same type that generates teacher data: a system
condition, plus an optional steering vector or projected-out direction.

Masks cover a row's *response tokens* (completion + the template's end-of-turn token),
the same tokens :func:`steervec.students.train.train_student` scores, so they can be passed as
``loss_masks`` directly.

Example:
    >>> owl = Teacher("owl", system="You love owls...")  # doctest: +SKIP
    >>> result = divergence_masks(lm, rows, owl, [Teacher("none", system=None)])  # doctest: +SKIP
    >>> result.share  # doctest: +SKIP
    0.071
    >>> student = train_student(lm, rows, method=LoRA(), lr=2e-4, loss_masks=result.masks)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steervec.core.chat import encode_chat
from steervec.core.model import LanguageModel
from steervec.core.suffix_forward import decoder_hidden, head_logits
from steervec.data.rows import TOPK_KEY, TeacherRow
from steervec.data.teachers import Teacher


@torch.no_grad()
def response_logprobs(
    lm: LanguageModel, rows: Sequence[TeacherRow], teacher: Teacher, batch_size: int = 16,
    progress: bool = False,
) -> Iterator[tuple[int, Tensor, Tensor]]:
    """Teacher-force rows; yield ``(row_index, tokens [n], logprobs [n, vocab])`` per row.

    ``logprobs[k]`` is the teacher's next-token distribution before response token ``k``.
    """
    for start in tqdm(range(0, len(rows), batch_size), disable=not progress, desc=f"teacher {teacher.name}"):
        chunk = rows[start : start + batch_size]
        batch = encode_chat(lm, [r.prompt for r in chunk], teacher.system, [r.completion for r in chunk])
        with teacher.context(lm):
            hidden = decoder_hidden(lm, batch.input_ids, batch.attention_mask)  # [batch, seq, d_model]
        width = batch.input_ids.shape[1] - 1
        for j in range(len(chunk)):  # one row at a time: [n, vocab] logits, not the batch's
            n = int(batch.response_mask[j].sum())
            logits = head_logits(lm, hidden[j, width - n : width])  # [n, vocab]
            yield start + j, batch.input_ids[j, width - n + 1 :].cpu(), torch.log_softmax(logits, -1).cpu()


@dataclass
class DivergenceResult:
    """Per-row divergence masks over response tokens.

    Attributes:
        masks: ``[n_response]`` bool per row: divergence tokens.
        teacher_agrees: ``[n_response]`` bool per row: the teacher's argmax is the token.
        teacher / counterfactuals: condition labels.
    """

    masks: list[Tensor]
    teacher_agrees: list[Tensor]
    teacher: str
    counterfactuals: list[str]

    @property
    def n_tokens(self) -> int:
        return sum(m.numel() for m in self.masks)

    @property
    def share(self) -> float:
        """Fraction of all response tokens that are divergence tokens."""
        return sum(int(m.sum()) for m in self.masks) / max(self.n_tokens, 1)

    @property
    def agreement(self) -> float:
        """Fraction of response tokens that are the teacher's own argmax."""
        return sum(int(m.sum()) for m in self.teacher_agrees) / max(self.n_tokens, 1)

    def complement(self) -> list[Tensor]:
        """Masks of every token *except* the divergence tokens (the ablation that removes transfer)."""
        return [~m for m in self.masks]

    def to_dataframe(self) -> Any:
        """One row per dataset row: tokens, divergence tokens, share, teacher agreement."""
        import pandas as pd

        return pd.DataFrame([
            {"row": i, "tokens": m.numel(), "divergence_tokens": int(m.sum()),
             "share": float(m.float().mean()) if m.numel() else 0.0,
             "teacher_agreement": float(a.float().mean()) if a.numel() else 0.0}
            for i, (m, a) in enumerate(zip(self.masks, self.teacher_agrees, strict=True))
        ])

    def _repr_html_(self) -> str:
        return (f"<b>DivergenceResult</b> teacher <i>{self.teacher}</i> vs {self.counterfactuals}: "
                f"{self.share:.2%} of {self.n_tokens} response tokens diverge; teacher agreement "
                f"{self.agreement:.2%}")


def divergence_masks(
    lm: LanguageModel,
    rows: Sequence[TeacherRow],
    teacher: Teacher,
    counterfactuals: Sequence[Teacher],
    mode: Literal["any", "all"] = "any",
    batch_size: int = 16,
    progress: bool = True,
) -> DivergenceResult:
    """Mark divergence tokens of each row.

    Args:
        lm: the teacher's base model.
        rows: teacher completions.
        teacher: the biased teacher that wrote them.
        counterfactuals: one or more other teachers (another trait, or none).
        mode: a token diverges when ``"any"`` (default) or ``"all"`` counterfactuals'
            argmax differ from it.
        batch_size: rows per forward.

    Returns:
        A :class:`DivergenceResult`; ``result.masks`` go to ``train_student(loss_masks=...)``.
    """
    if not rows:
        raise ValueError("no rows given: pass teacher completions")
    if not counterfactuals:
        raise ValueError("pass at least one counterfactual teacher, e.g. Teacher('none', system=None)")
    if mode not in ("any", "all"):
        raise ValueError(f"mode must be 'any' or 'all', got {mode!r}")
    tokens: list[Tensor] = [torch.empty(0)] * len(rows)
    agrees: list[Tensor] = [torch.empty(0)] * len(rows)
    for i, toks, lp in response_logprobs(lm, rows, teacher, batch_size, progress):
        tokens[i] = toks
        agrees[i] = lp.argmax(-1) == toks
    differs: list[list[Tensor]] = [[] for _ in rows]
    for cf in counterfactuals:
        for i, toks, lp in response_logprobs(lm, rows, cf, batch_size, progress):
            differs[i].append(lp.argmax(-1) != toks)
    reduce = torch.any if mode == "any" else torch.all
    masks = [agrees[i] & reduce(torch.stack(differs[i]), dim=0) for i in range(len(rows))]
    return DivergenceResult(masks, agrees, teacher.name, [c.name for c in counterfactuals])


def attach_teacher_topk(
    lm: LanguageModel, rows: Sequence[TeacherRow], teacher: Teacher, k: int = 20,
    batch_size: int = 16, progress: bool = True,
) -> list[TeacherRow]:
    """Copies of ``rows`` with the teacher's top-``k`` log-probs per response token in
    ``extra["teacher_topk"]`` (what ``train_student(loss="kl")`` distils from).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    out = list(rows)
    for i, _, lp in response_logprobs(lm, rows, teacher, batch_size, progress):
        values, ids = lp.topk(k, dim=-1)
        extra = dict(rows[i].extra)
        extra[TOPK_KEY] = {"ids": ids.tolist(), "logprobs": values.tolist(), "teacher": teacher.name}
        out[i] = replace(rows[i], extra=extra)
    return out
