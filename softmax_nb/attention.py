r"""Scaled dot-product attention: computed directly, tile by tile, and backwards.

:func:`attention` stores the full score matrix. :func:`tiled_attention`
visits it one ``block_q x block_k`` tile at a time, with the query-tiled loop
and deferred normalisation of FlashAttention-2 (Dao, 2023); FlashAttention
(Dao et al., 2022) introduced the tiling and recomputation, and Rabe and
Staats (2021) the key-chunked attention with a running maximum.
:func:`attention_backward` computes the gradients from the output and the
per-row log-sum-exp alone, recomputing the probabilities tile by tile.

Conventions shared by the three functions:

* shapes ``q: (..., n_q, d_k)``, ``k: (..., n_k, d_k)``, ``v: (..., n_k, d_v)``,
  with leading (batch, head) axes that broadcast;
* ``mask`` is boolean and ``True`` where a query may attend to a key (as in
  PyTorch's ``scaled_dot_product_attention``); ``causal=True`` lets query
  ``i`` attend keys ``j <= i`` (top-left alignment, as PyTorch's ``is_causal``);
* ``scale`` defaults to :math:`1/\sqrt{d_k}` and multiplies ``q`` *before* the
  product, so float16 scores cannot overflow on the way;
* float16 input is computed in float32 (scores, running max, sums and output
  accumulators) and the result rounded to float16 once; float32 stays
  float32 and float64 stays float64;
* a query that may attend to no key at all (an all-masked row) gets an output
  of exactly **zero** and a log-sum-exp of ``-inf``, and its gradients are
  zero. Softmax is undefined there; zero is what a padded query should
  contribute downstream, and it is never NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_finite, check_positive_int
from .streaming import _rescale

__all__ = ["attention", "tiled_attention", "attention_backward"]

Array = NDArray[np.floating]


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


def _dtypes(*arrays: Array) -> tuple[np.dtype, np.dtype]:
    """Output dtype (the common float type) and work dtype (float32 for float16)."""
    out = np.result_type(*arrays)
    return out, (np.dtype(np.float32) if out == np.float16 else out)


def _check_scale(scale: Any, d_k: int) -> float:
    """Return the score scale as a Python float (a NumPy float64 scalar would upcast float32 under NEP 50)."""
    if scale is None:
        return 1.0 / math.sqrt(d_k)
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a finite number > 0 or None (for 1/sqrt(d_k)), got {scale!r}") from None
    if isinstance(scale, bool) or not (math.isfinite(s) and s > 0.0):
        raise ValueError(f"scale must be a finite number > 0 or None (for 1/sqrt(d_k)), got {scale!r}")
    return s


def _check_mask(mask: ArrayLike | None, batch: tuple[int, ...], n_q: int, n_k: int) -> NDArray[np.bool_] | None:
    """Validate a boolean mask and broadcast it (as a view) to ``batch + (n_q, n_k)``."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise ValueError(f"mask must be boolean (True where a query may attend to a key), got dtype {arr.dtype}; "
                         "for an additive float mask, add it to the scores yourself")
    try:
        full = np.broadcast_shapes(arr.shape, (*batch, n_q, n_k))
        if full != (*batch, n_q, n_k):
            raise ValueError
        return np.broadcast_to(arr, full)
    except ValueError:
        raise ValueError(f"mask must broadcast to (..., n_q, n_k) = {(*batch, n_q, n_k)}, got shape {arr.shape}") from None


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _prepare(q, k, v, mask, causal, scale):
    """Checks and casts shared by the forward functions: scaled q, k, v in the work dtype."""
    q, k, v, batch = _as_qkv(q, k, v)
    out_dtype, work = _dtypes(q, k, v)
    s = _check_scale(scale, q.shape[-1])
    allowed = _check_mask(mask, batch, q.shape[-2], k.shape[-2])
    causal = _check_bool(causal, "causal")
    qs = q.astype(work) * s  # a Python float keeps float32 float32 (B1); scaling first keeps float16 finite (B2)
    return qs, k.astype(work, copy=False), v.astype(work, copy=False), allowed, causal, s, batch, out_dtype


def _tile_allowed(allowed: NDArray[np.bool_] | None, causal: bool, rows: slice, cols: slice,
                  n_q: int, n_k: int) -> NDArray[np.bool_] | None:
    """The boolean mask of one tile (``None``: every entry allowed)."""
    r0, r1 = rows.indices(n_q)[:2]
    c0, c1 = cols.indices(n_k)[:2]
    tile = None if allowed is None else allowed[..., rows, cols]
    if causal and c1 - 1 > r0:  # some key lies above the diagonal in this tile
        tri = np.arange(r0, r1)[:, None] >= np.arange(c0, c1)[None, :]
        tile = tri if tile is None else tile & tri
    return tile


def _masked_scores(qs: Array, k: Array, tile: NDArray[np.bool_] | None) -> Array:
    s = qs @ np.swapaxes(k, -1, -2)
    if tile is not None:
        s = np.where(tile, s, -np.inf)
    return s


def _safe(m: Array) -> Array:
    """``-inf`` maxima (all-masked rows) replaced by 0, so that ``s - m`` is ``-inf``, never NaN."""
    return np.where(np.isfinite(m), m, 0).astype(m.dtype, copy=False)


def _finish(o: Array, l: Array, m: Array, out_dtype: np.dtype, return_lse: bool):
    """``O / l`` (0 for rows with l = 0) and, optionally, ``LSE = m + log l``."""
    out = (o / np.where(l > 0, l, 1)[..., None]).astype(out_dtype, copy=False)
    if not return_lse:
        return out
    with np.errstate(divide="ignore"):  # log 0 = -inf: the log-sum-exp of an all-masked row
        lse = np.where(l > 0, m + np.log(np.where(l > 0, l, 1)), -np.inf).astype(l.dtype, copy=False)
    return out, lse


# --------------------------------------------------------------------------- forward
def attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, mask: ArrayLike | None = None, causal: bool = False,
              scale: float | None = None, *, return_lse: bool = False):
    r"""Scaled dot-product attention, computed directly (Vaswani et al., 2017).

    .. math::

        S = s\, Q K^\top, \qquad
        P_{ij} = \frac{[\text{allowed}_{ij}]\, e^{S_{ij}}}{\sum_{j'} [\text{allowed}_{ij'}]\, e^{S_{ij'}}},
        \qquad \operatorname{Attention}(Q, K, V) = P V ,

    with :math:`s = 1/\sqrt{d_k}` by default. The full ``(n_q, n_k)``
    score matrix is stored.

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
    causal : bool, default False
        If True, query ``i`` may attend only keys ``j <= i`` (combined with
        ``mask`` by logical and).
    scale : float, optional
        Score scale :math:`s > 0`; default :math:`1/\sqrt{d_k}`. Applied to
        ``q`` before the product.
    return_lse : bool, default False
        Also return the per-row log-sum-exp
        :math:`L_i = \log \sum_j [\text{allowed}_{ij}] e^{S_{ij}}`, all that
        :func:`attention_backward` needs besides the output.

    Returns
    -------
    out : numpy.ndarray
        Shape ``(..., n_q, d_v)``, in the common dtype of ``q, k, v`` (float16
        input is computed in float32 and rounded once). Each row is a convex
        combination of the allowed rows of ``v``; a row with no allowed key
        is exactly 0.
    lse : numpy.ndarray
        Only if ``return_lse``: shape ``(..., n_q)``, in the work dtype
        (float32 for float16 input); ``-inf`` for rows with no allowed key.

    Raises
    ------
    ValueError
        If the shapes do not fit (or ``d_k = 0`` or there are no keys), an
        entry of ``q, k, v`` is not finite, ``mask`` is not boolean or does
        not broadcast, or ``scale`` is not a finite number > 0.

    Examples
    --------
    >>> q = k = np.eye(2)
    >>> attention(q, k, np.array([[1.0], [3.0]]), causal=True).round(4)
    array([[1.    ],
           [2.3395]])
    """
    qs, k, v, allowed, causal, _, _, out_dtype = _prepare(q, k, v, mask, causal, scale)
    n_q, n_k = qs.shape[-2], k.shape[-2]
    rows, cols = slice(0, n_q), slice(0, n_k)
    s = _masked_scores(qs, k, _tile_allowed(allowed, causal, rows, cols, n_q, n_k))
    m = np.max(s, axis=-1)
    p = np.exp(s - _safe(m)[..., None])  # masked entries: exp(-inf) = 0
    return _finish(p @ v, np.sum(p, axis=-1), m, out_dtype, _check_bool(return_lse, "return_lse"))


def _block_sizes(block_q: Any, block_k: Any, block_size: Any) -> tuple[int, int]:
    if block_size is not None:
        if block_k is not None:
            raise ValueError("give block_k or its old name block_size, not both")
        block_k = check_positive_int(block_size, "block_size")
    return (check_positive_int(block_q, "block_q"),
            64 if block_k is None else check_positive_int(block_k, "block_k"))


def tiled_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, block_q: int = 64, block_k: int | None = None,
                    causal: bool = False, mask: ArrayLike | None = None, scale: float | None = None,
                    return_lse: bool = False, block_size: int | None = None):
    r"""Attention one ``block_q x block_k`` tile at a time, never storing the score matrix.

    The loop order is that of FlashAttention-2 (Dao, 2023): the outer loop
    runs over blocks of queries, the inner over blocks of keys. For each
    query block the running maximum :math:`m`, sum :math:`\ell` and
    *unnormalised* output :math:`O` are updated per key block :math:`B` with
    scores :math:`S_B = s\, Q K_B^\top`:

    .. math::

        m' = \max(m, \max_{j \in B} S_j), \quad
        \ell' = \ell\, e^{m - m'} + \sum_{j \in B} e^{S_j - m'}, \quad
        O' = O\, e^{m - m'} + e^{S_B - m'} V_B ,

    and divided by :math:`\ell` once, after the last key block (deferred
    normalisation). FlashAttention (Dao et al., 2022) loops over key blocks
    outside and renormalises :math:`O` at every step; Rabe and Staats (2021)
    chunk the keys with the same running-max rescaling. The working set is
    one tile, :math:`O(B_q B_k + (B_q + B_k) d)` numbers.

    With ``causal=True``, key blocks that lie entirely above the diagonal
    are skipped (about half the tiles for ``n_q = n_k``), and the triangular
    mask is applied only in tiles that straddle it. Tiles that an explicit
    ``mask`` forbids entirely are skipped as well.

    Parameters
    ----------
    q, k, v, mask, causal, scale, return_lse
        As in :func:`attention` (keyword-only after ``v``).
    block_q : int, default 64
        Queries per tile; an integer >= 1.
    block_k : int, default 64
        Keys per tile; an integer >= 1.
    block_size : int, optional
        Old name of ``block_k``, kept so that existing code keeps working.

    Returns
    -------
    out : numpy.ndarray
        As :func:`attention`, equal to it to rounding for every block size.
    lse : numpy.ndarray
        Only if ``return_lse``, as in :func:`attention`.

    Raises
    ------
    ValueError
        As :func:`attention`, or if a block size is not an integer >= 1.
    """
    bq, bk = _block_sizes(block_q, block_k, block_size)
    qs, k, v, allowed, causal, _, batch, out_dtype = _prepare(q, k, v, mask, causal, scale)
    return_lse = _check_bool(return_lse, "return_lse")
    n_q, n_k, d_v = qs.shape[-2], k.shape[-2], v.shape[-1]
    work = qs.dtype
    o = np.zeros((*batch, n_q, d_v), dtype=work)
    l = np.zeros((*batch, n_q), dtype=work)
    m = np.full((*batch, n_q), -np.inf, dtype=work)
    for r0 in range(0, n_q, bq):
        rows = slice(r0, min(r0 + bq, n_q))
        q_blk = qs[..., rows, :]
        m_i, l_i, o_i = m[..., rows], l[..., rows], o[..., rows, :]  # views: updated in place below
        for c0 in range(0, n_k, bk):
            if causal and c0 > rows.stop - 1:
                break  # this key block and all later ones lie above the diagonal
            cols = slice(c0, min(c0 + bk, n_k))
            tile = _tile_allowed(allowed, causal, rows, cols, n_q, n_k)
            if tile is not None and not tile.any():
                continue
            s = _masked_scores(q_blk, k[..., cols, :], tile)
            m_new = np.maximum(m_i, np.max(s, axis=-1))
            alpha = _rescale(m_i, m_new)  # e^{m - m'}, 1 where both are -inf
            p = np.exp(s - _safe(m_new)[..., None])
            l_i[...] = l_i * alpha + np.sum(p, axis=-1)
            o_i[...] = o_i * alpha[..., None] + p @ v[..., cols, :]
            m_i[...] = m_new
    return _finish(o, l, m, out_dtype, return_lse)


# --------------------------------------------------------------------------- backward
def _sum_to(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get ``shape``."""
    extra = grad.ndim - len(shape)
    g = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def attention_backward(grad_out: ArrayLike, q: ArrayLike, k: ArrayLike, v: ArrayLike, out: ArrayLike,
                       lse: ArrayLike, *, mask: ArrayLike | None = None, causal: bool = False,
                       scale: float | None = None, block_q: int = 64,
                       block_k: int = 64) -> tuple[Array, Array, Array]:
    r"""Gradients of attention with respect to ``q, k, v``, from the output and the per-row LSE.

    Nothing of size ``n_q x n_k`` is stored by the forward pass: the
    probabilities of each tile are recomputed as :math:`P = e^{S - L}` from
    the row log-sum-exp :math:`L` (FlashAttention; Dao et al., 2022; Dao,
    2023). With :math:`G = \partial f/\partial O` (``grad_out``):

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
        The forward pass's arguments.
    out, lse : array_like
        The forward pass's results, from ``attention(..., return_lse=True)``
        or ``tiled_attention(..., return_lse=True)``.
    block_q, block_k : int, default 64
        Tile sizes of the recomputation; they do not change the result
        beyond rounding.

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
        wrong shape or are not finite (``lse`` may be ``-inf``).
    """
    bq, bk = _block_sizes(block_q, block_k, None)
    q_in, k_in, v_in, _ = _as_qkv(q, k, v)
    qs, k_w, v_w, allowed, causal, s, batch, _ = _prepare(q_in, k_in, v_in, mask, causal, scale)
    work = qs.dtype
    n_q, n_k, d_v = qs.shape[-2], k_w.shape[-2], v_w.shape[-1]
    shape_o = (*batch, n_q, d_v)
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
    g, o, L = g.astype(work, copy=False), o.astype(work, copy=False), L.astype(work, copy=False)
    D = np.sum(g * o, axis=-1)  # <p_i, dP_i> = <G_i, O_i>
    L_safe = _safe(L)
    kb = np.broadcast_to(k_w, (*batch, n_k, k_w.shape[-1]))
    vb = np.broadcast_to(v_w, (*batch, n_k, d_v))
    qb = np.broadcast_to(qs, (*batch, n_q, qs.shape[-1]))
    dq = np.zeros(qb.shape, dtype=work)
    dk = np.zeros(kb.shape, dtype=work)
    dv = np.zeros(vb.shape, dtype=work)
    for r0 in range(0, n_q, bq):
        rows = slice(r0, min(r0 + bq, n_q))
        for c0 in range(0, n_k, bk):
            if causal and c0 > rows.stop - 1:
                break
            cols = slice(c0, min(c0 + bk, n_k))
            tile = _tile_allowed(allowed, causal, rows, cols, n_q, n_k)
            if tile is not None and not tile.any():
                continue
            sc = _masked_scores(qb[..., rows, :], kb[..., cols, :], tile)
            p = np.exp(sc - L_safe[..., rows, None])  # recomputed probabilities; 0 where masked
            g_r = g[..., rows, :]
            dv[..., cols, :] += np.swapaxes(p, -1, -2) @ g_r
            dp = g_r @ np.swapaxes(vb[..., cols, :], -1, -2)
            ds = p * (dp - D[..., rows, None])  # softmax VJP
            dq[..., rows, :] += ds @ kb[..., cols, :]
            dk[..., cols, :] += np.swapaxes(ds, -1, -2) @ qb[..., rows, :]  # qb holds s*q already
    dq *= s
    return (_sum_to(dq, q_in.shape).astype(q_in.dtype, copy=False),
            _sum_to(dk, k_in.shape).astype(k_in.dtype, copy=False),
            _sum_to(dv, v_in.shape).astype(v_in.dtype, copy=False))
