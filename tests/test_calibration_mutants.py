"""Tests written to kill surviving mutmut mutants of softmax_nb.calibration (see tests/MUTATION.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special as sps
from scipy.optimize import minimize_scalar

import softmax_nb as snb


def test_fit_temperature_names_its_argument():
    with pytest.raises(ValueError, match="^logits must be numeric"):
        snb.fit_temperature([["a", "b"]], [0])


def test_fit_temperature_overflow_bound_is_strict():
    # |z| = max * low exactly: z / low is the largest double, which does not overflow.
    low = 0.5
    big = np.finfo(np.float64).max * low
    t = snb.fit_temperature(np.array([[big, 0.0], [0.0, big]]), [0, 1], bounds=(low, 2.0))
    assert low <= t <= 2.0
    with pytest.raises(ValueError, match="^logits / T overflows float64 at the lower bound"):
        snb.fit_temperature(np.array([[np.nextafter(big, np.inf), 0.0]]), [0], bounds=(low, 2.0))


def test_fit_temperature_finds_the_minimum_to_high_accuracy():
    # Against an independent NLL (scipy's log_softmax) minimised with a tight tolerance: the fitted T agrees to
    # 2e-8 relative (1e-10 here; the rounding noise of the NLL limits any minimiser to about 2e-8), which a
    # default-tolerance Brent search (xatol = 1e-5 in log T: off by 8e-8 here) does not reach.
    rng = np.random.default_rng(3)
    z = rng.standard_normal((400, 5)) * 3
    y = np.where(rng.random(400) < 0.6, z.argmax(axis=1), rng.integers(0, 5, 400))

    def nll(log_t):
        return -np.mean(sps.log_softmax(z * np.exp(-log_t), axis=1)[np.arange(400), y])

    ref = np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                                 options={"xatol": 1e-13}).x)
    assert 0.3 < ref < 10  # an interior minimum
    assert snb.fit_temperature(z, y) == pytest.approx(ref, rel=2e-8)


# ----------------------------------------------------------------- vector and matrix scaling

@pytest.mark.parametrize("call", [
    lambda: snb.fit_vector_scaling([["a", "b"]], [0]),
    lambda: snb.fit_matrix_scaling([["a", "b"]], [0]),
    lambda: snb.VectorScaling(np.ones(2), np.zeros(2)).apply([["a", "b"]]),
    lambda: snb.MatrixScaling(np.eye(2), np.zeros(2)).apply([["a", "b"]]),
])
def test_scaling_errors_name_the_logits(call):
    with pytest.raises(ValueError, match="^logits must be numeric"):
        call()


def test_fit_vector_scaling_names_its_logits_in_shape_errors():
    with pytest.raises(ValueError, match=r"^logits must be a non-empty 2-D array of shape \(N, K\)"):
        snb.fit_vector_scaling([0.0, 1.0], [0])
    with pytest.raises(ValueError, match=r"^labels must have shape \(N,\) = \(1,\) to match logits"):
        snb.fit_vector_scaling([[0.0, 1.0]], [0, 1])


@pytest.mark.parametrize("l2_offdiag, l2_bias", [(0.0, 0.0), (0.2, 0.5)])
def test_matrix_scaling_loss_is_exact_for_huge_logits_of_different_size_per_row(l2_offdiag, l2_bias):
    # Rows 1000 apart: a stable log-softmax must shift each row by its own maximum. Reference: scipy's
    # log_softmax and softmax, the ODIR penalty written out with loops, and the documented gradient G^T z + penalty.
    from softmax_nb.calibration import _matrix_scaling_loss

    rng = np.random.default_rng(21)
    n, k = 40, 3
    z = rng.normal(size=(n, k))
    z[::2] += 1000.0
    y = rng.integers(0, k, size=n)
    w = np.eye(k) + 0.2 * rng.normal(size=(k, k))
    b = rng.normal(size=k)
    u = z @ w.T + b
    off = sum(w[r, c] ** 2 for r in range(k) for c in range(k) if r != c)
    ref = (-np.mean(sps.log_softmax(u, axis=1)[np.arange(n), y]) + l2_offdiag * off
           + l2_bias * np.sum((b - b.mean()) ** 2))
    g = (sps.softmax(u, axis=1) - np.eye(k)[y]) / n
    ref_dw = g.T @ z + 2 * l2_offdiag * (w - np.diag(np.diag(w)))
    ref_db = g.sum(axis=0) + 2 * l2_bias * (b - b.mean())
    value, grad = _matrix_scaling_loss(np.concatenate([w.ravel(), b]), z, y, l2_offdiag, l2_bias)
    assert value == pytest.approx(ref, rel=1e-12)
    assert np.allclose(grad, np.concatenate([ref_dw.ravel(), ref_db]), rtol=1e-9, atol=1e-12)


def test_scaling_fits_emit_no_warnings():
    # A well-posed fit (finite optimum) must not warn, e.g. about solver options the optimiser does not know.
    rng = np.random.default_rng(22)
    z = rng.normal(0.0, 2.0, size=(300, 3))
    y = (rng.uniform(size=(300, 1)) > np.cumsum(snb.softmax(z * [0.5, 1.0, 1.5]), axis=1)).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vs = snb.fit_vector_scaling(z, y, l2=0.01)
        ms = snb.fit_matrix_scaling(z, y, l2_offdiag=0.01, l2_bias=0.01)
    assert np.all(np.isfinite(vs.weight)) and np.all(np.isfinite(ms.weight))
