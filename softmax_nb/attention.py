r"""Scaled dot-product attention: computed directly, and tile by tile.

:func:`attention` stores the full score matrix; :func:`tiled_attention`
visits the keys a block at a time and rescales a running output with the
accumulator rule of :mod:`softmax_nb.streaming`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_finite, check_positive_int
from .core import softmax
from .streaming import SoftmaxAccumulator, _rescale

__all__ = ["attention", "tiled_attention"]


def _check_qkv(q: NDArray[np.floating], k: NDArray[np.floating], v: NDArray[np.floating]) -> None:
    for arr, name in ((q, "Q"), (k, "K"), (v, "V")):
        if arr.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions (..., tokens, features), got shape {arr.shape}")
        check_finite(arr, name)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"Q and K must have the same feature size (last axis), got {q.shape} and {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"K and V must have the same number of keys (axis -2), got {k.shape} and {v.shape}")
    if k.shape[-2] == 0:
        raise ValueError(f"K must hold at least one key (axis -2), got shape {k.shape}")


def _scores(q: NDArray[np.floating], k: NDArray[np.floating]) -> NDArray[np.floating]:
    """Scaled dot products :math:`Q K^T / \\sqrt{d_k}`."""
    return (q @ np.swapaxes(k, -1, -2)) / np.sqrt(q.shape[-1])


def attention(Q: ArrayLike, K: ArrayLike, V: ArrayLike) -> NDArray[np.floating]:
    r"""Scaled dot-product attention, computed directly.

    .. math::

        \operatorname{Attention}(Q, K, V) =
        \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V ,

    with the softmax over keys (each query's row of scores sums to 1). The
    full ``(n_queries, n_keys)`` score matrix is stored.

    Parameters
    ----------
    Q : array_like
        Queries, shape ``(..., n_queries, d_k)``.
    K : array_like
        Keys, shape ``(..., n_keys, d_k)``.
    V : array_like
        Values, shape ``(..., n_keys, d_v)``. Leading axes broadcast.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., n_queries, d_v)``: per query, a convex combination of
        the rows of ``V``.

    Raises
    ------
    ValueError
        If the shapes do not fit, there are no keys, or an entry is not finite.
    """
    q, k, v = as_float_array(Q, "Q"), as_float_array(K, "K"), as_float_array(V, "V")
    _check_qkv(q, k, v)
    return softmax(_scores(q, k), axis=-1) @ v


def tiled_attention(Q: ArrayLike, K: ArrayLike, V: ArrayLike, block_size: int = 64) -> NDArray[np.floating]:
    r"""Attention computed ``block_size`` keys at a time, never storing the full score matrix.

    For each key block :math:`B` with scores :math:`S_B = Q K_B^\top/\sqrt{d_k}`,
    the running max :math:`m`, sum :math:`\ell` and unnormalised output
    :math:`O` (one row per query) are rescaled together (Dao et al., 2022):

    .. math::

        m' = \max(m, \max_{j \in B} S_{j}), \quad
        \ell' = \ell\, e^{m - m'} + \sum_{j \in B} e^{S_{j} - m'}, \quad
        O' = O\, e^{m - m'} + e^{S_B - m'} V_B ,

    and the result is :math:`O / \ell`, equal to :func:`attention` to
    rounding. Memory is ``O(n_queries * block_size)`` instead of
    ``O(n_queries * n_keys)``.

    Parameters
    ----------
    Q, K, V : array_like
        As in :func:`attention`.
    block_size : int, default 64
        Keys per block; an integer >= 1.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., n_queries, d_v)``.

    Raises
    ------
    ValueError
        As :func:`attention`, or if ``block_size`` is not an integer >= 1.
    """
    block_size = check_positive_int(block_size, "block_size")
    q, k, v = as_float_array(Q, "Q"), as_float_array(K, "K"), as_float_array(V, "V")
    _check_qkv(q, k, v)
    acc = SoftmaxAccumulator()
    out: NDArray[np.floating] | float = 0.0
    for start in range(0, k.shape[-2], block_size):
        keys = slice(start, start + block_size)
        s = _scores(q, k[..., keys, :])
        m_old = acc.m
        acc._update(s, "the scores Q K^T / sqrt(d_k)")
        p = np.exp(s - np.asarray(acc.m)[..., None])  # scores are finite, so m is too
        out = out * _rescale(m_old, acc.m)[..., None] + p @ v[..., keys, :]
    return out / np.asarray(acc.d)[..., None]
