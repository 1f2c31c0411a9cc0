"""The bugs the property suite found, each kept as its failing example (strict xfail).

Each test replays one property of the suite on the example that falsified it, with every
tolerance of ``_harness.BUGS`` switched off (:func:`_harness.strict`). An open bug's test is a
strict xfail (``@xfail("B<n>")``); once the package is fixed it passes, and ``strict=True``
turns that XPASS into a failure: then remove the marker and the bug's entry in
``_harness.BUGS`` (which re-enables that part of the input space in the main properties), and
keep the test here as the bug's regression test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

import softmax_nb as snb
import test_prop_arguments as A
import test_prop_core as C
import test_prop_information as I
import test_prop_losses as L
import test_prop_numerics as N
import test_prop_scoring as S
from _harness import BUGS, call_checked, strict

EXPLICIT = settings(phases=[Phase.explicit], database=None, deadline=None)


def xfail(bug: str):
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"{bug}: {BUGS[bug]}")


def replay(test, *args):
    """Run a property's body on one example, tolerating no known bug."""
    with strict():
        test.hypothesis.inner_test(*args)


def _opt(fn, name):
    return next(o for o in A.OPTIONS if o.fn is fn and o.name == name)


def _arr(fn, name):
    return next(a for a in A.ARRAYS if a.fn is fn and a.name == name)


# B1 ------------------------------------------------------------------------------------------
@EXPLICIT
@given(L.ce_cases())
@example(case=(np.array([[np.nan, 1.0]]), np.array([0]), -1, 0.0, "mean", None, None))
def test_B1_cross_entropy_nan_message_names_logits(case):
    replay(L.test_cross_entropy_matches_exact, case)


@EXPLICIT
@given(L.focal_cases())
@example(case=(np.array([[np.inf, 1.0]]), np.array([0]), 2.0, None, "mean"))
def test_B1_focal_loss_inf_message_names_logits(case):
    replay(L.test_focal_loss_matches_exact, case)


# B2 ------------------------------------------------------------------------------------------
@EXPLICIT
@given(I.kl_cases())
@example(case=(np.float16([0.3, 0.7]), np.float16([0.31, 0.69]), -1))  # 1.221e-4, exact 4.833e-4
def test_B2_kl_divergence_float16_is_computed_in_float32(case):
    replay(I.test_kl_divergence_matches_exact, case)


@EXPLICIT
@given(I.kl_cases())
@example(case=(np.array([1]), np.float16([0.5]), 0))  # a float64 result with float16 accuracy: 0.69336
def test_B2_kl_divergence_float16_q_in_a_float64_result(case):
    replay(I.test_kl_divergence_matches_exact, case)


@EXPLICIT
@given(st.tuples(I.prob_arrays(), st.just(-1)))
@example(case=(np.float16([0.7227]), 0))  # 0.2346, correctly rounded 0.2347
def test_B2_entropy_float16_is_rounded_once(case):
    replay(I.test_entropy_matches_exact, case)


# B3 ------------------------------------------------------------------------------------------
@EXPLICIT
@given(N.relerr_cases())
@example(case=(np.array(np.inf), np.array(np.inf)))  # 'invalid value encountered in subtract'
def test_B3_relative_error_inf_inf_leaks_a_warning(case):
    replay(N.test_relative_error_matches_exact, case)


@EXPLICIT
@given(N.relerr_cases())
@example(case=(np.array(1e308), np.array(-1e308)))  # exact 2; overflow warning and inf
def test_B3_relative_error_overflow(case):
    replay(N.test_relative_error_matches_exact, case)


@EXPLICIT
@given(N.relerr_cases())
@example(case=(np.zeros(2), np.zeros(3)))  # numpy's broadcast message names neither argument
def test_B3_relative_error_shapes_message(case):
    replay(N.test_relative_error_matches_exact, case)


def test_B3_relative_error_nan_exact_is_not_a_silent_nan():
    out = call_checked(snb.relative_error, 1.0, np.nan)
    if out.error is not None:
        out.refused((ValueError, ("exact",)))
    else:
        out.ok()


# B4 ------------------------------------------------------------------------------------------
@EXPLICIT
@given(L.ce_cases())
@example(case=(np.float32([[0.0, 1.0]]), np.array([0]), -1, 0.0, "mean", np.array([1e39, 1e39]), None))  # 0.0
def test_B4_cross_entropy_weights_beyond_float32(case):
    replay(L.test_cross_entropy_matches_exact, case)


@EXPLICIT
@given(L.ce_cases())
@example(case=(np.float16([65504.0]), np.array(0), -1, 0.0, "mean", np.array([1e-112]), None))  # NaN + warning
def test_B4_cross_entropy_grad_weights_below_float32(case):
    replay(L.test_cross_entropy_grad_matches_exact, case)


@EXPLICIT
@given(L.bce_cases())
@example(case=(np.float32([-200.0]), np.array([0.0]), "none", [np.array([1e300]), None]))  # silent NaN
def test_B4_bce_weight_beyond_float32(case):
    replay(L.test_binary_cross_entropy_with_logits_matches_exact, case)


@EXPLICIT
@given(L.focal_cases())
@example(case=(np.float32([[0.0, -200.0]]), np.array([0]), 2.0, np.array([1e300, 1.0]), "none"))  # warning
def test_B4_focal_loss_alpha_beyond_float32(case):
    replay(L.test_focal_loss_matches_exact, case)


# B5, B8, B9, B12: logsumexp --------------------------------------------------------------------
@EXPLICIT
@given(C.weighted_cases())
@example(case=(np.float32([1.0, 2.0]), -1, np.array([1e308, 1.0]), None, False, False))
def test_B5_logsumexp_b_beyond_the_work_dtype(case):
    replay(C.test_logsumexp_weighted, case)


@EXPLICIT
@given(C.family_cases(temperature=False))
@example(case=(np.array([np.inf, 1000.0]), -1, 1.0, None))
def test_B8_logsumexp_inf_and_a_large_logit(case):
    replay(C.test_logsumexp_matches_exact, case)


@EXPLICIT
@given(C.weighted_cases())
@example(case=(np.array([0.0, 0.0]), -1, np.array(1e308), None, False, False))  # inf, exact 709.89
def test_B9_logsumexp_weighted_sum_beyond_the_range(case):
    replay(C.test_logsumexp_weighted, case)


@EXPLICIT
@given(C.weighted_cases())
@example(case=(np.array([1, 2**62]), -1, np.array([1, 0]), None, False, False))  # 0.0, exact 1.0
def test_B12_logsumexp_int64_shift_ignores_b(case):
    replay(C.test_logsumexp_weighted, case)


# B6, B13: wilson_interval ----------------------------------------------------------------------
@EXPLICIT
@given(S.wilson_cases())
@example(case=(np.float64(0.0), np.array(1e30), 0.95))  # 'invalid value encountered in cast'
def test_B6_wilson_float_counts_beyond_int64(case):
    replay(S.test_wilson_interval_matches_exact, case)


def test_B6_wilson_uint64_counts_wrap_round():
    n = np.uint64(2**64 - 1)
    out = call_checked(snb.wilson_interval, np.uint64(1), n)
    if out.error is not None:  # a refusal must not report a wrapped-round count
        out.refused((ValueError, ("n",)))
        assert str(2**64 - 1) in str(out.error) or "-1" not in str(out.error), str(out.error)
    else:
        low, high = out.ok()
        assert 0 <= low <= 1 / float(n) <= high <= 1


@EXPLICIT
@given(S.wilson_cases())
@example(case=(np.int64(0), np.array(1), 0.999999999))
def test_B13_wilson_confidence_near_one(case):
    replay(S.test_wilson_interval_matches_exact, case)


# B7: the exception rule --------------------------------------------------------------------------
@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.numerical_gradient, "h"), "0.5"))
def test_B7_numerical_gradient_h_string(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.wilson_interval, "confidence"), True))
def test_B7_wilson_confidence_bool(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.cross_entropy, "ignore_index"), 1.5))
def test_B7_cross_entropy_ignore_index_float(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.cross_entropy, "reduction"), 1))
def test_B7_cross_entropy_reduction_int(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.fit_vector_scaling, "temperature"), "2"))  # accepted today
def test_B7_fit_vector_scaling_temperature_string(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.exp_limits, "dtype"), "foo"))  # numpy's "data type 'foo' not understood"
def test_B7_exp_limits_dtype_garbage(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


@EXPLICIT
@given(st.sampled_from(A.ARRAYS), A.BAD_ARRAYS)
@example(arg=_arr(snb.relative_error, "approx"), bad=("type", ["1", "2"]))  # accepted today
def test_B7_relative_error_numeric_strings(arg, bad):
    replay(A.test_array_arguments_refuse_non_numeric_input, arg, bad)


@EXPLICIT
@given(st.sampled_from(A.ARRAYS), A.BAD_ARRAYS)
@example(arg=_arr(snb.to_bfloat16, "x"), bad=("type", [1 + 2j, 0j]))  # a ValueError today
def test_B7_to_bfloat16_complex(arg, bad):
    replay(A.test_array_arguments_refuse_non_numeric_input, arg, bad)


@EXPLICIT
@given(st.sampled_from(A.ARRAYS), A.BAD_ARRAYS)
@example(arg=_arr(snb.cross_entropy, "weight"), bad=("type", ["a", "b"]))  # numpy's message, no 'weight'
def test_B7_cross_entropy_weight_strings(arg, bad):
    replay(A.test_array_arguments_refuse_non_numeric_input, arg, bad)


@EXPLICIT
@given(st.sampled_from(A.ARRAYS), A.BAD_ARRAYS)
@example(arg=_arr(snb.logsumexp, "b"), bad=("type", ["a", "b"]))  # a ValueError today
def test_B7_logsumexp_b_strings(arg, bad):
    replay(A.test_array_arguments_refuse_non_numeric_input, arg, bad)


@EXPLICIT
@given(st.sampled_from(A.ARRAYS), A.BAD_ARRAYS)
@example(arg=_arr(snb.softmax, "where"), bad=("type", ["1", "2"]))  # a ValueError today
def test_B7_softmax_where_not_boolean(arg, bad):
    replay(A.test_array_arguments_refuse_non_numeric_input, arg, bad)


@EXPLICIT
@given(st.sampled_from(A.ARRAYS), A.BAD_ARRAYS)
@example(arg=_arr(snb.wilson_interval, "successes"), bad=("type", ["a", "b"]))  # a ValueError today
def test_B7_wilson_successes_strings(arg, bad):
    replay(A.test_array_arguments_refuse_non_numeric_input, arg, bad)


# B10, B11 --------------------------------------------------------------------------------------
@EXPLICIT
@given(L.ce_cases())
@example(case=(np.array([0.0, 1.0]), np.array(0), -1, 0.0, "none", np.array([1.0, 1.0]), None))
def test_B10_cross_entropy_none_of_one_sample_is_a_numpy_scalar(case):
    replay(L.test_cross_entropy_matches_exact, case)


@EXPLICIT
@given(L.sigmoid_focal_cases())
@example(case=(np.array([1.7e308, 1.7e308]), np.array([0.0, 0.0]), 0.25, 2.0, "mean"))  # inf, exact 1.275e308
def test_B11_mean_of_losses_near_the_float64_maximum(case):
    replay(L.test_sigmoid_focal_loss_matches_exact, case)


@EXPLICIT
@given(L.bce_cases())
@example(case=(np.array([-1.79769314e8]), np.array([1.0]), "mean", [np.array(0.5), np.array(1e300)]))  # inf
def test_B11_bce_pos_weight_overflows_before_the_weight(case):
    replay(L.test_binary_cross_entropy_with_logits_matches_exact, case)


@EXPLICIT
@given(L.focal_cases())
@example(case=(np.float32([3.4028235e38, -3.4028235e38]), np.array(1), 0.0, np.array([0.25, 0.25]), "mean"))
def test_B16_focal_loss_log_probability_beyond_float32(case):
    replay(L.test_focal_loss_matches_exact, case)


# B14, B15: calibration -------------------------------------------------------------------------
@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.fit_temperature, "bounds"), (2.0, 3.0)))
def test_B14_fit_temperature_bounds_above_one(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.fit_vector_scaling, "temperature"), 1e-308))
def test_B15_fit_vector_scaling_tiny_start_temperature(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


@EXPLICIT
@given(A.CASES)
@example(case=(_opt(snb.fit_matrix_scaling, "temperature"), 5e-324))
def test_B15_fit_matrix_scaling_tiny_start_temperature(case):
    replay(A.test_every_option_follows_the_exception_rule, case)


# B17 -----------------------------------------------------------------------------------------
@EXPLICIT
@given(C.family_cases())
@example(case=(np.float32([3.4028235e38, -3.4028235e38]), -1, 1.5, None))  # -inf is right, the warning is not
def test_B17_log_softmax_difference_beyond_float32_after_temperature(case):
    replay(C.test_log_softmax_matches_exact_or_refuses, case)


# B18 -----------------------------------------------------------------------------------------
@EXPLICIT
@given(L.focal_cases())
@example(case=(np.array([[-np.inf, 1.0]]), np.array([0]), 2.0, np.array([0.0, 1.0]), "none"))  # exact 0
def test_B18_focal_loss_zero_alpha_on_a_minus_inf_target(case):
    replay(L.test_focal_loss_matches_exact, case)


def test_every_known_bug_has_an_xfail_test():
    """Each open bug of BUGS has at least one test here; a fixed bug's entry is deleted from BUGS, its tests
    stay as regression tests without their xfail marker (``xfail`` looks the ID up in BUGS, so a marker left
    on a fixed bug fails at import)."""
    import sys

    names = [n for n in dir(sys.modules[__name__]) if n.startswith("test_B")]
    assert set(BUGS) <= {n.split("_")[1] for n in names}
