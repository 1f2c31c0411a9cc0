"""Tests for merging attention over key blocks: softmax_nb.merge_attention and streaming.AttentionState."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_nb.attention import attention, merge_attention, tiled_attention
from softmax_nb.streaming import AttentionState
from softmax_nb._checks import ArgumentTypeError

DTYPES = [np.float16, np.float32, np.float64]
TOL = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 1e-13}


def direct(q, k, v, mask):
    """float64 loop over queries: (out, lse) of attention over the allowed keys; (0, -inf) for none."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    n_q = q.shape[0]
    out, lse = np.zeros((n_q, v.shape[1])), np.full(n_q, -np.inf)
    for i in range(n_q):
        keys = np.flatnonzero(mask[i])
        if keys.size:
            s = np.array([float(q[i] @ k[j]) / math.sqrt(q.shape[1]) for j in keys])
            m = s.max()
            w = np.exp(s - m)
            out[i], lse[i] = (w / w.sum()) @ v[keys], m + math.log(w.sum())
    return out, lse


def split(n_k, cuts):
    bounds = [0, *sorted(set(cuts)), n_k]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


@st.composite
def split_k(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n_q, n_k, d_k, d_v = (draw(st.integers(1, n)) for n in (6, 40, 5, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([0.5, 3.0, 20.0]))
    q = (spread * rng.normal(size=(n_q, d_k))).astype(dtype)
    k = (spread * rng.normal(size=(n_k, d_k))).astype(dtype)
    v = rng.normal(size=(n_k, d_v)).astype(dtype)
    mask = rng.random((n_q, n_k)) < draw(st.sampled_from([0.1, 0.6, 1.0]))
    if draw(st.booleans()):
        mask[0] = False  # a row that attends to nothing in any block
    blocks = split(n_k, draw(st.lists(st.integers(1, max(1, n_k - 1)), max_size=6)))
    return q, k, v, mask, blocks


@given(split_k(), st.randoms(use_true_random=False))
def test_merge_of_split_k_blocks_equals_attention_over_all_keys(case, rnd):
    q, k, v, mask, blocks = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts = [attention(q, k[b], v[b], mask=mask[:, b], return_lse=True) for b in blocks]
        out, lse = merge_attention([p[0] for p in parts], [p[1] for p in parts])
        full, lse_full = attention(q, k, v, mask=mask, return_lse=True)
        rnd.shuffle(parts)
        out_perm, lse_perm = merge_attention([p[0] for p in parts], [p[1] for p in parts])
    dt = q.dtype.type
    assert out.dtype == q.dtype and lse.dtype == (np.float32 if dt == np.float16 else dt)
    ref_out, ref_lse = direct(q, k, v, mask)
    # exp(s - m) carries a relative error of about |s - m| u: the bound grows with the scores' size
    scores = q.astype(float) @ np.swapaxes(k.astype(float), -1, -2) / np.sqrt(q.shape[-1])
    s_max = float(np.abs(scores).max()) if scores.size else 0.0
    for o, L in ((out, lse), (out_perm, lse_perm)):
        atol = TOL[dt] * max(1.0, float(np.abs(v.astype(float)).max())) * max(1.0, 2 * s_max)
        np.testing.assert_allclose(o.astype(float), ref_out, rtol=0, atol=atol)
        np.testing.assert_allclose(o.astype(float), full.astype(float), rtol=0, atol=atol)
        assert np.array_equal(np.isneginf(L), np.isneginf(ref_lse))
        seen = np.isfinite(ref_lse)
        np.testing.assert_allclose(L[seen], ref_lse[seen], rtol=TOL[dt], atol=TOL[dt])
        np.testing.assert_allclose(L[seen], lse_full[seen], rtol=TOL[dt], atol=TOL[dt])
        np.testing.assert_array_equal(o[~seen], 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_block_is_returned_unchanged(dtype):
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=s).astype(dtype) for s in ((3, 4), (5, 4), (5, 2)))
    mask = np.ones((3, 5), bool)
    mask[1] = False
    o, L = attention(q, k, v, mask=mask, return_lse=True)
    out, lse = merge_attention([o], [L])
    np.testing.assert_array_equal(out, o)
    np.testing.assert_array_equal(lse, L)
    assert out.dtype == o.dtype and lse.dtype == L.dtype


def test_two_blocks_merge_exactly_commutatively_and_blocks_of_different_lengths():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(2, 3, 8)), rng.normal(size=(2, 50, 8)), rng.normal(size=(2, 50, 3))
    a = attention(q, k[:, :7], v[:, :7], return_lse=True)
    b = attention(q, k[:, 7:], v[:, 7:], return_lse=True)
    ab, ba = merge_attention([a[0], b[0]], [a[1], b[1]]), merge_attention([b[0], a[0]], [b[1], a[1]])
    np.testing.assert_array_equal(ab[0], ba[0])
    np.testing.assert_array_equal(ab[1], ba[1])
    full = attention(q, k, v, return_lse=True)
    np.testing.assert_allclose(ab[0], full[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ab[1], full[1], rtol=1e-14)


def test_empty_blocks_contribute_nothing_whatever_their_output():
    o1, o2 = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[123.0, -5.0], [7.0, 8.0]])
    l1, l2 = np.array([0.5, -np.inf]), np.array([-np.inf, -np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, lse = merge_attention([o1, o2], [l1, l2])
    np.testing.assert_array_equal(out, [[1.0, 2.0], [0.0, 0.0]])  # row 1: every block empty -> 0, -inf
    np.testing.assert_array_equal(lse, [0.5, -np.inf])


def test_hand_computed_merge():
    # L = log(e^0 + e^{log 3}) = log 4; O = (1 * o1 + 3 * o2) / 4
    out, lse = merge_attention([np.array([[4.0]]), np.array([[8.0]])], [np.array([0.0]), np.array([math.log(3)])])
    np.testing.assert_allclose(out, [[7.0]], rtol=1e-15)
    np.testing.assert_allclose(lse, [math.log(4)], rtol=1e-15)


def test_extreme_lses_and_outputs_do_not_warn_or_overflow():
    big = float(np.finfo(np.float64).max)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, lse = merge_attention([np.array([[1.0]]), np.array([[2.0]])], [np.array([1e308]), np.array([-1e308])])
        np.testing.assert_array_equal(out, [[1.0]])
        assert lse[0] == 1e308
        # three blocks of outputs at the dtype's maximum, equal weights: the sum 3 * max must not overflow
        out, lse = merge_attention([np.array([[big, -big]])] * 3, [np.zeros(1)] * 3)
        np.testing.assert_array_equal(out, [[big, -big]])
        np.testing.assert_allclose(lse, [math.log(3)], rtol=1e-15)


def test_half_precision_is_computed_in_float32_and_rounded_once():
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(size=s) for s in ((8, 16), (600, 16), (600, 4)))
    parts = [attention(q.astype(np.float16), k[c:c + 200].astype(np.float16), v[c:c + 200].astype(np.float16),
                       return_lse=True) for c in (0, 200, 400)]
    out, lse = merge_attention(*zip(*parts))
    assert out.dtype == np.float16 and lse.dtype == np.float32
    wide = merge_attention([p[0].astype(np.float64) for p in parts], [p[1].astype(np.float64) for p in parts])
    # one rounding to float16 of a float32 result: within one float16 ulp of the float64 merge
    np.testing.assert_allclose(out.astype(float), wide[0], rtol=0, atol=2.0 ** -10 * np.abs(wide[0]).max())
    np.testing.assert_allclose(lse, wide[1], rtol=4e-7)


def test_stacked_arrays_and_tuples_are_sequences_of_blocks():
    rng = np.random.default_rng(3)
    outs, lses = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2))
    a = merge_attention(outs, lses)
    b = merge_attention(tuple(outs), list(lses))
    np.testing.assert_array_equal(a[0], b[0])
    ref_l = np.logaddexp.reduce(lses, axis=0)
    np.testing.assert_allclose(a[1], ref_l, rtol=1e-15)
    np.testing.assert_allclose(a[0], np.sum(np.exp(lses - ref_l)[..., None] * outs, axis=0), rtol=1e-14)


@pytest.mark.parametrize("outputs, lses, exc, match", [
    ([], [], ValueError, "^outputs and lses must hold at least one key block"),
    ([np.zeros((2, 3))], [np.zeros(2), np.zeros(2)], ValueError, "^outputs and lses must have the same length"),
    ([np.zeros((2, 3)), np.zeros((3, 3))], [np.zeros(2), np.zeros(3)], ValueError,
     r"^outputs\[1\] has shape \(3, 3\), but outputs\[0\] has shape \(2, 3\)"),
    ([np.zeros((2, 3))], [np.zeros(3)], ValueError, r"^lses\[0\] must have shape \(2,\)"),
    ([np.zeros((2, 3)), np.full((2, 3), np.nan)], [np.zeros(2)] * 2, ValueError,
     r"^outputs\[1\] must contain only finite numbers"),
    ([np.zeros((2, 3))], [np.array([0.0, np.inf])], ValueError, r"^lses\[0\] must contain real numbers or -inf"),
    ([np.zeros((2, 3))], [np.array([np.nan, 0.0])], ValueError, r"^lses\[0\] must contain real numbers or -inf"),
    ([np.float64(1.0)], [np.zeros(())], ValueError, r"^outputs\[0\] must have at least one dimension"),
    ("abc", [np.zeros(2)], ArgumentTypeError, "^outputs must be a sequence of arrays"),
    ([np.zeros((2, 3))], 3.0, ArgumentTypeError, "^lses must be a sequence of arrays"),
    ([np.zeros((2, 3))], [np.array(["a", "b"])], ArgumentTypeError, r"^lses\[0\] must be numeric"),
])
def test_merge_attention_bad_input(outputs, lses, exc, match):
    with pytest.raises(exc, match=match):
        merge_attention(outputs, lses)


# --------------------------------------------------------------------------- AttentionState
def test_attention_state_update_and_merge_equal_attention():
    rng = np.random.default_rng(4)
    s, v = rng.normal(size=(2, 3, 10)) * 4, rng.normal(size=(10, 2))
    s[0, 1, :6] = -np.inf  # masked keys, and a row that sees nothing in the first block
    whole = AttentionState().update(s, v)
    chained = AttentionState().update(s[..., :6], v[:6]).update(s[..., 6:], v[6:])
    parts = [AttentionState().update(s[..., c], v[c]) for c in (slice(0, 3), slice(3, 6), slice(6, 10))]
    merged = parts[2].merge(parts[0], parts[1])
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    expected = (w / w.sum(axis=-1, keepdims=True)) @ v
    for st_ in (whole, chained, merged):
        np.testing.assert_allclose(st_.output, expected, rtol=1e-13)
        np.testing.assert_allclose(st_.logsumexp, np.log(np.exp(s).sum(axis=-1)), rtol=1e-14)
    assert parts[0].merge(parts[1]) == parts[1].merge(parts[0])
    assert whole.merge(AttentionState()) == whole == AttentionState().merge(whole)


def test_attention_state_empty_rows_and_fresh_state():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        st_ = AttentionState().update(np.full((2, 3), -np.inf), np.ones((3, 4)))
        np.testing.assert_array_equal(st_.output, np.zeros((2, 4)))
        np.testing.assert_array_equal(st_.logsumexp, [-np.inf, -np.inf])
        assert AttentionState().logsumexp == -np.inf
        np.testing.assert_array_equal(AttentionState().output, 0.0)


def test_attention_state_float16_is_accumulated_in_float32():
    st_ = AttentionState().update(np.zeros((1, 4096), np.float16), np.ones((4096, 1), np.float16))
    assert st_.d.dtype == np.float32 and st_.o.dtype == np.float32
    assert float(st_.d[0]) == 4096.0  # a float16 sum of ones would stall at 2048


@pytest.mark.parametrize("kwargs, match", [
    ({"m": 0.0, "d": 1.0, "o": np.nan}, "o must be finite"),
    ({"m": np.zeros(2), "d": np.ones(2), "o": np.zeros((3, 1))}, r"o must have shape rows \+ \(d_v,\)"),
    ({"m": np.array([0.0, -np.inf]), "d": np.array([1.0, 0.0]), "o": np.ones((2, 1))}, "must have o = 0"),
    ({"m": 0.0, "d": 0.0, "o": 0.0}, "inconsistent state"),
])
def test_attention_state_rejects_inconsistent_states(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AttentionState(**kwargs)


def test_attention_state_bad_updates_and_merges():
    st_ = AttentionState().update(np.zeros((2, 3)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"^values must have shape \(\.\.\., n, d_v\) with n = 3"):
        AttentionState().update(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="^scores contains NaN"):
        AttentionState().update(np.array([[0.0, np.nan]]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"^scores contains \+inf"):
        AttentionState().update(np.array([[0.0, np.inf]]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="^values must contain only finite numbers"):
        AttentionState().update(np.zeros((1, 2)), np.array([[np.inf], [0.0]]))
    with pytest.raises(ValueError, match="^scores has rows of shape"):
        st_.update(np.zeros((3, 1)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="^values have d_v = 2 columns, but the state holds 4"):
        st_.update(np.zeros((2, 1)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="must broadcast to those of scores"):
        AttentionState().update(np.zeros((2, 3)), np.zeros((5, 3, 4)))
    with pytest.raises(ArgumentTypeError, match="^other must be an AttentionState, got SoftmaxAccumulator"):
        from softmax_nb import SoftmaxAccumulator
        st_.merge(SoftmaxAccumulator())
    with pytest.raises(ValueError, match=r"^others\[1\] has rows of shape"):
        st_.merge(st_, AttentionState().update(np.zeros((1, 3)), np.zeros((3, 4))))
    with pytest.raises(TypeError):
        hash(st_)
    assert (st_ == "state") is False


def test_tiled_attention_lse_merges_like_attention():
    # tiled_attention's (out, lse) are as good as attention's for merging
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(5, 4)), rng.normal(size=(30, 4)), rng.normal(size=(30, 2))
    parts = [tiled_attention(q, k[c:c + 10], v[c:c + 10], block_q=2, block_k=3, return_lse=True)
             for c in (0, 10, 20)]
    out, lse = merge_attention(*zip(*parts))
    full, lse_full = attention(q, k, v, return_lse=True)
    np.testing.assert_allclose(out, full, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lse, lse_full, rtol=1e-14)
