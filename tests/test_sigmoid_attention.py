"""Tests for sigmoid_attention and linear_attention (softmax_nb.attention): attention without the softmax."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from softmax_nb import linear_attention, sigmoid_attention
from softmax_nb._checks import ArgumentTypeError

DTYPES = [np.float16, np.float32, np.float64]
# tolerance relative to n_k * max|v| (sigmoid) or max|v| (linear, a convex combination)
TOL = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 1e-13}
CAUSAL = [False, True, "top_left", "bottom_right"]


def _allowed(i, j, n_q, n_k, causal):
    if causal in (True, "top_left"):
        return j <= i
    if causal == "bottom_right":
        return j <= i + n_k - n_q
    return True


def sigmoid_reference(q, k, v, bias=None, mask=None, causal=False, scale=None):
    """A direct float64 loop over batch, queries and keys, written from the definition."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_q, n_k = q.shape[-2], k.shape[-2]
    q, k, v = (np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in (q, k, v))
    b = np.broadcast_to(-math.log(n_k) if bias is None else np.asarray(bias, np.float64), (*batch, n_q, n_k))
    m = np.ones((*batch, n_q, n_k), bool) if mask is None else np.broadcast_to(mask, (*batch, n_q, n_k))
    s = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    out = np.zeros((*batch, n_q, v.shape[-1]))
    for idx in np.ndindex(batch):
        for i in range(n_q):
            for j in range(n_k):
                if m[idx + (i, j)] and _allowed(i, j, n_q, n_k, causal) and b[idx + (i, j)] > -np.inf:
                    x = s * float(q[idx + (i,)] @ k[idx + (j,)]) + b[idx + (i, j)]
                    out[idx + (i,)] += v[idx + (j,)] / (1 + math.exp(-x))
    return out


def linear_reference(q, k, v, causal=False, phi=None):
    """The quadratic form phi(Q) phi(K)^T V, normalised row by row, in a float64 loop."""
    phi = phi or (lambda x: np.where(x > 0, x + 1, np.exp(np.minimum(x, 0))))
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_q, n_k = q.shape[-2], k.shape[-2]
    q, k, v = (np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in (q, k, v))
    out = np.zeros((*batch, n_q, v.shape[-1]))
    for idx in np.ndindex(batch):
        fq, fk = phi(q[idx]), phi(k[idx])
        for i in range(n_q):
            w = np.array([float(fq[i] @ fk[j]) if _allowed(i, j, n_q, n_k, causal) else 0.0
                          for j in range(n_k)])
            if w.sum() > 0:
                out[idx + (i,)] = w @ v[idx] / w.sum()
    return out


def _qkv(seed=0, shapes=((2, 5, 4), (2, 7, 4), (2, 7, 3)), dtype=np.float64):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=s).astype(dtype) for s in shapes)


# --------------------------------------------------------------------------- sigmoid attention
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", CAUSAL)
def test_sigmoid_matches_direct_loop(dtype, causal):
    q, k, v = _qkv(1, dtype=dtype)
    mask = np.random.default_rng(2).random((5, 7)) < 0.7
    for kw in ({}, {"bias": 0.5}, {"bias": np.linspace(-3, 1, 7)}, {"mask": mask, "scale": 0.3}):
        out = sigmoid_attention(q, k, v, causal=causal, **kw)
        assert out.dtype == dtype and out.shape == (2, 5, 3)
        expected = sigmoid_reference(q, k, v, causal=causal, **kw)
        atol = TOL[dtype] * 7 * float(np.abs(v.astype(np.float64)).max())
        np.testing.assert_allclose(out.astype(np.float64), expected, rtol=0, atol=atol)


def test_sigmoid_hand_computed_and_default_bias():
    # d_k = 1, scale 1: scores q.k = [0, 1, 2]; the default bias is -log 3
    q, k, v = np.array([[1.0]]), np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [10.0], [100.0]])
    sig = 1 / (1 + np.exp(-(np.array([0.0, 1.0, 2.0]) - math.log(3))))
    np.testing.assert_allclose(sigmoid_attention(q, k, v), [[sig @ v[:, 0]]], rtol=1e-15)
    assert sigmoid_attention(q, k, v).tolist() == sigmoid_attention(q, k, v, bias=-math.log(3)).tolist()
    # bottom_right with one query: it sees all keys; top_left: key 0 only, sigma(0 - log 3) = 1/4
    np.testing.assert_allclose(sigmoid_attention(q, k, v, causal="bottom_right"), sigmoid_attention(q, k, v))
    np.testing.assert_allclose(sigmoid_attention(q, k, v, causal=True), [[0.25]], rtol=1e-15)


def test_sigmoid_bias_minus_inf_masks_keys_and_an_empty_row_is_zero():
    q, k, v = _qkv(3)
    bias = np.zeros((5, 7))
    bias[:, 2] = -np.inf
    mask = np.ones((5, 7), bool)
    mask[:, 2] = False
    np.testing.assert_array_equal(sigmoid_attention(q, k, v, bias=bias), sigmoid_attention(q, k, v, bias=0.0,
                                                                                           mask=mask))
    mask[1] = False
    out = sigmoid_attention(q, k, v, mask=mask)
    assert (out[:, 1] == 0).all() and np.isfinite(out).all()
    assert (sigmoid_attention(q, k, v, bias=-np.inf) == 0).all()


def test_sigmoid_float16_is_computed_in_float32_and_rounded_once():
    q, k, v = _qkv(4, dtype=np.float16)
    out = sigmoid_attention(q, k, v, causal=True)
    once = sigmoid_attention(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), causal=True)
    np.testing.assert_array_equal(out, once.astype(np.float16))
    # float16 scores that would overflow in float16 (32 * 32 * 64 > 65504) are finite in float32
    q16, k16 = np.full((1, 64), 32.0, np.float16), np.full((2, 64), 32.0, np.float16)
    np.testing.assert_array_equal(sigmoid_attention(q16, k16, np.eye(2, dtype=np.float16), scale=1.0), [[1, 1]])


def test_sigmoid_float32_stays_float32_with_python_float_options():
    q, k, v = _qkv(5, dtype=np.float32)
    assert sigmoid_attention(q, k, v, bias=-1.0, scale=0.5).dtype == np.float32
    assert sigmoid_attention(q, k, v, bias=np.zeros(7)).dtype == np.float32  # a float64 bias does not promote


def test_sigmoid_broadcasts_shared_keys_and_per_head_bias():
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(size=(3, 4, 2)), rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    bias = np.array([-1.0, 0.0, 2.0])[:, None, None]  # one bias per head
    out = sigmoid_attention(q, k, v, bias=bias)
    for h in range(3):
        np.testing.assert_allclose(out[h], sigmoid_attention(q[h], k, v, bias=float(bias[h, 0, 0])), rtol=1e-14)


def test_sigmoid_matches_torch():
    torch = pytest.importorskip("torch", reason="torch parity needs torch (requirements-torch.txt)")
    for dtype, tol in ((np.float64, 1e-13), (np.float32, 1e-5)):
        q, k, v = _qkv(7, shapes=((2, 3, 9, 8), (2, 1, 11, 8), (2, 1, 11, 4)), dtype=dtype)
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
        s, b = 1 / math.sqrt(8), -math.log(11)
        expected = torch.sigmoid(tq @ tk.mT * s + b) @ tv
        np.testing.assert_allclose(sigmoid_attention(q, k, v), expected.numpy(), rtol=tol, atol=tol)
        lower_right = torch.ones(9, 11, dtype=torch.bool).tril(diagonal=11 - 9)
        expected = (torch.sigmoid(tq @ tk.mT * s + b) * lower_right) @ tv
        np.testing.assert_allclose(sigmoid_attention(q, k, v, causal="bottom_right"), expected.numpy(),
                                   rtol=tol, atol=tol)


def test_sigmoid_row_sums_grow_without_the_bias():
    # Ramapuram et al.: with b = 0 the weights of n equal scores sum to n sigma(0) = n / 2; with -log n, to 1/2
    for n in (10, 1000):
        k, v = np.zeros((n, 1)), np.ones((n, 1))
        assert sigmoid_attention(np.zeros((1, 1)), k, v, bias=0.0)[0, 0] == pytest.approx(n / 2, rel=1e-12)
        assert sigmoid_attention(np.zeros((1, 1)), k, v)[0, 0] == pytest.approx(n / (n + 1), rel=1e-12)


@pytest.mark.parametrize("bias, kind, match", [
    (np.nan, ValueError, r"^bias must be a real number or -inf \(weight 0\), got nan$"),
    (np.inf, ValueError, r"^bias must be a real number or -inf"),
    ([0.0, np.nan, 0.0, 0.0, 0.0, 0.0, 0.0], ValueError, r"^bias must contain real numbers or -inf"),
    (np.zeros(6), ValueError, r"^bias must broadcast to \(\.\.\., n_q, n_k\) = \(2, 5, 7\), got shape \(6,\)$"),
    (np.zeros((3, 5, 7)), ValueError, r"^bias must broadcast to"),
    (True, ArgumentTypeError, r"^bias must be None \(for -log n_k\), a real number or an array"),
    (np.ones(7, bool), ArgumentTypeError, r"^bias must be .*; to mask keys, pass mask=$"),
    ([True] * 7, ArgumentTypeError, r"^bias must be .*got bools; to mask keys, pass mask=$"),
    ("0.5", ArgumentTypeError, r"^bias must be None .*, got str '0.5'$"),
    (1j, ArgumentTypeError, r"^bias must be None"),
])
def test_sigmoid_bad_bias(bias, kind, match):
    q, k, v = _qkv(8)
    with pytest.raises(kind, match=match):
        sigmoid_attention(q, k, v, bias=bias)


def test_sigmoid_bad_arguments_as_attention():
    q, k, v = _qkv(9)
    with pytest.raises(ValueError, match="^causal must be"):
        sigmoid_attention(q, k, v, causal="top_right")
    with pytest.raises(ArgumentTypeError, match="^mask must be boolean"):
        sigmoid_attention(q, k, v, mask=np.ones((5, 7)))
    with pytest.raises(ValueError, match="^scale must be"):
        sigmoid_attention(q, k, v, scale=0.0)
    with pytest.raises(ValueError, match="^k and v must have the same number of keys"):
        sigmoid_attention(q, k, v[:, :3])
    with pytest.raises(ValueError, match="^q must contain only finite numbers"):
        sigmoid_attention(np.full_like(q, np.nan), k, v)
    with pytest.raises(TypeError):
        sigmoid_attention(q, k, v, None)  # options are keyword-only


def test_sigmoid_overflowing_scores_and_outputs():
    q = k = np.full((1, 2), 1e20, np.float32)
    with pytest.raises(ValueError, match=r"^the scores scale \* q @ k\.T overflow float32"):
        sigmoid_attention(q, k, np.ones((1, 1), np.float32), scale=1.0)
    # -inf scores (finite q, k) have weight 0, their limit, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid_attention(np.array([[1e20]], np.float32), np.array([[-1e20], [0.0]], np.float32),
                                np.array([[5.0], [1.0]], np.float32), scale=1.0, bias=0.0)
    np.testing.assert_array_equal(out, [[0.5]])
    # a row of many values near the maximum: the exact output is beyond float32
    big = np.full((4, 1), 3e38, np.float32)
    with pytest.raises(ValueError, match="^the output of sigmoid attention overflows float32"):
        sigmoid_attention(np.zeros((1, 1), np.float32), np.zeros((4, 1), np.float32), big, bias=10.0)
    # ... but partial sums beyond it are fine when the result is not (headroom)
    v = np.array([[3e38], [3e38], [-3e38], [-3e38]], np.float32)
    out = sigmoid_attention(np.zeros((1, 1), np.float32), np.zeros((4, 1), np.float32), v, bias=10.0)
    np.testing.assert_allclose(out, [[0.0]], atol=1e33)
    with pytest.raises(ValueError, match="overflows float16"):
        sigmoid_attention(np.zeros((1, 1), np.float16), np.zeros((4, 1), np.float16),
                          np.full((4, 1), 6e4, np.float16), bias=10.0)


# --------------------------------------------------------------------------- linear attention
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", CAUSAL)
def test_linear_matches_the_quadratic_form(dtype, causal):
    for shapes in (((2, 5, 4), (2, 7, 4), (2, 7, 3)), ((3, 7, 2), (7, 2), (1, 7, 3)), ((6, 3), (4, 3), (4, 2))):
        q, k, v = _qkv(10, shapes=shapes, dtype=dtype)
        out = linear_attention(q, k, v, causal=causal)
        assert out.dtype == dtype
        expected = linear_reference(q, k, v, causal=causal)
        atol = TOL[dtype] * float(np.abs(v.astype(np.float64)).max())
        np.testing.assert_allclose(out.astype(np.float64), expected, rtol=0, atol=atol)


def test_linear_causal_prefix_sums_equal_rows_of_the_full_pass():
    q, k, v = _qkv(11, shapes=((9, 4), (9, 4), (9, 2)))
    full = linear_attention(q, k, v, causal=True)
    for i in range(9):  # query i against keys 0..i, without a mask
        np.testing.assert_allclose(full[i], linear_attention(q[i:i + 1], k[:i + 1], v[:i + 1])[0], rtol=1e-13)
    np.testing.assert_allclose(linear_attention(q[-3:], k, v, causal="bottom_right"), full[-3:], rtol=1e-13)
    # more queries than keys: bottom_right leaves the first ones without a key (0); top_left clips to the last
    out = linear_attention(q, k[:4], v[:4], causal="bottom_right")
    assert (out[:5] == 0).all()
    np.testing.assert_allclose(out[5:], linear_reference(q, k[:4], v[:4], causal="bottom_right")[5:], rtol=1e-13)


def test_linear_rows_are_convex_combinations():
    q, k, v = _qkv(12, shapes=((50, 8), (40, 8), (40, 3)))
    q *= 30  # large queries: weights stay within the bounded contrast of phi(k)
    out = linear_attention(q, k, v)
    assert (out >= v.min(axis=0) - 1e-12).all() and (out <= v.max(axis=0) + 1e-12).all()


def test_linear_callable_feature_map():
    q, k, v = _qkv(13, shapes=((5, 3), (6, 3), (6, 2)))
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    np.testing.assert_allclose(linear_attention(q, k, v, feature_map=relu),
                               linear_reference(q, k, v, phi=relu), rtol=1e-13, atol=1e-15)
    # exp(x): the unscaled softmax kernel exp(q.k) is not a product of entrywise features, but exp of
    # a concatenation with squares is one of Performer's maps; here only the shapes and positivity matter
    wide = lambda x: np.exp(np.concatenate([x, -x], axis=-1) - 3)  # noqa: E731
    assert linear_attention(q, k, v, feature_map=wide, causal=True).shape == (5, 2)
    # a query whose features are all zero has a zero normaliser: output 0
    out = linear_attention(-np.abs(q), np.abs(k), v, feature_map=relu)
    assert (out == 0).all()


def test_linear_float16_rounded_once_and_elu_tails():
    q, k, v = _qkv(14, dtype=np.float16)
    once = linear_attention(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), causal=True)
    np.testing.assert_array_equal(linear_attention(q, k, v, causal=True), once.astype(np.float16))
    # elu(x) + 1 = exp(x) for x <= 0 with no warning far in the tail; x + 1 for x > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = linear_attention(np.array([[-1e4]]), np.array([[1.0], [2.0]]), np.array([[1.0], [4.0]]))
    assert (out == 0).all()  # the query's feature underflows to 0: no normaliser
    np.testing.assert_allclose(linear_attention(np.array([[1.0]]), np.array([[1.0], [3.0]]),
                                                np.array([[1.0], [4.0]])), [[(2 * 1 + 4 * 4) / 6]], rtol=1e-15)


def test_linear_matches_torch():
    torch = pytest.importorskip("torch", reason="torch parity needs torch (requirements-torch.txt)")
    F = torch.nn.functional
    q, k, v = _qkv(15, shapes=((2, 3, 9, 8), (2, 1, 9, 8), (2, 1, 9, 4)))
    tq, tk, tv = (F.elu(torch.from_numpy(a)) + 1 if i < 2 else torch.from_numpy(a) for i, a in enumerate((q, k, v)))
    w = tq @ tk.mT
    np.testing.assert_allclose(linear_attention(q, k, v), ((w / w.sum(-1, keepdim=True)) @ tv).numpy(),
                               rtol=1e-12, atol=1e-14)
    w = w.tril()
    np.testing.assert_allclose(linear_attention(q, k, v, causal=True), ((w / w.sum(-1, keepdim=True)) @ tv).numpy(),
                               rtol=1e-12, atol=1e-14)


def test_linear_bad_arguments():
    q, k, v = _qkv(16)
    with pytest.raises(ValueError, match=r"^feature_map must be one of \('elu',\) or a callable, got 'relu'$"):
        linear_attention(q, k, v, feature_map="relu")
    with pytest.raises(ArgumentTypeError, match=r"^feature_map must be one of \('elu',\) or a callable, got int 1$"):
        linear_attention(q, k, v, feature_map=1)
    with pytest.raises(ValueError, match=r"^feature_map must map q of shape \(2, 5, 4\) to shape"):
        linear_attention(q, k, v, feature_map=lambda x: x.sum(axis=-1))
    with pytest.raises(ValueError, match=r"^feature_map must return finite features >= 0 .* for q$"):
        linear_attention(q, k, v, feature_map=lambda x: x)
    with pytest.raises(ArgumentTypeError, match="^feature_map must be numeric"):
        linear_attention(q, k, v, feature_map=lambda x: np.full(x.shape, "a"))
    calls = []

    def uneven(x):
        calls.append(1)
        return np.ones((*x.shape[:-1], len(calls)))
    with pytest.raises(ValueError, match=r"^feature_map must give q and k the same number of features r, got 1 and 2$"):
        linear_attention(q, k, v, feature_map=uneven)
    with pytest.raises(ValueError, match="^causal must be"):
        linear_attention(q, k, v, causal="diagonal")
    with pytest.raises(ValueError, match="^v must contain only finite numbers"):
        linear_attention(q, k, np.full_like(v, np.inf))
    with pytest.raises(ValueError, match="^linear attention overflows float32"):
        linear_attention(np.full((1, 2), 3e38, np.float32), np.full((2, 2), 3e38, np.float32),
                         np.ones((2, 1), np.float32))
    with pytest.raises(TypeError):
        linear_attention(q, k, v, True)  # options are keyword-only


def test_linear_attention_cannot_be_sharper_than_its_keys_allow():
    # the chapter's proposition: w_j / w_j' <= max_c phi(k_j)_c / phi(k_j')_c whatever the query's scale
    rng = np.random.default_rng(17)
    k, q = rng.normal(size=(20, 4)), rng.normal(size=(1, 4))
    phi = np.where(k > 0, k + 1, np.exp(np.minimum(k, 0)))
    rho = max((phi[j] / phi[jj]).max() for j in range(20) for jj in range(20))
    for beta in (1.0, 10.0, 1e3, 1e6):
        w = linear_attention(beta * q, k, np.eye(20))[0]
        assert w.max() <= rho / (rho + 19) * (1 + 1e-12)
