"""Tests for softmax_nb.attention: direct, tiled and backward scaled dot-product attention."""

from __future__ import annotations

import importlib
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_nb import attention, attention_backward, numerical_gradient, tiled_attention

# the package re-exports the function `attention`, which shadows the module attribute
attn_mod = importlib.import_module("softmax_nb.attention")

DTYPES = [np.float16, np.float32, np.float64]
# Tolerance relative to max|v|: float16 results are rounded once from float32,
# float32 and float64 differ from the exact value by a few ulp of summation.
TOL = {np.float16: 2e-3, np.float32: 1e-5, np.float64: 1e-12}


def reference(q, k, v, mask=None, causal=False, scale=None):
    """Direct loop in float64 over queries, independent of the package; zeros for all-masked rows."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_q, n_k = q.shape[-2], k.shape[-2]
    q, k, v = (np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in (q, k, v))
    allowed = np.ones((*batch, n_q, n_k), bool) if mask is None else np.broadcast_to(mask, (*batch, n_q, n_k))
    s = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    out = np.zeros((*batch, n_q, v.shape[-1]))
    for b in np.ndindex(batch):
        for i in range(n_q):
            keys = [j for j in range(n_k) if allowed[b + (i, j)] and (not causal or j <= i)]
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


def test_block_size_is_an_alias_of_block_k():
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(5, 3)), rng.normal(size=(11, 3)), rng.normal(size=(11, 2))
    np.testing.assert_array_equal(tiled_attention(q, k, v, block_size=4), tiled_attention(q, k, v, block_k=4))
    with pytest.raises(ValueError, match="not both"):
        tiled_attention(q, k, v, block_k=4, block_size=4)


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
    for bad in ({"block_q": 0}, {"block_k": 1.5}, {"block_size": -1}):
        with pytest.raises(ValueError, match="must be an integer >= 1"):
            tiled_attention(q, k, v, **bad)
    for f in (attention, tiled_attention):
        with pytest.raises(ValueError, match="mask must be boolean"):
            f(q, k, v, mask=np.zeros((2, 4)))
        with pytest.raises(ValueError, match="mask must broadcast"):
            f(q, k, v, mask=np.ones((3, 4), bool))
        with pytest.raises(ValueError, match="mask must broadcast"):
            f(q, k, v, mask=np.ones((5, 2, 4), bool))  # would add a batch axis the output does not have
        for scale in (0.0, -1.0, np.inf, "a", True):
            with pytest.raises(ValueError, match="scale must be a finite number > 0"):
                f(q, k, v, scale=scale)
        with pytest.raises(ValueError, match="causal must be True or False"):
            f(q, k, v, causal="yes")
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
