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
def test_equal_values_near_the_maximum_come_back_exactly(f, sign, dtype):
    # A convex combination of equal values is that value: the output stays in [min v, max v] (no rounding
    # past it) and a sum of large negative values does not overflow either.
    x = sign * float(np.finfo(dtype).max) * 0.9
    rng = np.random.default_rng(2)
    q, k = rng.normal(size=(40, 3)).astype(dtype), rng.normal(size=(12, 3)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(q, k, np.full((12, 2), x, dtype))
    np.testing.assert_array_equal(out, dtype(x))


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


@pytest.mark.parametrize("big, tiny", [(1e-300, 1e300), (1e300, 1e-300)])
def test_backward_raises_when_only_dq_or_only_dk_overflows(big, tiny):
    # q tiny and k huge: dq = s dS K overflows, dK and dV do not (and the other way round).
    q = np.array([[big, big], [big, -big]])
    k = np.array([[tiny, tiny * 0.5], [-tiny, tiny]])
    v = np.array([[1.0], [-1.0]])
    g = np.full((2, 1), 1e300)
    out, lse = attention(q, k, v, return_lse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=_GRAD_OVERFLOW):
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
        with pytest.raises(ValueError, match="^the gradients overflow float32: "):
            attention_backward(g, q, k, v, out, lse, scale=1.0, block_q=1, block_k=1)
        # the same inputs in float64 are fine, and overflow float32 by accumulation only
        grads = attention_backward(*(a.astype(np.float64) for a in (g, q, k, v, out, lse)), scale=1.0,
                                   block_q=1, block_k=1)
    assert 1.1 < max(float(np.max(np.abs(x))) for x in grads) / float(np.finfo(np.float32).max) < 1.3
