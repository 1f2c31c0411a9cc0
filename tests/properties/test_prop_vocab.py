r"""Properties of ``softmax_nb.vocab``: chunked, sharded, sampled and hierarchical softmax losses.

The reference is the definition in longdouble with the rigorous bounds of ``_interval.py``: logits
:math:`Z = HW^\top` (float16 computed in float32), :math:`\operatorname{LSE}` accumulated over
``block_size`` blocks (one rescaling per block), the mean :math:`\frac1N\sum_n(\operatorname{LSE}(z_n) -
z_{n,y_n})` summed in float64 and rounded once to the result dtype, and the gradients
:math:`\partial L/\partial Z = (P - Y)/N`, :math:`\partial L/\partial H = (\partial L/\partial Z)W`,
:math:`\partial L/\partial W = (\partial L/\partial Z)^\top H`.

* ``chunked_cross_entropy`` (any block size, with and without ``return_grad``) and
  ``sharded_cross_entropy`` (``scheduler="sync"``) are within the bound, with the documented dtypes;
* ``shard_statistics`` of any tiling of ``[0, V)`` merged in any order gives the same loss; a missing,
  repeated or overlapping shard is refused;
* ``sampled_softmax_loss`` equals the definition for the negatives its generator draws (with the log-Q
  correction or without it);
* ``huffman_codes`` is a complete prefix code whose paths form one tree, of optimal expected length
  (checked against an exact Huffman construction) within :math:`H(p) \le \bar\ell < H(p) + 1`;
* ``hierarchical_softmax_nll`` is :math:`\sum_j \log(1 + e^{-s_j})` along the target's path, and the
  probabilities of all tokens sum to 1;
* every wrong argument is refused naming it.
"""

from __future__ import annotations

import heapq
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb
from _gen import FLOAT_DTYPES
from _harness import U64, Expected, Precision, budget, call_checked, precision
from _interval import (LD, Approx, Work, arrays, check_close, exp_shifted, ld, matmul, softmax_pieces, to64)

#: Bugs these properties found (report: minimal reproducers); each has a strict xfail test below.
KNOWN: dict[str, str] = {}  # VOC1, VOC2 fixed; their tests below are the regression tests
_STRICT = [False]


def tolerated(bug: str) -> bool:
    return bug in KNOWN and not _STRICT[0]


# --------------------------------------------------------------------------- generators
@st.composite
def problems(draw, *, max_v: int = 7, mags=None):
    """``(hidden (N, d), weight (V, d), targets (N,))`` of float16/32/64 (sometimes mixed), magnitudes up to the
    square root of the dtype's maximum (logits near the overflow threshold), targets int or integer floats."""
    hd = np.dtype(draw(st.sampled_from(FLOAT_DTYPES)))
    wd = np.dtype(draw(st.sampled_from([hd, hd, hd] + list(FLOAT_DTYPES))))
    n, d, v = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, max_v))
    work = precision(np.result_type(hd, wd)).work
    root = math.sqrt(float(np.finfo(work).max))
    mags = mags or [1.0, 1.0, 8.0, 100.0, root]
    h = draw(arrays(hd, (n, d), draw(st.sampled_from(mags))))
    w = draw(arrays(wd, (v, d), draw(st.sampled_from(mags))))
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, v - 1)))
    if draw(st.integers(0, 4)) == 0:
        y = y.astype(draw(st.sampled_from([np.int32, np.uint8, np.float64])))
    return h, w, y


class CERef:
    """The exact mean cross-entropy of ``hidden @ weight.T`` and its gradients, with the bounds of an online
    computation over ``blocks`` blocks in the work dtype."""

    def __init__(self, h, w, y, *, blocks: int = 1):
        self.dtype = np.result_type(h, w)
        self.prec = precision(self.dtype)
        self.w = wk = Work.of(self.prec)
        self.h, self.W = Approx.exact(h), Approx.exact(w)
        self.y = np.asarray(y).astype(np.intp)
        self.n = len(self.y)
        self.Z = matmul(self.h, self.W.T, wk)
        self.pieces = softmax_pieces(self.Z, np.ones(self.Z.val.shape, bool), wk, blocks=blocks)
        rows = np.arange(self.n)
        zy = self.Z[rows, self.y]
        lse = self.pieces.lse
        with np.errstate(all="ignore"):
            per = lse.val - zy.val
            err = lse.err + zy.err + wk.u * (np.abs(lse.val) + np.abs(zy.val))
        self.per_row = Approx(per, err)
        top = float(np.finfo(self.prec.work).max)
        with np.errstate(all="ignore"):
            self.risky = bool((self.Z.mag >= top / 8).any())
            #: a per-row loss near the work dtype's maximum (VOC2)
            self.big_loss = bool((self.per_row.mag >= top / 4).any())
        self.blocks = blocks

    def mean(self, out_dtype=None) -> Approx:
        """Summed in float64 and rounded once to ``out_dtype`` (default: the result dtype)."""
        out = np.dtype(out_dtype or self.dtype)
        with np.errstate(all="ignore"):
            m = np.mean(self.per_row.val)
            e = np.mean(self.per_row.err) + (self.n + 2) * U64 * np.mean(np.abs(self.per_row.val) + self.per_row.err)
            e = e + float(np.finfo(out).eps) / 2 * abs(m) + float(np.finfo(out).smallest_subnormal)
        return Approx(np.asarray(m), np.asarray(e))

    def grads(self) -> tuple[Approx, Approx]:
        """dL/dH and dL/dW; P recomputed from the package's log-sum-exp (off by at most its bound)."""
        wk = self.w
        lse = self.pieces.lse
        with np.errstate(all="ignore"):
            x = self.Z.val - lse.val[:, None]
            ex = (self.Z.err + lse.err[:, None]) * (1 + 2 * wk.u) + 2 * wk.u * np.abs(x)
        p = exp_shifted(x, ex, wk)
        onehot = np.zeros(p.val.shape, LD)
        onehot[np.arange(self.n), self.y] = 1
        dz = Approx((p.val - onehot) / self.n, p.err / self.n + 3 * wk.u * np.abs(p.val - onehot) / self.n + wk.sub)
        gh = matmul(dz, self.W, wk, extra_terms=self.blocks)
        gw = matmul(dz.T, self.h, wk)
        outp = Precision(self.prec.work, np.dtype(self.dtype))
        return tuple(Approx(g.val, g.err + outp.u_o * np.abs(g.val) + (outp.sub_o if outp.u_o else 0.0))
                     for g in (gh, gw))


# --------------------------------------------------------------------------- chunked / sharded
@budget(120)
@given(problems(), st.integers(1, 8), st.booleans())
def test_chunked_cross_entropy_matches_the_definition(case, block_size, return_grad):
    """chunked_cross_entropy (any block size): the loss (a numpy scalar of the result dtype) and, with
    return_grad, both gradients (shapes and dtype of the result) within the bound; logits near the work
    dtype's maximum may instead raise a ValueError naming hidden and weight."""
    h, w, y = case
    blocks = -(-w.shape[0] // block_size)
    ref = CERef(h, w, y, blocks=blocks)
    exp = Expected()
    if ref.risky:
        exp.allow(ValueError, "hidden", "weight")
    val = call_checked(snb.chunked_cross_entropy, h, w, y, block_size=block_size, return_grad=return_grad).check(exp)
    if val is None:
        return
    loss = val[0] if return_grad else val
    assert isinstance(loss, np.floating) and loss.dtype == ref.dtype, (type(loss), getattr(loss, "dtype", None))
    check_close(loss, ref.mean(), what=f"chunked_cross_entropy(block_size={block_size})", dtype=ref.dtype)
    if return_grad:
        for got, want, like, name in zip(val[1:], ref.grads(), (h, w), ("hidden", "weight")):
            assert got.shape == like.shape and got.dtype == ref.dtype, (name, got.shape, got.dtype)
            check_close(got, want, what=f"gradient wrt {name} (block_size={block_size})", dtype=ref.dtype)


def _tiling(v: int, cuts: list[int]) -> list[tuple[int, int]]:
    bounds = [0, *sorted({c % v for c in cuts if 0 < c % v}), v]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


@budget(80)
@given(problems(mags=[1.0, 8.0, 100.0]), st.lists(st.integers(1, 50), max_size=6), st.randoms(use_true_random=False),
       st.sampled_from(["ok", "ok", "ok", "gap", "repeat", "overlap", "vocab_size", "targets"]))
def test_shards_tiling_the_vocabulary_merge_to_the_loss(case, cuts, rnd, how):
    """shard_statistics over any tiling of [0, V) (records offset, size, vocab_size; m the shard's row max),
    merged in any order: the loss within the bound, a numpy scalar of the work dtype. A dropped, repeated or
    overlapping shard, disagreeing vocab sizes or targets: a ValueError naming stats."""
    h, w, y = case
    v = w.shape[0]
    spans = _tiling(v, cuts)
    stats = []
    for a, b in spans:
        s = call_checked(snb.shard_statistics, h, w[a:b], y, offset=a, vocab_size=v).ok()
        assert (s.offset, s.size, s.vocab_size) == (a, b - a, v)
        stats.append(s)
    ref = CERef(h, w, y, blocks=len(spans) + 1)
    work = ref.prec.work
    for s, (a, b) in zip(stats, spans):
        z = ref.Z.val[:, a:b]
        np.testing.assert_array_equal(np.isneginf(s.z_target), ~((y >= a) & (y < b)))
        assert s.m.dtype == work and s.d.dtype == work
        check_close(s.m, Approx(np.max(z, axis=1), np.max(ref.Z.err[:, a:b], axis=1)), what="ShardStats.m", dtype=work)
    rnd.shuffle(stats)
    if how == "ok":
        loss = call_checked(snb.merge_shard_statistics, stats).ok()
        assert isinstance(loss, np.floating) and loss.dtype == work
        check_close(loss, ref.mean(work), what=f"merge of {len(stats)} shards", dtype=work)
        return
    if how in ("gap", "repeat") or (how == "overlap" and v < 2):
        if how == "gap" and len(stats) < 2:
            stats = []  # no shard at all
        else:
            stats = stats[1:] if how == "gap" else stats + [stats[0]]
    elif how == "overlap":
        a = rnd.randrange(v - 1)
        stats = stats + [snb.shard_statistics(h, w[a:a + 2], y, offset=a, vocab_size=v)]
    elif how == "vocab_size":
        stats = stats + [snb.shard_statistics(h, w[:1], y % 1, offset=v, vocab_size=v + 1)]
    else:  # shards computed with other targets
        assume(len(stats) >= 2 and len(np.unique(y)) >= 1)
        other = (y + 1) % v
        assume((other != y).any())
        s0 = stats[0]
        stats[0] = snb.shard_statistics(h, w[s0.offset:s0.offset + s0.size], other, offset=s0.offset, vocab_size=v)
    out = call_checked(snb.merge_shard_statistics, stats)
    if how == "targets" and out.error is None:  # the other targets may still leave every row covered
        return
    out.refused((ValueError, ("stats",)))


@budget(30)
@given(problems(max_v=5, mags=[1.0, 8.0]), st.data())
def test_sharded_cross_entropy_sync(case, data):
    """sharded_cross_entropy(scheduler='sync') with 1..V shards: within the bound of the definition, a numpy
    scalar of the result dtype; n_shards outside [1, V] or a bad scheduler: refused naming it."""
    h, w, y = case
    v = w.shape[0]
    n_shards = data.draw(st.integers(1, v))
    ref = CERef(h, w, y, blocks=n_shards + 1)
    loss = call_checked(snb.sharded_cross_entropy, h, w, y, n_shards=n_shards, scheduler="sync").ok()
    assert isinstance(loss, np.floating) and loss.dtype == ref.dtype
    # merged in the work dtype, then rounded to the result dtype
    want = ref.mean(ref.prec.work)
    with np.errstate(all="ignore"):
        want = Approx(want.val, want.err + ref.prec.u_o * np.abs(want.val) + ref.prec.sub_o)
    check_close(loss, want, what=f"sharded_cross_entropy({n_shards} shards)", dtype=ref.dtype)
    bad, why = data.draw(st.sampled_from([({"n_shards": 0}, (ValueError, "n_shards")),
                                          ({"n_shards": v + 1}, (ValueError, "n_shards")),
                                          ({"n_shards": 1.0}, (TypeError, "n_shards")),
                                          ({"scheduler": "fast"}, (ValueError, "scheduler")),
                                          ({"scheduler": 1}, (TypeError, "scheduler"))]))
    kw = {"n_shards": 1, "scheduler": "sync", **bad}
    call_checked(snb.sharded_cross_entropy, h, w, y, **kw).refused((why[0], why[1:]))


# --------------------------------------------------------------------------- sampled softmax
@budget(80)
@given(problems(mags=[1.0, 8.0, 100.0]), st.integers(1, 6), st.booleans(), st.integers(0, 2**32 - 1), st.data())
def test_sampled_softmax_loss_is_the_definition_for_the_drawn_negatives(case, k, correct, seed, data):
    r"""sampled_softmax_loss: for the negatives S its generator draws (rng.choice(V, k, p=Q)),
    :math:`\frac1N\sum_n \log(e^{z_{y_n}} + \sum_{v \in S, v \ne y_n} e^{z_v - \log(kQ(v))}) - z_{y_n}`
    (without the correction: raw logits), within the bound, a numpy scalar of the result dtype; an int seed
    equals a Generator of that seed."""
    h, w, y = case
    v = w.shape[0]
    qdt = data.draw(st.sampled_from([np.float64, np.float32]))
    raw = data.draw(hnp.arrays(np.float64, (v,), elements=st.floats(0.01, 1.0)))
    q = (raw / raw.sum()).astype(qdt)
    ref = CERef(h, w, y)
    total = float(np.sum(q, dtype=np.float64))
    q64 = q.astype(np.float64) / total
    neg = np.random.default_rng(seed).choice(v, size=k, p=q64)
    wk = ref.w
    rows = np.arange(len(ref.y))
    cand = np.concatenate([ref.y[:, None], np.broadcast_to(neg, (len(ref.y), k))], axis=1)
    scores = Approx(ref.Z.val[rows[:, None], cand], ref.Z.err[rows[:, None], cand])
    if correct:
        corr = np.log(LD(k) * ld(q64[neg]))
        with np.errstate(all="ignore"):
            sval = scores.val.copy()
            serr = scores.err.copy()
            sval[:, 1:] -= corr
            serr[:, 1:] += (wk.u + U64) * (np.abs(scores.val[:, 1:]) + np.abs(corr)) + 2 * U64 * np.abs(corr)
        scores = Approx(sval, serr)
    allowed = np.ones(cand.shape, bool)
    allowed[:, 1:] = cand[:, 1:] != ref.y[:, None]
    p = softmax_pieces(scores, allowed, wk)
    with np.errstate(all="ignore"):
        per = p.lse.val - scores.val[:, 0]
        err = p.lse.err + scores.err[:, 0] + 4 * wk.u * (np.abs(p.lse.val) + np.abs(scores.val[:, 0]))
    ref.per_row = Approx(per, err)
    out = call_checked(snb.sampled_softmax_loss, h, w, y, q, n_samples=k, rng=seed, correct=correct)
    exp = Expected()
    if ref.risky:
        exp.allow(ValueError, "hidden", "weight")
    loss = out.check(exp)
    if loss is None:
        return
    assert isinstance(loss, np.floating) and loss.dtype == ref.dtype
    check_close(loss, ref.mean(), what=f"sampled_softmax_loss(k={k}, correct={correct})", dtype=ref.dtype)
    again = snb.sampled_softmax_loss(h, w, y, q, n_samples=k, rng=np.random.default_rng(seed), correct=correct)
    assert again == loss


# --------------------------------------------------------------------------- refusals of the losses
LOSS_BAD = ["h_1d", "h_empty", "w_1d", "features", "h_nan", "w_inf", "targets_shape", "targets_neg",
            "targets_big", "targets_frac", "targets_str", "block_size", "block_size_type", "return_grad",
            "proposal_shape", "proposal_zero", "proposal_sum", "proposal_nan", "n_samples", "n_samples_type",
            "rng", "correct", "offset", "offset_type", "vocab_size", "beyond", "h_str"]


@budget(70)
@given(problems(mags=[1.0]), st.sampled_from(LOSS_BAD),
       st.sampled_from(["chunked", "shard", "sampled", "sharded"]))
def test_loss_functions_refuse_wrong_arguments(case, how, fn):
    """One wrong argument of chunked_cross_entropy, shard_statistics, sampled_softmax_loss or
    sharded_cross_entropy: a ValueError or TypeError naming it (both arrays for a feature mismatch)."""
    h, w, y = case
    v = w.shape[0]
    q = np.full(v, 1.0 / v)
    args = [h, w, y]
    kw = {"chunked": {}, "shard": {"offset": 0, "vocab_size": v}, "sampled": {"n_samples": 2, "rng": 0},
          "sharded": {"n_shards": 1, "scheduler": "sync"}}[fn]
    wname = "weight_shard" if fn == "shard" else "weight"
    why = None
    if how == "h_1d":
        args[0], why = h[0], (ValueError, "hidden")
    elif how == "h_empty":
        args[0], args[2], why = h[:0], y[:0], (ValueError, "hidden")
    elif how == "w_1d":
        args[1], why = w[0], (ValueError, wname)
    elif how == "features":
        args[1], why = np.concatenate([w, w[:, :1]], axis=1), (ValueError, "hidden", wname)
    elif how == "h_nan":
        args[0] = h.astype(np.float64)
        args[0][0, 0], why = np.nan, (ValueError, "hidden")
    elif how == "w_inf":
        args[1] = w.astype(np.float64)
        args[1][0, 0], why = -np.inf, (ValueError, wname)
    elif how == "h_str":
        args[0], why = [["a"] * h.shape[1]] * h.shape[0], (TypeError, "hidden")
    elif how == "targets_shape":
        args[2], why = np.concatenate([y, y]), (ValueError, "targets")
    elif how in ("targets_neg", "targets_big", "targets_frac"):
        t = y.astype(np.float64 if how == "targets_frac" else np.int64)
        t[0] = {"targets_neg": -1, "targets_big": v, "targets_frac": 0.5}[how]
        args[2], why = t, (ValueError, "targets")
    elif how == "targets_str":
        args[2], why = np.array(["a"] * len(y)), (TypeError, "targets")
    elif how.startswith("block_size") or how == "return_grad":
        if fn != "chunked":
            return
        kw = {"block_size": 0} if how == "block_size" else {"block_size": 2.0} if how == "block_size_type" else \
            {"return_grad": 1}
        why = (ValueError if how == "block_size" else TypeError, how.replace("_type", ""))
    elif how.startswith("proposal") or how.startswith("n_samples") or how in ("rng", "correct"):
        if fn != "sampled":
            return
        bad_q = {"proposal_shape": np.full(v + 1, 1 / (v + 1)), "proposal_zero": np.concatenate([[0.0], q[1:]]),
                 "proposal_sum": q * 2, "proposal_nan": np.full(v, np.nan)}.get(how, q)
        if how == "proposal_zero" and v == 1:
            bad_q = np.zeros(1)
        args.append(bad_q)
        kind = {"n_samples": ValueError, "n_samples_type": TypeError, "rng": TypeError, "correct": TypeError}.get(
            how, ValueError)
        kw = {**kw, **{"n_samples": {"n_samples": 0}, "n_samples_type": {"n_samples": 2.0},
                       "rng": {"rng": "seed"}, "correct": {"correct": "yes"}}.get(how, {})}
        why = (kind, how.replace("_type", "").replace("_shape", "").replace("_zero", "").replace("_sum", "")
               .replace("_nan", ""))
    elif how in ("offset", "offset_type", "vocab_size", "beyond"):
        if fn != "shard":
            return
        kw = {"offset": -1, "vocab_size": v} if how == "offset" else {"offset": 0.0, "vocab_size": v} \
            if how == "offset_type" else {"offset": 0, "vocab_size": 0} if how == "vocab_size" else \
            {"offset": 1, "vocab_size": v}
        why = (TypeError if how == "offset_type" else ValueError,) + (
            ("offset",) if how.startswith("offset") else ("vocab_size",) if how == "vocab_size"
            else ("offset", "vocab_size", "weight_shard"))
    if fn == "sampled" and len(args) == 3:
        args.append(q)
    f = {"chunked": snb.chunked_cross_entropy, "shard": snb.shard_statistics, "sampled": snb.sampled_softmax_loss,
         "sharded": snb.sharded_cross_entropy}[fn]
    call_checked(f, *args, **kw).refused((why[0], why[1:]))


# --------------------------------------------------------------------------- Huffman codes
def optimal_cost(counts: list[Fraction]) -> Fraction:
    """The expected-length numerator of an optimal prefix code: the sum of the merged weights (exact)."""
    heap = list(counts)
    heapq.heapify(heap)
    cost = Fraction(0)
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        cost += a + b
        heapq.heappush(heap, a + b)
    return cost


@budget(100)
@given(st.one_of(hnp.arrays(np.float64, st.integers(2, 9), elements=st.one_of(st.floats(0, 1e6),
                                                                              st.sampled_from([0.0, 1.0, 2.0]))),
                 hnp.arrays(np.int64, st.integers(2, 9), elements=st.integers(0, 2**40)),
                 hnp.arrays(np.float32, st.integers(2, 6), elements=st.floats(0, 100, width=32))))
def test_huffman_codes_are_an_optimal_complete_prefix_code(counts):
    """huffman_codes: V codes and paths of equal lengths; bits in {0, 1}, node ids in [0, V - 2], n_inner = V - 1;
    the codes are prefix-free and complete (Kraft sum exactly 1); the paths are those of one tree (tokens agree
    on the nodes down to where their codes part); the expected length equals the optimum (exact Huffman) within
    V^2 u of the total, and lies in [H(p), H(p) + 1)."""
    paths, codes, n_inner = call_checked(snb.huffman_codes, counts).ok()
    v = len(counts)
    assert len(paths) == len(codes) == v and n_inner == v - 1
    seen = set()
    for p_, c_ in zip(paths, codes):
        assert p_.shape == c_.shape and p_.ndim == 1 and c_.dtype == np.int8 and p_.dtype.kind in "iu"
        assert np.isin(c_, (0, 1)).all() and (p_.size == 0 or (p_.min() >= 0 and p_.max() <= v - 2))
        seen.update(p_.tolist())
    assert seen == set(range(v - 1)), "some inner node is on no path"
    bits = [tuple(c_.tolist()) for c_ in codes]
    assert sum(Fraction(1, 2 ** len(b)) for b in bits) == 1, "the code is not complete"
    for i in range(v):
        for j in range(i + 1, v):
            a, b = bits[i], bits[j]
            common = next((t for t, (x, z) in enumerate(zip(a, b)) if x != z), None)
            assert common is not None, f"codes {a} and {b}: one is a prefix of the other"
            assert paths[i][:common + 1].tolist() == paths[j][:common + 1].tolist(), "the paths are not one tree"
    exact = [Fraction(float(c)) if counts.dtype.kind == "f" else Fraction(int(c)) for c in counts]
    total = sum(exact)
    cost = sum(c * len(b) for c, b in zip(exact, bits))
    best = optimal_cost(exact)
    assert cost >= best
    assert cost - best <= v * v * Fraction(U64) * total, f"expected length {float(cost / max(total, 1))} is not optimal"
    if total > 0:
        p = [float(c / total) for c in exact]
        h = -sum(x * math.log2(x) for x in p if x > 0)
        mean = float(cost / total)
        assert h - 1e-9 <= mean < h + 1 + 1e-9, (h, mean)


@budget(20)
@given(st.sampled_from([np.zeros(1), np.zeros((2, 2)), np.array([1.0, np.nan]), np.array([1.0, -1.0]),
                        np.array([np.inf, 1.0]), np.array(["a", "b"]), "ab", None, np.float64(3.0)]))
def test_huffman_codes_refusals(counts):
    """Fewer than 2 counts or not 1-D, NaN, inf, negative: ValueError naming counts; non-numeric: TypeError."""
    kind = TypeError if isinstance(counts, str) or counts is None or np.asarray(counts).dtype.kind == "U" \
        else ValueError
    call_checked(snb.huffman_codes, counts).refused((kind, ("counts",)))


# --------------------------------------------------------------------------- hierarchical softmax
@budget(100)
@given(st.sampled_from(FLOAT_DTYPES), st.integers(2, 6), st.integers(1, 3), st.integers(1, 4),
       st.integers(0, 2**32 - 1), st.sampled_from([0.1, 1.0, 10.0, 300.0]), st.data())
def test_hierarchical_softmax_nll_matches_the_definition(dtype, v, d, n, seed, scale, data):
    r"""hierarchical_softmax_nll over a Huffman tree: :math:`\sum_j \log(1 + e^{-s_j})`, :math:`s_j = (1 - 2b_j)
    u_{n_j}^\top h` along the target's path, within the bound, in the result dtype; and for every hidden row the
    probabilities :math:`e^{-\mathrm{nll}}` of all V tokens sum to 1 within the bound."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 20, size=v)
    paths, codes, _ = snb.huffman_codes(counts)
    h = np.clip(rng.normal(0, scale, (n, d)), -6e4, 6e4).astype(dtype)
    u = np.clip(rng.normal(0, scale, (v - 1, d)), -6e4, 6e4).astype(dtype)
    prec = precision(dtype)
    wk = Work.of(prec)
    hh = np.repeat(h, v, axis=0)  # every row against every token
    y = np.tile(np.arange(v), n)
    res = call_checked(snb.hierarchical_softmax_nll, hh, u, y, paths, codes).ok()
    assert res.shape == (n * v,) and res.dtype == dtype
    val, err = np.zeros(n * v, LD), np.zeros(n * v, LD)
    for r, tok in enumerate(y):
        path, code = paths[tok], codes[tok]  # never empty: V >= 2
        sc = matmul(Approx.exact(u[path]), Approx.exact(hh[r][:, None]), wk)
        sign = ld(1 - 2 * code.astype(np.int64))[:, None]
        x = -sign * sc.val  # -s_j
        with np.errstate(all="ignore"):
            sp = np.where(x > 50, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))  # log(1 + e^{-s})
        val[r] = np.sum(sp)
        err[r] = np.sum(sc.err) + (len(path) + 4) * wk.u * np.sum(sp) + len(path) * wk.sub
    want = Approx(val, err + prec.u_o * val + (prec.sub_o if prec.u_o else 0.0))
    check_close(res, want, what="hierarchical_softmax_nll", dtype=dtype)
    with np.errstate(all="ignore"):
        probs = np.exp(-val).reshape(n, v)
        spread = np.sum(probs * np.expm1(want.err.reshape(n, v)), axis=1) + 4 * v * U64
    got = np.exp(-res.astype(np.float64)).reshape(n, v).sum(axis=1)
    assert np.all(np.abs(got - 1) <= to64(spread) + 4 * v * U64), f"probabilities sum to {got}"


HS_BAD = ["target_neg", "target_big", "target_frac", "target_str", "shape", "features", "paths_type", "paths_len",
          "path_node", "code_len", "code_value", "h_nan", "u_inf", "targets_shape"]


@budget(60)
@given(st.sampled_from(HS_BAD), st.integers(2, 5), st.integers(0, 2**32 - 1))
def test_hierarchical_softmax_nll_refusals(how, v, seed):
    """Targets -1, V, 0.5 or strings; shapes that do not fit each other or the tree; malformed paths or codes
    (of a used token); non-finite entries: a ValueError or TypeError naming the argument (never wrap-around or
    a bare IndexError)."""
    rng = np.random.default_rng(seed)
    paths, codes, _ = snb.huffman_codes(rng.integers(1, 9, size=v))
    h, u, y = rng.normal(size=(2, 3)), rng.normal(size=(v - 1, 3)), np.array([0, v - 1])
    paths, codes = list(paths), list(codes)
    why = (ValueError, "targets")
    if how == "target_neg":
        y = np.array([-1, 0])
    elif how == "target_big":
        y = np.array([v, 0])
    elif how == "target_frac":
        y = np.array([0.5, 0.0])
    elif how == "target_str":
        y, why = np.array(["a", "b"]), (TypeError, "targets")
    elif how == "targets_shape":
        y = np.array([0, 0, 0])
    elif how == "shape":
        u, why = rng.normal(size=(v, 3)), (ValueError, "node_weight", "hidden")
    elif how == "features":
        u, why = rng.normal(size=(v - 1, 2)), (ValueError, "node_weight", "hidden")
    elif how == "paths_type":
        paths, why = None, (TypeError, "paths", "codes")
    elif how == "paths_len":
        paths, why = paths[:-1], (ValueError, "paths", "codes")
    elif how == "path_node":
        paths[0], why = np.array([v - 1] * max(len(paths[0]), 1)), (ValueError, "paths")
    elif how == "code_len":
        codes[0], why = np.concatenate([codes[0], [0]]).astype(np.int8), (ValueError, "codes")
    elif how == "code_value":
        codes[0], why = np.full(codes[0].shape, 2, np.int8), (ValueError, "codes")
    elif how == "h_nan":
        h[0, 0], why = np.nan, (ValueError, "hidden")
    else:
        u[0, 0], why = np.inf, (ValueError, "node_weight")
    call_checked(snb.hierarchical_softmax_nll, h, u, y, paths, codes).refused((why[0], why[1:]))


# --------------------------------------------------------------------------- fixed bugs (regression tests)
@pytest.mark.parametrize("fn", ["chunked", "sharded", "merge", "sampled"])
def test_VOC2_a_row_loss_beyond_the_work_dtype(fn):
    h, w, y = np.float32([[3e19], [0]]), np.float32([[1e19], [-1e19]]), np.array([1, 0])
    if fn == "chunked":
        out = call_checked(snb.chunked_cross_entropy, h, w, y)
    elif fn == "sharded":
        out = call_checked(snb.sharded_cross_entropy, h, w, y, n_shards=2, scheduler="sync")
    elif fn == "merge":
        stats = [snb.shard_statistics(h, w[a:a + 1], y, offset=a, vocab_size=2) for a in (0, 1)]
        out = call_checked(snb.merge_shard_statistics, stats)
    else:  # rng=0 draws token 0 among the negatives: row 0's loss is then about 6e38
        out = call_checked(snb.sampled_softmax_loss, h, w, y, np.float64([0.5, 0.5]), n_samples=3, rng=0)
    if out.error is not None:
        out.refused((ValueError, ("hidden", "weight")))
    elif fn != "sampled":
        np.testing.assert_allclose(float(out.ok()), 3e38, rtol=1e-6)  # (6e38 + log 2) / 2



@pytest.mark.parametrize("how", ["gap", "overlap", "targets"])
def test_VOC1_merge_refusals_name_stats(how):
    rng = np.random.default_rng(0)
    h, w, y = rng.normal(size=(2, 2)), rng.normal(size=(4, 2)), np.array([0, 3])
    a = snb.shard_statistics(h, w[:2], y, offset=0, vocab_size=4)
    b = snb.shard_statistics(h, w[2:], y, offset=2, vocab_size=4)
    stats = {"gap": [a], "overlap": [a, a, b],
             "targets": [a, snb.shard_statistics(h, w[2:], np.array([0, 0]), offset=2, vocab_size=4)]}[how]
    call_checked(snb.merge_shard_statistics, stats).refused((ValueError, ("stats",)))


def test_every_known_bug_has_a_strict_xfail_test():
    """Each entry of KNOWN has a test_<ID>_... here (delete both when the bug is fixed)."""
    ids = {name.split("_")[1] for name in globals() if name.startswith("test_") and name.split("_")[1] in KNOWN}
    assert ids == set(KNOWN)
