"""Which positions an intervention edits, for every kind of position spec and every way of generating.

A probe is a pair of interventions at one layer: a *marker* (the spec under test) adds 1 to the
residual stream, then a *reader* (positions ``"all"``) notes which positions differ and puts the
unedited stream back, so generation is unchanged and every runner sees the same tokens. The edited
positions are compared as ``(row, index of the token in the row)``, padding not counted, against
what the spec means on the left-padded batch of prompt + generated tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
from conftest import INJECTING_TEMPLATE, make_tiny
from torch import Tensor

from steervec.backends import get_backend
from steervec.core.chat import encode_chat
from steervec.core.hooks import Intervention, intervene
from steervec.core.model import LanguageModel
from steervec.data.sampler import SamplingParams, sample

PROMPTS = ["hi", "a longer one", "mid one"]
SYSTEM = "Be brief."
LAYER = 1
NEW = 4  # tokens generated per row; the last one is never fed back
RUNNERS = ["sample_shared", "sample_unshared", "lm_generate", "torch", "transformer_lens", "nnsight"]


@dataclass
class Probe:
    """Records, per forward call, the absolute positions seen and which of them were edited."""

    calls: list[tuple[Tensor, Tensor]] = field(default_factory=list)

    def interventions(self, spec: object) -> list[Intervention]:
        stash: dict[str, Tensor] = {}

        def mark(hidden: Tensor, positions: Tensor) -> Tensor:
            stash["before"] = hidden
            return hidden + 1.0

        def read(hidden: Tensor, positions: Tensor) -> Tensor:
            before = stash.pop("before", None)  # absent: the marker selected nothing in this call
            edited = torch.zeros(hidden.shape[:2], dtype=torch.bool) if before is None else (hidden != before).any(-1)
            self.calls.append((positions.clone().cpu(), edited.cpu()))
            return hidden if before is None else before

        return [Intervention(LAYER, mark, spec), Intervention(LAYER, read, "all")]

    def edited(self, lengths: list[int]) -> set[tuple[int, int]]:
        """``{(row, token index)}``; a batch-1 call (a shared prefix) stands for every row."""
        width = max(lengths)
        out = set()
        for positions, edited in self.calls:
            shared = edited.shape[0] == 1 and len(lengths) > 1
            for row in range(len(lengths)):
                hits = positions[edited[0 if shared else row]].tolist()
                pad = 0 if shared else width - lengths[row]
                out |= {(row, col - pad) for col in hits}
        return out


def expected(spec: object, lengths: list[int]) -> set[tuple[int, int]]:
    """What ``spec`` selects, written from its definition on the left-padded prompt + generation."""
    width = max(lengths)
    out = set()
    for row, length in enumerate(lengths):
        pad = width - length
        for k in range(length + NEW - 1):
            col = pad + k
            if spec == "all":
                chosen = True
            elif spec == "prompt":
                chosen = k < length
            elif spec == "generated":
                chosen = k >= length
            elif spec == "last_prompt":
                chosen = k == length - 1
            elif isinstance(spec, Tensor):
                chosen = col < width and bool(spec[row, col])
            else:
                chosen = col in {p if p >= 0 else width + p for p in spec}
            if chosen:
                out.add((row, k))
    return out


def _run(runner: str, lm: LanguageModel, spec: object, probe: Probe) -> list[list[int]]:
    """Generate greedily with the probe; returns each row's new tokens."""
    batch = encode_chat(lm, PROMPTS, SYSTEM)
    if runner.startswith("sample"):
        params = SamplingParams(temperature=0, max_new_tokens=NEW, share_prefix=runner == "sample_shared",
                                drop_finished=False, bucket=False)
        with intervene(lm, probe.interventions(spec)):
            return [s.token_ids for s in sample(lm, PROMPTS, system=SYSTEM, params=params)]
    kw = dict(max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False)
    if runner == "lm_generate":
        with intervene(lm, probe.interventions(spec)), torch.no_grad():
            out = lm.generate(**batch.model_inputs(), **kw)
    else:
        out = get_backend(runner, lm).generate(batch.input_ids, batch.attention_mask, probe.interventions(spec), **kw)
    return out[:, batch.input_ids.shape[1]:].tolist()


def _specs(lengths: list[int]) -> dict[str, object]:
    width = max(lengths)
    mask = torch.rand(len(lengths), width, generator=torch.Generator().manual_seed(0)) < 0.5
    return {"all": "all", "prompt": "prompt", "generated": "generated", "last_prompt": "last_prompt",
            "mask": mask, "ints": [2, width - 1, -3, width + 1]}


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_position_spec_edits_the_positions_it_names(runner):
    lm = make_tiny("llama", INJECTING_TEMPLATE, seed=3)  # fresh: a TransformerLens bridge changes the model
    batch = encode_chat(lm, PROMPTS, SYSTEM)
    lengths = batch.attention_mask.sum(1).tolist()
    assert len(set(lengths)) == len(lengths)  # every row padded differently
    plain = _run("lm_generate", lm, "all", Probe())
    for name, spec in _specs(lengths).items():
        probe = Probe()
        tokens = _run(runner, lm, spec, probe)
        assert tokens == [row[:NEW] for row in plain], (runner, name)  # the probe leaves generation unchanged
        assert probe.edited(lengths) == expected(spec, lengths), (runner, name)
