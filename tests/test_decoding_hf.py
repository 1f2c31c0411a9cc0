"""Parity of softmax_nb.decoding's filters with Hugging Face transformers' logits warpers (R7, issue 23).

Runs only where ``transformers`` (and torch) are installed; the project does
not require it. On rows without ties the kept sets are the same; at a tie
straddling the top-p boundary they differ on purpose (the module docstring of
:mod:`softmax_nb.decoding` states every difference).
"""

from __future__ import annotations

import numpy as np
import pytest

from softmax_nb.decoding import (epsilon_filter, min_p_filter, repetition_penalty, sample, top_k_filter, top_p_filter,
                                 typical_filter)

pytest.importorskip("transformers")  # first: without it, torch (slow to import) is not needed
torch = pytest.importorskip("torch")
logits_process = pytest.importorskip("transformers.generation.logits_process")


def _hf(warper, z: np.ndarray) -> np.ndarray:
    return warper(None, torch.from_numpy(z.copy())).numpy()


def _rows(seed: int, n: int = 2000, v: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, v)) * rng.uniform(0.1, 5.0, size=(n, 1))  # untied (continuous values)


@pytest.mark.parametrize("top_k", [1, 3, 17, 40])
def test_top_k_matches_hf(top_k):
    z = _rows(top_k)
    hf = _hf(logits_process.TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1), z)
    np.testing.assert_array_equal(top_k_filter(z, top_k=top_k), hf)


@pytest.mark.parametrize("top_p", [0.05, 0.3, 0.5, 0.9, 0.999])
def test_top_p_matches_hf_on_untied_rows(top_p):
    z = _rows(int(top_p * 1000))
    hf = _hf(logits_process.TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1), z)
    np.testing.assert_array_equal(top_p_filter(z, top_p=top_p), hf)


@pytest.mark.parametrize("min_p", [0.01, 0.1, 0.5, 1.0])
def test_min_p_matches_hf(min_p):
    z = _rows(int(min_p * 100) + 7)
    hf = _hf(logits_process.MinPLogitsWarper(min_p=min_p, min_tokens_to_keep=1), z)
    np.testing.assert_array_equal(min_p_filter(z, min_p=min_p), hf)


def test_top_p_keeps_a_straddling_tie_group_whole_where_hf_cuts_it():
    z = np.zeros((1, 4))  # uniform over 4 tokens, p = 0.5
    hf = _hf(logits_process.TopPLogitsWarper(top_p=0.5, min_tokens_to_keep=1), z)
    assert np.isfinite(hf).sum() == 2 and np.isfinite(top_p_filter(z, top_p=0.5)).sum() == 4


def test_hf_order_temperature_top_k_top_p_min_p():
    # HF's generate builds temperature, top-k, top-p, min-p in that order; sample() applies them the same way.
    z = _rows(11, n=500)
    warpers = [logits_process.TemperatureLogitsWarper(0.7), logits_process.TopKLogitsWarper(12),
               logits_process.TopPLogitsWarper(0.8), logits_process.MinPLogitsWarper(0.05)]
    hf = torch.from_numpy(z.copy())
    for w in warpers:
        hf = w(None, hf)
    ours = min_p_filter(top_p_filter(top_k_filter(z / 0.7, top_k=12), top_p=0.8), min_p=0.05)
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(hf.numpy()))


# --------------------------------------------------------------------------- typical, epsilon, repetition penalty
@pytest.mark.parametrize("typical_p", [0.05, 0.2, 0.5, 0.9, 0.95, 0.999])
def test_typical_matches_hf(typical_p):
    z = _rows(int(typical_p * 1000) + 1)
    hf = _hf(logits_process.TypicalLogitsWarper(mass=typical_p, min_tokens_to_keep=1), z)
    np.testing.assert_array_equal(typical_filter(z, typical_p=typical_p), hf)


def test_typical_keeps_a_straddling_tie_group_whole_as_hf_does():
    # four tied scores at p = 0.5: HF removes only scores above the one where the mass reaches p
    for z in (np.zeros((1, 4)), np.log([[0.5, 0.3, 0.1, 0.1]])):
        for p in (0.5, 0.85, 0.9):
            hf = _hf(logits_process.TypicalLogitsWarper(mass=p, min_tokens_to_keep=1), z)
            np.testing.assert_array_equal(typical_filter(z, typical_p=p), hf)


@pytest.mark.parametrize("epsilon", [1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9])
def test_epsilon_matches_hf(epsilon):
    z = _rows(int(epsilon * 1e4) + 3)
    hf = _hf(logits_process.EpsilonLogitsWarper(epsilon=epsilon, min_tokens_to_keep=1), z)
    np.testing.assert_array_equal(epsilon_filter(z, epsilon=epsilon), hf)


def test_epsilon_keeps_the_tied_maxima_as_hf_does():
    z = np.array([[0.0, 0.0, -1.0]])
    hf = _hf(logits_process.EpsilonLogitsWarper(epsilon=0.9, min_tokens_to_keep=1), z)
    np.testing.assert_array_equal(epsilon_filter(z, epsilon=0.9), hf)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("penalty", [0.5, 1.0, 1.2, 3.0])
def test_repetition_penalty_matches_hf(dtype, penalty):
    rng = np.random.default_rng(int(penalty * 10))
    z = (rng.standard_normal((200, 40)) * 3).astype(dtype)
    z[:, 0] = 0.0  # a zero logit: divided (HF's `score < 0` test), so it stays 0
    ids = rng.integers(0, 40, size=(200, 30))
    hf = logits_process.RepetitionPenaltyLogitsProcessor(penalty=penalty)(torch.from_numpy(ids),
                                                                           torch.from_numpy(z.copy())).numpy()
    np.testing.assert_array_equal(repetition_penalty(z, ids, penalty=penalty), hf)


def test_hf_order_with_typical_and_epsilon_after_min_p():
    z = _rows(12, n=500)
    warpers = [logits_process.TemperatureLogitsWarper(0.7), logits_process.TopKLogitsWarper(30),
               logits_process.TopPLogitsWarper(0.95), logits_process.MinPLogitsWarper(0.01),
               logits_process.TypicalLogitsWarper(0.8), logits_process.EpsilonLogitsWarper(0.02)]
    hf = torch.from_numpy(z.copy())
    for w in warpers:
        hf = w(None, hf)
    ours = epsilon_filter(typical_filter(min_p_filter(top_p_filter(top_k_filter(z / 0.7, top_k=30), top_p=0.95),
                                                      min_p=0.01), typical_p=0.8), epsilon=0.02)
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(hf.numpy()))
    draws = sample(z, 0, temperature=0.7, top_k=30, top_p=0.95, min_p=0.01, typical_p=0.8, epsilon=0.02)
    assert np.isfinite(hf.numpy()[np.arange(len(z)), draws]).all()
