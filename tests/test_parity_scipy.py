"""Parity of softmax, log_softmax, logsumexp and sigmoid with scipy.special (issue 11).

The references are scipy's functions applied to the same values in float64,
then rounded to the output dtype: scipy computes float16 in float16 (less
accurately than the package, which works in float32), so comparing with
scipy's own float16 result would test scipy. Tolerances are a few units of
the output dtype's epsilon. Deliberate differences from scipy are tested at
the end of the file and listed in the input policy of :mod:`softmax_nb.core`.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb

from strategies import FLOAT_DTYPES, finite_elements, logit_arrays, magnitudes


def _rounded(ref: np.ndarray, dtype) -> np.ndarray:
    """The float64 reference rounded to ``dtype`` (overflow to ±inf is the correct rounding)."""
    with np.errstate(over="ignore"):
        return np.asarray(ref).astype(dtype).astype(np.float64)


def _log_softmax_mp(z: np.ndarray, axis) -> np.ndarray:
    """log-softmax over ``axis`` (int, tuple or None) in 50 digits (mpmath), rounded to float64."""
    z64 = np.asarray(z, dtype=np.float64)
    if z64.ndim == 0:
        return np.zeros(())
    axes = tuple(range(z64.ndim)) if axis is None else tuple(np.atleast_1d(axis) % z64.ndim)
    rest = [a for a in range(z64.ndim) if a not in axes]
    moved = z64.transpose(rest + sorted(axes))
    rows = moved.reshape(-1, int(np.prod([z64.shape[a] for a in axes])))
    with mpmath.workdps(50):
        out = np.array([[float(mpmath.mpf(float(v)) - lse) for v in row]
                        for row in rows for lse in [mpmath.log(mpmath.fsum(mpmath.exp(float(v)) for v in row))]])
    return out.reshape(moved.shape).transpose(np.argsort(rest + sorted(axes)))


def assert_close(actual, ref, dtype, ulps: float = 4.0):
    """|actual - ref| <= ulps * eps * (1 + |ref|), with ref rounded to dtype; same ±inf positions."""
    eps = float(np.finfo(dtype).eps)
    a = np.asarray(actual)
    assert a.dtype == dtype, (a.dtype, dtype)
    np.testing.assert_allclose(a.astype(np.float64), _rounded(ref, dtype), rtol=ulps * eps, atol=ulps * eps)


@st.composite
def axes_arg(draw, ndim: int):
    """``None``, an int, or a tuple of distinct axes (possibly negative) for an ``ndim``-D array."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


@st.composite
def arrays_and_axes(draw, mask: bool = True):
    z, _ = draw(logit_arrays(mask=False))
    axis = draw(axes_arg(z.ndim))
    if mask and draw(st.booleans()):
        masked = draw(hnp.arrays(np.bool_, z.shape))
        z = np.where(masked, -np.inf, z).astype(z.dtype)
        # keep every reduced slice defined: unmask the first entry of each
        axes = tuple(range(z.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
        dead = np.all(np.isneginf(z), axis=axes, keepdims=True)
        first = np.zeros(z.shape, dtype=bool)
        first[tuple(0 if (a in axes or a - z.ndim in axes) else slice(None) for a in range(z.ndim))] = True
        z = np.where(dead & first, 0, z).astype(z.dtype)
    return z, axis


# --------------------------------------------------------------------------- softmax, log_softmax, logsumexp
@given(arrays_and_axes())
def test_softmax_matches_scipy(case):
    z, axis = case
    p = snb.softmax(z, axis=axis)
    assert p.shape == z.shape
    assert_close(p, sps.softmax(z.astype(np.float64), axis=axis), z.dtype)
    assert np.all(p[np.isneginf(z)] == 0)


@given(arrays_and_axes())
def test_log_softmax_matches_scipy(case):
    z, axis = case
    lp = snb.log_softmax(z, axis=axis)
    with np.errstate(over="ignore"):
        ref = sps.log_softmax(z.astype(np.float64), axis=axis)
    try:
        assert_close(lp, ref, z.dtype)
    except AssertionError:
        # scipy's own error (the log of a rounded sum of K terms) can exceed 4 ulps, e.g. 4.7 ulp at
        # z = [5, 0 x 11]; then the exact value decides, with the same tolerance.
        assert_close(lp, _log_softmax_mp(z, axis), z.dtype)
    assert np.all(np.isneginf(lp[np.isneginf(z)]))


@given(arrays_and_axes(), st.booleans())
def test_logsumexp_matches_scipy(case, keepdims):
    z, axis = case
    out = snb.logsumexp(z, axis=axis, keepdims=keepdims)
    ref = sps.logsumexp(z.astype(np.float64), axis=axis, keepdims=keepdims)
    assert np.shape(out) == np.shape(ref)
    assert_close(out, ref, z.dtype, ulps=2.0)
    if np.ndim(ref) == 0:
        assert isinstance(out, np.generic)  # a numpy scalar, as scipy returns


@given(st.sampled_from(FLOAT_DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(max_dims=3, max_side=5), elements=finite_elements(dt))))
def test_sigmoid_matches_expit(z):
    s = snb.sigmoid(z)
    assert s.shape == z.shape
    assert_close(s, sps.expit(z.astype(np.float64)), z.dtype, ulps=1.0)


@given(st.sampled_from(FLOAT_DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, st.integers(1, 8), elements=finite_elements(dt, 30.0))), st.data())
def test_logsumexp_with_weights_and_sign(z, data):
    b = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(-3, 3, width=16)))
    lse, sign = snb.logsumexp(z, b=b.astype(z.dtype), return_sign=True)
    ref, ref_sign = sps.logsumexp(z.astype(np.float64), b=b.astype(z.dtype).astype(np.float64), return_sign=True)
    eps = float(np.finfo(z.dtype).eps)
    terms = np.abs(b) * np.exp(z.astype(np.float64) - z.max())
    total = abs(float(np.sum(b.astype(z.dtype).astype(np.float64) * np.exp(z.astype(np.float64) - z.max()))))
    if total > 1e3 * eps * max(terms.sum(), 1e-300):  # the sign of a cancelled sum is rounding noise
        assert sign == ref_sign
        assert float(lse) == pytest.approx(float(ref), rel=64 * eps, abs=64 * eps)
    if np.all(b >= 0) and np.any(b > 0):
        assert snb.logsumexp(z, b=b.astype(z.dtype)) == lse


# --------------------------------------------------------------------------- 0-d, empty and axis forms
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_zero_d_input_is_one_class(dtype):
    x = dtype(3.0)
    for ours, theirs in ((snb.softmax, sps.softmax), (snb.log_softmax, sps.log_softmax),
                         (snb.logsumexp, sps.logsumexp)):
        for axis in (None, -1, 0):
            got = ours(x, axis=axis)
            assert isinstance(got, np.generic) and got.dtype == dtype
            assert float(got) == float(theirs(np.float64(3.0), axis=axis))
    assert isinstance(snb.sigmoid(np.float64(0.5)), np.float64)
    kept = snb.logsumexp(x, keepdims=True)
    assert kept.shape == sps.logsumexp(np.float64(3.0), keepdims=True).shape == (1,) and kept.dtype == dtype


def test_return_sign_without_weights_and_ignored_entries():
    assert snb.logsumexp([1.0, 2.0], return_sign=True) == sps.logsumexp([1.0, 2.0], return_sign=True)
    lse, sign = snb.logsumexp(np.array([[-np.inf, -np.inf], [0.0, 0.0]]), return_sign=True)
    np.testing.assert_array_equal(sign, [0.0, 1.0])
    np.testing.assert_array_equal(lse, [-np.inf, np.log(2.0)])
    # b == 0 removes an entry entirely, even +inf or NaN (as scipy for +inf)
    assert snb.logsumexp([1.0, np.inf], b=[1.0, 0.0]) == sps.logsumexp([1.0, np.inf], b=[1.0, 0.0]) == 1.0
    assert snb.logsumexp([1.0, np.nan], b=[1.0, 0.0]) == 1.0
    with pytest.raises(ValueError, match=r"\+inf where b != 0"):
        snb.logsumexp([1.0, np.inf], b=[1.0, 1.0])
    with pytest.raises(ValueError, match="NaN where b != 0"):
        snb.logsumexp([1.0, np.nan], b=[1.0, 1.0])
    lse0, sign0 = snb.logsumexp([1.0, 1.0], b=[1.0, -1.0], return_sign=True)
    assert lse0 == -np.inf and sign0 == 0.0  # an exactly cancelled sum


def test_empty_input():
    assert snb.logsumexp([]) == sps.logsumexp([]) == -np.inf
    np.testing.assert_array_equal(snb.logsumexp(np.zeros((3, 0))), sps.logsumexp(np.zeros((3, 0)), axis=-1))
    assert snb.logsumexp(np.zeros((2, 0)), axis=None) == -np.inf
    assert snb.logsumexp(np.zeros((0, 3))).shape == (0,)  # an empty batch: nothing to reduce
    assert snb.softmax(np.zeros((0, 3))).shape == (0, 3)
    for f in (snb.softmax, snb.log_softmax):  # scipy raises too: there is nothing to normalise
        with pytest.raises(ValueError, match="empty class axis"):
            f([])


def test_axis_none_and_tuples_on_fixed_input():
    z = np.arange(24.0).reshape(2, 3, 4) / 7
    for axis in (None, (0, 2), (-1, 0), (1,), (0, 1, 2)):
        np.testing.assert_allclose(snb.softmax(z, axis=axis), sps.softmax(z, axis=axis), rtol=1e-15)
        np.testing.assert_allclose(snb.log_softmax(z, axis=axis), sps.log_softmax(z, axis=axis), rtol=1e-14)
        np.testing.assert_allclose(snb.logsumexp(z, axis=axis, keepdims=True),
                                   sps.logsumexp(z, axis=axis, keepdims=True), rtol=1e-15)


# --------------------------------------------------------------------------- where= (JAX semantics)
@given(logit_arrays(mask=False), st.data())
def test_where_equals_dropping_the_masked_entries(case, data):
    z, axis = case
    w = data.draw(hnp.arrays(np.bool_, z.shape))
    poisoned = np.where(w, z, np.nan).astype(z.dtype)  # masked values must not matter, even NaN
    p = snb.softmax(poisoned, axis=axis, where=w)
    lp = snb.log_softmax(poisoned, axis=axis, where=w)
    lse = snb.logsumexp(poisoned, axis=axis, where=w)
    zm, pm, lpm, wm = (np.moveaxis(a, axis, -1).reshape(-1, z.shape[axis]) for a in (z, p, lp, w))
    for row, prow, lprow, wrow in zip(zm, pm, lpm, wm):
        assert np.all(prow[~wrow] == 0) and np.all(np.isneginf(lprow[~wrow]))
        if not wrow.any():  # a fully masked slice: zeros and -inf (no error); the LSE is checked below
            continue
        kept = row[wrow].astype(np.float64)
        assert_close(prow[wrow], sps.softmax(kept), z.dtype)
        with np.errstate(over="ignore"):
            assert_close(lprow[wrow], sps.log_softmax(kept), z.dtype)
    with np.errstate(divide="ignore"):
        ref = sps.logsumexp(np.where(w, z, -np.inf).astype(np.float64), axis=axis)
    assert_close(lse, ref, z.dtype, ulps=2.0)


def test_where_broadcasts_and_fully_masked_rows_give_zeros():
    z = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    p = snb.softmax(z, where=np.array([True, True, False]))
    assert np.all(p[:, 2] == 0.0)  # masked: exactly 0
    # scipy divides by the sum, snb multiplies by its rounded reciprocal: within 2u of each other's terms.
    np.testing.assert_allclose(p[:, :2], [sps.softmax([1.0, 2.0]), sps.softmax([4.0, 5.0])],
                               rtol=2 * np.finfo(float).eps, atol=0)
    w = np.array([[True, False, True], [False, False, False]])
    np.testing.assert_array_equal(snb.softmax(z, where=w)[1], 0.0)
    np.testing.assert_array_equal(snb.log_softmax(z, where=w)[1], -np.inf)
    assert snb.logsumexp(z, where=w)[1] == -np.inf


# --------------------------------------------------------------------------- deliberate differences from scipy
def test_deliberate_differences():
    # 1. The default axis is -1 (scipy: None).
    z = np.array([[0.0, 1.0], [2.0, 5.0]])
    np.testing.assert_allclose(snb.softmax(z), sps.softmax(z, axis=-1), rtol=1e-15)
    assert not np.allclose(snb.softmax(z), sps.softmax(z))
    # 2. NaN raises (scipy propagates it); +inf raises in softmax, gives +inf in logsumexp as in scipy.
    with pytest.raises(ValueError, match="NaN"):
        snb.logsumexp([1.0, np.nan])
    with pytest.raises(ValueError, match=r"\+inf"):
        snb.softmax([1.0, np.inf])
    assert snb.logsumexp([1.0, np.inf]) == sps.logsumexp([1.0, np.inf]) == np.inf
    # 3. A negative weighted sum raises without return_sign (scipy returns nan).
    with pytest.raises(ValueError, match="return_sign=True"):
        snb.logsumexp([1.0, 2.0], b=[1.0, -1.0])
    # 4. float16 is computed in float32: 70 000 equal logits give 1/70000, where scipy's float16 gives 0.
    p = snb.softmax(np.zeros(70_000, np.float16))
    assert p.dtype == np.float16 and p[0] == np.float16(1 / 70_000)
    # 5. Integers give float64 (scipy: int8 -> float16, uint8 wraps round in the shift).
    np.testing.assert_allclose(snb.softmax(np.array([1, 0, 1], np.uint8)), sps.softmax([1.0, 0.0, 1.0]), rtol=1e-15)
    # 6. No shift for a row with 0 <= max <= B: z - m is not rounded, so the float32 terms are at
    # least as accurate as scipy's (exact reference: float64), and far more so for a wide range of logits.
    z = np.linspace(-30, 30, 2_001, dtype=np.float32)
    exact = sps.softmax(z.astype(np.float64))
    ours = np.abs(snb.softmax(z) / exact - 1).max()
    theirs = np.abs(sps.softmax(z).astype(np.float64) / exact - 1).max()
    assert ours <= 4 * np.finfo(np.float32).eps < theirs


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_extreme_magnitudes_each_dtype(dtype):
    big = float(np.finfo(dtype).max)
    z = np.array([[big, -big, 0.0], [-big, -big, -big], [big, big / 2, -np.inf]], dtype=dtype)
    with np.errstate(over="ignore"):
        z64 = z.astype(np.float64)
        assert_close(snb.softmax(z), sps.softmax(z64, axis=-1), dtype)
        assert_close(snb.logsumexp(z), sps.logsumexp(z64, axis=-1), dtype, ulps=2.0)
        assert_close(snb.log_softmax(z), sps.log_softmax(z64, axis=-1), dtype)


@given(st.sampled_from(FLOAT_DTYPES).flatmap(lambda dt: magnitudes(dt).map(lambda b: (dt, b))))
def test_magnitude_regimes_exist(case):
    # Guard for the strategies: every dtype's bounds are representable in it.
    dtype, bound = case
    assert np.isfinite(dtype(bound))
