"""Backends: the same interventions through plain torch hooks, TransformerLens 4 or nnsight 0.8.

One contract in :mod:`steervec.backends.base` (:class:`Backend`, :class:`RunOutput`) and one
small module per backend; :func:`get_backend` picks one by name. Each backend can

* ``run`` a forward pass with interventions, recording layer outputs (under autograd when
  asked, so learnable vectors receive gradients), and
* ``generate`` with interventions, positions staying correct across decode steps.

:func:`~steervec.core.model.as_language_model` turns a TransformerLens bridge or an nnsight
model into a steervec :class:`~steervec.core.model.LanguageModel` over the same modules, so
every public steervec function accepts any of the three.
"""

from __future__ import annotations

from steervec.backends.base import Backend, RunOutput
from steervec.core.model import LanguageModel


def get_backend(name: str, lm: LanguageModel) -> Backend:
    """``"torch"``, ``"transformer_lens"`` or ``"nnsight"`` backend over a steervec model."""
    if name == "torch":
        from steervec.backends.torch import TorchBackend

        return TorchBackend(lm)
    if name in ("transformer_lens", "tlens"):
        from steervec.backends.transformer_lens import TransformerLensBackend

        return TransformerLensBackend.boot(lm)
    if name == "nnsight":
        from steervec.backends.nnsight import NNsightBackend

        return NNsightBackend.wrap(lm)
    raise ValueError(f"unknown backend {name!r}: use 'torch', 'transformer_lens' or 'nnsight'")



__all__ = ["Backend", "RunOutput", "get_backend"]
