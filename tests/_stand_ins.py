"""Stand-ins the metric tests share (no training needed)."""

from __future__ import annotations

import contextlib


class ShiftStudent:
    """A stand-in student that adds a fixed steering vector at its layers."""

    def __init__(self, vec):
        self.vec = vec

    @contextlib.contextmanager
    def applied(self, lm):
        with self.vec.apply(lm):
            yield lm
