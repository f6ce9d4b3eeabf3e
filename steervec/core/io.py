"""Atomic file and folder writes: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from steervec.core.errors import OutputPathError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Whatever the body writes to the yielded path only becomes ``path`` when the body
    returns without raising; on error the temporary file is removed and ``path`` is
    left as it was.

    Example:
        >>> with atomic_path("vec.safetensors") as tmp:  # doctest: +SKIP
        ...     save_file(tensors, tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it becomes ``path``.

    An existing ``path`` is replaced only once the new folder is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Make sure a file can later be written at ``path``, before any long work; returns ``path``.

    The nearest folder of ``path`` that exists must be a folder in which a file can be
    created (tried for real, so it also holds for root and read-only mounts); folders
    missing below it are created later by :func:`atomic_path`. Nothing is left behind.

    Raises:
        OutputPathError: naming the folder and the fix.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise OutputPathError(f"{target} is a folder: pass a file name inside it, e.g. {target / 'out'}")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {target}: {folder} is a file, not a folder; choose another path")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputPathError(
            f"cannot write {target}: the folder {folder} is not writable ({exc.strerror}); "
            "choose another path or fix the folder's permissions"
        ) from exc
    return target


def json_sha(obj: Any) -> str:
    """The first 16 hex digits of the SHA-256 of ``obj`` as sorted-key JSON: the content key of
    cached datasets, vectors and students, and of a training run's data (``default=str`` for the rest)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_safetensors(path: str | os.PathLike[str], what: str, fix: str) -> tuple[dict[str, str], dict[str, Any]]:
    """``(metadata, tensors)`` of a safetensors file steervec wrote; a missing file is
    ``FileNotFoundError``, a truncated or foreign one :class:`CorruptFileError` naming ``fix``."""
    from safetensors import SafetensorError, safe_open

    from steervec.core.errors import CorruptFileError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} file at {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptFileError(f"{path} is truncated or not a safetensors file ({exc}); {fix}") from exc
    return meta, tensors
