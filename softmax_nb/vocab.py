r"""Softmax over huge vocabularies: chunked, sharded, sampled and hierarchical.

* :func:`chunked_cross_entropy` computes the mean cross-entropy of the logits
  :math:`Z = H W^\top` (and its gradient) a block of the vocabulary at a
  time, with the online log-sum-exp of :class:`~softmax_nb.streaming.SoftmaxAccumulator`,
  never holding the :math:`N \times V` logits (the idea of "Cut Your Losses",
  Wijmans et al.).
* :func:`shard_statistics` and :func:`merge_shard_statistics` split the
  vocabulary across workers: each returns :math:`(m, d, z_y)` for its shard,
  with the range of rows it covers, and the merge checks that the shards
  tile the vocabulary before applying the accumulator rule.
  :func:`sharded_cross_entropy` runs the shards as ``dask.delayed`` tasks
  (Megatron-LM's vocabulary-parallel cross-entropy, on one machine's threads
  unless the shards are kept on a cluster's workers).
* :func:`sampled_softmax_loss` approximates the loss with a few sampled
  negatives and the log-Q correction (Jean et al., 2015).
* :func:`huffman_codes` and :func:`hierarchical_softmax_nll` implement a
  hierarchical softmax over a Huffman tree (Morin and Bengio, 2005; Mikolov
  et al., 2013).

Precision follows the package's half-precision rule (``_checks.work_dtype``):
float16 input is computed in float32 (logits, running maxima and sums,
gradient accumulators) and rounded to float16 once, at the end; float32
stays float32 and float64 stays float64. Mixed inputs use their promoted
dtype (``numpy.result_type``); integer input is float64. Losses are numpy
scalars of that dtype, as :func:`~softmax_nb.losses.cross_entropy` returns.
"""

from __future__ import annotations

import functools
import heapq
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypeVar, cast, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (ArgumentTypeError, as_float_array, check_bool, check_choice, check_finite, check_generator,
                      check_int, check_labels, check_nonnegative, check_positive_int, check_unit_interval,
                      deprecated_call_forms, work_dtype)
from .core import logsumexp
from .losses import _check_ignore_index, _warn_empty_mean
from .streaming import SoftmaxAccumulator

__all__ = ["chunked_cross_entropy", "ShardStats", "shard_statistics", "merge_shard_statistics",
           "sharded_cross_entropy", "sampled_softmax_loss", "huffman_codes", "hierarchical_softmax_nll"]

Array = NDArray[np.floating]
_F = TypeVar("_F", bound=Callable[..., Any])
_SCHEDULERS = ("threads", "sync", "processes")


# --------------------------------------------------------------------------- private helpers
def _check_problem(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, weight_name: str = "weight",
                   num_classes: int | None = None) -> tuple[Array, Array, NDArray[np.intp], np.dtype]:
    """Validate ``hidden (N, d)``, ``weight (V, d)`` and ``targets (N,)``; return them and the result dtype.

    The arrays keep their dtypes (each function casts to its work dtype);
    targets are checked against ``num_classes`` (default ``V``).
    """
    h = as_float_array(hidden, "hidden")
    w = as_float_array(weight, weight_name)
    if h.ndim != 2 or h.shape[0] == 0:
        raise ValueError(f"hidden must be a 2-D array (N, d) with N >= 1, got shape {h.shape}")
    if w.ndim != 2 or w.shape[0] == 0:
        raise ValueError(f"{weight_name} must be a 2-D array (V, d) with V >= 1, got shape {w.shape}")
    if h.shape[1] != w.shape[1]:
        raise ValueError(f"hidden (N, d) and {weight_name} (V, d) must have the same number of features d, "
                         f"got shapes {h.shape} and {w.shape}")
    check_finite(h, "hidden")
    check_finite(w, weight_name)
    y = np.asarray(targets)
    if y.shape != (h.shape[0],):
        raise ValueError(f"targets must have shape (N,) = ({h.shape[0]},), one class id per row of hidden, "
                         f"got shape {y.shape}")
    y = check_labels(y, w.shape[0] if num_classes is None else num_classes, "targets")
    return h, w, y, np.result_type(h, w)


def _logits(h: Array, w_rows: Array, work: np.dtype, weight_name: str = "weight") -> Array:
    """``h @ w_rows.T`` in the work dtype; a ValueError naming both arrays if a logit overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = h @ w_rows.astype(work, copy=False).T
    if not np.isfinite(z).all():
        raise ValueError(_overflow_message(f"the logits hidden @ {weight_name}.T", ("hidden", weight_name), work))
    return z


def _overflow_message(what: str, names: tuple[str, str], work: np.dtype) -> str:
    wider = "" if work == np.float64 else ", or pass float64"
    return (f"{what} overflow {work} (beyond ±{float(np.finfo(work).max):.4g}); "
            f"scale {names[0]} or {names[1]} down{wider}")


def _as_dtype(x: ArrayLike, dtype: np.dtype) -> Any:
    """Round ``x`` to ``dtype`` once (overflow rounds to ±inf, the correctly rounded value, silently)."""
    with np.errstate(over="ignore"):
        return np.asarray(x).astype(dtype, copy=False)


def _mean_loss(lse: Array, z_target: Array, dtype: np.dtype) -> np.floating[Any]:
    r"""The mean of the per-row losses :math:`\operatorname{LSE}(z_n) - z_{n,y_n}`, rounded once to ``dtype``.

    The differences and their sum are formed in float64 (an O(N) pass): a row loss beyond the work dtype
    (float32 logits of :math:`\pm 3 \cdot 10^{38}` give a loss of :math:`6 \cdot 10^{38}`) is then finite,
    and so is the mean whenever it fits ``dtype``; a mean beyond ``dtype`` rounds to ``inf``, silently.
    If a float64 difference or the sum overflows (float64 logits near :math:`\pm 10^{308}`), the mean is
    recomputed from the halved terms, :math:`2 \sum_n (\operatorname{LSE}_n/2 - z_n/2)/N`, which cannot.
    """
    lse64, zt64 = np.asarray(lse, dtype=np.float64), np.asarray(z_target, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = np.mean(lse64 - zt64)
        if not np.isfinite(mean):  # rare: overflow in float64; halving is exact (barring subnormals)
            mean = np.sum((lse64 / 2 - zt64 / 2) / lse64.size) * 2
    return cast("np.floating[Any]", _as_dtype(mean, dtype)[()])


# --------------------------------------------------------------------------- chunked cross-entropy
_Reduction = Literal["mean", "sum", "none"]


@overload
def chunked_cross_entropy(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, *, block_size: int = ...,
                          return_grad: Literal[False] = ..., reduction: _Reduction = ...,
                          ignore_index: int | None = ..., label_smoothing: float = ...,
                          z_loss: float = ...) -> Any: ...
@overload
def chunked_cross_entropy(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, *, block_size: int = ...,
                          return_grad: Literal[True], reduction: _Reduction = ..., ignore_index: int | None = ...,
                          label_smoothing: float = ...,
                          z_loss: float = ...) -> tuple[np.floating[Any], Array, Array]: ...
@overload
def chunked_cross_entropy(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, *, block_size: int = ...,
                          return_grad: bool, reduction: _Reduction = ..., ignore_index: int | None = ...,
                          label_smoothing: float = ..., z_loss: float = ...) -> Any: ...


@deprecated_call_forms(positional=("block_size", "return_grad"), renamed={"chunk_size": "block_size"})
def chunked_cross_entropy(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, *, block_size: int = 4096,
                          return_grad: bool = False, reduction: _Reduction = "mean",
                          ignore_index: int | None = None, label_smoothing: float = 0.0,
                          z_loss: float = 0.0) -> Any:
    r"""Cross-entropy of the logits ``hidden @ weight.T``, one block of the vocabulary at a time.

    With :math:`z_n = W h_n`, label smoothing :math:`\alpha` and a z-loss of
    weight :math:`\lambda`, the loss of row :math:`n` is

    .. math::

        \ell_n = \operatorname{LSE}(z_n) - (1 - \alpha)\, z_{n, y_n}
                 - \frac{\alpha}{V} \sum_{v=1}^{V} z_{n,v}
                 + \lambda \operatorname{LSE}(z_n)^2 ,

    which for :math:`\alpha = \lambda = 0` is :math:`-\log p_{n, y_n}`; the
    smoothing term is :func:`~softmax_nb.losses.cross_entropy`'s and the
    z-loss term :func:`~softmax_nb.stability.z_loss`'s (Liger Kernel's
    ``lse_square_scale``). :math:`\operatorname{LSE}` is accumulated over
    blocks of ``block_size`` rows of :math:`W` (entries of the vocabulary axis)
    by the online rule of :class:`~softmax_nb.streaming.SoftmaxAccumulator`.
    The gradient makes a second pass, recomputing each block's logits:

    .. math::

        \frac{\partial \ell_n}{\partial z_{n,v}} = p_{n,v}\,\big(1 + 2\lambda
            \operatorname{LSE}(z_n)\big) - (1 - \alpha)\,[v = y_n] - \frac{\alpha}{V},
        \qquad
        \frac{\partial L}{\partial H} = \frac{\partial L}{\partial Z} W, \qquad
        \frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial Z}\Big)^{\!\top} H ,

    with :math:`p_{n,v} = e^{z_{n,v} - \operatorname{LSE}(z_n)}`. Only an
    ``N x block_size`` block of logits exists at any time.

    float16 input is computed in float32: the logits
    ``h.astype(float32) @ w.astype(float32).T``, the running maximum and sum,
    and :math:`\partial L / \partial H`, which is accumulated over the blocks
    in float32; the loss and both gradients are rounded to float16 once.

    Parameters
    ----------
    hidden : array_like
        Hidden states :math:`H`, shape ``(N, d)``, ``N >= 1``.
    weight : array_like
        Output weights :math:`W`, shape ``(V, d)`` (as a PyTorch ``Linear``).
    targets : array_like of int
        Class ids in ``[0, V)`` (or ``ignore_index``), shape ``(N,)``; floats
        are accepted only if integer-valued.
    block_size : int, default 4096
        Vocabulary rows per block, an integer >= 1 (keyword-only). Its old
        name ``chunk_size`` works for one release, with a DeprecationWarning.
    return_grad : bool, default False
        Also return the gradients of the reduced loss with respect to
        ``hidden`` and ``weight`` (not with ``reduction='none'``).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` divides the sum of the row losses by the number of rows
        whose target is not ``ignore_index`` (PyTorch's rule); ``'none'``
        returns the row losses, 0 for ignored rows.
    ignore_index : int, optional
        A target value whose rows contribute nothing (loss and gradient 0),
        for padding and prompt tokens, e.g. ``-100`` as in PyTorch. ``None``
        (the default) ignores nothing.
    label_smoothing : float, default 0.0
        :math:`\alpha \in [0, 1]`, as in :func:`~softmax_nb.losses.cross_entropy`.
    z_loss : float, default 0.0
        :math:`\lambda \ge 0`, the weight of the z-loss term (PaLM uses
        ``1e-4``). 0 leaves the loss and its gradient unchanged.

    Returns
    -------
    loss : numpy.floating or numpy.ndarray
        The reduced loss, a numpy scalar of the dtype of
        ``numpy.result_type(hidden, weight)``, or the ``(N,)`` row losses for
        ``reduction='none'``.
    grad_hidden, grad_weight : numpy.ndarray
        Only if ``return_grad``: shapes of ``hidden`` and ``weight``, same dtype
        as ``loss``.

    Raises
    ------
    ValueError
        On shapes that do not fit, non-finite entries, targets outside
        ``[0, V)`` (other than ``ignore_index``), a ``block_size`` below 1,
        ``label_smoothing`` outside [0, 1], a negative or non-finite
        ``z_loss``, an unknown ``reduction``, ``return_grad`` with
        ``reduction='none'``, or logits that overflow the work dtype (the
        message names ``hidden`` and ``weight``).
    softmax_nb.ArgumentTypeError
        If ``block_size`` or ``ignore_index`` is not an integer, ``return_grad``
        not a bool, or ``reduction`` not a string.

    Warns
    -----
    RuntimeWarning
        For ``reduction='mean'`` when every target is ``ignore_index``: the
        mean is 0/0 and the loss is ``nan``, as in PyTorch (the gradients are
        0).
    DeprecationWarning
        For ``chunk_size=`` or options passed by position.

    Examples
    --------
    >>> h, w = np.eye(2), np.array([[2.0, 0.0], [0.0, 0.0]])
    >>> round(float(chunked_cross_entropy(h, w, [0, -100], ignore_index=-100)), 4)  # row 0 only
    0.1269
    """
    block_size = check_positive_int(block_size, "block_size")
    return_grad = check_bool(return_grad, "return_grad")
    reduction = cast(_Reduction, check_choice(reduction, ("mean", "sum", "none"), "reduction"))
    if return_grad and reduction == "none":
        raise ValueError("return_grad=True needs reduction='mean' or 'sum' (the gradient of a reduced loss), "
                         "got reduction='none'")
    ignore = _check_ignore_index(ignore_index)
    alpha = check_unit_interval(label_smoothing, "label_smoothing")
    lam = check_nonnegative(z_loss, "z_loss")
    keep = None if ignore is None else np.asarray(targets) != ignore
    h, w, y, dtype = _check_problem(hidden, weight, targets if keep is None else np.where(keep, targets, 0))
    work = work_dtype(dtype)
    hw = h.astype(work, copy=False)
    n, v = h.shape[0], w.shape[0]
    rows = np.arange(n)
    acc = SoftmaxAccumulator()
    z_target = np.empty(n, dtype=work)
    z_mean = np.zeros(n)  # the mean logit of each row, summed in float64 (a float32 sum of V logits may overflow)
    for v0 in range(0, v, block_size):
        z = _logits(hw, w[v0:v0 + block_size], work)
        acc.update(z)
        inside = (y >= v0) & (y < v0 + z.shape[1])
        z_target[inside] = z[rows[inside], y[inside] - v0]
        if alpha > 0:
            z_mean += np.sum(z / np.float64(v), axis=1, dtype=np.float64)
    lse = np.asarray(acc.logsumexp)
    count = n if keep is None else int(np.count_nonzero(keep))
    loss = _reduced_loss(_RowLosses(lse, z_target, z_mean, alpha, lam, keep), reduction, count, dtype)
    if not return_grad:
        return loss
    # the scale of each row's gradient: 1/count for the mean, 1 for the sum, 0 for an ignored row
    scale = np.full(n, 1.0 / count if reduction == "mean" and count else 1.0, dtype=work)
    if keep is not None:
        scale[~keep] = 0.0
    lse_w = lse.astype(work, copy=False)
    coef = scale * (1.0 + 2.0 * lam * lse_w) if lam > 0 else scale
    grad_h = np.zeros(hw.shape, dtype=work)  # accumulated over the blocks in the work dtype
    grad_w = np.empty(w.shape, dtype=dtype)  # each block written once
    for v0 in range(0, v, block_size):
        wc = w[v0:v0 + block_size].astype(work, copy=False)
        with np.errstate(over="ignore"):  # z - lse <= 0 only overflows to -inf, whose exp is the correct 0
            dz = np.exp(_logits(hw, wc, work) - lse_w[:, None]) * coef[:, None]
        inside = (y >= v0) & (y < v0 + wc.shape[0])
        dz[rows[inside], y[inside] - v0] -= (1.0 - alpha) * scale[inside]
        if alpha > 0:
            dz -= (alpha / v) * scale[:, None]
        grad_h += dz @ wc
        grad_w[v0:v0 + block_size] = _as_dtype(dz.T @ hw, dtype)
    return loss, _as_dtype(grad_h, dtype), grad_w


class _RowLosses(NamedTuple):
    """What the row losses of :func:`chunked_cross_entropy` are made of."""

    lse: Array
    z_target: Array
    z_mean: NDArray[np.float64]
    alpha: float
    lam: float
    keep: NDArray[np.bool_] | None

    def scaled(self, f: float) -> NDArray[np.float64]:
        r"""The row losses times ``f`` in float64: :math:`f \ell_n`, 0 for ignored rows.

        ``f = 1/2`` keeps every term finite when float64 logits near :math:`\pm 10^{308}` make a
        difference overflow; the halving is exact (barring subnormals).
        """
        lse64 = np.asarray(self.lse, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            rows = f * lse64 - (1.0 - self.alpha) * (f * np.asarray(self.z_target, dtype=np.float64))
            if self.alpha > 0:
                rows = rows - self.alpha * (f * self.z_mean)
            if self.lam > 0:
                rows = rows + self.lam * lse64 * (f * lse64)
        return rows if self.keep is None else np.where(self.keep, rows, 0.0)


def _reduced_loss(parts: _RowLosses, reduction: _Reduction, count: int, dtype: np.dtype) -> Any:
    """The row losses reduced by ``reduction`` and rounded once to ``dtype`` (a numpy scalar, or ``(N,)``)."""
    if reduction == "none":
        return _as_dtype(parts.scaled(1.0), dtype)
    if reduction == "mean" and count == 0:
        _warn_empty_mean("chunked_cross_entropy")
        return dtype.type(np.nan)
    divisor = count if reduction == "mean" else 1
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(parts.scaled(1.0)) / divisor
        if not np.isfinite(total):  # rare: overflow in float64, redone on the halved terms
            total = np.sum(parts.scaled(0.5) / divisor) * 2
    return cast("np.floating[Any]", _as_dtype(total, dtype)[()])


# --------------------------------------------------------------------------- vocabulary shards
class ShardStats(NamedTuple):
    r"""What one vocabulary shard contributes to the cross-entropy of each row.

    The arrays are in the work dtype of the shard's input (float32 for
    float16, see ``_checks.work_dtype``). The shard covers the
    vocabulary rows ``offset, ..., offset + size - 1`` of a vocabulary of
    ``vocab_size`` tokens; :func:`merge_shard_statistics` checks that the
    shards it merges tile ``[0, vocab_size)`` exactly.
    """

    #: Row maxima of the shard's logits, shape ``(N,)``.
    m: Array
    #: :math:`\sum_{v \in \text{shard}} e^{z_v - m}`, shape ``(N,)``.
    d: Array
    #: The target's logit where the target is in the shard, ``-inf`` elsewhere.
    z_target: Array
    #: Global id of the shard's first vocabulary row.
    offset: int
    #: Number of vocabulary rows in the shard.
    size: int
    #: Size ``V`` of the whole vocabulary.
    vocab_size: int


def shard_statistics(hidden: ArrayLike, weight_shard: ArrayLike, targets: ArrayLike, *, offset: int,
                     vocab_size: int) -> ShardStats:
    r"""The :class:`ShardStats` of vocabulary rows ``offset, ..., offset + len(weight_shard) - 1``.

    For the shard's logits :math:`z_v = w_v^\top h_n`, :math:`v` in the shard:

    .. math::

        m_n = \max_v z_{n,v}, \qquad d_n = \sum_v e^{z_{n,v} - m_n}, \qquad
        z^{\text{target}}_n = z_{n, y_n} \text{ if } y_n \text{ is in the shard, else } -\infty .

    Parameters
    ----------
    hidden : array_like
        ``(N, d)``, ``N >= 1``.
    weight_shard : array_like
        The shard's rows of :math:`W`, ``(V_s, d)`` with ``V_s >= 1``.
    targets : array_like of int
        Global class ids in ``[0, vocab_size)``, ``(N,)``.
    offset : int
        Global id of the shard's first row, an integer >= 0 (keyword-only).
    vocab_size : int
        Size ``V`` of the whole vocabulary, with ``offset + V_s <= V``
        (keyword-only).

    Returns
    -------
    ShardStats
        With ``offset``, ``size = V_s`` and ``vocab_size`` recorded.

    Raises
    ------
    ValueError
        On shapes that do not fit (the message names ``hidden`` and
        ``weight_shard``), non-finite entries, targets outside ``[0, V)`` or
        not integer-valued, a shard reaching beyond ``vocab_size``, or logits
        that overflow the work dtype.
    softmax_nb.ArgumentTypeError
        If ``offset`` or ``vocab_size`` is not an integer.
    """
    offset = check_int(offset, "offset", 0)
    vocab_size = check_positive_int(vocab_size, "vocab_size")
    h, ws, y, dtype = _check_problem(hidden, weight_shard, targets, "weight_shard", num_classes=vocab_size)
    size = ws.shape[0]
    if offset + size > vocab_size:
        raise ValueError(f"the shard covers rows [{offset}, {offset + size}) (offset={offset} and the {size} rows "
                         f"of weight_shard), beyond the vocabulary [0, {vocab_size}) of vocab_size={vocab_size}")
    work = work_dtype(dtype)
    z = _logits(h.astype(work, copy=False), ws, work, "weight_shard")
    acc = SoftmaxAccumulator().update(z)
    local = y - offset
    inside = (local >= 0) & (local < size)
    zt = np.full(h.shape[0], -np.inf, dtype=work)
    zt[inside] = z[np.flatnonzero(inside), local[inside]]
    return ShardStats(np.asarray(acc.m), np.asarray(acc.d), zt, offset, size, vocab_size)


def _check_tiling(stats: list[ShardStats]) -> int:
    """Check that the shards' ranges ``[offset, offset + size)`` tile ``[0, V)`` exactly; return ``V``."""
    sizes = sorted({int(s.vocab_size) for s in stats})
    if len(sizes) > 1:
        raise ValueError(f"stats: the shards disagree on vocab_size: {sizes}")
    v = sizes[0]
    spans = sorted((int(s.offset), int(s.offset) + int(s.size)) for s in stats)
    tile = f"; the shards must tile the vocabulary [0, {v}) exactly, and they cover "
    covered = tile + ", ".join(f"[{a}, {b})" for a, b in spans)
    reach = (0, 0)  # the span that reaches furthest so far
    for a, b in spans:
        if a > reach[1]:
            raise ValueError(f"stats: shard ranges leave a gap: rows [{reach[1]}, {a}) lie in no shard "
                             f"(a missing shard?){covered}")
        if a < reach[1]:
            raise ValueError(f"stats: shard ranges overlap: [{reach[0]}, {reach[1]}) and [{a}, {b}) overlap on "
                             f"[{a}, {min(b, reach[1])}){covered}")
        reach = (a, b)
    if reach[1] != v:
        raise ValueError(f"stats: shard ranges leave a gap: rows [{reach[1]}, {v}) lie in no shard "
                         f"(a missing shard?){covered}")
    return v


def merge_shard_statistics(stats: list[ShardStats]) -> np.floating[Any]:
    r"""Mean cross-entropy from every shard's statistics, merged with the accumulator rule.

    .. math::

        m = \max_s m_s, \quad d = \sum_s d_s e^{m_s - m}, \quad
        L = \frac{1}{N}\sum_n \big(m_n + \log d_n - z_{n, y_n}\big) .

    The shards must tile the vocabulary: their ranges
    ``[offset, offset + size)``, in any order, must cover ``[0, vocab_size)``
    with no gap and no overlap. A missing shard would make :math:`d` too
    small and an overlapping one count rows twice, both silently wrong
    losses; they raise instead.

    Parameters
    ----------
    stats : list of ShardStats
        One per shard, from :func:`shard_statistics` on the same ``hidden``
        and ``targets``.

    Returns
    -------
    numpy.floating
        The mean cross-entropy, a numpy scalar of the shards' dtype (their
        work dtype: float32 for float16 input).

    Raises
    ------
    ValueError
        If ``stats`` is empty, the shards disagree on ``vocab_size`` or on the
        number of rows, their ranges leave a gap or overlap (the message
        names the ranges), or they were computed with different targets (a
        row's target in no shard, or in two). Every message names ``stats``.
    softmax_nb.ArgumentTypeError
        If ``stats`` is not a list (or tuple) of :class:`ShardStats`.
    """
    if isinstance(stats, ShardStats) or not isinstance(stats, (list, tuple)):
        raise ArgumentTypeError(f"stats must be a list of ShardStats (one per shard), got {type(stats).__name__}")
    for i, s in enumerate(stats):
        if not isinstance(s, ShardStats):
            raise ArgumentTypeError(f"stats[{i}] must be a ShardStats, got {type(s).__name__}")
    if not stats:
        raise ValueError("stats must hold at least one shard")
    rows = {np.shape(s.m) for s in stats}
    if len(rows) > 1:
        raise ValueError(f"stats: the shards have different numbers of rows: {sorted(rows)}")
    _check_tiling(list(stats))
    acc = SoftmaxAccumulator()
    for s in stats:
        acc = acc.merge(SoftmaxAccumulator(s.m, s.d))
    targets = np.stack([s.z_target for s in stats])
    found = np.sum(~np.isneginf(targets), axis=0)  # shards that hold each row's target: exactly one
    if (found != 1).any():
        n = int(np.flatnonzero(found != 1)[0])
        where = "no shard" if found[n] == 0 else f"{int(found[n])} shards"
        raise ValueError(f"stats: the target of row {n} lies in {where}, not exactly one: the shards were "
                         "computed with different targets")
    z_target = np.max(targets, axis=0)
    lse = np.asarray(acc.logsumexp)
    return _mean_loss(lse, z_target, np.result_type(lse, z_target))


@deprecated_call_forms(positional=("n_shards", "scheduler"))
def sharded_cross_entropy(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, *, n_shards: int,
                          scheduler: str = "threads") -> np.floating[Any]:
    r"""Vocabulary-parallel cross-entropy: one ``dask.delayed`` task per shard, merged at the end.

    Each task computes :func:`shard_statistics` of its rows of :math:`W`
    and sends back three numbers per row instead of its :math:`N \times V_s`
    logits; :func:`merge_shard_statistics` combines them with

    .. math::

        L = \frac{1}{N}\sum_n \big(m_n + \log d_n - z_{n, y_n}\big), \quad
        m = \max_s m_s, \quad d = \sum_s d_s e^{m_s - m} .

    This is the vocabulary-parallel cross-entropy of Megatron-LM (Shoeybi et
    al., 2019), written as a dask graph. The caller holds all of :math:`W`
    and each task receives its shard as an argument, so with the default
    threaded scheduler it is one machine's threads. On a
    ``dask.distributed`` cluster the shards would travel to the workers on
    every call; a real deployment keeps each shard resident on its worker
    (scattered once), sends :math:`H` (``N x d``) with every batch, and
    receives three numbers per row from each shard. Megatron merges with two
    all-reduce rounds (the maxima, then the sums and the target logits); the
    :math:`(m, d, z_y)` merge needs one round, an all-gather of the triples
    merged on every worker, since collective libraries reduce only with
    sums, maxima and the like.

    Only the loss is computed. The backward pass shards as well: with the
    merged :math:`\operatorname{LSE}_n = m_n + \log d_n` on every shard,
    shard :math:`s` forms the gradient of its own logits,
    :math:`(e^{Z_s - \operatorname{LSE}} - Y_s)/N` (:math:`Y_s` the one-hot
    targets that fall in the shard), keeps its weight gradient
    :math:`(\partial L / \partial Z_s)^\top H`, and contributes
    :math:`(\partial L / \partial Z_s) W_s` to the hidden-state gradient,
    one all-reduce (sum). The chapter "Large vocabularies" checks this against
    ``chunked_cross_entropy(..., return_grad=True)``.

    Parameters
    ----------
    hidden, weight, targets
        As in :func:`chunked_cross_entropy`.
    n_shards : int
        Number of shards (contiguous blocks of rows of :math:`W`), 1 to V
        (keyword-only).
    scheduler : {'threads', 'sync', 'processes'}, default 'threads'
        The dask scheduler (keyword-only).

    Returns
    -------
    numpy.floating
        The mean cross-entropy, equal to the unsharded one to rounding, a
        numpy scalar of the dtype of ``numpy.result_type(hidden, weight)``.

    Raises
    ------
    ValueError
        As :func:`chunked_cross_entropy`, or if ``n_shards`` is not in
        ``[1, V]`` or ``scheduler`` is not one of the three.
    ImportError
        If dask is not installed.

    Warns
    -----
    DeprecationWarning
        For options passed by position.
    """
    import dask

    n_shards = check_positive_int(n_shards, "n_shards")
    scheduler = check_choice(scheduler, _SCHEDULERS, "scheduler")
    h, w, y, dtype = _check_problem(hidden, weight, targets)
    v = w.shape[0]
    if n_shards > v:
        raise ValueError(f"n_shards must be in [1, V] = [1, {v}], got {n_shards}")
    bounds = np.linspace(0, v, n_shards + 1).round().astype(int)
    tasks = [dask.delayed(shard_statistics)(h, w[a:b], y, offset=int(a), vocab_size=v)
             for a, b in zip(bounds[:-1], bounds[1:])]
    loss = dask.delayed(merge_shard_statistics)(tasks).compute(scheduler=scheduler)
    return cast("np.floating[Any]", _as_dtype(loss, dtype)[()])


# --------------------------------------------------------------------------- sampled softmax
@deprecated_call_forms(positional=("n_samples", "rng", "correct"))
def sampled_softmax_loss(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, proposal: ArrayLike, *,
                         n_samples: int, rng: int | np.random.Generator | None = None,
                         correct: bool = True) -> np.floating[Any]:
    r"""Sampled-softmax estimate of the mean cross-entropy (Jean et al., 2015).

    Draw :math:`k` = ``n_samples`` negatives :math:`S` from the proposal
    :math:`Q` (with replacement, shared by the batch), and take the softmax
    over the target and the negatives, with the **log-Q correction** on the
    negatives:

    .. math::

        \tilde z_v = z_v - \log\big(k\, Q(v)\big), \qquad
        \hat L = \frac{1}{N} \sum_n \Big(\log\big(e^{z_{y_n}}
                 + \sum_{v \in S,\, v \ne y_n} e^{\tilde z_v}\big) - z_{y_n}\Big).

    A negative equal to the row's target is dropped. Then
    :math:`\hat Z = e^{z_y} + \sum_{v \in S, v \ne y} e^{z_v} / (k Q(v))` is an
    unbiased estimate of the partition function :math:`Z = \sum_v e^{z_v}`,
    and :math:`\hat L = \log \hat Z - z_y` is biased low only through the
    concavity of the log (by :math:`O(1/k)`). With ``correct=False`` the raw
    logits of the negatives are used, as if :math:`k Q(v) = 1`: the estimate
    of :math:`Z` is then off by a factor that depends on :math:`Q`, and
    the loss no longer estimates the cross-entropy (Jean et al., 2015).

    Parameters
    ----------
    hidden, weight, targets
        As in :func:`chunked_cross_entropy`.
    proposal : array_like
        :math:`Q`, shape ``(V,)``, finite, positive, summing to 1 (to
        within the square root of its dtype's epsilon; it is then
        renormalised in float64).
    n_samples : int
        Number of negatives :math:`k`, an integer >= 1 (keyword-only).
    rng : int, numpy.random.Generator or None, default None
        Random source (SPEC 7): a seed, a Generator, or None for fresh entropy.
    correct : bool, default True
        Apply the log-Q correction.

    Returns
    -------
    numpy.floating
        The estimate :math:`\hat L`, a numpy scalar of the dtype of
        ``numpy.result_type(hidden, weight)``; only ``N x (k + 1)`` logits
        are computed (in float32 for float16 input).

    Raises
    ------
    ValueError
        As :func:`chunked_cross_entropy`, or if ``proposal`` has the wrong
        shape, a non-finite or non-positive entry, or does not sum to 1.
    softmax_nb.ArgumentTypeError
        If ``n_samples``, ``rng`` or ``correct`` has the wrong type.

    Warns
    -----
    DeprecationWarning
        For options passed by position.
    """
    k = check_positive_int(n_samples, "n_samples")
    rng = check_generator(rng)
    correct = check_bool(correct, "correct")
    h, w, y, dtype = _check_problem(hidden, weight, targets)
    v = w.shape[0]
    q = as_float_array(proposal, "proposal")
    if q.shape != (v,):
        raise ValueError(f"proposal must have shape (V,) = ({v},), one probability per row of weight, "
                         f"got shape {q.shape}")
    check_finite(q, "proposal")
    if not (q > 0).all():
        raise ValueError(f"proposal must be positive for every token (the log-Q correction needs Q(v) > 0), "
                         f"got a minimum of {float(q.min()):.6g}")
    total = float(np.sum(q, dtype=np.float64))
    if abs(total - 1.0) > math.sqrt(float(np.finfo(q.dtype).eps)):
        raise ValueError(f"proposal must sum to 1, got a sum of {total!r}")
    q64 = q.astype(np.float64) / total
    work = work_dtype(dtype)
    neg = rng.choice(v, size=k, p=q64)
    cand = np.concatenate([y[:, None], np.broadcast_to(neg, (len(y), k))], axis=1)  # (N, k+1)
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.einsum("nd,nkd->nk", h.astype(work, copy=False), w[cand].astype(work, copy=False))
    if not np.isfinite(z).all():
        raise ValueError(_overflow_message("the logits hidden @ weight.T", ("hidden", "weight"), work))
    if correct:
        z[:, 1:] -= np.log(k * q64[neg]).astype(work)
    z[:, 1:][cand[:, 1:] == y[:, None]] = -np.inf  # an accidental hit of the target is not a negative
    return _mean_loss(logsumexp(z, axis=-1), z[:, 0], dtype)


# --------------------------------------------------------------------------- hierarchical softmax
def huffman_codes(counts: ArrayLike) -> tuple[list[NDArray[np.intp]], list[NDArray[np.int8]], int]:
    r"""The Huffman tree of token counts, as a path of inner nodes and a binary code per token.

    Frequent tokens get short codes: the expected code length
    :math:`\sum_v p_v \ell_v` with :math:`p_v = c_v / \sum_u c_u` satisfies
    :math:`H(p) \le \sum_v p_v \ell_v < H(p) + 1` (entropy in bits).

    Parameters
    ----------
    counts : array_like
        Finite counts >= 0, shape ``(V,)`` with ``V >= 2``.

    Returns
    -------
    paths : list of numpy.ndarray
        For token ``v``, the ids (``0 .. V-2``) of the inner nodes from the root down.
    codes : list of numpy.ndarray
        For token ``v``, the branch (0 or 1) taken at each of those nodes.
    n_inner : int
        Number of inner nodes, ``V - 1``.

    Raises
    ------
    ValueError
        If ``counts`` is not 1-D with at least 2 entries, or has a NaN, an
        infinite or a negative entry.
    softmax_nb.ArgumentTypeError
        If ``counts`` is not numeric.
    """
    c = as_float_array(counts, "counts")
    if c.ndim != 1 or c.size < 2:
        raise ValueError(f"counts must be a 1-D array of at least 2 counts, got shape {c.shape}")
    check_finite(c, "counts")
    if (c < 0).any():
        raise ValueError(f"counts must be >= 0, got a minimum of {float(c.min()):.6g}")
    v = c.size
    heap = [(float(x), i) for i, x in enumerate(c.astype(np.float64))]
    heapq.heapify(heap)
    parent, branch = np.full(2 * v - 1, -1), np.zeros(2 * v - 1, dtype=np.int8)
    nxt = v
    while len(heap) > 1:
        (ca, a), (cb, b) = heapq.heappop(heap), heapq.heappop(heap)
        parent[a], parent[b], branch[a], branch[b] = nxt, nxt, 0, 1
        heapq.heappush(heap, (ca + cb, nxt))
        nxt += 1
    paths, codes = [], []
    for tok in range(v):
        nodes, bits, node = [], [], tok
        while parent[node] >= 0:
            nodes.append(parent[node] - v)
            bits.append(branch[node])
            node = parent[node]
        paths.append(np.asarray(nodes[::-1], dtype=np.intp))
        codes.append(np.asarray(bits[::-1], dtype=np.int8))
    return paths, codes, v - 1


def _path_and_signs(paths: Any, codes: Any, tok: int, n_inner: int) -> tuple[NDArray[np.intp], NDArray[np.int8]]:
    """Token ``tok``'s path (inner-node ids in ``[0, n_inner)``) and code (0/1 of the same length), checked."""
    path, code = np.asarray(paths[tok]), np.asarray(codes[tok])
    if path.ndim != 1 or path.dtype.kind not in "iu" or (path.size and (path.min() < 0 or path.max() >= n_inner)):
        raise ValueError(f"paths[{tok}] must be a 1-D array of inner-node ids in [0, {n_inner}) "
                         f"(rows of node_weight), got {path!r}")
    if code.shape != path.shape or not np.isin(code, (0, 1)).all():
        raise ValueError(f"codes[{tok}] must hold one branch (0 or 1) per node of paths[{tok}] "
                         f"({path.size}), got {code!r}")
    return path.astype(np.intp), code.astype(np.int8)


def hierarchical_softmax_nll(hidden: ArrayLike, node_weight: ArrayLike, targets: ArrayLike,
                             paths: list[NDArray[np.intp]], codes: list[NDArray[np.int8]]) -> Array:
    r"""Negative log-likelihood of each target under a hierarchical softmax (a binary tree of sigmoids).

    .. math::

        p(y \mid h) = \prod_{j=1}^{L_y} \sigma\big(s_j\, u_{n_j}^\top h\big), \qquad
        s_j = 1 - 2\, b_j ,

    over the inner nodes :math:`n_j` on the path to :math:`y` and the branches
    :math:`b_j \in \{0, 1\}`: a row costs :math:`L_y` dot products instead of
    :math:`V`. The probabilities of all tokens sum to 1 by construction.
    :math:`-\log \sigma(x) = \log(1 + e^{-x})` is evaluated with
    ``numpy.logaddexp`` (no overflow).

    Parameters
    ----------
    hidden : array_like
        ``(N, d)``.
    node_weight : array_like
        One vector per inner node, ``(V - 1, d)``.
    targets : array_like of int
        Token ids in ``[0, V)``, ``(N,)``; floats only if integer-valued.
    paths, codes
        From :func:`huffman_codes` (``V = len(paths)`` tokens).

    Returns
    -------
    numpy.ndarray
        :math:`-\log p(y_n \mid h_n)`, shape ``(N,)``, of the dtype of
        ``numpy.result_type(hidden, node_weight)`` (float16 computed in
        float32).

    Raises
    ------
    ValueError
        If the shapes of ``hidden`` and ``node_weight`` do not fit each other
        or the tree (the message names both), an entry is not finite, a
        target is outside ``[0, V)`` or not integer-valued, a used path or
        code is malformed, or a score overflows the work dtype.
    softmax_nb.ArgumentTypeError
        If ``paths`` or ``codes`` is not a sequence.
    """
    h = as_float_array(hidden, "hidden")
    u = as_float_array(node_weight, "node_weight")
    try:
        v, n_codes = len(paths), len(codes)
    except TypeError:
        raise ArgumentTypeError("paths and codes must be sequences (one array per token), as huffman_codes "
                                "returns") from None
    if n_codes != v or v == 0:
        raise ValueError(f"paths and codes must hold one entry per token (V >= 1), got {v} and {n_codes}")
    if h.ndim != 2 or u.ndim != 2 or u.shape != (v - 1, h.shape[1]):
        raise ValueError(f"hidden must be (N, d) and node_weight (V - 1, d) with V = len(paths) = {v}, "
                         f"got hidden {h.shape} and node_weight {u.shape}")
    check_finite(h, "hidden")
    check_finite(u, "node_weight")
    y = np.asarray(targets)
    if y.shape != (h.shape[0],):
        raise ValueError(f"targets must have shape (N,) = ({h.shape[0]},), one token id per row of hidden, "
                         f"got shape {y.shape}")
    y = check_labels(y, v, "targets")
    dtype = np.result_type(h, u)
    work = work_dtype(dtype)
    hw, uw = h.astype(work, copy=False), u.astype(work, copy=False)
    tree = {tok: _path_and_signs(paths, codes, tok, v - 1) for tok in np.unique(y).tolist()}
    out = np.empty(len(y), dtype=work)
    for n, tok in enumerate(y.tolist()):
        path, code = tree[tok]
        with np.errstate(over="ignore", invalid="ignore"):
            s = (uw[path] @ hw[n]) * (1 - 2 * code).astype(work)
        if not np.isfinite(s).all():
            raise ValueError(_overflow_message(f"the scores node_weight @ hidden of row {n}",
                                               ("hidden", "node_weight"), work))
        out[n] = np.sum(np.logaddexp(work.type(0), -s))  # -log sigmoid(s), stably
    return cast(Array, _as_dtype(out, dtype))
