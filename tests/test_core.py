"""Tests for softmax_nb.core against independent references (mpmath, scipy, closed forms)."""

from __future__ import annotations

import math
import re
import warnings

import mpmath
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given
from hypothesis import strategies as st

import softmax_nb as snb
from softmax_nb.reference import logsumexp_mp, softmax_mp

from strategies import FLOAT_DTYPES, batch_with_row, logit_arrays, logit_matrices, logits

WORKED = np.array([2.0, 0.1, 0.5, 1.0, 1.5])


# --------------------------------------------------------------------------- reference values
def test_worked_example_matches_mpmath():
    np.testing.assert_allclose(snb.softmax(WORKED), softmax_mp(WORKED), rtol=1e-15)


def test_closed_form_two_classes():
    # softmax([x, 0])[0] = 1 / (1 + e^{-x}); against mpmath at high precision.
    for x in (-30.0, -2.5, 0.0, 0.7, 12.0):
        exact = float(1 / (1 + mpmath.exp(-mpmath.mpf(x))))
        assert snb.softmax([x, 0.0])[0] == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0, 700.0, 1e4])
def test_matches_mpmath_across_scales(scale):
    z = np.random.default_rng(7).standard_normal(9) * scale
    np.testing.assert_allclose(snb.softmax(z), softmax_mp(z), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(snb.log_softmax(z), np.asarray(z) - logsumexp_mp(z), rtol=1e-12, atol=1e-12)
    assert snb.logsumexp(z) == pytest.approx(logsumexp_mp(z), rel=1e-14)


@given(logit_matrices())
def test_matches_scipy(z):
    np.testing.assert_allclose(snb.softmax(z), sps.softmax(z, axis=-1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(snb.log_softmax(z), sps.log_softmax(z, axis=-1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(snb.logsumexp(z), sps.logsumexp(z, axis=-1), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(snb.softmax(z, axis=0), sps.softmax(z, axis=0), rtol=1e-12, atol=1e-300)


def test_large_matrix_block_path_matches_scipy():
    # Big enough for the row-blocked path, in both dtypes.
    z = np.random.default_rng(3).standard_normal((300, 1000)) * 20
    np.testing.assert_allclose(snb.softmax(z), sps.softmax(z, axis=-1), rtol=1e-12, atol=1e-300)
    p32 = snb.softmax(z.astype(np.float32))
    assert p32.dtype == np.float32
    # Relative error bound u (|s| + 8), u = 2^-24: the rounding of s = z - m is amplified by exp
    # (condition number |s|), plus a few roundings in exp, the pairwise sum and the division.
    z32 = z.astype(np.float32).astype(np.float64)
    ref = sps.softmax(z32, axis=-1)
    s = z32 - z32.max(axis=-1, keepdims=True)
    rel = np.abs(p32 - ref) / ref
    assert np.all(rel[ref > 1e-37] <= 2.0**-24 * (np.abs(s) + 8)[ref > 1e-37])
    np.testing.assert_allclose(p32.sum(axis=-1, dtype=np.float64), 1.0, rtol=1e-6)


def test_three_dimensional_any_axis():
    z = np.random.default_rng(1).standard_normal((3, 4, 5))
    for axis in (0, 1, 2, -1, -2):
        np.testing.assert_allclose(snb.softmax(z, axis=axis), sps.softmax(z, axis=axis), rtol=1e-13)
        np.testing.assert_allclose(snb.logsumexp(z, axis=axis, keepdims=True),
                                   sps.logsumexp(z, axis=axis, keepdims=True), rtol=1e-13)


def test_sigmoid_against_scipy_expit():
    x = np.linspace(-40, 40, 161)
    np.testing.assert_allclose(snb.sigmoid(x), sps.expit(x), rtol=1e-15)


def test_sigmoid_tails_exact():
    assert snb.sigmoid(np.array([-1000.0]))[0] == 0.0
    assert snb.sigmoid(np.array([1000.0]))[0] == 1.0
    assert snb.sigmoid(np.array([-700.0]))[0] == pytest.approx(float(mpmath.exp(-700)), rel=1e-13)


def test_jacobian_closed_form():
    z = np.array([0.3, -1.2, 2.0])
    p = snb.softmax(z)
    J = snb.softmax_jacobian(z)
    expected = np.array([[p[i] * ((i == j) - p[j]) for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(J, expected, rtol=1e-14)
    np.testing.assert_allclose(J, J.T)
    np.testing.assert_allclose(J.sum(axis=1), 0.0, atol=1e-16)


# --------------------------------------------------------------------------- properties
@given(logits())
def test_probabilities_sum_to_one_nonnegative_order_preserved(z):
    p = snb.softmax(z)
    assert np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0, rel=1e-12)
    assert p[np.argmax(z)] == p.max()  # the argmax keeps the top probability (ties in p by rounding allowed)
    order = np.argsort(z, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)


@given(logits(), st.floats(-1e3, 1e3))
def test_shift_invariance(z, c):
    np.testing.assert_allclose(snb.softmax(z + c), snb.softmax(z), rtol=1e-9, atol=1e-300)


@given(logits(min_k=2, bound=20.0))
def test_low_temperature_gives_one_hot_argmax(z):
    top = np.sort(z)[-2:]
    if top[1] - top[0] < 1e-3:  # a near-tie has no unique argmax
        return
    p = snb.softmax(z, temperature=1e-6)
    expected = np.zeros_like(z)
    expected[np.argmax(z)] = 1.0
    np.testing.assert_allclose(p, expected, atol=1e-12)


@given(logits(min_k=2, bound=20.0))
def test_high_temperature_gives_uniform(z):
    p = snb.softmax(z, temperature=1e9)
    np.testing.assert_allclose(p, 1.0 / z.size, rtol=1e-6)


@given(logits(bound=30.0))
def test_jacobian_matches_central_differences(z):
    h = 1e-6
    J = snb.softmax_jacobian(z)
    num = np.empty_like(J)
    for j in range(z.size):
        e = np.zeros_like(z)
        e[j] = h
        num[:, j] = (snb.softmax(z + e) - snb.softmax(z - e)) / (2 * h)
    np.testing.assert_allclose(J, num, atol=1e-8)


@given(logit_matrices(bound=300.0))
def test_log_softmax_equals_log_softmax_where_finite(z):
    with np.errstate(divide="ignore"):
        naive = np.log(snb.softmax(z))
    finite = np.isfinite(naive) & (naive > -700)  # beyond that log(p) of a subnormal p loses digits
    np.testing.assert_allclose(snb.log_softmax(z)[finite], naive[finite], rtol=1e-9, atol=1e-12)


@given(logits(bound=30.0))
def test_gradient_of_logsumexp_is_softmax(z):
    h = 1e-6
    grad = np.array([(snb.logsumexp(z + h * e) - snb.logsumexp(z - h * e)) / (2 * h) for e in np.eye(z.size)])
    np.testing.assert_allclose(grad, snb.softmax(z), atol=1e-8)


@given(logits(), st.floats(0.05, 20.0))
def test_temperature_is_division_of_logits(z, t):
    np.testing.assert_allclose(snb.softmax(z, temperature=t), snb.softmax(z / t), rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(snb.log_softmax(z, temperature=t), snb.log_softmax(z / t), rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- dtypes and input handling
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_preserved_even_with_float64_temperature(dtype):
    z = np.array([1.0, 2.0, 3.0], dtype=dtype)
    for f in (snb.softmax, snb.log_softmax):
        assert f(z, temperature=np.float64(2.0)).dtype == dtype
    assert snb.logsumexp(z).dtype == dtype
    assert snb.sigmoid(z).dtype == dtype


@pytest.mark.parametrize("z", [[1, 2, 3], np.array([1, 2, 3], dtype=np.int32), [True, False]])
def test_ints_and_lists_give_float64(z):
    assert snb.softmax(z).dtype == np.float64
    assert snb.naive_softmax(z).dtype == np.float64


def test_neg_inf_entries_give_exact_zero():
    z = np.array([1.0, -np.inf, 0.5, -np.inf])
    p = snb.softmax(z)
    assert p[1] == 0.0 and p[3] == 0.0
    np.testing.assert_allclose(p[[0, 2]], sps.softmax([1.0, 0.5]), rtol=1e-15)
    assert snb.log_softmax(z)[1] == -np.inf


def test_masked_rows_in_blocked_path():
    z = np.random.default_rng(0).standard_normal((200, 700))
    z[:, ::3] = -np.inf
    p = snb.softmax(z)
    assert np.all(p[:, ::3] == 0.0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)


def test_input_never_modified():
    for shape in [(5,), (300, 1000)]:
        z = np.random.default_rng(0).standard_normal(shape)
        z32 = z.astype(np.float32)
        before, before32 = z.copy(), z32.copy()
        snb.softmax(z, temperature=0.5)
        snb.log_softmax(z, temperature=3.0)
        snb.logsumexp(z)
        snb.softmax(z32)
        assert np.array_equal(z, before) and np.array_equal(z32, before32)


def test_logsumexp_all_neg_inf_and_pos_inf():
    assert snb.logsumexp([-np.inf, -np.inf]) == -np.inf
    assert snb.logsumexp([1.0, np.inf]) == np.inf
    out = snb.logsumexp(np.array([[-np.inf, -np.inf], [0.0, 0.0]]))
    assert out[0] == -np.inf and out[1] == pytest.approx(np.log(2))


def test_logsumexp_accurate_when_one_logit_dominates():
    # log(1 + e^-40) = e^-40 to full precision; a plain log(sum) returns 0.
    for gap in (8.0, 40.0, 700.0):
        exact = logsumexp_mp([0.0, -gap])
        assert snb.logsumexp([0.0, -gap]) == pytest.approx(exact, rel=1e-15)
        assert snb.log_softmax([0.0, -gap])[0] == pytest.approx(-exact, rel=1e-15)


def test_logsumexp_keepdims_shape():
    z = np.zeros((2, 3, 4))
    assert snb.logsumexp(z, axis=1, keepdims=True).shape == (2, 1, 4)
    assert snb.logsumexp(z, axis=1).shape == (2, 4)


def test_naive_softmax_fails_as_documented():
    for z, first in (([1000.0, 1000.0], "overflow encountered in exp"), ([-1000.0, -1000.0], "invalid value")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            p = snb.naive_softmax(z)
        assert np.all(np.isnan(p))
        messages = [str(w.message) for w in caught]
        assert any(first in m for m in messages), messages
    np.testing.assert_allclose(snb.naive_softmax(WORKED), snb.softmax(WORKED), rtol=1e-15)


# --------------------------------------------------------------------------- extreme inputs: no warnings
EXTREMES = [
    np.array([1e4, -1e4, 0.0]),
    np.array([-1e4, -1e4 + 1.0]),
    np.array([1e308, -1e308]),
    np.array([-1e308, 1e308, 0.0]),
    np.array([1e308, 1e308]),
    np.array([0.0, -np.inf, 3.0]),
]


@pytest.mark.parametrize("z", EXTREMES, ids=range(len(EXTREMES)))
def test_extreme_inputs_raise_no_warning(z):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = snb.softmax(z)
        lp = snb.log_softmax(z)
        lse = snb.logsumexp(z)
        snb.softmax(z, temperature=1e-3)
    assert np.all(np.isfinite(p)) and p.sum() == pytest.approx(1.0)
    assert not np.any(np.isnan(lp)) and np.all(lp <= 0)
    assert np.isfinite(lse) and lse >= np.max(z)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_near_exp_thresholds_no_warning(dtype):
    lim = snb.exp_limits(dtype)
    z = np.array([lim["max_finite_z"], lim["max_finite_z"] * 1.5, lim["zero"] * 2, 0.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = snb.softmax(z)
        lse = snb.logsumexp(z)
    assert p.dtype == dtype and np.all(np.isfinite(p))
    assert float(p.astype(np.float64).sum()) == pytest.approx(1.0, rel=1e-3)
    assert np.isfinite(lse)
    assert float(lse) == pytest.approx(float(z.astype(np.float64).max()), rel=1e-3)


@pytest.mark.parametrize("dtype,bound", [(np.float64, 1000.0), (np.float32, 100.0)])
def test_sigmoid_no_warning_in_tails(dtype, bound):
    x = np.array([-bound, -bound / 2, 0.0, bound / 2, bound], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = snb.sigmoid(x)
    assert s.dtype == dtype and s[-1] == 1.0 and s[2] == 0.5
    assert 0.0 <= s[0] <= float(np.exp(np.float64(-bound))) * 1.01  # tiny (maybe subnormal), never NaN


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("t", [0, -1.0, np.inf, np.nan, "warm", None])
def test_bad_temperature(t):
    for f in (snb.softmax, snb.log_softmax):
        with pytest.raises(ValueError, match=r"temperature must be a finite number > 0"):
            f([1.0, 2.0], temperature=t)


@pytest.mark.parametrize("f", [snb.softmax, snb.log_softmax, snb.naive_softmax])
def test_empty_class_axis(f):
    with pytest.raises(ValueError, match=r"empty class axis"):
        f(np.zeros((3, 0)))
    with pytest.raises(ValueError, match=r"empty class axis"):
        f([])


def test_logsumexp_of_empty_axis_is_minus_inf():
    # The log of an empty sum, as scipy: a numpy scalar for a full reduction.
    out = snb.logsumexp([])
    assert isinstance(out, np.float64) and out == -np.inf
    np.testing.assert_array_equal(snb.logsumexp(np.zeros((3, 0))), [-np.inf] * 3)
    assert snb.logsumexp(np.zeros((3, 0), np.float32), keepdims=True).shape == (3, 1)


def test_scalar_and_bad_axis():
    with pytest.raises(ValueError, match=r"at least one dimension"):
        snb.naive_softmax(3.0)
    with pytest.raises(ValueError, match=r"axis must be in \[-2, 2\)"):
        snb.softmax(np.zeros((2, 2)), axis=2)
    with pytest.raises(ValueError, match=r"axis must be an integer"):
        snb.softmax(np.zeros((2, 2)), axis=1.0)


def test_undefined_rows_raise_instead_of_nan():
    with pytest.raises(ValueError, match=r"every entry is -inf"):
        snb.softmax(np.array([[0.0, 1.0], [-np.inf, -np.inf]]))
    with pytest.raises(ValueError, match=r"NaN"):
        snb.softmax([1.0, np.nan])
    with pytest.raises(ValueError, match=r"\+inf"):
        snb.log_softmax([1.0, np.inf])
    big = np.zeros((100, 2000))
    big[57, :] = -np.inf  # in the blocked path too
    with pytest.raises(ValueError, match=r"every entry is -inf"):
        snb.softmax(big)


def test_non_numeric_and_complex_input():
    with pytest.raises(ValueError, match=r"real-valued"):
        snb.softmax(np.array([1 + 2j, 0j]))
    with pytest.raises(ValueError, match=r"numeric"):
        snb.softmax(np.array(["a", "b"]))


def test_jacobian_needs_a_vector():
    with pytest.raises(ValueError, match=r"1-D"):
        snb.softmax_jacobian(np.zeros((2, 2)))


# --------------------------------------------------------------------------- every dtype, layout and magnitude
@given(logit_arrays())
def test_properties_every_dtype_axis_and_magnitude(case):
    z, axis = case
    eps = float(np.finfo(z.dtype).eps)
    p = snb.softmax(z, axis=axis)
    assert p.dtype == z.dtype and p.shape == z.shape
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=axis, dtype=np.float64), 1.0, rtol=0, atol=z.shape[axis] * eps)
    assert np.all(p[np.isneginf(z)] == 0)
    lp = snb.log_softmax(z, axis=axis)
    assert lp.dtype == z.dtype and np.all(lp <= 0) and not np.any(np.isnan(lp))
    lse = snb.logsumexp(z, axis=axis, keepdims=True)
    assert np.all(lse >= np.max(z, axis=axis, keepdims=True))


@given(batch_with_row())
def test_batch_invariance_bit_for_bit(case):
    # A row gives the same bits alone, inside a batch of any size, and along axis 0 of the transpose.
    row, batch, i = case
    alone = snb.softmax(row)
    assert snb.softmax(batch)[i].tobytes() == alone.tobytes()
    assert snb.softmax(np.ascontiguousarray(batch.T), axis=0)[:, i].tobytes() == alone.tobytes()
    assert snb.softmax(batch[None], axis=-1)[0, i].tobytes() == alone.tobytes()
    assert snb.log_softmax(batch)[i].tobytes() == snb.log_softmax(row).tobytes()
    assert snb.logsumexp(batch)[i].tobytes() == snb.logsumexp(row).tobytes()


def test_batch_invariance_across_row_blocks():
    # Rows in different cache blocks, and a batch of one row, agree bit for bit (float32, K = 1000).
    z = np.random.default_rng(11).standard_normal((700, 1000)).astype(np.float32) * 10
    full = snb.softmax(z)
    for i in (0, 130, 131, 699):
        assert full[i].tobytes() == snb.softmax(z[i]).tobytes() == snb.softmax(z[i:i + 1])[0].tobytes()
    # Long rows across block boundaries: 2 MiB blocks hold 127 rows of K = 4097.
    z = np.random.default_rng(13).standard_normal((300, 4097)).astype(np.float32) * 10
    full, by_column = snb.softmax(z), snb.softmax(np.ascontiguousarray(z.T), axis=0)
    for i in (0, 126, 127, 299):
        assert full[i].tobytes() == snb.softmax(z[i]).tobytes() == by_column[:, i].tobytes()
    # Many short rows: numpy must still sum each row on its own (K = 9 and 17 exceed the 8-term unrolling).
    rng = np.random.default_rng(12)
    for k in (3, 9, 17):
        z = rng.standard_normal((20_000, k)).astype(np.float32) * 5
        full, log_full, lse_full = snb.softmax(z), snb.log_softmax(z), snb.logsumexp(z)
        for i in (0, 9_999, 19_999):
            assert full[i].tobytes() == snb.softmax(z[i]).tobytes()
            assert log_full[i].tobytes() == snb.log_softmax(z[i]).tobytes()
            assert lse_full[i].tobytes() == snb.logsumexp(z[i]).tobytes()


def _terms(z):
    """The documented terms: e^z for a row whose max m is in [0, -log(tiny) - log K - 1], else e^(z - m)."""
    m = z.max(axis=-1, keepdims=True)
    hi = -np.log(np.finfo(z.dtype).tiny) - np.log(z.shape[-1]) - 1
    return np.exp(np.where((m >= 0) & (m <= hi), z, z - m))


def test_float32_is_computed_in_float32():
    # The documented work dtype and order: float32 input is computed in float32 (not float64 and
    # rounded). Rows 0-2 need no shift, row 3 (max < 0) and row 4 (max near the overflow bound) do.
    # Rows 5 and 6 sit just inside the bounds: maximum 0.5 (no shift) and B - 0.5 (no shift either).
    z = np.random.default_rng(2).standard_normal((7, 4097)).astype(np.float32) * 7
    z[3] -= 100
    z[4] += 80 - z[4].max()
    bound = -np.log(np.finfo(np.float32).tiny) - np.log(4097) - 1
    z[5] += np.float32(0.5) - z[5].max()
    z[6] += np.float32(bound - 0.5) - z[6].max()
    e = _terms(z)
    expected = e / np.add.reduce(e, axis=-1, keepdims=True)  # float32: one division per entry
    assert snb.softmax(z).tobytes() == expected.tobytes()
    # Batch invariance across the two paths: each row alone gives the same bits.
    assert all(snb.softmax(z[i]).tobytes() == expected[i].tobytes() for i in range(7))
    # The unshifted terms are closer to the exact ones than the shifted (z - m rounds).
    exact = snb.softmax(z.astype(np.float64))
    err = np.abs(snb.softmax(z) - exact)[:3].max()
    e_shift = np.exp(z[:3] - z[:3].max(axis=-1, keepdims=True))
    err_shift = np.abs(e_shift / np.add.reduce(e_shift, axis=-1, keepdims=True) - exact[:3]).max()
    assert err <= err_shift
    # float64: each term times the correctly rounded reciprocal of its row's sum.
    z64 = z.astype(np.float64)
    e64 = _terms(z64)
    assert snb.softmax(z64).tobytes() == (e64 * (1.0 / np.add.reduce(e64, axis=-1, keepdims=True))).tobytes()
    from softmax_nb.core import _work_dtype
    assert _work_dtype(z) == np.float32 and _work_dtype(z.astype(np.float16)) == np.float32


@pytest.mark.parametrize("dtype, k", [(np.float64, 70_000), (np.float32, 140_000)])
def test_rows_wider_than_a_cache_block(dtype, k):
    z = np.zeros((2, k), dtype=dtype)
    z[1, 0] = 5.0
    p = snb.softmax(z)
    np.testing.assert_allclose(p.sum(axis=-1, dtype=np.float64), 1.0, rtol=1e-5)
    assert p[0, 0] == p[0, -1] == dtype(1 / k)
    np.testing.assert_allclose(snb.log_softmax(z)[1, 0], -np.log1p((k - 1) * np.exp(-5.0)), rtol=1e-5)


# --------------------------------------------------------------------------- temperature extremes (B3, B4)
@pytest.mark.parametrize("dtype, t", [(np.float64, 1e-310), (np.float64, 5e-324), (np.float32, 1e-39),
                                      (np.float32, 1e-46), (np.float16, 1e-300)])
def test_tiny_temperature_gives_the_limit_not_nan(dtype, t):
    z = np.array([1.0, 2.0, 2.0, -np.inf], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = snb.softmax(z, temperature=t)
        lp = snb.log_softmax(z, temperature=t)
    np.testing.assert_array_equal(p, [0.0, 0.5, 0.5, 0.0])  # uniform over the tied maxima
    np.testing.assert_array_equal(lp, [-np.inf, np.log(dtype(0.5)), np.log(dtype(0.5)), -np.inf])


def test_tiny_temperature_divides_exactly():
    # A subnormal gap over a subnormal T is an ordinary exponent: 1/T would overflow, the quotient does not.
    z = np.array([0.0, -5e-324])
    np.testing.assert_allclose(snb.softmax(z, temperature=1e-323), sps.softmax([0.0, -0.5]), rtol=1e-15)
    z32 = np.array([0.0, -np.float32(1.4e-45)], dtype=np.float32)
    np.testing.assert_allclose(snb.softmax(z32, temperature=1e-46), sps.softmax([0.0, float(z32[1]) / 1e-46]),
                               rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_large_temperature_with_extreme_logits(dtype):
    big = float(np.finfo(dtype).max)
    z = np.array([big, -big], dtype=dtype)
    exact = sps.softmax([1.0, -1.0])  # (z - m)/T = (0, -2) for T = big
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(snb.softmax(z, temperature=big), exact, rtol=8 * np.finfo(dtype).eps)
        np.testing.assert_allclose(snb.log_softmax(z, temperature=big), sps.log_softmax([1.0, -1.0]) * 1,
                                   rtol=8 * np.finfo(dtype).eps)
    # only the overflowing entry is recomputed; the others are scaled as usual: (big/2 - big)/big = -0.5
    z3 = np.array([big, -big, big / 2], dtype=dtype)
    np.testing.assert_allclose(snb.softmax(z3, temperature=big), sps.softmax([0.0, -2.0, -0.5]),
                               rtol=8 * np.finfo(dtype).eps)
    # float32 with a T whose reciprocal underflows in float32: -inf masks must stay 0, not NaN.
    assert np.all(np.isfinite(snb.softmax(np.array([0.0, -np.inf, 1.0], dtype), temperature=1e300)))
    np.testing.assert_allclose(snb.softmax(np.array([0.0, -np.inf, 1.0], dtype), temperature=1e300),
                               [0.5, 0.0, 0.5], rtol=np.finfo(dtype).eps)


def test_large_temperature_keeps_accuracy_of_close_logits():
    # Shift first for close logits: (z - m) is exact, so T = 3 does not cost digits at z ~ 1e6.
    z = np.array([1e6, 1e6 - 1.0])
    np.testing.assert_allclose(snb.softmax(z, temperature=3.0), sps.softmax([0.0, -1 / 3]), rtol=1e-15)


@pytest.mark.parametrize("t", [True, False, np.bool_(True)])
def test_bool_temperature_rejected(t):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        snb.softmax([1.0, 2.0], temperature=t)


# --------------------------------------------------------------------------- integer logits (B8)
def test_int64_logits_keep_their_differences():
    z = np.array([2**62, 2**62 + 1], dtype=np.int64)
    np.testing.assert_allclose(snb.softmax(z), sps.softmax([0.0, 1.0]), rtol=1e-15)
    np.testing.assert_allclose(snb.log_softmax(z), sps.log_softmax([0.0, 1.0]), rtol=1e-15)
    np.testing.assert_allclose(snb.logsumexp(z), 2.0**62 + np.log1p(np.e), rtol=1e-15)
    info = np.iinfo(np.int64)
    np.testing.assert_array_equal(snb.softmax(np.array([info.min, info.max])), [0.0, 1.0])
    u = np.array([2**64 - 2, 2**64 - 1], dtype=np.uint64)
    np.testing.assert_allclose(snb.softmax(u), sps.softmax([0.0, 1.0]), rtol=1e-15)
    w = np.array([[2**62, 2**62 + 1, 2**63 - 1]], dtype=np.int64)  # the mask hides the global maximum
    np.testing.assert_allclose(snb.softmax(w, where=[True, True, False])[0, :2], sps.softmax([0.0, 1.0]), rtol=1e-15)
    assert snb.softmax(z).dtype == np.float64


# --------------------------------------------------------------------------- sigmoid (B10)
def test_sigmoid_float16_is_correctly_rounded_or_one_ulp():
    x = np.unique(np.arange(-17, 12, 0.001).astype(np.float16))
    exact = sps.expit(x.astype(np.float64))
    got = snb.sigmoid(x)
    assert got.dtype == np.float16
    ulp = np.spacing(np.abs(exact.astype(np.float16))).astype(np.float64)
    err = np.abs(got.astype(np.float64) - exact) / ulp
    assert err.max() <= 1.0
    assert np.mean(got != exact.astype(np.float16)) < 0.01  # computed in float32, rounded once


def test_sigmoid_limits_scalars_and_nan():
    np.testing.assert_array_equal(snb.sigmoid([-np.inf, np.inf]), [0.0, 1.0])
    assert isinstance(snb.sigmoid(0.0), np.float64) and snb.sigmoid(0.0) == 0.5
    with pytest.raises(ValueError, match="NaN"):
        snb.sigmoid([0.0, np.nan])


# --------------------------------------------------------------------------- one input policy (B9)
@pytest.mark.parametrize("bad, match", [(np.nan, "NaN"), (np.inf, r"\+inf")])
@pytest.mark.parametrize("f", [snb.softmax, snb.log_softmax, snb.sparsemax, snb.online_softmax])
def test_bad_value_in_one_row_of_a_batch_raises(f, bad, match):
    z = np.zeros((3, 4))
    z[1, 2] = bad
    with pytest.raises(ValueError, match=match):
        f(z)


def test_logsumexp_policy():
    z = np.zeros((3, 4))
    z[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        snb.logsumexp(z)
    z[1, 2] = np.inf
    np.testing.assert_array_equal(snb.logsumexp(z), [np.log(4), np.inf, np.log(4)])
    z[1] = -np.inf
    assert snb.logsumexp(z)[1] == -np.inf


def test_masked_arrays_rejected():
    z = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    for f in (snb.softmax, snb.log_softmax, snb.logsumexp, snb.sparsemax):
        with pytest.raises(ValueError, match="masked array"):
            f(z)
    np.testing.assert_allclose(snb.softmax(z.data, where=~z.mask), [sps.softmax([1.0, 3.0])[0], 0, sps.softmax([1.0, 3.0])[1]])


# --------------------------------------------------------------------------- shapes, axes and keywords
def test_naive_softmax_along_rows_and_columns():
    z = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(snb.naive_softmax(z), sps.softmax(z, axis=-1), rtol=1e-15)
    np.testing.assert_allclose(snb.naive_softmax(z, axis=0), sps.softmax(z, axis=0), rtol=1e-15)


def test_logsumexp_keeps_length_one_axes():
    assert snb.logsumexp(np.zeros((1, 3))).shape == (1,)
    assert snb.logsumexp(np.zeros((4, 1, 3))).shape == (4, 1)
    assert snb.logsumexp(np.zeros((4, 1, 3)), axis=(0, 2), keepdims=True).shape == (1, 1, 1)
    assert snb.logsumexp(np.zeros((4, 1, 3)), axis=None).shape == ()


def test_axis_accepts_integer_likes_and_raises_axis_error():
    z = np.zeros((2, 3))
    np.testing.assert_array_equal(snb.softmax(z, axis=np.int64(0)), 0.5)
    with pytest.raises(np.exceptions.AxisError, match=r"axis must be in \[-2, 2\)"):
        snb.softmax(z, axis=2)
    for bad in (1.0, True, "0"):
        with pytest.raises(ValueError, match="axis must be an integer"):
            snb.softmax(z, axis=bad)
    with pytest.raises(ValueError, match="must not repeat"):
        snb.softmax(z, axis=(0, -2))


@pytest.mark.parametrize("kwargs, match", [({"keepdims": "no"}, "keepdims must be True or False"),
                                           ({"keepdims": 1}, "keepdims must be True or False"),
                                           ({"return_sign": "yes"}, "return_sign must be True or False"),
                                           ({"b": [1.0, np.nan]}, "b must contain only finite"),
                                           ({"b": [1.0, 2.0, 3.0]}, "b must be broadcastable"),
                                           ({"where": [1, 0]}, "where must be a boolean array"),
                                           ({"where": [True, False, True]}, "where must be broadcastable")])
def test_logsumexp_bad_keywords(kwargs, match):
    with pytest.raises(ValueError, match=match):
        snb.logsumexp([1.0, 2.0], **kwargs)


def test_where_with_all_unmasked_entries_minus_inf_still_raises():
    with pytest.raises(ValueError, match="every entry is -inf"):
        snb.softmax([-np.inf, 0.0], where=[True, False])


def test_logsumexp_weighted_policy_in_one_row_of_a_batch():
    z = np.zeros((3, 2))
    b = np.ones((3, 2))
    z[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN where b != 0"):
        snb.logsumexp(z, b=b)
    z[1, 1] = np.inf
    with pytest.raises(ValueError, match=r"\+inf where b != 0"):
        snb.logsumexp(z, b=b)
    with pytest.raises(snb.ArgumentTypeError, match="b must be numeric"):  # B7: a plain ValueError before
        snb.logsumexp([1.0, 2.0], b=["a", "b"])
    lse, sign = snb.logsumexp(np.zeros((2, 0)), b=np.zeros((2, 0)), return_sign=True)
    np.testing.assert_array_equal(lse, [-np.inf, -np.inf])
    np.testing.assert_array_equal(sign, [0.0, 0.0])


def test_int64_fully_masked_row_gives_zeros():
    z = np.array([[2**62, 2**62 + 1], [5, 7]], dtype=np.int64)
    w = np.array([[True, True], [False, False]])
    np.testing.assert_array_equal(snb.softmax(z, where=w)[1], [0.0, 0.0])
    assert snb.logsumexp(z, where=w)[1] == -np.inf
    np.testing.assert_allclose(snb.logsumexp(z, where=w)[0], 2.0**62 + np.log1p(np.e), rtol=1e-15)


# --------------------------------------------------------------------------- found by mutation testing (tests/MUTATION.md)
@pytest.mark.parametrize("call, message", [
    (lambda: snb.logsumexp([0.0, np.nan]), "z contains NaN; logsumexp is undefined there"),
    (lambda: snb.sigmoid([0.0, np.nan]), "z contains NaN; the sigmoid is undefined there"),
    (lambda: snb.logsumexp([0.0, np.nan], b=[1.0, 1.0]), "z contains NaN where b != 0; logsumexp is undefined there"),
    (lambda: snb.logsumexp([0.0, np.inf], b=[1.0, 1.0]),
     "z contains +inf where b != 0; with weights b the sum (and its sign) is undefined there"),
    (lambda: snb.logsumexp([0.0, 1.0], b=[1.0, np.inf]), "b must contain only finite numbers, got NaN or ±inf"),
    (lambda: snb.logsumexp([1.0, 2.0], b=[1.0, -1.0]),
     "the weighted sum sum(b * exp(z)) is negative in some slice, so its log is not real; "
     "pass return_sign=True to get log|sum| and the sign"),
])
def test_core_error_messages_in_full(call, message):
    # The messages are the documented contract (argument and reason); pin them whole.
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        call()


def test_int64_rows_are_shifted_by_their_own_maximum():
    # Rows of very different size: a shift by the global maximum would round row 0's differences away.
    z = np.array([[0, 1], [2**62, 2**62 + 1]], dtype=np.int64)
    ref = snb.softmax(np.array([-1.0, 0.0]))  # z - max(z), exact in integers, then rounded
    np.testing.assert_array_equal(snb.softmax(z), [ref, ref])
    np.testing.assert_array_equal(snb.logsumexp(z), [np.logaddexp(0.0, 1.0), 2.0**62])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_where_equals_minus_inf_logits_bit_for_bit(dtype):
    # A masked entry behaves exactly like a -inf logit, in the input's own dtype (same bits).
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((64, 33)) * 3).astype(dtype)
    w = rng.random(z.shape) < 0.7
    w[:, 0] = True
    masked = np.where(w, z, -np.inf).astype(dtype)
    for f in (snb.softmax, snb.log_softmax, snb.logsumexp):
        out = f(z, where=w)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, f(masked))


def test_weighted_logsumexp_rows_are_independent():
    z = np.array([[0.0, 0.0], [-1000.0, -1000.0], [1000.0, 1000.0], [-np.inf, -np.inf]])
    lse, sign = snb.logsumexp(z, b=np.ones_like(z), return_sign=True)
    np.testing.assert_allclose(lse[:3], [np.log(2), -1000 + np.log(2), 1000 + np.log(2)], rtol=1e-15)
    assert lse[3] == -np.inf
    np.testing.assert_array_equal(sign, [1.0, 1.0, 1.0, 0.0])


def test_weighted_logsumexp_overflowing_shift_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert snb.logsumexp([1e308, -1e308], b=[1.0, 1.0]) == 1e308


def test_weighted_logsumexp_zero_sum_is_minus_inf_without_return_sign():
    assert snb.logsumexp([1.0, 1.0], b=[1.0, -1.0]) == -np.inf
    assert snb.logsumexp([1.0, 1.0], b=[0.0, 0.0]) == -np.inf


def test_weights_are_cast_to_the_working_dtype_of_z():
    # As documented: b is cast to z's working dtype, so 1 - 1e-10 becomes 1 in float32 and the sum cancels.
    lse, sign = snb.logsumexp(np.zeros(2, np.float32), b=np.array([1.0, -(1 - 1e-10)]), return_sign=True)
    assert lse == -np.inf and sign == 0.0


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_logsumexp_return_sign_shapes_and_types(dtype):
    z = np.zeros((2, 3), dtype)
    for kwargs in ({}, {"b": np.ones((2, 3), dtype)}):
        lse, sign = snb.logsumexp(z, keepdims=True, return_sign=True, **kwargs)
        assert lse.shape == sign.shape == (2, 1)
        assert lse.dtype == sign.dtype == dtype
        lse, sign = snb.logsumexp(z[0], return_sign=True, **{k: v[0] for k, v in kwargs.items()})
        assert isinstance(lse, np.generic) and isinstance(sign, np.generic)
        assert sign.dtype == dtype and sign == 1.0
    lse, sign = snb.logsumexp(np.zeros((2, 0), dtype), return_sign=True)
    np.testing.assert_array_equal(lse, [-np.inf, -np.inf])
    np.testing.assert_array_equal(sign, [0.0, 0.0])
    assert sign.dtype == dtype


def test_temperature_two_is_applied():
    # Dividing by 2 is exact, so the tempered result equals the result on z / 2 bit for bit (rows with
    # a negative maximum, which both compute from the shifted logits).
    z = np.array([[0.3, -1.7, 2.9], [5.0, 5.5, -3.0]]) - 10.0
    for f in (snb.softmax, snb.log_softmax):
        np.testing.assert_array_equal(f(z, temperature=2.0), f(z / 2))


def test_huge_temperature_with_overflowing_gap_keeps_exact_differences():
    # z - m overflows for the -1e308 entry only; every other entry keeps (z - m)/T from the exact difference
    # (z/T - m/T would be off by several ulps).
    T = 1e306
    z = np.array([1e308, -1e308, 1e308 - 3e306, 1e308 - 7.77e306, 9e307])
    with mpmath.workdps(50):
        s = [(mpmath.mpf(x) - mpmath.mpf(z.max())) / mpmath.mpf(T) for x in z]
        lse = mpmath.log(sum(mpmath.exp(v) for v in s))
        p_ref = np.array([float(mpmath.exp(v - lse)) for v in s])
        lp_ref = np.array([float(v - lse) for v in s])
    np.testing.assert_allclose(snb.softmax(z, temperature=T), p_ref, rtol=2e-15, atol=0)
    np.testing.assert_allclose(snb.log_softmax(z, temperature=T), lp_ref, rtol=4e-16, atol=0)


def test_float16_log_values_below_its_range_are_minus_inf_without_a_warning():
    # log p = -120000 is computed in float32 and rounds to -inf in float16: correct, and silent.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lp = snb.log_softmax(np.array([60000.0, -60000.0], dtype=np.float16))
    assert lp.dtype == np.float16 and lp[0] == 0 and lp[1] == -np.inf


@pytest.mark.parametrize("f", [snb.softmax, snb.log_softmax, snb.logsumexp])
def test_errors_name_the_argument_z(f):
    with pytest.raises(ValueError, match=r"^z must be numeric"):
        f(["a", "b"])
    with pytest.raises(ValueError, match=r"for z with 1 dimension"):
        f(np.zeros(3), axis=5)


# --- regression tests of the property suite's B5, B7 (b=, where=), B8, B9 and B12 ---
def test_logsumexp_b_beyond_the_work_dtype_is_refused_naming_b():
    # B5: 'overflow encountered in cast' leaked, then the message claimed that b contained inf
    with pytest.raises(ValueError, match=r"b has values beyond the range of float32") as info:
        snb.logsumexp(np.float32([1.0, 2.0]), b=np.array([1e308, 1.0]))
    assert not isinstance(info.value, TypeError)
    with pytest.raises(ValueError, match="b must contain only finite"):
        snb.logsumexp(np.float32([1.0, 2.0]), b=[np.inf, 1.0])


def test_logsumexp_of_inf_and_a_large_logit_is_quiet():
    # B8: [inf, 1000.0] leaked 'overflow encountered in exp' (the value, +inf, was right)
    assert snb.logsumexp([np.inf, 1000.0]) == np.inf
    np.testing.assert_array_equal(snb.logsumexp(np.float32([[np.inf, 100.0], [0.0, 0.0]])),
                                  np.float32([np.inf, np.log(2.0)]))


def test_logsumexp_weighted_sum_beyond_the_range():
    # B9: sum(b e^z) beyond float64's range gave +inf silently; log(2e308) = 709.889...
    exact = math.log(2.0) + math.log(1e308)
    assert snb.logsumexp([0.0, 0.0], b=1e308) == pytest.approx(exact, rel=4e-16)
    out = snb.logsumexp(np.float32([0.0, 0.0]), b=np.float32(3e38))
    assert out.dtype == np.float32 and out == pytest.approx(math.log(6e38), rel=1e-7)
    # overflowing partial sums of both signs (inf - inf) cancel exactly; a sum below the range stays exact
    lse, sign = snb.logsumexp([0.0, 0.0, 0.0, 0.0], b=[1e308, 1e308, -1e308, -1e308], return_sign=True)
    assert lse == -np.inf and sign == 0.0
    lse, sign = snb.logsumexp([0.0, 0.0, 1.0], b=[1e308, 1e308, -1e308], return_sign=True)
    assert sign == -1.0 and lse == pytest.approx(math.log(math.e - 2.0) + math.log(1e308), rel=4e-16)


def test_logsumexp_int64_shift_ignores_entries_with_b_zero():
    # B12: the exact integer shift used the maximum over every entry, so the result lost all its digits
    assert snb.logsumexp(np.array([1, 2**62]), b=[1, 0]) == 1.0
    z = np.array([[1, 2**62], [2**62, 2**62 + 1]])
    out = snb.logsumexp(z, b=[[1, 0], [1, 1]], where=[[True, True], [True, False]])
    np.testing.assert_array_equal(out, [1.0, float(2**62)])


def test_where_that_is_not_boolean_is_an_argument_type_error():
    for f in (snb.softmax, snb.log_softmax, snb.logsumexp):
        with pytest.raises(snb.ArgumentTypeError, match="where must be a boolean array"):
            f([1.0, 2.0], where=["1", "2"])


def test_log_softmax_difference_beyond_float32_after_the_temperature_is_quiet():
    # B17: z/T - m/T overflowed again for float32 [3.4e38, -3.4e38] at T = 1.5 ('overflow encountered in subtract')
    out = snb.log_softmax(np.float32([3.4028235e38, -3.4028235e38]), temperature=1.5)
    assert out.dtype == np.float32 and out[0] == 0.0 and out[1] == -np.inf
