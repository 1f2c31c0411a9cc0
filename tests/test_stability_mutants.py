"""Tests written to kill surviving mutmut mutants of softmax_nb.stability (see tests/MUTATION.md)."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

from softmax_nb._checks import ArgumentTypeError
from softmax_nb.stability import soft_cap, z_loss


def _lse_rows(z):
    return [max(r) + math.log(sum(math.exp(x - max(r)) for x in r)) for r in np.asarray(z, np.float64).tolist()]


# --------------------------------------------------------------------------- z_loss
def test_z_loss_names_its_arguments():
    with pytest.raises(ArgumentTypeError, match="^logits must be numeric"):
        z_loss(np.full((2, 3), "a"))
    with pytest.raises(ArgumentTypeError, match="^weight must be a finite number >= 0, got str 'a'$"):
        z_loss([[0.0, 1.0]], weight="a")
    with pytest.raises(ValueError, match="^weight must be a finite number >= 0, got -1.0$"):
        z_loss([[0.0, 1.0]], weight=-1.0)
    with pytest.raises(ArgumentTypeError, match="^return_grad must be True or False, got 1$"):
        z_loss([[0.0, 1.0]], return_grad=1)
    with pytest.raises(ValueError, match=r"^logits must have a non-empty class axis \(the last\), got shape \(2, 0\)$"):
        z_loss(np.zeros((2, 0)))


@pytest.mark.parametrize("shape, masked", [((2, 3), (0,)), ((3, 2), (2,)), ((1, 2, 3), (0, 0)), ((2, 2, 3), (1, 1))])
def test_a_row_of_minus_inf_raises_naming_the_logits(shape, masked):
    z = np.zeros(shape)
    z[masked] = -np.inf  # one row (last axis) fully masked, the others finite
    with pytest.raises(ValueError, match="^logits has a slice along the class axis where every entry is -inf"):
        z_loss(z)


def test_z_loss_of_a_row_with_lse_one():
    # LSE([1]) = 1 exactly: the loss is the weight.
    assert z_loss([[1.0]], weight=0.5) == 0.5
    assert z_loss([[1.0], [1.0]], weight=0.25) == 0.25
    loss, grad = z_loss([[1.0]], weight=0.5, return_grad=True)
    np.testing.assert_array_equal(grad, [[1.0]])  # 2 w LSE softmax = 2 * 0.5 * 1 * 1


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_zero_weight_gives_a_zero_gradient_in_the_dtype_of_the_logits(dtype):
    loss, grad = z_loss(np.array([[1.0, 2.0], [3.0, 0.0]], dtype), weight=0.0, return_grad=True)
    assert loss == 0 and loss.dtype == dtype
    assert grad.dtype == dtype and grad.shape == (2, 2)
    np.testing.assert_array_equal(grad, 0.0)


def test_z_loss_gradient_on_three_dimensional_logits_matches_the_closed_form():
    z = np.random.default_rng(4).standard_normal((2, 3, 4)) * 3
    loss, grad = z_loss(z, weight=0.3, return_grad=True)
    lse = np.array(_lse_rows(z.reshape(-1, 4))).reshape(2, 3)
    assert math.isclose(loss, 0.3 * np.mean(lse ** 2), rel_tol=1e-13)
    p = np.exp(z - lse[..., None])
    np.testing.assert_allclose(grad, 2 * 0.3 / 6 * lse[..., None] * p, rtol=1e-12)


def test_a_gradient_beyond_float16_rounds_to_inf_without_a_warning():
    z = np.array([[60000.0, 0.0]], np.float16)  # LSE = 60000, grad = 2 * 60000 * 1 > 65504
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = z_loss(z, weight=1.0, return_grad=True)
    assert loss == np.inf and loss.dtype == np.float16
    assert grad.dtype == np.float16
    np.testing.assert_array_equal(grad, [[np.inf, 0.0]])


# --------------------------------------------------------------------------- soft_cap
def test_soft_cap_names_its_arguments():
    with pytest.raises(ArgumentTypeError, match="^z must be numeric"):
        soft_cap(np.full(3, "a"), cap=1.0)
    with pytest.raises(ValueError, match="^z contains NaN$"):
        soft_cap([0.0, np.nan], cap=1.0)
    with pytest.raises(ArgumentTypeError, match="^cap must be a finite number > 0, got str 'a'$"):
        soft_cap([0.0], cap="a")


@pytest.mark.parametrize("cap", [0.0, -1.0, math.inf, -math.inf, math.nan])
def test_cap_must_be_finite_and_positive(cap):
    with pytest.raises(ValueError, match="^cap must be a finite number > 0, got " + re.escape(repr(cap)) + "$"):
        soft_cap([0.0, 1.0], cap=cap)


@pytest.mark.parametrize("dtype, cap", [(np.float32, 1e-50), (np.float16, 1e-50), (np.float32, 1e39)])
def test_cap_must_be_representable_in_the_working_dtype(dtype, cap):
    message = "^cap must be a positive number representable in float32, got " + re.escape(repr(cap)) + "$"
    with pytest.raises(ValueError, match=message):
        soft_cap(np.ones(2, dtype), cap=cap)


@pytest.mark.parametrize("cap", [0.5, 1.0, 1e-3])
def test_small_caps_follow_the_formula(cap):
    z = np.array([-3.0, -0.1, 0.0, 0.2, 1.0, 7.0])
    np.testing.assert_allclose(soft_cap(z, cap=cap), [cap * math.tanh(x / cap) for x in z], rtol=1e-15)


def test_a_huge_ratio_of_logit_to_cap_gives_the_cap_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = soft_cap([1e308, -1e308, 0.0], cap=1e-10)
    np.testing.assert_array_equal(out, [1e-10, -1e-10, 0.0])


# --------------------------------------------------------------------------- package bugs found by these tests
def test_soft_cap_is_the_identity_near_zero_even_for_a_huge_cap():
    np.testing.assert_array_equal(soft_cap([1e-30, -1e-30], cap=1e300), [1e-30, -1e-30])
