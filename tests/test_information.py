"""Tests for softmax_nb.information beyond those in test_losses.py: the half-precision rule (bug B2)."""

from __future__ import annotations

import math

import numpy as np

import softmax_nb as snb


def test_kl_divergence_of_float16_is_computed_in_float32():
    # B2: computed in float16, the two p log p terms cancelled to 1.22e-4 (exact 4.833e-4)
    p, q = np.float16([0.3, 0.7]), np.float16([0.31, 0.69])
    exact = sum(float(a) * math.log(float(a) / float(b)) for a, b in zip(p, q))
    out = snb.kl_divergence(p, q)
    assert isinstance(out, np.float16)
    assert abs(float(out) - exact) <= 2 * 2.0**-11 * exact
    # an integer p (float64) with a float16 q: a float64 result with float64 accuracy, not float16's (0.69336)
    out = snb.kl_divergence(np.array([1]), np.float16([0.5]))
    assert isinstance(out, np.float64) and out == math.log(2.0)


def test_entropy_of_float16_is_rounded_once():
    # B2: -p log p in float16 rounds three times: 0.2346 instead of the correctly rounded 0.2347
    p = np.float16([0.7227])
    exact = -float(p[0]) * math.log(float(p[0]))
    out = snb.entropy(p)
    assert isinstance(out, np.float16) and out == np.float16(exact)
    rows = snb.entropy(np.float16([[0.25, 0.75], [0.5, 0.5]]))
    assert rows.dtype == np.float16
    np.testing.assert_array_equal(rows, np.float16([-0.25 * math.log(0.25) - 0.75 * math.log(0.75), math.log(2)]))
