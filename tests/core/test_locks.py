"""One writer at a time: the lock names its holder, is refused to a second writer, and dies with its holder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from steervec.core.errors import WriterBusyError
from steervec.core.locks import exclusive_lock, lock_path


def test_second_writer_is_refused_with_the_holder_and_the_fix(tmp_path):
    target = tmp_path / "data.jsonl"
    with exclusive_lock(target, "dataset") as path:
        assert path == lock_path(target) == tmp_path / "data.jsonl.lock"
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["started"].endswith("+00:00")
        refused = rf"dataset {target} is being written by another process \(pid {os.getpid()} on .*, since .*\): wait"
        with pytest.raises(WriterBusyError, match=refused), exclusive_lock(target, "dataset"):
            pass  # pragma: no cover
        assert json.loads(path.read_text()) == holder  # the refused writer changed nothing
    assert not lock_path(target).exists()
    with exclusive_lock(target, "dataset"):  # free again
        pass


def test_a_crashed_holder_releases_the_lock(tmp_path):
    target = tmp_path / "run"
    code = ("import os, signal, sys; from steervec.core.locks import exclusive_lock\n"
            f"with exclusive_lock({str(target)!r}, 'run folder'):\n"
            "    print('locked', flush=True); os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == -signal.SIGKILL and proc.stdout == "locked\n"
    assert lock_path(target).exists()  # the file stays behind, the lock does not
    with exclusive_lock(target, "run folder"):
        assert json.loads(lock_path(target).read_text())["pid"] == os.getpid()


def test_waiting_writer_gets_the_lock_after_the_holder(tmp_path):
    target = tmp_path / "cache"
    order = []
    with exclusive_lock(target, "model cache"):
        waiter = threading.Thread(target=lambda: _take(target, order))
        waiter.start()
        time.sleep(0.2)
        order.append("holder done")
    waiter.join(10)
    assert order == ["holder done", "waiter"]


def _take(target, order):
    with exclusive_lock(target, "model cache", wait=True):
        order.append("waiter")
