r"""Properties of ``softmax_nb.sigmoid_attention`` and ``softmax_nb.linear_attention``.

The references are the definitions written out in longdouble: the sigmoid weights
:math:`\sigma(s\,q_i \cdot k_j + b)` and the normalised kernel weights
:math:`\phi(q_i) \cdot \phi(k_j) / \sum_{j'} \phi(q_i) \cdot \phi(k_{j'})` with
:math:`\phi = \operatorname{elu} + 1`, over the allowed keys. The properties:

* the output equals the reference within a bound of a few units of the work dtype's rounding
  times :math:`n_k \max|v|` (float16 is computed in float32 and rounded once: plus half an ulp of
  float16);
* with a single key, sigmoid attention is :math:`\sigma(s\, q \cdot k + b)\, v`;
* without ``causal``, permuting the keys (and values, mask and bias columns) leaves both outputs
  unchanged within the bound; permuting the queries permutes the rows;
* a bias going to :math:`-\infty` drives the output to 0 (:math:`|o| \le n_k \max|v|\, e^{\max S + b}`),
  and ``bias=-inf`` gives exactly 0;
* the causal linear attention, computed by prefix sums, equals the masked quadratic form; its rows
  are convex combinations of the allowed values;
* any call on finite inputs, whatever their magnitude, returns finite values or raises a
  ValueError naming its arguments (no warning, no NaN).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb
from _gen import FLOAT_DTYPES
from _harness import Expected, budget, call_checked
from _interval import arrays

CAUSAL = [False, True, "top_left", "bottom_right"]
LD = np.longdouble


# --------------------------------------------------------------------------- references
def _allowed(n_q: int, n_k: int, causal) -> np.ndarray:
    i, j = np.arange(n_q)[:, None], np.arange(n_k)[None, :]
    if causal in (True, "top_left"):
        return j <= i
    if causal == "bottom_right":
        return j <= i + n_k - n_q
    return np.ones((n_q, n_k), bool)


def _sigmoid_weights(q, k, bias, mask, causal, scale):
    """sigma(s q.k + b) in longdouble, 0 where masked; broadcast to batch + (n_q, n_k)."""
    q, k = np.asarray(q, LD), np.asarray(k, LD)
    n_q, n_k = q.shape[-2], k.shape[-2]
    s = LD(1 / math.sqrt(q.shape[-1])) if scale is None else LD(scale)
    x = (s * q) @ np.swapaxes(k, -1, -2) + LD(-math.log(n_k) if bias is None else bias)
    w = 1 / (1 + np.exp(-x))
    ok = _allowed(n_q, n_k, causal) if mask is None else mask & _allowed(n_q, n_k, causal)
    return np.where(ok, w, 0)


def _phi(x):
    x = np.asarray(x, LD)
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))


def _linear_weights(q, k, causal):
    w = _phi(q) @ np.swapaxes(_phi(k), -1, -2)
    return np.where(_allowed(q.shape[-2], k.shape[-2], causal), w, 0)


def _bound(dtype, terms: float, vmax: float) -> float:
    """A few rounding units of the work dtype per term, plus the final rounding to dtype (relative), plus a few
    steps of the subnormal grid per term for intermediates that fall below the normal range."""
    work = np.float32 if dtype == np.float16 else dtype
    u = float(np.finfo(work).eps)
    out = terms * vmax * (8 * terms + 16) * u
    if dtype == np.float16:
        out += float(np.finfo(np.float16).eps) * terms * vmax
    # below the normal range an intermediate (a product of a weight and a value) rounds to the subnormal grid:
    # a few of its steps per term, in absolute terms
    return out + 4 * (terms + 1) * float(np.finfo(dtype).smallest_subnormal)


# --------------------------------------------------------------------------- generators
@st.composite
def cases(draw, *, max_k: int = 6, mag: float = 3.0):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=2))
    n_q, n_k, d_k, d_v = (draw(st.integers(lo, hi)) for lo, hi in ((1, 4), (1, max_k), (1, 3), (1, 3)))
    q = draw(arrays(dtype, batch + (n_q, d_k), mag))
    k = draw(arrays(dtype, batch + (n_k, d_k), mag))
    v = draw(arrays(dtype, batch + (n_k, d_v), 10.0))
    return np.dtype(dtype).type, q, k, v


# --------------------------------------------------------------------------- sigmoid attention
@budget(60)
@given(cases(), st.sampled_from(CAUSAL), st.sampled_from([None, 0.0, -2.5, 1.5]),
       st.sampled_from([None, 1.0, 0.25]), st.data())
def test_sigmoid_equals_the_definition(case, causal, bias, scale, data):
    dtype, q, k, v = case
    n_q, n_k = q.shape[-2], k.shape[-2]
    mask = data.draw(hnp.arrays(bool, (n_q, n_k))) if data.draw(st.booleans()) else None
    out = call_checked(snb.sigmoid_attention, q, k, v, bias=bias, mask=mask, causal=causal, scale=scale).ok()
    assert out.dtype == dtype and out.shape == q.shape[:-1] + (v.shape[-1],)
    ref = _sigmoid_weights(q, k, bias, mask, causal, scale) @ np.asarray(v, LD)
    vmax = max(float(np.abs(v.astype(np.float64)).max()), 1e-300)
    assert np.abs(out.astype(LD) - ref).max() <= _bound(dtype, n_k, vmax)


@budget(40)
@given(cases(max_k=1, mag=8.0), st.sampled_from([None, -3.0, 0.0, 4.0]))
def test_sigmoid_of_a_single_key(case, bias):
    dtype, q, k, v = case
    out = call_checked(snb.sigmoid_attention, q, k, v, bias=bias).ok()
    x = (np.asarray(q, LD) @ np.swapaxes(np.asarray(k, LD), -1, -2)) / LD(math.sqrt(q.shape[-1]))
    x += LD(0.0 if bias is None else bias)  # -log 1 = 0
    ref = (1 / (1 + np.exp(-x))) * np.asarray(v, LD)
    vmax = max(float(np.abs(v.astype(np.float64)).max()), 1e-300)
    assert np.abs(out.astype(LD) - ref).max() <= _bound(dtype, 1, vmax)


@budget(40)
@given(cases(), st.randoms(use_true_random=False), st.sampled_from([None, 0.0, "array"]))
def test_sigmoid_and_linear_are_equivariant_to_key_and_query_permutations(case, rnd, bias_kind):
    dtype, q, k, v = case
    n_q, n_k = q.shape[-2], k.shape[-2]
    pk, pq = list(range(n_k)), list(range(n_q))
    rnd.shuffle(pk)
    rnd.shuffle(pq)
    bias = np.linspace(-2.0, 1.0, n_k) if bias_kind == "array" else bias_kind
    pbias = bias[pk] if bias_kind == "array" else bias
    vmax = max(float(np.abs(v.astype(np.float64)).max()), 1e-300)
    out = snb.sigmoid_attention(q, k, v, bias=bias)
    perm = snb.sigmoid_attention(q[..., pq, :], k[..., pk, :], v[..., pk, :], bias=pbias)
    assert np.abs(perm.astype(np.float64) - out[..., pq, :].astype(np.float64)).max() <= 2 * _bound(dtype, n_k, vmax)
    out = snb.linear_attention(q, k, v)
    perm = snb.linear_attention(q[..., pq, :], k[..., pk, :], v[..., pk, :])
    assert np.abs(perm.astype(np.float64) - out[..., pq, :].astype(np.float64)).max() <= 2 * _bound(dtype, n_k, vmax)


@budget(40)
@given(cases(), st.floats(10.0, 1e4), st.sampled_from(CAUSAL))
def test_sigmoid_bias_to_minus_infinity_gives_zero(case, t, causal):
    dtype, q, k, v = case
    out = snb.sigmoid_attention(q, k, v, bias=-t, causal=causal)
    top = float(np.max(np.asarray(q, LD) @ np.swapaxes(np.asarray(k, LD), -1, -2))) / math.sqrt(q.shape[-1])
    vmax = float(np.abs(v.astype(np.float64)).max())
    n_k = k.shape[-2]
    bound = n_k * vmax * math.exp(min(top - t, 0.0)) * (1 + 1e-2) + _bound(dtype, n_k, vmax) * math.exp(top - t)
    # the output's own rounding: 4.5e-8 is correctly rounded up to float16's smallest subnormal, 6e-8
    bound += float(np.finfo(dtype).smallest_subnormal)
    assert np.abs(out.astype(np.float64)).max() <= bound
    assert (snb.sigmoid_attention(q, k, v, bias=-np.inf, causal=causal) == 0).all()


# --------------------------------------------------------------------------- linear attention
@budget(60)
@given(cases(), st.sampled_from(CAUSAL))
def test_linear_prefix_sums_equal_the_quadratic_form(case, causal):
    dtype, q, k, v = case
    out = call_checked(snb.linear_attention, q, k, v, causal=causal).ok()
    assert out.dtype == dtype
    w = _linear_weights(q, k, causal)
    den = w.sum(axis=-1, keepdims=True)
    ref = np.where(den > 0, (w @ np.asarray(v, LD)) / np.where(den > 0, den, 1), 0)
    vmax = max(float(np.abs(v.astype(np.float64)).max()), 1e-300)
    # phi(q).phi(k) >= e^-3 per feature here, so the normaliser is never small against the rounding
    assert np.abs(out.astype(LD) - ref).max() <= _bound(dtype, 4 * k.shape[-2], vmax)
    # a convex combination of the allowed values, whatever the rounding
    allowed = _allowed(q.shape[-2], k.shape[-2], causal)
    vb = np.broadcast_to(v, out.shape[:-2] + v.shape[-2:]).astype(np.float64)
    for i in range(q.shape[-2]):
        keys = np.flatnonzero(allowed[i])
        if keys.size:
            lo, hi = vb[..., keys, :].min(axis=-2), vb[..., keys, :].max(axis=-2)
            slack = _bound(dtype, 4 * k.shape[-2], vmax)  # the rounding of the ratio, as above
            assert (out[..., i, :] >= lo - slack).all() and (out[..., i, :] <= hi + slack).all()
        else:
            assert (out[..., i, :] == 0).all()


# --------------------------------------------------------------------------- any magnitude: a value or a refusal
@budget(60)
@given(st.sampled_from(FLOAT_DTYPES), st.sampled_from([1.0, 30.0, 1e4, 1e19, 1e154, 1e307]),
       st.sampled_from([1.0, 1e4, 6e4, 3e38]), st.sampled_from(CAUSAL), st.data())
def test_finite_inputs_give_a_value_or_a_named_refusal(dtype, mag, vmag, causal, data):
    big = float(np.finfo(dtype).max)
    assume(mag <= big)
    q = data.draw(arrays(dtype, (2, 3), mag))
    k = data.draw(arrays(dtype, (4, 3), mag))
    v = data.draw(arrays(dtype, (4, 2), min(vmag, big)))
    for fn, kw in ((snb.sigmoid_attention, {"bias": data.draw(st.sampled_from([None, 0.0, 30.0]))}),
                   (snb.linear_attention, {})):
        outcome = call_checked(fn, q, k, v, causal=causal, **kw)
        value = outcome.check(Expected().allow(ValueError, "q", "k", "v"))
        if value is not None:
            assert np.isfinite(value).all() and value.dtype == dtype
