"""Exceptions raised by steervec. Each message says what went wrong and how to fix it."""

from __future__ import annotations


class SteervecError(Exception):
    """Base class of steervec's own errors."""


class ModelMismatchError(SteervecError, ValueError):
    """An object (vector, student, dataset) belongs to another model than the one given."""


class MissingPackageError(SteervecError, ImportError):
    """An optional package is not installed; the message gives the install command."""


class CorruptFileError(SteervecError, OSError):
    """A file steervec wrote earlier is truncated or damaged."""


class StatisticsInputError(SteervecError, ValueError):
    """Values given to a statistic cannot support it (too few, not finite, no margin)."""


class ComparisonError(SteervecError, ValueError):
    """Things to compare do not line up (a baseline and its trait, a panel, seeds, layers, labels)."""


class WriterBusyError(SteervecError, RuntimeError):
    """Another process holds the write lock of a dataset, a run folder or a cache entry."""


class InputError(SteervecError, ValueError):
    """An argument has the wrong form (one string where a list of prompts is expected) or lies outside
    its domain (a NaN alpha, a temperature below 0); refused before anything is written."""


class PositionError(InputError):
    """A position spec that cannot be applied (unknown keyword, wrong mask, int out of range)."""


class OutputPathError(SteervecError, OSError):
    """A file cannot be written where it was asked for (the folder is missing a parent, is a file, or read-only)."""
