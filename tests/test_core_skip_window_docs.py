"""The documented no-shift window of softmax_nb.softmax (module table and docstring of core)."""

from __future__ import annotations

import math

import numpy as np

import softmax_nb as snb
from softmax_nb import core


def test_module_table_states_the_window_bound_for_ten_classes():
    for dtype, stated in [(np.float32, "84.0"), (np.float64, "705.1")]:
        bound = -math.log(float(np.finfo(dtype).tiny)) - math.log(10) - 1
        assert f"{bound:.1f}" == stated
        assert f"{stated} in {np.dtype(dtype).name}" in " ".join(core.__doc__.split())


def test_softmax_docstring_says_a_negative_maximum_is_shifted():
    doc = " ".join(snb.softmax.__doc__.split())
    assert "A row with a negative maximum is always shifted" in doc
    # and that is what it does: a float32 row with max < 0 gets the shifted formula's bits
    z = (np.random.default_rng(3).standard_normal(10) - 5.0).astype(np.float32) * 40
    assert z.max() < 0
    e = np.exp(z - z.max())
    assert snb.softmax(z).tobytes() == (e / np.add.reduce(e)).tobytes()
