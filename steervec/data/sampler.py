"""A fast batched sampler: steervec's own decode loop over a KV cache.

Every forward is ``lm.model(input_ids=..., attention_mask=..., position_ids=...,
cache=cache, use_cache=True)``, so steervec's intervention hooks see the cache length
and the padding of each call exactly as under ``generate``. Levers (all in
:class:`SamplingParams`, each measured by ``bench/generate.py``):

* ``share_prefix``: the tokens every row of a batch starts with (template header,
  system prompt) are computed once with batch 1 and the cache is repeated. Position
  keywords (``"prompt"``, ``"last_prompt"``, ...) of active interventions resolve against
  the whole padded prompt, as without sharing; an intervention whose positions are a bool
  mask or a list of ints (columns of the left-padded batch) turns sharing off, since the
  shared layout has no such columns;
* ``drop_finished``: rows that emitted end-of-sequence leave the batch (and the cache)
  once at least a quarter of the batch has finished (each removal copies the cache);
* ``bucket``: prompts are sorted by length before batching, so little padding is computed;
* ``inplace_cache``: the KV cache grows in preallocated buffers, not by concatenation;
* the model's dtype: a ``bfloat16`` model runs as is — only faster on CPUs with native
  bfloat16 matmuls (on the AMD EPYC of this project's machines it was ~7x *slower*
  than float32, so the default stays float32).

Randomness is per row: row ``i`` draws its uniforms from a ``torch.Generator`` seeded
by ``(seed, row_ids[i])`` and samples by inverse CDF, so a row's completion does not
depend on which rows share its batch. With ``temperature=0`` decoding is greedy and,
in float32, equals plain ``generate``.

Example:
    >>> params = SamplingParams(temperature=1.0, max_new_tokens=48, batch_size=64)  # doctest: +SKIP
    >>> out = sample(lm, ["Name three numbers."], system=None, params=params, seed=0)  # doctest: +SKIP
    >>> out[0].text  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from steervec.core.chat import TEMPLATE_DEFAULT, Prompt, System, check_texts, render_chat
from steervec.core.errors import InputError
from steervec.core.hooks import needs_padded_layout, prompt_layout
from steervec.core.model import LanguageModel
from steervec.core.positions import mask_position_ids
from steervec.data.constrained import NumberListConstraint
from steervec.data.kv_cache import reserved_cache


@dataclass(frozen=True)
class SamplingParams:
    """How to sample.

    Args:
        temperature: softmax temperature; ``0`` means greedy.
        top_p: nucleus threshold (``1.0``: off).
        top_k: keep the ``k`` most likely tokens (``0``: off).
        max_new_tokens: the most tokens generated per row.
        batch_size: rows per forward.
        share_prefix: compute the batch's common token prefix once.
        drop_finished: remove finished rows from the batch (in groups: once a quarter
            of the rows still in the batch have finished).
        bucket: sort prompts by length before batching.
        inplace_cache: keep the KV cache in buffers that grow in place
            (:mod:`steervec.data.kv_cache`) instead of concatenating at every step.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 64
    batch_size: int = 64
    share_prefix: bool = True
    drop_finished: bool = True
    bucket: bool = True
    inplace_cache: bool = True

    def __post_init__(self) -> None:
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise InputError(
                f"temperature must be a finite number >= 0 (0 = greedy), got {self.temperature}: pass e.g. 1.0"
            )
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise InputError(f"top_p must be a finite number in (0, 1], got {self.top_p}: pass 1.0 for off")
        if self.top_k < 0 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("top_k must be >= 0, max_new_tokens and batch_size >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sample:
    """One generated completion.

    Attributes:
        text: decoded new tokens (the prefill, if any, in front).
        token_ids: the new token ids, end-of-sequence excluded.
        stopped: the row ended with end-of-sequence (else it hit ``max_new_tokens``).
        allowed_mass: constrained mode only: mean teacher probability on allowed tokens.
        prefill: text put at the start of the answer before sampling.
    """

    text: str
    token_ids: list[int]
    stopped: bool
    allowed_mass: float | None = None
    prefill: str = ""


def row_seed(seed: int, row_id: int) -> int:
    """The seed of row ``row_id`` in a run seeded with ``seed`` (stable across machines)."""
    digest = hashlib.sha256(f"steervec-row:{seed}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def eos_ids(lm: LanguageModel) -> list[int]:
    """End-of-sequence ids: the tokenizer's and the generation config's."""
    ids = {lm.tokenizer.eos_token_id}
    cfg = getattr(lm.model, "generation_config", None)
    extra = getattr(cfg, "eos_token_id", None)
    ids.update(extra if isinstance(extra, (list, tuple)) else [extra])
    return sorted(i for i in ids if i is not None)


def choose_tokens(logits: Tensor, params: SamplingParams, uniforms: Tensor) -> Tensor:
    """Pick one token per row.

    Args:
        logits: ``[batch, vocab]`` (already masked by any constraint).
        params: temperature / top-p / top-k.
        uniforms: ``[batch]`` in [0, 1), one per row (inverse-CDF sampling).

    Returns:
        ``[batch]`` token ids.
    """
    if params.temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / params.temperature
    if params.top_k > 0 and params.top_k < logits.shape[-1]:
        kth = logits.topk(params.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        before = sorted_p.cumsum(-1) - sorted_p
        sorted_p = sorted_p.masked_fill(before >= params.top_p, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    cdf = probs.double().cumsum(-1)  # [batch, vocab]
    target = uniforms.double().to(cdf.device) * cdf[:, -1]
    picked = torch.searchsorted(cdf, target.unsqueeze(-1), right=True).squeeze(-1)
    return picked.clamp(max=logits.shape[-1] - 1)


def _common_prefix(rows: Sequence[list[int]]) -> int:
    first = rows[0]
    n = min(len(r) for r in rows) - 1  # every row keeps at least one token of its own
    k = 0
    while k < n and all(r[k] == first[k] for r in rows):
        k += 1
    return k


def _left_pad(rows: Sequence[list[int]], pad: int, device: torch.device) -> tuple[Tensor, Tensor]:
    seq = max(len(r) for r in rows)
    ids = torch.full((len(rows), seq), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), seq), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, seq - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, seq - len(r) :] = 1
    return ids.to(device), mask.to(device)


def _forward(lm: LanguageModel, ids: Tensor, mask: Tensor, positions: Tensor, cache: Any) -> Tensor:
    out = lm.model(
        input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache,
        use_cache=True, logits_to_keep=1,
    )
    return out.logits[:, -1]


def _prefill(
    lm: LanguageModel, rows: Sequence[list[int]], share_prefix: bool, cache: Any
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the prompts into ``cache``: ``(last logits [batch, vocab], mask [batch, cached],
    next position id [batch])``.

    With ``share_prefix`` the common prefix runs once at batch 1 (cache layout: prefix, then
    each row's left-padded rest); the whole is declared as one prompt of the padded length
    (:func:`~steervec.core.hooks.prompt_layout`), so position specs resolve as without sharing.
    """
    n, device = len(rows), lm.device
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    share = share_prefix and n > 1 and not needs_padded_layout(lm)
    start = _common_prefix(rows) if share else 0
    ids, mask = _left_pad([r[start:] for r in rows], pad, device)
    mask = torch.cat([torch.ones(n, start, dtype=mask.dtype, device=device), mask], dim=1)
    positions = mask_position_ids(mask)  # [batch, start + rest]
    with prompt_layout(lm, mask.shape[1]):
        if start > 0:
            _forward(lm, ids.new_tensor([rows[0][:start]]), mask[:1, :start], positions[:1, :start], cache)
            cache.batch_repeat_interleave(n)
        logits = _forward(lm, ids, mask, positions[:, start:], cache)
    return logits, mask, positions[:, -1] + 1


@torch.inference_mode()
def sample_batch(
    lm: LanguageModel,
    rows: Sequence[list[int]],
    params: SamplingParams,
    seeds: Sequence[int],
    constraint: NumberListConstraint | None = None,
    separators: Sequence[str] | None = None,
) -> list[Sample]:
    """Decode one batch of tokenized prompts.

    Args:
        lm: a :class:`~steervec.core.model.LanguageModel`.
        rows: token ids of each rendered prompt (no padding).
        params: sampling parameters (``batch_size`` is ignored here).
        seeds: one seed per row (see :func:`row_seed`).
        constraint: optional :class:`NumberListConstraint`.
        separators: the separator of each row for the constraint (``", "`` by default).
    """
    from transformers import DynamicCache

    n, device = len(rows), lm.device
    if n == 0:
        return []
    stops = torch.tensor(eos_ids(lm), device=device)
    uniforms = torch.stack(
        [torch.rand(params.max_new_tokens, generator=torch.Generator().manual_seed(s)) for s in seeds]
    ).to(device)  # [batch, max_new_tokens]
    if constraint is not None:
        constraint.begin(list(separators) if separators is not None else [", "] * n)
    cache = reserved_cache(params.max_new_tokens + 1) if params.inplace_cache else DynamicCache()
    logits, mask, next_pos = _prefill(lm, rows, params.share_prefix, cache)
    active = torch.arange(n, device=device)  # original row of each batch row
    new_tokens: list[list[int]] = [[] for _ in range(n)]
    stopped = [False] * n
    masses: list[float | None] = [None] * n
    frozen = torch.zeros(n, dtype=torch.bool, device=device)  # finished, kept in the batch
    for step in range(params.max_new_tokens):
        remaining = params.max_new_tokens - step
        if constraint is not None:
            logits = constraint.process(logits, remaining)
        tokens = choose_tokens(logits, params, uniforms[:, step])
        if constraint is not None:
            constraint.advance(tokens)
        is_stop = torch.isin(tokens, stops)
        done = (is_stop | (remaining == 1)) & ~frozen
        mass_now = constraint.allowed_mass() if constraint is not None and bool(done.any()) else None
        for j in (~frozen).nonzero().flatten().tolist():
            row = int(active[j])
            if bool(is_stop[j]):
                stopped[row] = True
            else:
                new_tokens[row].append(int(tokens[j]))
            if bool(done[j]) and mass_now is not None:
                masses[row] = mass_now[j]
        frozen = frozen | done
        if bool(frozen.all()):
            break
        if params.drop_finished and 4 * int(frozen.sum()) >= len(frozen):
            keep = (~frozen).nonzero().flatten()
            cache.batch_select_indices(keep)
            mask, next_pos, uniforms, tokens = mask[keep], next_pos[keep], uniforms[keep], tokens[keep]
            active, frozen = active[keep], frozen[keep]
            if constraint is not None:
                constraint.keep(keep)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        logits = _forward(lm, tokens[:, None], mask, next_pos[:, None], cache)
        next_pos = next_pos + 1
    tok = lm.tokenizer
    return [
        Sample(
            tok.decode(new_tokens[i], skip_special_tokens=True, clean_up_tokenization_spaces=False),
            new_tokens[i], stopped[i], masses[i],
        )
        for i in range(n)
    ]


def sample(
    lm: LanguageModel,
    prompts: Sequence[Prompt],
    *,
    system: System = TEMPLATE_DEFAULT,
    params: SamplingParams | None = None,
    seed: int = 0,
    row_ids: Sequence[int] | None = None,
    constraint: NumberListConstraint | None = None,
    separators: Sequence[str] | None = None,
    prefill: str | Sequence[str] | None = None,
    progress: bool = False,
) -> list[Sample]:
    """Sample one completion per prompt, in batches; results come back in prompt order.

    Args:
        lm: a :class:`~steervec.core.model.LanguageModel` (apply a teacher's interventions
            around this call, e.g. ``with teacher.context(lm):``).
        prompts: user messages (or message lists).
        system: system condition for every row (see :func:`steervec.core.chat.render_chat`).
        params: :class:`SamplingParams`.
        seed: run seed; row ``i`` uses :func:`row_seed` ``(seed, row_ids[i])``.
        row_ids: stable ids of the rows (default ``0..n-1``).
        constraint: a :class:`NumberListConstraint` for format-constrained sampling.
        separators: per-row separators for the constraint.
        prefill: text that starts the answer (one for all rows, or one per row).
        progress: show a tqdm bar over batches.

    Example:
        >>> out = sample(lm, ["Count to three."], system=None, seed=1)  # doctest: +SKIP
    """
    params = params or SamplingParams()
    check_texts(prompts, "prompts")
    n = len(prompts)
    row_ids = list(range(n)) if row_ids is None else list(row_ids)
    if len(row_ids) != n:
        raise ValueError(f"{n} prompts but {len(row_ids)} row_ids: pass one id per prompt")
    if constraint is not None and prefill:
        raise ValueError("constrained sampling and prefill are separate modes: use one of them")
    fills = [prefill or ""] * n if prefill is None or isinstance(prefill, str) else list(prefill)
    if len(fills) != n:
        raise ValueError(f"{n} prompts but {len(fills)} prefills: pass one string or one per prompt")
    seps = list(separators) if separators is not None else [", "] * n
    tok = lm.tokenizer
    encoded = [
        tok(render_chat(lm, p, system) + fills[i], add_special_tokens=False)["input_ids"]
        for i, p in enumerate(prompts)
    ]
    order = sorted(range(n), key=lambda i: len(encoded[i])) if params.bucket else list(range(n))
    results: list[Sample | None] = [None] * n
    bs = params.batch_size
    for b in tqdm(range(0, n, bs), desc="sampling", disable=not progress, unit="batch"):
        idx = order[b : b + bs]
        out = sample_batch(
            lm, [encoded[i] for i in idx], params, [row_seed(seed, row_ids[i]) for i in idx],
            constraint, [seps[i] for i in idx],
        )
        for i, s in zip(idx, out, strict=True):
            s.prefill = fills[i]
            s.text = fills[i] + s.text
            results[i] = s
    return [r for r in results if r is not None]
