"""Training students on teacher data: completion-only loss, any optimiser, resumable.

One function, :func:`train_student`, trains every parameterisation of
:mod:`steervec.students` on :class:`~steervec.data.rows.TeacherRow` s. The loss is taken on the
response tokens (the completion and the template's end-of-turn token, as
:func:`~steervec.core.chat.encode_chat` marks them): cross-entropy on the teacher's tokens
(hard distillation), KL to stored teacher top-k log-probs (soft distillation, ``"kl"``), or
KL to a teacher's full distribution computed in the same step (online soft distillation,
``"kl_online"``, see :mod:`steervec.students.distill`; optionally at every real position),
optionally restricted by per-row token masks (e.g. divergence tokens).

Reproducibility: ``seed`` seeds torch, ``random`` and numpy before the student is
initialised, and fixes the data order of every epoch; two runs with the same arguments give
bit-identical students on CPU. A run with ``checkpoint_dir`` resumes from its last
checkpoint and ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from steervec.core.chat import System, describe_system, encode_chat, response_suffix
from steervec.core.errors import ModelMismatchError, SteervecError
from steervec.core.io import json_sha
from steervec.core.model import LanguageModel
from steervec.core.optim import OptimizerConfig, OptimizerSpec, Schedule, clip_gradients
from steervec.core.suffix_forward import next_token_logits
from steervec.data.datasets import load_dataset
from steervec.data.rows import TOPK_KEY, TeacherRow
from steervec.data.soft_targets import kl_sum, scored_positions
from steervec.data.teachers import Teacher
from steervec.students.attach import attach_method, detach_method
from steervec.students.checkpoints import latest_checkpoint, read_checkpoint, write_checkpoint
from steervec.students.distill import OnlineTeacher, as_online_teacher, online_targets
from steervec.students.methods import Method, method_to_dict
from steervec.students.student import Student

LossKind = Literal["ce", "kl", "kl_online"]


class NonFiniteLossError(SteervecError, FloatingPointError):
    """The training loss (or gradient norm) became NaN or infinite; training stopped."""

    def __init__(self, message: str, step: int, last_checkpoint: Path | None) -> None:
        super().__init__(message)
        self.step = step
        self.last_checkpoint = last_checkpoint


@dataclass
class CheckpointEvent:
    """What a callback receives at each checkpoint (every ``checkpoint_every`` steps and at the end).

    Attributes:
        step: optimiser steps done.
        epoch: current epoch (0-based).
        loss: loss of the last step.
        lm: the model, with the student attached and in eval mode during the callback.
        student: a detached snapshot of the student at this step.
        checkpoint: the checkpoint folder written at this step, if any.
    """

    step: int
    epoch: int
    loss: float
    lm: LanguageModel
    student: Student
    checkpoint: Path | None


Callback = Callable[[CheckpointEvent], None]


# ------------------------------------------------------------------ data


def load_rows(dataset: Sequence[TeacherRow] | str | os.PathLike[str]) -> list[TeacherRow]:
    """Rows from a sequence of :class:`TeacherRow` (or dicts) or a JSONL file.

    A file is read by :func:`steervec.data.datasets.load_dataset`, the one row reader, with
    its checks: rows marked invalid are dropped, a malformed line or a repeated row index
    raises :class:`~steervec.core.errors.CorruptFileError` naming file and line.
    """
    if isinstance(dataset, (str, os.PathLike)):
        path = Path(dataset)
        if not path.is_file():
            raise FileNotFoundError(f"no dataset file at {path}: pass a JSONL path or a list of TeacherRow")
        return load_dataset(path)
    return [r if isinstance(r, TeacherRow) else TeacherRow.from_dict(r) for r in dataset]


def check_rows_model(lm: LanguageModel, rows: Sequence[TeacherRow]) -> None:
    """Raise :class:`ModelMismatchError` if any row was written by another model than ``lm``."""
    mine = {k: v for k, v in vars(lm.fingerprint).items()}
    seen: set[str] = set()
    for row in rows:
        if not row.model:
            continue
        key = json.dumps(row.model, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        shared = [k for k in mine if k in row.model]
        if any(row.model[k] != mine[k] for k in shared):
            other = row.model.get("architecture", "?"), str(row.model.get("weights_sha", "?"))[:8]
            raise ModelMismatchError(
                f"row {row.index} was written by {other[0]} #{other[1]} but the student's base model "
                f"is {lm.fingerprint.short}: subliminal transfer needs the same base model; train "
                "on data from this model, or pass allow_other_model=True"
            )


def response_lengths(lm: LanguageModel, rows: Sequence[TeacherRow]) -> list[int]:
    """Number of response tokens of each row (completion + end-of-turn), as the loss sees them."""
    suffix = response_suffix(lm.tokenizer)
    return [len(lm.tokenizer(r.completion + suffix, add_special_tokens=False)["input_ids"]) for r in rows]


def _check_masks(masks: Sequence[Any] | None, lengths: list[int]) -> list[Tensor] | None:
    if masks is None:
        return None
    if len(masks) != len(lengths):
        raise ValueError(f"{len(masks)} loss masks for {len(lengths)} rows: pass one mask per row")
    out = []
    for i, (mask, n) in enumerate(zip(masks, lengths, strict=True)):
        t = torch.as_tensor(mask, dtype=torch.bool).flatten()
        if t.numel() != n:
            raise ValueError(
                f"loss mask of row {i} has {t.numel()} entries but the row has {n} response tokens "
                "(completion + end-of-turn); build masks with steervec.data.divergence.divergence_masks "
                "or steervec.students.train.response_lengths"
            )
        out.append(t)
    if not any(bool(t.any()) for t in out):
        raise ValueError("every row is masked out (all loss masks are False): nothing to train on")
    return out


def _topk(rows: Sequence[TeacherRow], lengths: list[int]) -> list[tuple[Tensor, Tensor]]:
    out = []
    for row, n in zip(rows, lengths, strict=True):
        data = row.extra.get(TOPK_KEY)
        if data is None:
            raise ValueError(
                f"loss='kl' needs teacher log-probs in every row's extra[{TOPK_KEY!r}]; row {row.index} "
                "has none: add them with steervec.data.divergence.attach_teacher_topk, or use loss='ce'"
            )
        ids, lps = torch.tensor(data["ids"], dtype=torch.long), torch.tensor(data["logprobs"], dtype=torch.float32)
        if ids.shape[0] != n or ids.shape != lps.shape:
            raise ValueError(f"row {row.index}: teacher top-k covers {ids.shape[0]} tokens, the row has {n}")
        out.append((ids, lps))
    return out


# ------------------------------------------------------------------ loss


def batch_loss(
    lm: LanguageModel, input_ids: Tensor, attention_mask: Tensor, target: Tensor,
    topk: tuple[Tensor, Tensor] | None = None, teacher_logp: Tensor | None = None,
) -> tuple[Tensor, int]:
    """Summed loss over target positions and their count.

    Args:
        input_ids: ``[batch, seq]`` left-padded.
        attention_mask: ``[batch, seq]`` left-padded.
        target: ``[batch, seq - 1]`` bool; position ``t`` scores the prediction of token ``t + 1``.
        topk: for KL, ``(ids [n_target, k], logprobs [n_target, k])`` in row-major order.
        teacher_logp: for online KL, the teacher's log-probs ``[n_target, vocab]`` in row-major order.
    """
    logits = next_token_logits(lm, input_ids, attention_mask, target)  # [n_target, vocab]
    n = int(target.sum())
    if teacher_logp is not None:
        return kl_sum(teacher_logp.to(logits.device), logits), n
    if topk is None:
        return F.cross_entropy(logits, input_ids[:, 1:][target], reduction="sum"), n
    ids, lps = topk
    teacher = torch.log_softmax(lps.to(logits.device), dim=-1)
    student = torch.log_softmax(logits, dim=-1).gather(-1, ids.to(logits.device))
    return (teacher.exp() * (teacher - student)).sum(), n


# ------------------------------------------------------------------ training


def _resolve_optimizer(
    optimizer: OptimizerSpec | OptimizerConfig, lr: float | None = None, schedule: str | None = None,
    warmup: float | None = None, grad_clip: float | None = None, momentum: float | None = None,
    weight_decay: float | None = None, optimizer_kwargs: dict[str, Any] | None = None,
) -> OptimizerConfig:
    """The one :class:`OptimizerConfig` a training run uses (refused: settings beside a ready config)."""
    extra = dict(optimizer_kwargs or {})
    if momentum is not None:
        extra["momentum"] = momentum
    if weight_decay is not None:
        extra["weight_decay"] = weight_decay
    if isinstance(optimizer, OptimizerConfig):
        given = [n for n, v in [("lr", lr), ("schedule", schedule), ("warmup", warmup),
                                ("grad_clip", grad_clip)] if v is not None] + list(extra)
        if given:
            raise ValueError(f"{given} given beside an OptimizerConfig: set them in the config instead")
        return optimizer
    if lr is None:
        raise ValueError("pass lr (e.g. lr=1e-2 for a vector student, 2e-4 for LoRA, 2e-5 for full)")
    return OptimizerConfig(optimizer, lr, extra, cast(Schedule, schedule or "constant"), warmup or 0, grad_clip)


OPTIMIZER_SETTINGS = ("lr", "schedule", "warmup", "grad_clip", "momentum", "weight_decay", "optimizer_kwargs")
"""Keywords of :func:`train_student` that build its :class:`~steervec.core.optim.OptimizerConfig`."""


@dataclass(frozen=True)
class TrainConfig:
    """How a student is trained: everything but the base model, the data, the method and the callbacks.

    Every field is also a keyword of :func:`train_student`, and so are the optimiser's own settings
    (:data:`OPTIMIZER_SETTINGS`: ``lr``, ``schedule``, ``warmup``, ``grad_clip``, ``momentum``,
    ``weight_decay``, ``optimizer_kwargs``), which build the one :class:`OptimizerConfig` the config holds.

    Attributes:
        optimizer: an :class:`OptimizerConfig`, or a name (``adamw``, ``adam``, ``rmsprop``,
            ``sgd``, ``signsgd``), a torch.optim class or a factory completed by ``lr=...``.
        epochs: passes over the data.
        batch_size: rows per step.
        max_steps: caps the number of steps (``None``: no cap).
        seed: seeds init, dropout and the data order of every epoch.
        system: the *student's* system condition: ``None`` (no system turn, default), a string,
            or :data:`~steervec.core.chat.TEMPLATE_DEFAULT` (the template's injected default).
        loss: ``"ce"`` (teacher tokens), ``"kl"`` (teacher top-k in ``row.extra``) or
            ``"kl_online"`` (KL(teacher ‖ student) over the full vocabulary, the teacher run in
            the same step with the student switched off; needs ``teacher``).
        loss_masks: optional per-row bool masks over the response tokens (see
            :func:`response_lengths`); only True tokens enter the loss (with
            ``OnlineTeacher(positions="all")`` the prompt positions are always scored).
        teacher: for ``loss="kl_online"``: an :class:`~steervec.students.distill.OnlineTeacher`
            or a bare :class:`~steervec.data.teachers.Teacher` (response positions).
        checkpoint_dir: folder of atomic checkpoints; an existing checkpoint in it is resumed
            (same arguments only).
        checkpoint_every: write a checkpoint every this many steps.
        keep_checkpoints: how many of the latest checkpoints to keep.
        log_path: JSONL log, one line per step (step, loss, lr, grad_norm, tokens...).
        autocast: ``"bfloat16"`` for bf16 autocast (weights stay in their dtype).
        progress: show a tqdm bar with loss and tokens/s.
        allow_other_model: train on rows another model wrote (the cross-model experiment).
        padding: ``"groups"`` (default): the rows of a step are sorted by length and run in groups
            padded only to their own longest row (:func:`length_groups`), one backward over the
            summed loss — the same loss and gradient as one padded batch up to float rounding, with
            the padding's work skipped; ``"batch"``: the whole batch padded to its longest row in one
            forward (the trainer before length groups; bit-identical to it). Not part of the recorded
            arguments: it changes how a step is computed, not what.
    """

    optimizer: OptimizerConfig | OptimizerSpec = "adamw"
    epochs: int = 1
    batch_size: int = 8
    max_steps: int | None = None
    seed: int = 0
    system: System = None
    loss: LossKind = "ce"
    loss_masks: Sequence[Any] | None = None
    teacher: OnlineTeacher | Teacher | None = None
    checkpoint_dir: str | os.PathLike[str] | None = None
    checkpoint_every: int | None = None
    keep_checkpoints: int = 2
    log_path: str | os.PathLike[str] | None = None
    autocast: Literal["bfloat16"] | None = None
    progress: bool = True
    allow_other_model: bool = False
    padding: Literal["groups", "batch"] = "groups"

    @classmethod
    def build(cls, config: TrainConfig | None = None, **settings: Any) -> TrainConfig:
        """``config`` (or the defaults) with ``settings`` applied; the optimiser's settings are folded
        into one :class:`OptimizerConfig`. An unknown name is refused, naming the valid ones."""
        base = config or cls()
        knobs = {k: settings.pop(k) for k in OPTIMIZER_SETTINGS if k in settings}
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - valid)
        if unknown:
            raise TypeError(f"unknown training setting(s) {unknown}: valid are {sorted(valid | set(OPTIMIZER_SETTINGS))}")
        optimizer = settings.pop("optimizer", base.optimizer)
        if not isinstance(optimizer, OptimizerConfig) or knobs:
            optimizer = _resolve_optimizer(optimizer, **knobs)
        return replace(base, optimizer=optimizer, **settings)

    def validate(self) -> None:
        """Refuse settings that cannot train (before any weight is touched)."""
        if self.loss not in ("ce", "kl", "kl_online"):
            raise ValueError(f"unknown loss {self.loss!r}: use 'ce', 'kl' or 'kl_online'")
        if self.teacher is not None and self.loss != "kl_online":
            raise ValueError(f"teacher=... is only used by loss='kl_online' (loss is {self.loss!r}): "
                             "drop it or set the loss")
        if self.epochs < 1 or self.batch_size < 1 or (self.max_steps is not None and self.max_steps < 1):
            raise ValueError("epochs, batch_size and max_steps must be >= 1")
        if self.autocast not in (None, "bfloat16"):
            raise ValueError(f"autocast must be None or 'bfloat16', got {self.autocast!r}")
        if self.padding not in ("groups", "batch"):
            raise ValueError(f"padding must be 'groups' or 'batch', got {self.padding!r}")


@dataclass
class _Plan:
    """A training run's fixed inputs: rows and their targets, the step count and the recorded arguments."""

    rows: list[TeacherRow]
    optimizer: OptimizerConfig
    online: OnlineTeacher | None
    lengths: list[int]
    masks: list[Tensor] | None
    topks: list[tuple[Tensor, Tensor]] | None
    per_epoch: int
    total: int
    args: dict[str, Any]
    ckpt_dir: Path | None
    resume: Path | None
    token_lengths: list[int] | None = None


def _plan(lm: LanguageModel, dataset: Sequence[TeacherRow] | str | os.PathLike[str], method: Method,
          cfg: TrainConfig) -> _Plan:
    """Check everything and fix the run (nothing is attached or trained here)."""
    rows = load_rows(dataset)
    if not rows:
        raise ValueError("the dataset is empty: pass at least one TeacherRow")
    if not cfg.allow_other_model:
        check_rows_model(lm, rows)
    cfg.validate()
    online = as_online_teacher(cfg.teacher) if cfg.loss == "kl_online" else None
    if online is not None:
        online.teacher.check(lm)
    optimizer = cfg.optimizer if isinstance(cfg.optimizer, OptimizerConfig) else _resolve_optimizer(cfg.optimizer)
    lengths = response_lengths(lm, rows)
    masks = _check_masks(cfg.loss_masks, lengths)
    topks = _topk(rows, lengths) if cfg.loss == "kl" else None
    per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = per_epoch * cfg.epochs if cfg.max_steps is None else min(per_epoch * cfg.epochs, cfg.max_steps)
    args = {
        "method": method_to_dict(method), "optimizer": optimizer.describe(), "epochs": cfg.epochs,
        "batch_size": cfg.batch_size, "seed": cfg.seed, "system": describe_system(cfg.system), "loss": cfg.loss,
        "max_steps": cfg.max_steps, "total_steps": total, "autocast": cfg.autocast, "n_rows": len(rows),
        "checkpoint_every": cfg.checkpoint_every,
        "dataset_sha": json_sha([(r.prompt, r.completion) for r in rows]),
        "masks_sha": json_sha([m.int().tolist() for m in masks]) if masks is not None else None,
        "topk_sha": json_sha([r.extra.get(TOPK_KEY) for r in rows]) if cfg.loss == "kl" else None,
    }
    if online is not None:  # only online students carry the key: other students' records are unchanged
        args["teacher"] = online.to_dict()
    args = json.loads(json.dumps(args, default=str))  # as a checkpoint stores them
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir is not None else None
    resume = latest_checkpoint(ckpt_dir) if ckpt_dir is not None else None
    token_lengths = rendered_lengths(lm, rows, cfg.system) if cfg.padding == "groups" else None
    return _Plan(rows, optimizer, online, lengths, masks, topks, per_epoch, total, args, ckpt_dir, resume,
                 token_lengths)


def train_student(
    lm: LanguageModel,
    dataset: Sequence[TeacherRow] | str | os.PathLike[str],
    method: Method,
    *,
    config: TrainConfig | None = None,
    callbacks: Sequence[Callback] = (),
    **settings: Any,
) -> Student:
    """Train a student of ``lm`` on teacher rows; return the :class:`Student` (``lm`` is left as it was).

    Args:
        lm: the base :class:`~steervec.core.model.LanguageModel` (same model as the teacher's).
        dataset: :class:`TeacherRow` s or a JSONL path.
        method: :class:`VectorStudent`, :class:`LoRA` or :class:`FullFinetune`.
        config: a :class:`TrainConfig`; ``settings`` override it: any of its fields, or the
            optimiser's settings (``lr=1e-3, momentum=0.9, schedule="cosine"``...).
        callbacks: called with a :class:`CheckpointEvent` every ``checkpoint_every`` steps and at the end.

    Raises:
        NonFiniteLossError: the loss became NaN/inf (the last good checkpoint is kept).

    Example:
        >>> student = train_student(lm, rows, method=VectorStudent(layers=[9]), lr=1e-2)  # doctest: +SKIP
    """
    cfg = TrainConfig.build(config, **settings)
    plan = _plan(lm, dataset, method, cfg)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)
    was_training = lm.model.training
    att = attach_method(lm, method, trainable=True)
    log = None
    try:
        params = list(att.params.values())
        opt = plan.optimizer.build(params)
        start, history = 0, list[dict[str, Any]]()
        if plan.resume is not None:
            start, history = read_checkpoint(plan.resume, plan.args, att, opt)
        log = _open_log(cfg.log_path, history)
        lm.model.train()
        bar = tqdm(total=plan.total, initial=start, disable=not cfg.progress,
                   desc=f"train {method_to_dict(method)['kind']}")
        last_good = plan.resume
        last_loss = history[-1]["loss"] if history else float("nan")
        for step in range(start, plan.total):
            entry = _step(lm, att, opt, params, plan, cfg, step, last_good)
            history.append(entry)
            last_loss = entry["loss"]
            if log is not None:
                log.write(json.dumps(entry) + "\n")
                log.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.4f}", tok_s=f"{entry['tokens_per_s']:.0f}")
            done = step + 1
            if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == plan.total:
                written = None
                if plan.ckpt_dir is not None:
                    written = write_checkpoint(plan.ckpt_dir, done, plan.args, att, opt, history, cfg.keep_checkpoints)
                    last_good = written
                if callbacks:
                    _run_callbacks(callbacks, lm, att, method, done, entry["epoch"], last_loss, written, history)
        bar.close()
        info = {"args": plan.args, "system": describe_system(cfg.system), "steps": plan.total,
                "final_loss": last_loss, "tokens": sum(h["tokens"] for h in history)}
        return Student(method, att.state(), lm.fingerprint, info, history)
    finally:
        if log is not None:
            log.close()
        detach_method(lm, att)
        lm.model.train(was_training)


def _step(lm: LanguageModel, att: Any, opt: torch.optim.Optimizer, params: list[Any], plan: _Plan, cfg: TrainConfig,
          step: int, last_good: Path | None) -> dict[str, Any]:
    """One optimisation step (0-based ``step``); returns its log entry."""
    epoch, b = divmod(step, plan.per_epoch)
    order = torch.randperm(len(plan.rows), generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch))
    idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size].tolist()
    t0 = time.perf_counter()
    groups = [idx] if plan.token_lengths is None else length_groups(idx, plan.token_lengths)
    for g in opt.param_groups:
        g["lr"] = plan.optimizer.lr_at(step, plan.total)
    parts, n_tok, real = [], 0, 0
    for group in groups:
        part, n, r = _group_loss(lm, att, plan, cfg, group)
        parts.append(part)
        n_tok, real = n_tok + n, real + r
    summed = parts[0] if len(parts) == 1 else torch.stack(parts).sum()
    value = float(summed.detach()) / max(n_tok, 1)
    if not math.isfinite(value):
        raise _nan_error(step + 1, value, last_good)
    opt.zero_grad(set_to_none=True)
    grad_norm = 0.0
    if n_tok > 0:
        (summed / n_tok).backward()
        grad_norm = clip_gradients(params, plan.optimizer.grad_clip)
        if not math.isfinite(grad_norm):
            raise _nan_error(step + 1, grad_norm, last_good, "gradient norm")
        opt.step()
    seconds = time.perf_counter() - t0
    return {"step": step + 1, "epoch": epoch, "loss": value, "lr": opt.param_groups[0]["lr"],
            "grad_norm": grad_norm, "tokens": n_tok, "tokens_in": real,
            "seconds": seconds, "tokens_per_s": real / seconds}


def _group_loss(lm: LanguageModel, att: Any, plan: _Plan, cfg: TrainConfig, idx: list[int]) -> tuple[Tensor, int, int]:
    """Summed loss, scored-token count and real-token count of the rows ``idx`` run as one padded batch."""
    rows = [plan.rows[i] for i in idx]
    batch = encode_chat(lm, [r.prompt for r in rows], cfg.system, [r.completion for r in rows])
    target, topk = _targets(batch.response_mask, idx, plan.lengths, plan.masks, plan.topks)
    online = plan.online
    if online is not None and online.positions == "all":
        target = target | (scored_positions(batch, "all") & ~batch.response_mask[:, 1:])
    ctx = torch.autocast(lm.device.type, dtype=torch.bfloat16) if cfg.autocast else contextlib.nullcontext()
    with ctx:
        soft = None if online is None else online_targets(lm, att, online, rows, target, cfg.system)
        summed, n_tok = batch_loss(lm, batch.input_ids, batch.attention_mask, target, topk, soft)
    return summed, n_tok, int(batch.attention_mask.sum())


GROUP_OVERHEAD_TOKENS = 48
"""What one more group in a step costs, in padded tokens of work: :func:`length_groups` splits a batch
only where the padding saved exceeds it. Chosen on SmolLM2-135M, two threads, LoRA r8, 6 steps of
full-size teacher rows timed in one run: overhead 48 took 15.4 s, 16 took 15.9 s, 96 took 16.4 s,
0 (one row per forward) 19.1 s, one padded batch 18.8 s."""


def rendered_lengths(lm: LanguageModel, rows: Sequence[TeacherRow], system: System) -> list[int]:
    """Tokens of each row as the student sees it (template, ``system``, prompt and completion)."""
    out: list[int] = []
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        batch = encode_chat(lm, [r.prompt for r in chunk], system, [r.completion for r in chunk])
        out.extend(int(n) for n in batch.attention_mask.sum(dim=1))
    return out


def length_groups(idx: Sequence[int], lengths: Sequence[int], overhead: int = GROUP_OVERHEAD_TOKENS) -> list[list[int]]:
    """The rows ``idx`` of one step in groups of similar length, each to be padded to its longest row.

    Rows are sorted by length (ties keep their order) and cut where the cost — padded tokens plus
    ``overhead`` per group — is least (an exact split, by dynamic programming over the sorted rows).

    Example:
        >>> length_groups([0, 1, 2, 3], [100, 30, 32, 101])
        [[1, 2], [0, 3]]
        >>> length_groups([0, 1], [100, 96])
        [[1, 0]]
    """
    rows = sorted(idx, key=lambda i: lengths[i])
    k = len(rows)
    best = [0.0] + [math.inf] * k  # best[j]: least cost of the first j sorted rows
    cut = [0] * (k + 1)
    for j in range(1, k + 1):
        for i in range(j):
            cost = best[i] + lengths[rows[j - 1]] * (j - i) + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], k
    while j > 0:
        groups.append(rows[cut[j] : j])
        j = cut[j]
    return groups[::-1]


def _targets(
    response_mask: Tensor, idx: list[int], lengths: list[int], masks: list[Tensor] | None,
    topks: list[tuple[Tensor, Tensor]] | None,
) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
    """Scored positions ``[batch, seq - 1]`` and the matching teacher top-k rows.

    Responses sit at the end of each left-padded row, so the last ``n`` entries of
    ``response_mask[:, 1:]`` score the ``n`` response tokens in order.
    """
    target = response_mask[:, 1:].clone()
    width = target.shape[1]
    ids, lps = [], []
    for j, i in enumerate(idx):
        n = lengths[i]
        if int(response_mask[j].sum()) != n:
            raise SteervecError(f"row {i}: {int(response_mask[j].sum())} response tokens in the batch, expected {n}")
        keep = masks[i].to(target.device) if masks is not None else torch.ones(n, dtype=torch.bool, device=target.device)
        target[j, width - n :] = keep
        if topks is not None:
            ids.append(topks[i][0][keep.cpu()])
            lps.append(topks[i][1][keep.cpu()])
    topk = (torch.cat(ids), torch.cat(lps)) if topks is not None else None
    return target, topk


def _nan_error(step: int, value: float, last: Path | None, what: str = "loss") -> NonFiniteLossError:
    where = f"the last good checkpoint is {last}" if last is not None else "no checkpoint was written"
    return NonFiniteLossError(
        f"training {what} became {value} at step {step}; stopped ({where}). Lower lr, set "
        "grad_clip, or check the data", step, last,
    )


def _open_log(log_path: str | os.PathLike[str] | None, history: list[dict[str, Any]]) -> Any:
    if log_path is None:
        return None
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed at the end of training
    for entry in history:  # a resumed run rewrites the log up to its checkpoint
        handle.write(json.dumps(entry) + "\n")
    return handle


def _run_callbacks(
    callbacks: Sequence[Callback], lm: LanguageModel, att: Any, method: Method, step: int, epoch: int,
    loss: float, written: Path | None, history: list[dict[str, Any]],
) -> None:
    rng = torch.get_rng_state()
    snapshot = Student(method, att.state(), lm.fingerprint, {"steps": step}, list(history))
    lm.model.eval()
    try:
        for callback in callbacks:
            callback(CheckpointEvent(step, epoch, loss, lm, snapshot, written))
    finally:
        lm.model.train()
        torch.set_rng_state(rng)  # callbacks must not change the run
