"""Tests written to kill surviving mutmut mutants of softmax_nb.losses (see tests/MUTATION.md)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import softmax_nb as snb

EMPTY_MEAN = ("loss: reduction='mean' over a total weight of 0 (every target ignored, an empty batch, "
              "or only classes of weight 0) is 0/0; returning nan, as torch does")


def test_empty_mean_warning_in_full():
    for call in (lambda: snb.binary_cross_entropy_with_logits(np.zeros(0), np.zeros(0)),
                 lambda: snb.focal_loss(np.zeros((0, 3)), np.zeros(0, int))):
        with pytest.warns(RuntimeWarning, match="^" + re.escape(EMPTY_MEAN) + "$"):
            assert np.isnan(call())


def test_messages_name_the_argument():
    with pytest.raises(ValueError, match="^target must be numeric"):
        snb.cross_entropy(np.zeros((2, 3)), np.full((2, 3), "a"))
    with pytest.raises(ValueError, match="^logits must be numeric"):
        snb.binary_cross_entropy_with_logits(["a"], [1.0])
    with pytest.raises(ValueError, match="^targets must be numeric"):
        snb.binary_cross_entropy_with_logits([1.0], ["a"])
    with pytest.raises(ValueError, match=r"^logits and targets must have the same shape, got \(1,\) and \(2,\)$"):
        snb.binary_cross_entropy_with_logits([1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="^logits must be numeric"):
        snb.focal_loss(["a"], 0)
    with pytest.raises(ValueError, match="^logits has an empty class axis"):
        snb.focal_loss(np.zeros((2, 0)), [0, 0])
    with pytest.raises(ValueError, match=r"^target must be integer class labels of shape \(2, 3\) "):
        snb.focal_loss(np.zeros((2, 3, 4)), np.zeros(2, int))


@pytest.mark.parametrize("loss", [
    lambda x, y, r: snb.binary_cross_entropy_with_logits(x, y.astype(x.dtype), reduction=r),
    lambda x, y, r: snb.focal_loss(np.stack([x, -x], axis=-1), y, reduction=r),
])
def test_float16_is_computed_in_float32_and_rounded_once(loss):
    x = np.linspace(-8, 8, 97).astype(np.float16)
    y = (np.arange(97) % 2).astype(np.int64)
    out = loss(x, y, "none")
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, loss(x.astype(np.float32), y, "none").astype(np.float16))


def test_bce_mean_is_computed_in_float64():
    # One float32 loss of 1e39 (beyond float32's range) among 99 small ones: the mean, 1e37, is representable.
    x = np.zeros(100, np.float32)
    x[0] = -1e38
    y = np.ones(100, np.float32)
    pw = np.ones(100)
    pw[0] = 10.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean = snb.binary_cross_entropy_with_logits(x, y, pos_weight=pw)
        total = snb.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction="sum")
    assert mean.dtype == np.float32 and np.isfinite(mean)
    assert mean == pytest.approx((1e39 + 99 * np.log(2)) / 100, rel=1e-6)
    assert total == np.inf  # the sum itself is beyond float32's range


def test_bce_zero_weight_on_an_overflowed_loss_is_zero():
    x = np.float32([-3e38, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = snb.binary_cross_entropy_with_logits(x, np.float32([1, 1]), reduction="none",
                                                   weight=[0.0, 1.0], pos_weight=[10.0, 1.0])
    assert out[0] == 0.0 and out.dtype == np.float32
    assert out[1] == pytest.approx(np.log1p(np.exp(-1.0)), rel=1e-6)
