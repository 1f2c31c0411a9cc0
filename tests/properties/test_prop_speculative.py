r"""Properties of ``softmax_nb.speculative``: acceptance_rate, speculative_sample and speculative_decode.

* ``acceptance_rate(p, q)`` is within :math:`(V + 2)u` of the exact :math:`\sum_x \min(\hat p_x, \hat q_x)`,
  computed in rational arithmetic from the normalised inputs :math:`\hat p = p / \sum p` (rounded once), and the
  identity :math:`\sum \min(\hat p, \hat q) = 1 - \tfrac12 \sum |\hat p - \hat q|` holds exactly there; it is
  symmetric, in :math:`[0, 1]`, and 1 for :math:`p = q`.
* ``speculative_sample(p, q, draft=x)`` keeps a draft token with :math:`p(x) \ge q(x)` always and one with
  :math:`p(x) = 0` never; a kept token is the draft token, a replaced one has :math:`p(x) > q(x)`; every token it
  returns has :math:`p(x) > 0`; with ``size`` the draws are tokens of the vocabulary with :math:`p > 0`.
* Inputs that are not probability vectors summing to 1, or draft tokens outside the vocabulary or of draft
  probability 0, are refused naming ``p``, ``q`` or ``draft``.
* ``speculative_decode`` on tiny ``CharMLP`` pairs: ``length`` tokens of the vocabulary, the bookkeeping adds up
  (one target call per block, ``accepted + 1`` tokens per call), a target used as its own draft keeps every proposal,
  and greedy decoding equals ``generate(greedy=True)`` token for token.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb
from _harness import U64, Expected, budget, call_checked
from test_prop_charlm import tiny_models


# --------------------------------------------------------------------------- generators
@st.composite
def distributions(draw, v: int, *, zeros: bool = True):
    """A float64 probability vector of length v summing to 1 within rounding, often with zeros and ties."""
    w = draw(hnp.arrays(np.float64, (v,), elements=st.sampled_from([0.0, 1.0, 1.0, 2.0, 0.5, 1e-9, 3.0])
                        if draw(st.booleans()) else st.floats(0.0, 10.0)))
    if not zeros:
        w = w + 1e-3
    if w.sum() == 0:
        w[draw(st.integers(0, v - 1))] = 1.0
    return w / w.sum()


@st.composite
def pairs(draw, zeros: bool = True):
    v = draw(st.integers(1, 7))
    return draw(distributions(v, zeros=zeros)), draw(distributions(v, zeros=zeros))


def _normalised(x: np.ndarray) -> list[Fraction]:
    return [Fraction(float(a)) for a in x / x.sum()]


# --------------------------------------------------------------------------- acceptance_rate
@given(pairs())
@budget(60)
def test_acceptance_rate_is_the_overlap_and_one_minus_total_variation(pq):
    p, q = pq
    beta = call_checked(snb.acceptance_rate, p, q).ok()
    assert isinstance(beta, np.float64)
    ph, qh = _normalised(p), _normalised(q)
    overlap = sum(min(a, b) for a, b in zip(ph, qh))
    tv = sum(abs(a - b) for a, b in zip(ph, qh)) / 2
    # the identity is exact for vectors of equal sums; the normalised ones sum to 1 within rounding
    assert abs(overlap - (1 - tv)) <= abs(sum(ph) - 1) / 2 + abs(sum(qh) - 1) / 2
    assert abs(Fraction(float(beta)) - overlap) <= (len(p) + 2) * U64
    assert beta == snb.acceptance_rate(q, p)
    assert 0.0 <= beta <= 1.0 + (len(p) + 2) * U64
    assert abs(snb.acceptance_rate(p, p) - 1.0) <= (len(p) + 2) * U64


# --------------------------------------------------------------------------- speculative_sample
@given(pairs(), st.integers(0, 2**32 - 1), st.integers(1, 40))
@budget(60)
def test_given_draft_tokens_follow_the_acceptance_rule(pq, seed, n):
    p, q = pq
    support = np.flatnonzero(q > 0)
    draft = np.random.default_rng(seed).choice(support, size=n)
    out = call_checked(snb.speculative_sample, p, q, rng=seed, draft=draft, return_accepted=True).ok()
    tokens, kept = out
    assert tokens.shape == kept.shape == (n,) and tokens.dtype == np.intp and kept.dtype == np.bool_
    assert np.array_equal(tokens[kept], draft[kept])
    assert kept[p[draft] >= q[draft]].all()
    assert not kept[p[draft] == 0].any()
    assert (p[tokens[~kept]] > q[tokens[~kept]]).all() or not (p > q).any()
    assert (p[tokens] > 0).all()


@given(pairs(), st.integers(0, 2**32 - 1), st.integers(0, 30))
@budget(40)
def test_drawn_tokens_have_target_probability_above_zero(pq, seed, size):
    p, q = pq
    tokens = call_checked(snb.speculative_sample, p, q, seed, size=size).ok()
    assert tokens.shape == (size,) and ((tokens >= 0) & (tokens < p.size)).all()
    assert (p[tokens] > 0).all()


@given(pairs(), st.sampled_from(["p_sum", "q_sum", "p_neg", "q_nan", "shape", "draft_out", "draft_zero"]))
@budget(40)
def test_bad_inputs_are_refused_naming_the_argument(pq, bad):
    p, q = (x.copy() for x in pq)
    kw = {}
    exp = Expected()
    if bad == "p_sum":
        p = p * 1.5
        exp.refuse(ValueError, "p")
    elif bad == "q_sum":
        q = q * 0.5
        exp.refuse(ValueError, "q")
    elif bad == "p_neg":
        p[0] = -0.25
        exp.refuse(ValueError, "p")
    elif bad == "q_nan":
        q[-1] = np.nan
        exp.refuse(ValueError, "q")
    elif bad == "shape":
        q = np.append(q, 0.0)
        exp.refuse(ValueError, "p", "q")
    elif bad == "draft_out":
        kw["draft"] = [p.size]
        exp.refuse(ValueError, "draft")
    else:
        q = np.zeros_like(q)
        q[0] = 1.0
        kw["draft"] = [p.size - 1] if p.size > 1 else [0]
        if p.size == 1:
            exp = Expected()
        else:
            exp.refuse(ValueError, "draft")
    call_checked(snb.speculative_sample, p, q, 0, **kw).check(exp)


# --------------------------------------------------------------------------- speculative_decode
MODELS = tiny_models(dtypes=(np.float32, np.float64))


@st.composite
def model_pairs(draw):
    target = draw(MODELS)
    v = target.vocab_size
    draft = draw(MODELS.filter(lambda m: m.vocab_size == v))
    ctx = max(target.context, draft.context)
    prompt = draw(hnp.arrays(np.intp, (ctx + draw(st.integers(0, 2)),), elements=st.integers(0, v - 1)))
    return target, draft, prompt


@given(model_pairs(), st.integers(1, 12), st.integers(0, 4), st.integers(0, 2**32 - 1),
       st.sampled_from([{}, {"temperature": 0.5}, {"top_k": 2}, {"top_p": 0.7, "min_p": 0.1}]))
@budget(40)
def test_decoding_bookkeeping_and_a_perfect_draft(models, length, gamma, seed, kw):
    target, draft, prompt = models
    res = call_checked(snb.speculative_decode, target, draft, prompt, length, seed, num_draft=gamma, **kw).ok()
    assert res.tokens.shape == (length,) and ((res.tokens >= 0) & (res.tokens < target.vocab_size)).all()
    assert (res.accepted + 1).sum() == length and (res.accepted <= res.proposed).all()
    assert (res.proposed <= gamma).all() and res.kept.sum() == res.accepted.sum()
    assert res.beta.shape == res.kept.shape == res.position.shape
    assert ((res.beta >= 0) & (res.beta <= 1 + 1e-12)).all()
    same = snb.speculative_decode(target, target, prompt, length, seed, num_draft=gamma, **kw)
    assert same.kept.all() and same.target_calls == -(-length // (gamma + 1))


@given(model_pairs(), st.integers(1, 15), st.integers(0, 5))
@budget(40)
def test_greedy_decoding_equals_greedy_generate(models, length, gamma):
    target, draft, prompt = models
    want, _ = snb.generate(target, prompt, length, greedy=True)
    res = call_checked(snb.speculative_decode, target, draft, prompt, length, num_draft=gamma, greedy=True).ok()
    assert np.array_equal(res.tokens, want)
