"""Run the examples in the docstrings of every softmax_nb module (doctests are part of `make unit`).

`pytest tests` does not collect doctests from the package, and `--doctest-modules`
only applies to the paths given on the command line, so this test runs
:func:`doctest.testmod` on each module. One test per module keeps a failure
attributable.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import softmax_nb

MODULES = sorted(m.name for m in pkgutil.iter_modules(softmax_nb.__path__, "softmax_nb."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    with np.printoptions(legacy=False):
        result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                                 verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"


def test_the_core_modules_have_examples():
    # Guards against the collection silently finding nothing.
    counts = {}
    finder = doctest.DocTestFinder()
    for name in ("softmax_nb.core", "softmax_nb.streaming", "softmax_nb.alternatives", "softmax_nb.numerics"):
        tests = finder.find(importlib.import_module(name))
        counts[name] = sum(len(t.examples) for t in tests)
    assert all(n > 0 for n in counts.values()), counts
