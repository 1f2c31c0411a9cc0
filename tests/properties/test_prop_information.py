r"""Properties of ``softmax_nb.information``: entropy and kl_divergence against mpmath.

Stated bounds, with :math:`u_w` the work dtype's unit roundoff (float32 for float16
input, by the half-precision rule), :math:`u_o` the output rounding and :math:`K`
the number of classes:

* entropy (all terms :math:`-p\log p \ge 0`): :math:`|\hat H - H| \le ((K + 4)u_w + u_o)H + 2K\sigma_w + \sigma_o`;
* KL (terms of both signs): :math:`|\widehat{KL} - KL| \le (K + 4)u_w \sum_i (|p_i \log p_i| + |p_i \log q_i|)
  + u_o KL + 2K\sigma_w + \sigma_o`, and exactly ``inf`` where some :math:`q_i = 0 < p_i`.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

import softmax_nb as snb
from _gen import FLOAT_DTYPES, probabilities, shapes
from _harness import U64, Expected, Precision, assert_within, budget, call_checked, precision
from _refs import PREC


def _prec(*dtypes) -> Precision:
    """The half-precision rule for the promoted dtype."""
    out = precision(np.result_type(*[np.dtype(d) if np.dtype(d).kind == "f" else np.float64 for d in dtypes])).out
    # each term is computed in its own input's work dtype: the bound uses the narrowest one
    work = min((precision(d).work for d in dtypes), key=lambda d: np.dtype(d).itemsize)
    return Precision(np.dtype(work), out)


@st.composite
def prob_arrays(draw, shape=None, bad: bool = True):
    dtype = np.dtype(draw(st.sampled_from(FLOAT_DTYPES + (np.int64,))))
    bad = bad and draw(st.integers(0, 3)) == 0
    shp = draw((shapes() if bad else shapes(min_dims=1, min_side=1)) if shape is None else st.just(shape))
    if dtype.kind == "i":
        return draw(hnp.arrays(dtype, shp, elements=st.integers(0, 1 if not bad else 2)))
    p = draw(hnp.arrays(dtype, shp, elements=probabilities(dtype)))
    if bad and p.size and draw(st.booleans()):
        i = draw(st.integers(0, p.size - 1))
        p.flat[i] = draw(st.sampled_from([np.nan, np.inf, -np.inf, -0.5, 1.5, -float(np.finfo(dtype).tiny)]))
    return p


def _xlogy(x, y):
    return mp.zero if x == 0 else mp.mpf(x) * mp.log(mp.mpf(y))


def _expect_probs(arr, name, exp):
    if arr.size and not (np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1):
        exp.refuse(ValueError, name)


def _axis_problems(p, axis, exp):
    if p.ndim == 0:
        exp.refuse(ValueError, "p")
        return None
    if not -p.ndim <= axis < p.ndim:
        exp.refuse(ValueError, "axis")
        return None
    if p.shape[axis] == 0:
        exp.refuse(ValueError, "p")
        return None
    return axis % p.ndim


def _result_shape(val, shape, dtype):
    if shape == ():
        assert isinstance(val, np.generic), f"a full reduction must give a numpy scalar, got {type(val).__name__}"
    assert np.shape(val) == shape and val.dtype == dtype, (np.shape(val), val.dtype, shape, dtype)


def _axis(p):
    n = max(p.ndim, 1)
    return st.one_of(st.integers(-n, n - 1), st.integers(-n, n - 1), st.integers(-n, n - 1), st.integers(-4, 3))


@budget(200)
@given(prob_arrays().flatmap(lambda p: st.tuples(st.just(p), _axis(p))))
def test_entropy_matches_exact(case):
    """entropy: -sum p log p along axis within the stated bound, or a ValueError naming p/axis."""
    p, axis = case
    out = call_checked(snb.entropy, p, axis)
    exp = Expected()
    ax = _axis_problems(p, axis, exp)
    _expect_probs(p, "p", exp)
    val = out.check(exp)
    if val is None:
        return
    prec = _prec(p.dtype)
    moved = np.moveaxis(p.astype(np.float64), ax, -1)
    k = moved.shape[-1]
    rows = moved.reshape(-1, k)
    with mp.workprec(PREC):
        ref = np.array([float(-mp.fsum(_xlogy(v, v) for v in r)) for r in rows]).reshape(moved.shape[:-1])
    bnd = ((k + 4) * prec.u_w + prec.u_o + U64) * ref + 2 * k * prec.sub_w + prec.sub_o
    _result_shape(val, moved.shape[:-1], prec.out)
    assert_within(val, ref, bnd, what=f"entropy({p.dtype})")


@st.composite
def kl_cases(draw):
    p = draw(prob_arrays())
    shape = p.shape if draw(st.integers(0, 9)) else draw(shapes())
    q = draw(prob_arrays(shape=shape))
    if draw(st.booleans()) and q.dtype.kind == "f":
        q = q.astype(p.dtype if p.dtype.kind == "f" else np.float64)
    return p, q, draw(_axis(p))


@budget(200)
@given(kl_cases())
def test_kl_divergence_matches_exact(case):
    """kl_divergence: sum p log(p/q) within the stated bound (inf where q = 0 < p), or a ValueError naming
    p/q/axis."""
    p, q, axis = case
    out = call_checked(snb.kl_divergence, p, q, axis)
    exp = Expected()
    if p.shape != q.shape:
        exp.refuse(ValueError, "p", "q")
    ax = _axis_problems(p, axis, exp)
    _expect_probs(p, "p", exp)
    _expect_probs(q, "q", exp)
    val = out.check(exp)
    if val is None:
        return
    prec = _prec(p.dtype, q.dtype)
    mp_ = np.moveaxis(p.astype(np.float64), ax, -1)
    mq = np.moveaxis(q.astype(np.float64), ax, -1)
    k = mp_.shape[-1]
    refs, bnds = [], []
    with mp.workprec(PREC):
        for rp, rq in zip(mp_.reshape(-1, k), mq.reshape(-1, k)):
            if any(x > 0 and y == 0 for x, y in zip(rp, rq)):
                refs.append(math.inf)
                bnds.append(0.0)
                continue
            a = [_xlogy(x, x) for x in rp]
            b = [_xlogy(x, y) for x, y in zip(rp, rq)]
            kl = mp.fsum(a) - mp.fsum(b)
            refs.append(float(kl))
            mass = float(mp.fsum(abs(t) for t in a) + mp.fsum(abs(t) for t in b))
            bnds.append((k + 4) * prec.u_w * mass + (prec.u_o + U64) * abs(float(kl))
                        + 2 * k * prec.sub_w + prec.sub_o)
    shape = mp_.shape[:-1]
    _result_shape(val, shape, prec.out)
    assert_within(val, np.array(refs).reshape(shape), np.array(bnds).reshape(shape), what=f"kl({p.dtype})")
