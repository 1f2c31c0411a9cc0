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


# --------------------------------------------------------------------------- given draft tokens
def test_given_draft_tokens_are_tested_not_redrawn():
    p, q = np.array([0.4, 0.3, 0.2, 0.1]), np.array([0.3, 0.3, 0.25, 0.15])
    rng = np.random.default_rng(11)
    draft = rng.choice(4, size=DRAWS, p=q)
    tokens, accepted = snb.speculative_sample(p, q, rng=12, draft=draft, return_accepted=True)
    assert tokens.shape == draft.shape and np.array_equal(tokens[accepted], draft[accepted])
    assert _chi2_pvalue(tokens, p) > 1e-3
    # a token with p >= q is always kept; the others with probability p/q
    assert accepted[draft <= 1].all()
    for x in (2, 3):
        kept = accepted[draft == x].mean()
        n = (draft == x).sum()
        assert abs(kept - p[x] / q[x]) < 5 * np.sqrt(0.25 / n)
    scalar, ok = snb.speculative_sample(p, q, rng=0, draft=np.intp(1), return_accepted=True)
    assert isinstance(scalar, np.intp) and scalar == 1 and ok
    grid = snb.speculative_sample(p, q, rng=0, draft=[[0, 1], [2, 3]])
    assert grid.shape == (2, 2)


def test_draft_tokens_from_the_wrong_distribution_break_the_guarantee():
    # tokens drawn from q2 but tested as if drawn from q: the output is not p (the χ² test has power)
    p, q, q2 = np.array([0.4, 0.3, 0.2, 0.1]), np.full(4, 0.25), np.array([0.1, 0.1, 0.1, 0.7])
    draft = np.random.default_rng(3).choice(4, size=DRAWS, p=q2)
    assert _chi2_pvalue(snb.speculative_sample(p, q, rng=4, draft=draft), p) < 1e-12


@pytest.mark.parametrize("kw, kind, match", [
    ({"draft": [0, 5]}, ValueError, "draft must hold token ids"),
    ({"draft": [-1]}, ValueError, "draft must hold token ids"),
    ({"draft": [2]}, ValueError, "q gives probability 0"),
    ({"draft": [0], "size": 1}, ValueError, "not both"),
    ({"draft": [0.0]}, TypeError, "draft must be integer"),
])
def test_bad_draft_tokens_raise(kw, kind, match):
    with pytest.raises(kind, match=match):
        snb.speculative_sample([0.5, 0.5, 0.0], [0.5, 0.5, 0.0], rng=0, **kw)


# --------------------------------------------------------------------------- the decoding loop
class Table:
    """A model of context 1 (the logits of the next token given the last one), and its exact distributions."""

    context = 1

    def __init__(self, z):
        self.z = np.asarray(z, dtype=np.float64)
        self.calls = 0

    @property
    def vocab_size(self):
        return self.z.shape[0]

    def logits(self, windows):
        self.calls += 1
        return self.z[np.asarray(windows)[:, -1]]


RNG = np.random.default_rng(2024)
TARGET = Table(RNG.normal(scale=1.5, size=(4, 4)))
DRAFT = Table(RNG.normal(scale=1.5, size=(4, 4)))


def _filtered(z, temperature=1.0, top_k=None):
    """The reference chain, written out in float64: softmax of z / T restricted to the top-k logits."""
    w = np.asarray(z, dtype=np.float64) / temperature
    if top_k is not None:
        kth = np.sort(w)[::-1][top_k - 1]
        w = np.where(w >= kth, w, -np.inf)
    e = np.exp(w - w.max())
    return e / e.sum()


def _joint(model, first, n, **kw):
    """Exact probability of every continuation of length n after the token `first` (direct float64 loops)."""
    probs = {(): 1.0}
    for _ in range(n):
        probs = {seq + (x,): pr * _filtered(model.z[(seq or (first,))[-1]], **kw)[x]
                 for seq, pr in probs.items() for x in range(model.z.shape[1])}
    return probs


@pytest.mark.parametrize("kw", [{}, {"temperature": 0.7, "top_k": 2}])
def test_the_decoded_sequences_are_distributed_as_the_target(kw):
    runs, n = 4000, 2
    exact = _joint(TARGET, 0, n, **kw)
    rng = np.random.default_rng(5)
    seqs = [tuple(snb.speculative_decode(TARGET, DRAFT, [0], n, rng, num_draft=2, **kw).tokens.tolist())
            for _ in range(runs)]
    assert all(exact.get(s, 0.0) > 0 for s in set(seqs)), "a continuation of target probability 0 came out"
    cells = [s for s, pr in exact.items() if pr * runs >= 5]
    rest = 1 - sum(exact[c] for c in cells)  # the rare continuations, pooled into one cell if it is not tiny
    pooled = [sum(x not in cells for x in seqs)] if rest * runs >= 5 else []
    counts = np.array([sum(x == c for x in seqs) for c in cells] + pooled)
    expected = np.array([exact[c] for c in cells] + ([rest] if pooled else [])) * runs
    assert stats.chisquare(counts, expected * counts.sum() / expected.sum()).pvalue > 1e-3
    # the draft's own distribution is far from the target's: the test has power against it
    draft_exact = _joint(DRAFT, 0, n, **kw)
    other = np.array([draft_exact[c] for c in cells] + ([1 - sum(draft_exact[c] for c in cells)] if pooled else []))
    with np.errstate(divide="ignore"):  # a cell the draft never produces gives an infinite statistic: p = 0
        assert stats.chisquare(counts, np.maximum(other, 0.0) * counts.sum() / other.sum()).pvalue < 1e-12


def test_with_the_target_as_draft_every_proposal_is_kept():
    for kw in ({}, {"temperature": 0.5, "top_p": 0.8}, {"top_k": 2, "min_p": 0.2}):
        res = snb.speculative_decode(TARGET, TARGET, [1], 23, 0, num_draft=4, **kw)
        assert res.kept.all() and np.allclose(res.beta, 1.0)
        assert res.proposed.tolist() == [4, 4, 4, 4, 2] and res.accepted.tolist() == [4, 4, 4, 4, 2]
        assert res.target_calls == 5 and res.tokens_per_call == 23 / 5 and res.draft_calls == 18


def test_greedy_equals_greedy_generate_for_any_draft():
    model = snb.CharMLP({"E": RNG.normal(size=(6, 2)), "W1": RNG.normal(size=(4, 5)), "b1": np.zeros(5),
                         "W2": RNG.normal(size=(5, 6)), "b2": np.zeros(6)}, context=2)
    draft = Table(RNG.normal(size=(6, 6)))
    prompt = np.array([1, 4, 2])
    want, _ = snb.generate(model, prompt, 40, greedy=True)
    for gamma in (0, 1, 3, 7):
        res = snb.speculative_decode(model, draft, prompt, 40, num_draft=gamma, greedy=True)
        assert np.array_equal(res.tokens, want)
        assert np.array_equal(res.beta, res.kept.astype(float))  # one-hot p and q: beta is 1 or 0
    assert snb.speculative_decode(model, model, prompt, 40, num_draft=3, greedy=True).kept.all()


def test_the_bookkeeping_adds_up():
    target, draft = Table(TARGET.z), Table(DRAFT.z)
    res = snb.speculative_decode(target, draft, [2, 3], 50, 9, num_draft=3)
    assert res.tokens.shape == (50,) and res.tokens.dtype == np.intp
    assert res.tokens.min() >= 0 and res.tokens.max() < 4
    assert (res.accepted + 1).sum() == 50 and target.calls == res.target_calls
    assert draft.calls == res.draft_calls == res.proposed.sum()
    assert (res.accepted <= res.proposed).all() and (res.proposed <= 3).all()
    # a call tests its proposals until the first rejection
    tested = res.accepted + (res.accepted < res.proposed)
    assert res.beta.size == res.kept.size == tested.sum() and res.kept.sum() == res.accepted.sum()
    assert np.array_equal(res.position, np.concatenate([np.arange(1, n + 1) for n in tested]))
    starts = np.concatenate([[0], np.cumsum(tested)[:-1]])
    for s, a, n in zip(starts, res.accepted, tested):
        assert res.kept[s:s + a].all() and (a == n or not res.kept[s + a])
    assert np.all((res.beta >= 0) & (res.beta <= 1 + 1e-12))
    plain = snb.speculative_decode(TARGET, DRAFT, [2], 10, 9, num_draft=0)
    assert plain.target_calls == 10 and plain.draft_calls == 0 and plain.beta.size == 0
    assert plain.position.shape == (0,)
    again = snb.speculative_decode(TARGET, DRAFT, [2, 3], 50, 9, num_draft=3)
    assert np.array_equal(again.tokens, res.tokens)  # a seed fixes the result


def test_the_acceptance_frequency_is_the_mean_acceptance_rate():
    res = snb.speculative_decode(TARGET, DRAFT, [0], 4000, 1, num_draft=3)
    n = res.kept.size
    assert abs(res.kept.mean() - res.beta.mean()) < 5 * np.sqrt(0.25 / n)


class NoContext:
    def logits(self, windows):
        return np.zeros((len(windows), 4))


class Wide(Table):
    pass


@pytest.mark.parametrize("args, kw, kind, match", [
    ((NoContext(), DRAFT, [0], 3), {}, TypeError, "target must be a language model"),
    ((TARGET, object(), [0], 3), {}, TypeError, "draft must be a language model"),
    ((TARGET, DRAFT, [[0]], 3), {}, ValueError, "prompt must be a 1-D"),
    ((TARGET, DRAFT, [], 3), {}, ValueError, "prompt must hold at least 1"),
    ((TARGET, DRAFT, [0.5], 3), {}, TypeError, "prompt must be integer"),
    ((TARGET, DRAFT, [7], 3), {}, ValueError, "prompt must hold token ids"),
    ((TARGET, DRAFT, [-1], 3), {}, ValueError, "prompt must hold token ids"),
    ((TARGET, DRAFT, [0], 0), {}, ValueError, "length"),
    ((TARGET, DRAFT, [0], 3), {"num_draft": -1}, ValueError, "num_draft"),
    ((TARGET, DRAFT, [0], 3), {"num_draft": 2.0}, TypeError, "num_draft"),
    ((TARGET, DRAFT, [0], 3), {"temperature": 0.0}, ValueError, "temperature"),
    ((TARGET, DRAFT, [0], 3), {"top_k": 0}, ValueError, "top_k"),
    ((TARGET, DRAFT, [0], 3), {"top_p": 1.5}, ValueError, "top_p"),
    ((TARGET, DRAFT, [0], 3), {"top_p": "0.5"}, TypeError, "top_p"),
    ((TARGET, DRAFT, [0], 3), {"min_p": 2.0}, ValueError, "min_p"),
    ((TARGET, DRAFT, [0], 3), {"greedy": True, "top_k": 2}, TypeError, "greedy"),
    ((TARGET, DRAFT, [0], 3), {"greedy": 1}, TypeError, "greedy"),
    ((TARGET, Table(np.zeros((4, 5))), [0], 3), {}, ValueError, "share a vocabulary"),
    ((TARGET, Table(np.full((4, 4), np.nan)), [0], 3), {}, ValueError, "draft.logits returned NaN"),
])
def test_speculative_decode_refuses_bad_arguments(args, kw, kind, match):
    with pytest.raises(kind, match=match):
        snb.speculative_decode(*args, **kw)


def test_a_subnormal_draft_probability_is_kept_without_a_warning():
    # p / q overflows to inf for a tiny q: the token is always kept (found by the long Hypothesis profile)
    tokens, accepted = snb.speculative_sample([1.0, 0.0], [2.2250738585072014e-309, 1.0], rng=0, draft=[0, 0],
                                              return_accepted=True)
    assert tokens.tolist() == [0, 0] and accepted.all()
