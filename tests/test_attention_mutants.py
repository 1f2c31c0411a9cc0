"""Tests written to kill surviving mutmut mutants of softmax_nb.attention (see tests/MUTATION.md)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from softmax_nb import attention, attention_backward, merge_attention, tiled_attention
from softmax_nb._checks import ArgumentTypeError

FORWARD = [attention, lambda *a, **kw: tiled_attention(*a, block_q=3, block_k=2, **kw)]


def _qkv(seed=0, n_q=3, n_k=4, d_k=2, d_v=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=s).astype(dtype) for s in ((n_q, d_k), (n_k, d_k), (n_k, d_v)))


def _reference(q, k, v, scale):
    """Attention written out in float64 (no mask)."""
    s = scale * np.asarray(q, np.float64) @ np.asarray(k, np.float64).T
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ np.asarray(v, np.float64)


# --------------------------------------------------------------------------- argument checks name the argument
@pytest.mark.parametrize("f", FORWARD)
@pytest.mark.parametrize("which", ["q", "k", "v"])
def test_non_numeric_q_k_v_are_named(f, which):
    args = dict(zip("qkv", _qkv()))
    args[which] = np.full(args[which].shape, "a")
    with pytest.raises(ArgumentTypeError, match=f"^{which} must be numeric, got dtype <U1$"):
        f(args["q"], args["k"], args["v"])


def test_no_features_with_batch_axes():
    # d_k = 0 with a batch axis: the feature axis is the last one, not axis 1 (which is n_q here).
    q, k, v = np.ones((2, 3, 0)), np.ones((2, 4, 0)), np.ones((2, 4, 1))
    with pytest.raises(ValueError, match=r"^q and k must have at least one feature \(d_k >= 1\), got shape"):
        attention(q, k, v)


def test_type_error_messages_name_the_type():
    q, k, v = _qkv()
    with pytest.raises(ArgumentTypeError, match=r"^causal must be False, True, 'top_left' or 'bottom_right', "
                                                r"got float 1\.5$"):
        attention(q, k, v, causal=1.5)
    with pytest.raises(ArgumentTypeError, match=r"^scale must be a finite number > 0 or None \(for 1/sqrt\(d_k\)\), "
                                                r"got str '0\.5'$"):
        attention(q, k, v, scale="0.5")
    with pytest.raises(ArgumentTypeError, match=r"^outputs must be a sequence of arrays \(one per key block\), "
                                                r"got int$"):
        merge_attention(5, [np.zeros(2)])


# --------------------------------------------------------------------------- dtypes and scale
def test_output_dtype_is_the_common_dtype_of_q_k_and_v():
    q, k, v = _qkv(dtype=np.float32)
    assert attention(q.astype(np.float64), k, v).dtype == np.float64
    assert attention(q, k.astype(np.float64), v).dtype == np.float64
    assert tiled_attention(q.astype(np.float64), k, v).dtype == np.float64


@pytest.mark.parametrize("f", FORWARD)
def test_a_scale_above_one(f):
    q, k, v = _qkv(1)
    np.testing.assert_allclose(f(q, k, v, scale=2.0), _reference(q, k, v, 2.0), rtol=1e-12, atol=1e-14)


def test_scale_times_q_overflow_for_a_scale_between_one_and_two():
    q = np.full((1, 2), 3e38, np.float32)
    with pytest.raises(ValueError, match=r"^scale \* q overflows float32 \(scale=1\.5\)"):
        attention(q, np.ones((1, 2), np.float32), np.ones((1, 1), np.float32), scale=1.5)


# --------------------------------------------------------------------------- overflowing scores and values
def test_overflow_message_suggests_float64_only_for_narrower_dtypes():
    msg = r"^the scores scale \* q @ k\.T overflow {} \(\|score\| > {}, or inf - inf in the sum\) although q and k " \
          r"are finite; scale q or k down{}$"
    for dtype, big, biggest, hint in ((np.float64, 1e200, r"1\.798e\+308", ""),
                                      (np.float32, 1e20, r"3\.403e\+38", " or pass float64 arrays")):
        q, k = np.array([[big]], dtype), np.array([[big]], dtype)
        with pytest.raises(ValueError, match=msg.format(dtype.__name__, biggest, hint)):
            attention(q, k, np.ones((1, 1), dtype), scale=1.0)


@pytest.mark.parametrize("f", FORWARD)
def test_causal_row_whose_only_key_overflows_to_minus_inf_raises(f):
    # Query 0 sees key 0 only (j <= i); its one score overflows to -inf: no silent 0 output.
    q = np.array([[1e20], [1.0]], np.float32)
    k = np.array([[-1e20], [1.0]], np.float32)
    with pytest.raises(ValueError, match="although q and k are finite"):
        f(q, k, np.ones((2, 1), np.float32), scale=1.0, causal=True)


@pytest.mark.parametrize("f", FORWARD)
def test_no_value_features(f):
    q, k, _ = _qkv()
    out, lse = f(q, k, np.zeros((4, 0)), return_lse=True)
    assert out.shape == (3, 0)
    np.testing.assert_allclose(lse, np.log(np.exp(q @ k.T / math.sqrt(2)).sum(axis=-1)), rtol=1e-13)
    merged, mlse = merge_attention([out, out], [lse, lse])
    assert merged.shape == (3, 0)
    np.testing.assert_allclose(mlse, lse + np.log(2), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("f", FORWARD)
def test_equal_values_near_the_maximum_are_not_rounded_past_them(f, sign, dtype):
    # A convex combination of equal values is that value: with the power-of-two headroom the output is clipped
    # to the range of v, so it never rounds past the largest |v| (to inf, or beyond v), and a sum of large
    # negative values does not overflow either.
    x = sign * float(np.finfo(dtype).max) * 0.9
    rng = np.random.default_rng(2)
    q, k = rng.normal(size=(40, 3)).astype(dtype), rng.normal(size=(12, 3)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(q, k, np.full((12, 2), x, dtype))
    assert out.dtype == dtype
    assert np.all(np.abs(out) <= abs(dtype(x)))
    np.testing.assert_allclose(out, x, rtol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("f", FORWARD)
def test_a_row_with_one_allowed_key_returns_that_value_exactly(f):
    # No headroom is needed for two values of at most max/4, so the tiny value is not scaled into the subnormals.
    tiny = np.nextafter(np.finfo(np.float32).tiny, np.float32(1))
    v = np.array([[8e37], [tiny]], np.float32)
    q, k = np.zeros((2, 1), np.float32), np.zeros((2, 1), np.float32)
    out = f(q, k, v, mask=np.array([[True, True], [False, True]]))
    assert out[1, 0] == tiny


# --------------------------------------------------------------------------- backward
def test_backward_is_not_causal_by_default():
    q, k, v = _qkv(3, n_q=3, n_k=3)
    g = np.random.default_rng(4).normal(size=(3, 2))
    out, lse = attention(q, k, v, return_lse=True)
    default = attention_backward(g, q, k, v, out, lse)
    explicit = attention_backward(g, q, k, v, out, lse, causal=False)
    for a, b in zip(default, explicit):
        np.testing.assert_array_equal(a, b)


def test_backward_names_its_arguments():
    q, k, v = _qkv()
    out, lse = attention(q, k, v, return_lse=True)
    g = np.ones_like(out)
    for bad in ("block_q", "block_k"):
        with pytest.raises(ValueError, match=f"^{bad} must be an integer >= 1, got 0$"):
            attention_backward(g, q, k, v, out, lse, **{bad: 0})
    s = np.full(out.shape, "a")
    with pytest.raises(ArgumentTypeError, match="^grad_out must be numeric"):
        attention_backward(s, q, k, v, out, lse)
    with pytest.raises(ArgumentTypeError, match="^out must be numeric"):
        attention_backward(g, q, k, v, s, lse)
    with pytest.raises(ArgumentTypeError, match="^lse must be numeric"):
        attention_backward(g, q, k, v, out, np.full(lse.shape, "a"))
    with pytest.raises(ValueError, match=r"^out must have the output's shape \(3, 2\), got \(3, 1\)$"):
        attention_backward(g, q, k, v, out[:, :1], lse)
    with pytest.raises(ValueError, match=r"^lse must be finite or -inf \(a row with no allowed key\), "
                                         r"got NaN or \+inf$"):
        attention_backward(g, q, k, v, out, np.full(lse.shape, np.nan))


def test_backward_lse_shape_message_has_the_batch_axes():
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 1))
    out = attention(q, k, v)
    with pytest.raises(ValueError, match=r"^lse must have shape \(2, 3\) \(one per query\), got \(3,\)$"):
        attention_backward(np.ones_like(out), q, k, v, out, np.zeros(3))


def test_backward_sums_over_a_batch_axis_of_size_two():
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(size=(2, 3, 2)), rng.normal(size=(1, 4, 2)), rng.normal(size=(1, 4, 2))
    g = rng.normal(size=(2, 3, 2))
    out, lse = attention(q, k, v, return_lse=True)
    dq, dk, dv = attention_backward(g, q, k, v, out, lse)
    assert dk.shape == k.shape and dv.shape == v.shape and dq.shape == q.shape
    per = [attention_backward(g[b], q[b], k[0], v[0], out[b], lse[b]) for b in range(2)]
    np.testing.assert_allclose(dk[0], per[0][1] + per[1][1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dv[0], per[0][2] + per[1][2], rtol=1e-12, atol=1e-15)


_GRAD_OVERFLOW = (r"^the gradients overflow float64: lse must be the log-sum-exp the forward pass returned for "
                  r"these q, k, mask and causal \(a score far above its row's lse gives exp overflow\), or "
                  r"grad_out and v are too large for the dtype$")


@pytest.mark.parametrize("big, tiny, name", [(1e-300, 1e300, "q"), (1e300, 1e-300, "k")])
def test_backward_raises_when_only_dq_or_only_dk_overflows(big, tiny, name):
    # q tiny and k huge: dq = s dS K overflows, dK and dV do not (and the other way round).
    q = np.array([[big, big], [big, -big]])
    k = np.array([[tiny, tiny * 0.5], [-tiny, tiny]])
    v = np.array([[1.0], [-1.0]])
    g = np.full((2, 1), 1e300)
    out, lse = attention(q, k, v, return_lse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=f"^the gradient(s overflow float64: |( d{name})? overflows float64)"):
            attention_backward(g, q, k, v, out, lse)


def test_backward_with_an_inconsistent_lse_raises_without_a_warning():
    # lse far below the true one: exp overflows to inf, and inf * 0 (grad_out = 0) is NaN; no RuntimeWarning.
    q, k, v = _qkv(7)
    out, lse = attention(q, k, v, return_lse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=_GRAD_OVERFLOW):
            attention_backward(np.zeros_like(out), q, k, v, out, lse - 1000.0)


# --------------------------------------------------------------------------- merge_attention
def test_merge_attention_messages():
    o, x = np.zeros((2, 3)), np.zeros(2)
    with pytest.raises(ArgumentTypeError, match=r"^outputs\[1\] must be numeric"):
        merge_attention([o, np.full((2, 3), "a")], [x, x])
    with pytest.raises(ValueError, match=r"every key block must cover the same queries$"):
        merge_attention([o, np.zeros((3, 3))], [x, np.zeros(3)])
    with pytest.raises(ValueError, match=r"^lses\[0\] must have shape \(2, 2\) \(one per query of outputs\[0\]\), "
                                         r"got \(2,\)$"):
        merge_attention([np.zeros((2, 2, 3))], [x])
    with pytest.raises(ValueError, match=r"^lses\[0\] must contain real numbers or -inf \(a row with no key in "
                                         r"the block\), got NaN or \+inf$"):
        merge_attention([o], [np.array([np.nan, 0.0])])


@pytest.mark.parametrize("out_dtype, lse_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_merge_attention_lse_has_the_work_dtype_of_all_inputs(out_dtype, lse_dtype):
    q, k, v = _qkv(8, n_k=6)
    blocks = [attention(q, k[s], v[s], return_lse=True) for s in (slice(0, 2), slice(2, 6))]
    out, lse = merge_attention([o.astype(out_dtype) for o, _ in blocks], [x.astype(lse_dtype) for _, x in blocks])
    assert out.dtype == out_dtype and lse.dtype == np.float64
    np.testing.assert_allclose(out, attention(q, k, v), rtol=1e-5, atol=1e-6)


def test_backward_default_blocks_are_64():
    # The documented default: the same tiles, so the same rounding, as block_q = block_k = 64.
    q, k, v = _qkv(9, n_q=70, n_k=70, d_k=3, d_v=2)
    g = np.random.default_rng(10).normal(size=(70, 2))
    out, lse = attention(q, k, v, return_lse=True)
    default = attention_backward(g, q, k, v, out, lse)
    explicit = attention_backward(g, q, k, v, out, lse, block_q=64, block_k=64)
    for a, b in zip(default, explicit):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("q_mag, k_mag, v_mag, g_mag", [(1e-19, 1e19, 1.0, 1.08e20),  # dq overflows
                                                         (1e19, 1e-19, 1.0, 5.3e19),  # dk overflows
                                                         (1.0, 1.0, 1e-10, 2.24e38)])  # dv = P^T G overflows
def test_float32_gradients_accumulated_past_the_float32_maximum_raise(q_mag, k_mag, v_mag, g_mag):
    # One key (query) per tile: every tile's contribution is below the float32 maximum, their sum (about 4e38) is
    # not. The gradients are accumulated in float32, the work dtype, so the overflow is caught and reported,
    # rather than held in a finite float64 accumulator and rounded to inf at the end.
    q = (np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 0.5]]) * q_mag).astype(np.float32)
    k = (np.array([[1.0, 0.5], [-1.0, 1.0], [0.3, 0.2]]) * k_mag).astype(np.float32)
    v = (np.array([[1.0], [-1.0], [2.0]]) * v_mag).astype(np.float32)
    g = np.full((3, 1), g_mag, np.float32)
    out, lse = attention(q, k, v, scale=1.0, return_lse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="^the gradients? (d[qkv] )?overflows? float32"):
            attention_backward(g, q, k, v, out, lse, scale=1.0, block_q=1, block_k=1)
        # the same inputs in float64 are fine, and overflow float32 by accumulation only
        grads = attention_backward(*(a.astype(np.float64) for a in (g, q, k, v, out, lse)), scale=1.0,
                                   block_q=1, block_k=1)
    assert 1.1 < max(float(np.max(np.abs(x))) for x in grads) / float(np.finfo(np.float32).max) < 1.3


# --------------------------------------------------------------------------- the headroom paths (ATT3-ATT5)
@pytest.mark.parametrize("f", FORWARD)
def test_an_all_masked_row_stays_zero_on_the_headroom_path(f):
    # Values near the maximum take the power-of-two headroom; a row with no key is exactly 0 all the same.
    x = float(np.finfo(np.float32).max) * 0.9
    q, k = np.zeros((2, 1), np.float32), np.zeros((3, 1), np.float32)
    v = np.full((3, 2), x, np.float32)
    out = f(q, k, v, mask=np.array([[False, False, False], [True, True, True]]))
    np.testing.assert_array_equal(out[0], 0.0)
    assert np.all(out[1] <= np.float32(x)) and np.all(np.isfinite(out))


@pytest.mark.parametrize("f", FORWARD)
def test_rows_never_round_above_the_largest_value(f):
    # A huge negative value (masked) forces the headroom; the rows average small equal values t and stay <= t.
    t = np.float32(0.7)
    rng = np.random.default_rng(11)
    q, k = rng.normal(size=(60, 3)).astype(np.float32), rng.normal(size=(9, 3)).astype(np.float32)
    v = np.full((9, 1), t, np.float32)
    v[0] = -3e38
    mask = np.ones((60, 9), bool)
    mask[:, 0] = False
    out = f(q, k, v, mask=mask)
    assert np.all(out <= t)
    np.testing.assert_allclose(out, t, rtol=1e-6)


def test_float64_out_or_lse_beyond_the_float32_work_dtype_are_refused():
    q, k, v = _qkv(12, dtype=np.float32)
    out, lse = attention(q, k, v, return_lse=True)
    g = np.ones_like(out)
    big_out, big_lse = out.astype(np.float64), lse.astype(np.float64)
    big_out[0, 0], big_lse[1] = 1e300, 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="^out must be finite in the work dtype float32, got values beyond its "
                                             "range$"):
            attention_backward(g, q, k, v, big_out, lse)
        with pytest.raises(ValueError, match=r"^lse must be finite or -inf in the work dtype float32, got values "
                                             r"beyond its range$"):
            attention_backward(g, q, k, v, out, big_lse)


def test_backward_with_a_scale_beyond_float32():
    # s > float32 max: s q is taken in float64, and dq = s dS K as well (a gradient of the right size).
    q = np.array([[1e-39, -2e-39], [3e-39, 1e-39]], np.float32)  # subnormal, so that s q is of order 1
    k = np.array([[1e-3, 2e-3], [-1e-3, 1e-3], [2e-3, -1e-3]], np.float32)
    v = np.array([[1.0], [-2.0], [0.5]], np.float32)
    s = 1e39
    out, lse = attention(q, k, v, scale=s, return_lse=True)
    g = np.ones_like(out)
    dq, dk, dv = attention_backward(g, q, k, v, out, lse, scale=s)
    ref = attention_backward(*(a.astype(np.float64) for a in (g, q, k, v, out, lse)), scale=s)
    np.testing.assert_allclose(dq, ref[0], rtol=1e-4)
    assert 1e30 < float(np.max(np.abs(dq))) < 1e38


def test_gradient_beyond_its_dtype_message_in_full():
    q, k, v = _qkv(13, dtype=np.float16)
    out, lse = attention(q, k, v, return_lse=True)
    g = np.full(out.shape, 6e4, np.float16)
    with pytest.raises(ValueError, match=r"^the gradient dv overflows float16 \(the dtype of v\): the exact gradient is "
                                         r"beyond its range; pass float64 arrays or a smaller grad_out$"):
        attention_backward(g, q, k, v, out, lse)


def _headroom_case(kbig=1.0, qbig=1.0, vmask=None, n_q=None, n_k=None, d_v=None, batch=(), signs=1.0,
                   cancel=False):
    if cancel:  # sQ = +-2^40 orthogonal to K: equal probabilities and dS rows, so dK = dS^T sQ = 0 exactly
        q = np.array([[2.0**40, 0.0], [-(2.0**40), 0.0]])
        k = np.array([[0.0, 1.0], [0.0, -0.5], [0.0, 0.25]])
        return q, k, np.array([[2.0**30], [2.0**30 + 2.0**10], [2.0**30 - 2.0**12]]), None
    if n_q is not None:  # |q|, |k| <= 1 and d_v value features: dP = G V^T sums d_v terms of 2^1030
        rng = np.random.default_rng(14)
        q, k = rng.uniform(-1, 1, size=(*batch, n_q, 2)), rng.uniform(-1, 1, size=(n_k, 2))
        v = 2.0**30 + np.ldexp(rng.integers(-2**10, 2**10, size=(n_k, d_v)).astype(float), 2)
        return q, k, v * signs, None
    q = np.array([[1.0, 0.5], [0.25, -1.0]]) * qbig
    k = np.array([[1.0, -0.5], [0.5, 1.0], [-1.0, 0.25]]) * kbig
    v = np.array([[2.0**30], [2.0**30 + 2.0**10], [2.0**30 - 2.0**12]])
    mask = None
    if vmask is not None:  # one more key, masked, whose value is huge
        k, v = np.vstack([k, [[1.0, 1.0]]]), np.vstack([v, [[vmask]]])
        mask = np.array([[True, True, True, False]] * 2)
    return q, k, v, mask


@pytest.mark.parametrize("case", [dict(kbig=2.0**5, qbig=2.0**-5), dict(qbig=2.0**5), dict(vmask=2.0**60),
                                  dict(n_q=2, n_k=64, d_v=2), dict(n_q=2, n_k=16, d_v=32),
                                  dict(n_q=1, n_k=2, d_v=64), dict(n_q=1, n_k=2, d_v=64, batch=(1,)),
                                  dict(n_q=2, n_k=3, d_v=2, signs=np.array([1.0, -1.0])),  # G O: +inf and -inf
                                  dict(cancel=True)])
def test_backward_with_products_beyond_float64_but_gradients_within(case):
    # G V^T and <G, O> overflow float64 (G = 2^1000, V ~ 2^30) although dS = P (dP - D) and the gradients do not:
    # G is scaled by 2^-k with k large enough for d_v, n, |G|, |V| (masked keys included), |sQ| and |K|, and the
    # gradients are exactly 2^1000 times those of G = 1.
    q, k, v, mask = _headroom_case(**case)
    out, lse = attention(q, k, v, scale=1.0, mask=mask, return_lse=True)
    small = attention_backward(np.ones_like(out), q, k, v, out, lse, scale=1.0, mask=mask)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = attention_backward(np.full(out.shape, 2.0**1000), q, k, v, out, lse, scale=1.0, mask=mask)
    for b, s in zip(big, small):
        np.testing.assert_allclose(b, np.ldexp(s, 1000), rtol=1e-10)


def _opposite_batches():
    # Two batches with v and -v: dq = dq_0 + dq_1 = 0 exactly, but s dq_0 and s dq_1 overflow float32.
    rng = np.random.default_rng(0)
    q = rng.normal(size=(1, 2, 2)).astype(np.float32) * np.float32(1e-35)
    k = np.stack([rng.normal(size=(3, 2))] * 2).astype(np.float32) * np.float32(1e5)
    v0 = rng.normal(size=(3, 1)).astype(np.float32)
    v = np.stack([v0, -v0])
    out, lse = attention(q, k, v, scale=1e30, return_lse=True)
    return np.full(out.shape, 1e4, np.float32), q, k, v, out, lse


def test_backward_never_warns_when_scaled_gradients_cancel_over_a_broadcast_axis():
    g, q, k, v, out, lse = _opposite_batches()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf - inf in the sum over the batch: no RuntimeWarning
        attention_backward(g, q, k, v, out, lse, scale=1e30)


def test_backward_sums_over_broadcast_axes_before_scaling_dq():
    g, q, k, v, out, lse = _opposite_batches()
    dq, dk, dv = attention_backward(g, q, k, v, out, lse, scale=1e30)
    ref = attention_backward(*(a.astype(np.float64) for a in (g, q, k, v, out, lse)), scale=1e30)
    np.testing.assert_array_equal(dq, ref[0].astype(np.float32))  # exactly 0 in float64


def test_half_precision_grad_out_is_scaled_in_float32():
    # float16 grad_out with float32 q, k, v whose products overflow: G is scaled by 2^-k in float32 (the work
    # dtype), so a small entry of G keeps its precision (in float16 it would fall into the subnormals).
    q = np.array([[0.5, -0.25], [0.25, 0.5]], np.float32)
    k = np.array([[0.5, 0.5], [-0.5, 0.25]], np.float32)
    v = np.array([[1e34, -2e34], [3e34, 1e34]], np.float32)
    out, lse = attention(q, k, v, causal=True, return_lse=True)
    g = np.array([[6e4, 6e4], [1e-5, -2e-5]], np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dq, dk, dv = attention_backward(g, q, k, v, out, lse, causal=True)
    ref = attention_backward(*(a.astype(np.float64) for a in (g, q, k, v, out, lse)), causal=True)
    np.testing.assert_allclose(dq[1], ref[0][1], rtol=1e-4)


# --------------------------------------------------------------------------- float64 grad_out with entries of both sizes
def _backward_reference(g, q, k, v, out, scale, m=0):
    """The backward formulas written out in float64 for grad_out g 2^-m, scaled back by 2^m (exact: linear in g).
    D = <G, O> uses the forward pass's output, as attention_backward documents."""
    g = np.ldexp(g, -m)
    s = scale * q @ k.T
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    ds = p * (g @ v.T - np.sum(g * out, axis=-1)[:, None])
    return [np.ldexp(x, m) for x in (scale * ds @ k, scale * ds.T @ q, p.T @ g)]


def _split_reference(g, q, k, v, out, scale, cut, m_small, m_big):
    # gradients are linear in grad_out: the entries below `cut` and the others, each with its own exact scaling
    small = np.abs(g) < cut
    parts = (_backward_reference(np.where(small, g, 0.0), q, k, v, out, scale, m_small),
             _backward_reference(np.where(small, 0.0, g), q, k, v, out, scale, m_big))
    return [a + b for a, b in zip(*parts)]


def _two_sized_case(c, a, kbig):
    # two equal queries (equal probability rows); the first value column is constant, so the huge entries of G
    # (first column, +-2^e) cancel in dS = P (G V^T - <G, O>) and in dV = P^T G: the gradients are those of the small
    # entries of G alone (second column), which the headroom of the huge ones would push into the subnormals
    q = np.array([[0.5, -0.25], [0.5, -0.25]]) / kbig
    k = np.array([[1.0, 0.5], [-0.5, 1.0], [0.25, -1.0]]) * kbig
    v = np.column_stack([np.full(3, c), a])
    out, lse = attention(q, k, v, scale=1.0, return_lse=True)
    assert np.all(out[:, 0] == c)
    return q, k, v, out, lse


@pytest.mark.parametrize("g", [[[2.0**1000, 2.0**-1015], [-(2.0**1000), -0.5 * 2.0**-1015]],
                               [[-(2.0**1000), -0.5 * 2.0**-1015], [2.0**1000, 2.0**-1015]],
                               [[2.0**1000, 0.0], [2.0**-1015, -0.5 * 2.0**-1015]]])  # a row of small entries only
def test_float64_backward_keeps_the_small_entries_of_a_huge_grad_out(g):
    # G V^T overflows float64 (2^1000 * 2^30); the exact gradients are of order 1e-306 and must not be lost.
    q, k, v, out, lse = _two_sized_case(2.0**30, np.array([1.0, -2.0, 0.5]), 1.0)
    g = np.array(g)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = attention_backward(g, q, k, v, out, lse, scale=1.0, block_q=1, block_k=2)
    ref = _split_reference(g, q, k, v, out, 1.0, 1.0, -1000, 1000)
    for x, r in zip(got, ref):
        assert x.dtype == np.float64
        np.testing.assert_allclose(x, r, rtol=1e-12, atol=0)
    assert np.any(got[0] != 0) and np.all(got[2][:, 1] != 0)


def test_float64_backward_small_entries_that_overflow_on_their_own():
    # v near 2^1020 and |k| = 2^10: G = 2^1020 needs a headroom of 2^-1032, under which the entries 2^8 of G would
    # round away; on their own they overflow too (2^8 * 2^1020), and need a headroom of their own.
    c = 2.0**1020
    q, k, v, out, lse = _two_sized_case(c, c + np.array([2.0, -4.0, 1.0]) * 2.0**970, 2.0**10)
    g = np.array([[2.0**1020, 2.0**8], [-(2.0**1020), -(2.0**7)]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = attention_backward(g, q, k, v, out, lse, scale=1.0)
    ref = _split_reference(g, q, k, v, out, 1.0, 2.0**9, 30, 1040)
    for x, r in zip(got, ref):
        np.testing.assert_allclose(x, r, rtol=1e-12, atol=0)
    assert np.all(np.isfinite(got[0])) and float(np.max(np.abs(got[0]))) > 2.0**900


def test_float64_dq_summed_over_a_broadcast_axis_beyond_the_range_until_scaled():
    # q broadcast over two equal batches of k and v with |k| = 2^1000: dS K of each batch is about 2^1023, their sum
    # overflows float64, but s dQ with s = 1/4 does not: scaled first, then summed.
    q = np.array([[[0.5, -0.25], [0.25, 0.5]]]) * 2.0**-1000
    k1 = np.array([[1.0, 0.5], [-0.5, 1.0], [0.25, -1.0]]) * 2.0**1000
    v1 = np.array([[1.0], [-2.0], [0.5]])
    k, v = np.stack([k1, k1]), np.stack([v1, v1])
    out, lse = attention(q, k, v, scale=0.25, return_lse=True)
    g = np.full(out.shape, 2.0**24)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dq, dk, dv = attention_backward(g, q, k, v, out, lse, scale=0.25)
    ref = _backward_reference(g[0], q[0], k1, v1, out[0], 0.25)
    np.testing.assert_allclose(dq[0], 2 * ref[0], rtol=1e-12)
    assert np.all(np.isfinite(dq)) and float(np.max(np.abs(dq))) > 2.0**1022
    for i in range(2):
        np.testing.assert_allclose(dk[i], ref[1], rtol=1e-12)
        np.testing.assert_allclose(dv[i], ref[2], rtol=1e-12)


# --------------------------------------------------------------------------- scores that overflow (_checked_overflow)
@pytest.mark.parametrize("f", FORWARD)
def test_batched_score_that_really_is_below_minus_the_maximum_keeps_weight_0(f):
    # batch axes (n_q = 3, n_k = 4, d_k = 2 all different): the rescaled check scales each row by its own maximum
    q = np.array([[[1.0, 0.5], [0.5, -1.0], [1e300, 1e300]]] * 2)
    k = np.array([[[1.0, 0.0], [0.0, 1.0], [-1e300, -1e300], [0.5, 0.5]]] * 2)
    v = np.arange(8.0).reshape(2, 4, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(q, k, v, scale=1.0)
    # row 2: scores (1e300, 1e300, -inf, 1e300) -> the keys 0, 1 and 3 equally; rows 0, 1: plain softmax
    np.testing.assert_allclose(out[:, 2, 0], [(0 + 1 + 3) / 3, (4 + 5 + 7) / 3], rtol=1e-12)
    for b in range(2):
        np.testing.assert_allclose(out[b, :2], _reference(q[b, :2], k[b], v[b], 1.0), rtol=1e-12)


@pytest.mark.parametrize("f", FORWARD)
@pytest.mark.parametrize("flip", [False, True])
def test_a_positive_huge_term_cannot_be_hidden_by_a_minus_inf_product(f, flip):
    # q k = -1e600 + 1e500 is below -max: weight 0. Its rows span 300 orders of magnitude; scaled by the wrong power
    # of two (up instead of down), the rows would overflow to +-inf and give inf - inf.
    a, b = np.array([[1e300, 1e300], [1.0, 0.0]]), np.array([[-1e300, 1e200], [1.0, 0.0]])
    q, k = (b, a) if flip else (a, b)
    v = np.array([[5.0], [7.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(q, k, v, scale=1.0)
    assert out[0, 0] == 7.0  # the first query's only finite score is with the second key


@pytest.mark.parametrize("f", FORWARD)
def test_a_score_overflowing_to_plus_inf_raises_without_a_warning(f):
    # the rescaled check itself overflows (2^999 * 2^999 scaled back) and underflows (1e-300 in a row of 1e300)
    q, k = np.array([[1e300, 1e-300]]), np.array([[1e300, 1.0], [1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="although q and k are finite"):
            f(q, k, np.ones((2, 1)), scale=1.0)


@pytest.mark.parametrize("f", FORWARD)
def test_an_empty_batch_of_queries_with_keys(f):
    q, k, v = np.ones((0, 3, 2)), np.ones((4, 2)), np.ones((4, 2))
    assert f(q, k, v).shape == (0, 3, 2)


def test_float32_backward_with_an_inconsistent_lse_raises_in_float64_too():
    # the float32 pass overflows, and so does the float64 one: exp(S - L) with L far below the scores
    q, k, v = _qkv(15, dtype=np.float32)
    out = attention(q, k, v)
    lse = np.full(out.shape[:-1], -1e30, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^the gradients overflow float32: lse must be the log-sum-exp"):
            attention_backward(np.ones_like(out), q, k, v, out, lse)


def test_float64_dq_beyond_the_range_over_a_broadcast_axis_raises_without_a_warning():
    # three batches with v, v and -v: dS K of each is about 0.9 max; s dQ = 2 (0.9 + 0.9 - 0.9) max is beyond
    # float64, and summing the scaled batches gives inf - inf: a ValueError naming dq, and no RuntimeWarning
    q = np.array([[[0.5, -0.25], [0.25, 0.5]]]) * 2.0**-1000
    k1 = np.array([[1.0, 0.5], [-0.5, 1.0], [0.25, -1.0]]) * 2.0**1000
    v1 = np.array([[1.0], [-2.0], [0.5]])
    k, v = np.stack([k1] * 3), np.stack([v1, v1, -v1])
    out, lse = attention(q, k, v, scale=2.0, return_lse=True)
    per_batch = _backward_reference(np.ones((2, 1)), q[0], k1, v1, out[0], 2.0)[0] / 2.0
    g = np.full(out.shape, 0.9 * float(np.finfo(np.float64).max) / float(np.max(np.abs(per_batch))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^the gradient dq overflows float64 \(the dtype of q\)"):
            attention_backward(g, q, k, v, out, lse, scale=2.0)


def _float32_grad_out_case():
    # a float32 G with float64 q, k, v: the work dtype is float64. |k| = 2^900 and v = 2^1000 make the headroom k2
    # about 980, so that 2^-50 counts as small; 2^30 v overflows, and the entry 2^100 sets k2.
    q, k, v, out, lse = _two_sized_case(2.0**1000, np.array([1.0, -2.0, 0.5]), 2.0**900)
    g = np.array([[0.0, 2.0**100], [2.0**30, 2.0**-50]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = attention_backward(g, q, k, v, out, lse, scale=1.0)
    return got, _split_reference(g.astype(np.float64), q, k, v, out, 1.0, 1.0, 0, 100)


def test_float64_backward_with_a_float32_grad_out_scales_it_in_float64():
    # G 2^-k2 must be formed in float64 (in float32 the entry 2^100 would underflow to 0 and dq would be lost)
    got, ref = _float32_grad_out_case()
    for i in (0, 2):
        assert got[i].dtype == np.float64
        np.testing.assert_allclose(got[i], ref[i], rtol=1e-12, atol=0)
    assert float(np.max(np.abs(got[0][0]))) > 2.0**990


def test_float64_backward_headroom_does_not_underflow_dk():
    got, ref = _float32_grad_out_case()
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12, atol=0)


def test_float64_backward_headroom_does_not_underflow_dq():
    # The mirror of the dk case: |q| = 2^900 and |k| = 2^-900, so that dQ = dS K of the scaled-down G would
    # underflow unless K is scaled up first (the exponent e_k, added back at the end).
    q, k, v, out, lse = _two_sized_case(2.0**1000, np.array([1.0, -2.0, 0.5]), 2.0**-900)
    g = np.array([[0.0, 2.0**100], [2.0**30, 2.0**-50]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = attention_backward(g, q, k, v, out, lse, scale=1.0)
    ref = _split_reference(g, q, k, v, out, 1.0, 1.0, 0, 100)
    for x, r in zip(got, ref):
        np.testing.assert_allclose(x, r, rtol=1e-12, atol=0)
    assert np.all(np.abs(got[0]) > 0)


def test_float64_dv_that_overflows_on_the_way_is_retried_with_the_headroom():
    # One key, three queries: dV = sum_i G_i, accumulated query by query (block_q=1): a + a overflows float64,
    # a + a - a = a does not. dS = 0 (G V^T = <G, O>), so dq = dk = 0.
    a = 1.5 * 2.0**1023
    q, k, v = np.zeros((3, 1)), np.zeros((1, 1)), np.ones((1, 1))
    out, lse = attention(q, k, v, return_lse=True)
    g = np.array([[a], [a], [-a]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dq, dk, dv = attention_backward(g, q, k, v, out, lse, block_q=1)
    assert dv[0, 0] == a and not dq.any() and not dk.any()
