"""Tests for softmax_nb.attention: direct and tiled scaled dot-product attention."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from softmax_nb import attention, tiled_attention

# --------------------------------------------------------------------------- attention
def test_attention_reference_cases():
    v = np.array([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
    # Identical keys: every score is equal, so the output is the mean of V.
    k_same = np.ones((3, 4))
    q = np.random.default_rng(0).normal(size=(2, 4))
    for f in (attention, lambda Q, K, V: tiled_attention(Q, K, V, block_size=2)):
        np.testing.assert_allclose(f(q, k_same, v), np.tile(v.mean(axis=0), (2, 1)), rtol=1e-14)
    # One dominant score (1e4 / sqrt(1) apart): the output is that row of V.
    q1 = np.array([[1.0]])
    k1 = np.array([[-1e4], [0.0], [1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(attention(q1, k1, v), [[4.0, 4.0]])
        np.testing.assert_array_equal(tiled_attention(q1, k1, v, block_size=1), [[4.0, 4.0]])


def test_attention_hand_computed():
    # d_k = 4, so scores are q.k / 2: [0, 1, 2] for the single query.
    q = np.array([[2.0, 0.0, 0.0, 0.0]])
    k = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    v = np.array([[1.0], [10.0], [100.0]])
    w = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    expected = [[w @ v[:, 0]]]
    np.testing.assert_allclose(attention(q, k, v), expected, rtol=1e-15)
    np.testing.assert_allclose(tiled_attention(q, k, v, 2), expected, rtol=1e-14)


@st.composite
def qkv(draw):
    batch = draw(st.sampled_from([(), (2,), (2, 3)]))
    nq, nk, dk, dv = (draw(st.integers(1, n)) for n in (5, 17, 6, 4))
    scale = draw(st.sampled_from([0.1, 1.0, 30.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.normal(size=(*batch, nq, dk)) * scale, rng.normal(size=(*batch, nk, dk)) * scale,
            rng.normal(size=(*batch, nk, dv)))


@given(qkv(), st.integers(1, 20))
def test_tiled_attention_matches_direct(args, block_size):
    q, k, v = args
    direct = attention(q, k, v)
    assert direct.shape == (*q.shape[:-1], v.shape[-1])
    np.testing.assert_allclose(tiled_attention(q, k, v, block_size), direct, rtol=1e-11, atol=1e-12)


def test_tiled_attention_broadcasts_shared_keys():
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(3, 4, 2)), rng.normal(size=(7, 2)), rng.normal(size=(7, 3))
    out = tiled_attention(q, k, v, 3)
    for b in range(3):
        np.testing.assert_allclose(out[b], attention(q[b], k, v), rtol=1e-13)


@pytest.mark.parametrize("shapes, match", [
    (((2, 3), (4, 2), (4, 1)), "same feature size"),
    (((2, 3), (4, 3), (5, 1)), "same number of keys"),
    (((2, 3), (0, 3), (0, 1)), "at least one key"),
    (((3,), (4, 3), (4, 1)), "Q must have at least 2 dimensions"),
])
def test_attention_bad_shapes(shapes, match):
    q, k, v = (np.ones(s) for s in shapes)
    for f in (attention, tiled_attention):
        with pytest.raises(ValueError, match=match):
            f(q, k, v)


def test_attention_bad_values_and_block_size():
    q, k, v = np.ones((2, 3)), np.ones((4, 3)), np.ones((4, 1))
    k_bad = k.copy()
    k_bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="K must contain only finite numbers"):
        tiled_attention(q, k_bad, v)
    with pytest.raises(ValueError, match="V must contain only finite numbers"):
        attention(q, k, np.full((4, 1), np.inf))
    with pytest.raises(ValueError, match="block_size must be an integer >= 1"):
        tiled_attention(q, k, v, block_size=0)
