"""Tests for softmax_nb.vocab: chunked, sharded, sampled and hierarchical softmax over large vocabularies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_nb import cross_entropy, numerical_gradient, softmax
from softmax_nb.vocab import (chunked_cross_entropy, hierarchical_softmax_nll, huffman_codes,
                              merge_shard_statistics, sampled_softmax_loss, shard_statistics,
                              sharded_cross_entropy)


def problem(seed, n=16, d=8, v=300, scale=0.5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, d)).astype(dtype)
    w = (scale * rng.normal(size=(v, d))).astype(dtype)
    return h, w, rng.integers(0, v, size=n)


def full_loss(h, w, y):
    return float(cross_entropy(h.astype(np.float64) @ w.astype(np.float64).T, y))


@given(st.integers(0, 2**32 - 1), st.integers(1, 400), st.sampled_from([0.1, 1.0, 20.0]))
def test_chunked_matches_full_for_every_chunk_size(seed, chunk, scale):
    h, w, y = problem(seed, scale=scale)
    assert math.isclose(chunked_cross_entropy(h, w, y, chunk_size=chunk), full_loss(h, w, y), rel_tol=1e-12,
                        abs_tol=1e-12)


@pytest.mark.parametrize("chunk", [1, 7, 300, 1000])
def test_chunked_gradient_matches_closed_form_and_central_differences(chunk):
    h, w, y = problem(1, n=5, d=3, v=11)
    loss, gh, gw = chunked_cross_entropy(h, w, y, chunk_size=chunk, return_grad=True)
    dz = (softmax(h @ w.T) - np.eye(11)[y]) / 5
    np.testing.assert_allclose(gh, dz @ w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gw, dz.T @ h, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gh, numerical_gradient(lambda x: chunked_cross_entropy(x, w, y, chunk), h), atol=1e-8)
    np.testing.assert_allclose(gw, numerical_gradient(lambda x: chunked_cross_entropy(h, x, y, chunk), w), atol=1e-8)


def test_chunked_float32_and_extreme_logits():
    h, w, y = problem(2, scale=0.5, dtype=np.float32)
    loss32 = chunked_cross_entropy(h, w, y, chunk_size=64)
    assert abs(loss32 - full_loss(h, w, y)) < 1e-5
    # logits of size 1e4: a naive exp overflows, the online LSE does not
    h, w, y = problem(3, scale=2000.0)
    assert math.isclose(chunked_cross_entropy(h, w, y, chunk_size=50), full_loss(h, w, y), rel_tol=1e-12)


def test_torch_parity_of_loss_and_gradients():
    torch = pytest.importorskip("torch")
    h, w, y = problem(4, n=9, d=6, v=50)
    ht, wt = torch.tensor(h, requires_grad=True), torch.tensor(w, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(ht @ wt.T, torch.tensor(y))
    lt.backward()
    loss, gh, gw = chunked_cross_entropy(h, w, y, chunk_size=13, return_grad=True)
    assert math.isclose(loss, lt.item(), rel_tol=1e-12)
    np.testing.assert_allclose(gh, ht.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("n_shards", [1, 3, 8, 300])
def test_sharded_matches_unsharded(n_shards):
    pytest.importorskip("dask")
    h, w, y = problem(5)
    exact = full_loss(h, w, y)
    for scheduler in ("sync", "threads"):
        assert math.isclose(sharded_cross_entropy(h, w, y, n_shards, scheduler=scheduler), exact, rel_tol=1e-12)


def test_shard_statistics_merge_in_any_order():
    h, w, y = problem(6)
    cuts = [0, 10, 11, 200, 300]
    stats = [shard_statistics(h, w[a:b], y, a) for a, b in zip(cuts[:-1], cuts[1:])]
    exact = full_loss(h, w, y)
    assert math.isclose(merge_shard_statistics(stats), exact, rel_tol=1e-12)
    assert math.isclose(merge_shard_statistics(stats[::-1]), exact, rel_tol=1e-12)
    with pytest.raises(ValueError, match="no shard"):
        merge_shard_statistics(stats[:2])


def test_sampled_softmax_bias_and_log_q_correction():
    h, w, y = problem(7, n=32, d=8, v=400, scale=0.4)
    exact = full_loss(h, w, y)
    ranks = np.arange(1, 401)
    q = (1 / ranks) / np.sum(1 / ranks)  # a Zipf proposal, far from uniform
    bias = {}
    for k in (20, 100):
        corrected = [sampled_softmax_loss(h, w, y, q, k, np.random.default_rng(s)) for s in range(200)]
        raw = [sampled_softmax_loss(h, w, y, q, k, np.random.default_rng(s), correct=False) for s in range(200)]
        se = np.std(corrected) / math.sqrt(200)
        assert np.mean(corrected) <= exact + 5 * se  # Jensen: biased low, never high
        assert exact - np.mean(corrected) < 0.15  # and only a little
        assert exact - np.mean(raw) > 1.0  # without the correction Z is underestimated by about V/k
        bias[k] = exact - np.mean(corrected)
    assert bias[100] < bias[20]  # the bias shrinks with k


def test_huffman_codes_are_prefix_free_and_short():
    rng = np.random.default_rng(8)
    counts = rng.zipf(1.3, size=200).astype(float)
    paths, codes, n_inner = huffman_codes(counts)
    assert n_inner == 199
    words = ["".join(map(str, c)) for c in codes]
    assert len(set(words)) == 200
    assert not any(a != b and b.startswith(a) for a in words for b in words)  # prefix-free
    p = counts / counts.sum()
    expected_len = float(np.sum(p * np.array([len(c) for c in codes])))
    entropy_bits = float(-np.sum(p[p > 0] * np.log2(p[p > 0])))
    assert entropy_bits <= expected_len < entropy_bits + 1
    with pytest.raises(ValueError, match="at least 2"):
        huffman_codes([3.0])


def test_hierarchical_softmax_is_a_distribution():
    rng = np.random.default_rng(9)
    counts = rng.integers(1, 100, size=37).astype(float)
    paths, codes, n_inner = huffman_codes(counts)
    u = rng.normal(size=(n_inner, 5))
    h = rng.normal(size=(3, 5))
    for row in h:
        nll = np.array([hierarchical_softmax_nll(row[None], u, [v], paths, codes)[0] for v in range(37)])
        assert math.isclose(np.exp(-nll).sum(), 1.0, rel_tol=1e-12)
        # one path by hand: the product of sigmoids along it
        s = (u[paths[5]] @ row) * (1 - 2 * codes[5])
        assert math.isclose(nll[5], -np.sum(np.log(1 / (1 + np.exp(-s)))), rel_tol=1e-12)


def test_bad_arguments():
    h, w, y = problem(10, v=20)
    with pytest.raises(ValueError, match="same d"):
        chunked_cross_entropy(h, w[:, :3], y)
    with pytest.raises(ValueError, match="targets must lie in"):
        chunked_cross_entropy(h, w, y + 100)
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        chunked_cross_entropy(h, w, y, chunk_size=0)
    with pytest.raises(ValueError, match="hidden must contain only finite"):
        chunked_cross_entropy(np.full_like(h, np.nan), w, y)
    with pytest.raises(ValueError, match="n_shards must be in"):
        sharded_cross_entropy(h, w, y, 21)
    with pytest.raises(ValueError, match="proposal must be"):
        sampled_softmax_loss(h, w, y, np.ones(20), 5, np.random.default_rng(0))
