"""The top-p tie rule of softmax_nb.decoding against the rules of Hugging Face and llama.cpp, written out in numpy.

The module docstring of :mod:`softmax_nb.decoding` says: on rows without ties the three rules keep the same
tokens; a tie group straddling the top-p boundary is kept whole here and cut part-way by both libraries.
These tests need neither library (``tests/test_decoding_hf.py`` compares with transformers itself).
"""

from __future__ import annotations

import numpy as np
import pytest

from softmax_nb import softmax
from softmax_nb.decoding import top_k_filter, top_p_filter


def hf_top_p(z: np.ndarray, p: float) -> np.ndarray:
    """transformers' TopPLogitsWarper: sort ascending, drop the tokens whose cumulative mass is <= 1 - p."""
    order = np.argsort(z, kind="stable")
    keep = np.empty(z.shape, bool)
    keep[order] = np.cumsum(softmax(z)[order]) > 1 - p
    keep[order[-1]] = True  # min_tokens_to_keep = 1
    return keep


def llama_top_p(z: np.ndarray, p: float) -> np.ndarray:
    """llama.cpp's top-p sampler: sort descending, keep the shortest prefix whose cumulative mass reaches p."""
    order = np.argsort(-z, kind="stable")
    keep = np.zeros(z.shape, bool)
    keep[order[:np.searchsorted(np.cumsum(softmax(z)[order]), p) + 1]] = True
    return keep


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9, 0.999])
def test_three_rules_agree_on_untied_rows(p):
    rng = np.random.default_rng(int(p * 1000))
    rows = rng.standard_normal((500, 30)) * rng.uniform(0.1, 5.0, size=(500, 1))
    for z in rows:
        ours = np.isfinite(top_p_filter(z, top_p=p))
        np.testing.assert_array_equal(ours, hf_top_p(z, p))
        np.testing.assert_array_equal(ours, llama_top_p(z, p))


def test_straddling_tie_kept_whole_here_cut_by_both_libraries():
    z = np.zeros(4)  # uniform over 4 tokens, p = 0.5
    assert np.isfinite(top_p_filter(z, top_p=0.5)).sum() == 4
    assert hf_top_p(z, 0.5).sum() == llama_top_p(z, 0.5).sum() == 2
    assert not (hf_top_p(z, 0.5) == llama_top_p(z, 0.5)).all()  # and they keep different tokens


def test_tie_below_the_boundary_is_irrelevant():
    z = np.log([0.6, 0.1, 0.1, 0.1, 0.1])  # the boundary at 0.5 falls inside the top token
    ours = np.isfinite(top_p_filter(z, top_p=0.5))
    np.testing.assert_array_equal(ours, [True, False, False, False, False])
    np.testing.assert_array_equal(ours, hf_top_p(z, 0.5))
    np.testing.assert_array_equal(ours, llama_top_p(z, 0.5))


def test_top_k_keeps_ties_whole():
    z = np.array([3.0, 1.0, 1.0, 0.0])
    assert np.isfinite(top_k_filter(z, top_k=2)).sum() == 3  # as HF's TopKLogitsWarper; llama.cpp keeps 2
