r"""Properties of the decoding extras: typical_filter, epsilon_filter, repetition_penalty, gumbel_top_k, beam_search.

The references are exact (mpmath at 60 digits, or rational arithmetic), with the same logits strategy as
``test_prop_decoding.py`` (ties, ``-inf`` masks, magnitudes up to 1e306, every float dtype and int64):

* typical keeps :math:`i` iff :math:`\sum_{j: s_j < s_i} q_j < \tau`, :math:`s_i = |-\log q_i - H|`;
* epsilon keeps :math:`i` iff :math:`\log q_i \ge \log\varepsilon` or :math:`z_i = \max z`.

A decision may go either way only within the margin of the package's float64 computation: a mass within
:math:`10^{-12}` of :math:`\tau`, a log-probability within :math:`10^{-12}(1 + |\log q_i| + |\log\varepsilon|)` of
:math:`\log\varepsilon`, or (typical) two different logits whose exact scores lie within
:math:`10^{-9}(1 + |\log q_i| + |\log q_j| + H)`, which the float64 order may swap; a row with such a pair is only
checked for what holds whatever the rounding (kept values unchanged, ties of the logit share a fate, not empty).

``repetition_penalty`` is within one rounding of the work dtype (and one of float16) of the exact
:math:`z/\theta` or :math:`z\theta` (with :math:`\theta` rounded to the work dtype, as numpy and torch do), leaves
every other entry bit for bit, and refuses a result beyond the dtype's range naming ``penalty``.
``gumbel_top_k`` is the documented computation with the same generator, ``k`` distinct finite tokens per row.
``beam_search`` with ``beam_width`` :math:`\ge V^{\text{length}}` returns a sequence whose exact score is the best of
every sequence (brute-force enumeration), on tiny ``CharMLP``\ s.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

import softmax_nb as snb
from _harness import Expected, assert_within, budget, call_checked, precision
from test_prop_charlm import tiny_models
from test_prop_decoding import logit_arrays, logits_problem

mp.dps = 60


def _rows(z: np.ndarray) -> np.ndarray:
    return z.reshape(-1, z.shape[-1])


def _exact_log_probs(row: np.ndarray) -> list:
    """Exact log q_i (mpf) of a row, None for -inf logits."""
    vals = [mp.mpf(float(x)) if np.isfinite(x) else None for x in row.astype(np.float64)]
    fin = [v for v in vals if v is not None]
    top = max(fin)
    lse = top + mp.log(mp.fsum(mp.exp(v - top) for v in fin))
    return [None if v is None else v - lse for v in vals]


class _Decision:
    """The exact kept set and the tokens whose fate rounding may change."""

    def __init__(self, v: int):
        self.keep = np.zeros(v, bool)
        self.maybe = np.zeros(v, bool)
        self.loose = False  # a near-tie of scores: only the weak checks apply


def exact_typical(row: np.ndarray, tau: float) -> _Decision:
    d = _Decision(len(row))
    lq = _exact_log_probs(row)
    fin = [i for i, x in enumerate(lq) if x is not None]
    if tau == 1.0:
        d.keep[fin] = True
        return d
    q = {i: mp.exp(lq[i]) for i in fin}
    h = -mp.fsum(q[i] * lq[i] for i in fin)
    s = {i: abs(-lq[i] - h) for i in fin}
    for i, j in itertools.combinations(fin, 2):
        if row[i] != row[j] and abs(s[i] - s[j]) <= mp.mpf(1e-9) * (1 + abs(lq[i]) + abs(lq[j]) + h):
            d.loose = True
    for i in fin:
        below = mp.fsum(q[j] for j in fin if s[j] < s[i] and row[j] != row[i])
        d.keep[i] = below < tau
        d.maybe[i] = below > 0 and abs(below - tau) <= mp.mpf(1e-12)
    return d


def exact_epsilon(row: np.ndarray, eps: float) -> _Decision:
    d = _Decision(len(row))
    lq = _exact_log_probs(row)
    top = np.max(row.astype(np.float64))
    log_eps = mp.log(mp.mpf(eps)) if eps > 0 else None
    for i, x in enumerate(lq):
        if x is None:
            continue
        if log_eps is None or float(row[i]) == top:
            d.keep[i] = True
            continue
        d.keep[i] = x >= log_eps
        d.maybe[i] = abs(x - log_eps) <= mp.mpf(1e-12) * (1 + abs(x) + abs(log_eps))
    return d


def _option(draw, name):
    """A valid value of typical_p/epsilon, or now and then a wrong one (with its refusal)."""
    if draw(st.integers(0, 7)) == 0:
        bad = {"typical_p": [0.0, -0.1, 1.5, math.nan, "0.5", True, None],
               "epsilon": [-0.1, 1.5, math.nan, math.inf, "0.1", False, None]}[name]
        v = draw(st.sampled_from(bad))
        kind = TypeError if v is None or isinstance(v, (str, bool)) else ValueError
        return v, (kind, name)
    if name == "typical_p":
        return draw(st.one_of(st.floats(0.0, 1.0, exclude_min=True), st.sampled_from([1.0, 0.5, 1e-300]))), None
    return draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 0.5, 5e-324, 1e-4]))), None


@budget(120)
@given(logit_arrays(valid=False), st.sampled_from(["typical_p", "epsilon"]), st.data())
def test_typical_and_epsilon_keep_exactly_the_defined_tokens(z, name, data):
    """Entry for entry: the input's own value where the exact definition keeps the token, -inf elsewhere (either,
    only within the margin), in the input's dtype (float64 for integers); tied logits share a fate; never an empty
    row; epsilon's kept set is closed upwards; bad logits or option: a ValueError or TypeError naming it."""
    value, bad = _option(data.draw, name)
    fn = snb.typical_filter if name == "typical_p" else snb.epsilon_filter
    exp = Expected().refuse(bad[0], bad[1]) if bad else logits_problem(z)
    out = call_checked(fn, z, **{name: value}).check(exp)
    if out is None:
        return
    dtype = z.dtype if z.dtype.kind == "f" else np.dtype(np.float64)
    assert out.dtype == dtype and out.shape == z.shape, (out.dtype, out.shape)
    for row, got in zip(_rows(z), _rows(out)):
        kept = np.isfinite(got)
        assert kept.any(), "a filter emptied a row"
        np.testing.assert_array_equal(got[kept], row[kept].astype(dtype))
        zr = row.astype(np.float64)
        for i in np.flatnonzero(kept):
            assert kept[zr == zr[i]].all(), f"{name}: tied logits with different fates: {got}"
            if name == "epsilon":
                assert kept[zr >= zr[i]].all(), f"epsilon: token {i} kept but a larger logit removed: {got}"
        ref = (exact_typical if name == "typical_p" else exact_epsilon)(row, value)
        if ref.loose:
            event("typical: near-tie of scores")
            continue
        sure_keep, sure_drop = ref.keep & ~ref.maybe, ~ref.keep & ~ref.maybe
        assert kept[sure_keep].all() and not (kept & sure_drop).any(), \
            f"{name}={value!r}: kept {kept}, the definition keeps {ref.keep} (either way: {ref.maybe}) of {row}"
        event(f"{name}: {'marginal' if ref.maybe.any() else 'exact'}")


# --------------------------------------------------------------------------- repetition_penalty
def _rounded(x: Fraction) -> float:
    """A rational to float64 (inf beyond its range, never OverflowError)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


@budget(100)
@given(logit_arrays(), st.sampled_from([0.5, 1.0, 1.2, 3.0, 1e-3, 1e3, 1e300, 1.1]), st.data())
def test_repetition_penalty_is_one_rounding_of_the_exact_value(z, theta, data):
    """Penalised entries within one rounding of the work dtype (and one of float16) of the exact z/theta or
    z*theta with theta in the work dtype; other entries bit for bit; -inf stays -inf; a result beyond the range:
    a ValueError naming penalty."""
    v = z.shape[-1]
    lead = z.shape[:-1]
    prev = data.draw(hnp.arrays(np.int64, lead + (data.draw(st.integers(0, 4)),), elements=st.integers(0, v - 1)))
    outcome = call_checked(snb.repetition_penalty, z, prev, penalty=theta)
    prec = precision(z.dtype)
    seen = np.zeros(z.shape, bool)
    np.put_along_axis(seen, prev.astype(np.intp), True, axis=-1)
    zf = z.astype(np.float64)
    with np.errstate(over="ignore", under="ignore"):
        t_w = float(prec.work.type(theta))
    t = Fraction(t_w if 0.0 < t_w < math.inf else theta)  # theta outside the work dtype's range: float64
    exact = np.array([_rounded(Fraction(x) / t if x >= 0 else Fraction(x) * t) if np.isfinite(x) else x
                      for x in zf.ravel()], dtype=np.float64).reshape(z.shape)
    big = float(np.finfo(prec.out).max)
    with np.errstate(over="ignore"):
        beyond = seen & np.isfinite(zf) & (np.where(zf < 0, np.abs(zf) * float(t), np.abs(zf) / float(t)) > big)
    if beyond.any():
        outcome.refused((ValueError, ("penalty",)))
        event("overflow refused")
        return
    if outcome.error is not None:  # allowed only within one rounding of the range
        outcome.refused((ValueError, ("penalty",)))
        event("overflow at the edge")
        return
    out = outcome.ok()
    assert out.dtype == prec.out and out.shape == z.shape
    np.testing.assert_array_equal(out[~seen], z[~seen].astype(prec.out))
    assert (np.isneginf(out) == np.isneginf(zf)).all()
    fin = seen & np.isfinite(zf)
    bound = (prec.u_w + prec.u_o + prec.u_w * prec.u_o) * np.abs(exact[fin]) + prec.sub_w + prec.sub_o
    assert_within(out[fin], exact[fin], bound, what="repetition_penalty", dtype=prec.out)
    if theta == 1.0:
        np.testing.assert_array_equal(out, z.astype(prec.out))
    event("penalised" if seen.any() else "nothing seen")


@budget(40)
@given(logit_arrays(), st.sampled_from(["float_ids", "out_of_range", "negative", "scalar", "penalty", "shape"]))
def test_repetition_penalty_refuses_wrong_arguments(z, how):
    """Float ids, ids outside [0, V), a scalar or mis-shaped previous, or a penalty <= 0: refused, naming it."""
    v = z.shape[-1]
    prev, theta, why = np.zeros(z.shape[:-1] + (1,), np.int64), 1.2, (ValueError, ("previous",))
    if how == "float_ids":
        prev, why = prev.astype(float), (TypeError, ("previous",))
    elif how == "out_of_range":
        prev = prev + v
    elif how == "negative":
        prev = prev - 1
    elif how == "scalar":
        prev = np.int64(0)
    elif how == "penalty":
        theta, why = 0.0, (ValueError, ("penalty",))
    else:
        prev = np.zeros(z.shape[:-1] + (3, 1), np.int64) if z.ndim > 1 else np.zeros((2, 1), np.int64)
    call_checked(snb.repetition_penalty, z, prev, penalty=theta).refused(why)


# --------------------------------------------------------------------------- gumbel_top_k
@budget(80)
@given(logit_arrays(), st.integers(1, 7), st.integers(0, 2**32 - 1))
def test_gumbel_top_k_is_the_documented_computation(z, k, seed):
    """k distinct tokens of finite logit per row, ordered by decreasing (z - max z) + g with g the generator's
    Gumbel numbers (a generator advanced by V numbers per row); k beyond a row's finite logits: refused naming k."""
    finite = np.isfinite(z).sum(axis=-1)
    outcome = call_checked(snb.gumbel_top_k, z, np.random.default_rng(seed), k=k)
    if finite.size and k > finite.min():
        outcome.refused((ValueError, ("k",)))
        return
    got = outcome.ok()
    assert got.dtype == np.intp and got.shape == z.shape[:-1] + (k,)
    z64 = z.astype(np.float64)
    with np.errstate(over="ignore"):  # a gap beyond float64 is -inf, as documented
        keys = (z64 - z64.max(axis=-1, keepdims=True)) + np.random.default_rng(seed).gumbel(size=z.shape)
    for row_keys, row_z, row in zip(_rows(keys), _rows(z64), got.reshape(-1, k)):
        assert len(set(row.tolist())) == k and np.isfinite(row_z[row]).all()
        assert (row_keys[row][:-1] >= row_keys[row][1:]).all()  # in drawing order
        rest = np.setdiff1d(np.arange(len(row_keys)), row)
        assert rest.size == 0 or row_keys[rest].max() <= row_keys[row].min()


# --------------------------------------------------------------------------- beam_search
def _all_scores(model, prompt, length, alpha, eos):
    """The score of every sequence beam search may return, by enumeration of the prefix tree in float64."""
    v, c = model.vocab_size, model.context
    scores = {}

    def visit(seq, total):
        n = len(seq)
        if n and ((eos is not None and seq[-1] == eos) or n == length):
            scores[tuple(seq)] = total / n ** alpha
            return
        ids = list(prompt) + seq
        z = model.logits(np.array([ids[-c:]]))[0].astype(np.float64)
        lp = z - (z.max() + math.log(np.exp(z - z.max()).sum()))
        for tok in range(v):
            if np.isfinite(lp[tok]):
                visit(seq + [tok], total + float(lp[tok]))

    visit([], 0.0)
    return scores


@budget(40)
@given(tiny_models(), st.integers(1, 3), st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0]), st.booleans(), st.data())
def test_beam_search_with_full_width_is_exact(model, length, alpha, use_eos, data):
    """beam_width >= V**length: the result's score is the best over every sequence (to within the rounding of
    the work dtype); the tokens end in eos or number `length`; logp in the model's dtype."""
    v, c = model.vocab_size, model.context
    prompt = data.draw(hnp.arrays(np.int64, (c,), elements=st.integers(0, v - 1)))
    eos = data.draw(st.integers(0, v - 1)) if use_eos else None
    z0 = model.logits(prompt[None])
    if not np.isfinite(z0).all() or np.abs(z0).max() > 1e4:
        return  # the property covers models whose logits are moderate (exp range of every dtype)
    tokens, logp = call_checked(snb.beam_search, model, prompt, length, beam_width=v ** length,
                                length_penalty=alpha, eos=eos).ok()
    assert tokens.dtype == np.intp and logp.dtype == model.dtype and len(tokens) == len(logp)
    assert len(tokens) == length or (eos is not None and tokens[-1] == eos)
    scores = _all_scores(model, prompt, length, alpha, eos)
    best = max(scores.values())
    tol = (1e-9 if model.dtype == np.float64 else 1e-4) * (1 + abs(best)) * length
    assert scores[tuple(tokens.tolist())] >= best - tol, (tokens, scores[tuple(tokens.tolist())], best)
