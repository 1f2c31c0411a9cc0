"""Properties of ``softmax_nb.core``: softmax, log_softmax, logsumexp (``where=``, ``b=``), sigmoid,
softmax_jacobian and naive_softmax, against exact mpmath references (bounds: ``_refs.py``).

Each example draws float16/float32/float64 or int64 logits of 0-3 dimensions (empty axes
included), any axis (int, tuple, None), a temperature from 1e-310 to 1e300, and
sometimes a broadcast ``where=`` mask; extreme values (±inf, NaN, ±max, ±1e308,
subnormals) are sprinkled in. The input policy of ``core``'s docstring decides,
slice by slice, whether the call must return a value (checked against the
reference) or raise a ValueError naming ``z``.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

import softmax_nb as snb
from _gen import FLOAT_DTYPES, axis_specs, float_arrays, mask_shapes, temperatures
from _harness import (
    U64,
    Expected,
    assert_within,
    budget,
    call_checked,
    exact_values,
    from_rows,
    norm_axes,
    precision,
    to_rows,
)
from _refs import PREC, sigmoid_value, softmax_family_row, weighted_sum_row

CORE_DTYPES = FLOAT_DTYPES + FLOAT_DTYPES + (np.int64, np.uint64, np.bool_)  # floats twice as often
NEG_INF = float("-inf")


def _isnan(v) -> bool:
    return v != v


@st.composite
def family_cases(draw, temperature: bool = True):
    z = draw(float_arrays(dtypes=CORE_DTYPES))
    axis = draw(axis_specs(z.ndim))
    t = draw(temperatures()) if temperature else 1.0
    where = None
    if draw(st.integers(0, 2)) == 0:
        where = draw(hnp.arrays(np.bool_, draw(mask_shapes(z.shape))))
    return z, axis, t, where


def _broadcasts(shape, target) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def expect_family(z, axis, t, where, kind):
    """The policy's verdict for softmax/log_softmax/logsumexp, and the reference values and bounds."""
    prec = precision(z.dtype)
    axes = norm_axes(z.ndim, axis)
    rows, batch = to_rows(exact_values(z), axes)
    n, k = rows.shape
    exp = Expected()
    if where is not None and not _broadcasts(where.shape, z.shape):
        return exp.refuse(ValueError, "where"), None, None, prec
    if k == 0 and kind != "lse":
        return exp.refuse(ValueError, "z"), None, None, prec
    used = (np.ones(rows.shape, bool) if where is None
            else to_rows(np.broadcast_to(where, z.shape), axes)[0])
    width = 1 if kind == "lse" else k
    ref = np.empty((n, width))
    bnd = np.zeros((n, width))
    for i in range(n):
        vals = [v if u else NEG_INF for v, u in zip(rows[i], used[i])]
        if not used[i].any() or k == 0:
            ref[i] = {"softmax": 0.0, "log_softmax": NEG_INF, "lse": NEG_INF}[kind]
            continue
        if any(_isnan(v) for v in vals):
            exp.refuse(ValueError, "z")
        elif any(v == math.inf for v in vals):
            if kind == "lse":
                ref[i] = math.inf
            else:
                exp.refuse(ValueError, "z")
        elif all(v == NEG_INF for v in vals):
            if kind == "lse":
                ref[i] = NEG_INF
            else:
                exp.refuse(ValueError, "z")
        else:
            ref[i], bnd[i] = softmax_family_row(vals, t, prec, kind)
    if exp:
        return exp, None, None, prec
    if kind == "lse":
        return exp, ref.reshape(batch), bnd.reshape(batch), prec
    return exp, from_rows(ref, z.shape, axes), from_rows(bnd, z.shape, axes), prec


def _check_container(val, shape, prec, what):
    if shape == ():
        assert isinstance(val, np.generic) and not isinstance(val, np.ndarray), \
            f"{what}: a 0-d result must be a numpy scalar, got {type(val).__name__}"
    else:
        assert isinstance(val, np.ndarray), f"{what}: expected an array, got {type(val).__name__}"
    assert np.shape(val) == shape, f"{what}: shape {np.shape(val)}, expected {shape}"
    assert val.dtype == prec.out, f"{what}: dtype {val.dtype}, expected {prec.out}"


def _run_family(fn, kind, case):
    z, axis, t, where = case
    z0 = z.copy()
    kw = {} if where is None else {"where": where}
    if kind == "lse":
        out = call_checked(fn, z, axis, **kw)
    else:
        out = call_checked(fn, z, axis, t, **kw)
    exp, ref, bnd, prec = expect_family(z, axis, t, where, kind)
    val = out.check(exp)
    np.testing.assert_array_equal(z, z0, err_msg="the input was modified")
    if val is None:
        return
    _check_container(val, ref.shape, prec, fn.__name__)
    assert_within(val, ref, bnd, what=f"{fn.__name__}(dtype={z.dtype}, axis={axis}, T={t})")


@budget(200)
@given(family_cases())
def test_softmax_matches_exact_or_refuses(case):
    """softmax: within the stated bound of exact, or a ValueError naming z (NaN/+inf/all -inf/empty axis)."""
    _run_family(snb.softmax, "softmax", case)


@budget(200)
@given(family_cases())
def test_log_softmax_matches_exact_or_refuses(case):
    """log_softmax: the same policy; the maximal entry keeps full relative accuracy."""
    _run_family(snb.log_softmax, "log_softmax", case)


@budget(150)
@given(family_cases(temperature=False))
def test_logsumexp_matches_exact(case):
    """logsumexp (no b): +inf slices give +inf, all -inf/empty/masked slices -inf, NaN a ValueError."""
    _run_family(snb.logsumexp, "lse", case)


# --------------------------------------------------------------------------- logsumexp with b=
def _b_values(work):
    extreme = [1e308, -1e308, 1e-300, 5e-324]
    if work != np.float64:  # near and beyond the work dtype's range (refused, naming b)
        extreme += [3e38, -3e38, 1e39, 1e-30]
    return st.one_of(st.sampled_from([0.0, 1.0, -1.0, 2.0, 0.5, -0.25]), st.floats(-10, 10),
                     st.sampled_from(extreme), st.sampled_from([np.nan, np.inf, -np.inf]))


@st.composite
def weighted_cases(draw):
    z = draw(float_arrays(dtypes=CORE_DTYPES, special_rate=0.15))
    axis = draw(axis_specs(z.ndim))
    prec = precision(z.dtype)
    b = draw(hnp.arrays(np.float64, draw(mask_shapes(z.shape)), elements=_b_values(prec.work)))
    if draw(st.integers(0, 4)) == 0:
        b = np.round(np.nan_to_num(b)).clip(-5, 5).astype(np.int64)
    where = None
    if draw(st.integers(0, 3)) == 0:
        where = draw(hnp.arrays(np.bool_, draw(mask_shapes(z.shape))))
    return z, axis, b, where, draw(st.booleans()), draw(st.booleans())


@budget(150)
@given(weighted_cases())
def test_logsumexp_weighted(case):
    r"""logsumexp(b=): :math:`\log|\sum_j b_j e^{z_j}|` and its sign, b rounded to the work dtype (documented).

    Bound: the computed sum :math:`\hat S` (relative to :math:`e^m`) is within
    :math:`(2S + \lambda + 8)u_w A + K\sigma_w` of the exact :math:`S`, with
    :math:`A = \sum |b_j| e^{z_j - m}`. Where :math:`|S|` exceeds twice that, the sign is
    exact and the log within :math:`2\,\text{bound}/|S| + (2u_w + u_o + u_{64})|\mathrm{LSE}|`;
    near cancellation only :math:`|\hat S| \le |S| + \text{bound}` is asked, and a
    negative sum may be refused without ``return_sign``.
    """
    z, axis, b, where, keepdims, return_sign = case
    prec = precision(z.dtype)
    kw = {"b": b, "keepdims": keepdims, "return_sign": return_sign}
    if where is not None:
        kw["where"] = where
    out = call_checked(snb.logsumexp, z, axis, **kw)
    exp = Expected()
    if where is not None and not _broadcasts(where.shape, z.shape):
        exp.refuse(ValueError, "where")
    if not _broadcasts(b.shape, z.shape):
        exp.refuse(ValueError, "b")
    if exp:
        out.check(exp)
        return
    with np.errstate(over="ignore", under="ignore"):
        bw = b.astype(prec.work)  # the documented cast
    if not np.isfinite(np.broadcast_to(bw, z.shape)).all():
        exp.refuse(ValueError, "b")
    axes = norm_axes(z.ndim, axis)
    rows, batch = to_rows(exact_values(z), axes)
    brows = to_rows(np.broadcast_to(bw, z.shape).astype(np.float64), axes)[0]
    used = np.ones(rows.shape, bool) if where is None else to_rows(np.broadcast_to(where, z.shape), axes)[0]
    n, k = rows.shape
    plan = []
    for i in range(n):
        vals = [v if u else NEG_INF for v, u in zip(rows[i], used[i])]
        live = [v for v, w in zip(vals, brows[i]) if w != 0]
        if any(_isnan(v) for v in live) or any(v == math.inf for v in live):
            exp.refuse(ValueError, "z")
            continue
        plan.append(weighted_sum_row(vals, list(brows[i])) if k else (None, 0, 0, 0))
    if exp:
        out.check(exp)
        return
    # now the sums, with the cancellation rule
    negative_possible = negative_certain = False
    lse_ref, sign_ref, lse_bnd, checks = np.empty(n), np.empty(n), np.zeros(n), []
    for i, (m, s, a, kk) in enumerate(plan):
        if m is None:
            lse_ref[i], sign_ref[i] = NEG_INF, 0.0
            continue
        vals = [v if u else NEG_INF for v, u in zip(rows[i], used[i])]
        with mp.workprec(PREC):
            smax = min(max(abs(float(mp.mpf(v) - mp.mpf(m))) for v, w in zip(vals, brows[i])
                           if w != 0 and v != NEG_INF), prec.cap)
            bound_s = (2 * smax + math.log2(max(k, 2)) + 8) * prec.u_w * a + k * prec.sub_w
            if abs(s) > 2 * bound_s:
                lse = mp.mpf(m) + mp.log(abs(s))
                lse_ref[i], sign_ref[i] = float(lse), float(mp.sign(s))
                lse_bnd[i] = (2 * bound_s / abs(s) + (2 * prec.u_w + prec.u_o + U64) * abs(float(lse))
                              + 2 * prec.u_w * abs(float(mp.log(abs(s)))) + prec.sub_o)  # log|S| is rounded too
                negative_certain |= s < 0
            else:
                lse_ref[i], sign_ref[i] = np.nan, np.nan  # judged below
                checks.append((i, m, abs(s) + bound_s))
                negative_possible |= s - bound_s < 0
    if not return_sign and (negative_certain or negative_possible) and out.error is not None:
        out.refused((ValueError, ("b", "return_sign")))
        return
    if not return_sign and negative_certain:
        out.refused((ValueError, ("b", "return_sign")))
        return
    val = out.ok()
    lse_val, sign_val = val if return_sign else (val, None)
    shape = batch if not keepdims else tuple(1 if d in axes else s for d, s in enumerate(z.shape or (1,)))
    _check_container(lse_val, shape, prec, "logsumexp")
    flat = np.asarray(lse_val, dtype=np.float64).reshape(-1)
    fsign = None if sign_val is None else np.asarray(sign_val, dtype=np.float64).reshape(-1)
    for i, m, top in checks:  # near cancellation: |S^| <= |S| + bound
        with mp.workprec(PREC):
            if flat[i] != NEG_INF:  # allow the rounding of the returned log as well
                slack = (2 * prec.u_w + prec.u_o + U64) * abs(float(flat[i])) + 8 * prec.u_w
                limit = (top + 4 * prec.sub_o) * mp.exp(slack)
                assert mp.exp(mp.mpf(flat[i]) - mp.mpf(m)) <= limit, \
                    f"logsumexp(b=) row {i}: |sum| {flat[i]} exceeds the bound near cancellation"
        lse_ref[i], lse_bnd[i], flat[i] = 0.0, 0.0, 0.0
        if fsign is not None:
            sign_ref[i] = fsign[i]
    assert_within(flat, lse_ref, lse_bnd, what="logsumexp(b=)", dtype=prec.out)
    if fsign is not None:
        _check_container(sign_val, shape, prec, "logsumexp sign")
        np.testing.assert_array_equal(fsign, sign_ref, err_msg="logsumexp(b=, return_sign=True): sign")


# --------------------------------------------------------------------------- sigmoid, jacobian, naive
@budget(200)
@given(float_arrays(dtypes=CORE_DTYPES + (np.bool_,)))
def test_sigmoid_matches_exact(z):
    r"""sigmoid: :math:`|\hat\sigma - \sigma| \le (4u_w + u_o + u_{64})\sigma + 2\sigma_w + \sigma_o`,
    ``±inf`` give exactly 1 and 0, NaN a ValueError naming z."""
    prec = precision(z.dtype)
    out = call_checked(snb.sigmoid, z)
    exp = Expected()
    if z.dtype.kind == "f" and np.isnan(z).any():
        exp.refuse(ValueError, "z")
    val = out.check(exp)
    if val is None:
        return
    ref = np.array([sigmoid_value(float(v)) for v in z.astype(np.float64).reshape(-1)]).reshape(z.shape)
    bnd = (4 * prec.u_w + prec.u_o + U64) * ref + 2 * prec.sub_w + prec.sub_o
    _check_container(val, z.shape, prec, "sigmoid")
    assert_within(val, ref, bnd, what=f"sigmoid({z.dtype})")


@budget(200)
@given(st.one_of(float_arrays(dtypes=CORE_DTYPES, shape=hnp.array_shapes(min_dims=1, max_dims=1, max_side=6),
                               nan=False, posinf=False),
                 float_arrays(dtypes=CORE_DTYPES, shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0))))
def test_softmax_jacobian_matches_exact(z):
    r"""softmax_jacobian: :math:`J = \operatorname{diag}(p) - pp^\top` for 1-D z, a ValueError naming z otherwise.

    Mixed bound (the diagonal cancels when one :math:`p_i \approx 1`):
    :math:`|\hat J_{ij} - J_{ij}| \le (3\varepsilon_p + 3u)\,p_i(\delta_{ij} + p_j) + 4\sigma_o + K\sigma_w`,
    :math:`\varepsilon_p` the softmax bound of the row and :math:`u` the output's unit roundoff.
    """
    prec = precision(z.dtype)
    out = call_checked(snb.softmax_jacobian, z)
    exp = Expected()
    if z.ndim != 1 or z.size == 0:
        exp.refuse(ValueError, "z")
    else:
        vals = list(exact_values(z))
        if any(_isnan(v) or v == math.inf for v in vals) or all(v == NEG_INF for v in vals):
            exp.refuse(ValueError, "z")
    val = out.check(exp)
    if val is None:
        return
    p, pb = softmax_family_row(list(exact_values(z)), 1.0, prec, "softmax")
    k = len(p)
    with mp.workprec(PREC):
        pe = [mp.mpf(x) for x in p]  # p rounded to float64: within u64 of exact, negligible here
        ref = np.array([[float(pe[i] * ((i == j) - pe[j])) for j in range(k)] for i in range(k)])
    p_arr = np.array(p)
    tiny = k * prec.sub_w + prec.sub_o
    eps_p = np.max(np.divide(np.array(pb) - tiny, p_arr, out=np.zeros(k), where=p_arr > 0))
    u_out = float(np.finfo(prec.out).eps) / 2
    bnd = (3 * eps_p + 3 * u_out) * p_arr[:, None] * (np.eye(k) + p_arr[None, :]) + 4 * prec.sub_o + k * prec.sub_w
    assert val.shape == (k, k) and val.dtype == prec.out
    assert_within(val, ref, bnd, what=f"softmax_jacobian({z.dtype})")


def _naive_safe(dtype, k):
    """Logits whose exp and sum stay normal and finite in ``dtype`` itself (naive_softmax computes there)."""
    info = np.finfo(dtype)
    lo = math.log(float(info.tiny)) + 1.0
    hi = math.log(float(info.max)) - math.log(max(k, 1)) - 1.0
    return lo, hi


@st.composite
def naive_cases(draw):
    dtype = np.dtype(draw(st.sampled_from(FLOAT_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    lo, hi = _naive_safe(dtype, shape[axis])
    lo, hi = float(np.nextafter(dtype.type(lo), dtype.type(0))), float(np.nextafter(dtype.type(hi), dtype.type(0)))
    width = {2: 16, 4: 32, 8: 64}[dtype.itemsize]
    z = draw(hnp.arrays(dtype, shape, elements=st.floats(lo, hi, width=width)))
    return z, axis


@budget(150)
@given(naive_cases())
def test_naive_softmax_matches_exact_where_nothing_overflows(case):
    r"""naive_softmax is exempt from the no-overflow rule (its docstring: unstable on purpose, RuntimeWarnings
    surface, NaN/inf unchecked). It is held to the reference only on logits whose :math:`e^{z}` and sum are
    normal and finite in the input dtype, where it computes: :math:`|\hat p - p| \le (2\lambda + 10)u\,p`."""
    z, axis = case
    prec = precision(z.dtype)
    val = call_checked(snb.naive_softmax, z, axis).ok()
    rows, batch = to_rows(exact_values(z), (axis % z.ndim,))
    k = rows.shape[1]
    u = float(np.finfo(z.dtype).eps) / 2
    ref = np.array([softmax_family_row(list(r), 1.0, prec, "softmax")[0] for r in rows])
    bnd = (2 * math.log2(max(k, 2)) + 10) * u * ref + U64 * ref + 2 * float(np.finfo(z.dtype).smallest_subnormal)
    ref, bnd = from_rows(ref, z.shape, (axis % z.ndim,)), from_rows(bnd, z.shape, (axis % z.ndim,))
    assert val.dtype == z.dtype and val.shape == z.shape
    assert_within(val, ref, bnd, what=f"naive_softmax({z.dtype})")


@budget(100)
@given(float_arrays(), st.integers(-4, 3))
def test_naive_softmax_fails_only_as_documented(z, axis):
    """Outside that range naive_softmax may return NaN/inf with numpy's RuntimeWarning (documented); it must
    still refuse a 0-d input, an axis out of range or an empty class axis with a ValueError naming z/axis,
    and raise nothing else."""
    out = call_checked(snb.naive_softmax, z, axis, warns=(RuntimeWarning, ".*"))
    exp = Expected()
    if z.ndim == 0:
        exp.refuse(ValueError, "z")
    elif not -z.ndim <= axis < z.ndim:
        exp.refuse(ValueError, "axis")
    elif z.shape[axis] == 0:
        exp.refuse(ValueError, "z")
    val = out.check(exp, allow_nan=True)
    if val is not None:
        assert val.shape == z.shape and val.dtype == z.dtype
        for w in out.warned:
            assert issubclass(w.category, RuntimeWarning)
