"""Tests for the decoding extras of softmax_nb.decoding (issue 23, item 6).

typical_filter, epsilon_filter and repetition_penalty against direct float64 loops; generate's
logits_processor; gumbel_top_k against the exact probabilities of sampling without replacement (chi-squared
tests over seeded draws); beam_search against brute-force enumeration of every sequence. The parity with
Hugging Face's warpers is in tests/test_decoding_hf.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from softmax_nb import log_softmax, softmax
from softmax_nb._checks import ArgumentTypeError
from softmax_nb.charlm import CharMLP
from softmax_nb.decoding import (beam_search, epsilon_filter, generate, gumbel_top_k, min_p_filter,
                                 repetition_penalty, sample, top_k_filter, top_p_filter, typical_filter)

DTYPES = [np.float16, np.float32, np.float64]


# --------------------------------------------------------------------------- direct-loop references
def _log_probs(row):
    """log q_i of one row in float64 by a direct loop (-inf for -inf logits)."""
    vals = [float(x) for x in row]
    m = max(v for v in vals if v != -math.inf)
    lse = m + math.log(math.fsum(math.exp(v - m) for v in vals if v != -math.inf))
    return [v - lse if v != -math.inf else -math.inf for v in vals]


def ref_typical(row, tau):
    """Hugging Face's rule written as a loop: sort by |-log q - H|, keep through the first cumulative mass >= tau
    and every token tied with the score there."""
    if tau == 1.0:
        return [True] * len(row)
    lq = _log_probs(row)
    q = [math.exp(x) for x in lq]
    h = -math.fsum(qi * li for qi, li in zip(q, lq) if li != -math.inf)
    s = [abs(-li - h) if li != -math.inf else math.inf for li in lq]
    keep, cum, threshold = [False] * len(row), 0.0, None
    for i in sorted(range(len(row)), key=lambda j: s[j]):
        if threshold is not None and s[i] > threshold:
            break
        keep[i] = True
        cum += q[i]
        if threshold is None and cum >= tau:
            threshold = s[i]
    return keep


def ref_epsilon(row, eps):
    lq = _log_probs(row)
    top = max(float(x) for x in row)
    return [(math.exp(li) >= eps) or float(x) == top for li, x in zip(lq, row)]


def ref_penalty(row, previous, theta, work=np.float64):
    """One scalar operation per penalised token, in the work dtype (``work`` scalars)."""
    seen = set(int(i) for i in previous)
    t = work(theta)
    out = []
    for i, x in enumerate(row):
        x = work(x)
        out.append((x * t if x < 0 else x / t) if i in seen else x)
    return out


@st.composite
def logit_rows(draw):
    """Rows with ties (values from a small set), -inf entries, and every float dtype."""
    dtype = draw(st.sampled_from(DTYPES))
    n_rows, v = draw(st.integers(1, 4)), draw(st.integers(1, 9))
    values = st.sampled_from([-np.inf, -3.0, -1.0, 0.0, 0.5, 2.0, 7.0]) if draw(st.booleans()) else \
        st.floats(-30, 30, allow_nan=False, width=16)
    z = draw(hnp.arrays(np.float64, (n_rows, v), elements=values)).astype(dtype)
    z[:, 0] = np.where(np.isneginf(z).all(axis=1), 0.0, z[:, 0])  # every row keeps a finite logit
    return z


# --------------------------------------------------------------------------- typical_filter
@given(logit_rows(), st.sampled_from([1e-9, 0.1, 0.25, 0.5, 0.9, 0.95, 1.0]))
def test_typical_matches_loop(z, tau):
    out = typical_filter(z, typical_p=tau)
    assert out.dtype == z.dtype and out.shape == z.shape
    for row, got in zip(z, out):
        want = np.array(ref_typical(row, tau)) & np.isfinite(row)
        np.testing.assert_array_equal(np.isfinite(got), want)
        np.testing.assert_array_equal(got[want], row[want])


def test_typical_hand_cases():
    z = np.log([0.5, 0.3, 0.1, 0.1])  # H = 1.168; surprisals 0.69, 1.20, 2.30, 2.30
    assert np.isfinite(typical_filter(z, typical_p=0.25)).tolist() == [False, True, False, False]
    assert np.isfinite(typical_filter(z, typical_p=0.3)).tolist() == [False, True, False, False]
    assert np.isfinite(typical_filter(z, typical_p=0.31)).tolist() == [True, True, False, False]
    assert np.isfinite(typical_filter(z, typical_p=0.85)).tolist() == [True, True, True, True]  # tied pair whole
    np.testing.assert_array_equal(typical_filter(np.zeros(4), typical_p=0.5), np.zeros(4))  # all scores tied
    z = np.array([0.0, -np.inf, 1.0])
    assert np.isfinite(typical_filter(z, typical_p=1.0)).tolist() == [True, False, True]
    assert np.isneginf(typical_filter(z, typical_p=0.999)[1])


def test_typical_keeps_the_most_typical_not_the_most_probable():
    z = np.log([0.5, 0.3, 0.1, 0.1])
    kept = np.isfinite(typical_filter(z, typical_p=1e-9))
    assert kept.tolist() == [False, True, False, False] and np.argmax(z) == 0


def test_typical_and_epsilon_do_not_depend_on_the_order_of_the_vocabulary():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(200, 30)) * 3
    z[:, :5] = z[:, 5:10]  # ties
    perm = rng.permutation(30)
    for f, kw in ((typical_filter, {"typical_p": 0.7}), (epsilon_filter, {"epsilon": 0.02})):
        np.testing.assert_array_equal(f(z[:, perm], **kw), f(z, **kw)[:, perm])


@pytest.mark.parametrize("dtype", DTYPES)
def test_typical_and_epsilon_in_every_dtype_decide_in_float64(dtype):
    z = np.random.default_rng(1).normal(scale=3, size=(50, 20)).astype(dtype)
    z64 = z.astype(np.float64)
    for f, kw in ((typical_filter, {"typical_p": 0.6}), (epsilon_filter, {"epsilon": 0.03})):
        out = f(z, **kw)
        assert out.dtype == dtype
        np.testing.assert_array_equal(np.isfinite(out), np.isfinite(f(z64, **kw)))


def test_integer_logits_give_float64():
    assert typical_filter([1, 2, 3], typical_p=0.5).dtype == np.float64
    assert epsilon_filter([1, 2, 3], epsilon=0.5).dtype == np.float64
    assert repetition_penalty([1, 2, 3], [0], penalty=2.0).tolist() == [0.5, 2.0, 3.0]


@pytest.mark.parametrize("f, name", [(typical_filter, "typical_p"), (epsilon_filter, "epsilon")])
def test_new_filters_reject_bad_input(f, name):
    for bad in ("0.5", True, None, [0.5]):
        with pytest.raises(ArgumentTypeError, match=rf"^{name} must be a number in"):
            f([0.0, 1.0], **{name: bad})
    for bad in (-0.1, 1.5, math.nan) + ((0.0,) if name == "typical_p" else ()):
        with pytest.raises(ValueError, match=rf"^{name} must be in"):
            f([0.0, 1.0], **{name: bad})
    for z, msg in (([0.0, np.nan], "logits contains NaN"), ([0.0, np.inf], "logits contains +inf"),
                   ([-np.inf, -np.inf], "logits has a row whose every entry is -inf"),
                   (1.0, "logits must have a non-empty last axis")):
        with pytest.raises(ValueError, match="^" + msg.replace("+", r"\+")):
            f(z, **{name: 0.5})
    with pytest.raises(TypeError):
        f([0.0, 1.0], 0.5)  # keyword-only


# --------------------------------------------------------------------------- epsilon_filter
@given(logit_rows(), st.sampled_from([0.0, 1e-300, 1e-4, 0.01, 0.1, 0.3, 0.5, 1.0]))
def test_epsilon_matches_loop(z, eps):
    out = epsilon_filter(z, epsilon=eps)
    assert out.dtype == z.dtype and out.shape == z.shape
    for row, got in zip(z, out):
        want = np.array(ref_epsilon(row, eps)) & np.isfinite(row)
        np.testing.assert_array_equal(np.isfinite(got), want)
        np.testing.assert_array_equal(got[want], row[want])


def test_epsilon_hand_cases():
    z = np.log([0.6, 0.3, 0.1])
    assert np.isfinite(epsilon_filter(z, epsilon=0.2)).tolist() == [True, True, False]
    assert np.isfinite(epsilon_filter(z, epsilon=0.1 - 1e-12)).all()
    assert np.isfinite(epsilon_filter([0.0, 0.0, -1.0], epsilon=1.0)).tolist() == [True, True, False]
    np.testing.assert_array_equal(epsilon_filter(z, epsilon=0.0), z)
    # a probability far below float64's smallest number is compared in log space, not as 0
    z = np.array([0.0, -800.0])
    assert np.isfinite(epsilon_filter(z, epsilon=5e-324)).tolist() == [True, False]
    assert np.isfinite(epsilon_filter(np.array([0.0, -700.0]), epsilon=5e-324)).all()


# --------------------------------------------------------------------------- repetition_penalty
@given(logit_rows(), st.sampled_from([0.5, 1.0, 1.2, 3.0]), st.data())
def test_repetition_penalty_matches_loop(z, theta, data):
    v = z.shape[1]
    prev = data.draw(hnp.arrays(np.int64, (z.shape[0], data.draw(st.integers(0, 6))), elements=st.integers(0, v - 1)))
    out = repetition_penalty(z, prev, penalty=theta)
    assert out.dtype == z.dtype and out.shape == z.shape
    work = np.float32 if z.dtype == np.float16 else z.dtype.type  # float16: computed in float32, rounded once
    for row, p, got in zip(z, prev, out):
        want = np.array(ref_penalty(row, p, theta, work), dtype=work).astype(z.dtype)
        np.testing.assert_array_equal(got, want)


def test_repetition_penalty_hand_cases():
    z = np.array([2.0, -1.0, 0.5, 0.0, -np.inf])
    np.testing.assert_array_equal(repetition_penalty(z, [0, 1, 1, 3, 4], penalty=2.0), [1.0, -2.0, 0.5, 0.0, -np.inf])
    np.testing.assert_array_equal(repetition_penalty(z, [0, 1], penalty=0.5), [4.0, -0.5, 0.5, 0.0, -np.inf])
    np.testing.assert_array_equal(repetition_penalty(z, [0, 1], penalty=1.0), z)
    np.testing.assert_array_equal(repetition_penalty(z, np.zeros(0, int), penalty=3.0), z)
    # a 1-D previous applies to every row; (R, L) one list per row
    zz = np.ones((2, 3))
    np.testing.assert_array_equal(repetition_penalty(zz, [2], penalty=2.0), [[1, 1, 0.5], [1, 1, 0.5]])
    np.testing.assert_array_equal(repetition_penalty(zz, [[0], [1]], penalty=2.0), [[0.5, 1, 1], [1, 0.5, 1]])


def test_repetition_penalty_float16_is_computed_in_float32_and_rounded_once():
    z = np.array([3.0, -7.0, 11.0], np.float16)
    out = repetition_penalty(z, [0, 1, 2], penalty=1.3)
    want = np.where(z < 0, z.astype(np.float32) * np.float32(1.3), z.astype(np.float32) / np.float32(1.3))
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, want.astype(np.float16))


def test_repetition_penalty_rejects_bad_input():
    z = [1.0, -1.0, 0.0]
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match=r"^penalty must be a finite number > 0"):
            repetition_penalty(z, [0], penalty=bad)
    for bad in ("1.2", True, None):
        with pytest.raises(ArgumentTypeError, match=r"^penalty must be"):
            repetition_penalty(z, [0], penalty=bad)
    with pytest.raises(ArgumentTypeError, match=r"^previous must be integer token ids, got dtype float64$"):
        repetition_penalty(z, [0.0], penalty=1.2)
    with pytest.raises(ValueError, match=r"^previous must hold token ids in \[0, 3\) for a vocabulary of 3, got 3$"):
        repetition_penalty(z, [0, 3], penalty=1.2)
    with pytest.raises(ValueError, match=r"^previous must hold token ids in \[0, 3\) .*got -1$"):
        repetition_penalty(z, [-1], penalty=1.2)
    with pytest.raises(ValueError, match=r"^previous must have at least one axis"):
        repetition_penalty(z, 0, penalty=1.2)
    with pytest.raises(ValueError, match=r"^previous must have shape \(\.\.\., L\) with leading axes that broadcast"):
        repetition_penalty(np.zeros((2, 3)), np.zeros((3, 1), int), penalty=1.2)
    with pytest.raises(ValueError, match=r"^previous must have shape"):
        repetition_penalty(np.zeros(3), np.zeros((2, 1), int), penalty=1.2)
    with pytest.raises(ValueError, match=r"^penalty=0\.5 sends the logit 60000 beyond the range of float16$"):
        repetition_penalty(np.array([60000.0], np.float16), [0], penalty=0.5)
    with pytest.raises(ValueError, match=r"^penalty=1e\+300 sends the logit -1e\+10 beyond the range of float64$"):
        repetition_penalty([-1e10], [0], penalty=1e300)


# --------------------------------------------------------------------------- sample with the new filters
def test_sample_applies_typical_and_epsilon_after_min_p():
    rng = np.random.default_rng(5)
    z = rng.normal(scale=2.0, size=(3000, 12))
    chain = epsilon_filter(typical_filter(min_p_filter(top_p_filter(top_k_filter(
        log_softmax(z, temperature=0.8), top_k=9), top_p=0.95), min_p=0.02), typical_p=0.8), epsilon=0.03)
    draws = sample(z, 0, temperature=0.8, top_k=9, top_p=0.95, min_p=0.02, typical_p=0.8, epsilon=0.03)
    assert np.isfinite(chain[np.arange(len(z)), draws]).all()
    # the same inversion as sampling from the filtered logits themselves
    np.testing.assert_array_equal(draws, sample(chain, 0))


def test_sample_typical_frequencies_match_the_filtered_softmax():
    z = np.log([0.5, 0.3, 0.1, 0.1])
    draws = sample(np.tile(z, (40_000, 1)), np.random.default_rng(0), typical_p=0.5)
    counts = np.bincount(draws, minlength=4)
    assert counts[2] == counts[3] == 0
    assert stats.chisquare(counts[:2], 40_000 * np.array([0.625, 0.375])).pvalue > 1e-3


def test_sample_rejects_bad_new_options():
    with pytest.raises(ValueError, match=r"^typical_p must be in \(0, 1\]"):
        sample([0.0, 1.0], 0, typical_p=0.0)
    with pytest.raises(ValueError, match=r"^epsilon must be in \[0, 1\]"):
        sample([0.0, 1.0], 0, epsilon=2.0)
    with pytest.raises(ArgumentTypeError, match=r"^epsilon must be"):
        sample([0.0, 1.0], 0, epsilon="0.1")


# --------------------------------------------------------------------------- generate's logits_processor
class _Table:
    """A stand-in language model with context 1: the logits of the next token are a row of a table."""

    context = 1

    def __init__(self, table, dtype=np.float64):
        self.table = np.asarray(table, dtype=dtype)
        self.vocab_size = self.table.shape[1]

    def logits(self, windows):
        return self.table[np.asarray(windows)[:, -1]]


def _table(v=4, seed=0, scale=2.0):
    return _Table(np.random.default_rng(seed).normal(scale=scale, size=(v, v)))


def test_generate_with_an_identity_processor_equals_generate_without():
    model = _table(5)
    seen = []

    def identity(ids, z):
        seen.append(ids.copy())
        return z

    for greedy, rng in ((True, None), (False, 3)):
        a = generate(model, [[0], [1]], 6, rng, greedy=greedy)
        seen.clear()
        b = generate(model, [[0], [1]], 6, rng, greedy=greedy, logits_processor=identity)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        # ids: the prompt and the tokens generated so far
        assert [s.shape for s in seen] == [(2, 1 + t) for t in range(6)]
        np.testing.assert_array_equal(seen[-1], np.concatenate([[[0], [1]], b[0][:, :-1]], axis=1))


def test_generate_with_a_constraint_and_a_repetition_penalty():
    model = _table(6, seed=1)
    allowed = np.array([True, False, True, False, True, False])
    tokens, logp = generate(model, [0], 50, 2, logits_processor=lambda ids, z: np.where(allowed, z, -np.inf))
    assert allowed[tokens].all()
    # logp stays the model's own log-probability, not that of the processed logits
    windows = np.concatenate([[0], tokens[:-1]])
    np.testing.assert_allclose(logp, log_softmax(model.table[windows])[np.arange(50), tokens], rtol=1e-12)
    # greedy with a strong penalty on the last 3 tokens never repeats one of them
    proc = lambda ids, z: repetition_penalty(z, ids[:, -3:], penalty=1e6)  # noqa: E731
    model = _Table(np.abs(_table(6, seed=2).table) + 1.0)  # positive logits: the penalty divides them
    greedy, _ = generate(model, [0], 30, greedy=True, logits_processor=proc)
    seq = np.concatenate([[0], greedy])
    assert all(seq[t] not in seq[max(0, t - 3):t] for t in range(1, len(seq)))


def test_generate_checks_the_processor_and_what_it_returns():
    model = _table(3)
    with pytest.raises(ArgumentTypeError, match=r"^logits_processor must be None or a callable f\(ids, logits\), "
                                                r"got int$"):
        generate(model, [0], 2, 0, logits_processor=1)
    with pytest.raises(ValueError, match=r"^logits_processor must return real logits of the shape it was given, "
                                         r"\(1, 3\), got float64 of shape \(3,\) at step 0$"):
        generate(model, [0], 2, 0, logits_processor=lambda ids, z: z[0])
    for bad, what in ((np.nan, "NaN"), (np.inf, r"\+inf"), (-np.inf, "a row of -inf")):
        with pytest.raises(ValueError, match=rf"^logits_processor returned {what} at step 0: every row needs a "
                                             r"finite logit and no NaN or \+inf$"):
            generate(model, [0], 2, 0, logits_processor=lambda ids, z, b=bad: np.full_like(z, b))
    with pytest.raises(ValueError, match=r"^logits_processor returned \+inf at step 1"):
        generate(_Table(np.zeros((3, 3)), np.float32), [0], 2, greedy=True,
                 logits_processor=lambda ids, z: z.astype(np.float64) + (1e300 if ids.shape[1] > 1 else 0))


# --------------------------------------------------------------------------- gumbel_top_k
def _without_replacement(q, k):
    """Exact probability of every ordered k-tuple drawn from q without replacement (sequential renormalisation)."""
    probs = {}
    for tup in itertools.permutations(range(len(q)), k):
        p, left = 1.0, 1.0
        for i in tup:
            p *= q[i] / left
            left -= q[i]
        probs[tup] = p
    return probs


def test_gumbel_top_k_ordered_tuples_follow_sampling_without_replacement():
    z = np.array([1.0, 0.2, -0.5, 0.7, -1.5])
    q = softmax(z)
    n = 60_000
    draws = gumbel_top_k(np.tile(z, (n, 1)), np.random.default_rng(0), k=3)
    exact = _without_replacement(q, 3)
    keys = list(exact)
    index = {t: j for j, t in enumerate(keys)}
    counts = np.bincount([index[tuple(d)] for d in draws.tolist()], minlength=len(keys))
    expected = n * np.array([exact[t] for t in keys])
    assert math.isclose(expected.sum(), n)
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # the first draw is softmax (the Gumbel-max trick) ...
    assert stats.chisquare(np.bincount(draws[:, 0], minlength=5), n * q).pvalue > 1e-3
    # ... and each token's inclusion frequency matches the exact inclusion probability
    inclusion = np.array([sum(p for t, p in exact.items() if i in t) for i in range(5)])
    freq = np.bincount(draws.ravel(), minlength=5) / n
    se = np.sqrt(inclusion * (1 - inclusion) / n)
    assert (np.abs(freq - inclusion) < 5 * se).all()


def test_gumbel_top_k_is_the_documented_computation():
    z = np.random.default_rng(2).normal(size=(4, 7))
    z[1, 3] = -np.inf
    gen = np.random.default_rng(11)
    keys = (z - z.max(axis=1, keepdims=True)) + np.random.default_rng(11).gumbel(size=z.shape)
    got = gumbel_top_k(z, gen, k=4)
    np.testing.assert_array_equal(got, np.argsort(-keys, axis=1)[:, :4])
    assert got.dtype == np.intp and got.shape == (4, 4)
    after = np.random.default_rng(11)
    after.gumbel(size=z.shape)
    assert gen.random() == after.random()  # advanced by V Gumbel numbers per row
    np.testing.assert_array_equal(gumbel_top_k(z, 11, k=4), got)  # an int seeds a Generator


def test_gumbel_top_k_edges():
    z = np.array([0.0, -np.inf, 1.0, 2.0])
    for seed in range(50):
        d = gumbel_top_k(z, seed, k=3)
        assert sorted(d.tolist()) == [0, 2, 3]  # all finite tokens, never the -inf one
    assert gumbel_top_k(np.zeros(3), 0, k=1).shape == (1,)
    assert gumbel_top_k(np.zeros((0, 3)), 0, k=2).shape == (0, 2)
    # huge tied logits stay tied: the noise decides, uniformly
    first = gumbel_top_k(np.full((20_000, 2), 1e306), 0, k=1)[:, 0]
    assert abs(first.mean() - 0.5) < 0.02
    with pytest.raises(ValueError, match=r"^k must be at most the number of finite logits in every row of logits "
                                         r"\(3\), got 4$"):
        gumbel_top_k(z, 0, k=4)
    with pytest.raises(ValueError, match=r"^k must be an integer >= 1"):
        gumbel_top_k(z, 0, k=0)
    with pytest.raises(ArgumentTypeError, match=r"^k must be an integer"):
        gumbel_top_k(z, 0, k=2.0)
    with pytest.raises(ArgumentTypeError, match=r"^rng must be"):
        gumbel_top_k(z, np.random.RandomState(0), k=2)
    with pytest.raises(TypeError):
        gumbel_top_k(z, 0, 2)  # k is keyword-only


# --------------------------------------------------------------------------- beam_search
def _brute_force(model, prompt, length, alpha, eos):
    """Score every sequence beam search can return: those ending at their first eos, and every eos-free
    sequence of `length` tokens; return the best score and the set of sequences reaching it (to 1e-9)."""
    v = model.vocab_size
    scored = []
    for n in range(1, length + 1):
        for seq in itertools.product(range(v), repeat=n):
            if eos is not None and eos in seq[:-1]:
                continue
            if n < length and seq[-1] != eos:
                continue
            ids = list(prompt) + list(seq)
            lp = sum(log_softmax(model.logits(np.array([ids[t - model.context:t]]))[0].astype(np.float64))[ids[t]]
                     for t in range(len(prompt), len(ids)))
            scored.append((lp / n ** alpha, seq))
    best = max(s for s, _ in scored)
    return best, {seq for s, seq in scored if s >= best - 1e-9}


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0, -1.0])
@pytest.mark.parametrize("eos", [None, 0, 2])
@pytest.mark.parametrize("seed", [0, 1])
def test_beam_search_with_full_width_finds_the_best_sequence(alpha, eos, seed):
    model, length = _table(3, seed=seed, scale=1.5), 4
    tokens, logp = beam_search(model, [1], length, beam_width=3 ** length, length_penalty=alpha, eos=eos)
    best, argmax = _brute_force(model, [1], length, alpha, eos)
    assert tuple(tokens.tolist()) in argmax
    assert math.isclose(logp.sum() / len(tokens) ** alpha, best, rel_tol=1e-12, abs_tol=1e-12)


def test_beam_search_on_a_tiny_char_mlp_against_brute_force():
    rng = np.random.default_rng(4)
    v, e, h, c = 3, 2, 4, 2
    params = {"E": rng.normal(size=(v, e)), "W1": rng.normal(size=(c * e, h)), "b1": rng.normal(size=h),
              "W2": rng.normal(size=(h, v)) * 2, "b2": rng.normal(size=v)}
    model = CharMLP(params, c)
    for alpha, eos in ((1.0, 0), (0.0, 0), (1.0, None)):
        tokens, _ = beam_search(model, [1, 2], 4, beam_width=81, length_penalty=alpha, eos=eos)
        assert tuple(tokens.tolist()) in _brute_force(model, [1, 2], 4, alpha, eos)[1]


def test_beam_width_one_without_eos_is_greedy():
    model = _table(6, seed=3)
    tokens, logp = beam_search(model, [2], 12, beam_width=1)
    g_tokens, g_logp = generate(model, [2], 12, greedy=True)
    np.testing.assert_array_equal(tokens, g_tokens)
    np.testing.assert_allclose(logp, g_logp, rtol=1e-12)


def test_beam_search_length_penalty_favours_longer_hypotheses():
    # token 0 ends the hypothesis; a short, fairly likely end against a longer, likelier-per-token one
    table = np.log(np.array([[0.3, 0.7, 1e-9], [0.05, 0.95, 1e-9], [1 / 3, 1 / 3, 1 / 3]]))
    model = _Table(table)
    short, _ = beam_search(model, [2], 6, beam_width=8, length_penalty=0.0, eos=0)
    long, _ = beam_search(model, [2], 6, beam_width=8, length_penalty=1.0, eos=0)
    assert len(short) < len(long)
    assert short[-1] == 0


def test_beam_search_returns_the_model_dtype_and_checks_its_arguments():
    model = _Table(_table(3).table, np.float16)
    tokens, logp = beam_search(model, np.array([0, 1]), 3, beam_width=2, eos=1)
    assert tokens.dtype == np.intp and logp.dtype == np.float16 and len(tokens) == len(logp) <= 3
    assert len(tokens) == 3 or tokens[-1] == 1
    model = _table(3)
    for kw, kind, msg in (({"beam_width": 0}, ValueError, r"^beam_width must be an integer >= 1"),
                          ({"beam_width": 2.0}, ArgumentTypeError, r"^beam_width must be an integer"),
                          ({"beam_width": 2, "length_penalty": math.inf}, ValueError,
                           r"^length_penalty must be a finite number, got inf$"),
                          ({"beam_width": 2, "length_penalty": "1"}, ArgumentTypeError, r"^length_penalty must be"),
                          ({"beam_width": 2, "eos": 3}, ValueError,
                           r"^eos must be a token id in \[0, 3\) for the model's vocabulary, got 3$"),
                          ({"beam_width": 2, "eos": -1}, ValueError, r"^eos must be an integer >= 0"),
                          ({"beam_width": 2, "eos": 1.0}, ArgumentTypeError, r"^eos must be an integer")):
        with pytest.raises(kind, match=msg):
            beam_search(model, [0], 3, **kw)
    with pytest.raises(ValueError, match=r"^length must be an integer >= 1"):
        beam_search(model, [0], 0, beam_width=2)
    with pytest.raises(ValueError, match=r"^prompt must be a 1-D array of token ids \(one prompt\), got shape"):
        beam_search(model, [[0], [1]], 2, beam_width=2)
    with pytest.raises(ValueError, match=r"^prompt must hold token ids in \[0, 3\)"):
        beam_search(model, [5], 2, beam_width=2)
    with pytest.raises(TypeError):
        beam_search(model, [0], 2, 2)  # beam_width is keyword-only

    class NoVocab:
        context = 1

        def logits(self, windows):
            return np.zeros((len(windows), 3))

    with pytest.raises(ValueError, match=r"^eos must be a token id in \[0, 3\) for the model's vocabulary, got 5$"):
        beam_search(NoVocab(), [0], 2, beam_width=2, eos=5)


def test_beam_search_never_extends_a_removed_token():
    table = np.array([[0.0, -np.inf, -np.inf], [0.0, 0.0, -np.inf], [0.0, 0.0, 0.0]])
    tokens, logp = beam_search(_Table(table), [2], 5, beam_width=9)
    assert np.isfinite(logp).all()


def test_repetition_penalty_outside_the_work_dtype_range_is_computed_in_float64():
    z = np.array([3.0, -2.0, 1.0], np.float32)
    out = repetition_penalty(z[[0, 2]], [0, 1], penalty=1e300)  # float32(1e300) would be inf
    assert out.dtype == np.float32 and out.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"^penalty=1e\+300 sends the logit -2 beyond the range of float32$"):
        repetition_penalty(z, [1], penalty=1e300)
    with pytest.raises(ValueError, match=r"^penalty=1e-300 sends the logit 1 beyond the range of float16$"):
        repetition_penalty(np.array([1.0], np.float16), [0], penalty=1e-300)
    assert repetition_penalty(np.array([-1.0], np.float16), [0], penalty=1e-300).tolist() == [-0.0]


def test_gumbel_top_k_gap_beyond_float64_is_minus_inf_without_a_warning():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = gumbel_top_k(np.array([1.7e308, -1.7e308, 0.0]), 0, k=3)
    assert d[0] == 0 and d[1] == 2 and d[2] == 1
