r"""Entropy and Kullback-Leibler divergence of discrete distributions.

Logarithms are natural (results in nats) and :math:`0 \log 0 = 0`, the limit
of :math:`p \log p` as :math:`p \to 0`. In line with the package's input
policy (:mod:`softmax_nb.core`), NaN and infinite probabilities raise
:class:`ValueError` rather than propagate. Together with
:func:`~softmax_nb.losses.cross_entropy` they satisfy
:math:`H(y, p) = H(y) + \mathrm{KL}(y \,\|\, p)`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_axis, check_probabilities, check_same_shape, work_dtype

__all__ = ["entropy", "kl_divergence"]


def _xlogy(x: NDArray[np.floating], y: NDArray[np.floating]) -> NDArray[np.floating]:
    """``x * log(y)`` with ``0 * log(anything) = 0``; ``log(0) = -inf`` without a warning."""
    with np.errstate(divide="ignore"):
        log_y = np.log(np.where(x > 0, y, 1.0))
    return np.where(x > 0, x * log_y, 0.0)


def entropy(p: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    r"""Shannon entropy along ``axis``, in nats.

    .. math::

        H(p) = -\sum_{i=1}^{K} p_i \log p_i, \qquad 0 \log 0 = 0 .

    It lies in :math:`[0, \log K]`: 0 for a one-hot vector, :math:`\log K`
    for the uniform distribution. float16 input is computed in float32 and
    rounded to float16 once (the package's half-precision rule).

    Parameters
    ----------
    p : array_like
        Probabilities in [0, 1]. Slices are *not* renormalised (unlike
        :func:`scipy.stats.entropy`); pass distributions that sum to 1.
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        The entropies, with ``axis`` removed.

    Raises
    ------
    ValueError
        If ``p`` has entries outside [0, 1], NaN or inf, or an empty class axis.
    """
    arr = as_float_array(p, "p")
    axis = check_axis(arr, axis, "p")
    check_probabilities(arr, "p")
    work = arr.astype(work_dtype(arr.dtype), copy=False)
    return (-np.sum(_xlogy(work, work), axis=axis)).astype(arr.dtype, copy=False)


def kl_divergence(p: ArrayLike, q: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p \,\|\, q)` along ``axis``, in nats.

    .. math::

        \mathrm{KL}(p \,\|\, q) = \sum_{i=1}^{K} p_i \log \frac{p_i}{q_i},
        \qquad 0 \log \frac{0}{q} = 0 .

    It is :math:`\ge 0`, 0 only when :math:`p = q`, and ``inf`` when some
    :math:`q_i = 0` while :math:`p_i > 0`. It is not symmetric. The result
    has the dtype :func:`numpy.result_type` gives ``p`` and ``q`` (float64 for
    integers); float16 is computed in float32 and rounded once (the
    package's half-precision rule).

    Parameters
    ----------
    p, q : array_like
        Probabilities in [0, 1] of the same shape (not renormalised).
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        The divergences, with ``axis`` removed.

    Raises
    ------
    ValueError
        If the shapes differ, or an entry is outside [0, 1], NaN or inf.
    """
    p_arr = as_float_array(p, "p")
    q_arr = as_float_array(q, "q")
    check_same_shape(p_arr, q_arr, "p", "q")
    axis = check_axis(p_arr, axis, "p")
    check_probabilities(p_arr, "p")
    check_probabilities(q_arr, "q")
    out = np.result_type(p_arr, q_arr)
    p_w = p_arr.astype(work_dtype(out), copy=False)
    q_w = q_arr.astype(work_dtype(out), copy=False)
    return np.sum(_xlogy(p_w, p_w) - _xlogy(p_w, q_w), axis=axis).astype(out, copy=False)
