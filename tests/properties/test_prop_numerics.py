"""Properties of ``softmax_nb.numerics``: exp_limits, relative_error, numerical_gradient, to_bfloat16.

References: mpmath for the logarithms, exact rationals for the relative error and
an independent float64 rounding (frexp/ldexp, ties to even) for bfloat16.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

import softmax_nb as snb
from _gen import FLOAT_DTYPES, float_arrays, mask_shapes, shapes
from _harness import U64, assert_within, budget, call_checked
from _refs import PREC

FLOATS = (np.float16, np.float32, np.float64, np.longdouble)


def _mpf_exact(v):
    """An mpf equal to a float of any numpy width (longdouble included), exactly."""
    arr = np.asarray(v)
    if arr.dtype.itemsize <= 8:
        return mp.mpf(float(arr))
    m, e = np.frexp(arr)
    return mp.mpf(int(np.ldexp(m, 70))) * mp.mpf(2) ** (int(e) - 70)


@budget(40)
@given(st.sampled_from(FLOATS), st.sampled_from(["type", "dtype", "name"]))
def test_exp_limits_matches_exact(dtype, spelling):
    r"""exp_limits: ``overflow``/``normal``/``zero`` within 1 ulp of :math:`\log` of max/tiny/smallest
    subnormal (mpmath), and ``max_finite_z`` the largest value whose ``exp`` in that dtype is finite."""
    dt = np.dtype(dtype)
    arg = {"type": dtype, "dtype": dt, "name": dt.name}[spelling]
    out = call_checked(snb.exp_limits, arg).ok()
    info = np.finfo(dt)
    wide = dt.itemsize > 8
    assert out["dtype"] == dt.name
    for key in ("max", "overflow", "normal", "zero", "max_finite_z"):
        assert isinstance(out[key], dt.type if wide else float), f"{key}: {type(out[key])}"
    assert out["max"] == info.max
    with mp.workprec(PREC):
        for key, v in (("overflow", info.max), ("normal", info.tiny), ("zero", info.smallest_subnormal)):
            exact = mp.log(_mpf_exact(v))
            ulp = mp.mpf(2) ** (mp.floor(mp.log(abs(exact), 2)) + 1 - info.nmant - 1)
            assert abs(_mpf_exact(out[key]) - exact) <= 2 * ulp, (key, out[key], exact)
    z = dt.type(out["max_finite_z"])
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(z)) and not np.isfinite(np.exp(np.nextafter(z, dt.type(np.inf))))


@budget(30)
@given(st.sampled_from([np.int8, np.int64, np.uint16, np.bool_, np.complex64, np.complex128, "U3", np.object_]))
def test_exp_limits_refuses_other_dtypes(dtype):
    """exp_limits of a dtype that is not floating: a ValueError naming dtype."""
    call_checked(snb.exp_limits, dtype).refused((ValueError, ("dtype",)), (TypeError, ("dtype",)))


# --------------------------------------------------------------------------- relative_error
def _rel_exact(a: float, e: float) -> float:
    """|a - e| / |e| (|a - e| for e == 0), inf for a NaN or infinite approx, exactly rounded."""
    if not math.isfinite(a):
        return math.inf
    d = abs(Fraction(a) - Fraction(e))
    q = d if e == 0 else d / abs(Fraction(e))
    try:
        return float(q)
    except OverflowError:
        return math.inf


@st.composite
def relerr_cases(draw):
    a = draw(float_arrays(dtypes=FLOAT_DTYPES + (np.int64,)))
    eshape = mask_shapes(a.shape)
    e = draw(float_arrays(dtypes=FLOAT_DTYPES + (np.int64,), shape=eshape, nan=False, posinf=False,
                          neginf=False))
    return a, e


@budget(150)
@given(relerr_cases())
def test_relative_error_matches_exact(case):
    r"""relative_error: :math:`|a - e|/|e|` (or :math:`|a - e|` at :math:`e = 0`) within :math:`2u_{64}` relative,
    inf for a NaN or infinite approx, broadcast shapes; shapes that do not broadcast: a ValueError naming them."""
    a, e = case
    out = call_checked(snb.relative_error, a, e)
    try:
        shape = np.broadcast_shapes(a.shape, e.shape)
    except ValueError:
        out.refused((ValueError, ("approx", "exact")))
        return
    val = out.ok()
    aa, ee = np.broadcast_arrays(a.astype(np.float64), e.astype(np.float64))
    ref = np.array([_rel_exact(float(x), float(y)) for x, y in zip(aa.ravel(), ee.ravel())]).reshape(shape)
    assert np.shape(val) == shape and np.asarray(val).dtype == np.float64
    assert_within(val, ref, 3 * U64 * ref, what="relative_error")


# --------------------------------------------------------------------------- numerical_gradient
@st.composite
def quadratics(draw):
    shape = draw(shapes(max_dims=2, max_side=3))
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-100, 100)))
    c = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10, allow_subnormal=False)))
    d = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10, allow_subnormal=False)))
    h = draw(st.one_of(st.just(1e-6), st.floats(1e-8, 1e-2)))
    return x, c, d, h


@budget(120)
@given(quadratics())
def test_numerical_gradient_of_quadratics(case):
    r"""numerical_gradient of :math:`f(x) = \sum c x^2 + d x`: central differences are exact for quadratics,
    so the error is rounding only: :math:`|\hat g - g| \le ((K + 4)u F + 4u|x|\,|g|)/h`,
    :math:`F = \max |f|` over the evaluation points (plus their terms)."""
    x, c, d, h = case

    def f(v):
        assert v.shape == x.shape and v.dtype == np.float64
        return float(np.sum(c * v * v + d * v))

    val = call_checked(snb.numerical_gradient, f, x, h=h).ok()
    g = 2 * c * x + d
    k = x.size
    big = np.abs(x) + h
    terms = float(np.sum(np.abs(c) * big * big + np.abs(d) * big))
    sub = float(np.finfo(np.float64).smallest_subnormal)  # f may underflow to subnormals
    bnd = ((k + 4) * U64 * terms + 4 * U64 * big * np.abs(g) + (k + 2) * sub) / h + 2 * np.abs(c) * U64 * big
    assert np.shape(val) == x.shape and np.asarray(val).dtype == np.float64
    assert_within(val, g, bnd, what="numerical_gradient")


@budget(40)
@given(st.sampled_from([0.0, -1e-6, -1.0, np.nan, np.inf, -np.inf]))
def test_numerical_gradient_refuses_bad_steps(h):
    """A step that is not a finite number > 0: a ValueError naming h."""
    call_checked(snb.numerical_gradient, lambda v: float(np.sum(v)), [1.0, 2.0], h=h).refused((ValueError, ("h",)))


# --------------------------------------------------------------------------- to_bfloat16
def _bf16_exact(v: float) -> float:
    """Round a float32 value (given as float64) to bfloat16 (8 significant bits, ties to even), in float64."""
    if not math.isfinite(v) or v == 0:
        return v
    m, ex = math.frexp(v)  # v = m 2^ex, 0.5 <= |m| < 1
    quantum = max(ex - 8, -133)  # bfloat16 keeps 8 bits; its subnormals are multiples of 2^-133
    q = Fraction(v) / Fraction(2) ** quantum
    r = round(q)  # Python rounds ties to even
    out = math.ldexp(float(r), quantum) if r else math.copysign(0.0, v)
    return out if abs(out) < 2.0 ** 128 else math.copysign(math.inf, v)


@budget(200)
@given(float_arrays(dtypes=FLOAT_DTYPES + (np.int64, np.uint8, np.bool_)))
def test_to_bfloat16_rounds_to_nearest_even(x):
    """to_bfloat16: the float32 value of x rounded to 8 significant bits (ties to even), the same bits;
    overflow to ±inf, NaN stays NaN, signed zeros kept; float32 output, a numpy scalar for 0-d input."""
    val = call_checked(snb.to_bfloat16, x).ok(allow_nan=True)
    with np.errstate(over="ignore", invalid="ignore"):
        f32 = np.asarray(x).astype(np.float32).astype(np.float64)
    ref = np.array([_bf16_exact(float(v)) for v in f32.ravel()]).reshape(x.shape).astype(np.float32)
    if x.ndim == 0:
        assert isinstance(val, np.float32), type(val)
    else:
        assert isinstance(val, np.ndarray) and val.dtype == np.float32 and val.shape == x.shape
    got = np.asarray(val)
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(got), nan), "NaN positions differ"
    np.testing.assert_array_equal(got.view(np.uint32)[~nan], ref.view(np.uint32)[~nan],
                                  err_msg=f"to_bfloat16 of {x.dtype}: wrong bits")
