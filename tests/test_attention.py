"""Tests for softmax_nb.attention: direct, tiled and backward scaled dot-product attention."""

from __future__ import annotations

import doctest
import importlib
import inspect
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_nb import attention, attention_backward, numerical_gradient, tiled_attention
from softmax_nb._checks import ArgumentTypeError

# the package re-exports the function `attention`, which shadows the module attribute
attn_mod = importlib.import_module("softmax_nb.attention")

DTYPES = [np.float16, np.float32, np.float64]
# Tolerance relative to max|v|: float16 results are rounded once from float32,
# float32 and float64 differ from the exact value by a few ulp of summation.
TOL = {np.float16: 2e-3, np.float32: 1e-5, np.float64: 1e-12}


def reference(q, k, v, mask=None, causal=False, scale=None):
    """Direct loop in float64 over queries, independent of the package; zeros for all-masked rows.

    causal: True or "top_left" keeps keys j <= i; "bottom_right" keeps j <= i + n_k - n_q.
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_q, n_k = q.shape[-2], k.shape[-2]
    offset = n_k - n_q if causal == "bottom_right" else 0
    q, k, v = (np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in (q, k, v))
    allowed = np.ones((*batch, n_q, n_k), bool) if mask is None else np.broadcast_to(mask, (*batch, n_q, n_k))
    s = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    out = np.zeros((*batch, n_q, v.shape[-1]))
    for b in np.ndindex(batch):
        for i in range(n_q):
            keys = [j for j in range(n_k) if allowed[b + (i, j)] and (not causal or j <= i + offset)]
            if not keys:
                continue
            scores = np.array([s * float(q[b + (i,)] @ k[b + (j,)]) for j in keys])
            w = np.exp(scores - scores.max())
            out[b + (i,)] = (w / w.sum()) @ v[b][keys]
    return out


def close(actual, expected, dtype, v):
    atol = TOL[dtype] * max(1.0, float(np.max(np.abs(np.asarray(v, np.float64)))))
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=0, atol=atol)


# --------------------------------------------------------------------------- forward
def test_attention_reference_cases():
    v = np.array([[1.0, 0.0], [0.0, 2.0], [4.0, 4.0]])
    # Identical keys: every score is equal, so the output is the mean of V.
    k_same = np.ones((3, 4))
    q = np.random.default_rng(0).normal(size=(2, 4))
    for f in (attention, lambda Q, K, V: tiled_attention(Q, K, V, block_k=2)):
        np.testing.assert_allclose(f(q, k_same, v), np.tile(v.mean(axis=0), (2, 1)), rtol=1e-14)
    # One dominant score (1e4 / sqrt(1) apart): the output is that row of V.
    q1 = np.array([[1.0]])
    k1 = np.array([[-1e4], [0.0], [1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(attention(q1, k1, v), [[4.0, 4.0]])
        np.testing.assert_array_equal(tiled_attention(q1, k1, v, block_k=1), [[4.0, 4.0]])


def test_attention_hand_computed():
    # d_k = 4, so scores are q.k / 2: [0, 1, 2] for the single query.
    q = np.array([[2.0, 0.0, 0.0, 0.0]])
    k = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    v = np.array([[1.0], [10.0], [100.0]])
    w = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    expected = [[w @ v[:, 0]]]
    np.testing.assert_allclose(attention(q, k, v), expected, rtol=1e-15)
    np.testing.assert_allclose(tiled_attention(q, k, v, block_k=2), expected, rtol=1e-14)
    # causal: the single query (i = 0) sees key 0 only; scale=1 doubles the scores.
    np.testing.assert_array_equal(attention(q, k, v, causal=True), [[1.0]])
    w1 = np.exp([0.0, 2.0, 4.0]) / np.exp([0.0, 2.0, 4.0]).sum()
    np.testing.assert_allclose(attention(q, k, v, scale=1.0), [[w1 @ v[:, 0]]], rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_is_kept(dtype):
    # B1: float32 and float16 used to come back as float64.
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=s).astype(dtype) for s in ((3, 5, 4), (3, 6, 4), (3, 6, 2)))
    for f in (attention, tiled_attention):
        out, lse = f(q, k, v, causal=True, return_lse=True)
        assert out.dtype == dtype
        assert lse.dtype == (np.float32 if dtype == np.float16 else dtype)
    dq, dk, dv = attention_backward(np.ones_like(out), q, k, v, out, lse, causal=True)
    assert dq.dtype == dk.dtype == dv.dtype == dtype


def test_mixed_dtypes_promote():
    q = np.ones((2, 3), np.float32)
    assert attention(q, q, q.astype(np.float64)).dtype == np.float64
    assert attention(q.astype(np.float16), q.astype(np.float16), q).dtype == np.float32


@pytest.mark.parametrize("f", [attention, tiled_attention])
def test_float16_scores_do_not_overflow(f):
    # B2: the unscaled q.k = 65536 exceeds the float16 maximum 65504; the scaled score is 8192.
    q = np.full((1, 64), 32.0, np.float16)
    k = np.full((2, 64), 32.0, np.float16)
    v = np.eye(2, dtype=np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(q, k, v)
    np.testing.assert_array_equal(out, [[0.5, 0.5]])
    assert out.dtype == np.float16


def test_float16_uses_float32_accumulators():
    # 4096 keys: a float16 running sum of ~1-sized terms would stall at 2048 and be far off.
    rng = np.random.default_rng(2)
    q = rng.normal(size=(4, 16)).astype(np.float16)
    k = (0.1 * rng.normal(size=(4096, 16))).astype(np.float16)
    v = rng.uniform(0, 1, size=(4096, 3)).astype(np.float16)
    expected = reference(q, k, v)
    for out in (attention(q, k, v), tiled_attention(q, k, v, block_q=2, block_k=300)):
        close(out, expected, np.float16, v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_matches_direct_loop(dtype, causal):
    rng = np.random.default_rng(3)
    q = (2 * rng.normal(size=(2, 3, 7, 5))).astype(dtype)
    k = (2 * rng.normal(size=(2, 1, 9, 5))).astype(dtype)  # shared over heads
    v = rng.normal(size=(9, 4)).astype(dtype)  # shared over everything
    mask = rng.random((3, 7, 9)) < 0.7
    mask[1, 2] = False  # an all-masked row
    expected = reference(q, k, v, mask, causal)
    close(attention(q, k, v, mask=mask, causal=causal), expected, dtype, v)
    close(tiled_attention(q, k, v, mask=mask, causal=causal, block_q=3, block_k=4), expected, dtype, v)


@st.composite
def qkv(draw):
    dtype = draw(st.sampled_from(DTYPES))
    batch = draw(st.sampled_from([(), (2,), (2, 3)]))
    nq, nk, dk, dv = (draw(st.integers(1, n)) for n in (9, 17, 6, 4))
    scale = draw(st.sampled_from([0.1, 1.0, 30.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = (rng.normal(size=(*batch, nq, dk)) * scale).astype(dtype)
    k = (rng.normal(size=(*batch, nk, dk)) * scale).astype(dtype)
    v = rng.normal(size=(*batch, nk, dv)).astype(dtype)
    mask = rng.random((nq, nk)) < draw(st.sampled_from([0.0, 0.3, 1.0])) if draw(st.booleans()) else None
    return q, k, v, mask


@given(qkv(), st.integers(1, 20), st.integers(1, 20), st.booleans())
def test_tiled_attention_matches_direct(args, block_q, block_k, causal):
    q, k, v, mask = args
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        direct, lse_d = attention(q, k, v, mask=mask, causal=causal, return_lse=True)
        tiled, lse_t = tiled_attention(q, k, v, mask=mask, causal=causal, block_q=block_q, block_k=block_k,
                                       return_lse=True)
    assert direct.shape == tiled.shape == (*q.shape[:-1], v.shape[-1])
    assert direct.dtype == tiled.dtype == q.dtype
    assert np.isfinite(direct).all() and np.isfinite(tiled).all()
    close(tiled, np.asarray(direct, np.float64), q.dtype.type, v)
    assert np.array_equal(np.isneginf(lse_d), np.isneginf(lse_t))
    finite = np.isfinite(lse_d)
    np.testing.assert_allclose(lse_t[finite], lse_d[finite], rtol=TOL[q.dtype.type], atol=TOL[q.dtype.type])


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_masked_row_is_zero_not_nan(dtype):
    rng = np.random.default_rng(4)
    q, k, v = (rng.normal(size=s).astype(dtype) for s in ((3, 4), (5, 4), (5, 2)))
    mask = np.ones((3, 5), bool)
    mask[1] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (attention, tiled_attention):
            out, lse = f(q, k, v, mask=mask, return_lse=True)
            np.testing.assert_array_equal(out[1], 0.0)
            assert lse[1] == -np.inf and np.isfinite(lse[[0, 2]]).all()
            np.testing.assert_array_equal(out[[0, 2]], attention(q[[0, 2]], k, v))
        g = rng.normal(size=out.shape).astype(dtype)
        dq, dk, dv = attention_backward(g, q, k, v, out, lse, mask=mask)
    np.testing.assert_array_equal(dq[1], 0.0)
    g2 = g.copy()
    g2[1] = 1000  # the masked row's incoming gradient must not leak into k or v
    dq2, dk2, dv2 = attention_backward(g2, q, k, v, out, lse, mask=mask)
    np.testing.assert_array_equal(dk2, dk)
    np.testing.assert_array_equal(dv2, dv)


def test_causal_equals_lower_triangular_mask():
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(6, 3)), rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    tril = np.tri(6, 8, dtype=bool)  # query i sees keys j <= i
    np.testing.assert_array_equal(attention(q, k, v, causal=True), attention(q, k, v, mask=tril))
    np.testing.assert_allclose(tiled_attention(q, k, v, causal=True, block_q=4, block_k=3),
                               attention(q, k, v, mask=tril), rtol=1e-13)
    # causal combines with mask by logical and
    mask = rng.random((6, 8)) < 0.6
    np.testing.assert_array_equal(attention(q, k, v, mask=mask, causal=True), attention(q, k, v, mask=mask & tril))


def test_causal_skips_tiles_above_the_diagonal(monkeypatch):
    calls = []
    original = attn_mod._masked_scores

    def counting(qs, k, tile):
        calls.append(tile is None)
        return original(qs, k, tile)

    monkeypatch.setattr(attn_mod, "_masked_scores", counting)
    x = np.random.default_rng(6).normal(size=(8, 2))
    tiled_attention(x, x, x, causal=True, block_q=2, block_k=2)
    # 4 x 4 tiles: 6 above the diagonal skipped, 4 on it masked, 6 below it unmasked.
    assert len(calls) == 10 and sum(calls) == 6
    calls.clear()
    tiled_attention(x, x, x, mask=np.zeros((8, 8), bool), block_q=2, block_k=2)
    assert calls == []  # every tile forbidden by the mask is skipped


def test_block_size_is_a_deprecated_alias_of_block_k():
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(5, 3)), rng.normal(size=(11, 3)), rng.normal(size=(11, 2))
    with pytest.warns(DeprecationWarning, match="'block_size' is renamed 'block_k'") as record:
        old = tiled_attention(q, k, v, block_size=4)
    assert record[0].filename == __file__  # the warning points at the caller's line
    np.testing.assert_array_equal(old, tiled_attention(q, k, v, block_k=4))
    with pytest.raises(TypeError, match="got both 'block_k' and its deprecated name 'block_size'"):
        tiled_attention(q, k, v, block_k=4, block_size=4)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="^block_size must be an integer >= 1"):
        tiled_attention(q, k, v, block_size=-1)
    params = inspect.signature(tiled_attention).parameters
    assert "block_size" not in params and params["block_k"].default == 64 and params["block_q"].default == 64


def test_broadcasts_shared_keys():
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(3, 4, 2)), rng.normal(size=(7, 2)), rng.normal(size=(7, 3))
    out = tiled_attention(q, k, v, block_k=3)
    for b in range(3):
        np.testing.assert_allclose(out[b], attention(q[b], k, v), rtol=1e-13)


# --------------------------------------------------------------------------- backward
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("blocks", [(1, 1), (2, 3), (64, 64)])
def test_backward_matches_central_differences(causal, blocks):
    rng = np.random.default_rng(8)
    q, k, v = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 6, 4))
    mask = rng.random((5, 6)) < 0.8
    mask[3] = False
    g = rng.normal(size=(2, 5, 4))

    def loss(qq, kk, vv):
        return float(np.sum(g * attention(qq, kk, vv, mask=mask, causal=causal)))

    out, lse = tiled_attention(q, k, v, mask=mask, causal=causal, return_lse=True)
    dq, dk, dv = attention_backward(g, q, k, v, out, lse, mask=mask, causal=causal,
                                    block_q=blocks[0], block_k=blocks[1])
    np.testing.assert_allclose(dq, numerical_gradient(lambda x: loss(x, k, v), q), atol=1e-8)
    np.testing.assert_allclose(dk, numerical_gradient(lambda x: loss(q, x, v), k), atol=1e-8)
    np.testing.assert_allclose(dv, numerical_gradient(lambda x: loss(q, k, x), v), atol=1e-8)


def test_backward_sums_over_broadcast_axes():
    rng = np.random.default_rng(9)
    q, k, v = rng.normal(size=(3, 4, 2)), rng.normal(size=(1, 5, 2)), rng.normal(size=(5, 3))
    g = rng.normal(size=(3, 4, 3))
    out, lse = attention(q, k, v, return_lse=True)
    dq, dk, dv = attention_backward(g, q, k, v, out, lse)
    assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == v.shape
    kb = np.broadcast_to(k, (3, 5, 2)).copy()
    vb = np.broadcast_to(v, (3, 5, 3)).copy()
    _, dkb, dvb = attention_backward(g, q, kb, vb, out, lse)
    np.testing.assert_allclose(dk, dkb.sum(axis=0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(dv, dvb.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_torch_sdpa_forward_and_backward(dtype, causal):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(10)
    q, k, v = (rng.normal(size=s).astype(dtype) for s in ((2, 3, 9, 8), (2, 3, 11, 8), (2, 3, 11, 5)))
    mask = rng.random((9, 11)) < 0.7
    mask[:, 0] = True
    mask[4] = False  # an all-masked row: torch 2.13 also returns 0 there, with zero gradients
    g = rng.normal(size=(2, 3, 9, 5)).astype(dtype)
    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    mt = torch.tensor(mask & np.tri(9, 11, dtype=bool)) if causal else torch.tensor(mask)
    ot = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt, scale=0.4)
    ot.backward(torch.tensor(g))
    out, lse = tiled_attention(q, k, v, mask=mask, causal=causal, scale=0.4, block_q=4, block_k=3, return_lse=True)
    dq, dk, dv = attention_backward(g, q, k, v, out, lse, mask=mask, causal=causal, scale=0.4, block_q=5, block_k=2)
    rtol, atol = (1e-12, 1e-12) if dtype == np.float64 else (1e-4, 1e-5)
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=rtol, atol=atol)
    for mine, ref in ((dq, qt.grad), (dk, kt.grad), (dv, vt.grad)):
        np.testing.assert_allclose(mine, ref.numpy(), rtol=rtol, atol=atol)
    if causal:  # torch's own is_causal flag: same alignment (query i sees keys j <= i)
        ot2 = F.scaled_dot_product_attention(qt, kt, vt, is_causal=True)
        np.testing.assert_allclose(attention(q, k, v, causal=True), ot2.detach().numpy(), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("shapes, match", [
    (((2, 3), (4, 2), (4, 1)), "same feature size"),
    (((2, 3), (4, 3), (5, 1)), "same number of keys"),
    (((2, 3), (0, 3), (0, 1)), "at least one key"),
    (((2, 0), (4, 0), (4, 1)), "d_k >= 1"),
    (((3,), (4, 3), (4, 1)), "q must have at least 2 dimensions"),
    (((2, 2, 3), (3, 4, 3), (4, 1)), "must broadcast"),
])
def test_attention_bad_shapes(shapes, match):
    q, k, v = (np.ones(s) for s in shapes)
    for f in (attention, tiled_attention):
        with pytest.raises(ValueError, match=match):
            f(q, k, v)


def test_attention_bad_values_and_arguments():
    q, k, v = np.ones((2, 3)), np.ones((4, 3)), np.ones((4, 1))
    k_bad = k.copy()
    k_bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="k must contain only finite numbers"):
        tiled_attention(q, k_bad, v)
    with pytest.raises(ValueError, match="v must contain only finite numbers"):
        attention(q, k, np.full((4, 1), np.inf))
    for bad in ({"block_q": 0}, {"block_k": 1.5}):
        with pytest.raises(ValueError, match="must be an integer >= 1"):
            tiled_attention(q, k, v, **bad)
    for f in (attention, tiled_attention):
        with pytest.raises(ValueError, match="mask must be boolean"):
            f(q, k, v, mask=np.zeros((2, 4)))
        with pytest.raises(ValueError, match="mask must broadcast"):
            f(q, k, v, mask=np.ones((3, 4), bool))
        with pytest.raises(ValueError, match="mask must broadcast"):
            f(q, k, v, mask=np.ones((5, 2, 4), bool))  # would add a batch axis the output does not have
        for scale in (0.0, -1.0, np.inf, np.nan):
            with pytest.raises(ValueError, match="^scale must be a finite number > 0"):
                f(q, k, v, scale=scale)
        for scale in ("a", "0.5", True, np.bool_(True), [0.5], 1j):  # R15: a numeric string is a type error
            with pytest.raises(ArgumentTypeError, match="^scale must be a finite number > 0"):
                f(q, k, v, scale=scale)
        for causal in ("yes", "lower_right", "TOP_LEFT", ""):
            with pytest.raises(ValueError, match="^causal must be False, True, 'top_left' or 'bottom_right'") as e:
                f(q, k, v, causal=causal)
            assert not isinstance(e.value, TypeError)  # a string of the right type with a wrong value
        for causal in (1, 0, None, 1.0, ["top_left"]):
            with pytest.raises(ArgumentTypeError, match="^causal must be False, True, 'top_left' or 'bottom_right'"):
                f(q, k, v, causal=causal)
        with pytest.raises(ArgumentTypeError, match="^return_lse must be True or False"):
            f(q, k, v, return_lse="yes")
        with pytest.raises(ArgumentTypeError, match="^mask must be boolean"):
            f(q, k, v, mask=np.ones((2, 4), np.int64))
    with pytest.raises(TypeError):
        tiled_attention(q, k, v, 4)  # block sizes are keyword-only, so an old positional call fails loudly


def test_backward_bad_arguments():
    q, k, v = np.ones((2, 3)), np.ones((4, 3)), np.ones((4, 1))
    out, lse = attention(q, k, v, return_lse=True)
    with pytest.raises(ValueError, match="grad_out must have the output's shape"):
        attention_backward(np.ones((2, 2)), q, k, v, out, lse)
    with pytest.raises(ValueError, match="lse must have shape"):
        attention_backward(np.ones((2, 1)), q, k, v, out, lse[:1])
    with pytest.raises(ValueError, match="lse must be finite or -inf"):
        attention_backward(np.ones((2, 1)), q, k, v, out, np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="grad_out must contain only finite"):
        attention_backward(np.full((2, 1), np.nan), q, k, v, out, lse)


# --------------------------------------------------------------------------- causal alignment for KV caches (R6)
ALIGN_SHAPES = [(1, 6), (2, 6), (4, 9), (6, 6), (7, 3)]


@pytest.mark.parametrize("n_q, n_k", ALIGN_SHAPES)
def test_causal_alignments_are_shifted_lower_triangles(n_q, n_k):
    rng = np.random.default_rng(11)
    q, k, v = rng.normal(size=(2, n_q, 3)), rng.normal(size=(2, n_k, 3)), rng.normal(size=(2, n_k, 2))
    mask = rng.random((n_q, n_k)) < 0.8
    top_left, bottom_right = np.tri(n_q, n_k, dtype=bool), np.tri(n_q, n_k, n_k - n_q, dtype=bool)
    for causal, tri in ((True, top_left), ("top_left", top_left), ("bottom_right", bottom_right)):
        expected = reference(q, k, v, mask & tri)
        np.testing.assert_allclose(attention(q, k, v, mask=mask, causal=causal), expected, rtol=0, atol=1e-13)
        np.testing.assert_array_equal(attention(q, k, v, mask=mask, causal=causal), attention(q, k, v, mask=mask & tri))
        np.testing.assert_allclose(reference(q, k, v, mask, causal), expected, rtol=0, atol=1e-15)
        for bq, bk in ((1, 1), (2, 3), (3, 2), (64, 64)):
            np.testing.assert_allclose(tiled_attention(q, k, v, mask=mask, causal=causal, block_q=bq, block_k=bk),
                                       expected, rtol=0, atol=1e-13)
    if n_q == n_k:  # the two alignments agree on a square
        np.testing.assert_array_equal(attention(q, k, v, causal="bottom_right"), attention(q, k, v, causal=True))


def _prefill(n=9, seed=12):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2, n, 4)), rng.normal(size=(2, n, 4)), rng.normal(size=(2, n, 3))


def test_decode_step_and_chunked_prefill_equal_rows_of_the_full_prefill():
    # R6: the queries of a decode step or a prefill chunk are the *last* positions of the cached keys.
    q, k, v = _prefill()
    n = q.shape[-2]
    full, lse_full = attention(q, k, v, causal=True, return_lse=True)
    step = attention(q[:, -1:], k, v, causal="bottom_right")
    np.testing.assert_allclose(step, full[:, -1:], rtol=1e-14, atol=1e-15)
    # top-left alignment (torch's is_causal) lets the single query see key 0 only: the trap of R6
    np.testing.assert_array_equal(attention(q[:, -1:], k, v, causal=True), v[:, :1])
    for c0, c1 in ((0, 3), (3, 5), (5, 9), (8, 9)):
        rows = slice(c0, c1)
        for f in (attention, lambda *a, **kw: tiled_attention(*a, block_q=2, block_k=3, **kw),
                  lambda *a, **kw: tiled_attention(*a, block_q=1, block_k=1, **kw),
                  lambda *a, **kw: tiled_attention(*a, block_q=64, block_k=4, **kw)):
            out, lse = f(q[:, rows], k[:, :c1], v[:, :c1], causal="bottom_right", return_lse=True)
            np.testing.assert_allclose(out, full[:, rows], rtol=1e-13, atol=1e-14)
            np.testing.assert_allclose(lse, lse_full[:, rows], rtol=1e-14, atol=1e-14)
    assert n == 9


@pytest.mark.parametrize("c0, c1", [(8, 9), (3, 6), (0, 4)])
def test_backward_of_a_chunk_equals_those_rows_of_the_full_backward(c0, c1):
    q, k, v = _prefill(seed=13)
    g = np.random.default_rng(14).normal(size=(2, 9, 3))
    g_chunk = np.zeros_like(g)
    g_chunk[:, c0:c1] = g[:, c0:c1]  # the loss depends on the chunk's rows only
    out, lse = attention(q, k, v, causal=True, return_lse=True)
    dq, dk, dv = attention_backward(g_chunk, q, k, v, out, lse, causal=True)
    qc, kc, vc = q[:, c0:c1], k[:, :c1], v[:, :c1]
    out_c, lse_c = tiled_attention(qc, kc, vc, causal="bottom_right", block_q=2, block_k=2, return_lse=True)
    for bq, bk in ((1, 1), (2, 3), (64, 64)):
        dqc, dkc, dvc = attention_backward(g[:, c0:c1], qc, kc, vc, out_c, lse_c, causal="bottom_right",
                                           block_q=bq, block_k=bk)
        np.testing.assert_allclose(dqc, dq[:, c0:c1], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(dkc, dk[:, :c1], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(dvc, dv[:, :c1], rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(dk[:, c1:], 0.0)  # later keys are invisible to the chunk


def test_bottom_right_with_more_queries_than_keys_gives_empty_first_rows():
    rng = np.random.default_rng(15)
    q, k, v = rng.normal(size=(7, 3)), rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    g = rng.normal(size=(7, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (attention, lambda *a, **kw: tiled_attention(*a, block_q=2, block_k=2, **kw)):
            out, lse = f(q, k, v, causal="bottom_right", return_lse=True)
            np.testing.assert_array_equal(out[:4], 0.0)
            np.testing.assert_array_equal(lse[:4], -np.inf)
            np.testing.assert_allclose(out[4:], reference(q, k, v, causal="bottom_right")[4:], rtol=0, atol=1e-14)
            dq, dk, dv = attention_backward(g, q, k, v, out, lse, causal="bottom_right", block_q=3, block_k=2)
            np.testing.assert_array_equal(dq[:4], 0.0)


def test_causal_tile_skipping_for_both_alignments(monkeypatch):
    calls = []
    original = attn_mod._masked_scores

    def counting(qs, k, tile):
        calls.append(tile is None)
        return original(qs, k, tile)

    monkeypatch.setattr(attn_mod, "_masked_scores", counting)
    rng = np.random.default_rng(16)
    x8, x4 = rng.normal(size=(8, 2)), rng.normal(size=(4, 2))
    # 4 queries, 8 keys, offset 4, 2 x 2 tiles: row block 0 sees key blocks 0-2 (the third straddles the diagonal),
    # row block 1 all four (the last straddles it).
    out = tiled_attention(x4, x8, x8, causal="bottom_right", block_q=2, block_k=2)
    assert len(calls) == 7 and sum(calls) == 5
    np.testing.assert_allclose(out, reference(x4, x8, x8, causal="bottom_right"), rtol=0, atol=1e-14)
    calls.clear()
    # 8 queries, 4 keys, offset -4: row blocks 0 and 1 see nothing and visit no tile; block 2 one tile, block 3 two.
    out = tiled_attention(x8, x4, x4, causal="bottom_right", block_q=2, block_k=2)
    assert len(calls) == 3 and sum(calls) == 1
    np.testing.assert_allclose(out, reference(x8, x4, x4, causal="bottom_right"), rtol=0, atol=1e-14)
    calls.clear()
    g = rng.normal(size=(8, 2))
    o, lse = attention(x8, x4, x4, causal="bottom_right", return_lse=True)
    calls.clear()
    attention_backward(g, x8, x4, x4, o, lse, causal="bottom_right", block_q=2, block_k=2)
    assert len(calls) == 3 and sum(calls) == 1  # the backward pass skips the same tiles


@pytest.mark.parametrize("n_q, n_k", [(1, 7), (3, 7), (7, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bottom_right_matches_torch_causal_lower_right(n_q, n_k, dtype):
    torch = pytest.importorskip("torch")
    from torch.nn.attention.bias import causal_lower_right

    F = torch.nn.functional
    rng = np.random.default_rng(17)
    q, k, v = (rng.normal(size=s).astype(dtype) for s in ((2, 3, n_q, 8), (2, 3, n_k, 8), (2, 3, n_k, 5)))
    g = rng.normal(size=(2, 3, n_q, 5)).astype(dtype)
    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    ot = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=causal_lower_right(n_q, n_k), scale=0.4)
    ot.backward(torch.tensor(g))
    out, lse = tiled_attention(q, k, v, causal="bottom_right", scale=0.4, block_q=2, block_k=3, return_lse=True)
    dq, dk, dv = attention_backward(g, q, k, v, out, lse, causal="bottom_right", scale=0.4, block_q=2, block_k=2)
    rtol, atol = (1e-12, 1e-12) if dtype == np.float64 else (1e-4, 1e-5)
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(attention(q, k, v, causal="bottom_right", scale=0.4), ot.detach().numpy(),
                               rtol=rtol, atol=atol)
    for mine, ref in ((dq, qt.grad), (dk, kt.grad), (dv, vt.grad)):
        np.testing.assert_allclose(mine, ref.numpy(), rtol=rtol, atol=atol)
    # with an explicit mask as well: torch's materialised lower-right mask, and-ed with ours
    mask = rng.random((n_q, n_k)) < 0.7
    mask[:, 0] = True
    mt = torch.tensor(mask) & causal_lower_right(n_q, n_k)._materialize()
    ot2 = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt)
    np.testing.assert_allclose(attention(q, k, v, mask=mask, causal="bottom_right"), ot2.detach().numpy(),
                               rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- overflowing scores (R13)
@pytest.mark.parametrize("dtype, big", [(np.float32, 1e20), (np.float64, 1e200)])
def test_overflowing_scores_raise_naming_q_and_k(dtype, big):
    # R13: finite q and k whose scaled scores overflow gave [[nan]] and three RuntimeWarnings.
    q, k = np.array([[big]], dtype), np.array([[big], [1.0]], dtype)
    v = np.array([[1.0], [2.0]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (attention, tiled_attention):
            with pytest.raises(ValueError, match=r"^the scores scale \* q @ k\.T overflow .* although q and k"):
                f(q, k, v, scale=1.0)
        # inf - inf inside the dot product gives NaN, not inf
        with pytest.raises(ValueError, match="although q and k are finite"):
            attention(np.array([[big, big]], dtype), np.array([[big, -big]], dtype), v[:1], scale=1.0)
        with pytest.raises(ValueError, match="although q and k are finite"):
            attention_backward(v[:1], q, k, v, v[:1], np.zeros(1, dtype), scale=1.0)


@pytest.mark.parametrize("dtype, big", [(np.float32, 1e20), (np.float64, 1e200)])
def test_scores_overflowing_to_minus_inf(dtype, big):
    v = np.array([[1.0], [2.0]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # one score overflows to -inf, the other is finite: weight 0 is its exact limit
        for f in (attention, tiled_attention):
            out, lse = f(np.array([[big]], dtype), np.array([[-big], [1.0]], dtype), v, scale=1.0, return_lse=True)
            np.testing.assert_array_equal(out, [[2.0]])
            assert lse[0] == dtype(big)
            # every allowed score overflows to -inf: not an empty row, so an error rather than a silent 0
            with pytest.raises(ValueError, match="although q and k are finite"):
                f(np.array([[big]], dtype), np.array([[-big], [-2 * big]], dtype), v, scale=1.0)
            # ... but a row that is masked as well is empty, as always
            out = f(np.array([[big]], dtype), np.array([[-big], [-2 * big]], dtype), v, scale=1.0,
                    mask=np.zeros((1, 2), bool))
            np.testing.assert_array_equal(out, 0.0)


def test_a_positive_score_that_blas_overflows_to_minus_inf_raises():
    # make fuzz: 0.5e300 * -3.6e8 overflows to -inf before (-1e300) * (-3.6e8) = +3.6e308 is added, and the
    # matrix product returned -inf for a score whose exact value is +1.8e308: the key was silently dropped
    # (lse 0, the output of the other key). Both products overflow, so it must raise.
    q, k = np.array([[0.5, -1.0], [0.5, 0.5]]), np.array([[0.0, 0.0], [-3.59538627e8, -3.59538627e8]])
    v = np.array([[1.0], [2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (attention, tiled_attention):
            with pytest.raises(ValueError, match="although q and k are finite"):
                f(q, k, v, scale=1e300)
        # a score that really is below -1.8e308 keeps weight 0
        out, lse = attention(np.array([[0.5, 1.0]]), k, v, scale=1e300, return_lse=True)
        np.testing.assert_array_equal(out, [[1.0]])
        assert lse[0] == 0.0


def test_float32_backward_that_overflows_on_the_way_is_computed_in_float64():
    # make fuzz: G = (6e-8, 1, 6e-8), a v of 3e38 and a k of 6.7e35 overflow float32 in dS K. The headroom
    # 2^-126 that the largest entries needed rounded the small entries of G to 0, and dq came back 0.0
    # instead of its exact 2.7e66 (beyond float32: a ValueError). In float64 nothing overflows.
    q = np.zeros((1, 1), np.float32)
    k = np.array([[6.687832e35], [0.0], [0.0]], np.float32)
    v = np.zeros((3, 3), np.float32)
    v[0, 0] = 3.0058758e38
    g = np.array([[5.9604645e-08, 1.0, 5.9604645e-08]], np.float32)
    out, lse = attention(q, k, v, return_lse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^the gradient dq overflows float32"):
            attention_backward(g, q, k, v, out, lse, block_q=1, block_k=1)
        # keys 0 and 1 of 1e8: dS_0 k_0 = 4e38 overflows float32 in the tile loop, dS_0 k_0 + dS_1 k_1 = 2e38
        # does not. The float64 result, rounded once
        k2 = np.array([[1e8], [1e8], [0.0]], np.float32)
        out, lse = attention(q, k2, v, return_lse=True)
        dq, dk, dv = attention_backward(g, q, k2, v, out, lse, block_q=1, block_k=1)
    p = np.full(3, np.exp(-float(lse[0])))  # the probabilities from the lse passed in, as the backward does
    g64, v64, k64 = g.astype(np.float64)[0], v.astype(np.float64), k2.astype(np.float64)
    ds = p * (v64 @ g64 - g64 @ out.astype(np.float64)[0])
    assert dq.dtype == np.float32 and ds[0] * k64[0, 0] > 3.5e38
    assert abs(float(dq[0, 0]) / (ds @ k64[:, 0]) - 1) <= 2.0**-24 * (1 + 1e-9)  # float64, rounded once
    np.testing.assert_allclose(dv, np.outer(p, g64).astype(np.float32), rtol=1e-7)


def test_scores_of_pm_1e308_do_not_warn():
    # R13: the right answer, but "overflow encountered in subtract" escaped from s - m.
    q, k, v = np.array([[1.0]]), np.array([[1e308], [-1e308]]), np.array([[1.0], [2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (attention, lambda *a, **kw: tiled_attention(*a, block_k=1, **kw)):
            out, lse = f(q, k, v, scale=1.0, return_lse=True)
            np.testing.assert_array_equal(out, [[1.0]])
            assert lse[0] == 1e308
        dq, dk, dv = attention_backward(np.ones((1, 1)), q, k, v, out, lse, scale=1.0, block_k=1)
    np.testing.assert_array_equal(dv, [[1.0], [0.0]])
    assert np.isfinite(dq).all() and np.isfinite(dk).all()


def test_scale_times_q_overflow_raises():
    q = np.full((1, 2), 1e30, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^scale \* q overflows float32"):
            attention(q, q, q, scale=1e10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_near_the_maximum_do_not_overflow(dtype):
    # A sum of two values of 1e308 overflowed before the division by the row sum: inf came back.
    big = float(np.finfo(dtype).max)
    q, k = np.zeros((2, 1), dtype), np.zeros((3, 1), dtype)
    v = np.array([[big, -big, 1.0], [big, -big, 2.0], [big, big, 3.0]], dtype)
    expected = np.array([[big, -big / 3, 2.0]] * 2, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (attention, lambda *a, **kw: tiled_attention(*a, block_k=2, **kw)):
            out = f(q, k, v)
            assert np.isfinite(out).all()
            np.testing.assert_allclose(out, expected, rtol=4 * np.finfo(dtype).eps)
            np.testing.assert_array_equal(out[:, 0], big)


def test_lse_has_the_batch_shape_when_only_v_has_batch_axes():
    # attention returned lse of shape (n_q,) for v of shape (3, n_k, d_v), which attention_backward then refused.
    rng = np.random.default_rng(18)
    q, k, v = rng.normal(size=(4, 2)), rng.normal(size=(5, 2)), rng.normal(size=(3, 5, 1))
    g = rng.normal(size=(3, 4, 1))
    for f in (attention, tiled_attention):
        out, lse = f(q, k, v, return_lse=True)
        assert out.shape == (3, 4, 1) and lse.shape == (3, 4)
        dq, dk, dv = attention_backward(g, q, k, v, out, lse)
        qb, kb = np.broadcast_to(q, (3, 4, 2)).copy(), np.broadcast_to(k, (3, 5, 2)).copy()
        dqb, dkb, dvb = attention_backward(g, qb, kb, v, out, lse)
        np.testing.assert_allclose(dq, dqb.sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(dk, dkb.sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(dv, dvb, rtol=1e-12)


# --------------------------------------------------------------------------- structure, signatures
def test_no_duplicated_helpers_and_no_private_imports():
    for name in ("_check_bool", "_safe", "_rescale", "_dtypes"):
        assert not hasattr(attn_mod, name), name
    assert not hasattr(importlib.import_module("softmax_nb.streaming"), "_finite_or_zero")


def test_backward_validates_q_k_v_once(monkeypatch):
    calls = []
    original = attn_mod._as_qkv
    monkeypatch.setattr(attn_mod, "_as_qkv", lambda *a: calls.append(1) or original(*a))
    q = np.random.default_rng(19).normal(size=(3, 2))
    out, lse = attention(q, q, q, return_lse=True)
    calls.clear()
    attention_backward(np.ones((3, 2)), q, q, q, out, lse)
    assert len(calls) == 1


def test_tiled_attention_folds_tiles_into_an_attention_state(monkeypatch):
    from softmax_nb.streaming import AttentionState

    calls = []
    original = AttentionState._update
    monkeypatch.setattr(AttentionState, "_update", lambda self, *a: calls.append(1) or original(self, *a))
    x = np.random.default_rng(20).normal(size=(6, 2))
    tiled_attention(x, x, x, block_q=3, block_k=2)
    assert len(calls) == 2 * 3
    calls.clear()
    attention(x, x, x)
    assert len(calls) == 1


def test_options_are_keyword_only_with_a_deprecation_for_old_positional_calls():
    for f in (attention, tiled_attention):
        params = inspect.signature(f).parameters
        assert [p for p, par in params.items() if par.kind is not par.KEYWORD_ONLY] == ["q", "k", "v"]
    rng = np.random.default_rng(21)
    q, k, v = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), rng.normal(size=(4, 1))
    mask = rng.random((3, 4)) < 0.7
    with pytest.warns(DeprecationWarning, match=r"passing mask, causal, scale to attention\(\) positionally") as rec:
        old = attention(q, k, v, mask, True, 0.5)
    assert rec[0].filename == __file__
    np.testing.assert_array_equal(old, attention(q, k, v, mask=mask, causal=True, scale=0.5))
    with pytest.warns(DeprecationWarning, match=r"passing mask to attention\(\) positionally"):
        np.testing.assert_array_equal(attention(q, k, v, mask), attention(q, k, v, mask=mask))
    with pytest.raises(TypeError, match="multiple values for argument 'mask'"):
        attention(q, k, v, mask, mask=mask)
    with pytest.raises(TypeError):
        tiled_attention(q, k, v, 4)  # tiled_attention's options were always keyword-only


def test_attention_docstring_examples():
    with np.printoptions(legacy=False):
        result = doctest.testmod(attn_mod, extraglobs={"np": np},
                                 optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 6


# --------------------------------------------------------------------------- overflow of the backward pass (ATT3, ATT4)
def _backward_ref(g, q, k, v, scale):
    """The gradients written out in float64 from the definition (one batch element, no mask)."""
    q, k, v, g = (np.asarray(a, np.float64) for a in (q, k, v, g))
    s = q @ k.T * scale
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    dp = g @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return scale * ds @ k, scale * ds.T @ q, p.T @ g


def test_backward_with_grad_out_times_values_beyond_the_dtype():
    """ATT3: G * O and G V^T overflow float32 although every gradient is finite: grad_out is scaled by 2^-k."""
    rng = np.random.default_rng(3)
    q, k = (rng.normal(size=(3, 2)) * 1e-3).astype(np.float32), (rng.normal(size=(4, 2)) * 1e-3).astype(np.float32)
    v = (rng.uniform(-1, 1, size=(4, 2)) * 3e38).astype(np.float32)
    g = rng.uniform(-1e-37, 1e-37, size=(3, 2)).astype(np.float32)
    g[0, 0] = 4.0  # |G| |O| up to 1e39; tiny q and k keep dq and dk (about 1e36) finite
    out, lse = attention(q, k, v, return_lse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = attention_backward(g, q, k, v, out, lse, block_k=3)
    want = _backward_ref(g, q, k, v, 1 / math.sqrt(2))
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a.astype(np.float64), b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


@pytest.mark.parametrize("case", ["float16 dq", "float64 grad_out"])
def test_backward_gradient_beyond_the_dtype_of_its_array_is_refused(case):
    """ATT3: the exact gradient does not fit the dtype of q (float16 -65540) or v (float32 3.5e38)."""
    if case == "float16 dq":
        q, k, v = np.zeros((1, 1), np.float16), np.float16([[0.0], [32768.0]]), np.float16([[8.0], [0.0]])
        out, lse = attention(q, k, v, return_lse=True)
        g, match = np.ones((1, 1), np.float16), r"^the gradient dq overflows float16 \(the dtype of q\)"
    else:
        q = k = v = out = np.zeros((1, 1), np.float32)
        lse, g, match = np.zeros(1, np.float32), np.array([[3.5e38]]), r"^the gradient dv overflows float32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            attention_backward(g, q, k, v, out, lse)


def test_scale_beyond_float32_with_zero_queries():
    """ATT4: scale = 1e300 rounds to inf in float32; s * q is taken in float64, so q = 0 gives scores 0."""
    q = k = np.zeros((1, 2), np.float32)
    v = np.float32([[1.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, lse = attention(q, k, v, scale=1e300, return_lse=True)
        assert out.dtype == np.float32 and out.tolist() == [[1.0, 3.0]] and lse.tolist() == [0.0]
        dq, dk, dv = attention_backward(np.ones((1, 2), np.float32), q, k, v, out, lse, scale=1e300)
        assert dq.tolist() == [[0.0, 0.0]] and dk.tolist() == [[0.0, 0.0]] and dv.tolist() == [[1.0, 1.0]]
        with pytest.raises(ValueError, match=r"^scale \* q overflows float32"):
            attention(np.ones((1, 2), np.float32), k, v, scale=1e300)


def test_backward_with_an_empty_batch():
    """ATT1: q of shape (0, n_q, d) gives an empty dq and zero dk, dv (no query contributes)."""
    q = np.zeros((0, 2, 2))
    k = v = np.ones((3, 2))
    dq, dk, dv = attention_backward(q, q, k, v, q, np.zeros((0, 2)), block_q=1, block_k=2)
    assert dq.shape == q.shape and dk.tolist() == np.zeros((3, 2)).tolist() and dv.tolist() == dk.tolist()


@pytest.mark.parametrize("fn", [attention, tiled_attention])
def test_rows_with_no_key_stay_zero_on_the_headroom_path(fn):
    """ATT5: values near the maximum take the headroom path; a row that sees no key is still exactly 0."""
    v = np.array([[1.7e308, -3.0], [1.0e308, -1.7e308]])
    q, k = np.zeros((3, 1)), np.zeros((2, 1))
    out = fn(q, k, v, causal="bottom_right")
    assert out[0].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(out[1:], reference(q, k, v, causal="bottom_right")[1:], rtol=1e-14)


def test_backward_headroom_keeps_grad_out_entries_it_would_round_to_zero():
    # G V^T overflows for the first query, so the gradients are computed again with G scaled by 2^-k; a
    # subnormal entry of G must not be rounded away by that scale (found by tests/properties, ATT6)
    q, k = np.array([[1.0], [1.0]]), np.array([[0.0], [0.0]])
    v = np.array([[8.98846567e307], [0.0]])
    g = np.array([[2.0], [5e-324]])
    o, lse = attention(q, k, v, causal=True, return_lse=True)
    dq, dk, dv = attention_backward(g, q, k, v, o, lse, causal=True, block_q=1, block_k=1)
    quarter = 0.25 * (5e-324 * 8.98846567e307)  # dS of query 1: P (dP - D) = (1/2)(G1 V0 - G1 V0 / 2), exact
    assert quarter > 1e-16
    np.testing.assert_array_equal(dk, [[quarter], [-quarter]])
    np.testing.assert_array_equal(dv, [[2.0], [0.0]])  # P^T G: G1 / 2 is half the smallest subnormal, rounds to 0
    np.testing.assert_array_equal(dq, [[0.0], [0.0]])  # k = 0
