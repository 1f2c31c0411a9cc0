"""Tests written to kill surviving mutmut mutants of softmax_nb.calibration (see tests/MUTATION.md)."""

from __future__ import annotations

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
