"""Recovery of a planted steering vector: how close a student got to a teacher that is known exactly.

A planted teacher (:func:`~steervec.data.teachers.planted_teacher`) is the base model plus
``alpha * v`` at layer ``L`` at every position, so "full recovery" has a definite meaning:

* :func:`vector_recovery` — a vector student ``u`` at ``L``: ``cos(u, alpha v)`` and
  ``|u| / |alpha v|`` (1 and 1 at full recovery);
* :func:`shift_recovery` — any student (LoRA, full, a vector at another layer): the
  student's mean residual shift ``v_student`` (:func:`~steervec.metrics.alignment.student_shift`)
  against ``alpha v``, per layer;
* :func:`distillation_kl` — KL(teacher ‖ student) on held-out rows as a fraction of
  KL(teacher ‖ base): 0 at full recovery, 1 when nothing was learned;
* :class:`OutputMetric` (:func:`output_metric`) — the cosine *as the output sees it*. Not every
  direction of the layer-``L`` residual changes the next-token distribution equally (the
  final RMSNorm discards the radial part, later layers and the unembedding damp many
  directions), so a student can match the teacher's outputs with a vector that differs from
  ``alpha v`` in directions the output ignores. Around the base model,
  ``KL(p_{u} ‖ p_{w}) ≈ ½ (u − w)ᵀ G (u − w)`` with ``G`` the Fisher information of the
  next-token distributions with respect to a vector added at ``L`` (summed over scored
  positions, averaged over prompts) — exactly the metric the distillation loss uses. We
  estimate ``G = E[g gᵀ]`` from score vectors ``g = ∇_u Σ_t log p_t(y_t)`` with ``y_t`` sampled
  from the base model's own next-token distributions, and report the ``G``-weighted cosine
  ``uᵀGw / sqrt(uᵀGu · wᵀGw)`` and the plain cosine inside the span of ``G``'s top ``k``
  eigenvectors (the directions the output sees most). ``G`` is measured at the base model
  (``u = 0``): for large planted vectors it is a local, first-order picture.

Example:
    >>> rec = vector_recovery(student.tensors["layer.25"], 3.0 * v[25])  # doctest: +SKIP
    >>> rec.cosine, rec.norm_ratio  # doctest: +SKIP
    (0.999, 1.002)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from steervec.core.chat import Prompt, System, encode_chat
from steervec.core.errors import SteervecError
from steervec.core.hooks import Intervention, add_operator, intervene
from steervec.core.model import LanguageModel
from steervec.core.steering_vector import SteeringVector
from steervec.core.suffix_forward import next_token_logits
from steervec.data.rows import TeacherRow
from steervec.data.soft_targets import (
    KLPositions,
    check_positions,
    kl_sum,
    scored_positions,
    teacher_logprobs,
)
from steervec.data.teachers import Teacher
from steervec.metrics.alignment import student_shift


@dataclass(frozen=True)
class VectorRecovery:
    """A learned vector against the planted one (``alpha * v``).

    Attributes:
        cosine: ``cos(u, alpha v)``.
        norm_ratio: ``|u| / |alpha v|``.
    """

    cosine: float
    norm_ratio: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _flat(vector: Tensor, what: str) -> Tensor:
    t = torch.as_tensor(vector).detach().float().cpu().flatten()
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} has NaN or inf entries")
    return t


def vector_recovery(learned: Tensor, planted: Tensor) -> VectorRecovery:
    """``cos(u, alpha v)`` and ``|u| / |alpha v|`` for ``learned = u`` and ``planted = alpha v`` (``[d_model]``)."""
    u, w = _flat(learned, "the learned vector"), _flat(planted, "the planted vector")
    if u.shape != w.shape:
        raise ValueError(f"the learned vector has {u.numel()} entries, the planted one {w.numel()}: compare vectors "
                         "of the same layer of the same model")
    if float(w.norm()) == 0:
        raise ValueError("the planted vector is zero: pass alpha * v with alpha != 0")
    cos = float(torch.nn.functional.cosine_similarity(u, w, dim=0)) if float(u.norm()) > 0 else 0.0
    return VectorRecovery(cos, float(u.norm() / w.norm()))


def shift_recovery(
    lm: LanguageModel, student: Any, planted: Tensor, layer: int, prompts: Sequence[Prompt],
    system: System = None, base_means: dict[int, Tensor] | None = None,
) -> VectorRecovery:
    """Any student's mean residual shift at ``layer`` (over all prompt tokens) against ``planted = alpha v``.

    A vector student at ``layer`` shifts the residual by exactly its vector, so this equals
    :func:`vector_recovery` for it; LoRA and students at other layers are measured the same way.
    """
    shift = student_shift(lm, student, prompts, layers=[layer], system=system, base_means=base_means)
    return vector_recovery(shift[layer], planted)


@dataclass(frozen=True)
class KLRecovery:
    """KL(teacher ‖ student) and KL(teacher ‖ base) in nats per scored token, and their ratio.

    Attributes:
        student_kl / base_kl: mean KL per scored position.
        fraction: ``student_kl / base_kl`` (0: the student matches the teacher; 1: no better than the base).
        n_tokens: scored positions.
    """

    student_kl: float
    base_kl: float
    fraction: float
    n_tokens: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _rows_of(rows: Sequence[TeacherRow | str]) -> tuple[list[str], list[str]]:
    if not rows:
        raise ValueError("no held-out rows: pass TeacherRows or prompts")
    prompts = [r if isinstance(r, str) else r.prompt for r in rows]
    return prompts, ["" if isinstance(r, str) else r.completion for r in rows]


def distillation_kl(
    lm: LanguageModel, teacher: Teacher, student: Any, rows: Sequence[TeacherRow | str],
    positions: KLPositions = "all", system: System = None, batch_size: int = 8,
) -> KLRecovery:
    """KL(teacher ‖ student) on held-out rows as a fraction of KL(teacher ‖ base).

    Args:
        teacher: the teacher the student was distilled from.
        student: a :class:`~steervec.students.Student` (anything with ``.applied(lm)``).
        rows: held-out :class:`TeacherRow` s, or bare prompts (teacher-forced on the prompt
            and the end-of-turn token only).
        positions: ``"all"`` real positions (default) or ``"response"`` positions.
        system: the student's system condition.
    """
    check_positions(positions)
    if not hasattr(student, "applied"):
        raise TypeError("student must be a steervec Student (with .applied(lm))")
    prompts, completions = _rows_of(rows)
    totals = {"student": 0.0, "base": 0.0}
    n = 0
    for start in range(0, len(prompts), batch_size):
        chunk = slice(start, start + batch_size)
        batch = encode_chat(lm, prompts[chunk], system, completions[chunk])
        target = scored_positions(batch, positions)
        with torch.no_grad():
            soft = teacher_logprobs(lm, teacher, prompts[chunk], completions[chunk], target, system, positions)
            totals["base"] += float(kl_sum(soft, next_token_logits(lm, batch.input_ids, batch.attention_mask, target)))
            with student.applied(lm):
                logits = next_token_logits(lm, batch.input_ids, batch.attention_mask, target)
            totals["student"] += float(kl_sum(soft, logits))
        n += int(target.sum())
    student_kl, base_kl = totals["student"] / n, totals["base"] / n
    if base_kl <= 0:
        raise SteervecError("the teacher's distribution equals the base model's on these rows (KL 0): "
                            "nothing to recover; check the teacher's alpha and layer")
    return KLRecovery(student_kl, base_kl, student_kl / base_kl, n)


@dataclass
class OutputMetric:
    """The Fisher metric ``G`` of the output with respect to a vector added at ``layer``.

    Attributes:
        layer: where the vector is added.
        eigvals: ``[d_model]`` eigenvalues of ``G``, descending (nats² per unit² of residual).
        eigvecs: ``[d_model, d_model]``, column ``i`` the eigenvector of ``eigvals[i]``.
        n_scores: score vectors the estimate averages (prompts × samples).
    """

    layer: int
    eigvals: Tensor
    eigvecs: Tensor
    n_scores: int

    @property
    def matrix(self) -> Tensor:
        """``G`` itself, ``[d_model, d_model]``."""
        return (self.eigvecs * self.eigvals) @ self.eigvecs.T

    def cosine(self, u: Tensor, w: Tensor) -> float:
        """``uᵀGw / sqrt(uᵀGu · wᵀGw)``: the cosine under the metric the output distribution sees."""
        scale = self.eigvals.double().sqrt()  # in G's eigenbasis, scaled: uᵀGw = (√Λ Vᵀu)·(√Λ Vᵀw)
        a = scale * (self.eigvecs.double().T @ _flat(u, "u").double())
        b = scale * (self.eigvecs.double().T @ _flat(w, "w").double())
        den = float(a.norm() * b.norm())
        return float(a @ b) / den if den > 0 else 0.0

    def subspace_cosine(self, u: Tensor, w: Tensor, k: int) -> float:
        """The plain cosine of ``u`` and ``w`` projected on the top-``k`` eigenvectors of ``G``."""
        if not 1 <= k <= self.eigvecs.shape[1]:
            raise ValueError(f"k must be in 1..{self.eigvecs.shape[1]}, got {k}")
        basis = self.eigvecs[:, :k]
        a, b = basis.T @ _flat(u, "u"), basis.T @ _flat(w, "w")
        den = float(a.norm() * b.norm())
        return float(a @ b) / den if den > 0 else 0.0

    def visible_share(self, w: Tensor, k: int) -> float:
        """Share of ``|w|²`` inside the top-``k`` eigenvectors of ``G``."""
        b = _flat(w, "w")
        return float((self.eigvecs[:, :k].T @ b).norm() ** 2 / b.norm() ** 2)


@contextlib.contextmanager
def _row_leaf(lm: LanguageModel, layer: int, rows: int) -> Iterator[Tensor]:
    leaf = torch.zeros(rows, 1, lm.d_model, device=lm.device, dtype=lm.dtype, requires_grad=True)
    with intervene(lm, [Intervention(layer, add_operator(leaf), "all")]):
        yield leaf


def output_metric(
    lm: LanguageModel, layer: int, prompts: Sequence[Prompt], system: System = None,
    positions: KLPositions = "all", samples: int = 4, seed: int = 0, batch_size: int = 8,
) -> OutputMetric:
    """Estimate :class:`OutputMetric` at ``layer`` from ``len(prompts) * samples`` score vectors.

    Each score is ``∇_u Σ_t log p_t(y_t)`` for one prompt, ``u`` a vector added at ``layer`` at
    every real position (zero: the base model), ``y_t`` sampled from ``p_t`` at every scored
    position; ``G = mean(g gᵀ)``. One forward and ``samples`` backward passes (through the
    layers above ``layer`` only) per batch of prompts.
    """
    check_positions(positions)
    lm.check_layer(layer)
    if samples < 1 or not prompts:
        raise ValueError("pass at least one prompt and samples >= 1")
    g = torch.Generator().manual_seed(seed)
    scores = []
    for start in range(0, len(prompts), batch_size):
        batch = encode_chat(lm, list(prompts[start : start + batch_size]), system)
        target = scored_positions(batch, positions)
        rows = target.nonzero()[:, 0]  # the row of each scored position
        with _row_leaf(lm, layer, len(batch)) as leaf:
            logp = torch.log_softmax(next_token_logits(lm, batch.input_ids, batch.attention_mask, target), -1)
            probs = logp.detach().exp().cpu()
            for s in range(samples):
                y = torch.multinomial(probs, 1, generator=g).to(logp.device)
                (grad,) = torch.autograd.grad(logp.gather(-1, y).sum(), leaf, retain_graph=s < samples - 1)
                scores.append(grad[:, 0].float().cpu()[torch.unique(rows.cpu())])
    stacked = torch.cat(scores)  # [n_scores, d_model]
    fisher = stacked.T @ stacked / stacked.shape[0]
    vals, vecs = torch.linalg.eigh(fisher.double())
    order = vals.argsort(descending=True)
    return OutputMetric(layer, vals[order].float().clamp(min=0), vecs[:, order].float(), stacked.shape[0])


def planted_vector(vector: SteeringVector, layer: int, alpha: float) -> Tensor:
    """``alpha * v`` at ``layer`` (``[d_model]``, CPU float32): what full recovery learns."""
    raw = vector.layer_vectors.get(layer, vector[vector.layers[0]] if len(vector.layers) == 1 else None)
    if raw is None:
        raise ValueError(f"no direction for layer {layer}: the vector has layers {vector.layers}")
    return alpha * raw.detach().float().cpu()


def rows_to_reach(curve: dict[int, Sequence[float]], threshold: float) -> int | None:
    """The smallest ``N`` whose mean value (over seeds) reaches ``threshold``; ``None`` if none does.

    Args:
        curve: ``{N: [value per seed]}``, e.g. ``cos(u, alpha v)`` against the number of teacher rows.
    """
    for n in sorted(curve):
        values = list(curve[n])
        if values and sum(values) / len(values) >= threshold:
            return n
    return None


__all__ = ["KLRecovery", "OutputMetric", "VectorRecovery", "distillation_kl", "output_metric", "planted_vector",
           "rows_to_reach", "shift_recovery", "vector_recovery"]
