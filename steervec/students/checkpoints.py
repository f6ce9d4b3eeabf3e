"""Training checkpoints: trainable tensors, optimiser state, RNG state and data position.

A checkpoint is a folder ``step-00000010/`` written atomically (:func:`~steervec.core.io.atomic_dir`)
holding ``trainable.safetensors``, ``optimizer.pt``, ``rng.pt`` and ``state.json`` (the step
— which fixes the data position, since the data order is a function of seed and epoch — the
training arguments and the log so far). A run killed at any moment leaves either the old
or the new checkpoint complete, never half of one.

Example:
    >>> path = latest_checkpoint("runs/owl")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch.optim import Optimizer

from steervec.core.errors import CorruptFileError, SteervecError
from steervec.core.io import atomic_dir

STATE_FILE = "state.json"


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(folder: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("step-*") if p.is_dir() and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(folder: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint in ``folder``, or ``None``."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def write_checkpoint(
    folder: Path, step: int, args: dict[str, Any], attachment: Any, optimizer: Optimizer,
    history: list[dict[str, Any]], keep: int = 2,
) -> Path:
    """Write the checkpoint of ``step`` atomically; keep the newest ``keep`` ones."""
    from safetensors.torch import save_file

    target = folder / checkpoint_name(step)
    with atomic_dir(target) as tmp:
        save_file(attachment.state(), str(tmp / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save({"torch": torch.get_rng_state()}, tmp / "rng.pt")
        state = {"step": step, "args": args, "history": history}
        (tmp / STATE_FILE).write_text(json.dumps(state, default=str))
    for old in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def read_checkpoint(
    path: Path, args: dict[str, Any], attachment: Any, optimizer: Optimizer
) -> tuple[int, list[dict[str, Any]]]:
    """Restore tensors, optimiser and RNG from ``path``; return ``(step, history)``.

    Raises:
        SteervecError: the checkpoint was made with other training arguments.
    """
    from safetensors.torch import load_file

    try:
        state = json.loads((path / STATE_FILE).read_text())
        tensors = load_file(str(path / "trainable.safetensors"))
        opt_state = torch.load(path / "optimizer.pt", weights_only=True)
        rng = torch.load(path / "rng.pt", weights_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise CorruptFileError(f"checkpoint {path} is damaged ({exc}); delete it to restart") from exc
    stored = state["args"]
    differ = sorted(k for k in set(stored) | set(args) if stored.get(k) != args.get(k))
    if differ:
        detail = "; ".join(f"{k}: checkpoint {stored.get(k)!r} vs now {args.get(k)!r}" for k in differ)
        raise SteervecError(
            f"refusing to resume {path}: it was made with other training arguments ({detail}). "
            "Use the same arguments, or another checkpoint_dir for a new run"
        )
    attachment.load_state(tensors)
    optimizer.load_state_dict(opt_state)
    torch.set_rng_state(rng["torch"])
    return int(state["step"]), list(state["history"])
