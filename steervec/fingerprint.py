"""Model fingerprints: what ties a vector, student or dataset to the model it came from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Fingerprint:
    """Identity of a model: architecture, sizes, vocabulary and a hash of a few weights.

    The weight hash is taken over bfloat16 roundings of a few slices (first rows of
    the token embedding, of the first decoder block's first weight and of the final
    norm), so the same weights loaded in float32 or bfloat16 give the same fingerprint.
    """

    architecture: str
    n_layers: int
    d_model: int
    vocab_size: int
    weights_sha: str

    @property
    def short(self) -> str:
        """One readable line naming the model, e.g. ``LlamaForCausalLM 30x576 v49152 #ab12cd34``."""
        return (
            f"{self.architecture} {self.n_layers}x{self.d_model} "
            f"v{self.vocab_size} #{self.weights_sha[:8]}"
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Fingerprint:
        return cls(**json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(**data)


def _hash_tensor(hasher: Any, name: str, tensor: torch.Tensor, rows: int = 64) -> None:
    if tensor.device.type == "meta":  # offloaded weights cannot be read; name them only
        hasher.update(f"{name}:meta{tuple(tensor.shape)}".encode())
        return
    part = tensor.detach()[:rows] if tensor.dim() > 0 else tensor.detach()
    part = part.to("cpu", torch.bfloat16).contiguous().view(torch.int16)
    hasher.update(name.encode())
    hasher.update(part.numpy().tobytes())


def fingerprint_model(model: nn.Module, layers: nn.ModuleList, d_model: int) -> Fingerprint:
    """Compute the :class:`Fingerprint` of a loaded causal LM."""
    hasher = hashlib.sha256()
    embed = model.get_input_embeddings()
    _hash_tensor(hasher, "embed", embed.weight)
    first_block = next(iter(layers[0].parameters()))
    _hash_tensor(hasher, "block0", first_block)
    last_block = list(layers[-1].parameters())[-1]
    _hash_tensor(hasher, "blockN", last_block)
    vocab = int(embed.weight.shape[0])
    return Fingerprint(
        architecture=type(model).__name__,
        n_layers=len(layers),
        d_model=d_model,
        vocab_size=vocab,
        weights_sha=hasher.hexdigest(),
    )
