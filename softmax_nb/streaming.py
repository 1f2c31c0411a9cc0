r"""Softmax in one streaming pass: the running (max, sum) state and its merge rule.

The stable :func:`~softmax_nb.core.softmax` reads its input three times
(max, sum, normalise). Milakov and Gimelshein (2018) fuse the first two: keep a
running maximum :math:`m` and a running sum :math:`d` of :math:`e^{x_j - m}`,
and when a new block raises the maximum, rescale the old sum by
:math:`e^{m_{\text{old}} - m_{\text{new}}}`:

.. math::

    m' = \max(m, \max_{j \in B} x_j), \qquad
    d' = d\, e^{m - m'} + \sum_{j \in B} e^{x_j - m'} .

After the last block :math:`d = \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`,
so :math:`p_i = e^{x_i - m}/d` and :math:`\operatorname{LSE}(x) = m + \log d`.
Two partial states merge the same way, which makes the computation splittable
across chunks or machines.

Rescaling an *unnormalised* output accumulator with the same factor and
dividing by :math:`d` once at the end gives attention without storing the
score matrix (:mod:`softmax_nb.attention`). Chunking the keys with a running
maximum in this way is the memory-efficient attention of Rabe and Staats
(2021); the deferred division is the formulation of FlashAttention-2 (Dao,
2023). FlashAttention-1 (Dao et al., 2022) instead keeps the output
*normalised*, dividing by the running sum at every step.

Rounding: every rescaling multiplies :math:`d` by a rounded factor, so the
relative error of :math:`d` grows with the number of blocks in which the
maximum changes. For 20 000 steadily rising float32 logits, ``block_size=1``
gave about 180 ulp against 18 ulp for the two-pass
:func:`~softmax_nb.core.softmax` with numpy's AVX2 ``exp`` kernels, but 18 ulp
without them: how fast the error grows depends on the rounding of ``exp``.
Blocks of a few hundred columns make the rescalings rare and the error close
to the two-pass one on every machine.

NaN, ``+inf`` and ``-inf`` follow the package's input policy (module
:mod:`softmax_nb.core`): NaN and ``+inf`` raise, ``-inf`` entries are masked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_axis, check_max, check_no_nan_or_posinf, check_positive_int
from .core import _work_dtype, softmax  # noqa: F401  (softmax: re-exported for older imports)

__all__ = ["online_softmax", "SoftmaxAccumulator"]

_Stat = Union[NDArray[np.floating], float]


def _rescale(m_old: _Stat, m_new: _Stat) -> NDArray[np.floating]:
    r"""The factor :math:`e^{m_{\text{old}} - m_{\text{new}}}`, with :math:`e^{-\infty - (-\infty)} := 1`.

    Where both maxima are ``-inf`` nothing has been seen yet and the sum being
    rescaled is 0, so any finite factor is right; 1 avoids ``nan``.
    """
    dtype = np.result_type(m_old, m_new)  # before asarray: a Python float must not promote float32
    m_old, m_new = np.asarray(m_old), np.asarray(m_new)
    diff = np.zeros(np.broadcast_shapes(m_old.shape, m_new.shape), dtype=dtype)
    with np.errstate(over="ignore"):  # -1e308 - 1e308 = -inf, whose exp is the correct 0
        np.subtract(m_old, m_new, out=diff, where=m_old != m_new)
    return np.exp(diff)


def _finite_or_zero(m: NDArray[np.floating]) -> NDArray[np.floating]:
    """Replace ``-inf`` maxima by 0, so that ``x - m`` is ``-inf`` (not ``nan``) for ``x = -inf``."""
    return np.where(np.isfinite(m), m, 0).astype(m.dtype, copy=False)


@dataclass(eq=False)
class SoftmaxAccumulator:
    r"""Running maximum and rescaled sum of a softmax over blocks of columns.

    For the columns :math:`x_j` seen so far (per row) it holds

    .. math::

        m = \max_j x_j, \qquad d = \sum_j e^{x_j - m},

    so that :math:`\operatorname{LSE}(x) = m + \log d` and
    :math:`p_i = e^{x_i - m} / d`. A fresh accumulator has :math:`m = -\infty`,
    :math:`d = 0` (the empty sum) and takes its row shape from the first
    block.

    Attributes
    ----------
    m : numpy.ndarray or float
        Running maximum, one per row: a scalar for 1-D blocks, shape
        ``block.shape[:-1]`` otherwise.
    d : numpy.ndarray or float
        Running sum :math:`\sum_j e^{x_j - m}`, same shape as ``m``.

    Examples
    --------
    >>> acc = SoftmaxAccumulator().update([1.0, 2.0]).update([3.0])
    >>> round(float(acc.logsumexp), 12)  # log(e + e^2 + e^3)
    3.407605964444
    """

    m: _Stat = -math.inf
    d: _Stat = 0.0

    def __post_init__(self) -> None:
        m, d = np.asarray(self.m), np.asarray(self.d)
        if m.dtype.kind not in "fiu" or d.dtype.kind not in "fiu":
            raise ValueError(f"m and d must be real numbers or arrays, got dtypes {m.dtype} and {d.dtype}")
        if m.shape != d.shape:
            raise ValueError(f"m and d must have the same shape, got {m.shape} and {d.shape}")
        check_no_nan_or_posinf(m, "m")
        empty = np.isneginf(m)
        if not (np.isfinite(d).all() and np.all(d >= 0)):
            raise ValueError("d must be finite and >= 0 (it is a sum of exponentials)")
        if np.any(empty & (d != 0)) or np.any(~empty & (d == 0)):
            raise ValueError("inconsistent state: m = -inf (nothing seen) requires d = 0, "
                             "and a finite m requires d > 0 (the maximal term alone contributes 1)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SoftmaxAccumulator):
            return NotImplemented
        return bool(np.array_equal(self.m, other.m) and np.array_equal(self.d, other.d))

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _is_empty_scalar(self) -> bool:
        return np.ndim(self.m) == 0 and not self.d

    def _check_rows(self, rows: tuple[int, ...], what: str) -> None:
        if np.shape(self.m) != rows and not self._is_empty_scalar():
            raise ValueError(f"{what} has rows of shape {rows}, but the accumulator holds rows of shape "
                             f"{np.shape(self.m)}; the leading axes must match")

    def _update(self, arr: NDArray[np.floating], name: str) -> SoftmaxAccumulator:
        if arr.ndim == 0:
            raise ValueError(f"{name} must have at least one dimension (the class axis), got a scalar")
        self._check_rows(arr.shape[:-1], name)
        if arr.shape[-1] == 0:  # an empty block changes nothing
            return self
        arr = arr.astype(_work_dtype(arr), copy=False)
        block_max = np.max(arr, axis=-1)
        check_no_nan_or_posinf(block_max, name)
        m_new = np.maximum(self.m, block_max)
        with np.errstate(over="ignore"):  # x - m only overflows to -inf, whose exp is the correct 0
            block_sum = np.sum(np.exp(arr - _finite_or_zero(m_new)[..., None]), axis=-1)
        self.d = self.d * _rescale(self.m, m_new) + block_sum
        self.m = m_new
        return self

    def update(self, block: ArrayLike) -> SoftmaxAccumulator:
        r"""Fold the columns of ``block`` into the running state, in place.

        .. math::

            m' = \max(m, \max_{j} b_j), \qquad
            d' = d\, e^{m - m'} + \sum_{j} e^{b_j - m'} .

        Parameters
        ----------
        block : array_like
            New columns: shape ``(n,)`` for a single row, or
            ``rows + (n,)`` with the same leading shape as earlier blocks.
            ``-inf`` entries contribute 0; ``n = 0`` is a no-op.

        Returns
        -------
        SoftmaxAccumulator
            ``self``, so calls can be chained.

        Raises
        ------
        ValueError
            If ``block`` contains NaN or ``+inf`` (the package's input policy,
            :mod:`softmax_nb.core`), is a scalar, or its rows do not match the
            accumulator's.
        """
        return self._update(as_float_array(block, "block"), "block")

    def merge(self, other: SoftmaxAccumulator) -> SoftmaxAccumulator:
        r"""Combine two partial states over disjoint sets of columns into a new one.

        .. math::

            m = \max(m_1, m_2), \qquad d = d_1 e^{m_1 - m} + d_2 e^{m_2 - m} .

        The result is exactly commutative (``a.merge(b)`` equals
        ``b.merge(a)`` bit for bit) and associative up to rounding, so chunks
        may be reduced in any order or tree shape.
        States of different dtypes merge in the promoted dtype (float32 and
        float64 give float64), whichever side is ``self``.

        Parameters
        ----------
        other : SoftmaxAccumulator
            The state of the other columns, over the same rows.

        Returns
        -------
        SoftmaxAccumulator
            A new accumulator; neither input is modified.
        """
        if not isinstance(other, SoftmaxAccumulator):
            raise ValueError(f"other must be a SoftmaxAccumulator, got {type(other).__name__}")
        if not other._is_empty_scalar():
            self._check_rows(np.shape(other.m), "other")
        m = np.maximum(self.m, other.m)
        d = self.d * _rescale(self.m, m) + other.d * _rescale(other.m, m)
        return SoftmaxAccumulator(m, d)

    @property
    def logsumexp(self) -> NDArray[np.floating]:
        r""":math:`\operatorname{LSE} = m + \log d` of every column seen so far (``-inf`` for none)."""
        with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for an empty sum
            return np.asarray(self.m + np.log(self.d))

    def normalise(self, block: ArrayLike) -> NDArray[np.floating]:
        r"""Softmax probabilities :math:`e^{b_j - m}/d` of ``block`` under the accumulated state.

        This is the second pass of the online softmax: once every column has
        been folded in, each block can be written out independently. Blocks
        must be columns of the same rows that were accumulated (otherwise the
        values are not probabilities of anything).

        Parameters
        ----------
        block : array_like
            Columns with the same leading shape as the accumulated blocks.

        Returns
        -------
        numpy.ndarray
            Probabilities with the shape of ``block``, in the accumulator's
            precision (float16 blocks are accumulated in float32).

        Raises
        ------
        ValueError
            If a row has seen only ``-inf`` (or nothing), where softmax is
            undefined (the package's input policy, :mod:`softmax_nb.core`),
            or the rows do not match.
        """
        arr = as_float_array(block, "block")
        if arr.ndim == 0:
            raise ValueError("block must have at least one dimension (the class axis), got a scalar")
        self._check_rows(arr.shape[:-1], "block")
        m = np.asarray(self.m)
        check_max(m, "the accumulated input")
        work = arr.astype(_work_dtype(arr), copy=False)
        with np.errstate(over="ignore"):  # x - m only overflows to -inf, whose exp is the correct 0
            return np.exp(work - m[..., None]) / np.asarray(self.d)[..., None]


def online_softmax(x: ArrayLike, block_size: int = 256) -> NDArray[np.floating]:
    r"""Softmax along the last axis with the one-pass normaliser of Milakov and Gimelshein (2018).

    Pass 1 reads ``x`` once, ``block_size`` columns at a time, keeping the
    running maximum and rescaled sum (:class:`SoftmaxAccumulator`):

    .. math::

        m' = \max(m, \max_{j \in B} x_j), \qquad
        d' = d\, e^{m - m'} + \sum_{j \in B} e^{x_j - m'} .

    Pass 2 writes :math:`p_i = e^{x_i - m} / d` block by block. The result
    equals :func:`~softmax_nb.core.softmax` to rounding; the error grows with
    the number of blocks that raise the running maximum (see the module
    docstring), so small blocks on rising input are the worst case. NaN,
    ``+inf`` and all ``-inf`` rows raise (the package's input policy in
    :mod:`softmax_nb.core`).

    Unlike :meth:`SoftmaxAccumulator.normalise`, which returns the
    accumulator's working precision (float32 for float16 blocks), this
    function rounds back to the input dtype, like every other softmax of the
    package.

    Parameters
    ----------
    x : array_like
        Logits, any number of dimensions >= 1; the last axis holds the
        classes. float16/32/64 keep their dtype.
    block_size : int, default 256
        Columns per block; an integer >= 1.

    Returns
    -------
    numpy.ndarray
        Probabilities with the shape of ``x``; ``-inf`` logits give exactly 0.

    Raises
    ------
    ValueError
        If ``block_size`` is not an integer >= 1, the class axis is empty, or
        a row is all ``-inf`` or contains ``+inf``/NaN.

    Examples
    --------
    >>> online_softmax([1.0, 2.0, 3.0], block_size=2).round(4)
    array([0.09  , 0.2447, 0.6652])
    """
    block_size = check_positive_int(block_size, "block_size")
    arr = as_float_array(x, "x")
    check_axis(arr, -1, "x")
    k = arr.shape[-1]
    acc = SoftmaxAccumulator()
    for start in range(0, k, block_size):
        acc._update(arr[..., start:start + block_size], "x")
    check_max(np.asarray(acc.m), "x")
    out = np.empty(arr.shape, dtype=arr.dtype)
    for start in range(0, k, block_size):
        cols = slice(start, start + block_size)
        out[..., cols] = acc.normalise(arr[..., cols])
    return out
