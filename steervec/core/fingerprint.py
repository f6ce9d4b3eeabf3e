"""Model fingerprints: what ties a vector, student or dataset to the model it came from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class Fingerprint:
    """Identity of a model: architecture, sizes, vocabulary and a hash of a few weights.

    The weight hash is taken over bfloat16 roundings of a few slices (first rows of the
    token embedding and of every weight of the first and last decoder blocks, combined
    in an order that does not depend on module names), so the same weights loaded in
    float32 or bfloat16, or wrapped by TransformerLens or nnsight, give the same
    fingerprint.
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


def _digest(tensor: torch.Tensor, rows: int = 64) -> str:
    if tensor.device.type == "meta":  # offloaded weights cannot be read; use the shape only
        return f"meta{tuple(tensor.shape)}"
    part = tensor.detach()[:rows] if tensor.dim() > 0 else tensor.detach()
    part = part.to("cpu", torch.bfloat16).contiguous().view(torch.int16)
    return f"{tuple(tensor.shape)}:" + hashlib.sha256(part.numpy().tobytes()).hexdigest()


def _block_digest(block: nn.Module) -> str:
    unique = {id(p): p for p in block.parameters()}.values()
    return ",".join(sorted(_digest(p) for p in unique))


def fingerprint_model(model: PreTrainedModel, layers: nn.ModuleList, d_model: int) -> Fingerprint:
    """Compute the :class:`Fingerprint` of a loaded causal LM."""
    hasher = hashlib.sha256()
    embed: Any = model.get_input_embeddings()  # an nn.Embedding (HF types it as nn.Module)
    hasher.update(_digest(embed.weight).encode())
    hasher.update(_block_digest(layers[0]).encode())
    hasher.update(_block_digest(layers[-1]).encode())
    vocab = int(embed.weight.shape[0])
    return Fingerprint(
        architecture=type(model).__name__,
        n_layers=len(layers),
        d_model=d_model,
        vocab_size=vocab,
        weights_sha=hasher.hexdigest(),
    )
