r"""Softmax in one streaming pass: the running (max, sum) state, its weighted-output sibling, and their merge.

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
Partial states over disjoint columns merge the same way,

.. math::

    m = \max_b m_b, \qquad d = \sum_b d_b\, e^{m_b - m},

which makes the computation splittable across chunks or machines
(:class:`SoftmaxAccumulator`).

Rescaling an *unnormalised* output accumulator
:math:`o = \sum_j e^{x_j - m} v_j` with the same factor, and dividing by
:math:`d` once at the end, gives attention without storing the score matrix
(:class:`AttentionState`, used by :mod:`softmax_nb.attention`). Chunking the
keys with a running maximum in this way is the memory-efficient attention of
Rabe and Staats (2021); the deferred division is the formulation of
FlashAttention-2 (Dao, 2023). FlashAttention-1 (Dao et al., 2022) instead
keeps the output *normalised*, dividing by the running sum at every step. The
merge of :class:`AttentionState` is the merge of Flash-Decoding (split-K) and
ring attention (:func:`~softmax_nb.attention.merge_attention`).

Naming rule for blocks: ``block_size`` is the number of entries per block
along the softmax axis when only that axis is blocked (:func:`~softmax_nb.streaming.online_softmax`);
attention, which tiles both the query and the key axis, calls them
``block_q`` and ``block_k``.

Rounding: every rescaling multiplies :math:`d` by a rounded factor, so the
relative error of :math:`d` grows with the number of blocks in which the
maximum changes, at a rate set by the rounding of ``exp``. Measured on 20 000
rising float32 logits (the maximum rises in every block): the largest
relative error of a probability in units of ``eps`` = :math:`2^{-23}`, with
numpy 2.4's AVX-512 ``exp`` kernels / with its baseline kernels
(``NPY_DISABLE_CPU_FEATURES``). "Stable formula" is the max-shift written out,
``e = exp(x - max(x)); e / sum(e)``:

===========  ================  ==================  ==============  ===========
logits       ``block_size=1``  ``block_size=256``  stable formula  ``softmax``
===========  ================  ==================  ==============  ===========
[-30, 30]    183 / 18          18 / 17             18 / 17         2.4 / 1.4
[0, 20]      41 / 175          10 / 8.9            9.6 / 8.9       1.8 / 1.3
[-20, 0]     90 / 413          1.5 / 1.0           1.9 / 1.5       1.9 / 1.5
[-40, -20]   34 / 167          2.6 / 1.0           1.6 / 1.0       1.6 / 1.0
[100, 120]   454 / 44          3.1 / 1.9           2.0 / 1.3       2.0 / 1.3
===========  ================  ==================  ==============  ===========

One-element blocks cost 18 to 454 eps, and which kernels fare worse depends on
the input. Blocks of 256 make the rescalings rare: they stay within 1.2 eps of
the stable formula, whose error comes from rounding ``x - m`` (up to 18 eps
where ``|x - m|`` reaches 60). :func:`~softmax_nb.core.softmax` is more
accurate still (at most 2.5 eps): it skips the shift for rows whose maximum
lies in :math:`[0, -\log(\text{tiny}) - \log K - 1]` (the first three rows),
and on the last two ``x - m`` is exact (Sterbenz), see :mod:`softmax_nb.core`.

NaN, ``+inf`` and ``-inf`` follow the package's input policy (module
:mod:`softmax_nb.core`): NaN and ``+inf`` raise, ``-inf`` entries are masked.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, TypeVar, Union, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (ArgumentTypeError, as_float_array, check_axis, check_max, check_no_nan_or_posinf,
                      check_positive_int, deprecated_call_forms, finite_or_zero, work_dtype)
from .core import softmax  # noqa: F401  (re-exported for older imports)

__all__ = ["online_softmax", "SoftmaxAccumulator", "AttentionState"]

_Stat = Union[NDArray[np.floating], float]
_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- old call forms
# --------------------------------------------------------------------------- the recurrence
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


def _fold(m: _Stat, d: _Stat, o: Optional[_Stat], x: NDArray[np.floating], x_max: NDArray[np.floating],
          values: Optional[NDArray[np.floating]] = None) -> tuple[Any, Any, Any]:
    r"""One step of the recurrence: fold the columns ``x`` (maxima ``x_max``, no NaN or ``+inf``) into (m, d, o).

    .. math::

        m' = \max(m, \max_j x_j), \quad \alpha = e^{m - m'}, \quad
        d' = d\, \alpha + \sum_j e^{x_j - m'}, \quad o' = o\, \alpha + \sum_j e^{x_j - m'} v_j .
    """
    m_new = np.maximum(m, x_max)
    alpha = _rescale(m, m_new)
    with np.errstate(over="ignore"):  # x - m only overflows to -inf, whose exp is the correct 0
        p = np.exp(x - finite_or_zero(np.asarray(m_new))[..., None])
    d_new = d * alpha + np.sum(p, axis=-1)  # no overflow: a block adds n terms <= 1, far below ulp(max)
    o_new = None if values is None or o is None else o * alpha[..., None] + p @ values
    return m_new, d_new, o_new


def _combine(ms: list[_Stat], ds: list[_Stat], os: Optional[list[_Stat]] = None) -> tuple[Any, Any, Any]:
    r"""Merge states over disjoint columns: :math:`m = \max_b m_b`, :math:`d = \sum_b d_b e^{m_b - m}`, o likewise.

    One factor per state, so the error does not grow with a chain of merges;
    for two states the result is the same bit for bit in either order.
    """
    m = functools.reduce(np.maximum, ms)
    ws = [_rescale(mb, m) for mb in ms]
    with np.errstate(over="ignore"):  # checked by the callers (a sum beyond the dtype: STR5)
        d = functools.reduce(np.add, [db * w for db, w in zip(ds, ws)])
        o = None if os is None else functools.reduce(np.add, [ob * w[..., None] for ob, w in zip(os, ws)])
    return m, d, o


def _check_merged_sum(d: _Stat, n_others: int) -> None:
    """Refuse a merge whose sum :math:`d` overflows the dtype (only user-built states can get there)."""
    if not np.isfinite(d).all():
        which = "other (others[0])" if n_others == 1 else "others"
        raise ValueError(f"the merged sum d = sum_b d_b e^(m_b - m) of self and {which} overflows "
                         f"{np.result_type(d)}; the states' sums d are too large to merge")


# --------------------------------------------------------------------------- validation of states and blocks
def _check_state(m: _Stat, d: _Stat) -> None:
    """The invariants of (m, d): same shape, m not NaN/+inf, d a finite sum >= 0 that is 0 exactly when m = -inf."""
    m_arr, d_arr = np.asarray(m), np.asarray(d)
    if m_arr.dtype.kind not in "fiu" or d_arr.dtype.kind not in "fiu":
        raise ArgumentTypeError(f"m and d must be real numbers or arrays, got dtypes {m_arr.dtype} and {d_arr.dtype}")
    if m_arr.shape != d_arr.shape:
        raise ValueError(f"m and d must have the same shape, got {m_arr.shape} and {d_arr.shape}")
    check_no_nan_or_posinf(m_arr, "m")
    if not (np.isfinite(d_arr).all() and np.all(d_arr >= 0)):
        raise ValueError("d must be finite and >= 0 (it is a sum of exponentials)")
    empty = np.isneginf(m_arr)
    if np.any(empty & (d_arr != 0)) or np.any(~empty & (d_arr == 0)):
        raise ValueError("inconsistent state: m = -inf (nothing seen) requires d = 0, "
                         "and a finite m requires d > 0 (the maximal term alone contributes 1)")


def _is_fresh(m: _Stat, d: _Stat) -> bool:
    """A state that has seen nothing yet and has no row shape (``m = -inf``, ``d = 0`` as scalars)."""
    return np.ndim(m) == 0 and not d


def _check_rows(m: _Stat, d: _Stat, rows: tuple[int, ...], what: str) -> None:
    if np.shape(m) != rows and not _is_fresh(m, d):
        raise ValueError(f"{what} has rows of shape {rows}, but the accumulator holds rows of shape "
                         f"{np.shape(m)}; the leading axes must match")


def _as_block(block: ArrayLike, name: str) -> NDArray[np.floating]:
    """``block`` as a float array in the work dtype (float32 for float16), with at least the class axis."""
    arr = as_float_array(block, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (the class axis), got a scalar")
    return arr.astype(work_dtype(arr.dtype), copy=False)


def _check_others(others: tuple[Any, ...], cls: type, this: Any) -> None:
    """The states given to ``this.merge``: of class ``cls``, and (unless fresh) over the same rows as ``this``."""
    for i, other in enumerate(others):
        name = "other" if len(others) == 1 else f"others[{i}]"
        if not isinstance(other, cls):
            raise ArgumentTypeError(f"{name} must be a{'n' if cls.__name__[0] in 'AEIOU' else ''} "
                                    f"{cls.__name__}, got {type(other).__name__}")
    for i, other in enumerate(others):
        if not _is_fresh(other.m, other.d):
            _check_rows(this.m, this.d, np.shape(other.m), "other" if len(others) == 1 else f"others[{i}]")


def _ldexp(o: _Stat, k: int) -> _Stat:
    """:math:`2^k o`, exact unless it underflows; a scalar ``o`` (the 0 of a fresh state) is left as it is."""
    return o if k == 0 or np.ndim(o) == 0 else np.ldexp(o, k)


def _lse(m: _Stat, d: _Stat) -> Union[NDArray[np.floating], np.floating[Any]]:
    r""":math:`m + \log d`: an array per row, a numpy scalar for one row (the package's scalar rule)."""
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for an empty sum
        lse = np.asarray(m + np.log(d))
    return lse[()] if lse.ndim == 0 else lse


# --------------------------------------------------------------------------- the (m, d) state
@dataclass(eq=False)
class SoftmaxAccumulator:
    r"""Running maximum and rescaled sum of a softmax over blocks of columns.

    For the columns :math:`x_j` seen so far (per row) it holds

    .. math::

        m = \max_j x_j, \qquad d = \sum_j e^{x_j - m},

    so that :math:`\operatorname{LSE}(x) = m + \log d` and
    :math:`p_i = e^{x_i - m} / d`. The state machine has one transition per
    method: a fresh accumulator (:math:`m = -\infty`, :math:`d = 0`, the
    empty sum, with no row shape yet) takes its rows from the first block;
    :meth:`update` folds in columns, :meth:`merge` combines states over
    disjoint columns, and :attr:`logsumexp` and :meth:`normalise` read the
    result. float16 blocks are accumulated in float32.

    Attributes
    ----------
    m : numpy.ndarray or float
        Running maximum, one per row: a scalar for 1-D blocks, shape
        ``block.shape[:-1]`` otherwise.
    d : numpy.ndarray or float
        Running sum :math:`\sum_j e^{x_j - m}`, same shape as ``m``.

    See Also
    --------
    AttentionState : the same state with a weighted output sum, for attention.

    Examples
    --------
    >>> acc = SoftmaxAccumulator().update([1.0, 2.0]).update([3.0])
    >>> round(float(acc.logsumexp), 12)  # log(e + e^2 + e^3)
    3.407605964444
    """

    m: _Stat = -math.inf
    d: _Stat = 0.0

    def __post_init__(self) -> None:
        _check_state(self.m, self.d)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SoftmaxAccumulator):
            return NotImplemented
        return bool(np.array_equal(self.m, other.m) and np.array_equal(self.d, other.d))

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _update(self, x: NDArray[np.floating], name: str) -> SoftmaxAccumulator:
        _check_rows(self.m, self.d, x.shape[:-1], name)
        if x.shape[-1]:  # an empty block changes nothing
            x = x.astype(work_dtype(x.dtype), copy=False)
            x_max = np.max(x, axis=-1)
            check_no_nan_or_posinf(x_max, name)
            self.m, self.d, _ = _fold(self.m, self.d, None, x, x_max)
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
        return self._update(_as_block(block, "block"), "block")

    def merge(self, *others: SoftmaxAccumulator) -> SoftmaxAccumulator:
        r"""Combine partial states over disjoint sets of columns into a new one.

        .. math::

            m = \max_b m_b, \qquad d = \sum_b d_b\, e^{m_b - m} .

        Two states merge exactly commutatively (``a.merge(b)`` equals
        ``b.merge(a)`` bit for bit), and merging is associative up to
        rounding, so chunks may be reduced in any order or tree shape;
        ``a.merge(b, c, ...)`` merges all at once, with one rescaling per
        state. States of different dtypes merge in the promoted dtype
        (float32 and float64 give float64), whichever side is ``self``.

        Parameters
        ----------
        *others : SoftmaxAccumulator
            The states of the other columns, over the same rows.

        Returns
        -------
        SoftmaxAccumulator
            A new accumulator; no input is modified.
        """
        _check_others(others, SoftmaxAccumulator, self)
        states = (self, *others)
        m, d, _ = _combine([s.m for s in states], [s.d for s in states])
        _check_merged_sum(d, len(others))
        return SoftmaxAccumulator(m, d)

    @property
    def logsumexp(self) -> Union[NDArray[np.floating], np.floating[Any]]:
        r""":math:`\operatorname{LSE} = m + \log d` of every column seen so far (``-inf`` for none).

        An array of shape ``rows``, or a numpy scalar when the blocks are 1-D (one row), as
        :func:`~softmax_nb.core.logsumexp` returns for 1-D input.
        """
        return _lse(self.m, self.d)

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
            or the rows of ``block`` do not match.
        """
        x = _as_block(block, "block")
        _check_rows(self.m, self.d, x.shape[:-1], "block")
        m = np.asarray(self.m)
        if np.isneginf(m).any():  # m has no NaN or +inf (the state's invariant)
            raise ValueError("block cannot be normalised: a row of the accumulator has seen only -inf (or nothing), "
                             "where softmax is undefined; fold in at least one finite entry per row first")
        with np.errstate(over="ignore"):  # x - m only overflows to -inf, whose exp is the correct 0
            return np.exp(x - m[..., None]) / np.asarray(self.d)[..., None]


# --------------------------------------------------------------------------- the (m, d, o) state
@dataclass(eq=False)
class AttentionState:
    r"""The softmax state of :class:`SoftmaxAccumulator` plus a weighted sum of values: attention over key blocks.

    For the keys :math:`j` seen so far, with scores :math:`s_j` and value
    rows :math:`v_j`, it holds per query row

    .. math::

        m = \max_j s_j, \qquad d = \sum_j e^{s_j - m}, \qquad
        o = \sum_j e^{s_j - m}\, v_j ,

    so that the attention output is :math:`o / d` (:attr:`output`) and the
    row's log-sum-exp :math:`m + \log d` (:attr:`logsumexp`). :meth:`update`
    folds in a block of keys with the recurrence of FlashAttention-2
    (:math:`\alpha = e^{m - m'}`, :math:`o' = o\,\alpha + e^{S_B - m'} V_B`);
    :meth:`merge` combines states over disjoint key blocks, as in
    Flash-Decoding and ring attention. A row that has seen no allowed key
    (only ``-inf`` scores) has :math:`m = -\infty`, :math:`d = 0`,
    :math:`o = 0`; its output is 0 and its log-sum-exp ``-inf``, as in
    :func:`~softmax_nb.attention.attention`. float16 input is accumulated in
    float32.

    Attributes
    ----------
    m, d : numpy.ndarray or float
        As in :class:`SoftmaxAccumulator`: shape ``rows`` (for example
        ``(..., n_q)``), or scalars for a fresh state.
    o : numpy.ndarray or float
        The unnormalised output, shape ``rows + (d_v,)``; ``0.0`` for a
        fresh state. It is held as :math:`2^{-e}\, o` with :math:`e` =
        ``o_exp``.
    o_exp : int, default 0
        Power-of-two headroom :math:`e \ge 0` of ``o``: 0 unless the values
        come near the dtype's maximum, where :meth:`update` and :meth:`merge`
        raise it so that :math:`2^{-e} o` cannot overflow (the output
        :math:`o / d` is finite whenever the values are). Scaling by a
        power of two is exact, and :attr:`output` undoes it.

    Examples
    --------
    >>> s = np.array([[0.0, 1.0, 2.0]])  # one query, three keys
    >>> v = np.array([[1.0], [10.0], [100.0]])
    >>> whole = AttentionState().update(s, v)
    >>> parts = AttentionState().update(s[:, :1], v[:1]).merge(AttentionState().update(s[:, 1:], v[1:]))
    >>> bool(np.allclose(whole.output, parts.output)), whole.output.round(4)
    (True, array([[69.0614]]))
    """

    m: _Stat = -math.inf
    d: _Stat = 0.0
    o: _Stat = 0.0
    o_exp: int = 0

    def __post_init__(self) -> None:
        _check_state(self.m, self.d)
        if isinstance(self.o_exp, (bool, np.bool_)) or not isinstance(self.o_exp, (int, np.integer)):
            raise ArgumentTypeError(f"o_exp must be an integer >= 0, got {type(self.o_exp).__name__}")
        if self.o_exp < 0:
            raise ValueError(f"o_exp must be an integer >= 0, got {self.o_exp!r}")
        self.o_exp = int(self.o_exp)
        o = np.asarray(self.o)
        if o.dtype.kind not in "fiu":
            raise ArgumentTypeError(f"o must be a real number or array, got dtype {o.dtype}")
        if not np.isfinite(o).all():
            raise ValueError("o must be finite (a weighted sum of finite values)")
        if not _is_fresh(self.m, self.d) and (o.ndim != np.ndim(self.m) + 1 or o.shape[:-1] != np.shape(self.m)):
            raise ValueError(f"o must have shape rows + (d_v,) with rows = the shape {np.shape(self.m)} of m, "
                             f"got {o.shape}")
        if np.any(np.isneginf(np.asarray(self.m))[..., None] & (o != 0)):
            raise ValueError("inconsistent state: a row with m = -inf (no key seen) must have o = 0")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AttentionState):
            return NotImplemented
        return bool(np.array_equal(self.m, other.m) and np.array_equal(self.d, other.d)
                    and np.array_equal(self.o, other.o) and self.o_exp == other.o_exp)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def _update(self, scores: NDArray[np.floating], values: NDArray[np.floating],
                invalid: Optional[str] = None, *, v_max: Optional[float] = None) -> AttentionState:
        """:meth:`update` on checked arrays in the work dtype; ``invalid``: the message for NaN/+inf scores.

        ``v_max`` (the largest ``|values|``) turns on the headroom of ``o``; without it the caller
        guarantees that ``o`` cannot overflow (the attention functions scale the values beforehand).
        """
        if scores.shape[-1]:
            s_max = np.max(scores, axis=-1)
            if invalid is None:
                check_no_nan_or_posinf(s_max, "scores")
            elif np.isnan(s_max).any() or np.isposinf(s_max).any():
                raise ValueError(invalid)
            o, o_exp = self.o, self.o_exp
            if v_max is not None:  # |o alpha + p @ v| <= max|o| + n max|v|: keep it below half the maximum (STR1)
                top = float(np.finfo(values.dtype).max)
                r = float(np.max(np.abs(o), initial=0.0)) / top + scores.shape[-1] * math.ldexp(v_max / top, -o_exp)
                if r > 0.5:
                    k = math.ceil(math.log2(4 * r))
                    o, o_exp = _ldexp(o, -k), o_exp + k
                if o_exp:
                    values = np.ldexp(values, -o_exp)
            self.m, self.d, self.o = _fold(self.m, self.d, o, scores, s_max, values)
            self.o_exp = o_exp
        return self

    def update(self, scores: ArrayLike, values: ArrayLike) -> AttentionState:
        r"""Fold one block of keys, given by its scores and values, into the state, in place.

        .. math::

            m' = \max(m, \max_j s_j), \quad \alpha = e^{m - m'}, \quad
            d' = d\,\alpha + \sum_j e^{s_j - m'}, \quad
            o' = o\,\alpha + \sum_j e^{s_j - m'} v_j .

        Parameters
        ----------
        scores : array_like
            Scores of the block, shape ``rows + (n,)`` (for example
            ``(..., n_q, n)``); ``-inf`` masks a key. ``rows`` must match
            earlier blocks.
        values : array_like
            The block's value rows, shape ``(..., n, d_v)``, whose leading
            axes broadcast to ``rows[:-1]``.

        Returns
        -------
        AttentionState
            ``self``, so calls can be chained.

        Raises
        ------
        ValueError
            If ``scores`` contains NaN or ``+inf``, ``values`` is not finite,
            or the shapes do not fit each other or the state.
        """
        s, v = _as_block(scores, "scores"), as_float_array(values, "values")
        if v.ndim < 2 or v.shape[-2] != s.shape[-1]:
            raise ValueError(f"values must have shape (..., n, d_v) with n = {s.shape[-1]} keys (the last axis "
                             f"of scores), got {v.shape}")
        try:
            fits = np.broadcast_shapes(s.shape[:-2], v.shape[:-2]) == s.shape[:-2]
        except ValueError:  # numpy's message names neither array (STR2)
            fits = False
        if not fits:
            raise ValueError(f"the leading axes of values {v.shape[:-2]} must broadcast to those of scores "
                             f"{s.shape[:-2]} (scores has shape {s.shape}, values {v.shape})")
        v_max = float(np.max(np.abs(v), initial=0.0))
        if not math.isfinite(v_max):
            raise ValueError("values must contain only finite numbers, got NaN or ±inf")
        _check_rows(self.m, self.d, s.shape[:-1], "scores")
        if np.ndim(self.o) and np.shape(self.o)[-1] != v.shape[-1]:
            raise ValueError(f"values have d_v = {v.shape[-1]} columns, but the state holds {np.shape(self.o)[-1]}")
        return self._update(s, v.astype(np.result_type(s, work_dtype(v.dtype)), copy=False), v_max=v_max)

    def merge(self, *others: AttentionState) -> AttentionState:
        r"""Combine states over disjoint key blocks into a new one.

        .. math::

            m = \max_b m_b, \quad w_b = e^{m_b - m}, \quad
            d = \sum_b w_b\, d_b, \quad o = \sum_b w_b\, o_b .

        A block in which a row has seen no key (:math:`m_b = -\infty`) gets
        weight 0 for that row. Two states merge exactly commutatively; more
        merge in one step, with one rescaling per state.

        Parameters
        ----------
        *others : AttentionState
            States of the other key blocks, over the same query rows.

        Returns
        -------
        AttentionState
            A new state; no input is modified.
        """
        _check_others(others, AttentionState, self)
        states = (self, *others)
        o_exp = max(s.o_exp for s in states)
        os = [_ldexp(s.o, s.o_exp - o_exp) for s in states]
        top = float(np.finfo(np.result_type(*os, np.float16)).max)
        r = sum(float(np.max(np.abs(o), initial=0.0)) / top for o in os)
        if r > 0.75:  # the weighted sum of the o's could overflow: more headroom (an update leaves r <= 1/2)
            k = math.ceil(math.log2(4 * r))
            os, o_exp = [_ldexp(o, -k) for o in os], o_exp + k
        m, d, o = _combine([s.m for s in states], [s.d for s in states], os)
        _check_merged_sum(d, len(others))
        return AttentionState(m, d, o, o_exp)

    @property
    def logsumexp(self) -> Union[NDArray[np.floating], np.floating[Any]]:
        r""":math:`L = m + \log d` per row: the log-sum-exp of the scores seen (``-inf`` for none).

        An array of shape ``rows``, or a numpy scalar for 1-D scores (one row).
        """
        return _lse(self.m, self.d)

    @property
    def output(self) -> NDArray[np.floating]:
        r"""The attention output :math:`2^{e} o / d` per row; exactly 0 for a row that has seen no key."""
        d, o = np.asarray(self.d), np.asarray(self.o)
        if not o.ndim:
            return o
        out = o / np.where(d > 0, d, 1)[..., None]
        if self.o_exp:  # a convex combination of finite values: clip what rounding pushed past the maximum
            top = np.finfo(out.dtype).max
            with np.errstate(over="ignore"):
                out = np.clip(np.ldexp(out, self.o_exp), -top, top)
        return out


# --------------------------------------------------------------------------- online softmax
@deprecated_call_forms(("block_size",))
def online_softmax(x: ArrayLike, *, block_size: int = 256) -> NDArray[np.floating]:
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
        Entries per block along the softmax (last) axis; an integer >= 1.
        Keyword-only (passing it positionally still works for one release,
        with a DeprecationWarning).

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
    for start in range(0, k, block_size):  # float16 blocks are widened to float32 one at a time
        acc._update(arr[..., start:start + block_size], "x")
    check_max(np.asarray(acc.m), "x")
    out = np.empty(arr.shape, dtype=arr.dtype)
    for start in range(0, k, block_size):
        cols = slice(start, start + block_size)
        out[..., cols] = acc.normalise(arr[..., cols])
    return out
