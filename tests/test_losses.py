"""Tests of softmax_nb.losses and softmax_nb.information."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from softmax_nb import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_grad,
    entropy,
    focal_loss,
    focal_loss_grad,
    kl_divergence,
    one_hot,
    sigmoid_focal_loss,
    smooth_labels,
)
from softmax_nb import losses as losses_module

SETTINGS = settings(max_examples=40, deadline=None)
finite = st.floats(-30, 30, allow_nan=False, allow_infinity=False)


@st.composite
def logits_and_labels(draw, max_n=6, max_k=6):
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(2, max_k))
    z = draw(hnp.arrays(np.float64, (n, k), elements=finite))
    y = draw(hnp.arrays(np.intp, (n,), elements=st.integers(0, k - 1)))
    return z, y


@st.composite
def distributions(draw, n=None, k=None):
    n = draw(st.integers(1, 5)) if n is None else n
    k = draw(st.integers(2, 6)) if k is None else k
    w = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(0, 1)))
    w[:, 0] += 1e-3  # never an all-zero row
    return w / w.sum(axis=1, keepdims=True)


def central_diff(f, z, h=1e-6):
    """Central finite-difference gradient of a scalar function f at z."""
    g = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        g[idx] = (f(zp) - f(zm)) / (2 * h)
    return g


def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """Independent numpy transcription of torchvision.ops.sigmoid_focal_loss (v0.15+)."""
    p = sp.expit(inputs)
    # F.binary_cross_entropy_with_logits, written as -[y log p + (1-y) log(1-p)] with log_expit
    ce_loss = -(targets * sp.log_expit(inputs) + (1 - targets) * sp.log_expit(-inputs))
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


# ----------------------------------------------------------------- one_hot / smoothing

def test_one_hot_values_and_shape():
    y = one_hot([[2, 0], [1, 1]], 3)
    assert y.dtype == np.float64 and y.shape == (2, 2, 3)
    np.testing.assert_array_equal(y[0], [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(y.sum(axis=-1), np.ones((2, 2)))


def test_smooth_labels_closed_form():
    y = smooth_labels([1], 4, 0.2)
    np.testing.assert_allclose(y, [[0.05, 0.85, 0.05, 0.05]], rtol=0, atol=1e-15)


@SETTINGS
@given(logits_and_labels(), st.floats(0, 1))
def test_smooth_labels_equals_label_smoothing(zy, alpha):
    z, y = zy
    k = z.shape[1]
    a = cross_entropy(z, y, label_smoothing=alpha, reduction="none")
    b = cross_entropy(z, smooth_labels(y, k, alpha), reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- entropy / KL

@SETTINGS
@given(distributions())
def test_entropy_matches_scipy(p):
    np.testing.assert_allclose(entropy(p), scipy.stats.entropy(p, axis=-1), rtol=1e-12, atol=1e-15)


@SETTINGS
@given(st.data())
def test_kl_matches_scipy_and_is_nonnegative(data):
    p = data.draw(distributions())
    q = data.draw(distributions(n=p.shape[0], k=p.shape[1]))
    kl = kl_divergence(p, q)
    np.testing.assert_allclose(kl, np.sum(sp.rel_entr(p, q), axis=-1), rtol=1e-10, atol=1e-13)
    assert np.all(kl >= -1e-15)


def test_entropy_kl_edge_cases():
    assert entropy([1.0, 0.0, 0.0]) == 0.0
    np.testing.assert_allclose(entropy(np.full(4, 0.25)), np.log(4), rtol=1e-15)
    assert kl_divergence([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf  # q = 0 where p > 0
    np.testing.assert_allclose(entropy([[0.5, 0.5], [1.0, 0.0]], axis=0), [0.5 * np.log(2)] * 2, rtol=1e-15)


@SETTINGS
@given(st.data())
def test_cross_entropy_decomposes_into_entropy_plus_kl(data):
    y = data.draw(distributions())
    z = data.draw(hnp.arrays(np.float64, y.shape, elements=finite))
    p = np.exp(sp.log_softmax(z, axis=-1))
    h_yp = cross_entropy(z, y, reduction="none")
    np.testing.assert_allclose(h_yp, entropy(y) + kl_divergence(y, p), rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------- cross-entropy

@SETTINGS
@given(logits_and_labels())
def test_cross_entropy_matches_scipy_and_is_nonnegative(zy):
    z, y = zy
    ce = cross_entropy(z, y, reduction="none")
    ref = -sp.log_softmax(z, axis=-1)[np.arange(len(y)), y]
    np.testing.assert_allclose(ce, ref, rtol=1e-12, atol=1e-12)
    assert np.all(ce >= 0)
    np.testing.assert_allclose(cross_entropy(z, y), ref.mean(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cross_entropy(z, y, reduction="sum"), ref.sum(), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(logits_and_labels())
def test_one_hot_probability_target_equals_labels(zy):
    z, y = zy
    a = cross_entropy(z, y, reduction="none")
    b = cross_entropy(z, one_hot(y, z.shape[1]), reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_cross_entropy_closed_form_with_smoothing():
    z = np.array([2.0, 0.0, -1.0])
    logp = z - sp.logsumexp(z)
    eps = 0.3
    expected = -((1 - eps) * logp[0] + eps / 3 * logp.sum())
    np.testing.assert_allclose(cross_entropy(z, 0, label_smoothing=eps), expected, rtol=1e-15)


def test_cross_entropy_class_axis_1():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 4, 5))  # (N, K, d)
    y = rng.integers(0, 4, size=(3, 5))
    per = cross_entropy(z, y, axis=1, reduction="none")
    assert per.shape == (3, 5)
    moved = cross_entropy(np.moveaxis(z, 1, -1), y, reduction="none")
    np.testing.assert_allclose(per, moved, rtol=1e-14)
    np.testing.assert_allclose(cross_entropy(z, y, axis=1), per.mean(), rtol=1e-14)


@pytest.mark.filterwarnings("error")
def test_cross_entropy_extreme_logits_are_finite():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]])
    y = np.array([0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ce = cross_entropy(z, y, reduction="none")
        np.testing.assert_allclose(ce, [0.0, 2e4], rtol=1e-15)
        ce_s = cross_entropy(z, y, label_smoothing=0.1, reduction="none")
        assert np.all(np.isfinite(ce_s))
        g = cross_entropy_grad(z, y)
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-15)


@pytest.mark.filterwarnings("error")
def test_cross_entropy_neg_inf_non_target_logits():
    z = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]])
    y = np.array([2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ce = cross_entropy(z, y, reduction="none")
        np.testing.assert_allclose(ce, [np.log1p(np.exp(-1.0)), 0.0], rtol=1e-15)
        # Probability targets with zero mass on the -inf classes: 0 * (-inf) must not be NaN.
        ce_p = cross_entropy(z, one_hot(y, 3), reduction="none")
        np.testing.assert_allclose(ce_p, ce, rtol=1e-15)
        # Smoothing puts mass on a class of probability 0: the exact answer is +inf, not NaN.
        ce_s = cross_entropy(z, y, label_smoothing=0.1, reduction="none")
        assert np.all(ce_s == np.inf)
        assert cross_entropy(z, y, label_smoothing=1.0, reduction="none")[0] == np.inf
        g = cross_entropy_grad(z, y)
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g[1], [0, 0, 0], atol=0)
        assert cross_entropy([[-np.inf, 0.0]], [0]) == np.inf  # the target itself is impossible


@SETTINGS
@given(logits_and_labels(max_n=4, max_k=5), st.floats(0, 1), st.sampled_from(["mean", "sum"]))
def test_cross_entropy_grad_matches_finite_differences(zy, eps, reduction):
    z, y = zy
    z = z / 10  # keep the loss smooth on the scale of h
    num = central_diff(lambda v: cross_entropy(v, y, label_smoothing=eps, reduction=reduction), z)
    ana = cross_entropy_grad(z, y, label_smoothing=eps, reduction=reduction)
    np.testing.assert_allclose(ana, num, rtol=1e-6, atol=1e-8)


@SETTINGS
@given(st.data())
def test_cross_entropy_grad_probability_targets(data):
    y = data.draw(distributions(k=4))
    z = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(-3, 3)))
    num = central_diff(lambda v: cross_entropy(v, y), z)
    np.testing.assert_allclose(cross_entropy_grad(z, y), num, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(cross_entropy_grad(z, y, reduction="none"),
                               np.exp(sp.log_softmax(z, axis=-1)) - y, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------- binary CE

@SETTINGS
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=finite), st.data())
def test_bce_with_logits_matches_scipy(x, data):
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0, 1)))
    ref_stable = -(y * sp.log_expit(x) + (1 - y) * sp.log_expit(-x))
    out = binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(out, ref_stable, rtol=1e-10, atol=1e-12)
    small = np.abs(x) < 5  # the textbook formula with xlogy is accurate only here
    ref = -(sp.xlogy(y, sp.expit(x)) + sp.xlog1py(1 - y, -sp.expit(x)))
    np.testing.assert_allclose(out[small], ref[small], rtol=1e-9, atol=1e-12)
    assert np.all(out >= 0)
    np.testing.assert_allclose(binary_cross_entropy_with_logits(x, y), ref_stable.mean(), rtol=1e-10, atol=1e-12)


def test_bce_against_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for x, y in [(27.0, 0.0), (-35.5, 1.0), (1e-8, 0.3), (-700.0, 0.25), (3.0, 1.0)]:
        p = 1 / (1 + mpmath.exp(-mpmath.mpf(x)))
        ref = -(y * mpmath.log(p) + (1 - y) * mpmath.log(1 - p))
        np.testing.assert_allclose(binary_cross_entropy_with_logits([x], [y], reduction="sum"), float(ref),
                                   rtol=1e-14, atol=0)


@pytest.mark.filterwarnings("error")
def test_bce_extreme_logits():
    x = np.array([1e4, -1e4, 1e4, -1e4])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(binary_cross_entropy_with_logits(x, y, reduction="none"), [0, 0, 1e4, 1e4])


def test_bce_is_two_class_cross_entropy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=7) * 3
    y = rng.integers(0, 2, size=7)
    two = np.stack([np.zeros_like(x), x], axis=-1)  # softmax([0, x])[1] = sigmoid(x)
    np.testing.assert_allclose(binary_cross_entropy_with_logits(x, y.astype(float), reduction="none"),
                               cross_entropy(two, y, reduction="none"), rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------- focal loss

@SETTINGS
@given(logits_and_labels())
def test_focal_gamma0_equals_cross_entropy_exactly(zy):
    z, y = zy
    for reduction in ("none", "mean", "sum"):
        np.testing.assert_array_equal(focal_loss(z, y, gamma=0.0, reduction=reduction),
                                      cross_entropy(z, y, reduction=reduction))
    np.testing.assert_allclose(focal_loss_grad(z, y, gamma=0.0), cross_entropy_grad(z, y), rtol=1e-12, atol=1e-15)


@SETTINGS
@given(logits_and_labels(), st.floats(0, 5))
def test_focal_matches_direct_formula(zy, gamma):
    z, y = zy
    logp_t = sp.log_softmax(z, axis=-1)[np.arange(len(y)), y]
    p_t = np.exp(logp_t)
    ref = -((1 - p_t) ** gamma) * logp_t
    np.testing.assert_allclose(focal_loss(z, y, gamma=gamma, reduction="none"), ref, rtol=1e-9, atol=1e-12)
    assert np.all(focal_loss(z, y, gamma=gamma, reduction="none") <= cross_entropy(z, y, reduction="none") + 1e-15)


def test_focal_alpha_weights():
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    y = np.array([0, 2])
    alpha = np.array([0.2, 0.5, 0.7])
    np.testing.assert_allclose(focal_loss(z, y, gamma=1.5, alpha=alpha, reduction="none"),
                               alpha[y] * focal_loss(z, y, gamma=1.5, reduction="none"), rtol=1e-15)


@SETTINGS
@given(logits_and_labels(max_n=4, max_k=5), st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]), st.booleans(),
       st.sampled_from(["mean", "sum"]))
def test_focal_grad_matches_finite_differences(zy, gamma, use_alpha, reduction):
    z, y = zy
    z = z / 10
    alpha = np.linspace(0.25, 1.0, z.shape[1]) if use_alpha else None
    num = central_diff(lambda v: focal_loss(v, y, gamma=gamma, alpha=alpha, reduction=reduction), z)
    ana = focal_loss_grad(z, y, gamma=gamma, alpha=alpha, reduction=reduction)
    np.testing.assert_allclose(ana, num, rtol=1e-5, atol=1e-8)


@pytest.mark.filterwarnings("error")
def test_focal_extreme_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0], [0.0, -np.inf, 1.0]])
    y = np.array([0, 0, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for gamma in (0.0, 0.5, 2.0):
            loss = focal_loss(z, y, gamma=gamma, reduction="none")
            assert np.all(np.isfinite(loss))
            assert loss[0] == 0.0 and loss[1] == 2e4
            g = focal_loss_grad(z, y, gamma=gamma)
            assert np.all(np.isfinite(g))
    # p_t -> 1: the gradient vanishes for gamma > 0 and tends to p - y for gamma = 0
    np.testing.assert_array_equal(focal_loss_grad(z[:1], y[:1], gamma=0.5), np.zeros((1, 3)))


def test_focal_grad_limit_matches_cross_entropy_grad_at_gamma0():
    z = np.array([[40.0, 0.0, -3.0]])  # p_t = 1 - 4e-18: 1 - p_t rounds to 0 in p, not in expm1
    g = focal_loss_grad(z, [0], gamma=0.0)
    np.testing.assert_allclose(g, cross_entropy_grad(z, [0]), rtol=1e-12, atol=1e-30)


# ----------------------------------------------------------------- sigmoid focal loss

@SETTINGS
@given(hnp.arrays(np.float64, st.integers(1, 10), elements=finite), st.data(),
       st.one_of(st.just(-1.0), st.floats(0, 1)), st.floats(0, 4), st.sampled_from(["none", "mean", "sum"]))
def test_sigmoid_focal_matches_torchvision_transcription(x, data, alpha, gamma, reduction):
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0, 1)))
    ours = sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction=reduction)
    ref = torchvision_sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma, reduction=reduction)
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-12)


def test_sigmoid_focal_defaults_and_gamma0():
    x = np.array([-2.0, 0.5, 3.0])
    y = np.array([0.0, 1.0, 1.0])
    assert sigmoid_focal_loss(x, y).shape == (3,)  # torchvision's default reduction is 'none'
    np.testing.assert_allclose(sigmoid_focal_loss(x, y, alpha=-1, gamma=0.0),
                               binary_cross_entropy_with_logits(x, y, reduction="none"), rtol=1e-15)


@pytest.mark.filterwarnings("error")
def test_sigmoid_focal_extreme():
    x = np.array([1e4, -1e4, 1e4, -1e4])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    out = sigmoid_focal_loss(x, y, reduction="none")
    np.testing.assert_allclose(out, [0, 0, 0.75e4, 0.25e4])


# ----------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, match", [
    (lambda: one_hot([0, 3], 3), r"labels must be in \[0, 3\)"),
    (lambda: one_hot([-1], 3), r"labels must be in \[0, 3\)"),
    (lambda: one_hot([0.5], 3), "non-integer"),
    (lambda: one_hot([0], 0), "num_classes must be an integer >= 1"),
    (lambda: smooth_labels([0], 3, 1.5), r"alpha must be in \[0, 1\]"),
    (lambda: cross_entropy([[0.0, 1.0]], [2]), r"target must be in \[0, 2\)"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], label_smoothing=-0.1), r"label_smoothing must be in \[0, 1\]"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], label_smoothing=1.1), r"label_smoothing must be in \[0, 1\]"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], reduction="avg"), "reduction must be one of"),
    (lambda: cross_entropy([[0.0, 1.0]], [0, 1]), "target must be class labels of shape"),
    (lambda: cross_entropy([[0.0, 1.0]], [[0.5, np.nan]]), "target must contain finite probabilities"),
    (lambda: cross_entropy([[0.0, 1.0]], [[1.5, -0.5]]), r"target must contain probabilities in \[0, 1\]"),
    (lambda: cross_entropy([[0.0, np.nan]], [0]), "contains NaN"),
    (lambda: cross_entropy([[0.0, np.inf]], [0]), r"contains \+inf"),
    (lambda: cross_entropy([[-np.inf, -np.inf]], [0]), "every entry is -inf"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], axis=2), "axis must be in"),
    (lambda: cross_entropy_grad([[0.0, 1.0]], [[1.0]]), "target must be class labels of shape"),
    (lambda: cross_entropy_grad([[0.0, 1.0]], [0], reduction="max"), "reduction must be one of"),
    (lambda: binary_cross_entropy_with_logits([0.0, 1.0], [1.0]), "must have the same shape"),
    (lambda: binary_cross_entropy_with_logits([0.0], [1.5]), r"targets must contain probabilities in \[0, 1\]"),
    (lambda: binary_cross_entropy_with_logits([np.nan], [1.0]), "logits must .*finite"),
    (lambda: binary_cross_entropy_with_logits([0.0], [np.inf]), "targets must contain finite"),
    (lambda: binary_cross_entropy_with_logits([0.0], [1.0], reduction="x"), "reduction must be one of"),
    (lambda: focal_loss([[0.0, 1.0]], [0], gamma=-1), "gamma must be a finite number >= 0"),
    (lambda: focal_loss([[0.0, 1.0]], [0], gamma=np.nan), "gamma must be a finite number >= 0"),
    (lambda: focal_loss([[0.0, 1.0]], [5]), r"target must be in \[0, 2\)"),
    (lambda: focal_loss([[0.0, 1.0]], [[0]]), "target must be integer class labels of shape"),
    (lambda: focal_loss([[0.0, 1.0]], [0], alpha=[1.0]), "alpha must be None or a vector of length K=2"),
    (lambda: focal_loss([[0.0, 1.0]], [0], alpha=[1.0, -0.5]), "alpha must contain finite class weights >= 0"),
    (lambda: focal_loss([[0.0, 1.0]], [0], reduction="bad"), "reduction must be one of"),
    (lambda: focal_loss_grad([[0.0, 1.0]], [0], gamma=-0.5), "gamma must be a finite number >= 0"),
    (lambda: sigmoid_focal_loss([0.0], [1.0], alpha=1.5), "alpha must be a finite number <= 1"),
    (lambda: sigmoid_focal_loss([0.0], [1.0], gamma=-2), "gamma must be a finite number >= 0"),
    (lambda: sigmoid_focal_loss([0.0], [1.0], reduction="avg"), "reduction must be one of"),
    (lambda: sigmoid_focal_loss([0.0, 1.0], [1.0]), "must have the same shape"),
    (lambda: entropy([0.5, 0.7, -0.2]), r"p must contain probabilities in \[0, 1\]"),
    (lambda: entropy([0.5, np.nan]), "p must contain finite probabilities"),
    (lambda: kl_divergence([0.5, 0.5], [1.0, 0.0, 0.0]), "p and q must have the same shape"),
    (lambda: kl_divergence([0.5, 0.5], [1.5, 0.0]), r"q must contain probabilities in \[0, 1\]"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_focal_loss_at_certainty_is_positive_zero():
    # p_t = 1 exactly: the loss and its gradient are +0.0, never -0.0.
    z, t = np.array([[0.0, -np.inf]]), np.array([0])
    loss = focal_loss(z, t, reduction="none")
    grad = focal_loss_grad(z, t)
    assert loss[0] == 0.0 and not np.signbit(loss[0])
    assert not np.any(np.signbit(grad))


# ----------------------------------------------------------------- targets that do not sum to 1 (student finding)

def test_cross_entropy_grad_of_unnormalised_target_is_sum_y_p_minus_y():
    # The student's example: y = [1, 1, 0, 0] sums to 2, so the gradient is 2p - y, not p - y.
    z = np.array([0.5, -1.0, 2.0, 0.0])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    p = np.exp(sp.log_softmax(z))
    g = cross_entropy_grad(z, y, reduction="sum")
    np.testing.assert_allclose(g, 2 * p - y, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(g, central_diff(lambda v: cross_entropy(v, y, reduction="sum"), z),
                               rtol=1e-7, atol=1e-9)
    assert not np.allclose(g, p - y)


@SETTINGS
@given(st.data(), st.floats(0, 1), st.sampled_from(["mean", "sum", "none"]), st.booleans())
def test_cross_entropy_grad_any_soft_target_matches_finite_differences(data, eps, reduction, use_weight):
    n, k = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    z = data.draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-3, 3)))
    y = data.draw(hnp.arrays(np.float64, (n, k), elements=st.floats(0, 1)))  # rows need not sum to 1
    w = np.linspace(0.5, 2.0, k) if use_weight else None

    def loss(v):
        out = cross_entropy(v, y, label_smoothing=eps, reduction=reduction, weight=w)
        return np.sum(out)  # 'none': the gradient of the sum is the per-sample gradients stacked

    np.testing.assert_allclose(cross_entropy_grad(z, y, label_smoothing=eps, reduction=reduction, weight=w),
                               central_diff(loss, z), rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------- weight, ignore_index, class axis (numpy only)

def ce_reference_loop(z, y, axis=-1, weight=None, ignore_index=None, eps=0.0, reduction="mean"):
    """PyTorch's documented cross_entropy, one sample at a time with math.log/exp (class labels)."""
    import math
    zm = np.moveaxis(np.asarray(z, dtype=np.float64), axis, -1)
    k = zm.shape[-1]
    w = np.ones(k) if weight is None else np.asarray(weight, dtype=np.float64)
    losses, total_w = [], 0.0
    for idx in np.ndindex(zm.shape[:-1]):
        c = int(np.asarray(y)[idx])
        if ignore_index is not None and c == ignore_index:
            losses.append(0.0)
            continue
        row = [float(v) for v in zm[idx]]
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        logp = [v - lse for v in row]
        nll = -w[c] * logp[c]
        smooth = -sum(w[j] * logp[j] for j in range(k)) / k
        losses.append((1 - eps) * nll + eps * smooth)
        total_w += w[c]
    out = np.array(losses).reshape(zm.shape[:-1])
    if reduction == "none":
        return out
    return out.sum() if reduction == "sum" else out.sum() / total_w


@SETTINGS
@given(st.data(), st.sampled_from([0.0, 0.2, 1.0]), st.sampled_from(["mean", "sum", "none"]),
       st.sampled_from([None, -100, 1]), st.booleans())
def test_cross_entropy_weight_ignore_index_axis_match_reference_loop(data, eps, reduction, ignore_index, use_w):
    n, k, d = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 5)), data.draw(st.integers(1, 3))
    z = data.draw(hnp.arrays(np.float64, (n, k, d), elements=st.floats(-20, 20)))
    y = data.draw(hnp.arrays(np.intp, (n, d), elements=st.integers(0, k - 1)))
    if ignore_index is not None:
        hit = data.draw(hnp.arrays(np.bool_, (n, d)))
        y = np.where(hit, ignore_index, y)
    w = data.draw(hnp.arrays(np.float64, (k,), elements=st.sampled_from([0.5, 1.0, 3.0]))) if use_w else None
    if reduction == "mean" and ignore_index is not None and np.all(y == ignore_index):
        with pytest.warns(RuntimeWarning, match="every target ignored"):
            assert np.isnan(cross_entropy(z, y, axis=1, weight=w, ignore_index=ignore_index,
                                          label_smoothing=eps))
        return
    ref = ce_reference_loop(z, y, axis=1, weight=w, ignore_index=ignore_index, eps=eps, reduction=reduction)
    ours = cross_entropy(z, y, axis=1, weight=w, ignore_index=ignore_index, label_smoothing=eps,
                         reduction=reduction)
    assert np.shape(ours) == np.shape(ref)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    # the same with the class axis last
    moved = cross_entropy(np.moveaxis(z, 1, -1), y, weight=w, ignore_index=ignore_index, label_smoothing=eps,
                          reduction=reduction)
    np.testing.assert_allclose(moved, ours, rtol=1e-13, atol=1e-14)
    # and the gradient, against central differences of the loss
    red = "sum" if reduction == "none" else reduction
    num = central_diff(lambda v: cross_entropy(v, y, axis=1, weight=w, ignore_index=ignore_index,
                                               label_smoothing=eps, reduction=red), z / 4)
    ana = cross_entropy_grad(z / 4, y, axis=1, weight=w, ignore_index=ignore_index, label_smoothing=eps,
                             reduction=red)
    np.testing.assert_allclose(ana, num, rtol=1e-6, atol=1e-8)


def test_weighted_mean_is_a_weighted_average():
    z = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    y = np.array([0, 0, 1])
    w = np.array([1.0, 3.0])
    per = cross_entropy(z, y, reduction="none")
    np.testing.assert_allclose(cross_entropy(z, y, weight=w), (per[0] + per[1] + 3 * per[2]) / 5, rtol=1e-15)
    np.testing.assert_allclose(cross_entropy(z, y, weight=w, reduction="none"), [per[0], per[1], 3 * per[2]],
                               rtol=1e-15)
    # probability targets: weights enter the sum but the divisor stays N (torch's convention)
    q = one_hot(y, 2)
    np.testing.assert_allclose(cross_entropy(z, q, weight=w), (per[0] + per[1] + 3 * per[2]) / 3, rtol=1e-15)


def test_ignore_index_rows_contribute_nothing():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 2.0, 5.0], [1.0, 1.0, 0.0]])
    y = np.array([0, -100, 2])
    per = cross_entropy(z, y, ignore_index=-100, reduction="none")
    assert per[1] == 0.0 and per.shape == (3,)
    np.testing.assert_allclose(cross_entropy(z, y, ignore_index=-100), (per[0] + per[2]) / 2, rtol=1e-15)
    g = cross_entropy_grad(z, y, ignore_index=-100)
    np.testing.assert_array_equal(g[1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(g[[0, 2]], cross_entropy_grad(z[[0, 2]], y[[0, 2]]), rtol=1e-15)
    # an in-range ignore_index skips that class's samples
    np.testing.assert_allclose(cross_entropy(z, [0, 1, 2], ignore_index=1), (per[0] + per[2]) / 2, rtol=1e-15)


def test_all_ignored_mean_is_nan_with_warning_and_zero_gradient():
    z = np.array([[2.0, 0.0], [0.0, 1.0]])
    with pytest.warns(RuntimeWarning, match="every target ignored"):
        assert np.isnan(cross_entropy(z, [-1, -1], ignore_index=-1))
    assert cross_entropy(z, [-1, -1], ignore_index=-1, reduction="sum") == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(cross_entropy_grad(z, [-1, -1], ignore_index=-1), np.zeros((2, 2)))


def test_new_options_unused_give_identical_bits():
    rng = np.random.default_rng(9)
    z = rng.normal(size=(7, 5)) * 5
    y = rng.integers(0, 5, size=7)
    for eps in (0.0, 0.3):
        a = cross_entropy(z, y, label_smoothing=eps)
        assert cross_entropy(z, y, label_smoothing=eps, weight=np.ones(5), ignore_index=-100) == pytest.approx(a, rel=1e-15)
        np.testing.assert_allclose(cross_entropy_grad(z, y, label_smoothing=eps, weight=np.ones(5)),
                                   cross_entropy_grad(z, y, label_smoothing=eps), rtol=1e-14, atol=1e-17)


def test_class_weight_zero_on_impossible_target_gives_zero_not_nan():
    z = np.array([[0.0, -np.inf, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cross_entropy(z, [1], weight=[1.0, 0.0, 1.0], reduction="sum") == 0.0
        assert np.isfinite(cross_entropy(z, [0], weight=[1.0, 0.0, 1.0], label_smoothing=0.5, reduction="sum"))
        assert cross_entropy(z, [0], weight=[1.0, 1.0, 1.0], label_smoothing=0.5, reduction="sum") == np.inf


# ----------------------------------------------------------------- dtypes

@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_every_loss_keeps_the_floating_dtype(dtype, reduction):
    z = np.array([[1.0, 2.0, -3.0], [0.5, -1.0, 4.0]], dtype=dtype)
    y = np.array([0, 2])
    q = np.array([[0.2, 0.8, 0.0], [0.1, 0.1, 0.8]])  # float64 targets do not upcast the result
    x, t = z[0], np.array([0.0, 1.0, 0.5])
    outs = [cross_entropy(z, y, reduction=reduction), cross_entropy(z, q, reduction=reduction),
            cross_entropy(z, y, reduction=reduction, weight=[1.0, 2.0, 0.5], ignore_index=1),
            focal_loss(z, y, reduction=reduction), sigmoid_focal_loss(x, t, reduction=reduction),
            binary_cross_entropy_with_logits(x, t, reduction, weight=[1.0, 2.0, 1.0], pos_weight=[2.0])]
    grads = [cross_entropy_grad(z, y, reduction=reduction), cross_entropy_grad(z, q, reduction=reduction),
             focal_loss_grad(z, y, reduction=reduction)]
    for out in outs + grads:
        assert out.dtype == dtype
    # float16 is computed in float32: its result is the float32 result rounded once
    if dtype == np.float16:
        ref = cross_entropy(z.astype(np.float32), y, reduction=reduction)
        np.testing.assert_array_equal(outs[0], np.asarray(ref).astype(np.float16))


def test_integer_and_bool_logits_give_float64():
    assert cross_entropy(np.array([[1, 2], [3, 0]]), [0, 1]).dtype == np.float64
    assert cross_entropy_grad(np.array([[True, False]]), [0]).dtype == np.float64
    assert binary_cross_entropy_with_logits(np.array([1, -2]), [1, 0]).dtype == np.float64
    assert focal_loss(np.array([[1, 2]]), [0]).dtype == np.float64


def test_float32_mean_does_not_overflow_on_the_way():
    z = np.array([[0.0, 3e38], [0.0, 3e38]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cross_entropy(z, [0, 0]) == np.float32(3e38)  # the float32 sum 6e38 would overflow
        assert cross_entropy(z, [0, 0], reduction="sum") == np.inf  # the true sum is beyond float32
        assert focal_loss(z, [0, 0], gamma=0.0) == np.float32(3e38)
        x = np.array([3e38, 3e38], dtype=np.float32)
        assert binary_cross_entropy_with_logits(x, [0.0, 0.0]) == np.float32(3e38)


# ----------------------------------------------------------------- binary CE weights

def test_bce_pos_weight_and_weight_closed_form():
    x = np.array([[2.0, -1.0], [0.5, 30.0], [-40.0, 0.0]])
    y = np.array([[1.0, 0.0], [0.3, 1.0], [1.0, 0.5]])
    pw = np.array([3.0, 0.5])
    w = np.array([[1.0], [2.0], [0.0]])
    ls, lns = sp.log_expit(x), sp.log_expit(-x)
    ref = -w * (pw * y * ls + (1 - y) * lns)
    np.testing.assert_allclose(binary_cross_entropy_with_logits(x, y, "none", weight=w, pos_weight=pw), ref,
                               rtol=1e-14, atol=0)
    np.testing.assert_allclose(binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw), ref.mean(),
                               rtol=1e-14)
    np.testing.assert_array_equal(binary_cross_entropy_with_logits(x, y, "none", pos_weight=np.ones(2)),
                                  binary_cross_entropy_with_logits(x, y, "none"))


def test_bce_mpmath_with_pos_weight():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for x, y, pw in [(27.0, 0.0, 2.0), (-35.5, 1.0, 0.25), (1e-8, 0.3, 4.0), (-700.0, 0.25, 3.0)]:
        s = 1 / (1 + mpmath.exp(-mpmath.mpf(x)))
        ref = -(pw * y * mpmath.log(s) + (1 - y) * mpmath.log(1 - s))
        np.testing.assert_allclose(binary_cross_entropy_with_logits([x], [y], "sum", pos_weight=[pw]), float(ref),
                                   rtol=1e-14, atol=0)


# ----------------------------------------------------------------- sigmoid focal: Lin et al. in 50-digit arithmetic

def test_sigmoid_focal_matches_lin_et_al_formula_in_mpmath():
    """FL(p_t) = -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017, eq. 5), one element at a time."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.normal(size=20) * 6, [-40.0, 40.0, 0.0, 1e-9, 700.0, -700.0]])
    y = np.concatenate([rng.integers(0, 2, size=20), [1, 1, 0, 1, 0, 1]]).astype(float)
    for alpha, gamma in [(0.25, 2.0), (-1.0, 0.0), (0.0, 1.0), (1.0, 0.5), (0.6, 5.0)]:
        ref = []
        for xi, yi in zip(x, y):
            # p_t = p for y = 1 and 1 - p = sigma(-x) for y = 0 (written so to avoid 1 - p at 50 digits)
            p_t = 1 / (1 + mpmath.exp(-mpmath.mpf(xi) if yi == 1 else mpmath.mpf(xi)))
            a_t = 1 if alpha < 0 else (alpha if yi == 1 else 1 - alpha)
            ref.append(float(-a_t * (1 - p_t) ** gamma * mpmath.log(p_t)))
        np.testing.assert_allclose(sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma), ref, rtol=1e-13, atol=0)


def test_sigmoid_focal_alpha_boundaries_and_default_gamma():
    x = np.array([-2.0, 0.5, 3.0, -0.7])
    y = np.array([0.0, 1.0, 1.0, 0.3])
    off = sigmoid_focal_loss(x, y, alpha=-1)
    np.testing.assert_allclose(sigmoid_focal_loss(x, y, alpha=0.0), (1 - y) * off, rtol=1e-15)
    np.testing.assert_allclose(sigmoid_focal_loss(x, y, alpha=1.0), y * off, rtol=1e-15)
    np.testing.assert_array_equal(sigmoid_focal_loss(x, y), sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0))


# ----------------------------------------------------------------- shapes and defaults (mutation-test gaps)

def test_smooth_labels_of_2d_labels():
    y = smooth_labels([[0, 1], [2, 0]], 3, 0.3)
    assert y.shape == (2, 2, 3)
    np.testing.assert_allclose(y.sum(axis=-1), np.ones((2, 2)), rtol=1e-15)
    np.testing.assert_allclose(y[0, 0], [0.8, 0.1, 0.1], rtol=1e-15)


@SETTINGS
@given(logits_and_labels(), st.floats(0, 1))
def test_label_smoothing_of_probability_targets(zy, alpha):
    z, y = zy
    k = z.shape[1]
    a = cross_entropy(z, one_hot(y, k), label_smoothing=alpha, reduction="none")
    np.testing.assert_allclose(a, cross_entropy(z, y, label_smoothing=alpha, reduction="none"), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a, cross_entropy(z, smooth_labels(y, k, alpha), reduction="none"), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(cross_entropy_grad(z, one_hot(y, k), label_smoothing=alpha),
                               cross_entropy_grad(z, y, label_smoothing=alpha), rtol=1e-12, atol=1e-15)


def test_reduction_none_keeps_length_one_axes():
    assert cross_entropy([[1.0, 2.0]], [0], reduction="none").shape == (1,)
    assert cross_entropy(np.zeros((2, 3, 1)), np.zeros((2, 1), int), axis=1, reduction="none").shape == (2, 1)
    assert focal_loss([[1.0, 2.0]], [0], reduction="none").shape == (1,)


def test_label_smoothing_one_with_impossible_target():
    # eps = 1 keeps only the uniform part; the -inf target logit must not give 0 * inf = NaN.
    assert cross_entropy([[-np.inf, 0.0]], [0], label_smoothing=1.0) == np.inf
    assert cross_entropy([[-np.inf, 0.0]], [1], label_smoothing=1.0) == np.inf


def test_gradients_and_focal_loss_on_1d_and_3d_logits():
    rng = np.random.default_rng(11)
    z = rng.normal(size=(2, 3, 4))
    y = rng.integers(0, 4, size=(2, 3))
    flat_z, flat_y = z.reshape(6, 4), y.reshape(6)
    for eps in (0.0, 0.2):
        np.testing.assert_allclose(cross_entropy_grad(z, y, label_smoothing=eps).reshape(6, 4),
                                   cross_entropy_grad(flat_z, flat_y, label_smoothing=eps), rtol=1e-14)
    for gamma in (0.0, 2.0):
        np.testing.assert_allclose(focal_loss(z, y, gamma=gamma, reduction="none").reshape(6),
                                   focal_loss(flat_z, flat_y, gamma=gamma, reduction="none"), rtol=1e-14)
        np.testing.assert_allclose(focal_loss_grad(z, y, gamma=gamma).reshape(6, 4),
                                   focal_loss_grad(flat_z, flat_y, gamma=gamma), rtol=1e-14)
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(cross_entropy_grad(v, 0), np.exp(sp.log_softmax(v)) - [1, 0], rtol=1e-15)
    np.testing.assert_allclose(focal_loss([2.0, 0.0, -1.0], 0, gamma=0.0), cross_entropy([[2.0, 0.0, -1.0]], [0]),
                               rtol=1e-15)
    np.testing.assert_allclose(focal_loss_grad([2.0, 0.0, -1.0], 0, gamma=0.0),
                               cross_entropy_grad([2.0, 0.0, -1.0], 0), rtol=1e-15)


def test_focal_default_gamma_is_2():
    z = np.array([[1.0, 0.5, -0.5], [0.2, 0.1, 0.0]])
    y = np.array([0, 2])
    np.testing.assert_array_equal(focal_loss(z, y), focal_loss(z, y, gamma=2.0))
    np.testing.assert_array_equal(focal_loss_grad(z, y), focal_loss_grad(z, y, gamma=2.0))
    assert focal_loss(z, y) != focal_loss(z, y, gamma=3.0)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_grad_where_the_target_is_hopeless(gamma):
    # p_t = 0 exactly (a -inf target logit) or below 1e-16: (1 - p_t)^gamma = 1 and p_t log p_t / (1 - p_t) -> 0,
    # so the focal gradient equals the cross-entropy gradient p - y.
    for z, t in [([[0.0, -np.inf]], [1]), ([[-40.0, 0.0]], [0]), ([[-1e4, 0.0, 3.0]], [0])]:
        np.testing.assert_allclose(focal_loss_grad(z, t, gamma=gamma), cross_entropy_grad(z, t),
                                   rtol=1e-14, atol=1e-300)


def test_focal_grad_near_hopeless_against_closed_form():
    # p_t = sigma(-15): the ratio p_t log p_t / (1 - p_t) is small but not zero.
    z, gamma = np.array([[-15.0, 0.0]]), 2.0
    lp = sp.log_softmax(z[0])
    pt = np.exp(lp[0])
    factor = (1 - pt) ** gamma * (gamma * pt * lp[0] / (1 - pt) - 1)
    ref = factor * (np.array([1.0, 0.0]) - np.exp(lp))
    np.testing.assert_allclose(focal_loss_grad(z, [0], gamma=gamma, reduction="sum")[0], ref, rtol=1e-13)


@pytest.mark.parametrize("call, match", [
    (lambda: cross_entropy_grad(np.zeros((2, 0)), [0, 0]), "empty class axis"),
    (lambda: cross_entropy_grad(np.float64(1.0), 0), "at least one dimension"),
    (lambda: focal_loss(np.zeros((2, 0)), [0, 0]), "empty class axis"),
    (lambda: focal_loss(1.0, 0), "at least one dimension"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], label_smoothing="x"), r"label_smoothing must be a number in \[0, 1\]"),
    (lambda: focal_loss([[0.0, 1.0]], [0], gamma="x"), "gamma must be a finite number >= 0"),
    (lambda: focal_loss([[0.0, 1.0]], [0], gamma=None), "gamma must be a finite number >= 0"),
    (lambda: focal_loss([[0.0, 1.0]], [0], alpha=[1.0, np.nan]), "alpha must contain finite class weights"),
    (lambda: sigmoid_focal_loss([0.0], [1.0], alpha="x"), "alpha must be a finite number <= 1"),
    (lambda: one_hot([0, -1], 3), r"labels must be in \[0, 3\) for 3 classes, got -1"),
    (lambda: one_hot([0, 3], 3), r"got 3"),
    (lambda: one_hot([0.0, 1.5], 3), "non-integer"),
    (lambda: one_hot([0.0, np.inf], 3), "non-integer"),
    (lambda: one_hot(np.array([True, False]), 2), "integer class indices"),
    (lambda: cross_entropy([[0.0, 1.0], [np.nan, 0.0]], [0, 1]), "contains NaN"),
    (lambda: cross_entropy([[0.0, 1.0], [np.inf, 0.0]], [0, 1]), r"contains \+inf"),
    (lambda: cross_entropy([[0.0, 1.0], [1.0, 0.0]], [1, -1]), r"target must be in \[0, 2\)"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], weight=[1.0]), "weight must be None or a vector of length K=2"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], weight=[1.0, -1.0]), "weight must contain finite class weights >= 0"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], weight=[1.0, np.inf]), "weight must contain finite class weights"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], ignore_index=1.5), "ignore_index must be None or an integer"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], ignore_index=True), "ignore_index must be None or an integer"),
    (lambda: cross_entropy([[0.0, 1.0]], [[0.5, 0.5]], ignore_index=0), "ignore_index applies to class-index"),
    (lambda: cross_entropy([[0.0, 1.0]], [5], ignore_index=-100), r"target must be in \[0, 2\)"),
    (lambda: cross_entropy_grad([[0.0, 1.0]], [0], weight=[1.0, 2.0, 3.0]), "weight must be None or a vector"),
    (lambda: cross_entropy_grad(np.zeros((2, 3, 4)), np.zeros((2, 3), int), axis=3), "axis must be in"),
    (lambda: binary_cross_entropy_with_logits([0.0, 1.0], [1.0, 0.0], weight=[1.0, 2.0, 3.0]),
     r"weight must broadcast to the logits shape \(2,\)"),
    (lambda: binary_cross_entropy_with_logits([[0.0, 1.0]], [[1.0, 0.0]], weight=np.ones((3, 2))),
     r"weight must broadcast to the logits shape \(1, 2\), got shape \(3, 2\)"),
    (lambda: binary_cross_entropy_with_logits([0.0], [1.0], pos_weight=[-1.0]), "pos_weight must contain finite"),
    (lambda: binary_cross_entropy_with_logits([0.0], [1.0], pos_weight=[np.nan]), "pos_weight must contain finite"),
    (lambda: binary_cross_entropy_with_logits([0.0], [1.0], weight="a"), "weight must be numeric"),
])
def test_more_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_integral_float_labels_are_accepted():
    np.testing.assert_array_equal(one_hot(np.array([0.0, 2.0]), 3), one_hot([0, 2], 3))
    z = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    assert cross_entropy(z, np.array([0.0, 2.0])) == cross_entropy(z, [0, 2])


# --------------------------------------------------------------------------- targeted checks (mutation testing)
def test_empty_mean_warning_points_at_the_callers_line():
    # The RuntimeWarning names the user's line, not a line inside softmax_nb (however deep the call).
    package = os.path.dirname(os.path.abspath(losses_module.__file__))
    if os.path.basename(os.path.dirname(package)) == "mutants":
        pytest.skip("under mutmut, its trampolines sit between the test and the package: the location differs")
    z = np.zeros((1, 2))
    with pytest.warns(RuntimeWarning, match="total weight of 0") as rec:
        cross_entropy(z, [-100], ignore_index=-100)
    assert rec[0].filename == __file__
    with pytest.warns(RuntimeWarning, match="total weight of 0") as rec:
        cross_entropy_grad(z, [0], weight=[0.0, 1.0])   # a kept sample of weight 0
    assert rec[0].filename == __file__


def _direct_smoothed_ce(z, target, weight, alpha):
    """-sum_k w_k y~_k log p_k per sample, with y~ = (1 - alpha) onehot + alpha / K, by a loop over classes."""
    out = []
    for row, c in zip(np.asarray(z, float), target):
        logp = row - np.log(np.sum(np.exp(row - row.max()))) - row.max()
        k = len(row)
        out.append(sum(-weight[j] * ((1 - alpha) * (j == c) + alpha / k) * logp[j] for j in range(k)))
    return np.array(out)


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_weighted_smoothing_with_a_zero_weight_class_matches_the_formula(alpha):
    z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 2.0, -2.0]])
    target = np.array([1, 2, 0])
    for weight in (np.array([0.0, 1.0, 2.0]), np.ones(3)):
        ours = cross_entropy(z, target, weight=weight, label_smoothing=alpha, reduction="none")
        np.testing.assert_allclose(ours, _direct_smoothed_ce(z, target, weight, alpha), rtol=1e-13, atol=0)


def test_ignored_labels_with_a_single_class():
    # With K = 1 the only valid label is 0; an ignored entry must not be checked as a label.
    loss = cross_entropy(np.zeros((2, 1)), [0, -100], ignore_index=-100, reduction="none")
    np.testing.assert_array_equal(loss, [0.0, 0.0])


# --------------------------------------------------------------------------- issue 21: B1, B4, B7, B10, B11, B16
from softmax_nb._checks import ArgumentTypeError  # noqa: E402


@pytest.mark.parametrize("fn", [cross_entropy, cross_entropy_grad, focal_loss, focal_loss_grad])
@pytest.mark.parametrize("bad, what", [([[np.nan, 1.0]], "NaN"), ([[np.inf, 1.0]], r"\+inf"),
                                       ([[-np.inf, -np.inf]], "every entry is -inf")])
def test_bad_logits_messages_name_logits(fn, bad, what):
    """B1: the message names the caller's argument, logits (it named core's z)."""
    with pytest.raises(ValueError, match=rf"^logits .*{what}"):
        fn(np.array(bad), np.array([0]))


@pytest.mark.parametrize("call, name", [
    (lambda: cross_entropy([[0.0, 1.0]], [0], reduction=1), "reduction"),
    (lambda: cross_entropy_grad([[0.0, 1.0]], [0], reduction=None), "reduction"),
    (lambda: focal_loss([[0.0, 1.0]], [0], reduction=b"mean"), "reduction"),
    (lambda: focal_loss_grad([[0.0, 1.0]], [0], reduction=0.5), "reduction"),
    (lambda: binary_cross_entropy_with_logits([0.0], [1.0], reduction=["mean"]), "reduction"),
    (lambda: sigmoid_focal_loss([0.0], [1.0], reduction=1), "reduction"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], ignore_index=1.5), "ignore_index"),
    (lambda: cross_entropy_grad([[0.0, 1.0]], [0], ignore_index=True), "ignore_index"),
    (lambda: cross_entropy([[0.0, 1.0]], [0], weight=["a", "b"]), "weight"),
    (lambda: cross_entropy_grad([[0.0, 1.0]], [0], weight=["1", "2"]), "weight"),
    (lambda: focal_loss([[0.0, 1.0]], [0], alpha=["1", "2"]), "alpha"),
    (lambda: focal_loss_grad([[0.0, 1.0]], [0], alpha=[1 + 2j, 0j]), "alpha"),
])
def test_wrong_types_of_loss_options_are_argument_type_errors(call, name):
    """B7: a wrong type is an ArgumentTypeError (a TypeError) naming the argument, numeric strings too."""
    with pytest.raises(ArgumentTypeError, match=rf"^{name} "):
        call()


def test_wrong_values_of_loss_options_stay_value_errors():
    with pytest.raises(ValueError, match="^reduction ") as info:
        cross_entropy([[0.0, 1.0]], [0], reduction="avg")
    assert not isinstance(info.value, TypeError)


def test_cross_entropy_none_of_one_sample_is_a_numpy_scalar():
    """B10: 1-D logits with reduction='none' give a numpy scalar, with or without weight= (was a 0-d array)."""
    for kw in ({}, {"weight": [1.0, 2.0]}):
        out = cross_entropy(np.array([0.0, 1.0]), np.array(0), reduction="none", **kw)
        assert isinstance(out, np.float64) and not isinstance(out, np.ndarray), type(out)
        assert out == pytest.approx(np.log1p(np.e), rel=1e-15)


def _ce_ref(z, y, w):
    """float64 (weighted mean of -log p_y, mean of w_y (-log p_y)), independent of the package."""
    z = np.asarray(z, np.float64)
    logp = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
    ly = -logp[np.arange(len(y)), y]
    wy = np.asarray(w, np.float64)[y]
    return float(np.sum(wy / wy.max() * ly) / np.sum(wy / wy.max())), float(np.mean(wy / wy.max() * ly)) * wy.max()


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("w", [[1e39, 1e39], [1e-112, 1e-112], [3e38, 3e38], [1e300, 1e-300]])
def test_class_weights_beyond_the_work_dtype(dtype, w):
    """B4: weights outside float32's range were cast to inf or 0 (mean 0.0, NaN gradients, 'weight 0' warnings)."""
    z = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]], dtype)
    y = np.array([1, 1, 1])
    ref, ref_focal = _ce_ref(z, y, w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = cross_entropy(z, y, weight=w)
        g = cross_entropy_grad(z, y, weight=w)
        f = focal_loss(z, y, gamma=0.0, alpha=w)
    assert got.dtype == dtype and float(got) == pytest.approx(ref, rel=2e-3 if dtype == np.float16 else 1e-6)
    g_ref = cross_entropy_grad(z.astype(np.float64), y)  # the same weight on every used class
    np.testing.assert_allclose(g.astype(np.float64), g_ref, rtol=2e-3, atol=1e-3)
    # focal_loss(gamma=0) 'mean' is the plain mean of alpha_t (-log p_t): inf beyond the dtype's range
    expect = float(ref_focal) if ref_focal <= float(np.finfo(dtype).max) else np.inf
    assert f.dtype == dtype and float(f) == pytest.approx(expect, rel=2e-3 if dtype == np.float16 else 1e-6)


def test_bce_and_focal_weights_beyond_float32():
    """B4: a weight of 1e300 on float32 logits is used exactly, not cast to inf (silent NaN / warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = binary_cross_entropy_with_logits(np.float32([-200.0]), np.array([0.0]), reduction="none",
                                             weight=np.array([1e300]))
        m = binary_cross_entropy_with_logits(np.float32([-20.0, 1.0]), np.array([0.0, 1.0]),
                                             weight=np.array([1e-300, 1e-300]))
        f = focal_loss(np.float32([[0.0, -200.0], [0.0, -200.0]]), np.array([0, 1]), alpha=np.array([1e300, 1e30]),
                       reduction="none")
    assert b.dtype == np.float32 and b[0] == np.inf  # exact: 1e300 * 1.4e-87 = 1.4e213, beyond float32
    exact_m = 1e-300 * (np.log1p(np.exp(-20.0)) + np.log1p(np.exp(-1.0))) / 2
    assert m.dtype == np.float32 and m == np.float32(exact_m)  # rounds to 0 in float32: no warning, no NaN
    # alpha_t (1 - p_t)^2 (-log p_t) with 1 - p_t = -log p_t = e^-200 (to 1e-87): 1e300 e^-600 = 1.4e39 is beyond
    # float32; (200 + e^-200) * 1e30 is not
    assert f.dtype == np.float32 and f[0] == np.inf and float(f[1]) == pytest.approx(200 * 1e30, rel=1e-6)


def test_focal_loss_log_probability_beyond_float32():
    """B16: log p_t = -6.8e38 is beyond float32; focal_loss(gamma=0) was inf, exact 0.25 * 6.8e38 = 1.7e38."""
    z = np.float32([[3.4028235e38, -3.4028235e38]])
    got = focal_loss(z, np.array([1]), gamma=0.0, alpha=np.array([0.25, 0.25]))
    exact = 0.25 * 2 * 3.4028234663852886e38
    assert got.dtype == np.float32 and np.isfinite(got) and float(got) == pytest.approx(exact, rel=1e-6)


def test_means_of_losses_near_the_float64_maximum():
    """B11: a 'mean' whose float64 sum overflows, and pos_weight * softplus overflowing before the weight."""
    got = sigmoid_focal_loss(np.array([1.7e308, 1.7e308]), np.array([0.0, 0.0]), reduction="mean")
    assert got == pytest.approx(0.75 * 1.7e308, rel=1e-15)
    z = np.array([[0.0, -1.7e308], [0.0, -1.7e308]])
    assert cross_entropy(z, np.array([1, 1])) == pytest.approx(1.7e308, rel=1e-15)
    assert focal_loss(z, np.array([1, 1]), gamma=0.0) == pytest.approx(1.7e308, rel=1e-15)
    b = binary_cross_entropy_with_logits(np.array([-1.79769314e8]), np.array([1.0]),
                                         weight=np.array([0.5]), pos_weight=np.array([1e300]))
    assert b == pytest.approx(0.5 * 1e300 * 1.79769314e8, rel=1e-14)


def test_bce_mean_of_an_elementwise_loss_beyond_float64():
    """A pos_weight of 1e300 on a softplus of 1.8e8 gives an elementwise loss of 1.8e308, beyond float64; the
    mean of it and a 0 loss, 8.99e307, is inside the range and must come back finite (found by make fuzz)."""
    x, y = np.array([1.79769313e308, -1.79769314e8]), np.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean = binary_cross_entropy_with_logits(x, y, reduction="mean", pos_weight=np.array(1e300))
        total = binary_cross_entropy_with_logits(x, y, reduction="sum", pos_weight=np.array(1e300))
    assert np.isclose(mean, (1e300 / 2) * 1.79769314e8, rtol=1e-15)  # softplus(1.8e8) = 1.8e8 exactly
    assert np.isposinf(total)  # the sum itself is beyond float64: +inf, as the exact value rounds
