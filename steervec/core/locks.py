"""One writer at a time: an exclusive ``fcntl.flock`` on ``<path>.lock`` while a file or folder is written.

The lock belongs to the open file, so the operating system releases it when the holder
exits or crashes — a stale lock file never blocks anyone. The holder writes its pid, host
and start time into the lock file so that a refused writer can say who holds it. On a
clean release the lock file is removed; a writer that locked a file just unlinked by the
previous holder notices (its inode is no longer the path's) and locks the new one.

Example:
    >>> with exclusive_lock(Path("owl.jsonl"), "dataset"):  # doctest: +SKIP
    ...     append_rows(...)
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from steervec.core.errors import WriterBusyError


def lock_path(target: str | os.PathLike[str]) -> Path:
    """The lock file of ``target``: ``<target>.lock`` beside it."""
    target = Path(target)
    return target.with_name(target.name + ".lock")


def _holder(fd: int) -> str:
    """Who holds the lock, as written into the lock file by the holder."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "a process that has not yet recorded itself"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}, since {info.get('started', '?')}"


def _acquire(path: Path, wait: bool) -> int:
    """Open and lock ``path``; retry when the locked inode was unlinked meanwhile."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise WriterBusyError(holder) from None
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)  # the previous holder removed this file while we waited: lock the new one


@contextlib.contextmanager
def exclusive_lock(target: str | os.PathLike[str], what: str, wait: bool = False) -> Iterator[Path]:
    """Hold the exclusive write lock of ``target`` inside the block.

    Args:
        target: the file or folder about to be written (the lock is ``<target>.lock``).
        what: what ``target`` is, for the error message ("dataset", "run folder", ...).
        wait: block until the lock is free instead of refusing at once.

    Raises:
        WriterBusyError: ``wait`` is False and another process (or another open of the
            lock in this process) holds it; the message names the holder and the fix.
    """
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = _acquire(path, wait)
    except WriterBusyError as exc:
        raise WriterBusyError(
            f"{what} {target} is being written by another process ({exc}): wait for that process to "
            f"finish (or stop it), then run again; a crashed holder releases the lock by itself, "
            f"so {path.name} never needs deleting"
        ) from None
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)
