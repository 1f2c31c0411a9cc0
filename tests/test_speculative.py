"""Speculative sampling (softmax_nb.speculative): the output is distributed as the target, by a χ² test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import softmax_nb as snb

# (p, q): equal, close, far apart, and supports that differ both ways
PAIRS = {
    "equal": ([0.5, 0.3, 0.2], [0.5, 0.3, 0.2]),
    "close": ([0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.25, 0.15]),
    "far": ([0.05, 0.05, 0.9], [0.8, 0.15, 0.05]),
    "target-only token": ([0.5, 0.2, 0.3, 0.0], [0.6, 0.4, 0.0, 0.0]),
    "draft-only token": ([0.7, 0.3, 0.0], [0.2, 0.3, 0.5]),
}
DRAWS = 200_000


def _chi2_pvalue(tokens: np.ndarray, p: np.ndarray) -> float:
    counts = np.bincount(tokens, minlength=p.size)
    support = p > 0
    assert counts[~support].sum() == 0, "a token of target probability 0 was drawn"
    return float(stats.chisquare(counts[support], DRAWS * p[support]).pvalue)


@pytest.mark.parametrize("name", PAIRS)
def test_output_is_distributed_as_the_target(name):
    p, q = (np.asarray(x) for x in PAIRS[name])
    tokens, accepted = snb.speculative_sample(p, q, rng=7, size=DRAWS, return_accepted=True)
    assert tokens.dtype == np.intp and tokens.shape == (DRAWS,)
    assert _chi2_pvalue(tokens, p) > 1e-3
    # the acceptance rate is sum(min(p, q)), within 5 binomial standard errors
    beta = float(snb.acceptance_rate(p, q))
    assert abs(accepted.mean() - beta) < 5 * np.sqrt(beta * (1 - beta) / DRAWS) + 1e-12
    # accepted tokens are draft tokens; only rejections come from the residual max(0, p - q)
    residual = np.maximum(p - q, 0.0)
    assert np.all(residual[tokens[~accepted]] > 0)


def test_the_chi2_test_has_power_against_a_sampler_without_the_correction():
    p, q = (np.asarray(x) for x in PAIRS["close"])
    plain_draft = np.random.default_rng(7).choice(p.size, size=DRAWS, p=q)
    assert _chi2_pvalue(plain_draft, p) < 1e-12
    accept_only = np.random.default_rng(7).choice(p.size, size=DRAWS, p=np.minimum(p, q) / np.minimum(p, q).sum())
    assert _chi2_pvalue(accept_only, p) < 1e-12


def test_acceptance_rate_is_one_minus_total_variation():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(50), size=8), rng.dirichlet(np.ones(50), size=8)
    beta = snb.acceptance_rate(p, q)
    tv = 0.5 * np.abs(p - q).sum(axis=-1)
    assert beta.shape == (8,)
    np.testing.assert_allclose(beta, 1.0 - tv, rtol=0, atol=1e-14)
    assert snb.acceptance_rate([1.0, 0.0], [0.0, 1.0]) == 0.0
    assert snb.acceptance_rate([0.25] * 4, [0.25] * 4) == 1.0
    assert isinstance(snb.acceptance_rate([0.5, 0.5], [0.9, 0.1]), np.float64)


def test_scalar_draw_and_seeding():
    p, q = PAIRS["far"]
    first = snb.speculative_sample(p, q, rng=3)
    assert isinstance(first, np.intp)
    assert first == snb.speculative_sample(p, q, rng=np.random.default_rng(3))
    token, accepted = snb.speculative_sample(p, q, rng=3, return_accepted=True)
    assert token == first and isinstance(accepted, np.bool_)
    assert snb.speculative_sample(p, q, rng=1, size=0).shape == (0,)


def test_half_precision_probabilities_are_accepted_within_their_rounding():
    z = np.linspace(-3, 3, 200)
    p16 = snb.softmax(z.astype(np.float16))
    assert abs(float(p16.astype(np.float64).sum()) - 1.0) > 1e-6  # float16 rounding
    tokens = snb.speculative_sample(p16, snb.softmax(z[::-1]), rng=0, size=10)
    assert tokens.shape == (10,)


@pytest.mark.parametrize("p, q, match", [
    ([0.5, 0.6], [0.5, 0.5], "p must sum to 1"),
    ([0.5, 0.5], [0.5, 0.4], "q must sum to 1"),
    ([1.5, -0.5], [0.5, 0.5], "p must contain probabilities"),
    ([0.5, np.nan], [0.5, 0.5], "p must contain finite"),
    ([0.5, 0.5], [1.0, 0.0, 0.0], "same shape"),
    ([[0.5, 0.5]], [[0.5, 0.5]], "1-D"),
    ([], [], "at least one entry"),
])
def test_bad_distributions_raise_naming_the_argument(p, q, match):
    with pytest.raises(ValueError, match=match):
        snb.speculative_sample(p, q, rng=0)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="size"):
        snb.speculative_sample([1.0], [1.0], rng=0, size=-1)
    with pytest.raises(TypeError, match="size"):
        snb.speculative_sample([1.0], [1.0], rng=0, size=2.0)
    with pytest.raises(TypeError, match="return_accepted"):
        snb.speculative_sample([1.0], [1.0], rng=0, return_accepted=1)
    with pytest.raises(TypeError, match="p must be numeric"):
        snb.acceptance_rate("0.5", [1.0])
