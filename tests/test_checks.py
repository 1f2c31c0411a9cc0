"""Direct tests of softmax_nb._checks: every check accepts its documented range and rejects the rest.

The public functions reach these checks too, but testing them directly pins
the boundaries (closed vs open intervals), the non-numeric paths and the
offending value quoted in each message.
"""

from __future__ import annotations

import numpy as np
import pytest

from softmax_nb import _checks as c


# --------------------------------------------------------------------------- arrays and axes
def test_as_float_array_dtypes():
    assert c.as_float_array([1, 2]).dtype == np.float64
    assert c.as_float_array(np.array([True])).dtype == np.float64
    f32 = np.zeros(2, np.float32)
    assert c.as_float_array(f32) is f32  # no copy of floating input
    with pytest.raises(ValueError, match="x must be real-valued"):
        c.as_float_array([1j], "x")
    with pytest.raises(ValueError, match="x must be numeric"):
        c.as_float_array(["a"], "x")
    with pytest.raises(ValueError, match="x is a numpy masked array"):
        c.as_float_array(np.ma.masked_array([1.0], mask=[True]), "x")


def test_check_axis():
    z = np.zeros((2, 3))
    assert c.check_axis(z, -1) == 1 and c.check_axis(z, np.int32(0)) == 0
    with pytest.raises(np.exceptions.AxisError, match=r"axis must be in \[-2, 2\) for q with 2 dimension"):
        c.check_axis(z, -3, "q")
    with pytest.raises(ValueError, match="axis must be an integer, got True"):
        c.check_axis(z, True)
    with pytest.raises(ValueError, match="q has an empty class axis"):
        c.check_axis(np.zeros((2, 0)), -1, "q")
    with pytest.raises(ValueError, match="q must have at least one dimension"):
        c.check_axis(np.float64(1.0), -1, "q")


def test_check_axes():
    z = np.zeros((2, 3, 4))
    assert c.check_axes(z, None) == (0, 1, 2)
    assert c.check_axes(z, (-1, 0)) == (0, 2)
    assert c.check_axes(z, 1) == (1,)
    assert c.check_axes(np.float64(1.0), None) == (0,)
    assert c.check_axes(np.float64(1.0), -1) == (0,)
    assert c.check_axes(np.float64(1.0), ()) == (0,)
    assert c.check_axes(z, ()) == ()
    with pytest.raises(ValueError, match="must not repeat"):
        c.check_axes(z, (1, -2))
    with pytest.raises(np.exceptions.AxisError):
        c.check_axes(z, (0, 3))
    with pytest.raises(ValueError, match="axis must be an integer"):
        c.check_axes(z, (0, 1.0))


def test_check_bool():
    assert c.check_bool(np.bool_(True), "flag") is True
    for bad in (1, "yes", None):
        with pytest.raises(ValueError, match="flag must be True or False"):
            c.check_bool(bad, "flag")


def test_check_temperature():
    assert c.check_temperature(np.float32(2.0)) == 2.0
    assert c.check_temperature(5e-324) == 5e-324
    for bad in (0.0, -1.0, np.inf, np.nan, "hot", None, True):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            c.check_temperature(bad)


def test_check_max_and_no_nan_or_posinf_look_at_every_row():
    ok = np.array([[0.0], [1.0]])
    c.check_max(ok)
    for bad, match in ((np.nan, "z contains NaN"), (np.inf, r"z contains \+inf"),
                       (-np.inf, "every entry is -inf")):
        m = np.array([[0.0], [bad], [1.0]])
        with pytest.raises(ValueError, match=match):
            c.check_max(m)
    c.check_no_nan_or_posinf(np.array([-np.inf, 0.0]))  # -inf: nothing unmasked seen yet, allowed
    with pytest.raises(ValueError, match="w contains NaN"):
        c.check_no_nan_or_posinf(np.array([0.0, np.nan]), "w")
    with pytest.raises(ValueError, match=r"w contains \+inf"):
        c.check_no_nan_or_posinf(np.array([0.0, np.inf]), "w")


def test_check_finite():
    c.check_finite(np.zeros(3), "x")
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="x must contain only finite numbers"):
            c.check_finite(np.array([0.0, bad]), "x")


# --------------------------------------------------------------------------- scalars
def test_check_reduction_and_choice():
    assert c.check_reduction("sum") == "sum"
    with pytest.raises(ValueError, match="reduction must be one of"):
        c.check_reduction("avg")
    assert c.check_choice("a", ("a", "b"), "mode") == "a"
    with pytest.raises(ValueError, match=r"mode must be one of \('a', 'b'\), got 'c'"):
        c.check_choice("c", ("a", "b"), "mode")


def test_check_unit_interval_is_closed():
    assert c.check_unit_interval(0, "a") == 0.0 and c.check_unit_interval(1, "a") == 1.0
    for bad in (-1e-12, 1 + 1e-12, np.nan):
        with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
            c.check_unit_interval(bad, "label_smoothing")
    for bad in ("x", None):
        with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\]"):
            c.check_unit_interval(bad, "label_smoothing")


def test_check_nonnegative():
    assert c.check_nonnegative(0, "gamma") == 0.0
    for bad in (-1e-300, np.inf, np.nan):
        with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
            c.check_nonnegative(bad, "gamma")
    for bad in ("x", None):
        with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
            c.check_nonnegative(bad, "gamma")


def test_check_positive_int():
    assert c.check_positive_int(np.int64(3), "n") == 3
    for bad in (0, -1, 1.0, True, "2", None):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            c.check_positive_int(bad, "n")


def test_check_sigmoid_alpha_boundaries():
    assert c.check_sigmoid_alpha(1.0) == 1.0  # documented as allowed (alpha <= 1)
    assert c.check_sigmoid_alpha(-1) == -1.0  # negative disables the weighting
    for bad in (1.0 + 1e-12, np.inf, np.nan, "x", None):
        with pytest.raises(ValueError, match="alpha must be a finite number <= 1"):
            c.check_sigmoid_alpha(bad)


def test_check_bounds():
    assert c.check_bounds((0.5, 2)) == (0.5, 2.0)
    for bad in ((1.0, 1.0), (0.0, 1.0), (2.0, 1.0), (1.0, np.inf), 5, ("a", "b"), (1.0,), None):
        with pytest.raises(ValueError, match=r"bounds must be a pair \(low, high\) with 0 < low < high < inf"):
            c.check_bounds(bad)


def test_check_fraction_is_open():
    assert c.check_fraction(np.float32(0.25), "val_size") == 0.25
    with pytest.raises(TypeError, match=r"val_size must be a number in \(0, 1\), got str '0.25'"):
        c.check_fraction("0.25", "val_size")  # a numeric string is a type error (issue 21, R15)
    for bad in (0.0, 1.0, -0.1, np.nan):
        with pytest.raises(ValueError, match=r"val_size must be in \(0, 1\)"):
            c.check_fraction(bad, "val_size")
    for bad in ("x", None):
        with pytest.raises(ValueError, match=r"val_size must be a number in \(0, 1\)"):
            c.check_fraction(bad, "val_size")


def test_check_generator():
    rng = np.random.default_rng(0)
    assert c.check_generator(rng) is rng
    # SPEC 7: an int seed is default_rng(seed); None is fresh entropy
    assert c.check_generator(42).random() == np.random.default_rng(42).random()
    assert c.check_generator(np.int64(7)).random() == np.random.default_rng(7).random()
    assert isinstance(c.check_generator(None), np.random.Generator)
    for bad in (np.random.RandomState(0), 1.0, "42", True, object()):
        with pytest.raises(TypeError, match="rng must be an int seed, a numpy.random.Generator .* got "):
            c.check_generator(bad)
    with pytest.raises(ValueError, match="rng must be a non-negative integer seed"):
        c.check_generator(-1)


# --------------------------------------------------------------------------- labels, weights, probabilities
def test_check_labels_accepts_integral_floats_and_ints():
    np.testing.assert_array_equal(c.check_labels(np.array([0.0, 2.0]), 3), [0, 2])
    np.testing.assert_array_equal(c.check_labels(np.array([0, 2], np.uint8), 3), [0, 2])
    assert c.check_labels(np.array([], np.int64), 3).size == 0


@pytest.mark.parametrize("labels, match", [
    ([0.0, 1.5], "non-integer"),
    ([0.0, np.inf], "non-integer"),
    ([0.0, np.nan], "non-integer"),
    (np.array([True, False]), "integer class indices in \\[0, 3\\), got dtype bool"),
    (np.array(["0"]), "integer class indices"),
    ([0, -1], "labels must be in \\[0, 3\\) for 3 classes, got -1"),
    ([0, 3], "got 3$"),
    ([1, 3, -2], "got 3$"),
])
def test_check_labels_rejects(labels, match):
    with pytest.raises(ValueError, match=match):
        c.check_labels(labels, 3)


def test_check_class_weights():
    np.testing.assert_array_equal(c.check_class_weights([0.0, 2.0], 2), [0.0, 2.0])
    for bad in ([1.0, np.nan], [1.0, np.inf], [1.0, -0.5]):
        with pytest.raises(ValueError, match="alpha must contain finite class weights >= 0"):
            c.check_class_weights(bad, 2)
    with pytest.raises(ValueError, match="vector of length K=3"):
        c.check_class_weights([1.0, 2.0], 3)


def test_check_probabilities_and_same_shape():
    c.check_probabilities(np.array([0.0, 1.0]), "p")
    with pytest.raises(ValueError, match="p must contain finite probabilities"):
        c.check_probabilities(np.array([0.5, np.nan]), "p")
    with pytest.raises(ValueError, match=r"p must contain probabilities in \[0, 1\], got values in \[-0.1, 1\]"):
        c.check_probabilities(np.array([-0.1, 1.0]), "p")
    c.check_same_shape(np.zeros(2), np.zeros(2), "a", "b")
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got \(2,\) and \(3,\)"):
        c.check_same_shape(np.zeros(2), np.zeros(3), "a", "b")


def test_check_matrix_and_labels():
    np.testing.assert_array_equal(c.check_matrix_and_labels(np.zeros((2, 3)), [0, 2], "probs"), [0, 2])
    for arr, labels in ((np.zeros((0, 3)), []), (np.zeros((2, 0)), [0, 0]), (np.zeros(3), [0, 0, 0])):
        with pytest.raises(ValueError, match=r"probs must be a non-empty 2-D array of shape \(N, K\)"):
            c.check_matrix_and_labels(arr, labels, "probs")
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(2,\)"):
        c.check_matrix_and_labels(np.zeros((2, 3)), [0], "probs")


# --------------------------------------------------------------------------- found by mutation testing (tests/MUTATION.md)
def test_default_argument_name_is_z():
    with pytest.raises(ValueError, match="^z has an empty class axis"):
        c.check_axis(np.zeros((2, 0)), -1)
    with pytest.raises(np.exceptions.AxisError, match=r"^axis must be in \[-1, 1\) for z with 1 dimension"):
        c.check_axes(np.zeros(2), 1)
    with pytest.raises(ValueError, match="^z contains NaN; softmax is undefined there$"):
        c.check_no_nan_or_posinf(np.array([np.nan]))
    with pytest.raises(ValueError, match=r"^z has a slice along the class axis where every entry is -inf; softmax is "
                                         r"undefined there \(at least one class must be unmasked\)$"):
        c.check_max(np.array([-np.inf]))


def test_class_weights_come_back_as_float64():
    w = c.check_class_weights([1, 2], 2)
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w, [1.0, 2.0])


def test_as_float_array_default_name_and_masked_message_in_full():
    with pytest.raises(ValueError, match="^z must be numeric"):
        c.as_float_array(["a"])
    with pytest.raises(ValueError, match=r"^q is a numpy masked array, whose mask would be ignored; pass plain data "
                                         r"\(and, where supported, the mask as where=~mask\)$"):
        c.as_float_array(np.ma.masked_array([1.0], mask=[True]), "q")


def test_check_axes_names_the_array_in_range_errors():
    for axis in (5, (0, 5)):
        with pytest.raises(np.exceptions.AxisError, match=r"^axis must be in \[-1, 1\) for q with 1 dimension"):
            c.check_axes(np.zeros(2), axis, "q")
