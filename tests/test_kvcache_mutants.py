"""Tests written to kill surviving mutmut mutants of softmax_nb.kvcache (see tests/MUTATION.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from softmax_nb._checks import ArgumentTypeError
from softmax_nb.kvcache import KVCache, kv_cache_bytes

_SIZES = dict(num_layers=2, num_kv_heads=3, head_dim=4, tokens=5, itemsize=2)


# --------------------------------------------------------------------------- kv_cache_bytes
@pytest.mark.parametrize("name, low", [("num_layers", 1), ("num_kv_heads", 1), ("head_dim", 1), ("tokens", 0),
                                       ("itemsize", 1)])
def test_kv_cache_bytes_names_its_arguments(name, low):
    with pytest.raises(ValueError, match=f"^{name} must be an integer >= {low}, got {low - 1}$"):
        kv_cache_bytes(**{**_SIZES, name: low - 1})
    with pytest.raises(ArgumentTypeError, match=f"^{name} must be an integer >= {low}, got float 1.5$"):
        kv_cache_bytes(**{**_SIZES, name: 1.5})


def test_kv_cache_bytes_at_the_smallest_sizes():
    assert kv_cache_bytes(**{**_SIZES, "tokens": 0}) == 0
    assert kv_cache_bytes(num_layers=1, num_kv_heads=1, head_dim=1, tokens=1, itemsize=1) == 2
    assert kv_cache_bytes(**_SIZES) == 2 * 2 * 3 * 4 * 5 * 2


# --------------------------------------------------------------------------- KVCache arguments
@pytest.mark.parametrize("name", ["num_layers", "num_kv_heads", "head_dim", "capacity"])
def test_the_cache_names_its_arguments(name):
    sizes = dict(num_layers=1, num_kv_heads=1, head_dim=1, capacity=1)
    KVCache(**sizes)  # 1 is allowed for each
    with pytest.raises(ValueError, match=f"^{name} must be an integer >= 1, got 0$"):
        KVCache(**{**sizes, name: 0})


def test_a_head_dim_of_one():
    cache = KVCache(num_layers=1, num_kv_heads=2, head_dim=1)
    k, v = cache.append(0, np.ones((2, 3, 1)), np.zeros((2, 3, 1)))
    assert k.shape == v.shape == (2, 3, 1)


def test_layer_names_itself():
    cache = KVCache(num_layers=2, num_kv_heads=1, head_dim=2)
    with pytest.raises(ValueError, match="^layer must be an integer >= 0, got -1$"):
        cache.keys(-1)
    with pytest.raises(ArgumentTypeError, match="^layer must be an integer >= 0, got float 0.0$"):
        cache.values(0.0)
    with pytest.raises(ValueError, match=r"^layer must be in \[0, 2\), got 2$"):
        cache.append(2, np.zeros((1, 1, 2)), np.zeros((1, 1, 2)))


def test_append_names_keys_and_values():
    cache = KVCache(num_layers=1, num_kv_heads=2, head_dim=4)
    good = np.zeros((2, 1, 4))
    with pytest.raises(ArgumentTypeError, match="^k must be numeric"):
        cache.append(0, np.full((2, 1, 4), "a"), good)
    with pytest.raises(ArgumentTypeError, match="^v must be numeric"):
        cache.append(0, good, np.full((2, 1, 4), "a"))
    with pytest.raises(ValueError, match=r"^k must have shape \(2, 't', 4\), got \(2, 4\)$"):
        cache.append(0, np.zeros((2, 4)), good)
    with pytest.raises(ValueError, match=r"^v must have shape \(2, 't', 4\), got \(2, 1, 3\)$"):
        cache.append(0, good, np.zeros((2, 1, 3)))
    assert cache.length == 0


# --------------------------------------------------------------------------- dtype and growth
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_keys_and_values_keep_the_cache_dtype_before_and_after_growth(dtype):
    cache = KVCache(num_layers=1, num_kv_heads=1, head_dim=2, dtype=dtype, capacity=2)
    for t in range(5):  # grows at 3 and 5 positions
        k, v = cache.append(0, np.full((1, 1, 2), t + 0.5), np.full((1, 1, 2), -t - 0.5))
        assert k.dtype == v.dtype == dtype
        assert cache.keys(0).dtype == cache.values(0).dtype == dtype
    np.testing.assert_array_equal(cache.values(0)[0, :, 0], [-0.5, -1.5, -2.5, -3.5, -4.5])
    np.testing.assert_array_equal(cache.keys(0)[0, :, 1], [0.5, 1.5, 2.5, 3.5, 4.5])


def _grows(cache, t=1):
    """Append t positions to layer 0; True if the layer moved to a new buffer (its capacity ran out)."""
    before = cache.keys(0)
    n = cache.num_kv_heads, t, cache.head_dim
    after, _ = cache.append(0, np.ones(n), np.ones(n))
    return before.size > 0 and not np.shares_memory(before, after)


def test_the_capacity_starts_at_64_by_default_and_doubles_when_it_runs_out():
    cache = KVCache(num_layers=1, num_kv_heads=1, head_dim=3)
    assert not _grows(cache, 1)
    assert not _grows(cache, 63)  # 64 positions fill the default capacity exactly
    assert _grows(cache, 1)  # the 65th does not fit: 128
    assert not _grows(cache, 63)
    assert _grows(cache, 1)


def test_growth_with_a_small_capacity():
    # capacity 2 and head_dim 3 (so that 2 * head_dim is not the doubled capacity): 2 -> 4 -> 8.
    cache = KVCache(num_layers=1, num_kv_heads=2, head_dim=3, capacity=2)
    assert not _grows(cache, 2)
    assert _grows(cache, 1)  # 3 > 2: capacity 4
    assert not _grows(cache, 1)  # 4 positions: full, no growth
    assert _grows(cache, 1)  # 5 > 4: capacity 8
    assert not _grows(cache, 3)  # 8
    assert _grows(cache, 20)  # 28 > 16: capacity 28, the doubled capacity would be too small
    assert not _grows(cache, 0)
    assert _grows(cache, 1)  # 29 > 28: 56
    assert cache.length == 29 and cache.keys(0).shape == (2, 29, 3)


# --------------------------------------------------------------------------- package bugs found by these tests
def test_kv_cache_bytes_is_exact_beyond_int64():
    assert kv_cache_bytes(num_layers=2**31, num_kv_heads=2**31, head_dim=2, tokens=1, itemsize=1) == 2**64
    assert kv_cache_bytes(num_layers=2**40, num_kv_heads=2**40, head_dim=1, tokens=1, itemsize=1) == 2**81


def test_keys_beyond_the_cache_dtype_raise_naming_them():
    cache = KVCache(num_layers=1, num_kv_heads=1, head_dim=2, dtype=np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="^k "):
            cache.append(0, np.full((1, 1, 2), 1e5), np.zeros((1, 1, 2)))
