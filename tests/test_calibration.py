"""Tests of softmax_nb.calibration (ECE, reliability curves, temperature scaling)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb
from softmax_nb import (
    ReliabilityCurve,
    cross_entropy,
    expected_calibration_error,
    fit_temperature,
    numerical_gradient,
    reliability_curve,
    softmax,
)
from softmax_nb import MatrixScaling, fit_matrix_scaling, log_softmax
from softmax_nb.calibration import VectorScaling, _matrix_scaling_loss, fit_vector_scaling


def reference_ece(probs, labels, n_bins):
    """Guo et al.'s loop over bins with explicit (lower, upper] comparisons."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.array([m / n_bins for m in range(n_bins + 1)])
    ece = 0.0
    for m, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        in_bin = (conf > lo) & (conf <= hi) if m > 0 else (conf >= lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return ece


def test_hand_computed_example_with_edge_confidence():
    # Four predictions, M = 5 bins with edges m/5. Confidence 0.8 lies
    # exactly on an edge (the double 0.8 equals edges[4]): right-closed bins put it in
    # (0.6, 0.8], together with 0.7.
    probs = np.array([[0.8, 0.2],     # conf 0.8, predicts 0, label 0: correct
                      [0.7, 0.3],     # conf 0.7, predicts 0, label 1: wrong
                      [0.1, 0.9],     # conf 0.9, predicts 1, label 1: correct
                      [0.95, 0.05]])  # conf 0.95, predicts 0, label 0: correct
    labels = np.array([0, 1, 1, 0])
    curve = reliability_curve(probs, labels, n_bins=5)
    assert curve.edges[4] == 0.8
    np.testing.assert_array_equal(curve.counts, [0, 0, 0, 2, 2])
    np.testing.assert_allclose(curve.confidence[[3, 4]], [0.75, 0.925], rtol=1e-15)
    np.testing.assert_array_equal(curve.accuracy[[3, 4]], [0.5, 1.0])
    assert np.isnan(curve.confidence[:3]).all() and np.isnan(curve.accuracy[:3]).all()
    np.testing.assert_allclose(curve.edges, [0, 0.2, 0.4, 0.6, 0.8, 1.0], rtol=0, atol=0)
    # A confidence exactly on the (0.4, 0.6] | (0.6, 0.8] edge goes in the lower bin.
    assert reliability_curve([[0.6, 0.4]], [0], n_bins=5).counts[2] == 1
    # ECE = 2/4 |0.5 - 0.75| + 2/4 |1 - 0.925| = 0.125 + 0.0375
    assert expected_calibration_error(probs, labels, n_bins=5) == pytest.approx(0.1625, abs=1e-15)
    # (left-closed bins would give 1/4 * 0.7 + 3/4 * |1 - 0.88333| = 0.2625)


def test_zero_confidence_goes_in_first_bin_and_one_in_last():
    probs = np.array([[0.0], [1.0]])  # K = 1: confidence 0 and 1 (degenerate but valid input)
    curve = reliability_curve(probs, [0, 0], n_bins=4)
    np.testing.assert_array_equal(curve.counts, [1, 0, 0, 1])


def test_perfectly_calibrated_synthetic_data_has_small_ece():
    rng = np.random.default_rng(0)
    n, k = 200_000, 3
    probs = softmax(rng.normal(size=(n, k)) * 2)
    labels = (rng.uniform(size=n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)  # y ~ Categorical(p)
    ece = expected_calibration_error(probs, labels)
    assert ece < 0.01
    # ... while an over-confident version of the same model is clearly miscalibrated
    sharp = softmax(np.log(probs) * 3)
    assert expected_calibration_error(sharp, labels) > 0.05


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(1, 20))
def test_ece_matches_reference_loop(data, n_bins):
    n = data.draw(st.integers(1, 40))
    k = data.draw(st.integers(1, 5))
    # quantised probabilities produce many confidences exactly on bin edges
    w = data.draw(hnp.arrays(np.float64, (n, k), elements=st.integers(0, 4).map(float)))
    w[:, 0] += 1
    probs = w / w.sum(axis=1, keepdims=True)
    labels = data.draw(hnp.arrays(np.intp, (n,), elements=st.integers(0, k - 1)))
    ece = expected_calibration_error(probs, labels, n_bins)
    assert ece == pytest.approx(reference_ece(probs, labels, n_bins), abs=1e-14)
    assert 0.0 <= ece <= 1.0
    curve = reliability_curve(probs, labels, n_bins)
    assert isinstance(curve, ReliabilityCurve)
    assert curve.counts.sum() == n and len(curve.edges) == n_bins + 1


def test_fit_temperature_beats_a_fine_grid():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(500, 5)) * 3
    y = rng.integers(0, 5, size=500)
    y[:300] = z[:300].argmax(axis=1)  # partly informative logits
    t = fit_temperature(z, y)
    assert 0.05 <= t <= 20.0
    nll_t = cross_entropy(z / t, y)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 4001))
    nll_grid = np.array([cross_entropy(z / g, y) for g in grid])
    assert nll_t <= nll_grid.min() + 1e-12
    # stationarity: d NLL / d T = 0 at an interior optimum
    h = 1e-5 * t
    slope = (cross_entropy(z / (t + h), y) - cross_entropy(z / (t - h), y)) / (2 * h)
    assert abs(slope) < 1e-5


@pytest.mark.parametrize("c", [0.5, 2.0, 4.0])
def test_fit_temperature_recovers_overconfidence_factor(c):
    rng = np.random.default_rng(2)
    n, k = 20_000, 4
    z = rng.normal(size=(n, k)) * 1.5  # calibrated logits: labels are drawn from softmax(z)
    p = softmax(z)
    y = (rng.uniform(size=n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    t = fit_temperature(c * z, y)
    assert t == pytest.approx(c, rel=0.05)
    assert expected_calibration_error(softmax(c * z / t), y) < expected_calibration_error(softmax(c * z), y) or c == 1


def test_fit_temperature_boundary_optimum():
    # Every prediction correct: the NLL decreases as T -> 0, so the lower bound is returned.
    z = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, -1.0]])
    y = np.array([0, 1, 0])
    assert fit_temperature(z, y, bounds=(0.1, 10.0)) == pytest.approx(0.1, rel=1e-9)


def test_fit_temperature_matches_scipy_reference_nll():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 6)) * 4
    y = np.where(rng.uniform(size=300) < 0.7, z.argmax(axis=1), rng.integers(0, 6, size=300))
    t = fit_temperature(z, y)

    def nll(temp):
        return -np.mean(sp.log_softmax(z / temp, axis=1)[np.arange(300), y])

    assert nll(t) <= min(nll(t * 1.001), nll(t / 1.001))


@pytest.mark.parametrize("call, match", [
    (lambda: expected_calibration_error([[0.5, 0.5]], [0], n_bins=0), "n_bins must be an integer >= 1"),
    (lambda: expected_calibration_error([[0.5, 0.5]], [2]), r"labels must be in \[0, 2\)"),
    (lambda: expected_calibration_error([[0.5, 0.5]], [0, 1]), r"labels must have shape \(N,\)"),
    (lambda: expected_calibration_error([0.5, 0.5], [0]), r"probs must be a non-empty 2-D array"),
    (lambda: expected_calibration_error([[1.5, -0.5]], [0]), r"probs must contain probabilities in \[0, 1\]"),
    (lambda: expected_calibration_error([[np.nan, 0.5]], [0]), "probs must contain finite"),
    (lambda: reliability_curve([[0.5, 0.5]], [0], n_bins=2.5), "n_bins must be an integer >= 1"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=(0.0, 5.0)), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=(5.0, 1.0)), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, np.inf]], [0]), "logits must .*finite"),
    (lambda: fit_temperature([[0.0, 1.0]], [3]), r"labels must be in \[0, 2\)"),
    (lambda: fit_temperature([0.0, 1.0], [0]), "logits must be a non-empty 2-D array"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------- defaults and edge cases (mutation-test gaps)

def test_default_number_of_bins_is_15():
    rng = np.random.default_rng(4)
    probs = softmax(rng.normal(size=(50, 3)) * 2)
    labels = rng.integers(0, 3, size=50)
    curve = reliability_curve(probs, labels)
    assert len(curve.counts) == 15 and len(curve.edges) == 16
    assert expected_calibration_error(probs, labels) == expected_calibration_error(probs, labels, n_bins=15)
    assert expected_calibration_error(probs, labels) == pytest.approx(reference_ece(probs, labels, 15), abs=1e-15)
    assert expected_calibration_error(probs, labels) != expected_calibration_error(probs, labels, n_bins=16)


def test_ece_of_a_single_prediction():
    assert expected_calibration_error([[0.7, 0.3]], [1]) == pytest.approx(0.7, abs=1e-15)  # wrong at conf 0.7
    assert expected_calibration_error([[0.7, 0.3]], [0]) == pytest.approx(0.3, abs=1e-15)  # right at conf 0.7


def test_fit_temperature_default_upper_bound_is_20():
    # Every argmax is wrong: the NLL keeps falling as T grows, so the upper bound comes back exactly.
    z = np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
    y = np.array([1, 2, 0])
    assert fit_temperature(z, y) == 20.0
    assert fit_temperature(z, y, bounds=(0.5, 7.0)) == 7.0


def test_fit_temperature_float32_and_int_logits_are_fitted_in_float64():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(200, 4)) * 3
    y = np.where(rng.uniform(size=200) < 0.6, z.argmax(axis=1), rng.integers(0, 4, size=200))
    z32 = z.astype(np.float32)
    assert fit_temperature(z32, y) == pytest.approx(fit_temperature(z32.astype(np.float64), y), rel=1e-9)
    zi = np.round(z).astype(int)
    assert fit_temperature(zi, y) == pytest.approx(fit_temperature(zi.astype(float), y), rel=1e-12)


def test_calibration_accepts_float16_probabilities():
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.55, 0.45]], dtype=np.float16)
    labels = np.array([0, 0, 1])
    ece = expected_calibration_error(probs, labels, n_bins=5)
    assert ece == pytest.approx(reference_ece(probs.astype(np.float64), labels, 5), abs=1e-15)
    conf = probs.max(axis=1).astype(np.float64)
    assert ece == pytest.approx((abs(1 - conf[0]) + abs(0 - conf[1]) + abs(0 - conf[2])) / 3, abs=1e-15)


@pytest.mark.parametrize("call, match", [
    (lambda: expected_calibration_error(np.zeros((0, 3)), []), r"probs must be a non-empty 2-D array"),
    (lambda: expected_calibration_error(np.zeros((2, 0)), [0, 0]), r"probs must be a non-empty 2-D array"),
    (lambda: reliability_curve(np.zeros((0, 3)), []), r"probs must be a non-empty 2-D array"),
    (lambda: reliability_curve([[0.5, 0.5]], [0], n_bins=True), "n_bins must be an integer >= 1"),
    (lambda: reliability_curve([[0.5, 0.5]], [0], n_bins=-3), "n_bins must be an integer >= 1"),
    (lambda: expected_calibration_error([[0.5, 0.5], [0.2, 0.8]], [0, -1]), r"labels must be in \[0, 2\)"),
    (lambda: expected_calibration_error([[0.5, 0.5]], [0.5]), "labels must be integer class indices"),
    (lambda: expected_calibration_error([[0.5, 0.5]], np.array([True])), "labels must be integer class indices"),
    (lambda: expected_calibration_error([[0.5, 0.5], [np.inf, 0.0]], [0, 0]), "probs must contain finite"),
    (lambda: expected_calibration_error([["a", "b"]], [0]), "probs must be numeric"),
    (lambda: fit_temperature(np.zeros((0, 3)), []), "logits must be a non-empty 2-D array"),
    (lambda: fit_temperature([[0.0], [1.0]], [0, 0]), "logits must have K >= 2 classes"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=(1.0, 1.0)), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=(-1.0, 2.0)), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=(0.5, np.inf)), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=(0.5, np.nan)), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=5), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=("a", "b")), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, 1.0]], [0], bounds=(0.1, 1.0, 2.0)), "bounds must be a pair"),
    (lambda: fit_temperature([[0.0, 1.0], [np.nan, 0.0]], [0, 1]), "logits must .*finite"),
    (lambda: fit_temperature([[1e307, 0.0]], [0]), r"logits / T overflows float64 at the lower bound"),
    (lambda: fit_temperature([[0.0, 1.0]], [[0]]), r"labels must have shape \(N,\)"),
])
def test_more_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------- vector scaling

def penalised_nll(theta, z, y, l2):
    """Mean NLL of w * z + b plus l2 * (||w - mean w||^2 + ||b - mean b||^2), with the package's cross_entropy."""
    k = z.shape[1]
    w, b = theta[:k], theta[k:]
    return float(cross_entropy(z * w + b, y)) + l2 * (np.sum((w - w.mean()) ** 2) + np.sum((b - b.mean()) ** 2))


def miscalibrated_case(seed, n=4000, k=4):
    """Logits z whose labels are drawn from softmax(w_true * z + b_true)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(n, k))
    w_true = np.linspace(0.4, 1.3, k)
    b_true = np.linspace(-0.5, 0.5, k)
    p = softmax(z * w_true + b_true)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return z, y, w_true, b_true


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_vector_scaling_is_a_stationary_point_and_beats_temperature_scaling(l2):
    z, y, _, _ = miscalibrated_case(0, n=600)
    fit = fit_vector_scaling(z, y, l2=l2)
    theta = np.concatenate([fit.weight, fit.bias])
    grad = numerical_gradient(lambda t: penalised_nll(t, z, y, l2), theta)
    assert np.max(np.abs(grad)) < 1e-6
    T = fit_temperature(z, y)
    ts = np.concatenate([np.full(4, 1 / T), np.zeros(4)])
    assert penalised_nll(theta, z, y, l2) < penalised_nll(ts, z, y, l2) - 1e-3
    assert abs(fit.bias.mean()) < 1e-12
    assert np.array_equal(fit.apply(z), z * fit.weight + fit.bias)


def test_vector_scaling_recovers_per_class_weights_and_biases():
    z, y, w_true, b_true = miscalibrated_case(1, n=40_000)
    fit = fit_vector_scaling(z, y)
    assert np.allclose(fit.weight, w_true, atol=0.05)
    assert np.allclose(fit.bias, b_true - b_true.mean(), atol=0.05)


def test_vector_scaling_with_a_large_penalty_is_temperature_scaling():
    z, y, _, _ = miscalibrated_case(2, n=600)
    T = fit_temperature(z, y)
    fit = fit_vector_scaling(z, y, l2=1e6)
    assert np.allclose(fit.weight, 1 / T, rtol=1e-4)
    assert np.allclose(fit.bias, 0.0, atol=1e-5)
    # a given starting temperature is used as the start, not refitted
    fit_given = fit_vector_scaling(z, y, l2=1e6, temperature=T)
    assert np.allclose(fit_given.weight, fit.weight, rtol=1e-6)


def test_vector_scaling_penalty_keeps_a_separable_class_finite():
    # class 0 is exactly the samples whose own logit exceeds 1: without a penalty w_0 has no finite optimum
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 3))
    y = np.where(z[:, 0] > 1.0, 0, rng.integers(1, 3, size=300))
    free = fit_vector_scaling(z, y, l2=0.0)
    held = fit_vector_scaling(z, y, l2=0.01)
    assert free.weight[0] > 5 * held.weight[0]
    assert np.all(np.isfinite(held.weight)) and held.weight[0] < 20


@pytest.mark.parametrize("call, match", [
    (lambda: fit_vector_scaling([[0.0, 1.0]], [0], l2=-1.0), "l2 must be a finite number >= 0"),
    (lambda: fit_vector_scaling([[0.0, 1.0]], [0], l2=np.inf), "l2 must be a finite number >= 0"),
    (lambda: fit_vector_scaling([[0.0, 1.0]], [0], temperature=0.0), "temperature must be a finite number > 0"),
    (lambda: fit_vector_scaling([[0.0, 1.0]], [0], temperature=np.nan), "temperature must be a finite number > 0"),
    (lambda: fit_vector_scaling([[0.0, 1.0]], [0], temperature=True), "temperature must be a finite number > 0"),
    (lambda: fit_vector_scaling([[0.0, 1.0]], [0], temperature="hot"), "temperature must be a finite number > 0"),
    (lambda: fit_vector_scaling([[0.0, 1.0]], [0], temperature=-2.0), "temperature must be a finite number > 0"),
    (lambda: fit_vector_scaling([[1.0], [2.0]], [0, 0]), "K >= 2"),
    (lambda: fit_vector_scaling([[0.0, np.nan]], [0]), "logits must .*finite"),
    (lambda: fit_vector_scaling([[0.0, 1.0]], [2]), r"labels must be in \[0, 2\)"),
    (lambda: VectorScaling(np.ones(2), np.zeros(2)).apply([[1.0, 2.0, 3.0]]), r"logits must have shape \(N, 2\)"),
])
def test_vector_scaling_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------- matrix scaling (ODIR)

def odir_objective(theta, z, y, l2_offdiag, l2_bias):
    """Mean NLL of z @ W.T + b plus the ODIR penalties, with the package's cross_entropy and explicit loops."""
    k = z.shape[1]
    w, b = theta[:k * k].reshape(k, k), theta[k * k:]
    off = sum(w[r, c] ** 2 for r in range(k) for c in range(k) if r != c)
    return float(cross_entropy(z @ w.T + b, y)) + l2_offdiag * off + l2_bias * np.sum((b - b.mean()) ** 2)


def matrix_scaled_case(seed, n=4000, k=4):
    """Logits z whose labels are drawn from softmax(W_true z + b_true), W_true with off-diagonal entries."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, size=(n, k))
    w_true = np.diag(np.linspace(0.5, 1.2, k)) + 0.3 * rng.normal(size=(k, k)) * (1 - np.eye(k))
    b_true = np.linspace(-0.5, 0.5, k)
    p = softmax(z @ w_true.T + b_true)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return z, y, w_true, b_true


def theta_of(fit):
    return np.concatenate([fit.weight.ravel(), fit.bias])


@pytest.mark.parametrize("l2_offdiag, l2_bias", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.7), (0.05, 2.0)])
def test_matrix_scaling_loss_and_gradient_match_a_reference_and_central_differences(l2_offdiag, l2_bias):
    rng = np.random.default_rng(10)
    z, y, _, _ = matrix_scaled_case(11, n=50, k=3)
    theta = rng.normal(size=12)
    value, grad = _matrix_scaling_loss(theta, z, y, l2_offdiag, l2_bias)
    assert value == pytest.approx(odir_objective(theta, z, y, l2_offdiag, l2_bias), rel=1e-12)
    num = numerical_gradient(lambda t: odir_objective(t, z, y, l2_offdiag, l2_bias), theta)
    assert np.allclose(grad, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("l2_offdiag, l2_bias", [(0.0, 0.0), (0.01, 0.01), (1.0, 0.1)])
def test_matrix_scaling_is_a_stationary_point_never_above_temperature_scaling(l2_offdiag, l2_bias):
    z, y, _, _ = matrix_scaled_case(12, n=600)
    T = fit_temperature(z, y)
    fit = fit_matrix_scaling(z, y, l2_offdiag=l2_offdiag, l2_bias=l2_bias)
    theta = theta_of(fit)
    grad = numerical_gradient(lambda t: odir_objective(t, z, y, l2_offdiag, l2_bias), theta)
    assert np.max(np.abs(grad)) < 1e-6
    ts = np.concatenate([(np.eye(4) / T).ravel(), np.zeros(4)])
    # the labels come from a matrix-scaled model, so the fit must gain clearly over its starting point
    assert odir_objective(theta, z, y, l2_offdiag, l2_bias) < odir_objective(ts, z, y, l2_offdiag, l2_bias) - 1e-3
    assert abs(fit.bias.mean()) < 1e-12
    assert np.array_equal(fit.apply(z), z @ fit.weight.T + fit.bias)


def test_matrix_scaling_never_ends_above_its_start_even_when_the_start_is_optimal():
    # labels drawn from softmax(z / 2): temperature scaling is the true model, the richer fit can only tie it
    rng = np.random.default_rng(13)
    z = rng.normal(0.0, 3.0, size=(300, 5))
    y = (rng.uniform(size=(300, 1)) > np.cumsum(softmax(z / 2.0), axis=1)).sum(axis=1)
    for l2 in (0.0, 0.01, 10.0):
        for T in (0.5, 2.0, fit_temperature(z, y)):
            fit = fit_matrix_scaling(z, y, l2_offdiag=l2, l2_bias=l2, temperature=T)
            start = np.concatenate([(np.eye(5) / T).ravel(), np.zeros(5)])
            assert odir_objective(theta_of(fit), z, y, l2, l2) <= odir_objective(start, z, y, l2, l2) + 1e-12


def test_matrix_scaling_recovers_a_known_matrix():
    z, y, w_true, b_true = matrix_scaled_case(14, n=40_000)
    fit = fit_matrix_scaling(z, y)
    # unpenalised, W is determined up to adding one vector to every row: compare W minus its column means
    centred = fit.weight - fit.weight.mean(axis=0)
    assert np.allclose(centred, w_true - w_true.mean(axis=0), atol=0.05)
    assert np.allclose(fit.bias, b_true - b_true.mean(), atol=0.05)
    # a small penalty barely moves it
    held = fit_matrix_scaling(z, y, l2_offdiag=1e-4, l2_bias=1e-4)
    assert np.allclose(held.weight - held.weight.mean(axis=0), w_true - w_true.mean(axis=0), atol=0.05)


def test_matrix_scaling_with_a_huge_offdiagonal_penalty_is_vector_scaling():
    z, y, _, _ = miscalibrated_case(15, n=2000)
    vs = fit_vector_scaling(z, y)                       # unpenalised
    ms = fit_matrix_scaling(z, y, l2_offdiag=1e6)       # off-diagonal held at 0, diagonal and biases free
    assert np.max(np.abs(ms.weight - np.diag(np.diag(ms.weight)))) < 1e-5
    assert np.allclose(np.diag(ms.weight), vs.weight, atol=1e-4)
    assert np.allclose(ms.bias, vs.bias, atol=1e-4)
    assert float(cross_entropy(ms.apply(z), y)) == pytest.approx(float(cross_entropy(vs.apply(z), y)), abs=1e-8)


def test_matrix_scaling_unpenalised_ties_vector_scaling_when_vector_scaling_is_the_true_model():
    z, y, w_true, _ = miscalibrated_case(16, n=20_000)
    vs, ms = fit_vector_scaling(z, y), fit_matrix_scaling(z, y)
    nll_vs, nll_ms = float(cross_entropy(vs.apply(z), y)), float(cross_entropy(ms.apply(z), y))
    # the vector-scaling family lies inside the matrix-scaling one, so the in-sample NLL can only go down,
    # and since the data come from a vector-scaled model it goes down by sampling noise only
    assert nll_ms <= nll_vs + 1e-10
    assert nll_vs - nll_ms < 1e-3
    centred = ms.weight - ms.weight.mean(axis=0)
    assert np.allclose(centred, np.diag(w_true) - np.diag(w_true).mean(axis=0), atol=0.05)


def test_matrix_scaling_with_huge_penalties_is_diagonal_with_equal_biases():
    z, y, _, _ = matrix_scaled_case(17, n=1000)
    fit = fit_matrix_scaling(z, y, l2_offdiag=1e6, l2_bias=1e6)
    assert np.max(np.abs(fit.weight - np.diag(np.diag(fit.weight)))) < 1e-5
    assert np.max(np.abs(fit.bias)) < 1e-5
    # the diagonal is free: it is the vector scaling with zero biases, not temperature scaling
    assert np.ptp(np.diag(fit.weight)) > 0.1


def test_dirichlet_calibration_equals_matrix_scaling_on_logits_only_for_equal_row_sums():
    rng = np.random.default_rng(18)
    z = 5.0 * rng.normal(size=(200, 4)) + 3.0           # arbitrary logit offsets, so LSE(z) varies a lot
    b = rng.normal(size=4)
    w = rng.normal(size=(4, 4))
    w_equal = w - w.sum(axis=1, keepdims=True) / 4 + 0.7  # same matrix with every row sum set to 0.7
    for m in (w_equal, np.eye(4) / 1.7, np.diag([2.0, 2.0, 2.0, 2.0])):
        assert np.allclose(softmax(log_softmax(z) @ m.T + b), softmax(z @ m.T + b), rtol=0, atol=1e-12)
    # a general W: W log p = W z - LSE(z) W 1 shifts the classes by different amounts
    for m in (w, np.diag([0.5, 1.0, 1.5, 2.0])):
        assert np.max(np.abs(softmax(log_softmax(z) @ m.T + b) - softmax(z @ m.T + b))) > 0.1
    # and so the fitted calibrators differ too
    y = rng.integers(0, 4, size=200)
    on_logits = fit_matrix_scaling(z, y, l2_offdiag=0.01, l2_bias=0.01)
    on_log_probs = fit_matrix_scaling(log_softmax(z), y, l2_offdiag=0.01, l2_bias=0.01)
    assert not np.allclose(on_logits.weight, on_log_probs.weight, atol=1e-3)


@pytest.mark.parametrize("call, match", [
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], l2_offdiag=-1.0), "l2_offdiag must be a finite number >= 0"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], l2_offdiag=np.nan), "l2_offdiag must be a finite number >= 0"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], l2_offdiag="big"), "l2_offdiag must be a finite number >= 0"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], l2_bias=-0.5), "l2_bias must be a finite number >= 0"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], l2_bias=np.inf), "l2_bias must be a finite number >= 0"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], temperature=0.0), "temperature must be a finite number > 0"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], temperature=np.inf), "temperature must be a finite number > 0"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], temperature=True), "temperature must be a finite number > 0"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0], temperature="hot"), "temperature must be a finite number > 0"),
    (lambda: fit_matrix_scaling([[1.0], [2.0]], [0, 0]), "K >= 2"),
    (lambda: fit_matrix_scaling([[0.0, np.nan]], [0]), "logits must .*finite"),
    (lambda: fit_matrix_scaling([0.0, 1.0], [0]), r"logits must be a non-empty 2-D array"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [2]), r"labels must be in \[0, 2\)"),
    (lambda: fit_matrix_scaling([[0.0, 1.0]], [0, 1]), r"labels must have shape \(N,\)"),
    (lambda: MatrixScaling(np.eye(2), np.zeros(2)).apply([[1.0, 2.0, 3.0]]), r"logits must have shape \(N, 2\)"),
    (lambda: MatrixScaling(np.eye(2), np.zeros(2)).apply([1.0, 2.0]), r"logits must have shape \(N, 2\)"),
])
def test_matrix_scaling_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------- plot_reliability options

def test_plot_reliability_defaults_add_no_interval_or_histogram():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.container import ErrorbarContainer

    from softmax_nb.plotting import new_figure, plot_reliability

    probs = softmax(np.random.default_rng(6).normal(size=(80, 3)) * 2)
    labels = np.random.default_rng(7).integers(0, 3, size=80)
    curve = reliability_curve(probs, labels, n_bins=10)
    fig, (ax, ax_count) = new_figure(nrows=2)
    plot_reliability(ax, curve)
    assert not any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    assert len(ax_count.patches) == 0 and ax.get_xlabel() == "confidence (max probability)"
    plt.close(fig)


def test_plot_reliability_draws_wilson_intervals_and_counts():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.container import ErrorbarContainer

    from softmax_nb.plotting import new_figure, plot_reliability
    from softmax_nb.scoring import wilson_interval

    probs = softmax(np.random.default_rng(6).normal(size=(80, 3)) * 2)
    labels = np.random.default_rng(7).integers(0, 3, size=80)
    curve = reliability_curve(probs, labels, n_bins=10)
    fig, (ax, ax_count) = new_figure(nrows=2)
    plot_reliability(ax, curve, interval=0.9, count_ax=ax_count)
    err = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(err) == 1 and err[0].get_label() == "90% Wilson interval"
    full = curve.counts > 0
    low, high = wilson_interval(np.rint(curve.accuracy[full] * curve.counts[full]), curve.counts[full], confidence=0.9)
    segments = err[0].lines[2][0].get_segments()
    assert np.allclose([s[0][1] for s in segments], low) and np.allclose([s[1][1] for s in segments], high)
    assert np.allclose([s[0][0] for s in segments], (curve.edges[:-1] + 0.05)[full])
    assert [p.get_height() for p in ax_count.patches] == curve.counts.tolist()
    assert ax.get_xlabel() == "" and ax_count.get_xlabel() == "confidence (max probability)"
    assert ax_count.get_yscale() == "symlog"
    with pytest.raises(ValueError, match="confidence must be in the open interval"):
        plot_reliability(ax, curve, interval=95)
    plt.close(fig)


# --- regression tests of the property suite's B14, B15 and B7 (calibration) ---
Z3 = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0], [0.0, 0.0, 1.0]])
Y3 = np.array([0, 2, 1])


def test_fit_temperature_bounds_above_one_are_quiet():
    # B14: the overflow check finfo.max * low itself overflowed ('overflow encountered in scalar multiply')
    t = fit_temperature(Z3, Y3, bounds=(2.0, 3.0))
    assert 2.0 <= t <= 3.0


@pytest.mark.parametrize("start", [1e-12, 1e-100, 2.7e-255, 1e-308, 5e-324])
def test_scaling_fits_from_a_tiny_start_temperature(start):
    # B15: w = 1/T overflowed in the objective (warnings), and from 1e-20 on L-BFGS-B never left the
    # saturated start (weights 1/T came back); the objective is convex, so the fit must match a T = 1 start
    ref = fit_vector_scaling(Z3, Y3, l2=1.0, temperature=1.0)
    fit = fit_vector_scaling(Z3, Y3, l2=1.0, temperature=start)
    np.testing.assert_allclose(fit.weight, ref.weight, atol=1e-6)
    np.testing.assert_allclose(fit.bias, ref.bias, atol=1e-6)
    m = fit_matrix_scaling(Z3, Y3, l2_offdiag=1.0, l2_bias=1.0, temperature=start)
    assert np.all(np.isfinite(m.weight)) and np.all(np.isfinite(m.bias))


def test_scaling_start_temperature_wrong_types_are_argument_type_errors():
    # B7: numeric strings were accepted (float("2")), other wrong types raised plain ValueErrors
    for fit in (fit_vector_scaling, fit_matrix_scaling):
        for bad in ("2", True, [1.0], 1j):
            with pytest.raises(snb.ArgumentTypeError, match="temperature"):
                fit(Z3, Y3, temperature=bad)
        assert np.allclose(fit(Z3, Y3, temperature=np.array(2.0)).weight, fit(Z3, Y3, temperature=2.0).weight)
