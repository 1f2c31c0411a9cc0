r"""Properties of the fitters of ``softmax_nb.calibration``: fit_temperature, fit_vector_scaling,
fit_matrix_scaling and the ``apply`` of their results (small inputs, few examples: each fit is an
optimisation).

The references are the objectives themselves, evaluated independently in float64 with a
max-shifted log-sum-exp (``np.logaddexp.reduce``):

* fit_temperature: the NLL is unimodal in :math:`\log T`, so the returned :math:`\hat T` must be
  inside ``bounds`` and its NLL at most the smallest NLL on a 65-point grid of
  :math:`\log T` over the bounds, plus :math:`10^{-9}` relative (Brent's tolerance is
  :math:`10^{-10}` in :math:`\log T`);
* vector and matrix scaling: the penalised NLL of the fit is at most that of its documented start,
  temperature scaling (:math:`w = \mathbf 1/T`, :math:`W = I/T`, :math:`b = 0`), plus
  :math:`10^{-9}` relative; the bias has mean 0; ``apply`` is :math:`z \odot w + b` /
  :math:`zW^\top + b` within :math:`4u_{64}` of the terms.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb
from _gen import FLOAT_DTYPES
from _harness import U64, Expected, assert_within, budget, call_checked


def _nll(u: np.ndarray, y: np.ndarray) -> float:
    """Mean NLL of logits ``u`` (float64) for labels ``y``."""
    lse = np.logaddexp.reduce(u, axis=1)
    return float(np.mean(lse - u[np.arange(u.shape[0]), y]))


@st.composite
def fit_cases(draw):
    valid = draw(st.integers(0, 4)) > 0
    n, k = draw(st.integers(1, 6)), draw(st.integers(2, 3))
    dtype = np.dtype(draw(st.sampled_from(FLOAT_DTYPES)))
    scale = draw(st.sampled_from([1.0, 5.0, 30.0]))
    z = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-scale, scale))).astype(dtype)
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1)))
    if not valid:
        how = draw(st.sampled_from(["k1", "nonfinite", "labels", "empty"]))
        if how == "k1":
            z = z[:, :1]
        elif how == "nonfinite":
            z.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        elif how == "labels":
            y[0] = k
        else:
            z, y = z[:0], y[:0]
    return z, y


def _expect_fit(z, y, exp):
    if z.ndim != 2 or 0 in z.shape or z.shape[1] < 2 or not np.isfinite(z).all():
        exp.refuse(ValueError, "logits")
    if z.ndim == 2 and y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        exp.refuse(ValueError, "labels")
    return exp


@budget(50)
@given(fit_cases(), st.one_of(st.just((0.05, 20.0)), st.tuples(st.floats(0.01, 1), st.floats(2, 50)),
                              st.sampled_from([(1.0, 1.0), (0.0, 1.0), (2.0, 1.0), (1.0, np.inf)])))
def test_fit_temperature_is_the_minimiser(case, bounds):
    """fit_temperature: T inside bounds, with an NLL no larger than the best of a grid over the bounds."""
    z, y = case
    exp = _expect_fit(z, y, Expected())
    low, high = bounds
    if not (0 < low < high < np.inf):
        exp.refuse(ValueError, "bounds")
    t = call_checked(snb.fit_temperature, z, y, bounds).check(exp)
    if t is None:
        return
    assert isinstance(t, (float, np.floating)) and low <= t <= high
    z64 = z.astype(np.float64)
    grid = np.exp(np.linspace(np.log(low), np.log(high), 65))
    best = min(_nll(z64 / g, y) for g in grid)
    assert _nll(z64 / t, y) <= best * (1 + 1e-9) + 1e-12, (t, _nll(z64 / t, y), best)


def _vs_objective(w, b, z, y, lam):
    dw, db = w - w.mean(), b - b.mean()
    return _nll(z * w + b, y) + lam * float(dw @ dw + db @ db)


def _ms_objective(w, b, z, y, lam_off, lam_b):
    off = w - np.diag(np.diag(w))
    db = b - b.mean()
    return _nll(z @ w.T + b, y) + lam_off * float(np.sum(off * off)) + lam_b * float(db @ db)


_PENALTIES = st.sampled_from([0.01, 0.1, 1.0, 100.0, 0.0, -1.0, np.nan])
_STARTS = st.one_of(st.none(), st.sampled_from([0.5, 1.0, 3.0]), st.sampled_from([0.0, -1.0, np.inf]))


def _expect_start(temperature, exp):
    if temperature is not None and not (0 < temperature < np.inf):
        exp.refuse(ValueError, "temperature")


@budget(25)
@given(fit_cases(), _PENALTIES, _STARTS)
def test_fit_vector_scaling_never_above_its_start(case, l2, temperature):
    """fit_vector_scaling: finite (w, b), b of mean 0, a penalised NLL never above temperature scaling's."""
    z, y = case
    exp = _expect_fit(z, y, Expected())
    if not (l2 >= 0 and np.isfinite(l2)):
        exp.refuse(ValueError, "l2")
    _expect_start(temperature, exp)
    fit = call_checked(snb.fit_vector_scaling, z, y, l2, temperature).check(exp)
    if fit is None:
        return
    z64 = z.astype(np.float64)
    k = z.shape[1]
    t0 = snb.fit_temperature(z64, y) if temperature is None else temperature
    assert fit.weight.shape == (k,) and fit.bias.shape == (k,)
    assert np.isfinite(fit.weight).all() and np.isfinite(fit.bias).all()
    assert abs(fit.bias.mean()) <= 4 * U64 * (np.abs(fit.bias).sum() + 1)
    start = _vs_objective(np.full(k, 1.0 / t0), np.zeros(k), z64, y, l2)
    got = _vs_objective(fit.weight, fit.bias, z64, y, l2)
    assert got <= start * (1 + 1e-9) + 1e-12, (got, start)
    applied = call_checked(fit.apply, z).ok()
    terms = np.abs(z64 * fit.weight) + np.abs(fit.bias)
    assert_within(applied, z64 * fit.weight + fit.bias, 4 * U64 * terms, what="VectorScaling.apply")
    call_checked(fit.apply, z64[:, :1]).refused((ValueError, ("logits",)))


@budget(25)
@given(fit_cases(), _PENALTIES, _PENALTIES, _STARTS)
def test_fit_matrix_scaling_never_above_its_start(case, l2_offdiag, l2_bias, temperature):
    """fit_matrix_scaling: finite (W, b), b of mean 0, a penalised NLL never above temperature scaling's."""
    z, y = case
    exp = _expect_fit(z, y, Expected())
    for name, lam in (("l2_offdiag", l2_offdiag), ("l2_bias", l2_bias)):
        if not (lam >= 0 and np.isfinite(lam)):
            exp.refuse(ValueError, name)
    _expect_start(temperature, exp)
    fit = call_checked(snb.fit_matrix_scaling, z, y, l2_offdiag, l2_bias, temperature).check(exp)
    if fit is None:
        return
    z64 = z.astype(np.float64)
    k = z.shape[1]
    t0 = snb.fit_temperature(z64, y) if temperature is None else temperature
    assert fit.weight.shape == (k, k) and fit.bias.shape == (k,)
    assert np.isfinite(fit.weight).all() and np.isfinite(fit.bias).all()
    assert abs(fit.bias.mean()) <= 4 * U64 * (np.abs(fit.bias).sum() + 1)
    start = _ms_objective(np.eye(k) / t0, np.zeros(k), z64, y, l2_offdiag, l2_bias)
    got = _ms_objective(fit.weight, fit.bias, z64, y, l2_offdiag, l2_bias)
    assert got <= start * (1 + 1e-9) + 1e-12, (got, start)
    applied = call_checked(fit.apply, z).ok()
    terms = np.abs(z64) @ np.abs(fit.weight).T + np.abs(fit.bias)
    assert_within(applied, z64 @ fit.weight.T + fit.bias, 4 * k * U64 * terms, what="MatrixScaling.apply")
    call_checked(fit.apply, z64[:, :1]).refused((ValueError, ("logits",)))
