"""Format-constrained decoding: only tokens that keep the answer a valid number list.

The allowed language is ``number (separator number)*`` with at most ``max_count``
numbers of 1..``max_digits`` digits, then end-of-sequence. A small automaton over
characters is compiled once per tokenizer into a table ``[n_states, n_candidates]``:
the candidates are the vocabulary tokens made only of digits and separator characters
(a token may hold several characters, e.g. ``", "`` or ``"12"``). At each decode step
every other token gets ``-inf``; the teacher's distribution is thus renormalised over
the valid continuations. :attr:`NumberListConstraint.allowed_mass` records, per row,
the mean probability (at temperature 1) the teacher put on the allowed tokens, so the
size of that renormalisation is visible.

Rows near ``max_new_tokens`` are never left half-way: a separator is only allowed when
there are enough steps left to write the next number, so every output passes the
strict filter (:mod:`steervec.data.number_filter`).

Example:
    >>> constraint = NumberListConstraint(lm.tokenizer, max_count=10, max_digits=3)  # doctest: +SKIP
    >>> out = sample(lm, prompts, SamplingParams(max_new_tokens=50), constraint=constraint)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from steervec.core.errors import InputError

_SPACE_MARKS = {"Ġ": " ", "▁": " "}


def token_texts(tokenizer: Any) -> list[str | None]:
    """Text of every vocabulary token, or ``None`` for special tokens.

    Byte-level (``Ġ``) and sentencepiece (``▁``) space marks are mapped to a space.
    """
    cached = getattr(tokenizer, "_steervec_token_texts", None)
    if cached is not None and len(cached) == len(tokenizer):
        return cached
    special = set(tokenizer.all_special_ids)
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    out: list[str | None] = []
    for i, piece in enumerate(pieces):
        if i in special or piece is None:
            out.append(None)
        else:
            out.append("".join(_SPACE_MARKS.get(c, c) for c in piece))
    tokenizer._steervec_token_texts = out
    return out


@dataclass(frozen=True)
class _Automaton:
    separator: str
    max_count: int
    max_digits: int

    def states(self) -> list[tuple[int, int, int]]:
        """(count, digits in current number, separator progress)."""
        n, d, sep = self.max_count, self.max_digits, len(self.separator)
        out = [(0, 0, 0)]
        out += [(c, k, 0) for c in range(1, n + 1) for k in range(1, d + 1)]
        out += [(c, 0, p) for c in range(1, n) for p in range(1, sep + 1)]
        return out

    def step(self, state: tuple[int, int, int], ch: str) -> tuple[int, int, int] | None:
        c, k, p = state
        sep = self.separator
        if ch.isdigit() and ch.isascii():
            if c == 0 and k == 0:
                return (1, 1, 0)
            if k >= 1 and k < self.max_digits:
                return (c, k + 1, 0)
            if p == len(sep):
                return (c + 1, 1, 0)
            return None
        if k >= 1 and c < self.max_count and sep[0] == ch:
            return (c, 0, 1)
        if 1 <= p < len(sep) and sep[p] == ch:
            return (c, 0, p + 1)
        return None

    def need(self, state: tuple[int, int, int]) -> int:
        """Fewest characters (an upper bound on tokens) before the list can end."""
        c, k, p = state
        if k >= 1:
            return 0
        if c == 0:
            return 1
        return len(self.separator) - p + 1


class NumberListConstraint:
    """Logits rule allowing only valid number lists; renormalises and records allowed mass.

    Args:
        tokenizer: the teacher's tokenizer.
        max_count: N, the most numbers in a list.
        max_digits: D, the most digits per number.
        separators: the separators rows may use (each row picks one in :meth:`begin`).
        eos_token_id: the token that ends a row (the tokenizer's EOS by default).

    Example:
        >>> c = NumberListConstraint(tok, 10, 3, separators=(", ",))  # doctest: +SKIP
        >>> c.begin([", "] * 4)  # then the sampler calls process / advance per step  # doctest: +SKIP
    """

    def __init__(
        self,
        tokenizer: Any,
        max_count: int = 10,
        max_digits: int = 3,
        separators: Sequence[str] = (", ", "; ", " "),
        eos_token_id: int | None = None,
    ) -> None:
        if max_count < 1 or max_digits < 1:
            raise ValueError(f"max_count and max_digits must be >= 1, got {max_count}, {max_digits}")
        seps = tuple(dict.fromkeys(separators))
        if not seps or any(not s or s.strip() not in ("", ",", ";") for s in seps):
            raise InputError(
                f"separators must be non-empty strings that are ',' or ';' or nothing once whitespace is "
                f"removed (the only separators the strict number filter accepts), got {separators!r}"
            )
        self.max_count, self.max_digits, self.separators = max_count, max_digits, seps
        self.eos_token_id = tokenizer.eos_token_id if eos_token_id is None else eos_token_id
        if self.eos_token_id is None:
            raise ValueError("the tokenizer has no eos_token_id: pass eos_token_id=...")
        texts = token_texts(tokenizer)
        chars = set("0123456789") | {ch for s in seps for ch in s}
        cand = [i for i, t in enumerate(texts) if t and all(ch in chars for ch in t)]
        self.vocab_size = len(texts)
        self.candidates = torch.tensor(cand, dtype=torch.long)
        self.position = torch.full((self.vocab_size,), -1, dtype=torch.long)
        self.position[self.candidates] = torch.arange(len(cand))
        self._build([texts[i] or "" for i in cand])
        self.states: Tensor = torch.zeros(0, dtype=torch.long)
        self._mass_sum: Tensor = torch.zeros(0)
        self._mass_steps: Tensor = torch.zeros(0)

    def _build(self, cand_texts: list[str]) -> None:
        table_rows: list[list[int]] = []
        need: list[int] = []
        accepting: list[bool] = []
        self.start: dict[str, int] = {}
        for sep in self.separators:
            auto = _Automaton(sep, self.max_count, self.max_digits)
            states = auto.states()
            offset = len(need)
            index = {s: offset + i for i, s in enumerate(states)}
            self.start[sep] = index[(0, 0, 0)]
            for state in states:
                row = []
                for text in cand_texts:
                    cur: tuple[int, int, int] | None = state
                    for ch in text:
                        cur = auto.step(cur, ch) if cur is not None else None
                    row.append(index[cur] if cur is not None else -1)
                table_rows.append(row)
                need.append(auto.need(state))
                accepting.append(state[1] >= 1)
        self.table = torch.tensor(table_rows, dtype=torch.long)  # [n_states, n_candidates]
        self.need = torch.tensor(need, dtype=torch.long)  # [n_states]
        self.accepting = torch.tensor(accepting, dtype=torch.bool)  # [n_states]

    # ---------------------------------------------------------------- per-batch state
    def begin(self, separators: Sequence[str]) -> None:
        """Start a batch: one separator per row (each must be in :attr:`separators`)."""
        unknown = sorted(set(separators) - set(self.start))
        if unknown:
            raise ValueError(
                f"separators {unknown} were not compiled: build the constraint with "
                f"separators={(*self.separators, *unknown)!r}"
            )
        self.states = torch.tensor([self.start[s] for s in separators], dtype=torch.long)
        self._mass_sum = torch.zeros(len(separators), dtype=torch.float64)
        self._mass_steps = torch.zeros(len(separators), dtype=torch.float64)

    def allowed(self, remaining: int) -> Tensor:
        """``[batch, vocab]`` bool: tokens allowed now with ``remaining`` steps (this one included)."""
        nxt = self.table[self.states]  # [batch, n_candidates]
        ok = nxt >= 0
        ok &= self.need[nxt.clamp(min=0)] <= remaining - 1
        mask = torch.zeros(len(self.states), self.vocab_size, dtype=torch.bool)
        mask[:, self.candidates] = ok
        mask[:, self.eos_token_id] = self.accepting[self.states]
        return mask

    def process(self, logits: Tensor, remaining: int) -> Tensor:
        """Mask ``logits [batch, vocab]`` to the allowed tokens and record the allowed mass."""
        mask = self.allowed(remaining).to(logits.device)
        if logits.shape[-1] > mask.shape[-1]:  # padded embedding rows are never allowed
            pad = torch.zeros(mask.shape[0], logits.shape[-1] - mask.shape[-1], dtype=torch.bool)
            mask = torch.cat([mask, pad.to(mask.device)], dim=-1)
        probs = torch.softmax(logits.float(), dim=-1)
        mass = (probs * mask).sum(-1).double().cpu()
        self._mass_sum += mass
        self._mass_steps += 1
        return logits.masked_fill(~mask, float("-inf"))

    def advance(self, tokens: Tensor) -> None:
        """Move every row's automaton past its sampled token ``tokens [batch]``."""
        tokens = tokens.cpu()
        is_eos = tokens == self.eos_token_id
        pos = self.position[tokens.clamp(max=self.vocab_size - 1)]
        bad = (~is_eos) & (pos < 0)
        if bool(bad.any()):
            raise RuntimeError(f"token {int(tokens[bad][0])} is outside the constraint")
        nxt = self.table[self.states, pos.clamp(min=0)]
        self.states = torch.where(is_eos, self.states, nxt)

    def keep(self, rows: Tensor) -> None:
        """Keep only ``rows`` (indices into the current batch) — finished rows dropped."""
        rows = rows.cpu()
        self.states = self.states[rows]
        self._mass_sum = self._mass_sum[rows]
        self._mass_steps = self._mass_steps[rows]

    def allowed_mass(self) -> list[float]:
        """Per current row: mean over its steps of the teacher's mass on allowed tokens."""
        steps = self._mass_steps.clamp(min=1)
        return (self._mass_sum / steps).tolist()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "number_list",
            "max_count": self.max_count,
            "max_digits": self.max_digits,
            "separators": list(self.separators),
        }
