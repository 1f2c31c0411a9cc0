r"""Alternatives to softmax: sparse probabilities and differentiable sampling.

* :func:`sparsemax` (Martins and Astudillo, 2016) is the Euclidean projection
  of the logits onto the probability simplex. Unlike softmax it gives exact
  zeros to classes whose logit is far enough below the rest.
* :func:`gumbel_softmax` (Jang et al., 2017; Maddison et al., 2017) perturbs
  the logits with Gumbel noise and applies a tempered softmax: a relaxed,
  differentiable sample of a categorical variable whose argmax is an exact
  sample from :math:`\operatorname{softmax}(z)` (the Gumbel-max trick).

NaN, ``+inf`` and ``-inf`` follow the package's input policy (module
:mod:`softmax_nb.core`): NaN and ``+inf`` raise :class:`ValueError`, ``-inf``
entries get probability exactly 0, an all ``-inf`` slice raises.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_axis, check_bool, check_generator, check_max, check_temperature
from .core import _work_dtype, softmax

__all__ = ["sparsemax", "gumbel_softmax", "one_hot_argmax"]


def sparsemax(z: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    r"""Sparsemax: the Euclidean projection of ``z`` onto the probability simplex.

    .. math::

        \operatorname{sparsemax}(z) = \operatorname*{arg\,min}_{p \in \Delta^{K-1}} \lVert p - z \rVert^2
        = \max(z - \tau, 0),

    where the threshold :math:`\tau` makes the result sum to 1. With the
    logits sorted decreasingly, :math:`z_{(1)} \ge \dots \ge z_{(K)}`, the
    support size is :math:`k(z) = \max\{k : 1 + k z_{(k)} > \sum_{j \le k} z_{(j)}\}`
    and :math:`\tau = (\sum_{j \le k(z)} z_{(j)} - 1)/k(z)`
    (Martins and Astudillo, 2016). Cost: one sort, :math:`O(K \log K)`.

    Like softmax it is shift invariant, and for two classes
    ``sparsemax([x, 0])[0] == clip((x + 1) / 2, 0, 1)`` (a "hard sigmoid").

    The cumulative sums are formed in float64 for float16/float32 input (a
    sequential float32 ``cumsum`` over :math:`10^6` logits loses about
    :math:`3 \cdot 10^{-4}` of the normalisation); the result is rounded to the
    input dtype at the end. NaN, ``+inf`` and ``-inf`` follow the package's
    input policy (:mod:`softmax_nb.core`).

    Parameters
    ----------
    z : array_like
        Logits. float16/32/64 keep their dtype; ``-inf`` entries get exactly 0.
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        Probabilities with the shape of ``z``: non-negative, summing to 1,
        with exact zeros outside the support.

    Raises
    ------
    ValueError
        If the class axis is empty or a slice is all ``-inf`` or contains
        ``+inf``/NaN.

    Examples
    --------
    >>> sparsemax([1.0, 0.5, -1.0])
    array([0.75, 0.25, 0.  ])
    """
    arr = as_float_array(z)
    axis = check_axis(arr, axis)
    work = np.moveaxis(arr.astype(_work_dtype(arr), copy=False), axis, -1)
    m = np.max(work, axis=-1, keepdims=True)
    check_max(m)
    with np.errstate(over="ignore"):  # shifted logits only overflow to -inf: outside the support
        shifted = work - m  # shift invariance: max is 0, so nothing below overflows upwards
        zs = -np.sort(-shifted, axis=-1)  # decreasing
        acc = np.promote_types(work.dtype, np.float64)  # sequential sums: in float64 at least
        cums = np.cumsum(zs, axis=-1, dtype=acc)
        k = np.arange(1, work.shape[-1] + 1, dtype=acc)
        support = 1 + k * zs > cums  # true for a prefix of the sorted logits (always for k = 1)
    k_z = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cums, k_z - 1, axis=-1) - 1) / k_z.astype(acc)
    with np.errstate(over="ignore"):
        p = np.maximum(shifted - tau.astype(work.dtype), 0)
    return np.moveaxis(p, -1, axis).astype(arr.dtype, copy=False)


def one_hot_argmax(p: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    r"""One-hot encoding of the argmax along ``axis``: :math:`h_i = [\,i = \arg\max_j p_j\,]`.

    Ties go to the first maximum, as in :func:`numpy.argmax`. ``+inf`` and
    ``-inf`` are ordinary values here; NaN raises :class:`ValueError` (the
    package's input policy; :func:`numpy.argmax` would pick the first NaN).

    Parameters
    ----------
    p : array_like
        Scores or probabilities.
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        0/1 values with the shape and floating dtype of ``p``; exactly one 1
        per slice.
    """
    arr = as_float_array(p, "p")
    axis = check_axis(arr, axis, "p")
    if np.isnan(arr).any():
        raise ValueError("p contains NaN; its argmax is undefined")
    out = np.zeros_like(arr)
    np.put_along_axis(out, np.expand_dims(np.argmax(arr, axis=axis), axis), 1, axis=axis)
    return out


def gumbel_softmax(logits: ArrayLike, temperature: float, rng: np.random.Generator, hard: bool = False,
                   axis: int = -1) -> NDArray[np.floating]:
    r"""A relaxed categorical sample: softmax of Gumbel-perturbed logits at temperature ``T``.

    .. math::

        y = \operatorname{softmax}\!\left(\frac{z + g}{T}\right), \qquad
        g_i = -\log(-\log U_i), \quad U_i \sim \mathcal{U}(0, 1) \text{ i.i.d.}

    (Jang et al., 2017; Maddison et al., 2017). The noise comes from
    ``rng.gumbel``, which draws ``U`` from the open interval, so ``log(0)``
    never occurs. By the Gumbel-max trick :math:`\arg\max_i (z_i + g_i)` is
    distributed exactly as :math:`\operatorname{softmax}(z)`, whatever ``T``;
    as :math:`T \to 0` the soft sample ``y`` approaches that one-hot vector,
    and as :math:`T \to \infty` it approaches uniform.

    **Straight-through estimator.** ``hard=True`` returns the one-hot vector
    :math:`h` of :math:`\arg\max_i (z_i + g_i) = \arg\max_i y_i` (taken on
    ``z + g``, so that rounding in ``y`` cannot create ties). In an autograd
    framework the straight-through variant computes
    ``h - stop_gradient(y) + y``: the forward pass uses the hard sample, the
    backward pass the gradient of the soft one. numpy has no autograd, so
    only the forward values are returned. The same generator state gives the
    same noise for ``hard=True`` and ``hard=False``, so ``h`` is the one-hot
    of the soft sample drawn from that state.

    Parameters
    ----------
    logits : array_like
        Unnormalised log-probabilities ``z``; ``-inf`` marks impossible classes.
    temperature : float
        ``T``; a finite number > 0 (not a bool). Tiny ``T`` whose reciprocal
        overflows gives the hard limit, not NaN (see :func:`~softmax_nb.core.softmax`).
    rng : numpy.random.Generator
        Source of the noise, e.g. ``np.random.default_rng(seed)``: the same
        seed gives the same sample. It is advanced exactly as by
        ``rng.gumbel(size=logits.shape)`` (one variate per entry; numpy
        redraws the rare uniform equal to 1, probability :math:`2^{-53}`).
    hard : bool, default False
        Return the one-hot argmax instead of the soft sample.
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        Shape and floating dtype of ``logits``: rows on the simplex (soft) or
        one-hot rows (hard).

    Raises
    ------
    ValueError
        If ``temperature`` is not a finite number > 0, ``rng`` is not a
        :class:`numpy.random.Generator`, the class axis is empty, or a slice
        is all ``-inf`` or contains ``+inf``/NaN (the package's input
        policy, :mod:`softmax_nb.core`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> gumbel_softmax([0.0, 0.0, 5.0], 0.5, rng, hard=True)
    array([0., 0., 1.])
    """
    arr = as_float_array(logits, "logits")
    axis = check_axis(arr, axis, "logits")
    t = check_temperature(temperature)
    rng = check_generator(rng)
    hard = check_bool(hard, "hard")
    check_max(np.max(arr, axis=axis), "logits")
    work = arr.astype(_work_dtype(arr), copy=False)
    perturbed = work + rng.gumbel(size=work.shape).astype(work.dtype, copy=False)
    y = one_hot_argmax(perturbed, axis=axis) if hard else softmax(perturbed, axis=axis, temperature=t)
    return y.astype(arr.dtype, copy=False)
