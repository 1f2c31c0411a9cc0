r"""Properties of ``softmax_nb.losses`` against exact mpmath references.

Every loss is a sum of non-negative terms :math:`a_k\,(-\ell_k)` with exact log-probabilities
:math:`\ell_k` (``_refs.log_softmax_mp``) and coefficients :math:`a_k \ge 0` (class weights,
smoothed targets). The stated bound of a per-sample loss is
:math:`\sum_k a_k\,\delta_k + ((K + 6)u_w + u_o)\,\ell`, with :math:`\delta_k` the log-softmax bound
of ``_refs.py`` (work dtype) and the rest for the coefficients, the sum and the output rounding;
``'sum'``/``'mean'`` add :math:`N u_{64}` (they accumulate in float64) and the rounding of the
divisor. A term whose coefficient is 0 contributes 0 even at :math:`\ell_k = -\infty`; one whose
coefficient is positive makes the loss exactly ``+inf``. Gradients: :math:`g_k = (A p_k - a_k)/D`
with :math:`A = \sum_j a_j`, bounded by :math:`(A p_k(\varepsilon_{p_k} + (K + 6)u_w) + (K + 6)u_w a_k)/D
+ u_o|g_k|`, :math:`\varepsilon_{p_k}` the softmax bound.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

import softmax_nb as snb
from _gen import FLOAT_DTYPES, float_arrays, probabilities, shapes
from _harness import U64, Expected, assert_within, budget, call_checked, exact_values, precision, tolerated
from _refs import PREC, log_softmax_bound, log_softmax_mp, softplus

NEG_INF = float("-inf")
EMPTY_MEAN = (RuntimeWarning, ".*reduction='mean' over a total weight of 0")
LOSS_DTYPES = FLOAT_DTYPES + (np.int64,)


def _weights(k: int, work, valid: bool = False) -> st.SearchStrategy:
    big, small = 1e300, 1e-300
    if tolerated("B4") and np.dtype(work) != np.float64:  # B4: weights beyond the work dtype's range
        big, small = 1e30, 1e-30
    good = hnp.arrays(np.float64, k, elements=st.one_of(st.floats(small, 10), st.sampled_from([0.0, 1.0, big, small])))
    if valid:
        return st.one_of(st.none(), good)
    bad = st.one_of(hnp.arrays(np.float64, k + 1, elements=st.floats(0, 1)),
                    st.just(np.array([-1.0] + [1.0] * (k - 1)) if k else np.array([-1.0])),
                    st.just(np.full(max(k, 1), np.nan)))
    return st.one_of(st.none(), good, good, bad)


def _row_bad(vals) -> bool:
    return any(v != v or v == math.inf for v in vals) or all(v == NEG_INF for v in vals)


def _check_logits(rows, exp, used=None):
    """NaN, +inf or an all -inf slice: a ValueError naming logits (optional for slices that are not used)."""
    for i, r in enumerate(rows):
        if _row_bad(list(r)):
            if used is None or used[i]:
                exp.refuse(ValueError, "logits")
            else:
                exp.allow(ValueError, "logits")


def _reduce_ref(losses, bounds, denom, reduction, n_terms):
    """Apply the reduction to exact per-sample losses (mpf) and their bounds."""
    if reduction == "none":
        return losses, bounds
    total = mp.fsum(losses) if losses else mp.zero
    tb = mp.fsum(bounds) + n_terms * U64 * abs(total)  # in mpmath: a sum beyond float64 keeps its bound
    if reduction == "sum":
        return [total], [_to_float(tb)]
    if tolerated("B11") and total != mp.inf and abs(total) > np.finfo(np.float64).max:
        return [mp.inf], [0.0]  # B11: a float64 sum beyond the range makes the (finite) mean inf
    return [total / denom], [_to_float(tb / denom + 2 * U64 * abs(total / denom))]


def _u_final(prec, reduction) -> float:
    """The rounding of a float64 'sum'/'mean' to the output dtype (per-sample losses: in prec.u_o already)."""
    return float(np.finfo(prec.out).eps) / 2 if reduction != "none" else prec.u_o


def _to_float(x) -> float:
    return math.inf if x == mp.inf else float(x)  # float() of an mpf beyond float64 is inf, of inf too


# --------------------------------------------------------------------------- one_hot, smooth_labels
@st.composite
def label_cases(draw):
    k = draw(st.integers(1, 5))
    shape = draw(shapes(max_dims=2))
    labels = draw(hnp.arrays(np.int64, shape, elements=st.integers(-1, k)))
    if draw(st.integers(0, 4)) == 0:
        labels = labels.astype(np.float64) + draw(st.sampled_from([0.0, 0.0, 0.5]))
    return labels, k


@budget(120)
@given(label_cases(), st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, -0.1, 1.5, np.nan])))
def test_one_hot_and_smooth_labels(case, alpha):
    """one_hot: [k == label] (float64, labels.shape + (K,)); smooth_labels: (1 - a) one_hot + a/K within 2u;
    labels outside [0, K) or not integral: a ValueError naming labels; alpha outside [0, 1]: naming alpha."""
    labels, k = case
    exp = Expected()
    if labels.size and (np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= k):
        exp.refuse(ValueError, "labels")
    val = call_checked(snb.one_hot, labels, k).check(exp)
    if val is not None:
        ref = (labels.astype(np.int64)[..., None] == np.arange(k)).astype(np.float64)
        assert val.dtype == np.float64 and val.shape == labels.shape + (k,)
        np.testing.assert_array_equal(val, ref)
    if not 0 <= alpha <= 1:
        exp.refuse(ValueError, "alpha")
    val = call_checked(snb.smooth_labels, labels, k, alpha).check(exp)
    if val is not None:
        ref = (1 - alpha) * (labels.astype(np.int64)[..., None] == np.arange(k)) + alpha / k
        assert_within(val, ref, 2 * U64 * ref, what="smooth_labels")


# --------------------------------------------------------------------------- cross_entropy and its gradient
@st.composite
def ce_cases(draw):
    valid = draw(st.integers(0, 3)) > 0  # three in four examples are valid calls, the rest probe refusals
    z = draw(float_arrays(dtypes=LOSS_DTYPES, shape=shapes(min_dims=int(valid), max_dims=3, min_side=int(valid)),
                          special_rate=0.2, nan=not valid, posinf=not valid))
    ndim = max(z.ndim, 1)
    axis = draw(st.integers(-ndim, ndim - 1) if valid or draw(st.integers(0, 9)) else st.integers(-ndim - 1, ndim))
    k = z.shape[axis] if z.ndim and -z.ndim <= axis < z.ndim else 1
    label_shape = z.shape[:axis % ndim] + z.shape[axis % ndim + 1:] if z.ndim else ()
    kind = draw(st.sampled_from(["labels", "labels", "probs"] + ["bad"] * (not valid)))
    ignore = None
    if kind == "labels":
        target = draw(hnp.arrays(np.int64, label_shape, elements=st.integers(0, max(k - 1, 0))))
        ignore = draw(st.sampled_from([None, None, -100, 0]))
        if ignore == -100 and target.size:
            target = np.where(draw(hnp.arrays(np.bool_, label_shape)), -100, target)
        if not valid and target.size and draw(st.integers(0, 4)) == 0:
            target.flat[0] = draw(st.sampled_from([-1, k, -100]))
    elif kind == "probs":
        target = draw(hnp.arrays(np.float64, z.shape, elements=probabilities()))
        ignore = draw(st.sampled_from([None, None, -100] + [0] * (not valid)))
        if not valid and target.size and draw(st.integers(0, 4)) == 0:
            target.flat[0] = draw(st.sampled_from([np.nan, -0.5, 1.5]))
    else:
        target = draw(hnp.arrays(np.int64, draw(shapes(max_dims=2)), elements=st.integers(0, 2)))
    weight = draw(_weights(k, precision(z.dtype).work, valid))
    eps = draw(st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1)))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return z, target, axis, eps, reduction, weight, ignore


def _ce_plan(z, target, axis, eps, weight, ignore, exp):
    """The policy's refusals for cross_entropy(_grad), and per sample (coefficients a_k, used) or None."""
    if z.ndim == 0:
        return exp.refuse(ValueError, "logits")
    if not -z.ndim <= axis < z.ndim:
        return exp.refuse(ValueError, "axis")
    ax = axis % z.ndim
    k = z.shape[ax]
    if k == 0:
        return exp.refuse(ValueError, "logits")
    label_shape = z.shape[:ax] + z.shape[ax + 1:]
    t = np.asarray(target)
    is_prob = t.shape == z.shape
    if is_prob:
        if ignore is not None and ignore >= 0:
            exp.refuse(ValueError, "ignore_index")
        if t.size and not (np.isfinite(t).all() and t.min() >= 0 and t.max() <= 1):
            exp.refuse(ValueError, "target")
    elif t.shape == label_shape:
        keep = np.ones(t.shape, bool) if ignore is None else t != ignore
        tk = t[keep]
        if tk.size and (tk.min() < 0 or tk.max() >= k):
            exp.refuse(ValueError, "target")
    else:
        exp.refuse(ValueError, "target")
    w = None
    if weight is not None:
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != (k,) or not np.isfinite(w).all() or w.min() < 0:
            exp.refuse(ValueError, "weight")
            w = None
    zr = np.moveaxis(exact_values(z), ax, -1).reshape(-1, k)
    if exp:
        _check_logits(zr, exp)
        return None
    ones = np.ones(k) if w is None else w
    samples = []
    if is_prob:
        tr = np.moveaxis(t, ax, -1).reshape(-1, k)
        for y in tr:
            samples.append(([ones[j] * ((1 - eps) * y[j] + eps / k) for j in range(k)], True))
    else:
        for c in t.reshape(-1):
            if ignore is not None and c == ignore:
                samples.append(([0.0] * k, False))
            else:
                samples.append(([(1 - eps) * ones[j] * (j == c) + eps / k * ones[j] for j in range(k)], True))
    _check_logits(zr, exp, [u for _, u in samples])
    denom = float(len(samples)) if (is_prob or (w is None and ignore is None)) else float(
        sum(ones[c] for c, (_, u) in zip(t.reshape(-1), samples) if u))
    return zr, samples, denom, is_prob, ax, label_shape, k


def _ce_loss_row(vals, coef, prec):
    ell, smax = log_softmax_mp(vals)
    m = max(v for v in vals if v != NEG_INF)
    total, bound = mp.zero, 0.0
    for lj, a, v in zip(ell, coef, vals):
        if a == 0:
            continue
        if lj == mp.ninf:
            return mp.inf, 0.0
        total += mp.mpf(a) * -lj
        bound += a * log_softmax_bound(lj, abs(float(mp.mpf(v) - m)), smax, len(vals), prec)
    return total, bound + (len(vals) + 6) * prec.u_w * abs(float(total))


@budget(200)
@given(ce_cases())
def test_cross_entropy_matches_exact(case):
    """cross_entropy: labels or probabilities, weights, smoothing, ignore_index, any axis and reduction,
    within the stated bound; 'mean' over a total weight of 0 is NaN with the documented RuntimeWarning."""
    z, target, axis, eps, reduction, weight, ignore = case
    kw = {"weight": weight, "ignore_index": ignore}
    exp = Expected()
    plan = _ce_plan(z, target, axis, eps, weight, ignore, exp)
    out = call_checked(snb.cross_entropy, z, target, axis, eps, reduction, warns=EMPTY_MEAN, **kw)
    if out.check(exp, allow_nan=True) is None:
        return
    zr, samples, denom, is_prob, ax, label_shape, k = plan
    prec = precision(z.dtype)
    losses, bounds = [], []
    with mp.workprec(PREC), np.errstate(over="ignore", invalid="ignore"):
        for vals, (coef, used) in zip(zr, samples):
            if not used or _row_bad(list(vals)):
                losses.append(mp.zero)
                bounds.append(0.0)
                continue
            lv, lb = _ce_loss_row(list(vals), coef, prec)
            losses.append(lv)
            bounds.append(lb)
        if reduction == "mean" and denom == 0:
            assert out.warned and np.isnan(out.value) and out.value.dtype == prec.out, out.value
            return
        vals, bnds = _reduce_ref(losses, bounds, denom, reduction, len(losses))
    assert not out.warned
    val = out.ok()
    ref = np.array([_to_float(v) for v in vals])
    bnd = np.array(bnds) + (_u_final(prec, reduction) + U64) * np.abs(ref)
    if reduction == "none":
        scalar = (np.generic, np.ndarray) if tolerated("B10") else np.generic  # B10: sometimes a 0-d array
        assert isinstance(val, np.ndarray if label_shape else scalar) and val.shape == label_shape, type(val)
        ref, bnd = ref.reshape(label_shape), bnd.reshape(label_shape)
    else:
        assert isinstance(val, np.generic), type(val)
        ref, bnd = ref.reshape(()), bnd.reshape(())
    assert val.dtype == prec.out
    assert_within(val, ref, bnd + prec.sub_o + prec.sub_w, what=f"cross_entropy({z.dtype}, {reduction})")


@budget(200)
@given(ce_cases())
def test_cross_entropy_grad_matches_exact(case):
    """cross_entropy_grad = (A p - a)/D per sample (see the module docstring), zero for ignored samples;
    'mean' with divisor 0: NaN gradients for the kept samples with the documented RuntimeWarning."""
    z, target, axis, eps, reduction, weight, ignore = case
    exp = Expected()
    plan = _ce_plan(z, target, axis, eps, weight, ignore, exp)
    out = call_checked(snb.cross_entropy_grad, z, target, eps, reduction, axis=axis, weight=weight,
                       ignore_index=ignore, warns=EMPTY_MEAN)
    if out.check(exp, allow_nan=True) is None:
        return
    zr, samples, denom, is_prob, ax, label_shape, k = plan
    prec = precision(z.dtype)
    val = out.value
    assert isinstance(val, np.ndarray) and val.shape == z.shape and val.dtype == prec.out
    got = np.moveaxis(val, ax, -1).reshape(-1, k)
    if reduction == "mean" and denom == 0:
        kept = np.array([u for _, u in samples], bool)
        assert bool(out.warned) == bool(kept.any())
        assert np.isnan(got[kept]).all() and (got[~kept] == 0).all()
        return
    assert not out.warned and not np.isnan(got).any(), "a NaN the policy does not allow"
    d = denom if reduction == "mean" else 1.0
    ref, bnd = np.zeros(got.shape), np.zeros(got.shape)
    with mp.workprec(PREC), np.errstate(over="ignore", invalid="ignore"):
        for i, (vals, (coef, used)) in enumerate(zip(zr, samples)):
            if not used:
                continue
            ell, smax = log_softmax_mp(list(vals))
            m = max(v for v in vals if v != NEG_INF)
            a_sum = sum(coef)
            lam = math.log2(k) if k > 1 else 0.0
            for j in range(k):
                p = mp.exp(ell[j]) if ell[j] != mp.ninf else mp.zero
                s_abs = min(abs(float(mp.mpf(vals[j]) - m)) if vals[j] != NEG_INF else 0.0, prec.cap)
                eps_p = (3 * s_abs + 3 * min(smax, prec.cap) + 2 * lam + 16) * prec.u_w
                ref[i, j] = float((a_sum * p - coef[j]) / d)
                bnd[i, j] = ((a_sum * (float(p) * (eps_p + (k + 6) * prec.u_w) + 2 * k * prec.sub_w)
                              + (k + 6) * prec.u_w * coef[j] + 4 * k * prec.sub_w) / d  # w p may be subnormal
                             + (prec.u_o + U64) * abs(ref[i, j]) + k * prec.sub_w + prec.sub_o)
    assert_within(got, ref, bnd, what=f"cross_entropy_grad({z.dtype}, {reduction})")


# --------------------------------------------------------------------------- binary cross-entropy
@st.composite
def bce_cases(draw, focal: bool = False):
    valid = draw(st.integers(0, 3)) > 0
    x = draw(float_arrays(dtypes=LOSS_DTYPES + (np.bool_,), special_rate=0.1, nan=not valid, posinf=not valid,
                          neginf=not valid))
    shape = x.shape if valid or draw(st.integers(0, 4)) else draw(shapes())
    y = draw(hnp.arrays(np.float64, shape, elements=probabilities()))
    if not valid and y.size and draw(st.integers(0, 4)) == 0:
        y.flat[0] = draw(st.sampled_from([np.nan, -0.5, 1.5]))
    if draw(st.booleans()):
        y = y.astype(precision(x.dtype).out)
    work = precision(x.dtype).work
    big, small = 1e300, 1e-300
    if tolerated("B4") and work != np.float64:  # B4: weights beyond the work dtype's range
        big, small = 1e30, 1e-30
    wts = []
    for _ in range(0 if focal else 2):
        if draw(st.booleans()):
            wts.append(None)
            continue
        wshape = draw(hnp.broadcastable_shapes(x.shape, min_dims=0, max_dims=max(x.ndim, 1), min_side=0)
                      if valid or draw(st.integers(0, 4)) else shapes(max_dims=2))
        extremes = [0.0, big, small] + [-1.0, np.nan] * (not valid)
        w = draw(hnp.arrays(np.float64, wshape, elements=st.one_of(st.floats(small, 10), st.sampled_from(extremes))))
        wts.append(w)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return x, y, reduction, wts


def _bce_refusals(x, y, reduction, wts, exp):
    if x.shape != y.shape:
        exp.refuse(ValueError, "logits", "targets")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        exp.refuse(ValueError, "logits")
    if y.size and not (np.isfinite(y).all() and y.min() >= 0 and y.max() <= 1):
        exp.refuse(ValueError, "targets")
    for name, w in zip(("weight", "pos_weight"), wts):
        if w is None:
            continue
        try:
            fits = np.broadcast_shapes(w.shape, x.shape) == x.shape
        except ValueError:
            fits = False
        if not fits or not np.isfinite(w).all() or (w.size and w.min() < 0):
            exp.refuse(ValueError, name)


def _bce_elem(x, y, pw):
    """Exact elementwise BCE (mpf) and its 'scale' (the sum the rounding errors are relative to)."""
    xm, ym = mp.mpf(x), mp.mpf(y)
    sp_pos, sp_neg = softplus(xm), softplus(-xm)
    tail = mp.log1p(mp.exp(-abs(xm)))
    if pw is None:
        return ym * sp_neg + (1 - ym) * sp_pos, max(xm, 0) + abs(xm) * ym + tail
    val = mp.mpf(pw) * ym * sp_neg + (1 - ym) * sp_pos
    return val, val


@budget(200)
@given(bce_cases())
def test_binary_cross_entropy_with_logits_matches_exact(case):
    r"""binary_cross_entropy_with_logits: :math:`w[\pi y\,\mathrm{sp}(-x) + (1 - y)\mathrm{sp}(x)]` elementwise,
    bound :math:`8u_w w\,s + u_o|\ell|` with :math:`s` the magnitude of the formula's terms
    (:math:`\max(x, 0) + |x|y + \log(1 + e^{-|x|})`, or the loss itself with ``pos_weight``); 'mean'/'sum'
    are computed in float64 (``u_w = u_{64}``)."""
    x, y, reduction, (weight, pos_weight) = case
    exp = Expected()
    _bce_refusals(x, y, reduction, (weight, pos_weight), exp)
    out = call_checked(snb.binary_cross_entropy_with_logits, x, y, reduction, weight=weight,
                       pos_weight=pos_weight, warns=EMPTY_MEAN)
    if out.check(exp, allow_nan=True) is None:
        return
    prec = precision(x.dtype)
    u_w = prec.u_w if reduction == "none" else U64
    work = prec.work if reduction == "none" else np.float64  # targets and weights are cast to it (documented),
    fi = np.finfo(work)  # unless a positive weight is not a normal number of it: then float64
    if any(w is not None and np.any((w > 0) & ((w < fi.tiny) | (w > fi.max))) for w in (weight, pos_weight)):
        work, u_w = np.float64, U64
    xs = x.astype(np.float64).reshape(-1)
    with np.errstate(over="ignore"):
        ys = np.broadcast_to(y, x.shape).astype(work).astype(np.float64).reshape(-1)
        ws = np.broadcast_to(1.0 if weight is None else weight, x.shape).astype(work).astype(np.float64).reshape(-1)
        pws = None if pos_weight is None else np.broadcast_to(pos_weight, x.shape).astype(work).astype(
            np.float64).reshape(-1)
    vals, bnds = [], []
    with mp.workprec(PREC), np.errstate(over="ignore", invalid="ignore"):
        for i in range(xs.size):
            v, scale = _bce_elem(xs[i], ys[i], None if pws is None else pws[i])
            if tolerated("B11") and v > np.finfo(work).max and ws[i] > 0:  # B11: pos_weight * softplus overflows
                vals.append(mp.inf)  # before the weight brings it back
                bnds.append(0.0)
                continue
            vals.append(mp.mpf(ws[i]) * v)
            pw_i = 1.0 if pws is None else float(pws[i])
            subnormal = 8 * prec.sub_w * (1 + pw_i) * (1 + abs(xs[i]))  # pw * y may be subnormal, then times |x|
            bnds.append(0.0 if ws[i] == 0 else _to_float(mp.mpf(ws[i]) * (8 * u_w * scale + subnormal)))
        if reduction == "mean" and not vals:
            assert out.warned and np.isnan(out.value)
            return
        vals, bnds = _reduce_ref(vals, bnds, len(vals), reduction, len(vals))
    assert not out.warned
    val = out.ok()
    ref = np.array([_to_float(v) for v in vals])
    u_final = float(np.finfo(prec.out).eps) / 2 if np.dtype(work) != prec.out else _u_final(prec, reduction)
    bnd = np.array(bnds) + (u_final + U64) * np.abs(ref) + prec.sub_o
    shape = x.shape if reduction == "none" else ()
    assert np.shape(val) == shape and val.dtype == prec.out, (np.shape(val), val.dtype)
    assert_within(val, ref.reshape(shape), bnd.reshape(shape), what=f"bce({x.dtype}, {reduction})")


# --------------------------------------------------------------------------- focal losses
@st.composite
def focal_cases(draw):
    valid = draw(st.integers(0, 3)) > 0
    z = draw(float_arrays(dtypes=LOSS_DTYPES, shape=shapes(min_dims=int(valid), max_dims=3, min_side=int(valid)),
                          special_rate=0.15, extreme=draw(st.booleans()), nan=not valid, posinf=not valid))
    k = z.shape[-1] if z.ndim else 0
    tshape = z.shape[:-1] if z.ndim and (valid or draw(st.integers(0, 4))) else draw(shapes(max_dims=2))
    target = draw(hnp.arrays(np.int64, tshape, elements=st.integers(0, max(k - 1, 0))))
    if not valid and target.size and draw(st.integers(0, 4)) == 0:
        target.flat[0] = draw(st.sampled_from([-1, k]))
    gamma = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]), st.floats(0, 10),
                           st.sampled_from([-1.0, np.nan] if not valid else [0.0])))
    alpha = draw(st.none() | _weights(k, precision(z.dtype).work, valid).filter(lambda a: a is not None))
    return z, target, gamma, alpha, draw(st.sampled_from(["mean", "sum", "none"]))


def _focal_plan(z, target, gamma, alpha, exp):
    if z.ndim == 0 or z.shape[-1] == 0:
        exp.refuse(ValueError, "logits")
        return None
    k = z.shape[-1]
    if not (gamma >= 0 and math.isfinite(gamma)):
        exp.refuse(ValueError, "gamma")
    if target.shape != z.shape[:-1]:
        exp.refuse(ValueError, "target")
    elif target.size and (target.min() < 0 or target.max() >= k):
        exp.refuse(ValueError, "target")
    a = None
    if alpha is not None:
        a = np.asarray(alpha, dtype=np.float64)
        if a.shape != (k,) or not np.isfinite(a).all() or a.min() < 0:
            exp.refuse(ValueError, "alpha")
    zr = exact_values(z).reshape(-1, k)
    _check_logits(zr, exp)
    return None if exp else (zr, target.reshape(-1), a, k)


def _focal_terms(vals, t, a, g, prec):
    """Exact (loss, relative bound of the loss, F, relative bound of F, p, alpha_t) of one sample.

    The package multiplies by alpha_t last, so a product that underflows before it costs
    ``alpha_t`` times the work dtype's smallest subnormal (absolute): the bounds add that.
    """
    ell, smax = log_softmax_mp(list(vals))
    m = max(v for v in vals if v != NEG_INF)
    lt = ell[t]
    alpha_t = mp.one if a is None else mp.mpf(a[t])
    k = len(vals)
    p = [mp.zero if e == mp.ninf else mp.exp(e) for e in ell]
    if lt == mp.ninf:  # p_t = 0: the loss is +inf, F its limit -alpha_t (the gradient is alpha_t (p - e_t))
        return (mp.inf if alpha_t > 0 else mp.zero), 0.0, -alpha_t, 2 * prec.u_w, p, alpha_t
    s_abs = abs(float(mp.mpf(vals[t]) - m))
    eps_l = 0.0 if lt == 0 else float(log_softmax_bound(lt, s_abs, smax, k, prec) / abs(lt))
    one_minus = -mp.expm1(lt)
    loss = alpha_t * one_minus ** g * -lt
    with np.errstate(over="ignore"):
        beyond = np.isinf(np.array(float(lt)).astype(prec.work))
    if tolerated("B16") and beyond and loss > 0:  # B16: log p_t rounds to -inf in the work
        return mp.inf, 0.0, alpha_t * one_minus ** g * (g * p[t] * lt / one_minus - 1), 1.0, p, alpha_t  # dtype
    rel = (1 + g) * (eps_l + 4 * prec.u_w) + 6 * prec.u_w
    ratio = mp.zero if (one_minus == 0 or p[t] == 0) else p[t] * lt / one_minus
    f_val = alpha_t * one_minus ** g * (g * ratio - 1)
    f_rel = (1 + 2 * g) * (3 * eps_l + 8 * prec.u_w)
    return loss, rel, f_val, f_rel, p, alpha_t


@budget(150)
@given(focal_cases())
def test_focal_loss_matches_exact(case):
    r"""focal_loss: :math:`\alpha_t(1 - p_t)^\gamma(-\ell_t)` with relative bound
    :math:`(1 + \gamma)(\varepsilon_\ell + 4u_w) + 6u_w` per sample (:math:`\varepsilon_\ell` the relative
    log-softmax bound of :math:`\ell_t`); with :math:`\gamma = 0` and no alpha, exactly cross_entropy."""
    z, target, gamma, alpha, reduction = case
    exp = Expected()
    plan = _focal_plan(z, target, gamma, alpha, exp)
    out = call_checked(snb.focal_loss, z, target, gamma, alpha, reduction, warns=EMPTY_MEAN)
    if out.check(exp, allow_nan=True) is None:
        return
    zr, tt, a, k = plan
    prec = precision(z.dtype)
    vals, bnds = [], []
    with mp.workprec(PREC), np.errstate(over="ignore", invalid="ignore"):
        for row, t in zip(zr, tt):
            loss, rel, _, _, _, alpha_t = _focal_terms(row, int(t), a, gamma, prec)
            vals.append(loss)
            bnds.append(rel * _to_float(loss) + 2 * (k + float(alpha_t)) * prec.sub_w if loss != mp.inf else 0.0)
        if reduction == "mean" and not vals:
            assert out.warned and np.isnan(out.value)
            return
        vals, bnds = _reduce_ref(vals, bnds, len(vals), reduction, len(vals))
    assert not out.warned
    val = out.ok()
    shape = z.shape[:-1] if reduction == "none" else ()
    ref = np.array([_to_float(v) for v in vals])
    bnd = np.array(bnds) + (_u_final(prec, reduction) + U64) * np.abs(ref) + prec.sub_o
    assert np.shape(val) == shape and val.dtype == prec.out
    assert_within(val, ref.reshape(shape), bnd.reshape(shape), what=f"focal_loss({z.dtype}, {reduction})")
    if gamma == 0 and alpha is None:
        ce = call_checked(snb.cross_entropy, z, target, reduction=reduction).ok()
        np.testing.assert_array_equal(val, ce, err_msg="focal_loss(gamma=0) must equal cross_entropy exactly")


@budget(150)
@given(focal_cases())
def test_focal_loss_grad_matches_exact(case):
    r"""focal_loss_grad: :math:`F(\delta_{jt} - p_j)`, :math:`F = \alpha_t(1 - p_t)^\gamma(\gamma\,
    p_t\ell_t/(1 - p_t) - 1)`, bound :math:`|F|(\varepsilon_F|\delta_{jt} - p_j| + \varepsilon_{p_j} p_j + 2u_w)`;
    divided by N for 'mean'."""
    z, target, gamma, alpha, reduction = case
    exp = Expected()
    plan = _focal_plan(z, target, gamma, alpha, exp)
    out = call_checked(snb.focal_loss_grad, z, target, gamma, alpha, reduction)
    if out.check(exp) is None:
        return
    zr, tt, a, k = plan
    prec = precision(z.dtype)
    val = out.value
    assert isinstance(val, np.ndarray) and val.shape == z.shape and val.dtype == prec.out
    d = max(1, tt.size) if reduction == "mean" else 1
    ref, bnd = np.zeros(zr.shape), np.zeros(zr.shape)
    lam = math.log2(k) if k > 1 else 0.0
    with mp.workprec(PREC), np.errstate(over="ignore", invalid="ignore"):
        for i, (row, t) in enumerate(zip(zr, tt)):
            loss, _, f_val, f_rel, p, alpha_t = _focal_terms(row, int(t), a, gamma, prec)
            m = max(v for v in row if v != NEG_INF)
            smax = max(abs(float(mp.mpf(v) - m)) for v in row if v != NEG_INF)
            for j in range(k):
                s_abs = min(abs(float(mp.mpf(row[j]) - m)) if row[j] != NEG_INF else 0.0, prec.cap)
                eps_p = (3 * s_abs + 3 * min(smax, prec.cap) + 2 * lam + 16) * prec.u_w
                diff = (1 if j == t else 0) - p[j]
                ref[i, j] = float(f_val * diff / d)
                bnd[i, j] = (abs(float(f_val)) * (f_rel * abs(float(diff)) + eps_p * float(p[j]) + 2 * prec.u_w) / d
                             + (prec.u_o + U64) * abs(ref[i, j]) + 2 * (k + float(alpha_t)) * prec.sub_w
                             + prec.sub_o)
    assert_within(val.reshape(-1, k), ref, bnd, what=f"focal_loss_grad({z.dtype}, {reduction})")


@st.composite
def sigmoid_focal_cases(draw):
    x, y, reduction, _ = draw(bce_cases(focal=True))
    alpha = draw(st.one_of(st.sampled_from([0.25, -1.0, 0.0, 1.0, 1.5, np.nan]), st.floats(-2, 1)))
    gamma = draw(st.one_of(st.sampled_from([0.0, 2.0, -1.0]), st.floats(0, 8)))
    return x, y, alpha, gamma, reduction


@budget(150)
@given(sigmoid_focal_cases())
def test_sigmoid_focal_loss_matches_exact(case):
    r"""sigmoid_focal_loss: :math:`\alpha_t(1 - p_t)^\gamma\,\mathrm{BCE}` elementwise (:math:`\alpha_t = 1` for
    :math:`\alpha < 0`), bound the BCE bound times the factor plus :math:`(4\gamma + 6)u_w` relative."""
    x, y, alpha, gamma, reduction = case
    exp = Expected()
    if not (alpha <= 1):
        exp.refuse(ValueError, "alpha")
    if not (gamma >= 0):
        exp.refuse(ValueError, "gamma")
    _bce_refusals(x, y, reduction, (), exp)
    out = call_checked(snb.sigmoid_focal_loss, x, y, alpha, gamma, reduction, warns=EMPTY_MEAN)
    if out.check(exp, allow_nan=True) is None:
        return
    prec = precision(x.dtype)
    u_w = prec.u_w if reduction == "none" else U64
    work = prec.work if reduction == "none" else np.float64  # the targets are cast to it (documented)
    xs = x.astype(np.float64).reshape(-1)
    ys = np.broadcast_to(y, x.shape).astype(work).astype(np.float64).reshape(-1)
    vals, bnds = [], []
    with mp.workprec(PREC), np.errstate(over="ignore", invalid="ignore"):
        for xi, yi in zip(xs, ys):
            ce, scale = _bce_elem(xi, yi, None)
            xm, ym = mp.mpf(xi), mp.mpf(yi)
            sig, sig_neg = 1 / (1 + mp.exp(-xm)), 1 / (1 + mp.exp(xm))  # sigma(-x) directly: 1 - sigma(x) cancels
            one_minus = sig * (1 - ym) + sig_neg * ym
            at = mp.one if alpha < 0 else mp.mpf(alpha) * ym + (1 - mp.mpf(alpha)) * (1 - ym)
            factor = at * one_minus ** gamma
            vals.append(factor * ce)
            bnds.append(_to_float(factor * (8 * u_w * scale + 4 * prec.sub_w) + (4 * gamma + 6) * u_w * factor * ce)
                        + 2 * prec.sub_w)  # the product itself may be subnormal
        if reduction == "mean" and not vals:
            assert out.warned and np.isnan(out.value)
            return
        vals, bnds = _reduce_ref(vals, bnds, len(vals), reduction, len(vals))
    assert not out.warned
    val = out.ok()
    ref = np.array([_to_float(v) for v in vals])
    bnd = np.array(bnds) + (_u_final(prec, reduction) + U64) * np.abs(ref) + prec.sub_o
    shape = x.shape if reduction == "none" else ()
    assert np.shape(val) == shape and val.dtype == prec.out
    assert_within(val, ref.reshape(shape), bnd.reshape(shape), what=f"sigmoid_focal_loss({x.dtype}, {reduction})")
