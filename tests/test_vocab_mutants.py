"""Tests written to kill surviving mutmut mutants of softmax_nb.vocab (see tests/MUTATION.md)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from softmax_nb._checks import ArgumentTypeError
from softmax_nb.vocab import chunked_cross_entropy, hierarchical_softmax_nll, huffman_codes


def _tree(v=6, d=3, n=2, seed=0):
    rng = np.random.default_rng(seed)
    paths, codes, n_inner = huffman_codes(rng.integers(1, 50, v))
    return rng.normal(size=(n, d)), rng.normal(size=(n_inner, d)), paths, codes


# --------------------------------------------------------------------------- overflow messages
@pytest.mark.parametrize("dtype, big, hint", [(np.float64, 1e200, ""), (np.float32, 1e20, ", or pass float64")])
def test_overflow_messages_in_full(dtype, big, hint):
    limit = f"{float(np.finfo(dtype).max):.4g}".replace("+", r"\+").replace(".", r"\.")
    name = np.dtype(dtype).name
    with pytest.raises(ValueError, match=rf"^the logits hidden @ weight\.T overflow {name} \(beyond ±{limit}\); "
                                         rf"scale hidden or weight down{hint}$"):
        chunked_cross_entropy(np.full((1, 2), big, dtype), np.full((3, 2), big, dtype), [0])
    _, u, paths, codes = _tree(d=2)
    with pytest.raises(ValueError, match=rf"^the scores node_weight @ hidden of row 1 overflow {name} "
                                         rf"\(beyond ±{limit}\); scale hidden or node_weight down{hint}$"):
        hierarchical_softmax_nll(np.array([[1.0, 0.0], [big, big]], dtype), np.full(u.shape, big, dtype), [0, 1],
                                 paths, codes)


@pytest.mark.parametrize("dtype, big, d", [(np.float32, 1e30, 2), (np.float64, 1e200, 17)])
def test_scores_with_inf_minus_inf_raise_without_a_warning(dtype, big, d):
    # u . h = big**2 - big**2: the products overflow and inf - inf inside the product is NaN ('invalid' in numpy's
    # matmul; which kernels flag it depends on the BLAS), reported as an overflow, with no RuntimeWarning.
    _, u, paths, codes = _tree(d=d)
    u, h = np.zeros(u.shape, dtype), np.zeros((1, d), dtype)
    u[:, :2], h[0, :2] = big, (big, -big)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=f"^the scores node_weight @ hidden of row 0 overflow {np.dtype(dtype)}"):
            hierarchical_softmax_nll(h, u, [0], paths, codes)


# --------------------------------------------------------------------------- hierarchical softmax arguments
def test_hierarchical_softmax_names_its_arguments():
    h, u, paths, codes = _tree()
    with pytest.raises(ArgumentTypeError, match="^hidden must be numeric"):
        hierarchical_softmax_nll(np.full(h.shape, "a"), u, [0, 1], paths, codes)
    with pytest.raises(ArgumentTypeError, match="^node_weight must be numeric"):
        hierarchical_softmax_nll(h, np.full(u.shape, "a"), [0, 1], paths, codes)
    with pytest.raises(ValueError, match="^hidden must contain only finite numbers"):
        hierarchical_softmax_nll(np.full(h.shape, np.nan), u, [0, 1], paths, codes)
    with pytest.raises(ArgumentTypeError, match=r"^paths and codes must be sequences \(one array per token\), as "
                                                r"huffman_codes returns$"):
        hierarchical_softmax_nll(h, u, [0, 1], paths, 3)
    with pytest.raises(ValueError, match=r"^paths and codes must hold one entry per token \(V >= 1\), got 0 and 0$"):
        hierarchical_softmax_nll(h, u, [0, 1], [], [])


def test_a_single_token_vocabulary_has_probability_one():
    # V = 1: no inner node, an empty path, p(y) = 1.
    nll = hierarchical_softmax_nll(np.ones((2, 3)), np.zeros((0, 3)), [0, 0], [np.zeros(0, np.intp)],
                                   [np.zeros(0, np.int8)])
    np.testing.assert_array_equal(nll, [0.0, 0.0])


@pytest.mark.parametrize("path, code", [
    (np.array([[0]]), np.array([[0]])),  # 2-D, of integers
    (np.array([0.0]), np.array([0])),  # 1-D, of floats
])
def test_paths_must_be_1d_integer_arrays(path, code):
    h, u, paths, codes = _tree()
    paths, codes = list(paths), list(codes)
    paths[0], codes[0] = path, code
    with pytest.raises(ValueError, match=r"^paths\[0\] must be a 1-D array of inner-node ids in \[0, 5\)"):
        hierarchical_softmax_nll(h, u, [0, 0], paths, codes)


@pytest.mark.parametrize("h_dtype, u_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_hierarchical_softmax_returns_the_common_dtype(h_dtype, u_dtype):
    h, u, paths, codes = _tree()
    nll = hierarchical_softmax_nll(h.astype(h_dtype), u.astype(u_dtype), [0, 1], paths, codes)
    assert nll.dtype == np.float64


# --------------------------------------------------------------------------- Huffman codes
def test_huffman_codes_of_equal_counts_are_balanced():
    # 8 equally frequent tokens: every code has 3 bits (H = 3 bits, and the expected length is < H + 1).
    paths, codes, n_inner = huffman_codes(np.ones(8))
    assert n_inner == 7
    assert [len(c) for c in codes] == [3] * 8
    assert [len(p) for p in paths] == [3] * 8
    assert len({tuple(c.tolist()) for c in codes}) == 8
    counts = np.array([5.0, 5.0, 4.0, 4.0, 3.0, 3.0])
    paths, codes, _ = huffman_codes(counts)
    p = counts / counts.sum()
    length = float(np.sum(p * np.array([len(c) for c in codes])))
    assert length < float(-np.sum(p * np.log2(p))) + 1
    assert math.isclose(length, 62 / 24)  # optimal: 5 and 5 get 2 bits, 4, 4, 3 and 3 get 3 bits
