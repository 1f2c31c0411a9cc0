r"""Scaled dot-product attention: computed directly, tile by tile, backwards, merged from key blocks; and without softmax.

:func:`attention` stores the full score matrix. :func:`tiled_attention`
visits it one ``block_q x block_k`` tile at a time, with the query-tiled loop
and deferred normalisation of FlashAttention-2 (Dao, 2023); FlashAttention
(Dao et al., 2022) introduced the tiling and recomputation, and Rabe and
Staats (2021) the key-chunked attention with a running maximum. Both fold
their scores into a :class:`~softmax_nb.streaming.AttentionState`, the
running :math:`(m, \ell, O)` of the online softmax.
:func:`merge_attention` combines the (output, log-sum-exp) pairs of disjoint
key blocks, as Flash-Decoding (split-K) and ring attention do.
:func:`attention_backward` computes the gradients from the output and the
per-row log-sum-exp alone, recomputing the probabilities tile by tile.
Two functions replace the softmax over keys: :func:`sigmoid_attention`
weights each key by its own sigmoid (Ramapuram et al., 2024), and
:func:`linear_attention` replaces the exponential kernel by a product of
positive features (Katharopoulos et al., 2020), which associativity makes
linear in the number of keys.

Conventions shared by the functions:

* shapes ``q: (..., n_q, d_k)``, ``k: (..., n_k, d_k)``, ``v: (..., n_k, d_v)``,
  with leading (batch, head) axes that broadcast (shared keys and values, as
  in multi-query and grouped-query attention);
* ``mask`` is boolean and ``True`` where a query may attend to a key (as in
  PyTorch's ``scaled_dot_product_attention``);
* ``causal``: ``False``; ``True`` or ``"top_left"``, where query ``i``
  attends keys ``j <= i`` (PyTorch's ``is_causal``); or ``"bottom_right"``,
  where the queries are the *last* ``n_q`` positions of the ``n_k`` keys and
  query ``i`` attends keys ``j <= i + n_k - n_q`` (FlashAttention >= 2.1,
  ``torch.nn.attention.bias.causal_lower_right``): the alignment of a
  decoding step or a chunked prefill against a KV cache. The two agree when
  ``n_q = n_k``. With ``"bottom_right"`` and ``n_q > n_k`` the first
  ``n_q - n_k`` queries see no key;
* ``scale`` defaults to :math:`1/\sqrt{d_k}` and multiplies ``q`` (in the work
  dtype) *before* the product, so the unscaled product :math:`q \cdot k` is
  never formed; for float16 input the float32 work dtype is what keeps the
  scores finite (a float16 ``q @ k.T`` with ``d_k = 64`` and entries of 32
  would overflow);
* float16 input is computed in float32 (scores, running max, sums and output
  accumulators) and the result rounded to float16 once; float32 stays
  float32 and float64 stays float64;
* a query that may attend to no key at all (an all-masked row) gets an output
  of exactly **zero** and a log-sum-exp of ``-inf``, and its gradients are
  zero. Softmax is undefined there; zero is what a padded query should
  contribute downstream, and it is never NaN;
* finite ``q`` and ``k`` whose scores overflow the dtype (float32 ``q = k =
  1e20`` with ``scale=1``) raise a ValueError naming ``q`` and ``k``: the
  weights would depend on scores the dtype cannot hold. Scores that overflow
  to ``-inf`` in a row that keeps a finite score get weight 0, their exact
  limit; values near the dtype's maximum are summed with a power-of-two
  headroom, so the output never overflows.

Naming rule for blocks: ``block_q`` and ``block_k`` count queries and keys per
tile when attention tiles both axes; ``block_size`` (:func:`~softmax_nb.streaming.online_softmax`)
counts entries per block along the one softmax axis that is blocked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, Optional, Union, cast, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (ArgumentTypeError, as_float_array, check_bool, check_finite, check_positive_int,
                      deprecated_call_forms, finite_or_zero, real_scalar, work_dtype)
from .streaming import AttentionState

__all__ = ["attention", "tiled_attention", "attention_backward", "merge_attention", "sigmoid_attention",
           "linear_attention"]

Array = NDArray[np.floating]
Causal = Union[bool, Literal["top_left", "bottom_right"]]
_CAUSAL = "False, True, 'top_left' or 'bottom_right'"


# --------------------------------------------------------------------------- checks
def _as_qkv(q: ArrayLike, k: ArrayLike, v: ArrayLike) -> tuple[Array, Array, Array, tuple[int, ...]]:
    """Validate ``q, k, v``; return them and the broadcast batch shape."""
    q, k, v = as_float_array(q, "q"), as_float_array(k, "k"), as_float_array(v, "v")
    for arr, name in ((q, "q"), (k, "k"), (v, "v")):
        if arr.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions (..., tokens, features), got shape {arr.shape}")
        check_finite(arr, name)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same feature size d_k (last axis), got {q.shape} and {k.shape}")
    if q.shape[-1] == 0:
        raise ValueError(f"q and k must have at least one feature (d_k >= 1), got shape {q.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of keys (axis -2), got {k.shape} and {v.shape}")
    if k.shape[-2] == 0:
        raise ValueError(f"k must hold at least one key (axis -2), got shape {k.shape}")
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"the leading (batch, head) axes of q, k and v must broadcast, got shapes "
                         f"{q.shape}, {k.shape} and {v.shape}") from None
    return q, k, v, batch


def _check_scale(scale: Any, d_k: int) -> float:
    """Return the score scale as a Python float (a NumPy float64 scalar would upcast float32 under NEP 50)."""
    if scale is None:
        return 1.0 / math.sqrt(d_k)
    what = "a finite number > 0 or None (for 1/sqrt(d_k))"
    s = real_scalar(scale, "scale", what)
    if not (math.isfinite(s) and s > 0.0):
        raise ValueError(f"scale must be {what}, got {scale!r}")
    return s


def _check_mask(mask: ArrayLike | None, batch: tuple[int, ...], n_q: int, n_k: int) -> NDArray[np.bool_] | None:
    """Validate a boolean mask and broadcast it (as a view) to ``batch + (n_q, n_k)``."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise ArgumentTypeError(f"mask must be boolean (True where a query may attend to a key), got dtype "
                                f"{arr.dtype}; for an additive float mask, add it to the scores yourself")
    try:
        full = np.broadcast_shapes(arr.shape, (*batch, n_q, n_k))
        if full != (*batch, n_q, n_k):
            raise ValueError
        return np.broadcast_to(arr, full)
    except ValueError:
        raise ValueError(f"mask must broadcast to (..., n_q, n_k) = {(*batch, n_q, n_k)}, "
                         f"got shape {arr.shape}") from None


def _causal_offset(causal: Any, n_q: int, n_k: int) -> int | None:
    """The causal diagonal: query ``i`` sees keys ``j <= i + offset``; ``None`` for no causal mask."""
    if isinstance(causal, (bool, np.bool_)):
        return 0 if causal else None
    if not isinstance(causal, str):
        raise ArgumentTypeError(f"causal must be {_CAUSAL}, got {type(causal).__name__} {causal!r}")
    if causal == "top_left":
        return 0
    if causal == "bottom_right":
        return n_k - n_q
    raise ValueError(f"causal must be {_CAUSAL}, got {causal!r}")


class _Inputs(NamedTuple):
    """Checked inputs of the attention functions, in the work dtype (float32 for float16)."""

    q: Array  # as given (validated, not copied): shape and dtype of dq
    k: Array
    v: Array
    qs: Array  # scale * q, broadcast to batch + (n_q, d_k)
    k_w: Array
    v_w: Array
    allowed: Optional[NDArray[np.bool_]]
    offset: Optional[int]
    scale: float
    batch: tuple[int, ...]
    out_dtype: np.dtype


def _prepare(q: ArrayLike, k: ArrayLike, v: ArrayLike, mask: ArrayLike | None, causal: Any,
             scale: Any) -> _Inputs:
    """Checks and casts shared by every function: q, k, v validated and copied once."""
    q, k, v, batch = _as_qkv(q, k, v)
    out_dtype = np.result_type(q, k, v)
    work = work_dtype(out_dtype)
    s = _check_scale(scale, q.shape[-1])
    n_q, n_k = q.shape[-2], k.shape[-2]
    allowed = _check_mask(mask, batch, n_q, n_k)
    offset = _causal_offset(causal, n_q, n_k)
    # s is a Python float, so float32 stays float32 (B1); q is scaled before the product (B2)
    with np.errstate(over="ignore"):  # checked below
        if s <= float(np.finfo(work).max):
            qs = np.multiply(q, s, dtype=work)
        else:  # s itself would round to inf in the work dtype (0 * inf = NaN, ATT4): multiply in float64
            qs = np.multiply(q, s, dtype=np.float64).astype(work)
    if s > 1.0 and not np.isfinite(qs).all():
        raise ValueError(f"scale * q overflows {work} (scale={s!r}); pass a smaller scale or smaller q")
    qs = np.broadcast_to(qs, (*batch, n_q, q.shape[-1]))
    return _Inputs(q, k, v, qs, k.astype(work, copy=False), v.astype(work, copy=False), allowed, offset, s,
                   batch, out_dtype)


# --------------------------------------------------------------------------- tiles
def _tile_allowed(allowed: NDArray[np.bool_] | None, offset: int | None, rows: slice, cols: slice,
                  n_q: int, n_k: int) -> NDArray[np.bool_] | None:
    """The boolean mask of one tile (``None``: every entry allowed); causal keeps ``j <= i + offset``."""
    r0, r1 = rows.indices(n_q)[:2]
    c0, c1 = cols.indices(n_k)[:2]
    tile = None if allowed is None else allowed[..., rows, cols]
    if offset is not None and c1 - 1 > r0 + offset:  # some key lies above the diagonal in this tile
        tri = np.arange(r0, r1)[:, None] + offset >= np.arange(c0, c1)[None, :]
        tile = tri if tile is None else tile & tri
    return tile


def _above_diagonal(offset: int | None, c0: int, rows: slice) -> bool:
    """True if key block starting at ``c0``, and every later one, is causally masked for all ``rows``."""
    return offset is not None and c0 > rows.stop - 1 + offset


def _masked_scores(qs: Array, k: Array, tile: NDArray[np.bool_] | None) -> Array:
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing scores are caught by the callers (R13)
        s: Array = qs @ np.swapaxes(k, -1, -2)
        if not _products_fit(qs, k):
            s = _checked_overflow(s, qs, k)
    if tile is not None:
        s = np.where(tile, s, -np.inf)
    return s


def _products_fit(qs: Array, k: Array) -> bool:
    """Whether no product or partial sum of ``qs @ k.T`` can overflow: max|q| max|k| d_k within the dtype."""
    if qs.size == 0 or k.size == 0:
        return True
    bound = float(np.max(np.abs(qs))) * float(np.max(np.abs(k))) * qs.shape[-1]
    return bound <= float(np.finfo(qs.dtype).max)


def _checked_overflow(s: Array, qs: Array, k: Array) -> Array:
    r"""The scores ``s = qs @ k.T`` with every overflowed entry either ``-inf`` (checked) or NaN.

    The rare path of :func:`_masked_scores`, where a product or a partial sum could overflow. A finite
    entry of ``s`` is exact to rounding (an overflow cannot come back to a finite sum). A non-finite one
    is not to be trusted: BLAS may return ``-inf`` for a score whose exact value is a large *positive*
    number (one product overflowing to ``-inf`` before a larger one of the opposite sign is added). It is
    recomputed with each row of ``qs`` and of ``k`` scaled into [-1, 1] by a power of two, where nothing
    overflows, and the exponents added back by ``ldexp`` (exact). Where that gives ``-inf`` too, the
    score is ``-inf`` (weight 0, its exact limit); anywhere else it becomes NaN, which the callers refuse
    as an overflow (``inf - inf`` in the sum included).
    """
    bad = ~np.isfinite(s)
    if not bad.any():
        return s
    e_q = np.frexp(np.max(np.abs(qs), axis=-1))[1]
    e_k = np.frexp(np.max(np.abs(k), axis=-1))[1]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        unit = np.ldexp(qs, -e_q[..., None]) @ np.swapaxes(np.ldexp(k, -e_k[..., None]), -1, -2)
        scaled = np.ldexp(unit, e_q[..., :, None] + e_k[..., None, :])
    return np.where(bad, np.where(np.isneginf(scaled), -np.inf, np.nan), s).astype(s.dtype, copy=False)


def _overflow_message(work: np.dtype) -> str:
    hint = "" if work == np.float64 else " or pass float64 arrays"
    return (f"the scores scale * q @ k.T overflow {work} (|score| > {np.finfo(work).max:.4g}, or inf - inf in "
            f"the sum) although q and k are finite; scale q or k down{hint}")


def _check_rows_with_keys(lse: Array, inp: _Inputs) -> None:
    """Raise if a row that has an allowed key ended with no finite score: every one overflowed to -inf."""
    empty = np.isneginf(lse)
    if not empty.any():
        return
    n_q, n_k = inp.qs.shape[-2], inp.k_w.shape[-2]
    has_key = np.ones(lse.shape, bool) if inp.allowed is None else inp.allowed.any(axis=-1)
    if inp.offset is not None:  # query i has a key j <= i + offset among allowed ones
        cols = np.arange(n_k)
        causal = np.arange(n_q)[:, None] + inp.offset >= cols[None, :]
        has_key = has_key & (causal.any(axis=-1) if inp.allowed is None else (inp.allowed & causal).any(axis=-1))
    if np.any(empty & has_key):
        raise ValueError(_overflow_message(inp.qs.dtype))


def _headroom(x: Array, terms: int) -> float:
    """A power of two ``c <= 1`` such that a sum of ``terms`` entries of ``c * x`` cannot overflow (1 almost always)."""
    if x.size == 0:
        return 1.0
    biggest = max(float(np.max(x)), -float(np.min(x)))
    limit = float(np.finfo(x.dtype).max) / (2 * terms)
    return 1.0 if biggest <= limit else 2.0 ** -math.ceil(math.log2(biggest / limit))


def _unscale(out: Array, c: float, x: Array) -> Array:
    """Undo the headroom ``c`` of :func:`_headroom`: a row is a convex combination, inside ``[min x, max x]``,
    or exactly 0 (a row with no key, which must stay 0: the clip range includes 0, ATT5)."""
    if c == 1.0:
        return out
    lo, hi = min(float(np.min(x)) * c, 0.0), max(float(np.max(x)) * c, 0.0)
    return np.clip(out, lo, hi) / c


# --------------------------------------------------------------------------- forward
@overload
def attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, mask: ArrayLike | None = ..., causal: Causal = ...,
              scale: float | None = ..., return_lse: Literal[False] = ...) -> Array: ...
@overload
def attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, mask: ArrayLike | None = ..., causal: Causal = ...,
              scale: float | None = ..., return_lse: Literal[True]) -> tuple[Array, Array]: ...
@overload
def attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, mask: ArrayLike | None = ..., causal: Causal = ...,
              scale: float | None = ..., return_lse: bool) -> Array | tuple[Array, Array]: ...
@deprecated_call_forms(("mask", "causal", "scale"))
def attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, mask: ArrayLike | None = None, causal: Causal = False,
              scale: float | None = None, return_lse: bool = False) -> Array | tuple[Array, Array]:
    r"""Scaled dot-product attention, computed directly (Vaswani et al., 2017).

    .. math::

        S = s\, Q K^\top, \qquad
        P_{ij} = \frac{[\text{allowed}_{ij}]\, e^{S_{ij}}}{\sum_{j'} [\text{allowed}_{ij'}]\, e^{S_{ij'}}},
        \qquad \operatorname{Attention}(Q, K, V) = P V ,

    with :math:`s = 1/\sqrt{d_k}` by default. The full ``(n_q, n_k)``
    score matrix is stored. Every option is keyword-only (passing ``mask``,
    ``causal`` or ``scale`` positionally still works for one release, with a
    DeprecationWarning).

    Parameters
    ----------
    q : array_like
        Queries, shape ``(..., n_q, d_k)``.
    k : array_like
        Keys, shape ``(..., n_k, d_k)``.
    v : array_like
        Values, shape ``(..., n_k, d_v)``. The leading axes of ``q, k, v``
        (and ``mask``) broadcast.
    mask : array_like of bool, optional
        ``True`` where query ``i`` may attend to key ``j``; broadcastable to
        ``(..., n_q, n_k)``. Masked scores are :math:`-\infty` (weight 0).
    causal : bool or {'top_left', 'bottom_right'}, default False
        ``True`` or ``'top_left'``: query ``i`` may attend only keys
        ``j <= i`` (PyTorch's ``is_causal``). ``'bottom_right'``: the queries
        are the last ``n_q`` of the ``n_k`` positions, and query ``i`` may
        attend keys ``j <= i + n_k - n_q`` (a decoding step or chunked
        prefill against a KV cache; FlashAttention >= 2.1). Combined with
        ``mask`` by logical and.
    scale : float, optional
        Score scale :math:`s > 0`; default :math:`1/\sqrt{d_k}`. Applied to
        ``q`` before the product.
    return_lse : bool, default False
        Also return the per-row log-sum-exp
        :math:`L_i = \log \sum_j [\text{allowed}_{ij}] e^{S_{ij}}`, all that
        :func:`attention_backward` and :func:`merge_attention` need besides
        the output.

    Returns
    -------
    out : numpy.ndarray
        Shape ``(..., n_q, d_v)`` (the broadcast batch), in the common dtype
        of ``q, k, v`` (float16 input is computed in float32 and rounded
        once). Each row is a convex combination of the allowed rows of
        ``v``; a row with no allowed key is exactly 0.
    lse : numpy.ndarray
        Only if ``return_lse``: shape ``(..., n_q)``, in the work dtype
        (float32 for float16 input); ``-inf`` for rows with no allowed key.

    Raises
    ------
    ValueError
        If the shapes do not fit (or ``d_k = 0`` or there are no keys), an
        entry of ``q, k, v`` is not finite, ``mask`` does not broadcast,
        ``causal`` is a string other than the two alignments, ``scale`` is
        not > 0 and finite, or the scores of finite ``q`` and ``k`` overflow.
    TypeError
        (:class:`~softmax_nb.ArgumentTypeError`) If ``mask`` is not
        boolean, ``causal`` is neither a bool nor a string, ``scale`` is not
        a real number (a string such as ``"0.5"`` included), or
        ``return_lse`` is not a bool.

    Examples
    --------
    >>> q = k = np.eye(2)
    >>> attention(q, k, np.array([[1.0], [3.0]]), causal=True).round(4)
    array([[1.    ],
           [2.3395]])
    >>> attention(q[1:], k, np.array([[1.0], [3.0]]), causal="bottom_right").round(4)  # the last query alone
    array([[2.3395]])
    """
    inp = _prepare(q, k, v, mask, causal, scale)
    return_lse = check_bool(return_lse, "return_lse")
    n_q, n_k = inp.qs.shape[-2], inp.k_w.shape[-2]
    c = _headroom(inp.v_w, n_k)
    tile = _tile_allowed(inp.allowed, inp.offset, slice(0, n_q), slice(0, n_k), n_q, n_k)
    state = AttentionState()._update(_masked_scores(inp.qs, inp.k_w, tile), inp.v_w * c if c != 1.0 else inp.v_w,
                                     _overflow_message(inp.qs.dtype))
    return _finish(state.output, np.asarray(state.logsumexp), inp, c, return_lse)


def _finish(out: Array, lse: Array, inp: _Inputs, c: float,
            return_lse: bool) -> Array | tuple[Array, Array]:
    """Check rows that lost every score to overflow; undo the headroom; round the output once."""
    _check_rows_with_keys(lse, inp)  # shapes are full: q was broadcast to the batch
    out = _unscale(out, c, inp.v_w).astype(inp.out_dtype, copy=False)
    return (out, lse) if return_lse else out


@overload
def tiled_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, block_q: int = ..., block_k: int = ...,
                    causal: Causal = ..., mask: ArrayLike | None = ..., scale: float | None = ...,
                    return_lse: Literal[False] = ...) -> Array: ...
@overload
def tiled_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, block_q: int = ..., block_k: int = ...,
                    causal: Causal = ..., mask: ArrayLike | None = ..., scale: float | None = ...,
                    return_lse: Literal[True]) -> tuple[Array, Array]: ...
@overload
def tiled_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, block_q: int = ..., block_k: int = ...,
                    causal: Causal = ..., mask: ArrayLike | None = ..., scale: float | None = ...,
                    return_lse: bool) -> Array | tuple[Array, Array]: ...
@deprecated_call_forms(renamed={"block_size": ("block_k", check_positive_int)})
def tiled_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, block_q: int = 64, block_k: int = 64,
                    causal: Causal = False, mask: ArrayLike | None = None, scale: float | None = None,
                    return_lse: bool = False) -> Array | tuple[Array, Array]:
    r"""Attention one ``block_q x block_k`` tile at a time, never storing the score matrix.

    The loop order is that of FlashAttention-2 (Dao, 2023): the outer loop
    runs over blocks of queries, the inner over blocks of keys. Each query
    block keeps an :class:`~softmax_nb.streaming.AttentionState`: the
    running maximum :math:`m`, sum :math:`\ell` and *unnormalised* output
    :math:`O`, updated per key block :math:`B` with scores
    :math:`S_B = s\, Q K_B^\top`:

    .. math::

        m' = \max(m, \max_{j \in B} S_j), \quad
        \ell' = \ell\, e^{m - m'} + \sum_{j \in B} e^{S_j - m'}, \quad
        O' = O\, e^{m - m'} + e^{S_B - m'} V_B ,

    and divided by :math:`\ell` once, after the last key block (deferred
    normalisation). FlashAttention (Dao et al., 2022) loops over key blocks
    outside and renormalises :math:`O` at every step; Rabe and Staats (2021)
    chunk the keys with the same running-max rescaling. The working set is
    one tile, :math:`O(B_q B_k + (B_q + B_k) d)` numbers.

    With ``causal``, key blocks that lie entirely above the diagonal are
    skipped (about half the tiles for ``n_q = n_k``), and the triangular
    mask is applied only in tiles that straddle it; for ``'bottom_right'``
    the diagonal is shifted by ``n_k - n_q``. Tiles that an explicit
    ``mask`` forbids entirely are skipped as well.

    Parameters
    ----------
    q, k, v, mask, causal, scale, return_lse
        As in :func:`attention` (keyword-only after ``v``).
    block_q : int, default 64
        Queries per tile; an integer >= 1.
    block_k : int, default 64
        Keys per tile; an integer >= 1. Its old name ``block_size`` still
        works for one release, with a DeprecationWarning (``block_size``
        now means entries per block along the softmax axis, for functions
        that block one axis only, such as :func:`~softmax_nb.streaming.online_softmax`).

    Returns
    -------
    out : numpy.ndarray
        As :func:`attention`, equal to it to rounding for every block size.
    lse : numpy.ndarray
        Only if ``return_lse``, as in :func:`attention`.

    Raises
    ------
    ValueError, TypeError
        As :func:`attention`, or if a block size is not an integer >= 1.
    """
    bq, bk = check_positive_int(block_q, "block_q"), check_positive_int(block_k, "block_k")
    inp = _prepare(q, k, v, mask, causal, scale)
    return_lse = check_bool(return_lse, "return_lse")
    n_q, n_k, d_v = inp.qs.shape[-2], inp.k_w.shape[-2], inp.v_w.shape[-1]
    c = _headroom(inp.v_w, n_k)
    v_w = inp.v_w * c if c != 1.0 else inp.v_w
    work, invalid = inp.qs.dtype, _overflow_message(inp.qs.dtype)
    out = np.empty((*inp.batch, n_q, d_v), dtype=work)
    lse = np.empty((*inp.batch, n_q), dtype=work)
    for r0 in range(0, n_q, bq):
        rows = slice(r0, min(r0 + bq, n_q))
        q_blk = inp.qs[..., rows, :]
        state = AttentionState()
        for c0 in range(0, n_k, bk):
            if _above_diagonal(inp.offset, c0, rows):
                break  # this key block and all later ones lie above the diagonal
            cols = slice(c0, min(c0 + bk, n_k))
            tile = _tile_allowed(inp.allowed, inp.offset, rows, cols, n_q, n_k)
            if tile is not None and not tile.any():
                continue
            state._update(_masked_scores(q_blk, inp.k_w[..., cols, :], tile), v_w[..., cols, :], invalid)
        out[..., rows, :] = state.output  # 0 for rows that saw no key (a fresh state: a scalar 0)
        lse[..., rows] = state.logsumexp
    return _finish(out, lse, inp, c, return_lse)


# --------------------------------------------------------------------------- merging key blocks
def _as_blocks(blocks: Any, name: str) -> list[Any]:
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, (Sequence, np.ndarray)):
        raise ArgumentTypeError(f"{name} must be a sequence of arrays (one per key block), got "
                                f"{type(blocks).__name__}")
    return list(blocks)


def merge_attention(outputs: Sequence[ArrayLike],
                    lses: Sequence[ArrayLike]) -> tuple[Array, Union[Array, np.floating[Any]]]:
    r"""Attention over all keys from the (output, log-sum-exp) pairs of disjoint key blocks.

    Block :math:`b` of the keys gives, per query, the output
    :math:`O_b = \sum_{j \in b} e^{S_j - L_b} v_j` (normalised within the
    block) and :math:`L_b = \log \sum_{j \in b} e^{S_j}`, for example from
    ``attention(q, k_b, v_b, return_lse=True)``. Since
    :math:`e^{L_b} O_b = \sum_{j \in b} e^{S_j} v_j`, attention over the union
    of the blocks is

    .. math::

        L = \log \sum_b e^{L_b}, \qquad O = \sum_b e^{L_b - L}\, O_b ,

    the merge of :class:`~softmax_nb.streaming.AttentionState` with
    :math:`(m, d, o) = (L_b, 1, O_b)` per block. This is how Flash-Decoding
    (split-K) and ring attention combine partial results; the result does not
    depend on the order of the blocks beyond rounding. A block in which a row
    attends to nothing (:math:`L_b = -\infty`) contributes nothing to that row,
    whatever its output; if every block is empty for a row, its output is 0
    and its log-sum-exp ``-inf``, as in :func:`attention`.

    Parameters
    ----------
    outputs : sequence of array_like
        The blocks' outputs, each of shape ``(..., n_q, d_v)`` (all the same
        shape), finite.
    lses : sequence of array_like
        The blocks' log-sum-exps, each of shape ``(..., n_q)``: real numbers
        or ``-inf``.

    Returns
    -------
    out : numpy.ndarray
        Shape ``(..., n_q, d_v)``, in the common dtype of ``outputs``
        (float16 is computed in float32 and rounded once).
    lse : numpy.ndarray or numpy scalar
        Shape ``(..., n_q)``, in the work dtype of all inputs (float32 when
        the widest input is float16); a numpy scalar for 1-D outputs (one
        query), as :func:`~softmax_nb.core.logsumexp` returns for 1-D input.

    Raises
    ------
    ValueError
        If there are no blocks, ``outputs`` and ``lses`` differ in length,
        the shapes do not fit, an output is not finite, or a log-sum-exp is
        NaN or ``+inf``.
    TypeError
        (:class:`~softmax_nb.ArgumentTypeError`) If ``outputs`` or
        ``lses`` is not a sequence of numeric arrays.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> q, k, v = rng.normal(size=(2, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    >>> halves = [attention(q, k[s], v[s], return_lse=True) for s in (slice(0, 2), slice(2, 6))]
    >>> out, lse = merge_attention(*zip(*halves))
    >>> bool(np.allclose(out, attention(q, k, v)))
    True
    """
    outs, ls = _as_blocks(outputs, "outputs"), _as_blocks(lses, "lses")
    if len(outs) != len(ls):
        raise ValueError(f"outputs and lses must have the same length (one pair per key block), "
                         f"got {len(outs)} and {len(ls)}")
    if not outs:
        raise ValueError("outputs and lses must hold at least one key block, got none")
    outs = [as_float_array(o, f"outputs[{b}]") for b, o in enumerate(outs)]
    ls = [as_float_array(x, f"lses[{b}]") for b, x in enumerate(ls)]
    for b, (o, x) in enumerate(zip(outs, ls)):
        if o.ndim == 0:
            raise ValueError(f"outputs[{b}] must have at least one dimension (..., d_v), got a scalar")
        if o.shape != outs[0].shape:
            raise ValueError(f"outputs[{b}] has shape {o.shape}, but outputs[0] has shape {outs[0].shape}; every "
                             "key block must cover the same queries")
        if x.shape != o.shape[:-1]:
            raise ValueError(f"lses[{b}] must have shape {o.shape[:-1]} (one per query of outputs[{b}]), "
                             f"got {x.shape}")
        check_finite(o, f"outputs[{b}]")
        if np.isnan(x).any() or np.isposinf(x).any():
            raise ValueError(f"lses[{b}] must contain real numbers or -inf (a row with no key in the block), "
                             "got NaN or +inf")
    out_dtype = np.result_type(*outs)
    work = work_dtype(np.result_type(*outs, *ls))
    outs, ls = [o.astype(work, copy=False) for o in outs], [x.astype(work, copy=False) for x in ls]
    everything = np.stack(outs)
    c = _headroom(everything, len(outs))  # 1 unless a sum of the outputs could overflow
    states = [AttentionState(x, np.isfinite(x).astype(work), np.where(np.isfinite(x)[..., None], o * c, 0))
              for o, x in zip(outs, ls)]  # (m, d, o) = (L_b, 1, O_b); (-inf, 0, 0) for a row with no key
    merged = states[0].merge(*states[1:])
    return _unscale(merged.output, c, everything).astype(out_dtype, copy=False), merged.logsumexp


# --------------------------------------------------------------------------- backward
def _sum_to(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get ``shape``."""
    extra = grad.ndim - len(shape)
    g = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def attention_backward(grad_out: ArrayLike, q: ArrayLike, k: ArrayLike, v: ArrayLike, out: ArrayLike,
                       lse: ArrayLike, *, mask: ArrayLike | None = None, causal: Causal = False,
                       scale: float | None = None, block_q: int = 64,
                       block_k: int = 64) -> tuple[Array, Array, Array]:
    r"""Gradients of attention with respect to ``q, k, v``, from the output and the per-row LSE.

    Nothing of size ``n_q x n_k`` is stored by the forward pass: the
    probabilities of each tile are recomputed as :math:`P = e^{S - L}` from
    the row log-sum-exp :math:`L = m + \log \ell`, as FlashAttention-2 does
    (Dao, 2023; FlashAttention, Dao et al., 2022, stored :math:`m` and
    :math:`\ell` apart). For a row with no allowed key the package stores
    :math:`L = -\infty` and guards it (flash-attn stores :math:`+\infty`, so
    that :math:`e^{S - L} = 0` without a mask). With :math:`G = \partial f/\partial O` (``grad_out``):

    .. math::

        dV = P^\top G, \qquad dP = G V^\top, \qquad
        D_i = \sum_c G_{ic} O_{ic} = \langle p_i, dP_i \rangle, \\
        dS = P \odot (dP - D), \qquad dQ = s\, dS\, K, \qquad dK = s\, dS^\top Q .

    :math:`dS` is the softmax vector-Jacobian product
    :math:`p \odot (g - \langle p, g \rangle)` row by row, with
    :math:`\langle p, g \rangle` read off the output instead of summed over keys.

    Parameters
    ----------
    grad_out : array_like
        :math:`\partial f / \partial O`, the shape of ``out``.
    q, k, v, mask, causal, scale
        The forward pass's arguments (``causal`` with the same alignment).
    out, lse : array_like
        The forward pass's results, from ``attention(..., return_lse=True)``
        or ``tiled_attention(..., return_lse=True)``.
    block_q, block_k : int, default 64
        Queries and keys per tile of the recomputation; they do not change
        the result beyond rounding.

    Returns
    -------
    dq, dk, dv : numpy.ndarray
        Shapes and dtypes of ``q, k, v`` (summed over broadcast axes; float16
        gradients are accumulated in float32). Rows with no allowed key
        contribute nothing.

    Raises
    ------
    ValueError
        As :func:`attention`, or if ``grad_out``, ``out`` or ``lse`` have the
        wrong shape or are not finite (``lse`` may be ``-inf``), or the
        gradients overflow (an ``lse`` that is not the forward pass's).
    """
    bq, bk = check_positive_int(block_q, "block_q"), check_positive_int(block_k, "block_k")
    inp = _prepare(q, k, v, mask, causal, scale)
    work = inp.qs.dtype
    shape_o = (*inp.batch, inp.qs.shape[-2], inp.v_w.shape[-1])
    g = as_float_array(grad_out, "grad_out")
    o = as_float_array(out, "out")
    for arr, name in ((g, "grad_out"), (o, "out")):
        if arr.shape != shape_o:
            raise ValueError(f"{name} must have the output's shape {shape_o}, got {arr.shape}")
        check_finite(arr, name)
    L = as_float_array(lse, "lse")
    if L.shape != shape_o[:-1]:
        raise ValueError(f"lse must have shape {shape_o[:-1]} (one per query), got {L.shape}")
    if np.isnan(L).any() or np.isposinf(L).any():
        raise ValueError("lse must be finite or -inf (a row with no allowed key), got NaN or +inf")
    o_given, L_given = o, L
    with np.errstate(over="ignore"):  # a float64 out or lse beyond a float32 work dtype: checked next
        o, L = o.astype(work, copy=False), L.astype(work, copy=False)
    if not np.isfinite(o).all():
        raise ValueError(f"out must be finite in the work dtype {work}, got values beyond its range")
    if np.isposinf(L).any():
        raise ValueError(f"lse must be finite or -inf in the work dtype {work}, got values beyond its range")
    L_safe = finite_or_zero(L)
    with np.errstate(over="ignore"):  # a float64 grad_out beyond a float32 work dtype: the rare path below
        g_w = g.astype(work, copy=False)
    first = _backward_tiles(g_w, o, L_safe, inp, bq, bk) if np.isfinite(g_w).all() else None
    grads: list[Optional[Array]] = list(first) if first is not None else [None, None, None]
    ok = [d is not None and bool(np.isfinite(d).all()) for d in grads]
    if not all(ok) and work != np.float64:
        # rare: the gradients overflow float32 on the way. In float64 no product of float32 numbers can
        # (|G|, |V|, |sQ|, |K| < 3.5e38, so no term exceeds about 1e116): computed there and rounded once.
        return _backward_in_float64(g, o_given, L_given, inp, bq, bk)
    shifts = [0, 0, 0]
    lo_parts: list[Optional[Array]] = [None, None, None]
    lo_shift = 0  # the headroom of the small entries of G, when they need one of their own
    e_q = e_k = 0  # the exponents of max|sQ| and max|K| on the headroom path
    if not all(ok):
        # rare: G * O, G V^T or a partial sum overflowed; the gradients that did are computed again with
        # G 2^-k2 and scaled back at the end (exact); the finite ones keep full precision (ATT3). The
        # gradients are linear in G, so the entries of G that 2^-k2 would push below the normal range (and
        # round) are kept apart, unscaled, and their share is added after the scale is undone.
        k2 = _grad_headroom(g, o, inp)
        # dQ and dK of G 2^-k2 are formed with K and sQ scaled up near 1 (their exponents are added back at
        # the end): with |sQ| = 2^-900, dS^T sQ of a scaled-down G underflowed to 0 (dk 0 instead of 2.2e-242).
        # Only small operands are scaled (up): scaling a large one down would push products of a small G
        # into the subnormal range, whose rounding the exponent added back would magnify.
        e_q, e_k = (min(math.frexp(float(np.max(np.abs(a), initial=0.0)))[1], 0) for a in (inp.qs, inp.k_w))
        again: Optional[tuple[Array, Array, Array]] = None
        lo: Optional[tuple[Array, Array, Array]] = None
        if k2:
            g_wide = g.astype(np.result_type(g, work), copy=False)
            # small: below the scaled part's normal range, and castable to the work dtype as it is
            with np.errstate(over="ignore"):  # k2 > 2045 (float64): every entry is below the threshold
                threshold = np.ldexp(float(np.finfo(work).tiny), k2)
            small = (np.abs(g_wide) < threshold) & (np.abs(g_wide) <= float(np.finfo(work).max))
            if small.any() and not small.all():
                g_lo = np.where(small, g_wide, 0.0)
                lo = _backward_tiles(g_lo.astype(work), o, L_safe, inp, bq, bk, e_q, e_k)
                if not all(np.isfinite(d).all() for d in lo):
                    # the small part overflows on its own (a huge v or k): it gets a headroom of its own,
                    # smaller than k2, rather than the rest's, which would round it to 0
                    lo_shift = _grad_headroom(g_lo, o, inp)
                    lo = _backward_tiles(np.ldexp(g_lo, -lo_shift).astype(work), o, L_safe, inp, bq, bk, e_q, e_k)
                    if not all(np.isfinite(d).all() for d in lo):
                        lo, lo_shift = None, 0  # scale it with the rest
            g_hi = np.where(small, 0.0, g_wide) if lo is not None else g_wide
            again = _backward_tiles(np.ldexp(g_hi, -k2).astype(work), o, L_safe, inp, bq, bk, e_q, e_k)
        for i in range(3):
            if not ok[i]:
                if again is None or not np.isfinite(again[i]).all():
                    raise ValueError(_INCONSISTENT_LSE.format(work=work))
                grads[i], shifts[i] = again[i], k2 + (e_k, e_q, 0)[i]
                if lo is not None:
                    lo_parts[i] = lo[i]
    dq, dk, dv = (cast(Array, d) for d in grads)
    with np.errstate(over="ignore", invalid="ignore"):  # a gradient beyond its array's dtype: checked below
        summed = _finish_gradients((dq, dk, dv), shifts, inp, work)
        if any(part is not None for part in lo_parts):
            zero = [np.zeros_like(d) for d in (dq, dk, dv)]
            parts = [p if p is not None else z for p, z in zip(lo_parts, zero)]
            lo_shifts = [lo_shift + e_k, lo_shift + e_q, lo_shift]
            summed = [a + b for a, b in zip(summed, _finish_gradients(parts, lo_shifts, inp, work))]
        res = [d.astype(a.dtype, copy=False) for d, a in zip(summed, (inp.q, inp.k, inp.v))]
    _check_gradients_fit(res, inp)
    return res[0], res[1], res[2]


_INCONSISTENT_LSE = ("the gradients overflow {work}: lse must be the log-sum-exp the forward pass returned for "
                     "these q, k, mask and causal (a score far above its row's lse gives exp overflow), or "
                     "grad_out and v are too large for the dtype")


def _check_gradients_fit(res: Sequence[Array], inp: _Inputs) -> None:
    for d, name, a in zip(res, "qkv", (inp.q, inp.k, inp.v)):
        if not np.isfinite(d).all():
            raise ValueError(f"the gradient d{name} overflows {a.dtype} (the dtype of {name}): the exact gradient "
                             "is beyond its range; pass float64 arrays or a smaller grad_out")


def _backward_in_float64(g: Array, o: Array, L: Array, inp: _Inputs, bq: int,
                         bk: int) -> tuple[Array, Array, Array]:
    """:func:`attention_backward` for float16/float32 inputs whose gradients overflow their work dtype on the
    way: every array in float64 (``scale * q`` formed again there), the gradients rounded once to the dtypes
    of ``q, k, v``; one beyond its dtype's range raises."""
    f64 = np.dtype(np.float64)
    wide = inp._replace(qs=np.broadcast_to(np.multiply(inp.q, inp.scale, dtype=f64), inp.qs.shape),
                        k_w=inp.k.astype(f64), v_w=inp.v.astype(f64))
    grads = _backward_tiles(g.astype(f64), o.astype(f64), finite_or_zero(L.astype(f64)), wide, bq, bk)
    if not all(np.isfinite(d).all() for d in grads):
        raise ValueError(_INCONSISTENT_LSE.format(work=inp.qs.dtype))
    with np.errstate(over="ignore"):  # a gradient beyond its array's dtype: checked below
        res = [d.astype(a.dtype) for d, a in zip(_finish_gradients(grads, [0, 0, 0], wide, f64),
                                                 (inp.q, inp.k, inp.v))]
    _check_gradients_fit(res, inp)
    return res[0], res[1], res[2]


def _finish_gradients(grads: Sequence[Array], shifts: Sequence[int], inp: _Inputs, work: np.dtype) -> list[Array]:
    """Sum ``(dq / s, dk, dv)`` over broadcast axes, apply the scale to dq, and undo the headroom 2^-shift (exact)."""
    dq, dk, dv = grads
    # s dQ: summed over broadcast axes first, then scaled (terms of opposite sign cancel before a large s
    # can overflow them); scaled first only if that sum itself overflows (a small s)
    dq_sum = _sum_to(dq, inp.q.shape)
    if np.isfinite(dq_sum).all():
        # s 2^shift dQ with s = f 2^e (frexp): one ldexp, so a subnormal dq is rounded once, not rounded by
        # the product with s and its error then scaled up by 2^shift
        f, e = math.frexp(inp.scale)
        dq_done = np.ldexp(dq_sum * f, e + shifts[0])
        return [dq_done] + [np.ldexp(d, k) if k else d for d, k in
                            ((_sum_to(dk, inp.k.shape), shifts[1]), (_sum_to(dv, inp.v.shape), shifts[2]))]
    summed = [_sum_to(_scale_dq(dq, inp.scale, work), inp.q.shape), _sum_to(dk, inp.k.shape),
              _sum_to(dv, inp.v.shape)]
    return [np.ldexp(d, k) if k else d for d, k in zip(summed, shifts)]


def _scale_dq(dq: Array, scale: float, work: np.dtype) -> Array:
    """``scale * dq`` in the work dtype; a scale beyond float32's range is applied in float64 (0 * inf, ATT4)."""
    if scale <= float(np.finfo(work).max):
        return dq * scale  # a Python float: float32 stays float32 (NEP 50)
    return (dq * np.float64(scale)).astype(work)


def _grad_headroom(g: Array, o: Array, inp: _Inputs) -> int:
    r"""The least :math:`k \ge 0` with :math:`2 d_v\, n\, \max|G| \max(|O|, |V|, 1) \max(|sQ|, |K|, 1)\,
    2^{-k} \le \max/4` (:math:`n = \max(n_q, n_k)`): with :math:`G 2^{-k}`, no product or partial sum of
    :math:`D`, :math:`dP`, :math:`dS`, :math:`dV`, :math:`dQ`, :math:`dK` can overflow the work dtype."""
    top = float(np.finfo(inp.qs.dtype).max)
    g_max = float(np.max(np.abs(g), initial=0.0))
    if g_max == 0.0:
        return 0
    big = [float(np.max(np.abs(a), initial=1.0)) for a in (o, inp.v_w, inp.qs, inp.k_w)]
    n = max(inp.qs.shape[-2], inp.k_w.shape[-2])
    excess = (math.log2(g_max) + math.log2(2 * max(o.shape[-1], 1) * n) + math.log2(max(big[0], big[1]))
              + math.log2(max(big[2], big[3])) - math.log2(top / 4))
    return max(math.ceil(excess), 0)


def _backward_tiles(g: Array, o: Array, L_safe: Array, inp: _Inputs, bq: int,
                    bk: int, e_q: int = 0, e_k: int = 0) -> tuple[Array, Array, Array]:
    """The tile loop of :func:`attention_backward` in the work dtype: ``(dq / s, dk, dv)`` before the
    sums over broadcast axes; an overflow leaves inf or NaN (no warning), for the caller to check.

    With ``e_q``, ``e_k`` the products dQ = dS K and dK = dS^T (sQ) take K 2^-e_k and sQ 2^-e_q (exact
    powers of two; the scores use K and sQ as they are), so that dq and dk come back scaled by 2^-e_k and
    2^-e_q: the headroom path brings a small largest operand up near 1, where G 2^-k2 times it cannot
    underflow."""
    qs, k_w, v_w, batch, offset = inp.qs, inp.k_w, inp.v_w, inp.batch, inp.offset
    work = qs.dtype
    n_q, n_k, d_v = qs.shape[-2], k_w.shape[-2], v_w.shape[-1]
    kb = np.broadcast_to(k_w, (*batch, n_k, k_w.shape[-1]))
    with np.errstate(under="ignore"):
        q_prod = np.ldexp(qs, -e_q) if e_q else qs
        k_prod = np.ldexp(kb, -e_k) if e_k else kb
    vb = np.broadcast_to(v_w, (*batch, n_k, d_v))
    dq = np.zeros(qs.shape, dtype=work)
    dk = np.zeros(kb.shape, dtype=work)
    dv = np.zeros(vb.shape, dtype=work)
    with np.errstate(over="ignore", invalid="ignore"):
        D = np.sum(g * o, axis=-1)  # <p_i, dP_i> = <G_i, O_i>
    for r0 in range(0, n_q, bq):
        rows = slice(r0, min(r0 + bq, n_q))
        for c0 in range(0, n_k, bk):
            if _above_diagonal(offset, c0, rows):
                break
            cols = slice(c0, min(c0 + bk, n_k))
            tile = _tile_allowed(inp.allowed, offset, rows, cols, n_q, n_k)
            if tile is not None and not tile.any():
                continue
            sc = _masked_scores(qs[..., rows, :], kb[..., cols, :], tile)
            top = np.max(sc, initial=-np.inf)  # initial: an empty batch (ATT1)
            if np.isnan(top) or top == np.inf:
                raise ValueError(_overflow_message(work))
            with np.errstate(over="ignore", invalid="ignore"):  # an inconsistent lse or an overflow: checked
                p = np.exp(sc - L_safe[..., rows, None])  # recomputed probabilities; 0 where masked
                g_r = g[..., rows, :]
                dv[..., cols, :] += np.swapaxes(p, -1, -2) @ g_r
                dp = g_r @ np.swapaxes(vb[..., cols, :], -1, -2)
                ds = p * (dp - D[..., rows, None])  # softmax VJP
                dq[..., rows, :] += ds @ k_prod[..., cols, :]
                dk[..., cols, :] += np.swapaxes(ds, -1, -2) @ q_prod[..., rows, :]  # qs holds s*q already
    return dq, dk, dv


# --------------------------------------------------------------------------- attention without softmax
def _check_bias(bias: Any, n_k: int, shape: tuple[int, ...]) -> float | Array:
    """The additive score bias of :func:`sigmoid_attention`: ``-log n_k`` by default, a real number, or an
    array that broadcasts to ``shape = batch + (n_q, n_k)``; real numbers or ``-inf`` (weight 0)."""
    what = "None (for -log n_k), a real number or an array broadcastable to (..., n_q, n_k)"
    if bias is None:
        return -math.log(n_k)
    if isinstance(bias, (bool, np.bool_)) or (isinstance(bias, np.ndarray) and bias.dtype == np.bool_):
        raise ArgumentTypeError(f"bias must be {what}, got a bool; to mask keys, pass mask=")
    if np.ndim(bias) == 0 and not isinstance(bias, np.ndarray):
        b = real_scalar(bias, "bias", what)
        if math.isnan(b) or b == math.inf:
            raise ValueError(f"bias must be a real number or -inf (weight 0), got {bias!r}")
        return b
    arr = as_float_array(bias, "bias")
    if arr.dtype == np.float64 and np.asarray(bias).dtype.kind == "b":  # a list of bools
        raise ArgumentTypeError(f"bias must be {what}, got bools; to mask keys, pass mask=")
    if np.isnan(arr).any() or np.isposinf(arr).any():
        raise ValueError("bias must contain real numbers or -inf (weight 0), got NaN or +inf")
    try:
        if np.broadcast_shapes(arr.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"bias must broadcast to (..., n_q, n_k) = {shape}, got shape {arr.shape}") from None
    return arr


def sigmoid_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, bias: ArrayLike | float | None = None,
                      mask: ArrayLike | None = None, causal: Causal = False,
                      scale: float | None = None) -> Array:
    r"""Sigmoid attention: every weight is its own logistic sigmoid (Ramapuram et al., 2024).

    .. math::

        S = s\, Q K^\top + b, \qquad
        W_{ij} = [\text{allowed}_{ij}]\, \sigma(S_{ij}), \qquad
        \operatorname{SigmoidAttention}(Q, K, V) = W V ,

    with :math:`\sigma(x) = 1/(1 + e^{-x})`, :math:`s = 1/\sqrt{d_k}` and
    :math:`b = -\log n_k` by default (:math:`n_k` the number of keys, the
    same for every row, as in the paper). The weights of a row are not
    normalised: they do not sum to 1, and each lies in :math:`[0, 1)`
    whatever the other scores are. Without the bias the row sums grow like
    :math:`n_k`; with :math:`b = -\log n_k` they stay bounded
    (:math:`\sigma(x - \log n) \le e^x / n`). Torch's equivalent is
    ``torch.sigmoid(q @ k.mT * s + b) @ v``.

    ``mask``, ``causal`` and ``scale`` follow :func:`attention`: a masked key
    (or a bias of ``-inf``) has weight exactly 0, so a row with no allowed
    key has output 0.

    Parameters
    ----------
    q, k, v : array_like
        Queries ``(..., n_q, d_k)``, keys ``(..., n_k, d_k)`` and values
        ``(..., n_k, d_v)``; the leading axes broadcast, as in
        :func:`attention`.
    bias : float or array_like, optional
        The additive score bias :math:`b`; default :math:`-\log n_k`. A real
        number, or an array broadcastable to ``(..., n_q, n_k)`` (per head or
        per position), of real numbers or ``-inf``; cast to the work dtype.
    mask : array_like of bool, optional
        ``True`` where query ``i`` may attend to key ``j``, as in
        :func:`attention`.
    causal : bool or {'top_left', 'bottom_right'}, default False
        As in :func:`attention`.
    scale : float, optional
        Score scale :math:`s > 0`; default :math:`1/\sqrt{d_k}`.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., n_q, d_v)``, in the common dtype of ``q, k, v``
        (float16 is computed in float32 and rounded once).

    Raises
    ------
    ValueError
        As :func:`attention`; if ``bias`` holds NaN or ``+inf`` or does not
        broadcast; or if the output overflows its dtype (rows of up to
        :math:`n_k` values with weights up to 1 are not convex combinations).
    TypeError
        (:class:`~softmax_nb.ArgumentTypeError`) As :func:`attention`, or if
        ``bias`` is a bool, a string or not numeric.

    Examples
    --------
    One key: the output is :math:`\sigma(s\, q \cdot k + b)\, v`, here
    :math:`\sigma(0) = 1/2`:

    >>> sigmoid_attention(np.ones((1, 1)), np.zeros((1, 1)), np.array([[4.0]]))
    array([[2.]])
    >>> q, k, v = np.ones((1, 1)), np.ones((3, 1)), np.ones((3, 1))
    >>> float(sigmoid_attention(q, k, v, bias=0.0)[0, 0]), float(3 / (1 + np.exp(-1)))
    (2.193..., 2.193...)
    """
    inp = _prepare(q, k, v, mask, causal, scale)
    work = inp.qs.dtype
    n_q, n_k = inp.qs.shape[-2], inp.k_w.shape[-2]
    shape = (*inp.batch, n_q, n_k)
    b = _check_bias(bias, n_k, shape)
    tile = _tile_allowed(inp.allowed, inp.offset, slice(0, n_q), slice(0, n_k), n_q, n_k)
    if not isinstance(b, float):
        with np.errstate(over="ignore"):  # a float64 bias beyond float32: +-inf, the limits 1 and 0
            b = b.astype(work, copy=False)
        off = np.isneginf(b)
        if off.any():  # a bias of -inf masks the key
            tile = np.broadcast_to(~off, shape) if tile is None else tile & ~off
    s = _masked_scores(inp.qs, inp.k_w, tile)  # masked: -inf
    if np.isnan(s).any() or np.isposinf(s).any():
        raise ValueError(_overflow_message(work))
    with np.errstate(over="ignore", invalid="ignore"):  # s + b may overflow to +-inf: weights 1 or 0
        x = s + b if isinstance(b, float) else s + np.where(np.isneginf(b), 0, b).astype(work, copy=False)
        e = np.exp(-np.abs(x))  # <= 1: no overflow (the sigmoid of core, in the work dtype)
        w = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(work, copy=False)
    c = _headroom(inp.v_w, n_k)  # each weight is at most 1, so a row is at most n_k max|v|
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        out = w @ (inp.v_w * c if c != 1.0 else inp.v_w)
        out = (out / c if c != 1.0 else out).astype(inp.out_dtype, copy=False)
    if not np.isfinite(out).all():
        raise ValueError(f"the output of sigmoid attention overflows {inp.out_dtype}: its rows are sums of up to "
                         f"n_k = {n_k} values with weights up to 1; scale v down or pass float64 arrays")
    return out


_FEATURE_MAPS = ("elu",)


def _elu_plus_one(x: Array) -> Array:
    r""":math:`\operatorname{elu}(x) + 1`: :math:`x + 1` for :math:`x > 0`, :math:`e^x` otherwise (never 0 before
    underflow, never a warning)."""
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0))).astype(x.dtype, copy=False)


def _features(fmap: Any, x: Array, name: str, work: np.dtype) -> Array:
    """Apply the feature map to queries or keys and check what a callable returned."""
    if isinstance(fmap, str):
        with np.errstate(over="ignore"):  # x + 1 beyond the dtype's maximum: checked by the caller
            return _elu_plus_one(x)
    out = as_float_array(fmap(x), "feature_map")
    if out.ndim != x.ndim or out.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"feature_map must map {name} of shape {x.shape} to shape (..., {x.shape[-2]}, r), "
                         f"got shape {out.shape}")
    if not np.isfinite(out).all() or (out < 0).any():
        raise ValueError(f"feature_map must return finite features >= 0 (a positive kernel), got a NaN, an inf "
                         f"or a negative entry for {name}")
    with np.errstate(over="ignore"):
        return out.astype(work, copy=False)


def linear_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, causal: Causal = False,
                     feature_map: str | Any = "elu") -> Array:
    r"""Linear attention: softmax's kernel :math:`e^{q \cdot k}` replaced by :math:`\phi(q) \cdot \phi(k)`.

    Katharopoulos et al. (2020), with the feature map
    :math:`\phi(x) = \operatorname{elu}(x) + 1` (entrywise, so
    :math:`\phi(x) > 0`):

    .. math::

        O_i = \frac{\sum_{j \in A_i} \phi(q_i)^\top \phi(k_j)\, v_j}
                   {\sum_{j \in A_i} \phi(q_i)^\top \phi(k_j)}
            = \frac{\phi(q_i)^\top \big(\sum_{j \in A_i} \phi(k_j) v_j^\top\big)}
                   {\phi(q_i)^\top \sum_{j \in A_i} \phi(k_j)} ,

    where :math:`A_i` holds every key, or with ``causal`` the keys
    :math:`j \le i` (``True``/``'top_left'``) or :math:`j \le i + n_k - n_q`
    (``'bottom_right'``), as in :func:`attention`. The right-hand form is
    what is computed: :math:`\phi(K)^\top V` once (or its prefix sums
    :math:`S_j = \sum_{j' \le j} \phi(k_{j'}) v_{j'}^\top` with ``causal``,
    the state of the recurrent form), for :math:`O((n_q + n_k)\, r\, d_v)`
    operations instead of :math:`O(n_q n_k (r + d_v))` for the
    quadratic form, with :math:`r` the number of features. The causal
    prefix sums are stored for every key: memory :math:`O(n_k r d_v)`.
    There is no score scale: :math:`\phi` is applied to ``q`` and ``k`` as
    given.

    Parameters
    ----------
    q, k, v : array_like
        Queries ``(..., n_q, d_k)``, keys ``(..., n_k, d_k)`` and values
        ``(..., n_k, d_v)``; the leading axes broadcast.
    causal : bool or {'top_left', 'bottom_right'}, default False
        As in :func:`attention`.
    feature_map : 'elu' or callable, default 'elu'
        ``'elu'`` for :math:`\operatorname{elu}(x) + 1`; or a function mapping
        an array ``(..., n, d_k)`` (queries or keys, in the work dtype) to
        features ``(..., n, r)`` that are finite and :math:`\ge 0`, such as
        Performer's positive random features.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., n_q, d_v)``, in the common dtype of ``q, k, v``
        (float16 is computed in float32 and rounded once). With features
        :math:`\ge 0` each row is a convex combination of its keys' values;
        a row whose normaliser is 0 (no key, or features that are all 0) is 0.

    Raises
    ------
    ValueError
        As :func:`attention` for the shapes, values and ``causal``; if
        ``feature_map`` is an unknown name, or a callable returns the wrong
        shape or a negative or non-finite feature; if the result overflows
        the work dtype.
    TypeError
        (:class:`~softmax_nb.ArgumentTypeError`) If ``feature_map`` is neither
        a string nor callable, or for the types :func:`attention` refuses.

    Examples
    --------
    With every feature equal the weights are uniform, and the output is the mean value:

    >>> k = np.array([[-1.0], [-1.0], [-1.0]])
    >>> linear_attention(np.zeros((1, 1)), k, np.array([[1.0], [2.0], [6.0]]))
    array([[3.]])
    >>> linear_attention(np.zeros((2, 1)), k[:2], np.array([[1.0], [3.0]]), causal=True)
    array([[1.],
           [2.]])
    """
    if not callable(feature_map):
        if not isinstance(feature_map, str):
            raise ArgumentTypeError(f"feature_map must be one of {_FEATURE_MAPS} or a callable, got "
                                    f"{type(feature_map).__name__} {feature_map!r}")
        if feature_map not in _FEATURE_MAPS:
            raise ValueError(f"feature_map must be one of {_FEATURE_MAPS} or a callable, got {feature_map!r}")
    q_, k_, v_, batch = _as_qkv(q, k, v)
    out_dtype = np.result_type(q_, k_, v_)
    work = work_dtype(out_dtype)
    n_q, n_k, d_v = q_.shape[-2], k_.shape[-2], v_.shape[-1]
    offset = _causal_offset(causal, n_q, n_k)
    fq = _features(feature_map, q_.astype(work, copy=False), "q", work)
    fk = _features(feature_map, k_.astype(work, copy=False), "k", work)
    if fq.shape[-1] != fk.shape[-1]:
        raise ValueError(f"feature_map must give q and k the same number of features r, got {fq.shape[-1]} "
                         f"and {fk.shape[-1]}")
    r = fq.shape[-1]
    fq = np.broadcast_to(fq, (*batch, n_q, r))
    fk = np.broadcast_to(fk, (*batch, n_k, r))
    vw = np.broadcast_to(v_.astype(work, copy=False), (*batch, n_k, d_v))
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        if offset is None:
            kv = np.swapaxes(fk, -1, -2) @ vw  # (..., r, d_v)
            num = fq @ kv
            den = fq @ fk.sum(axis=-2)[..., None]  # (..., n_q, 1)
        else:
            last = np.arange(n_q) + offset  # the last key query i may see; < 0: none
            idx = np.clip(last, 0, n_k - 1)
            kv = np.cumsum(fk[..., :, :, None] * vw[..., :, None, :], axis=-3)  # (..., n_k, r, d_v)
            z = np.cumsum(fk, axis=-2)  # (..., n_k, r)
            num = np.einsum("...ir,...ird->...id", fq, kv[..., idx, :, :])
            den = np.einsum("...ir,...ir->...i", fq, z[..., idx, :])[..., None]
            den = np.where((last >= 0)[:, None], den, 0)
        bad = not (np.isfinite(num).all() and np.isfinite(den).all())
        out = np.where(den > 0, num / np.where(den > 0, den, 1), 0).astype(out_dtype, copy=False)
    if bad or not np.isfinite(out).all():
        raise ValueError(f"linear attention overflows {work}: the features or their sums over keys exceed its "
                         "range; scale q, k or v down or pass float64 arrays")
    return out
