"""Tests of softmax_nb.losses and softmax_nb.information."""

from __future__ import annotations

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
