"""Small teacher datasets for student tests (tiny models, no downloads)."""

from __future__ import annotations

import contextlib

import torch

from steervec.core.chat import encode_chat
from steervec.data.rows import TeacherRow


def number_rows(n: int = 24, seed: int = 0, model: dict | None = None) -> list[TeacherRow]:
    """Random number prompts and number completions."""
    g = torch.Generator().manual_seed(seed)

    def nums(k: int) -> str:
        return ", ".join(str(int(x)) for x in torch.randint(100, 999, (k,), generator=g))

    return [
        TeacherRow(prompt=f"Continue: {nums(4)}", completion=nums(3), index=i, model=dict(model or {}))
        for i in range(n)
    ]


def ascii_tokens_to_suppress(lm) -> list[int]:
    """Token ids that do not decode to one printable ASCII character (eos kept)."""
    bad = []
    for i in range(len(lm.tokenizer)):
        text = lm.tokenizer.decode([i])
        if not (len(text) == 1 and text.isascii() and text.isprintable()) and i != lm.tokenizer.eos_token_id:
            bad.append(i)
    return bad


def generated_rows(lm, n: int = 48, vector=None, system=None, seed: int = 0, max_new_tokens: int = 12,
                   greedy: bool = False) -> list[TeacherRow]:
    """Completions sampled from ``lm`` (optionally steered), restricted to printable ASCII so
    that text round-trips to the same tokens."""
    prompts = [f"numbers {i} {i * 7 % 13}" for i in range(n)]
    batch = encode_chat(lm, prompts, system=system)
    torch.manual_seed(seed)
    ctx = vector.apply(lm) if vector is not None else contextlib.nullcontext()
    with ctx, torch.no_grad():
        out = lm.generate(**batch.model_inputs(), max_new_tokens=max_new_tokens, do_sample=not greedy,
                          temperature=None if greedy else 1.0, top_k=None, top_p=None,
                          suppress_tokens=ascii_tokens_to_suppress(lm))
    texts = lm.tokenizer.batch_decode(out[:, batch.input_ids.shape[1]:], skip_special_tokens=True)
    return [TeacherRow(prompt=p, completion=t, index=i) for i, (p, t) in enumerate(zip(prompts, texts, strict=True))]
