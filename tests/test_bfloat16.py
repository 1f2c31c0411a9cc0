"""Tests of ``softmax_nb.to_bfloat16``, the emulated bfloat16 rounding.

The reference is independent of the bit trick: a sorted table of every
bfloat16 value (all 2**16 patterns), in which each float32 input finds its two
neighbours by ``searchsorted``; the nearer one wins and a tie goes to the even
pattern. ``2**128`` stands in for ``inf`` as the neighbour above the largest
finite bfloat16, so overflow follows the same rule as IEEE rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import softmax_nb as snb
from softmax_nb.numerics import to_bfloat16

BF_MAX = (2 - 2.0**-7) * 2.0**127  # largest finite bfloat16
BF_TINY_SUB = 2.0**-133  # smallest positive bfloat16 subnormal

# Every non-negative bfloat16 pattern 0x0000..0x7F80 (0 .. inf) as a float64 value, inf replaced by 2**128.
_POS_PATTERNS = np.arange(0x7F81, dtype=np.uint32)
_POS_VALUES = (_POS_PATTERNS << np.uint32(16)).view(np.float32).astype(np.float64)
_POS_VALUES[-1] = 2.0**128


def _reference(x: np.ndarray) -> np.ndarray:
    """Round float32 values to bfloat16 by table lookup: nearest neighbour, ties to the even pattern."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore"):  # signalling NaN patterns warn when widened
        mag = np.abs(x.astype(np.float64))
    out = np.full(x.shape, np.nan, dtype=np.float64)
    ok = ~np.isnan(mag)
    m = np.minimum(mag[ok], 2.0**128)  # inf sits on the top entry
    hi = np.searchsorted(_POS_VALUES, m, side="left")  # first table value >= m
    lo = np.where(_POS_VALUES[hi] == m, hi, hi - 1)
    d_lo = m - _POS_VALUES[lo]  # exact: neighbouring float32 values
    d_hi = _POS_VALUES[hi] - m
    pick = np.where(d_lo < d_hi, lo, np.where(d_hi < d_lo, hi, np.where(_POS_PATTERNS[lo] % 2 == 0, lo, hi)))
    val = _POS_VALUES[pick]
    val[val == 2.0**128] = np.inf
    out[ok] = np.copysign(val, x[ok].astype(np.float64))
    return out.astype(np.float32)


def _bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def _same(a, b) -> bool:
    """Bit-identical, except that any NaN matches any NaN."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b)) and np.array_equal(_bits(a)[~nan], _bits(b)[~nan]))


def test_every_bfloat16_pattern_is_a_fixed_point():
    patterns = np.arange(2**16, dtype=np.uint32) << np.uint32(16)
    x = patterns.view(np.float32)
    y = to_bfloat16(x)
    assert y.dtype == np.float32
    nan = np.isnan(x)
    assert nan.sum() == 2 * (2**7 - 1)  # exponent all ones, significand nonzero, either sign
    assert np.all(np.isnan(y[nan]))
    assert np.array_equal(_bits(y)[~nan], patterns[~nan])


def test_reference_agrees_with_itself_on_bfloat16_values():
    patterns = np.arange(2**16, dtype=np.uint32) << np.uint32(16)
    assert _same(_reference(patterns.view(np.float32)), patterns.view(np.float32))


def test_random_float32_patterns_match_the_reference():
    rng = np.random.default_rng(13)
    x = rng.integers(0, 2**32, size=400_000, dtype=np.uint32).view(np.float32)
    assert _same(to_bfloat16(x), _reference(x))


def test_result_is_the_nearer_of_the_two_neighbours():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 0x7F7FFFFF, size=100_000, dtype=np.uint32).view(np.float32)  # finite, positive
    y = to_bfloat16(x).astype(np.float64)
    lo = (_bits(x) & np.uint32(0xFFFF0000)).view(np.float32).astype(np.float64)  # truncation
    hi = ((_bits(x) & np.uint32(0xFFFF0000)) + np.uint32(0x10000)).view(np.float32).astype(np.float64)
    xd = x.astype(np.float64)
    assert np.all((y == lo) | (y == hi))
    assert np.all(np.abs(y - xd) <= np.minimum(xd - lo, hi - xd))


def test_halfway_cases_round_to_even():
    # Every finite bfloat16 pattern k (both signs) with the dropped half exactly 0x8000: halfway to k + 1.
    k = np.concatenate([np.arange(0x7F80, dtype=np.uint32), np.arange(0x8000, 0xFF80, dtype=np.uint32)])
    x = ((k << np.uint32(16)) | np.uint32(0x8000)).view(np.float32)
    expected_k = np.where(k % 2 == 0, k, k + 1)  # away from zero in magnitude when k is odd
    y = to_bfloat16(x)
    assert np.array_equal(_bits(y), expected_k << np.uint32(16))
    assert _same(y, _reference(x))
    # the largest finite bfloat16 has an odd pattern (0x7F7F): its tie goes to the even 0x7F80 = inf
    assert to_bfloat16(np.float32(BF_MAX + 2.0**119)) == np.inf
    assert to_bfloat16(np.float32(-(BF_MAX + 2.0**119))) == -np.inf


@pytest.mark.parametrize(("x", "expected"), [
    (1.0 + 2.0**-8, 1.0),  # tie, 1 is even
    (1.0 + 2.0**-7 + 2.0**-8, 1.0 + 2.0**-6),  # tie, 1 + 2**-7 is odd
    (1.0 + 2.0**-8 + 2.0**-23, 1.0 + 2.0**-7),  # just above the tie
    (1.0 + 2.0**-8 - 2.0**-23, 1.0),  # just below the tie
    (100.2, 100.0),
    (100.4, 100.5),
    (257.0, 256.0),  # the stall of a bfloat16 running sum of ones
    (259.0, 260.0),
    (-259.0, -260.0),
])
def test_hand_checked_values(x, expected):
    assert to_bfloat16(np.float32(x)) == np.float32(expected)


def test_halfway_neighbours_round_by_distance():
    k = np.arange(0x7F7F, dtype=np.uint32)  # finite positive, k + 1 still finite
    above = ((k << np.uint32(16)) | np.uint32(0x8001)).view(np.float32)
    below = ((k << np.uint32(16)) | np.uint32(0x7FFF)).view(np.float32)
    assert np.array_equal(_bits(to_bfloat16(above)), (k + np.uint32(1)) << np.uint32(16))
    assert np.array_equal(_bits(to_bfloat16(below)), k << np.uint32(16))


def test_infinities_and_nans():
    assert to_bfloat16(np.float32(np.inf)) == np.inf
    assert to_bfloat16(np.float32(-np.inf)) == -np.inf
    # NaNs whose payload lives only in the low 16 bits: the bare bit trick would make them inf (or wrap to 0)
    nan_bits = np.array([0x7FC00000, 0x7F800001, 0x7F80FFFF, 0xFF800001, 0xFFFFFFFF, 0xFFC00000], dtype=np.uint32)
    y = to_bfloat16(nan_bits.view(np.float32))
    assert np.all(np.isnan(y))


def test_overflow_rounds_to_inf_as_ieee_does():
    half_ulp = 2.0**119  # half the bfloat16 spacing just below 2**128
    assert to_bfloat16(np.float32(BF_MAX)) == np.float32(BF_MAX)
    below = np.nextafter(np.float32(BF_MAX + half_ulp), np.float32(0))
    assert to_bfloat16(below) == np.float32(BF_MAX)
    assert to_bfloat16(np.finfo(np.float32).max) == np.inf
    assert to_bfloat16(-np.finfo(np.float32).max) == -np.inf
    assert to_bfloat16(np.array([1e39, -1e300])).tolist() == [np.inf, -np.inf]  # float64 beyond float32: inf


def test_subnormals_and_signed_zeros():
    tiny32 = np.float32(2.0**-149)  # smallest float32 subnormal: far below half of bfloat16's smallest
    assert to_bfloat16(tiny32) == 0.0
    neg = to_bfloat16(-tiny32)
    assert neg == 0.0 and np.signbit(neg)
    assert to_bfloat16(np.float32(BF_TINY_SUB)) == np.float32(BF_TINY_SUB)
    assert to_bfloat16(np.float32(0.5 * BF_TINY_SUB)) == 0.0  # tie between 0 (even) and the smallest subnormal
    assert to_bfloat16(np.float32(1.5 * BF_TINY_SUB)) == np.float32(2 * BF_TINY_SUB)  # tie, pattern 1 is odd
    assert to_bfloat16(np.float32(0.5 * BF_TINY_SUB + 2.0**-149)) == np.float32(BF_TINY_SUB)
    assert np.signbit(to_bfloat16(np.float32(-0.0)))
    # every float32 subnormal against the reference
    sub = np.arange(1, 0x800000, 37, dtype=np.uint32)
    for x in (sub.view(np.float32), (sub | np.uint32(0x80000000)).view(np.float32)):
        assert _same(to_bfloat16(x), _reference(x))


def test_inputs_other_than_float32_are_converted_first():
    x64 = np.random.default_rng(3).normal(0, 1e3, size=1000)
    assert _same(to_bfloat16(x64), to_bfloat16(x64.astype(np.float32)))
    assert _same(to_bfloat16(np.float16([1.5, -0.1])), to_bfloat16(np.float32([1.5, np.float16(-0.1)])))
    assert to_bfloat16([1, 257, True]).tolist() == [1.0, 256.0, 1.0]
    assert to_bfloat16(2**40 + 1) == np.float32(2.0**40)


def test_shapes_and_scalars():
    assert isinstance(to_bfloat16(1.0), np.float32)
    assert isinstance(to_bfloat16(np.float32(3.0)), np.float32)
    z = np.zeros((2, 3, 4), dtype=np.float32)
    assert to_bfloat16(z).shape == (2, 3, 4)
    assert to_bfloat16(np.array([], dtype=np.float64)).shape == (0,)
    x = np.float32([100.2, 1.0])
    before = x.copy()
    to_bfloat16(x)
    assert np.array_equal(x, before)  # input untouched
    assert snb.to_bfloat16 is to_bfloat16


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["1.0"]), np.array([None, 1.0], dtype=object)])
def test_non_real_input_raises(bad):
    with pytest.raises(ValueError, match="x must be real numbers"):
        to_bfloat16(bad)


def _f32(v: float) -> np.float32:
    return np.float32(v)


@given(st.floats(width=32, allow_nan=True, allow_infinity=True))
def test_hypothesis_matches_reference(v):
    x = _f32(v)
    assert _same(to_bfloat16(np.array([x])), _reference(np.array([x])))


@given(st.floats(width=32, allow_nan=False))
def test_hypothesis_properties(v):
    x = _f32(v)
    y = to_bfloat16(x)
    assert _bits(y) & np.uint32(0xFFFF) == 0  # a bfloat16 value
    assert _same(to_bfloat16(y), y)  # idempotent
    assert _same(to_bfloat16(-x), -y)  # odd symmetry
    if np.isfinite(y):
        assert abs(float(y) - float(x)) <= 2.0**-8 * abs(float(x)) or abs(float(x)) < 2.0**-126
    else:
        assert abs(float(x)) >= BF_MAX + 2.0**119


@given(st.floats(width=32, allow_nan=False), st.floats(width=32, allow_nan=False))
def test_hypothesis_monotone(a, b):
    lo, hi = sorted([_f32(a), _f32(b)])
    assert to_bfloat16(lo) <= to_bfloat16(hi)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.integers(0, 2**32, size=200_000, dtype=np.uint32).view(np.float32)
    k = np.arange(0x7F80, dtype=np.uint32)
    ties = ((k << np.uint32(16)) | np.uint32(0x8000)).view(np.float32)
    specials = np.float32([np.inf, -np.inf, np.nan, np.finfo(np.float32).max, BF_MAX + 2.0**119, 2.0**-149, -0.0])
    for arr in (x, ties, -ties, specials):
        expected = torch.tensor(arr).to(torch.bfloat16).float().numpy()
        assert _same(to_bfloat16(arr), expected)
