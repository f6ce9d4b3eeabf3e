"""Alignment between what a student learned and the teacher's steering vector, layer by layer.

* ``v_student`` (:func:`student_shift`): mean activation of the student minus the base over
  all non-padding prompt tokens of a prompt set (or at the last prompt token), per layer.
* :func:`layer_alignment`: cosine with ``v_teacher``, norm ratio, and the shift projected on
  the unit teacher vector (the persona-vector "finetuning shift"), per layer.
* :class:`AlignmentTracker`: the same at every training checkpoint (a ``train_student``
  callback) — the reference study's "EAS" curve when run for trait and control students.
* :func:`sufficiency` / :func:`necessity`: the trait with ``v_student`` added to the base, and
  in the student with the component along ``v_student`` replaced by the base's.
* :func:`gradient_alignment`: cosine between dLoss/d(layer output) and ``v_teacher`` per row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from steervec.core.activations import MeanPositions, mean_activations
from steervec.core.chat import System, check_texts, encode_chat, render_chat
from steervec.core.hooks import Intervention, intervene, record, replace_operator
from steervec.core.model import LanguageModel, as_language_model
from steervec.core.positions import mask_position_ids
from steervec.core.steering_vector import SteeringVector, check_same_model
from steervec.data.rows import TeacherRow
from steervec.metrics.evaluate import TraitEval, evaluate_trait


def _student_context(lm: LanguageModel, student: Any) -> contextlib.AbstractContextManager[Any]:
    if student is None:
        return contextlib.nullcontext(lm)
    if hasattr(student, "applied"):
        return student.applied(lm)
    raise TypeError("student must be a steervec Student (with .applied(lm)) or None")


def student_shift(
    lm: Any, student: Any, prompts: Sequence[Any], layers: Sequence[int] | None = None,
    system: System = None, positions: MeanPositions = "prompt",
    base_means: dict[int, Tensor] | None = None, batch_size: int = 16,
) -> SteeringVector:
    """``v_student`` per layer: mean activation with the student applied minus without.

    Args:
        lm: the base model.
        student: a :class:`~steervec.students.Student` (applied for the measurement).
        prompts: e.g. number prompts; evaluated with ``system`` (default: no system turn).
        positions: ``"prompt"`` (all non-padding prompt tokens, the reference choice) or
            ``"last_prompt"``.
        base_means: precomputed base means (from :func:`mean_activations`) to save time.
    """
    lm = as_language_model(lm)
    kw = dict(layers=layers, positions=positions, batch_size=batch_size)
    base = base_means if base_means is not None else mean_activations(lm, prompts, system, **kw)  # type: ignore[arg-type]
    with _student_context(lm, student):
        trained = mean_activations(lm, prompts, system, **kw)  # type: ignore[arg-type]
    vecs = {x: trained[x] - base[x] for x in trained}
    return SteeringVector(vecs, lm.fingerprint, positions, {"method": "student_shift", "n_prompts": len(prompts)})


@dataclass
class LayerAlignment:
    """Per-layer comparison of a learned shift with the teacher vector.

    Attributes:
        label: condition name (e.g. ``"owl LoRA seed 0"``).
        cosine: ``{layer: cos(v_student, v_teacher)}``.
        norm_ratio: ``{layer: |v_student| / |v_teacher|}``.
        projection: ``{layer: v_student · v_teacher / |v_teacher|}``.
        step: training step (for alignment over training).
        shift: the student's shift itself, kept by :class:`AlignmentTracker` so that a checkpoint can
            later be compared with other directions or with another student's checkpoint (the
            control-subtracted alignment over training); ``None`` from :func:`layer_alignment`.
    """

    label: str
    cosine: dict[int, float]
    norm_ratio: dict[int, float]
    projection: dict[int, float]
    step: int | None = None
    shift: SteeringVector | None = field(default=None, repr=False, compare=False)

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"label": self.label, "step": self.step, "layer": x, "cosine": c,
                              "norm_ratio": self.norm_ratio[x], "projection": self.projection[x]}
                             for x, c in self.cosine.items()])

    def _repr_html_(self) -> str:
        return f"<b>LayerAlignment</b> {self.label}" + self.to_dataframe().to_html(index=False)


def layer_alignment(v_student: SteeringVector, v_teacher: SteeringVector, label: str = "student",
                    step: int | None = None) -> LayerAlignment:
    """Cosine, norm ratio and projection of ``v_student`` on ``v_teacher`` at every shared layer."""
    if v_student.fingerprint and v_teacher.fingerprint and v_student.fingerprint != v_teacher.fingerprint:
        check_same_model(v_teacher.fingerprint, v_student.fingerprint, "the teacher vector")
    cos = v_student.cosine(v_teacher)
    ratio, proj = {}, {}
    for x in cos:
        t = v_teacher[x].float()
        s = v_student[x].float()
        ratio[x] = float(s.norm() / t.norm()) if t.norm() > 0 else float("nan")
        proj[x] = float(s @ t / t.norm()) if t.norm() > 0 else float("nan")
    return LayerAlignment(label, cos, ratio, proj, step)


@dataclass
class AlignmentTracker:
    """A ``train_student`` callback recording :func:`layer_alignment` at every checkpoint.

    Example:
        >>> tracker = AlignmentTracker(lm, v_teacher, number_prompts, label="owl")  # doctest: +SKIP
        >>> train_student(lm, rows, method=LoRA(8, 8), callbacks=[tracker], checkpoint_every=25)  # doctest: +SKIP
        >>> tracker.to_dataframe()  # doctest: +SKIP
    """

    lm: LanguageModel
    teacher: SteeringVector
    prompts: Sequence[Any]
    label: str = "student"
    layers: Sequence[int] | None = None
    system: System = None
    positions: MeanPositions = "prompt"
    history: list[LayerAlignment] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_same_model(self.teacher.fingerprint, self.lm, "the teacher vector")
        self.layers = list(self.layers) if self.layers is not None else self.teacher.layers
        self._base = mean_activations(self.lm, self.prompts, self.system, self.layers, self.positions)

    def __call__(self, event: Any) -> None:
        with torch.no_grad():
            now = mean_activations(event.lm, self.prompts, self.system, self.layers, self.positions)
        shift = SteeringVector({x: now[x] - self._base[x] for x in now}, self.lm.fingerprint)
        checkpoint = layer_alignment(shift, self.teacher, self.label, event.step)
        checkpoint.shift = shift
        self.history.append(checkpoint)

    def to_dataframe(self) -> Any:
        import pandas as pd

        if not self.history:
            raise ValueError("no checkpoint was recorded: train with checkpoint_every > 0")
        return pd.concat([h.to_dataframe() for h in self.history], ignore_index=True)


def sufficiency(lm: Any, v_student: SteeringVector, target: str, questions: Sequence[str],
                alpha: float = 1.0, system: System = None, base: TraitEval | None = None,
                prefill: str = "") -> TraitEval:
    """The trait of the base model with ``alpha * v_student`` added at its layers (all positions)."""
    lm = as_language_model(lm)
    check_texts(questions, "questions")
    with v_student.apply(lm, alpha=alpha):
        return evaluate_trait(lm, target, questions, "base + v_student", system, base, prefill=prefill)


def necessity(lm: Any, student: Any, v_student: SteeringVector, target: str, questions: Sequence[str],
              system: System = None, base: TraitEval | None = None, prefill: str = "") -> TraitEval:
    """The trait of the student with its component along ``v_student`` set to the base's.

    At every layer of ``v_student`` and every prompt position, the student's residual
    component along the unit ``v_student`` direction is replaced by the base model's
    component at the same position. Later positions (the continuation tokens scored
    for multi-token spellings of the target, such as "O" + "wl") keep the student's
    component, so the test is exact for single-token spellings only.
    """
    lm = as_language_model(lm)
    check_texts(questions, "questions")
    texts = [render_chat(lm, q, system) + prefill for q in questions]
    enc = lm.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
    layers = v_student.layers
    with record(lm, layers) as rec, torch.no_grad():
        lm.model(**enc, position_ids=mask_position_ids(enc["attention_mask"]))
    items = []
    for x in layers:
        u = v_student[x].float().to(lm.device)
        comps = rec[x].float() @ (u / u.norm())
        items.append(Intervention(x, replace_operator(u, comps)))
    with _student_context(lm, student), intervene(lm, items):
        return evaluate_trait(lm, target, questions, "student − v_student", system, base, prefill=prefill,
                              batch_size=len(questions))


def row_projections(lm: Any, rows: Sequence[TeacherRow], teacher: SteeringVector, layer: int,
                    system: System = None, batch_size: int = 16) -> Tensor:
    """``[n_rows]``: each row's mean response activation at ``layer`` projected on the unit teacher vector."""
    lm = as_language_model(lm)
    check_same_model(teacher.fingerprint, lm, "the teacher vector")
    u = teacher[layer].float()
    u = (u / u.norm()).to(lm.device)
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = encode_chat(lm, [r.prompt for r in chunk], system, [r.completion for r in chunk])
        with record(lm, [layer]) as rec, torch.no_grad():
            lm.model(**batch.model_inputs())
        h = rec[layer].float()
        m = batch.response_mask.unsqueeze(-1).float()
        out.append(((h * m).sum(1) / m.sum(1).clamp(min=1)) @ u)
    return torch.cat(out).cpu()


@dataclass
class GradientAlignment:
    """Per-row gradients of the completion loss at layer outputs, compared with ``v_teacher``.

    Attributes:
        cos_last_prompt: ``{layer: [n_rows]}`` cos(dL/dh at the last prompt token, v).
        cos_completion: ``{layer: [n_rows]}`` cos(mean dL/dh over completion tokens, v).
        norms: ``{layer: [n_rows]}`` norm of the last-prompt-token gradient.
        mean_grad: ``{layer: [d_model]}`` mean last-prompt-token gradient over rows.
    """

    cos_last_prompt: dict[int, Tensor]
    cos_completion: dict[int, Tensor]
    norms: dict[int, Tensor]
    mean_grad: dict[int, Tensor]
    label: str = ""

    def fraction_along(self) -> dict[int, float]:
        """Mean |cos| at the last prompt token: the share of the gradient's norm along v."""
        return {x: float(c.abs().mean()) for x, c in self.cos_last_prompt.items()}

    def top_share(self, q: float = 0.05) -> dict[int, float]:
        """Share of the summed gradient norm carried by the top ``q`` fraction of rows
        (how much a few outlier rows dominate a plain-SGD update)."""
        out = {}
        for x, n in self.norms.items():
            k = max(1, int(round(q * n.numel())))
            out[x] = float(n.sort(descending=True).values[:k].sum() / n.sum())
        return out

    def to_dataframe(self) -> Any:
        import pandas as pd

        recs = []
        for x in self.cos_last_prompt:
            for i in range(self.cos_last_prompt[x].numel()):
                recs.append({"label": self.label, "layer": x, "row": i,
                             "cos_last_prompt": float(self.cos_last_prompt[x][i]),
                             "cos_completion": float(self.cos_completion[x][i]),
                             "grad_norm": float(self.norms[x][i])})
        return pd.DataFrame(recs)

    def _repr_html_(self) -> str:
        df = self.to_dataframe().groupby("layer")[["cos_last_prompt", "cos_completion", "grad_norm"]].mean()
        return f"<b>GradientAlignment</b> {self.label}" + df.to_html()


def gradient_alignment(lm: Any, rows: Sequence[TeacherRow], teacher: SteeringVector,
                       layers: Sequence[int] | None = None, system: System = None,
                       batch_size: int = 8, label: str = "") -> GradientAlignment:
    """Gradients of each row's completion cross-entropy at the layer outputs vs ``v_teacher``.

    Rows in a batch do not interact, so one backward pass of the summed per-row losses gives
    every row's own gradient.
    """
    lm = as_language_model(lm)
    if not rows:
        raise ValueError("no rows given")
    check_same_model(teacher.fingerprint, lm, "the teacher vector")
    chosen = list(layers) if layers is not None else teacher.layers
    units = {x: (teacher[x].float() / teacher[x].float().norm()).to(lm.device) for x in chosen}
    acc: dict[str, dict[int, list[Tensor]]] = {k: {x: [] for x in chosen} for k in ("lp", "comp", "norm", "g")}
    params = [p for p in lm.model.parameters() if p.requires_grad]
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            batch = encode_chat(lm, [r.prompt for r in chunk], system, [r.completion for r in chunk])
            with record(lm, chosen, detach=False) as rec:
                hidden = {x: rec.calls[x] for x in chosen}
                logits = _forward_with_leaf(lm, batch, chosen, hidden)
            targets = batch.input_ids[:, 1:]
            mask = batch.response_mask[:, 1:].float()
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2).float(), targets, reduction="none")
            per_row = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
            per_row.sum().backward()
            idx = torch.arange(len(chunk))
            last = batch.last_prompt_index
            for x in chosen:
                grad = hidden[x][0].grad
                assert grad is not None  # the layer output retains its gradient (_forward_with_leaf)
                g_last = grad[idx, last].float()
                m = batch.response_mask.unsqueeze(-1).float()
                g_comp = (grad.float() * m).sum(1) / m.sum(1).clamp(min=1)
                acc["lp"][x].append(torch.nn.functional.cosine_similarity(g_last, units[x].expand_as(g_last), dim=-1).cpu())
                acc["comp"][x].append(torch.nn.functional.cosine_similarity(g_comp, units[x].expand_as(g_comp), dim=-1).cpu())
                acc["norm"][x].append(g_last.norm(dim=-1).cpu())
                acc["g"][x].append(g_last.cpu())
    finally:
        for p, flag in zip(params, saved, strict=True):
            p.requires_grad_(flag)
    cat = {k: {x: torch.cat(v[x]) for x in chosen} for k, v in acc.items()}
    return GradientAlignment(cat["lp"], cat["comp"], cat["norm"], {x: g.mean(0) for x, g in cat["g"].items()}, label)


def _forward_with_leaf(lm: LanguageModel, batch: Any, layers: Sequence[int], hidden: dict[int, list[Tensor]]) -> Tensor:
    """Forward pass in which each recorded layer output is a grad-retaining tensor."""
    def make(layer: int) -> Any:
        def hook(module: Any, args: Any, output: Any) -> Any:
            h = output if isinstance(output, Tensor) else output[0]
            h.retain_grad()
            return None
        return hook

    handles = [lm.layers[x].register_forward_hook(make(x)) for x in layers]
    try:
        with torch.enable_grad():
            embeds = lm.model.get_input_embeddings()(batch.input_ids).detach().requires_grad_(True)
            return lm.model(inputs_embeds=embeds, attention_mask=batch.attention_mask,
                            position_ids=mask_position_ids(batch.attention_mask)).logits
    finally:
        for h in handles:
            h.remove()


def pooled_difference(trait: GradientAlignment, control: GradientAlignment,
                      teacher: SteeringVector) -> dict[int, float]:
    """cos(mean gradient on trait data − mean gradient on control data, v_teacher) per layer."""
    out = {}
    for x in trait.mean_grad:
        diff = trait.mean_grad[x] - control.mean_grad[x]
        out[x] = float(torch.nn.functional.cosine_similarity(diff, teacher[x].float(), dim=0))
    return out
