"""Tests for softmax_nb.numerics and softmax_nb.reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

import softmax_nb as snb
from softmax_nb.reference import logsumexp_mp, softmax_mp


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_exp_limits_are_sharp(dtype):
    lim = snb.exp_limits(dtype)
    z = np.array(lim["max_finite_z"], dtype=dtype)
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(z))
        assert not np.isfinite(np.exp(np.nextafter(z, dtype(np.inf))))
    assert lim["max_finite_z"] <= lim["overflow"] + 1e-3
    assert lim["zero"] < lim["normal"] < 0 < lim["overflow"]


def test_exp_limits_known_float64_values():
    lim = snb.exp_limits(np.float64)
    assert all(type(v) is float for k, v in lim.items() if k != "dtype")  # plain Python floats
    assert lim["overflow"] == pytest.approx(709.782712893384, rel=1e-15)
    assert lim["normal"] == pytest.approx(-708.3964185322641, rel=1e-15)
    assert lim["zero"] == pytest.approx(-744.4400719213812, rel=1e-15)
    assert snb.exp_limits(np.float32)["overflow"] == pytest.approx(math.log(3.4028234663852886e38))


def test_relative_error():
    np.testing.assert_allclose(snb.relative_error([1.1, 0.0, np.nan, 2.0], [1.0, 0.0, 1.0, 0.0]),
                               [0.1, 0.0, np.inf, 2.0], rtol=1e-12)


def test_mpmath_references_close_forms():
    np.testing.assert_allclose(softmax_mp([0.0, 0.0, 0.0, 0.0]), 0.25)
    assert logsumexp_mp([0.0, 0.0]) == pytest.approx(math.log(2), rel=1e-16)
    assert logsumexp_mp([1000.0, 1000.0]) == pytest.approx(1000 + math.log(2), rel=1e-16)


def test_format_warning_is_one_line_without_path():
    from softmax_nb.notebook import format_warning

    text = format_warning(RuntimeWarning("overflow encountered in exp"), RuntimeWarning, "/abs/path/x.py", 3)
    assert text == "RuntimeWarning: overflow encountered in exp\n"


def test_compact_errors_switches_ipython_to_minimal_tracebacks():
    from IPython.core.interactiveshell import InteractiveShell

    from softmax_nb.notebook import compact_errors

    assert compact_errors() is False  # plain Python: no shell to switch
    shell = InteractiveShell.instance()
    try:
        assert shell.InteractiveTB.mode != "Minimal"
        assert compact_errors() is True
        assert shell.InteractiveTB.mode == "Minimal"
    finally:
        InteractiveShell.clear_instance()


def test_numerical_gradient_matches_closed_forms():
    rng = np.random.default_rng(5)
    A = rng.normal(size=(3, 3))
    x = rng.normal(size=3)
    # quadratic x^T A x has gradient (A + A^T) x; the central difference is exact for it up to rounding
    np.testing.assert_allclose(snb.numerical_gradient(lambda v: v @ A @ v, x), (A + A.T) @ x, atol=1e-8)
    # logsumexp has gradient softmax, also for a 2-D argument (any shape)
    z = rng.normal(size=(2, 3))
    np.testing.assert_allclose(snb.numerical_gradient(lambda v: float(snb.logsumexp(v.ravel())), z),
                               snb.softmax(z.ravel()).reshape(2, 3), atol=1e-9)
    # the input is not modified and ints are accepted
    xi = np.array([1, 2])
    np.testing.assert_allclose(snb.numerical_gradient(lambda v: np.sum(v**3), xi), [3.0, 12.0], rtol=1e-8)
    assert xi.dtype.kind == "i" and list(xi) == [1, 2]


@pytest.mark.parametrize("h", [0.0, -1e-6, np.inf, np.nan])
def test_numerical_gradient_bad_step(h):
    with pytest.raises(ValueError, match=r"h must be a finite number > 0"):
        snb.numerical_gradient(np.sum, [1.0], h=h)


def test_exp_limits_longdouble_returns_at_once_and_is_sharp():
    # B6: the old loop started at float(max) = inf for float128 and stepped one ulp at a time.
    import time

    start = time.perf_counter()
    lim = snb.exp_limits(np.longdouble)
    assert time.perf_counter() - start < 2.0
    z = lim["max_finite_z"]
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(z))
        assert not np.isfinite(np.exp(np.nextafter(z, np.longdouble(np.inf))))
    if np.finfo(np.longdouble).max > np.finfo(np.float64).max:  # x86 extended precision: values kept wide
        assert lim["max"] == np.finfo(np.longdouble).max and np.isfinite(lim["max"])
        assert lim["zero"] < lim["normal"] < 0 < lim["overflow"]
        assert float(lim["overflow"]) == pytest.approx(11356.523406294143, rel=1e-15)


@pytest.mark.parametrize("dtype", [np.int64, bool, "U3"])
def test_exp_limits_rejects_non_float_types(dtype):
    with pytest.raises(ValueError, match="dtype must be a numpy floating type"):
        snb.exp_limits(dtype)


# --- regression tests of the property suite's B3 and B7 (numerics) ---
def test_relative_error_beyond_the_float64_range_is_exact_and_quiet():
    # B3: a - e overflowed (warning, then inf); the halves give the exact 2
    assert snb.relative_error(1e308, -1e308) == 2.0
    assert snb.relative_error(np.array([1e308, 1.0]), np.array([-1e308, 1.0])).tolist() == [2.0, 0.0]
    # a quotient beyond the range is inf, correctly rounded, with no overflow warning
    assert snb.relative_error(1.0, 1e-310) == np.inf
    # B3: inf - inf leaked 'invalid value'; a non-finite approx or exact is the worst error, inf
    assert snb.relative_error(np.inf, np.inf) == np.inf
    assert snb.relative_error(1.0, -np.inf) == np.inf
    out = snb.relative_error(1.5, 1.0)
    assert isinstance(out, np.float64) and out == 0.5


def test_relative_error_refuses_a_nan_exact_and_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match="exact"):  # B3: a silent NaN before
        snb.relative_error(1.0, np.nan)
    with pytest.raises(ValueError, match="approx and exact") as info:  # numpy's message named neither
        snb.relative_error(np.zeros(2), np.zeros(3))
    assert not isinstance(info.value, TypeError)


def test_numerics_wrong_types_are_argument_type_errors():
    # B7: numeric strings were accepted (relative_error) or refused with numpy's / a plain ValueError
    cases = [(lambda: snb.relative_error(["1", "2"], [1.0, 2.0]), "approx"),
             (lambda: snb.relative_error([1.0], "abc"), "exact"),
             (lambda: snb.exp_limits("foo"), "dtype"),
             (lambda: snb.exp_limits(","), "dtype"),
             (lambda: snb.numerical_gradient(np.sum, [1.0, 2.0], h="0.5"), "h"),
             (lambda: snb.numerical_gradient(np.sum, [1.0, 2.0], h=True), "h"),
             (lambda: snb.numerical_gradient(np.sum, ["a", "b"]), "x"),
             (lambda: snb.to_bfloat16([1 + 2j, 0j]), "x")]
    for call, name in cases:
        with pytest.raises(snb.ArgumentTypeError, match=rf"\b{name}\b"):
            call()
    with pytest.raises(ValueError, match="dtype") as info:  # a dtype, but not a floating one: a wrong value
        snb.exp_limits(np.int8)
    assert not isinstance(info.value, TypeError)
