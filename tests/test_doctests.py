"""Every ``Example:`` in a steervec docstring runs as a doctest (those that need a model or a trained
student are marked ``# doctest: +SKIP`` in the docstring itself, line by line, so what is shown and not
run is visible where it is written)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import steervec

MODULES = sorted(m.name for m in pkgutil.walk_packages(steervec.__path__, "steervec.")
                 if not m.name.endswith("__main__"))


def test_modules_are_found():
    assert len(MODULES) > 40


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=dict(vars(module))):
        if test.lineno is None or getattr(test, "filename", None) is None:
            continue
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} docstring examples failed in {name}"
