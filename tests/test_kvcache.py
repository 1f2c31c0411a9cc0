"""The key-value cache (softmax_nb.kvcache): appends, growth, views, sizes, and decoding equal to a full prefill."""

from __future__ import annotations

import numpy as np
import pytest

import softmax_nb as snb


def test_append_grows_and_returns_everything_cached():
    cache = snb.KVCache(num_layers=2, num_kv_heads=3, head_dim=4, capacity=2)
    rng = np.random.default_rng(0)
    ks, vs = [], []
    for t in (1, 3, 0, 5):
        k, v = rng.standard_normal((3, t, 4)), rng.standard_normal((3, t, 4))
        ks.append(k)
        vs.append(v)
        keys, values = cache.append(0, k, v)
        np.testing.assert_array_equal(keys, np.concatenate(ks, axis=1))
        np.testing.assert_array_equal(values, np.concatenate(vs, axis=1))
    assert cache.keys(0).shape == (3, 9, 4) and cache.keys(1).shape == (3, 0, 4)
    assert cache.length == 0  # layer 1 holds nothing yet
    cache.append(1, np.zeros((3, 9, 4)), np.zeros((3, 9, 4)))
    assert cache.length == 9
    assert cache.nbytes == 2 * 9 * 2 * 3 * 4 * 8
    assert cache.nbytes == snb.kv_cache_bytes(num_layers=2, num_kv_heads=3, head_dim=4, tokens=9, itemsize=8)


def test_decoding_against_the_cache_equals_the_full_prefill():
    rng = np.random.default_rng(1)
    n, hkv, groups, d = 12, 2, 3, 8
    q = rng.standard_normal((hkv, groups, n, d))
    k, v = rng.standard_normal((hkv, n, d)), rng.standard_normal((hkv, n, d))
    full = snb.attention(q, k[:, None], v[:, None], causal=True)
    cache = snb.KVCache(num_layers=1, num_kv_heads=hkv, head_dim=d, capacity=1)
    cache.append(0, k[:, :5], v[:, :5])  # a chunked prefill of 5 positions, then one token at a time
    prefill = snb.attention(q[:, :, :5], cache.keys(0)[:, None], cache.values(0)[:, None], causal="bottom_right")
    np.testing.assert_allclose(prefill, full[:, :, :5], rtol=1e-13, atol=1e-14)
    for t in range(5, n):
        keys, values = cache.append(0, k[:, t:t + 1], v[:, t:t + 1])
        step = snb.attention(q[:, :, t:t + 1], keys[:, None], values[:, None], causal="bottom_right")
        np.testing.assert_allclose(step, full[:, :, t:t + 1], rtol=1e-13, atol=1e-14)


def test_grouped_query_attention_equals_multi_head_with_repeated_kv_heads():
    rng = np.random.default_rng(2)
    hkv, groups, n, d = 2, 4, 6, 5
    q = rng.standard_normal((hkv, groups, n, d))
    k, v = rng.standard_normal((hkv, n, d)), rng.standard_normal((hkv, n, d))
    gqa = snb.attention(q, k[:, None], v[:, None], causal=True)
    mha = snb.attention(q.reshape(hkv * groups, n, d), np.repeat(k, groups, axis=0), np.repeat(v, groups, axis=0),
                        causal=True)
    np.testing.assert_allclose(gqa.reshape(hkv * groups, n, d), mha, rtol=1e-14, atol=1e-15)
    mha_bytes = snb.kv_cache_bytes(num_layers=1, num_kv_heads=hkv * groups, head_dim=d, tokens=n, itemsize=8)
    gqa_bytes = snb.kv_cache_bytes(num_layers=1, num_kv_heads=hkv, head_dim=d, tokens=n, itemsize=8)
    assert mha_bytes == groups * gqa_bytes


def test_stored_in_the_cache_dtype():
    cache = snb.KVCache(num_layers=1, num_kv_heads=1, head_dim=2, dtype=np.float16)
    keys, _ = cache.append(0, np.array([[[1.0 / 3, 70000.0 / 7]]]), np.zeros((1, 1, 2)))
    assert keys.dtype == np.float16 and keys[0, 0, 0] == np.float16(1.0 / 3)


@pytest.mark.parametrize("kwargs, err, match", [
    ({"num_layers": 0}, ValueError, "num_layers"),
    ({"num_kv_heads": 1.0}, TypeError, "num_kv_heads"),
    ({"dtype": np.int32}, ValueError, "dtype"),
    ({"capacity": 0}, ValueError, "capacity"),
])
def test_bad_construction(kwargs, err, match):
    args = {"num_layers": 1, "num_kv_heads": 1, "head_dim": 2} | kwargs
    with pytest.raises(err, match=match):
        snb.KVCache(**args)


def test_bad_appends():
    cache = snb.KVCache(num_layers=1, num_kv_heads=2, head_dim=3)
    with pytest.raises(ValueError, match="layer"):
        cache.append(1, np.zeros((2, 1, 3)), np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match="k must have shape"):
        cache.append(0, np.zeros((1, 1, 3)), np.zeros((2, 1, 3)))
    with pytest.raises(ValueError, match="same shape"):
        cache.append(0, np.zeros((2, 1, 3)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="v must contain only finite"):
        cache.append(0, np.zeros((2, 1, 3)), np.full((2, 1, 3), np.nan))
    assert cache.length == 0  # nothing was stored by the failed calls
    with pytest.raises(TypeError):
        snb.kv_cache_bytes(num_layers=1, num_kv_heads=1, head_dim=1, tokens=1.5, itemsize=2)
