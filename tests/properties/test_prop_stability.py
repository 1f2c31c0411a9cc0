r"""Properties of ``softmax_nb.stability``: the z-loss and logit soft-capping, against mpmath.

* ``z_loss(logits, weight=w)`` is :math:`\frac{w}{N}\sum_n L_n^2` with :math:`L_n` the exact log-sum-exp of row
  :math:`n` (``_refs.softmax_family_row``, whose bound :math:`\delta_n` covers the work dtype). The stated bound
  is :math:`\frac{w}{N}\sum_n (2|L_n|\delta_n + \delta_n^2) + (N + 8)u_{64}\,\ell + u_{\text{out}}\,\ell +
  \sigma_{\text{out}}` for a loss :math:`\ell`, with :math:`u_{\text{out}}` the unit roundoff and
  :math:`\sigma_{\text{out}}` the smallest subnormal of the output dtype (the float64 mean is rounded once to
  it). Its gradient :math:`\frac{2w}{N} L_n p_{nj}` is held to
  :math:`\frac{2w}{N}(|L_n|\varepsilon_{nj} + \delta_n p_{nj} + \delta_n\varepsilon_{nj}) + 4u_{64}|g| +
  u_{\text{out}}|g| + \sigma_{\text{out}}`, :math:`\varepsilon_{nj}` the softmax bound.
  ``w = 0`` gives exactly 0 (also where :math:`L^2` overflows); NaN, ``+inf``, a row of ``-inf``, an empty class
  axis or 0-d input: a ValueError naming ``logits``; a negative or non-finite weight: one naming ``weight``.
* ``soft_cap(z, cap=c)`` is :math:`c\tanh(z/c)` within :math:`u_w|z|\operatorname{sech}^2(z/c) + 8u_w|y| +
  u_o|y| + c\,\sigma_w + \sigma_o` (the division, ``tanh`` to a few ulps, the product, the output rounding);
  ``±inf`` give ``±c``, the output is non-decreasing in :math:`z` and never beyond :math:`c` rounded to the
  output dtype. NaN: a ValueError naming ``z``; a cap that is not a finite positive number (in the work dtype):
  one naming ``cap``; a bool or string cap: a TypeError naming ``cap``.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from mpmath import mp

import softmax_nb as snb
from _gen import FLOAT_DTYPES, float_arrays, shapes
from _harness import U64, Expected, assert_within, budget, call_checked, exact_values, precision
from _refs import PREC, softmax_family_row

NEG_INF = float("-inf")
STAB_DTYPES = FLOAT_DTYPES + (np.int64,)


def _u_out(dtype) -> float:
    out = precision(dtype).out
    return 0.0 if out == np.float64 else float(np.finfo(out).eps) / 2


def _weights() -> st.SearchStrategy:
    good = st.one_of(st.sampled_from([0.0, 1e-4, 1e-3, 1.0, 100.0]), st.floats(0.0, 10.0))
    bad = st.sampled_from([-1e-4, -1.0, math.inf, math.nan])
    return st.one_of(good, good, good, bad)


@st.composite
def z_loss_cases(draw):
    valid = draw(st.floats(0, 1)) < 0.8
    shape = shapes(min_dims=1, min_side=1) if valid else shapes()
    z = draw(float_arrays(STAB_DTYPES, shape, nan=not valid, posinf=not valid))
    return z, draw(_weights()), draw(st.booleans())


@budget(150)
@given(z_loss_cases())
def test_z_loss_matches_exact(case):
    """z_loss: the weighted mean of exact squared log-sum-exps within the stated bound, and its gradient."""
    z, w, grad = case
    out = call_checked(snb.z_loss, z, weight=w, return_grad=grad)
    exp = Expected()
    rows = exact_values(z).reshape(-1, z.shape[-1]) if z.ndim and z.shape[-1] else None
    if z.ndim == 0 or z.shape[-1] == 0:
        exp.refuse(ValueError, "logits")
    elif any(v != v or v == math.inf for v in rows.ravel()) or any(all(v == NEG_INF for v in r) for r in rows):
        exp.refuse(ValueError, "logits")
    if not (math.isfinite(w) and w >= 0):
        exp.refuse(ValueError, "weight")
    val = out.check(exp)
    if val is None:
        return
    loss, g = val if grad else (val, None)
    prec, u_out = precision(z.dtype), _u_out(z.dtype)
    assert isinstance(loss, np.generic) and loss.dtype == prec.out
    n = len(rows)
    if w == 0.0 or n == 0:
        assert loss == 0.0
        if grad:
            assert g.dtype == prec.out and g.shape == z.shape and not g.any()
        return
    lse, delta = [], []
    for r in rows:
        v, b = softmax_family_row(list(r), 1.0, prec, "lse")
        lse.append(v[0])
        delta.append(b[0])
    with mp.workprec(PREC):
        exact = float(mp.mpf(w) * mp.fsum(mp.mpf(x) ** 2 for x in lse) / n)
    bound = (w / n * sum(2 * abs(x) * d + d * d for x, d in zip(lse, delta)) + ((n + 8) * U64 + u_out) * exact
             + float(np.finfo(prec.out).smallest_subnormal))
    assert_within(loss, exact, bound, what=f"z_loss({z.dtype}, w={w})", dtype=prec.out)
    if not grad:
        return
    assert isinstance(g, np.ndarray) and g.dtype == prec.out and g.shape == z.shape
    ref, bnd = np.zeros(rows.shape), np.zeros(rows.shape)
    sub = float(np.finfo(prec.out).smallest_subnormal)
    for i, r in enumerate(rows):
        p, eps = softmax_family_row(list(r), 1.0, prec, "softmax")
        c = 2.0 * w / n
        for j in range(len(p)):
            with mp.workprec(PREC):
                ref[i, j] = float(mp.mpf(c) * mp.mpf(lse[i]) * mp.mpf(p[j]))
            bnd[i, j] = (c * (abs(lse[i]) * eps[j] + delta[i] * p[j] + delta[i] * eps[j])
                         + (4 * U64 + u_out) * abs(ref[i, j]) + sub)
    assert_within(g.reshape(rows.shape), ref, bnd, what=f"z_loss gradient ({z.dtype}, w={w})", dtype=prec.out)


def _caps() -> st.SearchStrategy:
    good = st.one_of(st.sampled_from([30.0, 50.0, 1.0, 0.5, 1e-3, 1e4]), st.floats(1e-3, 1e3))
    bad = st.sampled_from([0.0, -1.0, -30.0, math.inf, -math.inf, math.nan, 1e39, 1e300, True, "30"])
    return st.one_of(good, good, good, bad)


@st.composite
def soft_cap_cases(draw):
    return draw(float_arrays(STAB_DTYPES, special_rate=0.4)), draw(_caps())


@budget(200)
@given(soft_cap_cases())
def test_soft_cap_matches_exact(case):
    """soft_cap: c tanh(z/c) within the stated bound, ±inf to ±c, monotone, bounded by c; bad caps and NaN refused."""
    z, c = case
    out = call_checked(snb.soft_cap, z, cap=c)
    exp = Expected()
    prec = precision(z.dtype)
    if isinstance(c, (bool, str)):
        exp.refuse(TypeError, "cap")
    else:
        with np.errstate(over="ignore"):
            in_work = float(np.float64(c).astype(prec.work))
        if not (math.isfinite(c) and c > 0 and math.isfinite(in_work) and in_work > 0):
            exp.refuse(ValueError, "cap")
    if z.dtype.kind == "f" and np.isnan(z).any():
        exp.refuse(ValueError, "z")
    val = out.check(exp)
    if val is None:
        return
    assert isinstance(val, np.generic if z.ndim == 0 else np.ndarray), "0-d input gives a numpy scalar"
    val = np.asarray(val)
    assert val.shape == z.shape and val.dtype == prec.out
    cw = float(prec.work.type(c))  # the cap the function computes with (documented: in the work dtype)
    flat = exact_values(z).ravel()
    ref, bnd = np.zeros(flat.shape), np.zeros(flat.shape)
    with mp.workprec(PREC):
        for i, x in enumerate(flat):
            x = float(x)
            if math.isinf(x):  # exactly ±c in the work dtype, then rounded to the output
                ref[i] = math.copysign(cw, x)
                bnd[i] = prec.u_o * cw + prec.sub_o
                continue
            t = mp.tanh(mp.mpf(x) / cw)
            ref[i] = float(cw * t)
            sech2 = float(1 - t * t)
            bnd[i] = (prec.u_w * abs(x) * sech2 + (8 * prec.u_w + prec.u_o) * abs(ref[i])
                      + cw * prec.sub_w + prec.sub_o)
    assert_within(val.ravel(), ref, bnd, what=f"soft_cap({z.dtype}, cap={c})")
    top = float(prec.out.type(cw)) if prec.out != prec.work else cw
    assert np.all(np.abs(val.astype(np.float64)) <= top), "soft_cap went beyond the cap"
    order = np.argsort(flat.astype(np.float64), kind="stable")
    assert np.all(np.diff(val.ravel().astype(np.float64)[order]) >= 0), "soft_cap is not monotone"
