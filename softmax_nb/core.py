r"""Softmax and its close relatives, computed stably with numpy.

Notation used throughout the book: ``z`` are logits (scores), ``p`` are
probabilities, ``K`` is the number of classes and ``T`` the temperature.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_axis, check_max, check_temperature

__all__ = ["softmax", "naive_softmax", "log_softmax", "logsumexp", "sigmoid", "softmax_jacobian"]

# Rows are processed in blocks of about this many bytes, so that the five
# passes of a softmax (max, subtract, exp, sum, divide) run in the L2 cache and
# main memory is read once and written once.
_BLOCK_BYTES = 1 << 19


def _work_dtype(arr: NDArray[np.floating]) -> np.dtype:
    """float16 is computed in float32 (then rounded back); other floats as they are."""
    return np.dtype(np.float32) if arr.dtype == np.float16 else arr.dtype


def _softmax_into(z: NDArray[np.floating], out: NDArray[np.floating], axis: int, inv_t: float,
                  ones: NDArray[np.floating] | None = None) -> None:
    """Write softmax(z * inv_t) along ``axis`` into ``out`` (same shape) in place.

    ``ones`` (a vector of K ones) is given only for 2-D blocks with ``axis=1``.
    """
    m = np.max(z, axis=axis, keepdims=True)
    if not np.isfinite(m).all():  # one cheap test per block; diagnose only on failure
        check_max(m)
    # z - m <= 0; it can only overflow to -inf (e.g. -1e308 - 1e308), whose
    # exp is the correct 0, so that overflow is not worth a warning.
    with np.errstate(over="ignore"):
        np.subtract(z, m, out=out)
        if inv_t != 1.0:
            np.multiply(out, inv_t, out=out)
    np.exp(out, out=out)
    if ones is not None:
        # float32 rows: a BLAS matrix-vector product sums ~3x faster than
        # np.sum along the last axis (relative error ~2 ulp instead of ~1).
        total = (out @ ones)[:, None]
    else:
        total = np.sum(out, axis=axis, keepdims=True)
    # One reciprocal per slice, then a multiply: cheaper than K divisions.
    np.multiply(out, 1.0 / total, out=out)


def _log_sum_shifted(shifted: NDArray[np.floating], axis: int) -> NDArray[np.floating]:
    r"""``log(sum(exp(shifted)))`` for shifted values whose maximum is exactly 0.

    The maximal term contributes exactly 1, so the sum is :math:`1 + r` with
    :math:`r = \sum_{j \ne j^*} e^{s_j}`, and :math:`\log(1 + r)` is computed
    with ``log1p``. This keeps full relative accuracy when ``r`` is tiny (one
    dominant logit), where ``log(1 + r)`` would lose digits (Blanchard,
    Higham and Higham, 2021).
    """
    e = np.exp(shifted)
    np.put_along_axis(e, np.argmax(shifted, axis=axis, keepdims=True), 0.0, axis=axis)
    return np.log1p(np.sum(e, axis=axis, keepdims=True))


def softmax(z: ArrayLike, axis: int = -1, temperature: float = 1.0) -> NDArray[np.floating]:
    r"""Numerically stable softmax along ``axis``.

    .. math::

        p_i = \frac{e^{z_i/T}}{\sum_{j=1}^{K} e^{z_j/T}}
            = \frac{e^{(z_i - m)/T}}{\sum_{j=1}^{K} e^{(z_j - m)/T}},
        \qquad m = \max_j z_j .

    Subtracting the maximum ``m`` changes nothing mathematically (shift
    invariance) but keeps every exponent :math:`\le 0`, so ``exp`` cannot
    overflow and the denominator is at least 1.

    Parameters
    ----------
    z : array_like
        Logits. float16/float32/float64 input keeps its dtype (float16 is
        computed in float32 internally); integers and lists give float64.
    axis : int, default -1
        The class axis, which is normalised to sum to 1.
    temperature : float, default 1.0
        ``T`` in the formula; must be finite and > 0.

    Returns
    -------
    numpy.ndarray
        Probabilities ``p`` with the shape of ``z``. ``-inf`` logits give
        exactly 0. The input is never modified.

    Raises
    ------
    ValueError
        If ``temperature`` is not a finite number > 0, the class axis is
        empty, or a slice is all ``-inf`` or contains ``+inf``/NaN.

    Examples
    --------
    >>> softmax([1.0, 2.0, 3.0]).round(4)
    array([0.09  , 0.2447, 0.6652])
    """
    arr = as_float_array(z)
    axis = check_axis(arr, axis)
    inv_t = 1.0 / check_temperature(temperature)
    work = arr.astype(_work_dtype(arr), copy=False)
    out = np.empty(work.shape, dtype=work.dtype)
    rows_per_block = _BLOCK_BYTES // max(1, work.shape[-1] * out.itemsize)
    if axis == work.ndim - 1 and work.ndim >= 2 and work.flags.c_contiguous and rows_per_block >= 1:
        z2 = work.reshape(-1, work.shape[-1])
        o2 = out.reshape(z2.shape)
        ones = np.ones(z2.shape[1], dtype=out.dtype) if out.dtype == np.float32 else None
        for start in range(0, z2.shape[0], rows_per_block):
            block = slice(start, start + rows_per_block)
            _softmax_into(z2[block], o2[block], 1, inv_t, ones)
    else:
        _softmax_into(work, out, axis, inv_t)
    return out.astype(arr.dtype, copy=False)


def naive_softmax(z: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    r"""The textbook softmax :math:`e^{z_i} / \sum_j e^{z_j}`, *without* stabilisation.

    This is unstable **on purpose**: ``exp`` overflows to ``inf`` for
    :math:`z \gtrsim 709.78` in float64 (88.72 in float32), giving ``inf/inf =
    nan``, and underflows to 0 for very negative ``z``, giving ``0/0 = nan``.
    The overflow chapter uses it to show why :func:`softmax` subtracts the
    maximum. numpy's RuntimeWarnings are left to surface.

    Parameters
    ----------
    z : array_like
        Logits; integers and lists become float64.
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        ``exp(z) / sum(exp(z), axis, keepdims=True)``.
    """
    arr = as_float_array(z)
    axis = check_axis(arr, axis)
    e = np.exp(arr)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z: ArrayLike, axis: int = -1, temperature: float = 1.0) -> NDArray[np.floating]:
    r"""Stable logarithm of the softmax.

    .. math::

        \log p_i = \frac{z_i - m}{T} - \log \sum_{j=1}^{K} e^{(z_j - m)/T},
        \qquad m = \max_j z_j .

    Unlike ``np.log(softmax(z))``, this never takes the log of an underflowed
    probability, so it stays finite (and exact to rounding) for any finite
    logit gap. ``-inf`` logits give ``-inf``.

    Parameters
    ----------
    z : array_like
        Logits.
    axis : int, default -1
        The class axis.
    temperature : float, default 1.0
        ``T``; must be finite and > 0.

    Returns
    -------
    numpy.ndarray
        Log-probabilities with the shape and floating dtype of ``z``.
    """
    arr = as_float_array(z)
    axis = check_axis(arr, axis)
    inv_t = 1.0 / check_temperature(temperature)
    work = arr.astype(_work_dtype(arr), copy=False)
    m = np.max(work, axis=axis, keepdims=True)
    check_max(m)
    with np.errstate(over="ignore"):  # only ever overflows to -inf, which is right
        shifted = np.subtract(work, m)
        if inv_t != 1.0:
            np.multiply(shifted, inv_t, out=shifted)
    np.subtract(shifted, _log_sum_shifted(shifted, axis), out=shifted)
    return shifted.astype(arr.dtype, copy=False)


def logsumexp(z: ArrayLike, axis: int = -1, keepdims: bool = False) -> NDArray[np.floating]:
    r"""Stable :math:`\log \sum_j e^{z_j}` along ``axis``.

    .. math::

        \operatorname{LSE}(z) = m + \log \sum_{j=1}^{K} e^{z_j - m},
        \qquad m = \max_j z_j .

    The shifted exponents are :math:`\le 0` and one of them is exactly 0, so
    the sum lies in :math:`[1, K]`: no overflow and no ``log(0)``. The sum is
    formed as ``log1p`` of the other terms, which keeps full relative accuracy
    when one logit dominates. A slice
    that is all ``-inf`` gives ``-inf`` (the log of an empty sum); a slice
    containing ``+inf`` gives ``+inf``. Its gradient is :func:`softmax`.

    Parameters
    ----------
    z : array_like
        Logits.
    axis : int, default -1
        The axis to reduce.
    keepdims : bool, default False
        Keep the reduced axis with length 1 (handy for broadcasting).

    Returns
    -------
    numpy.ndarray
        The reduced array (a 0-d array for 1-D input without ``keepdims``).
    """
    arr = as_float_array(z)
    axis = check_axis(arr, axis)
    work = arr.astype(_work_dtype(arr), copy=False)
    m = np.max(work, axis=axis, keepdims=True)
    finite = np.isfinite(m)
    m_safe = np.where(finite, m, 0).astype(work.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        out = m_safe + _log_sum_shifted(work - m_safe, axis)
    # All -inf: the log of an empty sum. Any +inf: +inf. NaN stays NaN.
    out = np.where(finite, out, m).astype(arr.dtype, copy=False)
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out


def sigmoid(z: ArrayLike) -> NDArray[np.floating]:
    r"""Stable logistic sigmoid :math:`\sigma(z) = 1 / (1 + e^{-z})`, elementwise.

    Both branches are written with :math:`e^{-|z|} \le 1`, which cannot
    overflow:

    .. math::

        \sigma(z) = \begin{cases}
            \dfrac{1}{1 + e^{-|z|}} & z \ge 0, \\[1ex]
            \dfrac{e^{-|z|}}{1 + e^{-|z|}} & z < 0.
        \end{cases}

    It equals ``softmax([z, 0])[0]``. No RuntimeWarning is raised even at
    ``z = ±1000`` in float64 or ``±100`` in float32.

    Parameters
    ----------
    z : array_like
        Logits of any shape; floating dtypes are kept.

    Returns
    -------
    numpy.ndarray
        Values in [0, 1] with the shape of ``z``.
    """
    arr = as_float_array(z)
    e = np.exp(-np.abs(arr))
    out = np.where(arr >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out.astype(arr.dtype, copy=False)


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
