r"""A key-value cache for autoregressive decoding.

A causal model's keys and values at a position depend only on the tokens up to that position, so once computed
they never change. Decoding therefore keeps them: each step computes the query, key and value of the one new
token, appends the key and value to the cache and attends from the new query to every cached key (the query is
the *last* of the positions, so its causal mask is aligned bottom-right: ``attention(..., causal="bottom_right")``).

The cache holds, per layer, ``2 * num_kv_heads * head_dim`` numbers per token: with grouped-query attention
(GQA) several query heads share one key/value head, and with multi-query attention (MQA) all of them do, which
divides the cache by ``num_heads / num_kv_heads``.
"""

from __future__ import annotations

import math

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_finite, check_int

__all__ = ["KVCache", "kv_cache_bytes"]


def kv_cache_bytes(*, num_layers: int, num_kv_heads: int, head_dim: int, tokens: int, itemsize: int) -> int:
    r"""Bytes a KV cache holds: :math:`2 \cdot L \cdot h_{kv} \cdot d_h \cdot n \cdot b` (keys and values).

    Examples
    --------
    >>> kv_cache_bytes(num_layers=32, num_kv_heads=8, head_dim=128, tokens=4096, itemsize=2) / 2**20  # MiB
    512.0
    """
    values = [check_int(num_layers, "num_layers", 1), check_int(num_kv_heads, "num_kv_heads", 1),
              check_int(head_dim, "head_dim", 1), check_int(tokens, "tokens", 0), check_int(itemsize, "itemsize", 1)]
    return 2 * math.prod(values)  # Python integers: exact at any size (int64 would wrap around)


class KVCache:
    r"""Keys and values of the positions decoded so far, one pair of growing buffers per layer.

    Each layer's buffers have shape ``(num_kv_heads, capacity, head_dim)``; :meth:`append` writes new positions
    after the cached ones and doubles the capacity when it runs out (amortised constant time per token), and
    :meth:`keys`/:meth:`values` return views of the filled part.

    Parameters
    ----------
    num_layers, num_kv_heads, head_dim : int
        Keyword-only, each >= 1.
    dtype : numpy.dtype, default float64
        The dtype of the stored keys and values (float16, float32 or float64).
    capacity : int, default 64
        Positions allocated at first, >= 1.

    Examples
    --------
    >>> cache = KVCache(num_layers=1, num_kv_heads=2, head_dim=4)
    >>> k, v = cache.append(0, np.ones((2, 3, 4)), np.zeros((2, 3, 4)))
    >>> k.shape, cache.length, cache.nbytes
    ((2, 3, 4), 3, 384)
    """

    def __init__(self, *, num_layers: int, num_kv_heads: int, head_dim: int, dtype: Any = np.float64,
                 capacity: int = 64) -> None:
        self.num_layers = check_int(num_layers, "num_layers", 1)
        self.num_kv_heads = check_int(num_kv_heads, "num_kv_heads", 1)
        self.head_dim = check_int(head_dim, "head_dim", 1)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float16, np.float32, np.float64):
            raise ValueError(f"dtype must be float16, float32 or float64, got {self.dtype}")
        cap = check_int(capacity, "capacity", 1)
        shape = (self.num_kv_heads, cap, self.head_dim)
        self._k = [np.empty(shape, self.dtype) for _ in range(self.num_layers)]
        self._v = [np.empty(shape, self.dtype) for _ in range(self.num_layers)]
        self._len = [0] * self.num_layers

    @property
    def length(self) -> int:
        """Positions cached in every layer (a layer that has been appended to further holds more)."""
        return min(self._len)

    @property
    def nbytes(self) -> int:
        """Bytes of the cached keys and values (the filled part, not the allocated capacity)."""
        return sum(self._len) * 2 * self.num_kv_heads * self.head_dim * self.dtype.itemsize

    def _layer(self, layer: int) -> int:
        i = check_int(layer, "layer", 0)
        if i >= self.num_layers:
            raise ValueError(f"layer must be in [0, {self.num_layers}), got {layer!r}")
        return i

    def append(self, layer: int, k: ArrayLike, v: ArrayLike) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
        """Append keys and values of new positions to a layer; return all of that layer's keys and values.

        Parameters
        ----------
        layer : int
        k, v : array_like
            Shape ``(num_kv_heads, t, head_dim)`` for ``t >= 0`` new positions; finite. Stored in the cache's
            dtype.

        Returns
        -------
        keys, values : numpy.ndarray
            Views of shape ``(num_kv_heads, n, head_dim)``, ``n`` the positions now cached in the layer. They stay
            valid until the next :meth:`append` to the layer.

        Raises
        ------
        ValueError
            For a layer out of range, shapes that do not fit, non-finite keys or values, or keys or values
            beyond the range of the cache's dtype (a float64 key of 1e5 in a float16 cache).
        """
        i = self._layer(layer)
        ka, va = as_float_array(k, "k"), as_float_array(v, "v")
        want = (self.num_kv_heads, "t", self.head_dim)
        for name, arr in (("k", ka), ("v", va)):
            if arr.ndim != 3 or arr.shape[0] != self.num_kv_heads or arr.shape[2] != self.head_dim:
                raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
            check_finite(arr, name)
            if arr.dtype != self.dtype and arr.size:
                with np.errstate(over="ignore"):
                    fits = np.isfinite(arr.astype(self.dtype)).all()
                if not fits:
                    raise ValueError(f"{name} must fit the cache's dtype {self.dtype} (|{name}| <= "
                                     f"{float(np.finfo(self.dtype).max):.6g}), got values beyond its range")
        if ka.shape != va.shape:
            raise ValueError(f"k and v must have the same shape, got {ka.shape} and {va.shape}")
        start, t = self._len[i], ka.shape[1]
        if start + t > self._k[i].shape[1]:
            capacity = max(2 * self._k[i].shape[1], start + t)
            for store in (self._k, self._v):
                grown = np.empty((self.num_kv_heads, capacity, self.head_dim), self.dtype)
                grown[:, :start] = store[i][:, :start]
                store[i] = grown
        self._k[i][:, start:start + t] = ka
        self._v[i][:, start:start + t] = va
        self._len[i] = start + t
        return self.keys(i), self.values(i)

    def keys(self, layer: int) -> NDArray[np.floating]:
        """The cached keys of a layer, shape ``(num_kv_heads, n, head_dim)`` (a view)."""
        i = self._layer(layer)
        return self._k[i][:, :self._len[i]]

    def values(self, layer: int) -> NDArray[np.floating]:
        """The cached values of a layer, shape ``(num_kv_heads, n, head_dim)`` (a view)."""
        i = self._layer(layer)
        return self._v[i][:, :self._len[i]]
