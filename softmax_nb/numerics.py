"""Floating-point facts the book computes rather than quotes.

All thresholds come from :func:`numpy.finfo`, so they are right for whatever
float types the reader's numpy supports.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import ArgumentTypeError, as_float_array, deprecated_call_forms, real_scalar

__all__ = ["exp_limits", "relative_error", "numerical_gradient", "to_bfloat16"]


def exp_limits(dtype: DTypeLike) -> dict[str, Any]:
    r"""Where ``exp`` stops being representable in a float type.

    .. math::

        z_{\text{overflow}} = \log(\text{max}), \qquad
        z_{\text{normal}} = \log(\text{tiny}), \qquad
        z_{\text{zero}} = \log(\text{smallest subnormal}).

    ``exp(z)`` is ``inf`` for :math:`z > z_{\text{overflow}}`, subnormal
    (losing precision) below :math:`z_{\text{normal}}`, and rounds to 0 a
    little below :math:`z_{\text{zero}}`. The logarithms are taken in float64
    (in the dtype itself for types wider than float64), and ``max_finite_z`` is found by stepping a few ulps from
    :math:`z_{\text{overflow}}` (at most 64 steps), so the function returns
    at once for every float type, including ``np.longdouble``.

    Parameters
    ----------
    dtype : dtype-like
        A numpy floating type, e.g. ``np.float32``.

    Returns
    -------
    dict
        ``dtype`` (name), ``max``, ``overflow``, ``normal``, ``zero`` (the
        thresholds above) and ``max_finite_z``: the largest value of that
        dtype whose ``exp`` is still finite. The values are Python floats for
        float16/32/64; for wider types (``np.longdouble``), whose ``max``
        and ``tiny`` do not fit in a Python float, they are numpy scalars of
        that dtype.

    Raises
    ------
    ArgumentTypeError
        If ``dtype`` is not a dtype at all (``"foo"``, an object).
    ValueError
        If ``dtype`` is a dtype but not a floating one (``np.int8``).

    Examples
    --------
    >>> exp_limits(np.float16)["max_finite_z"]
    11.0859375
    """
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError):  # numpy raises all three (np.dtype(",") is a SyntaxError)
        raise ArgumentTypeError(f"dtype must be a numpy floating type such as np.float32, got "
                                f"{type(dtype).__name__} {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"dtype must be a numpy floating type, got {dt}")
    info = np.finfo(dt)
    wide = dt.itemsize > 8
    log = np.log if wide else (lambda v: np.log(np.float64(v)))
    one = dt.type(1)
    with np.errstate(over="ignore"):
        overflow = log(info.max)
        z = dt.type(overflow)
        for _ in range(64):  # log is accurate to an ulp or two: a few steps suffice
            if np.isfinite(np.exp(z)):
                break
            z = np.nextafter(z, -one)
        for _ in range(64):
            up = np.nextafter(z, info.max)
            if not np.isfinite(np.exp(up)):
                break
            z = up
        else:  # pragma: no cover - would mean a broken exp
            raise RuntimeError(f"could not bracket the overflow threshold of exp for {dt}")
    values = {"max": info.max, "overflow": overflow, "normal": log(info.tiny),
              "zero": log(info.smallest_subnormal), "max_finite_z": z}
    out: dict[str, Any] = {"dtype": dt.name}
    out.update({k: (dt.type(v) if wide else float(v)) for k, v in values.items()})
    return out


def relative_error(approx: ArrayLike, exact: ArrayLike) -> NDArray[np.float64] | np.float64:
    r"""Elementwise relative error :math:`|a - e| / |e|` (absolute error :math:`|a - e|` where ``e == 0``).

    Computed in float64 and correctly rounded up to a few ulps, also where
    :math:`a - e` or the quotient leaves float64's range: a difference beyond
    ``finfo(float64).max`` is recomputed from the halves :math:`a/2 - e/2`,
    and a quotient beyond it is ``inf``. A NaN or infinite ``approx``, or an
    infinite ``exact``, gives ``inf``, so a failed computation shows up as the
    worst possible error rather than disappearing from a plot.

    Parameters
    ----------
    approx, exact : array_like
        Real numbers (float, integer or bool) of broadcastable shapes.

    Returns
    -------
    numpy.ndarray or numpy.float64
        The errors, with the broadcast shape (a numpy scalar for scalar input).

    Raises
    ------
    ArgumentTypeError
        If ``approx`` or ``exact`` is not numeric (strings, even numeric ones, complex numbers, objects).
    ValueError
        If the shapes do not broadcast, or ``exact`` contains NaN (there is nothing to compare with).
    """
    a = np.asarray(as_float_array(approx, "approx"), dtype=np.float64)
    e = np.asarray(as_float_array(exact, "exact"), dtype=np.float64)
    try:
        np.broadcast_shapes(a.shape, e.shape)
    except ValueError:
        raise ValueError(f"approx and exact must have broadcastable shapes, got {a.shape} and {e.shape}") from None
    if np.isnan(e).any():
        raise ValueError("exact contains NaN; the relative error to it is undefined")
    finite = np.isfinite(a) & np.isfinite(e)
    with np.errstate(over="ignore", invalid="ignore"):
        diff = np.abs(a - e)
        err = diff / np.where(e == 0, 1.0, np.abs(e))
        spill = finite & np.isinf(diff)
        if spill.any():  # rare: |a - e| beyond the range although a and e are finite; the halves are exact there
            half = np.abs(a * 0.5 - e * 0.5) / np.where(e == 0, 1.0, np.abs(e))
            err = np.where(spill, half * 2.0, err)
    out = np.where(finite, err, np.inf)
    return out[()] if out.ndim == 0 else out


@deprecated_call_forms(("h",))
def numerical_gradient(f: Callable[[NDArray[np.float64]], float], x: ArrayLike, *,
                       h: float = 1e-6) -> NDArray[np.float64]:
    r"""Central finite-difference gradient of a scalar function, for checking derivations.

    .. math::

        \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h},

    with an error of order :math:`h^2` from truncation plus about
    :math:`\epsilon |f| / h` from rounding; ``h = 1e-6`` balances the two for
    well-scaled float64 functions.

    Parameters
    ----------
    f : callable
        Maps a float64 array shaped like ``x`` to a scalar.
    x : array_like
        Where to differentiate (any shape).
    h : float, default 1e-6
        Step; must be finite and > 0.

    Returns
    -------
    numpy.ndarray
        The gradient, with the shape of ``x`` (float64).

    Raises
    ------
    ArgumentTypeError
        If ``h`` is not a real number (a string, a bool) or ``x`` is not numeric.
    ValueError
        If ``h`` is not finite and > 0.
    """
    step_size = real_scalar(h, "h", "a finite number > 0")
    if not (math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"h must be a finite number > 0, got {h!r}")
    h = step_size
    x = np.array(as_float_array(x, "x"), dtype=np.float64)
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = h
        grad[idx] = (float(f(x + step)) - float(f(x - step))) / (2 * h)
    return grad


def to_bfloat16(x: ArrayLike) -> NDArray[np.float32] | np.float32:
    r"""Round to the nearest bfloat16 value (ties to even), returned as float32.

    bfloat16 is the top half of a float32: the same sign and 8 exponent bits,
    and 7 of the 23 stored significand bits (8 significant bits, unit
    roundoff :math:`u = 2^{-8}`). numpy has no bfloat16 type, so this emulates
    one by rounding the 32-bit pattern :math:`b` of each float32 value:

    .. math::

        b' = \bigl(b + \texttt{0x7FFF} + \ell\bigr) \mathbin{\&} \texttt{0xFFFF0000},
        \qquad \ell = (b \gg 16) \mathbin{\&} 1,

    i.e. keep the top 16 bits after adding just under half a bfloat16 ulp plus
    the lowest kept bit :math:`\ell`. A value strictly above the halfway point
    carries into the kept bits (rounds up), strictly below does not (rounds
    down), and an exact tie carries only when :math:`\ell = 1`, which gives
    round-to-nearest, ties-to-even. A carry out of the significand raises the
    exponent, so values at or beyond halfway between bfloat16's largest finite
    number :math:`(2 - 2^{-7})\,2^{127} \approx 3.39 \times 10^{38}` and
    :math:`2^{128}` become ``inf``, as IEEE rounding does. ``inf`` stays
    ``inf``, NaN stays NaN (handled separately: the bit trick could turn a NaN
    with a small payload into ``inf``), and subnormals round like any other
    value.

    Parameters
    ----------
    x : array_like
        Real numbers (float, integer or bool). Values that are not float32
        are first converted to float32 (one rounding), then to bfloat16.

    Returns
    -------
    numpy.ndarray or numpy.float32
        float32 values, each exactly representable in bfloat16, with the shape
        of ``x``; a float32 scalar for a scalar input.

    Raises
    ------
    ArgumentTypeError
        If ``x`` is not real-valued (complex, strings, objects).

    Examples
    --------
    >>> float(to_bfloat16(100.2))
    100.0
    >>> float(to_bfloat16(1.0 + 2.0**-8))  # a tie: rounds to the even neighbour 1
    1.0
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise ArgumentTypeError(f"x must be real numbers (float, integer or bool), got dtype {arr.dtype}")
    with np.errstate(over="ignore"):  # float64 beyond float32's range casts to inf, as intended
        f32 = np.asarray(arr, dtype=np.float32)
    bits = f32.view(np.uint32)
    with np.errstate(over="ignore"):  # uint32 addition may wrap only for NaN patterns, replaced below
        lsb = (bits >> np.uint32(16)) & np.uint32(1)
        rounded = (bits + np.uint32(0x7FFF) + lsb) & np.uint32(0xFFFF0000)
    out = np.where(np.isnan(f32), np.float32(np.nan), rounded.view(np.float32)).astype(np.float32)
    return out[()] if out.ndim == 0 else out
