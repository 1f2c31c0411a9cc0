r"""Softmax and its close relatives, computed stably with numpy.

Notation used throughout the book: ``z`` are logits (scores), ``p`` are
probabilities, ``K`` is the number of classes and ``T`` the temperature.

.. _input-policy:

**Input policy (one rule for the whole package).** Every function of
``softmax_nb`` that takes logits follows these rules; their docstrings refer
here.

* **NaN** anywhere in a slice that is used raises :class:`ValueError` (scipy
  and torch return NaN instead). Nothing comes back as a silent NaN.
* **+inf** raises :class:`ValueError` in every function whose result is a
  probability or log-probability (softmax, log-softmax, sparsemax, the online
  softmax, Gumbel-softmax, the losses): :math:`\infty/\infty` is undefined.
  :func:`logsumexp` is a reduction with a well-defined limit and returns
  ``+inf`` for such a slice.
* **-inf** is a mask: the class gets probability exactly 0 (log-probability
  ``-inf``). A slice whose entries are *all* ``-inf`` raises
  :class:`ValueError` for softmax-like functions, because no class is left;
  :func:`logsumexp` returns ``-inf`` for it (the log of an empty sum).
* **where=** masks (:func:`softmax`, :func:`log_softmax`, :func:`logsumexp`)
  follow JAX: entries where the mask is ``False`` are ignored whatever their
  value (even NaN), get probability 0 (log-probability ``-inf``), and a slice
  with no unmasked entry gives zeros (``-inf`` log-probabilities, ``-inf``
  log-sum-exp) instead of an error.
* **Empty** class axis: :func:`logsumexp` returns ``-inf`` (as scipy); the
  softmax-like functions raise :class:`ValueError` (as scipy, which cannot
  normalise zero classes either). An empty *batch* gives an empty result.
* **0-d input** is one class, as in scipy: ``softmax(3.0) == 1.0``,
  ``log_softmax(3.0) == 0.0``, ``logsumexp(3.0) == 3.0``, returned as numpy
  scalars; full reductions also return numpy scalars.
* **Dtypes**: float16/float32/float64 in gives the same dtype out; integers
  and bools give float64. float16 is computed in float32 and rounded once at
  the end (its range and 11-bit significand are too small for the
  intermediate sums); float32 and float64 are computed in their own dtype.
  int64/uint64 logits have their maximum subtracted exactly (in integer
  arithmetic) before the conversion to float64, so logits that differ by
  little but are larger than :math:`2^{53}` keep their differences.
* **Axes**: the default is ``axis=-1`` (the class axis last, the machine
  learning convention). scipy's default is ``axis=None`` (all elements):
  ``scipy.special.softmax(Z)`` on a 2-D ``Z`` normalises the whole matrix,
  ``softmax_nb.softmax(Z)`` each row. Pass ``axis=None`` or a tuple of axes
  for scipy's behaviour. torch's ``dim`` is our ``axis``.
* A :class:`numpy.ma.MaskedArray` is rejected (its mask would be ignored);
  pass ``where=~z.mask`` instead.

**Deliberate differences from scipy.special** (``softmax``, ``log_softmax``,
``logsumexp``, ``expit``), each tested in ``tests/test_parity_scipy.py``:

==============================  =====================================  ==================================
input or option                 scipy.special                          softmax_nb
==============================  =====================================  ==================================
default axis                    ``None`` (all elements)                ``-1`` (each slice along the last)
NaN in a used slice             propagates NaN                         ``ValueError``
``+inf`` in softmax             NaN                                    ``ValueError``
negative ``sum(b e^z)``         NaN (without ``return_sign``)          ``ValueError``
float16 input                   computed in float16                    computed in float32, rounded once
integer input                   int8 -> float16, uint8 wraps round     float64, exact (int64 too)
``where=`` mask                 not available                          JAX semantics
``temperature=``                not available                          :math:`z/T`, any finite ``T > 0``
float64 softmax normalisation   divides by the sum                     times the rounded reciprocal
                                                                       (within 2u of scipy's terms)
softmax's shift by the maximum  always                                 skipped where ``0 <= max <= B``,
                                                                       ``B = -log(tiny) - log K - 1``
                                                                       (84.0 in float32, 705.1 in
                                                                       float64, for K = 10): more
                                                                       accurate terms; a row with a
                                                                       negative maximum is shifted
==============================  =====================================  ==================================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (ArgumentTypeError, as_float_array, check_axes, check_axis, check_bool, check_max,
                      check_temperature, work_dtype)

__all__ = ["softmax", "naive_softmax", "log_softmax", "logsumexp", "sigmoid", "softmax_jacobian"]

# Rows are processed in blocks of about this many bytes, so that the passes of
# a softmax (max, subtract, exp, sum, divide) run in the CPU's caches and main
# memory is read once and written once. 2 MiB (input and output blocks fit in
# L2 + L3) was the fastest of 0.5-8 MiB in benchmarks/bench_softmax.py: smaller
# blocks pay Python's per-call overhead more often.
_BLOCK_BYTES = 1 << 21


def _work_dtype(arr: NDArray[np.floating]) -> np.dtype:
    """float16 is computed in float32 (then rounded back); other floats as they are (``_checks.work_dtype``)."""
    return work_dtype(arr.dtype)


# --------------------------------------------------------------------------- layout helpers
class _Rows:
    """``z`` viewed as a C-contiguous ``(rows, K)`` array with the reduced axes last, and back.

    Only a C-contiguous input reduced over its last axis is used without a
    copy; any other layout is copied once (together with the float16 ->
    float32 conversion). Every kernel therefore sees contiguous rows, which is
    what makes the float32 results batch- and layout-invariant: a slice gives
    the same bits alone, inside any batch, or along any axis.
    """

    def __init__(self, arr: NDArray[Any], axes: tuple[int, ...], dtype: np.dtype) -> None:
        self.scalar = arr.ndim == 0
        if self.scalar:
            arr = arr.reshape(1)
        rest = tuple(a for a in range(arr.ndim) if a not in axes)
        self.perm = rest + axes
        self.identity = self.perm == tuple(range(arr.ndim))
        moved = arr if self.identity else arr.transpose(self.perm)
        self.moved_shape = moved.shape
        self.batch_shape = moved.shape[:len(rest)]
        self.k = math.prod(moved.shape[len(rest):])
        self.n = math.prod(self.batch_shape)
        self.axes = axes
        self.ndim = arr.ndim
        self.rows = np.ascontiguousarray(moved, dtype=dtype).reshape(self.n, self.k)
        self.offset: NDArray[np.float64] | None = None  # per-row shift already subtracted (int64 input)

    def restore(self, out2: NDArray[Any]) -> NDArray[Any]:
        """Undo the layout change for an output shaped like the rows."""
        out = out2.reshape(self.moved_shape)
        if not self.identity:
            out = out.transpose(np.argsort(self.perm))
        return out.reshape(()) if self.scalar else out

    def restore_reduced(self, red: NDArray[Any], keepdims: bool) -> NDArray[Any]:
        """Shape a per-row result ``(rows,)`` as the reduction of the input."""
        out = red.reshape(self.batch_shape)
        if keepdims:  # a 0-d input counts as shape (1,) here, as in scipy
            out = np.expand_dims(out, self.axes)
        return out


def _mask_rows(where: Any, arr: NDArray[Any], rows: _Rows) -> NDArray[np.bool_]:
    """``where`` broadcast to ``arr`` and laid out like ``rows.rows``."""
    w = np.asarray(where)
    if w.dtype != np.bool_:  # a wrong type (strings, numbers, objects): ArgumentTypeError, a ValueError too
        raise ArgumentTypeError(f"where must be a boolean array (True = use the entry), got dtype {w.dtype}")
    try:
        w = np.broadcast_to(w, arr.shape)
    except ValueError:
        raise ValueError(f"where must be broadcastable to the shape of z {arr.shape}, got shape {w.shape}") from None
    return _Rows(w, rows.axes, np.dtype(np.bool_)).rows


def _int_shifted(arr: NDArray[np.integer], rows: _Rows,
                 wrows: NDArray[np.bool_] | None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``z - max(z)`` per row for 64-bit integer logits, exact before one rounding to float64,
    and the maxima (as float64, shape ``(rows,)``).

    ``max - z`` lies in ``[0, 2**64)``, so it is exact in wrapping uint64
    arithmetic even where the int64 difference would overflow.
    """
    z = _Rows(arr, rows.axes, arr.dtype).rows
    low = np.iinfo(arr.dtype).min
    m = np.max(z, axis=1, keepdims=True, where=True if wrows is None else wrows, initial=low)
    gap = m.astype(np.uint64) - z.astype(np.uint64)
    return np.negative(gap.astype(np.float64)), m[:, 0].astype(np.float64)


def _prepare(z: ArrayLike, axis: Any, where: Any, name: str = "z") -> tuple[NDArray[Any], _Rows, NDArray[np.bool_] | None]:
    """Validate ``z``, ``axis`` and ``where``; return the float input, its rows and the mask rows."""
    raw = np.asarray(z) if not isinstance(z, np.ma.MaskedArray) else z
    arr = as_float_array(raw, name)
    axes = check_axes(arr, axis, name)
    rows = _Rows(arr, axes, _work_dtype(arr))
    wrows = None if where is None else _mask_rows(where, arr, rows)
    raw = np.asarray(raw)
    if raw.dtype.kind in "iu" and raw.dtype.itemsize == 8 and rows.k and rows.n:
        rows.rows, rows.offset = _int_shifted(raw, rows, wrows)
    return arr, rows, wrows


def _apply_mask(z: NDArray[np.floating], wrows: NDArray[np.bool_]) -> tuple[NDArray[np.floating], NDArray[np.bool_]]:
    """Masked entries become -inf; rows with nothing unmasked become 0 (any finite row would do)."""
    dead = ~np.any(wrows, axis=1)
    z = np.where(wrows, z, -np.inf).astype(z.dtype, copy=False)
    z[dead] = 0
    return z, dead


# --------------------------------------------------------------------------- kernels on contiguous rows
def _scale(x: NDArray[np.floating], t: float, out: NDArray[np.floating]) -> NDArray[np.floating]:
    """``x / t`` into ``out``: one multiply by ``1/t`` when that reciprocal is a normal number of the
    dtype, else a division carried out in (at least) float64, so that neither ``1/t`` overflowing
    (tiny ``t``, which would give ``0 * inf = nan``) nor underflowing (huge ``t``, ``-inf * 0 = nan``)
    can occur."""
    info = np.finfo(out.dtype)
    inv_t = 1.0 / t
    with np.errstate(over="ignore", under="ignore"):
        if float(info.tiny) <= inv_t <= float(info.max):
            return np.multiply(x, inv_t, out=out)
        return np.divide(x, t, out=out, dtype=np.promote_types(out.dtype, np.float64), casting="same_kind")


def _shift_scale(z: NDArray[np.floating], m: NDArray[np.floating], out: NDArray[np.floating], t: float) -> None:
    r"""``(z - m) / t`` into ``out``; 0 exactly where ``z == m``.

    Shift first, then scale: ``z - m`` is exact for close values and can only
    overflow to ``-inf`` (``-1e308 - 1e308``), whose ``exp`` is the correct 0
    as long as :math:`T \le 1`. For :math:`T > 1` the true exponent
    :math:`(z - m)/T` may be finite although ``z - m`` overflowed; those
    entries are recomputed as ``z/T - m/T``.
    """
    if t <= 1.0:
        with np.errstate(over="ignore"):
            np.subtract(z, m, out=out)
    else:
        try:
            with np.errstate(over="raise"):
                np.subtract(z, m, out=out)
        except FloatingPointError:
            with np.errstate(over="ignore"):
                np.subtract(z, m, out=out)
            bad = np.isneginf(out) & np.isfinite(z)
            zs = _scale(z, t, np.empty_like(out))
            ms = _scale(m, t, np.empty_like(m))
            _scale(out, t, out)
            with np.errstate(over="ignore"):  # beyond the range even after the division: -inf, correctly rounded
                out[bad] = (zs - ms)[bad]
            return
    if t != 1.0:
        _scale(out, t, out)


def _softmax_rows(z: NDArray[np.floating], out: NDArray[np.floating], t: float,
                  m: NDArray[np.floating]) -> None:
    r"""softmax of each row of a C-contiguous 2-D block into ``out``, its row maxima into ``m``.

    The caller checks ``m`` (NaN, ``+inf``, all ``-inf``) once after the last
    block, and runs the blocks with overflow and invalid-value warnings off:
    a row with a bad maximum produces garbage that is never returned.

    The row sum is ``np.add.reduce`` along the contiguous last axis: numpy's
    pairwise summation, applied to each row on its own, so the result of a
    row does not depend on the other rows (batch invariance), on the BLAS
    library or on the CPU's SIMD level. Its rounding error grows like
    :math:`O(u \log K)`. (A faster order, 16-term slices added elementwise and
    then pairwise, was 0.6 ulp less accurate than scipy in ``make accuracy``.)
    """
    np.maximum.reduce(z, axis=1, keepdims=True, out=m)
    if t != 1.0:
        _shift_scale(z, m, out, t)
        np.exp(out, out=out)
    else:
        # A row whose maximum lies in [0, hi] needs no shift: its sum lies in [1, 1/tiny] (no
        # overflow, a normal reciprocal), and e^{z_j} is at least e^{z_j - m}, so no term underflows
        # that the shifted form keeps. Skipping the shift saves a pass and its rounding error
        # (z - m is inexact when z and m are far apart). Other rows subtract m (z - m overflows
        # only to -inf, whose exp is the correct 0). Subtracting 0 is exact, so a safe row gets
        # the same bits whatever its neighbours are (batch invariance).
        hi = -math.log(float(np.finfo(z.dtype).tiny)) - math.log(z.shape[1]) - 1.0
        safe = (m >= 0.0) & (m <= hi)
        if safe.all():
            np.exp(z, out=out)
        else:
            np.subtract(z, np.where(safe, 0.0, m).astype(z.dtype, copy=False), out=out)
            np.exp(out, out=out)
    s = np.add.reduce(out, axis=1, keepdims=True)
    if out.dtype == np.float64:
        # One correctly rounded reciprocal per row, then one multiply per entry: at most 2u
        # from the exact quotient of the computed terms (a division: u), at about half the
        # cost, which float64 division needs (float32 division is cheap next to exp; it is
        # kept there, so that float32 accuracy stays within 0.5 ulp of scipy's: make accuracy).
        # p <= 1 still holds, since the sum is >= 1.
        np.reciprocal(s, out=s)
        np.multiply(out, s, out=out)
    else:  # one division per entry: the correctly rounded quotient of the computed terms
        np.divide(out, s, out=out)


def _log_softmax_rows(z: NDArray[np.floating], out: NDArray[np.floating], t: float,
                      scratch: NDArray[np.floating]) -> None:
    r"""log-softmax of each row: ``s - log1p(r)`` with ``s = (z - m)/T`` and ``r`` the sum of the
    terms other than the maximal one (Blanchard, Higham and Higham, 2021).

    The maximal term is exactly 1, so :math:`\sum_j e^{s_j} = 1 + r`;
    ``log1p(r)`` keeps full relative accuracy when ``r`` is tiny (one dominant
    logit), where ``log(1 + r)`` would round to 0.
    """
    rows = np.arange(z.shape[0])
    idx = np.argmax(z, axis=1)
    m = z[rows, idx][:, None]
    if not np.isfinite(m).all():
        check_max(m)
    _shift_scale(z, m, out, t)
    e = np.exp(out, out=scratch[:z.shape[0]])
    e[rows, idx] = 0.0
    np.subtract(out, np.log1p(np.add.reduce(e, axis=1, keepdims=True)), out=out)


def _blocks(n: int, k: int, itemsize: int):
    step = max(1, _BLOCK_BYTES // max(1, k * itemsize))
    for start in range(0, n, step):
        yield slice(start, start + step)


def _finish(out: NDArray[Any], dtype: np.dtype, scalar: bool) -> Any:
    """Round to the output dtype (float16 log-values below -65504 correctly become -inf)."""
    if out.dtype != dtype:
        with np.errstate(over="ignore"):
            out = out.astype(dtype)
    return out[()] if scalar else out


# --------------------------------------------------------------------------- public API
def softmax(z: ArrayLike, axis: int | tuple[int, ...] | None = -1, temperature: float = 1.0, *,
            where: ArrayLike | None = None) -> NDArray[np.floating]:
    r"""Numerically stable softmax along ``axis``.

    .. math::

        p_i = \frac{e^{z_i/T}}{\sum_{j=1}^{K} e^{z_j/T}}
            = \frac{e^{(z_i - m)/T}}{\sum_{j=1}^{K} e^{(z_j - m)/T}},
        \qquad m = \max_j z_j .

    Subtracting the maximum ``m`` changes nothing mathematically (shift
    invariance) but keeps every exponent :math:`\le 0`, so ``exp`` cannot
    overflow and the denominator is at least 1. A row (at ``T = 1``) whose
    maximum already lies in :math:`[0, -\log(\text{tiny}) - \log K - 1]`
    skips the shift: its sum lies in :math:`[1, 1/\text{tiny}]` anyway, and
    the terms :math:`e^{z_j}` are more accurate than :math:`e^{z_j - m}`, since
    ``z - m`` is rounded when the two are far apart. A row with a negative
    maximum is always shifted (unshifted, all its terms could underflow to
    0/0), so it has the shifted formula's error, which grows with the gaps
    between the logits. Rounding: the exponentials
    are summed pairwise, row by row (error :math:`O(u \log K)`, independent
    of the other rows of a batch), and each term is divided by its
    row's sum (error :math:`\le u`; in float64, multiplied by the correctly
    rounded reciprocal of the sum: :math:`\le 2u`, at half the cost).

    NaN, ``+inf``, ``-inf``, empty and 0-d input follow the package's
    :ref:`input policy <input-policy>` (module :mod:`softmax_nb.core`).

    Parameters
    ----------
    z : array_like
        Logits. float16/float32/float64 input keeps its dtype (float16 is
        computed in float32 internally); integers and bools give float64.
    axis : int, tuple of int or None, default -1
        The class axis (or axes, normalised jointly). ``None`` means all
        axes. **scipy's default is** ``axis=None``; torch's ``dim`` is this
        ``axis``.
    temperature : float, default 1.0
        ``T`` in the formula; a finite number > 0 (not a bool). Any such
        ``T`` works, including ones whose reciprocal overflows (the
        :math:`T \to 0` limit is one-hot on the maximum, uniform over ties)
        and large ``T`` with extreme logits.
    where : array_like of bool, optional
        Keyword only. Entries where it is ``False`` are left out (JAX
        semantics): they get probability exactly 0 whatever their value, and
        a slice with no ``True`` entry gives all zeros. Broadcast to ``z``.

    Returns
    -------
    numpy.ndarray
        Probabilities ``p`` with the shape of ``z`` (a numpy scalar for 0-d
        input). ``-inf`` logits give exactly 0. The input is never modified.
        float32 results are batch-invariant: a slice gives the same bits
        alone or inside any batch, along any axis.

    Raises
    ------
    ArgumentTypeError
        If ``where`` is not a boolean array, or ``temperature`` or ``axis``
        has the wrong type (a string, a bool).
    ValueError
        If ``temperature`` is not a finite number > 0, ``axis`` is not an
        integer (or is out of range: :class:`numpy.exceptions.AxisError`, a
        ``ValueError``), the class axis is empty, or a used slice is all
        ``-inf`` or contains ``+inf``/NaN.

    Examples
    --------
    >>> softmax([1.0, 2.0, 3.0]).round(4)
    array([0.09  , 0.2447, 0.6652])
    >>> softmax([1.0, 2.0, 3.0], where=[True, True, False]).round(4)
    array([0.2689, 0.7311, 0.    ])
    """
    t = check_temperature(temperature)
    arr, rows, wrows = _prepare(z, axis, where)
    if rows.k == 0:
        raise ValueError(f"z has an empty class axis (axis={axis}, shape {arr.shape}); at least one class is required")
    z2 = rows.rows
    dead = None
    if wrows is not None:
        z2, dead = _apply_mask(z2, wrows)
    out = np.empty(z2.shape, dtype=z2.dtype)
    m = np.empty((rows.n, 1), dtype=z2.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        for block in _blocks(rows.n, rows.k, z2.itemsize):
            _softmax_rows(z2[block], out[block], t, m[block])
    if not np.isfinite(m).all():  # one test for all rows; diagnose only on failure
        check_max(m)
    if dead is not None and dead.any():
        out[dead] = 0.0
    return _finish(rows.restore(out), arr.dtype, rows.scalar)


def naive_softmax(z: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    r"""The textbook softmax :math:`e^{z_i} / \sum_j e^{z_j}`, *without* stabilisation.

    This is unstable **on purpose**: ``exp`` overflows to ``inf`` for
    :math:`z \gtrsim 709.78` in float64 (88.72 in float32), giving ``inf/inf =
    nan``, and underflows to 0 for very negative ``z``, giving ``0/0 = nan``.
    The overflow chapter uses it to show why :func:`softmax` subtracts the
    maximum. numpy's RuntimeWarnings are left to surface, and NaN/``inf``
    input is *not* checked (it is the one exception to the package's
    :ref:`input policy <input-policy>`).

    Parameters
    ----------
    z : array_like
        Logits; integers and lists become float64.
    axis : int, default -1
        The class axis (scipy's default is ``axis=None``).

    Returns
    -------
    numpy.ndarray
        ``exp(z) / sum(exp(z), axis, keepdims=True)``.
    """
    arr = as_float_array(z)
    axis = check_axis(arr, axis)
    e = np.exp(arr)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z: ArrayLike, axis: int | tuple[int, ...] | None = -1, temperature: float = 1.0, *,
                where: ArrayLike | None = None) -> NDArray[np.floating]:
    r"""Stable logarithm of the softmax.

    .. math::

        \log p_i = s_i - \log\Bigl(1 + \sum_{j \ne j^*} e^{s_j}\Bigr),
        \qquad s_i = \frac{z_i - m}{T}, \quad m = z_{j^*} = \max_j z_j .

    Unlike ``np.log(softmax(z))``, this never takes the log of an underflowed
    probability, so it stays finite (and exact to rounding) for any finite
    logit gap. The sum is formed without its maximal term (which is exactly
    1) and passed to ``log1p``, so the log-probability of a dominant class
    keeps full *relative* accuracy: ``log_softmax([0, -40])[0]`` is
    :math:`-e^{-40} \approx -4.25 \cdot 10^{-18}`, where scipy returns 0.
    ``-inf`` logits give ``-inf``.

    NaN, ``+inf``, ``-inf``, empty and 0-d input follow the package's
    :ref:`input policy <input-policy>` (module :mod:`softmax_nb.core`).

    Parameters
    ----------
    z : array_like
        Logits (dtypes as in :func:`softmax`).
    axis : int, tuple of int or None, default -1
        The class axis or axes. **scipy's default is** ``axis=None``;
        torch's ``dim`` is this ``axis``.
    temperature : float, default 1.0
        ``T``; a finite number > 0 (as in :func:`softmax`).
    where : array_like of bool, optional
        Keyword only; as in :func:`softmax`. Masked entries give ``-inf``,
        and a slice with no ``True`` entry gives all ``-inf``.

    Returns
    -------
    numpy.ndarray
        Log-probabilities with the shape and floating dtype of ``z`` (a
        numpy scalar for 0-d input). In float16, values below -65504 round
        to ``-inf``, the correctly rounded result.

    Raises
    ------
    ValueError
        As :func:`softmax`.

    Examples
    --------
    >>> print(f"{log_softmax([0.0, -40.0])[0]:.6e}")  # -e^-40, where log(1 + e^-40) rounds to 0
    -4.248354e-18
    """
    t = check_temperature(temperature)
    arr, rows, wrows = _prepare(z, axis, where)
    if rows.k == 0:
        raise ValueError(f"z has an empty class axis (axis={axis}, shape {arr.shape}); at least one class is required")
    z2 = rows.rows
    dead = None
    if wrows is not None:
        z2, dead = _apply_mask(z2, wrows)
    out = np.empty(z2.shape, dtype=z2.dtype)
    scratch = None
    for block in _blocks(rows.n, rows.k, z2.itemsize):
        zb = z2[block]
        if scratch is None:
            scratch = np.empty(zb.shape, dtype=z2.dtype)
        _log_softmax_rows(zb, out[block], t, scratch)
    if dead is not None and dead.any():
        out[dead] = -np.inf
    return _finish(rows.restore(out), arr.dtype, rows.scalar)


def _lse_rows(z: NDArray[np.floating], scratch: NDArray[np.floating]) -> NDArray[np.floating]:
    """log-sum-exp of each row (shape ``(rows,)``); all -inf gives -inf, +inf gives +inf."""
    rows = np.arange(z.shape[0])
    idx = np.argmax(z, axis=1)
    m = z[rows, idx]
    if np.isnan(m).any():
        raise ValueError("z contains NaN; logsumexp is undefined there")
    finite = np.isfinite(m)
    m_safe = np.where(finite, m, 0).astype(z.dtype, copy=False)
    e = scratch[:z.shape[0]]
    # z - m only overflows to -inf, whose exp is the correct 0; exp overflows only in rows whose maximum is
    # +inf (shifted by 0 instead), whose result is replaced by +inf below
    with np.errstate(over="ignore"):
        np.subtract(z, m_safe[:, None], out=e)
        np.exp(e, out=e)
    e[rows, idx] = 0.0
    out = m_safe + np.log1p(np.add.reduce(e, axis=1))
    return np.where(finite, out, m).astype(z.dtype, copy=False)


def _lse_weighted_rows(z: NDArray[np.floating], b: NDArray[np.floating]) -> tuple[NDArray[np.floating],
                                                                                   NDArray[np.floating]]:
    """``log|sum(b e^z)|`` and its sign per row; entries with ``b == 0`` are ignored (as in scipy)."""
    used = b != 0
    zu = np.where(used, z, -np.inf).astype(z.dtype, copy=False)
    m = np.max(zu, axis=1, keepdims=True)
    if np.isnan(m).any():
        raise ValueError("z contains NaN where b != 0; logsumexp is undefined there")
    if np.isposinf(m).any():
        raise ValueError("z contains +inf where b != 0; with weights b the sum (and its sign) is undefined there")
    m_safe = np.where(np.isfinite(m), m, 0).astype(z.dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(zu - m_safe)
        s = np.add.reduce(b * e, axis=1)
    log_scale = np.zeros_like(s)
    big = ~np.isfinite(s)
    if big.any():  # rare: a sum beyond the range (|b| near the maximum); redo those rows with b scaled by 2^-k
        bb = b[big]
        k = np.frexp(np.max(np.abs(bb), axis=1, initial=0, where=used[big]))[1] - 1
        s[big] = np.add.reduce(np.ldexp(bb, -k[:, None]) * e[big], axis=1)  # |b 2^-k| < 2: no overflow
        log_scale[big] = np.log(np.ldexp(np.ones_like(s[big]), k))  # log 2^k, correctly rounded (k < 1024)
    sign = np.sign(s)
    with np.errstate(divide="ignore"):  # a zero sum has log -inf and sign 0, as in scipy
        out = m_safe[:, 0] + (log_scale + np.log(np.abs(s)))
    return out.astype(z.dtype, copy=False), sign.astype(z.dtype, copy=False)


def logsumexp(z: ArrayLike, axis: int | tuple[int, ...] | None = -1, keepdims: bool = False, *,
              b: ArrayLike | None = None, return_sign: bool = False,
              where: ArrayLike | None = None) -> Any:
    r"""Stable :math:`\log \sum_j b_j e^{z_j}` along ``axis`` (``b = 1`` by default).

    .. math::

        \operatorname{LSE}(z) = m + \log\Bigl(1 + \sum_{j \ne j^*} e^{z_j - m}\Bigr),
        \qquad m = z_{j^*} = \max_j z_j .

    The shifted exponents are :math:`\le 0` and the maximal one is exactly 0,
    so the sum lies in :math:`[1, K]`: no overflow and no ``log(0)``. The sum
    of the other terms goes through ``log1p``, which keeps full relative
    accuracy when one logit dominates. Its gradient is :func:`softmax`.

    With weights ``b`` (scipy's ``b=``) the result is
    :math:`\log\lvert\sum_j b_j e^{z_j}\rvert`, computed as
    :math:`m + \log\lvert\sum_j b_j e^{z_j - m}\rvert` with ``m`` the
    maximum over the entries with :math:`b_j \ne 0` (the others are ignored,
    as in scipy); ``return_sign=True`` also returns the sign of the sum.

    Following the package's :ref:`input policy <input-policy>`: a slice that
    is all ``-inf``, has no unmasked entry, or is empty gives ``-inf`` (the
    log of an empty sum, as in scipy); a slice containing ``+inf`` gives
    ``+inf``; NaN raises :class:`ValueError`.

    Parameters
    ----------
    z : array_like
        Logits (dtypes as in :func:`softmax`; the result has the floating
        dtype of ``z``).
    axis : int, tuple of int or None, default -1
        The axis or axes to reduce. **scipy's default is** ``axis=None``.
    keepdims : bool, default False
        Keep the reduced axes with length 1 (handy for broadcasting).
    b : array_like, optional
        Keyword only. Finite real weights broadcastable to ``z``, cast to
        the working dtype of ``z`` (float32 for float16 and float32 logits);
        weights beyond that dtype's range are refused. A weighted sum beyond
        the range is recomputed with ``b`` scaled by a power of 2, so the
        result is finite whenever the exact one is (``logsumexp([0., 0.],
        b=1e308)`` is :math:`\log(2 \cdot 10^{308}) \approx 709.89`). For int64
        logits the exact integer shift uses the maximum over the entries
        with :math:`b_j \ne 0`.
    return_sign : bool, default False
        Keyword only. Also return the sign (1, -1 or 0) of the weighted sum.
        Without it, a negative weighted sum raises :class:`ValueError` (scipy
        returns NaN there).
    where : array_like of bool, optional
        Keyword only. Only entries where it is ``True`` are summed (JAX
        semantics).

    Returns
    -------
    numpy.ndarray or numpy scalar
        The reduced values (a numpy scalar for a full reduction without
        ``keepdims``, as in scipy); with ``return_sign``, the pair
        ``(lse, sign)``.

    Raises
    ------
    ArgumentTypeError
        If ``b`` is not numeric or ``where`` is not boolean (strings, objects).
    ValueError
        If NaN is summed (or ``+inf`` with weights), ``b`` holds NaN, ``±inf``
        or values beyond the working dtype's range, ``b`` or ``where`` does
        not broadcast to ``z``, ``axis`` is out of range, or a weighted sum is
        negative without ``return_sign``.

    Examples
    --------
    >>> float(logsumexp([0.0, 0.0]))  # log 2
    0.6931471805599453
    >>> float(logsumexp([]))
    -inf
    >>> lse, sign = logsumexp([1.0, 2.0], b=[1.0, -1.0], return_sign=True)
    >>> float(sign), round(float(lse), 6)  # log(e^2 - e)
    (-1.0, 1.541325)
    """
    keepdims = check_bool(keepdims, "keepdims")
    return_sign = check_bool(return_sign, "return_sign")
    arr, rows, wrows = _prepare(z, axis, where)
    z2 = rows.rows
    if b is not None:
        bw = as_float_array(b, "b")
        try:
            bw = np.broadcast_to(bw, arr.shape)
        except ValueError:
            raise ValueError(f"b must be broadcastable to the shape of z {arr.shape}, got shape {bw.shape}") from None
        if not np.isfinite(bw).all():
            raise ValueError("b must contain only finite numbers, got NaN or ±inf")
        with np.errstate(over="ignore"):  # the documented cast to the work dtype; checked next
            b2 = _Rows(bw, rows.axes, z2.dtype).rows
        if not np.isfinite(b2).all():
            raise ValueError(f"b has values beyond the range of {z2.dtype} (|b| > {np.finfo(z2.dtype).max:.4g}), "
                             f"the working dtype of z ({arr.dtype}); pass float64 logits for such weights")
        if rows.offset is not None and rows.k and rows.n:
            # int64 logits: shift exactly by the maximum over the entries that count (b != 0, where=True)
            used = b2 != 0 if wrows is None else (b2 != 0) & wrows
            z2, rows.offset = _int_shifted(np.asarray(z), rows, used)
    if wrows is not None:
        z2 = np.where(wrows, z2, -np.inf).astype(z2.dtype, copy=False)
    if b is not None:
        if rows.k == 0:
            out, sign = np.full(rows.n, -np.inf, z2.dtype), np.zeros(rows.n, z2.dtype)
        else:
            out, sign = _lse_weighted_rows(z2, b2)
        if not return_sign and (sign < 0).any():
            raise ValueError("the weighted sum sum(b * exp(z)) is negative in some slice, so its log is not real; "
                             "pass return_sign=True to get log|sum| and the sign")
    elif rows.k == 0:
        out = np.full(rows.n, -np.inf, z2.dtype)
        sign = np.zeros(rows.n, z2.dtype)
    else:
        out = np.empty(rows.n, dtype=z2.dtype)
        scratch = None
        for block in _blocks(rows.n, rows.k, z2.itemsize):
            zb = z2[block]
            if scratch is None:
                scratch = np.empty(zb.shape, dtype=z2.dtype)
            out[block] = _lse_rows(zb, scratch)
        sign = np.where(np.isneginf(out), 0, 1).astype(z2.dtype)
    if rows.offset is not None:  # int64 logits were shifted exactly by their maxima
        out = out + rows.offset
    res = _finish(rows.restore_reduced(out, keepdims), arr.dtype, False)
    if isinstance(res, np.ndarray) and res.ndim == 0:
        res = res[()]
    if not return_sign:
        return res
    sgn = _finish(rows.restore_reduced(sign, keepdims), arr.dtype, False)
    return res, (sgn[()] if isinstance(sgn, np.ndarray) and sgn.ndim == 0 else sgn)


def sigmoid(z: ArrayLike) -> NDArray[np.floating]:
    r"""Stable logistic sigmoid :math:`\sigma(z) = 1 / (1 + e^{-z})`, elementwise (scipy's ``expit``).

    Both branches are written with :math:`e^{-|z|} \le 1`, which cannot
    overflow:

    .. math::

        \sigma(z) = \begin{cases}
            \dfrac{1}{1 + e^{-|z|}} & z \ge 0, \\[1ex]
            \dfrac{e^{-|z|}}{1 + e^{-|z|}} & z < 0.
        \end{cases}

    It equals ``softmax([z, 0])[0]``. No RuntimeWarning is raised even at
    ``z = ±1000`` in float64 or ``±100`` in float32. ``±inf`` give exactly
    1 and 0 (the limits); NaN raises :class:`ValueError` (the package's
    :ref:`input policy <input-policy>`).

    Parameters
    ----------
    z : array_like
        Logits of any shape. float16/32/64 keep their dtype (float16 is
        computed in float32 and rounded once, like :func:`softmax`: at most
        1 ulp of float16 error); integers and bools give float64.

    Returns
    -------
    numpy.ndarray
        Values in [0, 1] with the shape of ``z`` (a numpy scalar for 0-d
        input, as scipy's ``expit``).
    """
    arr = as_float_array(z)
    if np.isnan(arr).any():
        raise ValueError("z contains NaN; the sigmoid is undefined there")
    work = arr.astype(_work_dtype(arr), copy=False)
    e = np.exp(-np.abs(work))
    out = np.where(work >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return _finish(out, arr.dtype, arr.ndim == 0)


def softmax_jacobian(z: ArrayLike) -> NDArray[np.floating]:
    r"""The Jacobian :math:`\partial p_i / \partial z_j` of softmax for a 1-D ``z``.

    .. math::

        J = \operatorname{diag}(p) - p\, p^\top,
        \qquad J_{ij} = p_i(\delta_{ij} - p_j).

    ``J`` is symmetric, each row sums to 0 (shift invariance) and it is
    positive semi-definite.

    Parameters
    ----------
    z : array_like
        A 1-D vector of K logits.

    Returns
    -------
    numpy.ndarray
        A (K, K) matrix.
    """
    arr = as_float_array(z)
    if arr.ndim != 1:
        raise ValueError(f"z must be 1-D (a single vector of K logits), got shape {arr.shape}")
    p = softmax(arr)
    return np.diag(p) - np.outer(p, p)
