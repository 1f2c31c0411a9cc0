r"""Properties of ``softmax_nb.streaming``: online_softmax, SoftmaxAccumulator and AttentionState.

References are computed in longdouble with the rigorous bounds of ``_interval.py``: the weights
:math:`e^{x_j - m}`, their sum :math:`d`, the probabilities :math:`e^{x_j - m}/d`, the log-sum-exp
:math:`m + \log d` and the attention output :math:`\sum_j e^{s_j - m} v_j / d`, with one rescaling
:math:`e^{m_b - m_{b+1}}` per block or merge (each off by :math:`u|m_b - m_{b+1}| + 6u`). The
properties:

* ``online_softmax`` (any ``block_size``) is within the bound of the exact softmax, in the input's
  dtype, and equals ``core.softmax`` within the sum of both bounds;
* a ``SoftmaxAccumulator`` or ``AttentionState`` fed the columns in blocks (any partition, any
  order, empty blocks included), either by successive ``update`` calls or by ``merge`` of
  per-block states in any order or tree, holds :math:`m` = the exact maximum and
  :math:`\operatorname{LSE}` / output / ``normalise`` within the bound; ``a.merge(b)`` and
  ``b.merge(a)`` are the same bits, and merging a fresh state changes nothing;
* every wrong argument raises a ValueError or TypeError naming it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb
from _gen import FLOAT_DTYPES
from _harness import U64, Expected, Precision, budget, call_checked, precision
from _interval import (LD, Approx, Work, arrays, check_close, div, ld, rounded, softmax_pieces, to64,
                       weighted_output)

EXPLICIT = settings(phases=[Phase.explicit], database=None, deadline=None)

#: Bugs these properties found (report: minimal reproducers); each has a strict xfail test below.
KNOWN: dict[str, str] = {}  # all fixed; their tests below stay as regression tests
_STRICT = [False]


def tolerated(bug: str) -> bool:
    return bug in KNOWN and not _STRICT[0]


def _big(dtype) -> float:
    return float(np.finfo(dtype).max)


# --------------------------------------------------------------------------- generators
@st.composite
def column_arrays(draw, *, min_cols: int = 0, row_dims=(0, 2), masks: bool = True, dtypes=FLOAT_DTYPES,
                  specials: bool = False):
    """Logits ``rows + (K,)`` of one float dtype, magnitudes up to the dtype's maximum, ``-inf`` masks
    (whole rows sometimes); with ``specials`` a NaN or +inf now and then."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    rows = draw(hnp.array_shapes(min_dims=row_dims[0], max_dims=row_dims[1], min_side=0, max_side=3))
    k = draw(st.integers(min_cols, 6))
    over = 2 * math.log(_big(dtype if dtype.kind == "f" else np.float64))
    bound = draw(st.sampled_from([1.0, 30.0, over, _big(dtype) if dtype.kind == "f" else 1e6]))
    if dtype.kind == "f":
        x = draw(arrays(dtype, rows + (k,), bound))
    else:
        x = draw(hnp.arrays(dtype, rows + (k,), elements=st.integers(-100, 100)))
    if masks and dtype.kind == "f" and x.size and draw(st.booleans()):
        x = np.where(draw(hnp.arrays(np.bool_, x.shape)), -np.inf, x).astype(dtype)
    if specials and dtype.kind == "f" and x.size and draw(st.integers(0, 6)) == 0:
        x = x.copy()
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    return x


def partition(k: int, labels: list[int]) -> list[list[int]]:
    """Columns grouped by label (blocks need not be contiguous), with an empty block now and then."""
    groups: dict[int, list[int]] = {}
    for j in range(k):
        groups.setdefault(labels[j % len(labels)], []).append(j)
    blocks = list(groups.values())
    if len(labels) > 3 or not blocks:
        blocks.append([])
    return blocks


def exact_softmax(x: np.ndarray, prec: Precision, blocks: int):
    """(probabilities, pieces) of the rows of ``x`` (exact, with the bounds of an online computation)."""
    w = Work.of(prec)
    p = softmax_pieces(Approx.exact(x), ~np.isneginf(x), w, blocks=blocks)
    d = Approx(np.where(p.has, p.d.val, LD(1))[..., None], p.d.err[..., None])
    return div(p.w, d, w), p


def core_bound(x: np.ndarray, probs: np.ndarray, prec: Precision) -> np.ndarray:
    r"""The bound of ``core.softmax`` stated in ``_refs.py`` (temperature 1), vectorised:
    :math:`p_j((3\min(|s_j|, L) + 3S + 2\lambda + 16)u_w + u_o + u_{64}) + K\sigma_w + \sigma_o`."""
    k = x.shape[-1]
    lam = math.log2(k) if k > 1 else 0.0
    with np.errstate(all="ignore"):
        xl = ld(x)
        m = np.max(xl, axis=-1, keepdims=True)
        s = np.where(np.isneginf(xl), LD(0), np.abs(xl - m))
        s = np.minimum(to64(s), prec.cap)
        big_s = s.max(axis=-1, keepdims=True)
        return probs * ((3 * s + 3 * big_s + 2 * lam + 16) * prec.u_w + prec.u_o + U64) + k * prec.sub_w + prec.sub_o


# --------------------------------------------------------------------------- online_softmax
@budget(120)
@given(column_arrays(row_dims=(0, 2), dtypes=FLOAT_DTYPES + (np.int64,), specials=True),
       st.one_of(st.integers(1, 7), st.integers(1, 7), st.sampled_from([0, -1, 2.0, "2", True, None])))
def test_online_softmax_matches_the_exact_softmax_and_core(x, block_size):
    """online_softmax: within the bound of the exact softmax along the last axis for any block size, in the
    input's dtype (float64 for integers), and equal to core.softmax within the sum of both bounds. 0-d input,
    an empty last axis, NaN, +inf or an all -inf row: a ValueError naming x; a bad block_size: named."""
    exp = Expected()
    if not (isinstance(block_size, int) and not isinstance(block_size, bool)):
        exp.refuse(TypeError, "block_size")
    elif block_size < 1:
        exp.refuse(ValueError, "block_size")
    elif x.ndim == 0 or x.shape[-1] == 0:
        exp.refuse(ValueError, "x")
    elif x.dtype.kind == "f" and (np.isnan(x).any() or np.isposinf(x).any() or np.isneginf(x).all(axis=-1).any()):
        exp.refuse(ValueError, "x")
    val = call_checked(snb.online_softmax, x, block_size=block_size).check(exp)
    if val is None:
        return
    prec = precision(x.dtype)
    blocks = -(-x.shape[-1] // block_size)
    probs, _ = exact_softmax(x, prec, blocks)
    assert val.dtype == prec.out and val.shape == x.shape
    check_close(val, rounded(probs, prec), what=f"online_softmax(block_size={block_size})", dtype=prec.out)
    core = snb.softmax(x, axis=-1)
    with np.errstate(all="ignore"):
        both = to64(probs.err) + prec.u_o * to64(np.abs(probs.val)) + prec.sub_o + core_bound(x, to64(probs.val), prec)
    diff = np.abs(val.astype(np.float64) - core.astype(np.float64))
    assert np.all(diff <= both + 2 * U64 * to64(probs.val)), f"online_softmax vs core.softmax: {diff.max()!r}"


# --------------------------------------------------------------------------- SoftmaxAccumulator
def _reduce(states, order, shape, rnd):
    """Merge ``states`` in ``order``: a left fold, one multi-way merge, or a random binary tree."""
    pool = [states[i] for i in order]
    if shape == "fold":
        acc = pool[0]
        for s in pool[1:]:
            acc = acc.merge(s)
        return acc, len(pool)
    if shape == "all":
        return pool[0].merge(*pool[1:]), 2
    while len(pool) > 1:
        i = rnd.randrange(len(pool) - 1)
        pool[i:i + 2] = [pool[i].merge(pool[i + 1])]
    return pool[0], len(states)


@budget(100)
@given(column_arrays(), st.lists(st.integers(0, 3), min_size=1, max_size=6), st.randoms(use_true_random=False),
       st.sampled_from(["update", "fold", "all", "tree"]))
def test_softmax_accumulator_in_any_blocks_and_order(x, labels, rnd, how):
    """Columns in blocks (any partition, any order, empty blocks), by update or by merging per-block states
    (left fold, one multi-way merge, a random tree): m is the exact row maximum, logsumexp and normalise are
    within the bound of the exact values, a.merge(b) == b.merge(a) bit for bit, and a fresh state is neutral."""
    k = x.shape[-1]
    blocks = partition(k, labels)
    order = list(range(len(blocks)))
    rnd.shuffle(order)
    parts = [x[..., b] for b in blocks]
    if how == "update":
        acc = snb.SoftmaxAccumulator()
        for i in order:
            call_checked(acc.update, parts[i]).ok()
        steps = len(blocks)
    else:
        states = [call_checked(snb.SoftmaxAccumulator().update, p).ok() for p in parts]
        acc, steps = _reduce(states, order, how, rnd)
        if len(states) >= 2:
            a, b = states[order[0]], states[order[1]]
            ab, ba = a.merge(b), b.merge(a)
            assert ab == ba, "a.merge(b) and b.merge(a) differ"
    work = precision(x.dtype).work
    prec = Precision(work, work)  # normalise returns the accumulator's precision: not rounded to float16
    probs, pieces = exact_softmax(x, prec, steps + 1)
    if k == 0:  # nothing seen: a fresh accumulator
        assert np.all(np.isneginf(acc.m)) and np.all(np.asarray(acc.d) == 0)
        return
    m = np.asarray(acc.m)
    assert m.shape == x.shape[:-1] and m.dtype == prec.work, (m.shape, m.dtype)
    np.testing.assert_array_equal(m, np.max(x, axis=-1).astype(prec.work))
    lse = call_checked(lambda: acc.logsumexp).ok()
    if x.ndim == 1 and not tolerated("STR3"):
        assert isinstance(lse, np.generic), f"logsumexp of one row is a {type(lse).__name__}, not a numpy scalar"
    check_close(np.asarray(lse), pieces.lse, what=f"SoftmaxAccumulator.logsumexp ({how})", dtype=prec.work)
    core = snb.logsumexp(x, axis=-1)  # equal to core's, within both bounds (core's: _refs.py, rounded to x's dtype)
    with np.errstate(all="ignore"):
        exact = to64(pieces.lse.val)
        lam = math.log2(k) if k > 1 else 0.0
        core_err = (2 * np.abs(exact) + lam + 2) * prec.u_w + (2 * precision(x.dtype).cap + 2 * lam + 8) * prec.u_w \
            + precision(x.dtype).u_o * np.abs(exact) + k * prec.sub_w + float(np.finfo(x.dtype).smallest_subnormal)
        both = to64(pieces.lse.err) + core_err + 2 * U64 * np.abs(exact)
        a64, c64 = np.asarray(lse, np.float64), np.asarray(core, np.float64)
        same = (a64 == c64) | (np.abs(a64 - c64) <= both)
    assert np.all(same), f"SoftmaxAccumulator.logsumexp {a64} vs core.logsumexp {c64}"
    assert acc.merge(snb.SoftmaxAccumulator()) == acc and snb.SoftmaxAccumulator().merge(acc) == acc
    exp = Expected()
    if (~pieces.has).any():
        if tolerated("STR4"):
            return
        exp.refuse(ValueError, "block")
    for b, part in zip(blocks, parts):
        val = call_checked(acc.normalise, part).check(exp)
        if val is not None:
            sub = Approx(probs.val[..., b], probs.err[..., b])
            assert val.dtype == prec.work
            check_close(val, sub, what=f"SoftmaxAccumulator.normalise ({how})", dtype=prec.work)


# --------------------------------------------------------------------------- AttentionState
@st.composite
def state_cases(draw):
    """Scores ``batch + (n_q, n)`` (or 1-D) with -inf masks and values ``batch_v + (n, d_v)`` that broadcast."""
    sdt = np.dtype(draw(st.sampled_from(FLOAT_DTYPES)))
    vdt = np.dtype(draw(st.sampled_from([sdt, sdt, np.float64])))
    one_row = draw(st.integers(0, 5)) == 0
    batch, batch_v = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0, max_side=3)
                          .map(lambda r: (r.result_shape, r.input_shapes[1])))
    rows = () if one_row else batch + (draw(st.integers(0, 3)),)
    n, d_v = draw(st.integers(0, 6)), draw(st.integers(0, 3))
    bound = draw(st.sampled_from([1.0, 30.0, 2 * math.log(_big(sdt)), _big(sdt)]))
    s = draw(arrays(sdt, rows + (n,), bound))
    if s.size and draw(st.booleans()):
        s = np.where(draw(hnp.arrays(np.bool_, s.shape)), -np.inf, s).astype(sdt)
    vmag = draw(st.sampled_from([1.0, 1e3, _big(vdt)]))
    v = draw(arrays(vdt, (() if one_row else batch_v) + (n, d_v), vmag))
    return s, v


def state_ref(s, v, blocks: int):
    """Exact attention of scores ``s`` over values ``v`` (leading axes broadcast), in the state's work dtype."""
    work = np.result_type(precision(s.dtype).work, precision(v.dtype).work)
    prec = Precision(np.dtype(work), np.dtype(work))
    w = Work.of(precision(s.dtype))  # the weights (m, d, e^(s - m)) are computed in the scores' work dtype
    pieces = softmax_pieces(Approx.exact(s), ~np.isneginf(s), w, blocks=blocks)
    return weighted_output(pieces, Approx.exact(v), w, blocks=blocks), pieces, prec


@budget(100)
@given(state_cases(), st.lists(st.integers(0, 3), min_size=1, max_size=6), st.randoms(use_true_random=False),
       st.sampled_from(["update", "fold", "all", "tree"]))
def test_attention_state_in_any_blocks_and_order(case, labels, rnd, how):
    """Keys in blocks (any partition and order), by update or by merging per-block states: output and
    logsumexp within the bound of exact attention over all keys; a row with no key: output 0 and lse -inf;
    two-state merges are the same bits either way; a fresh state is neutral."""
    s, v = case
    n = s.shape[-1]
    top = float(np.finfo(np.result_type(s, v)).max)
    if tolerated("STR1"):
        assume(not (np.abs(v.astype(np.float64)) > top / (4 * max(n, 1))).any())
    blocks = partition(n, labels)
    order = list(range(len(blocks)))
    rnd.shuffle(order)
    parts = [(s[..., b], v[..., b, :]) for b in blocks]
    if how == "update":
        st_ = snb.AttentionState()
        for i in order:
            call_checked(st_.update, *parts[i]).ok()
        steps = len(blocks)
    else:
        states = [call_checked(snb.AttentionState().update, *p).ok() for p in parts]
        st_, steps = _reduce(states, order, how, rnd)
        if len(states) >= 2:
            a, b = states[order[0]], states[order[1]]
            assert a.merge(b) == b.merge(a), "a.merge(b) and b.merge(a) differ"
    if n == 0:
        return
    out_ref, pieces, prec = state_ref(s, v, steps + 1)
    out = call_checked(lambda: st_.output).ok()
    lse = call_checked(lambda: st_.logsumexp).ok()
    assert out.shape == s.shape[:-1] + (v.shape[-1],) and out.dtype == prec.work, (out.shape, out.dtype)
    none = ~pieces.has
    assert np.all(out[none] == 0) and np.all(np.isneginf(np.asarray(lse)[none]))
    check_close(out, out_ref, what=f"AttentionState.output ({how})", dtype=prec.work)
    check_close(np.asarray(lse), pieces.lse, what=f"AttentionState.logsumexp ({how})", dtype=prec.work)
    assert st_.merge(snb.AttentionState()) == st_ and snb.AttentionState().merge(st_) == st_


# --------------------------------------------------------------------------- refusals
STATE_BAD = ["nan", "posinf", "scalar", "rows", "other", "m_nan", "d_neg", "d_zero", "m_shape", "m_str",
             "v_inf", "v_1d", "v_dv", "v_batch", "o_inf", "o_shape", "o_masked", "s_str"]


@budget(80)
@given(st.sampled_from(STATE_BAD), st.sampled_from(["acc", "att"]), st.data())
def test_streaming_refusals_name_the_argument(how, which, data):
    """NaN/+inf blocks or scores, scalars, mismatched rows, wrong merge partners, inconsistent states
    (m NaN, d < 0, d = 0 with a finite m, shapes), non-finite or misshapen values or o: a ValueError or
    TypeError naming the argument (block, scores, values, other, m, d, o)."""
    A, S = snb.SoftmaxAccumulator, snb.AttentionState
    x = np.zeros((2, 3))
    v = np.zeros((3, 1))
    base = (lambda: A().update(x)) if which == "acc" else (lambda: S().update(x, v))
    extra = () if which == "acc" else (v,)
    blk_name = "block" if which == "acc" else "scores"
    if how in ("nan", "posinf"):
        bad = x.copy()
        bad[data.draw(st.integers(0, 1)), data.draw(st.integers(0, 2))] = np.nan if how == "nan" else np.inf
        out, why = call_checked(base().update, bad, *extra), (ValueError, blk_name)
    elif how == "scalar":
        out, why = (call_checked(A().update, 1.0), (ValueError, "block")) if which == "acc" else \
            (call_checked(S().update, 1.0, v), (ValueError, "scores", "values"))
    elif how == "rows":
        out, why = call_checked(base().update, np.zeros((4, 3)), *extra), (ValueError, blk_name)
    elif how == "other":
        other = data.draw(st.sampled_from([1, None, "a", (S() if which == "acc" else A()), base().m]))
        state = base()

        def merge(other):  # merge(*others) with one partner: its messages call it "other"
            return state.merge(other)

        out, why = call_checked(merge, other), (TypeError, "other")
    elif how == "m_nan":
        out, why = call_checked(A if which == "acc" else S, np.float64([np.nan, 0.0]), np.ones(2)), (ValueError, "m")
    elif how == "d_neg":
        out, why = call_checked(A if which == "acc" else S, np.zeros(2), np.float64([1.0, -1.0])), (ValueError, "d")
    elif how == "d_zero":
        out, why = call_checked(A if which == "acc" else S, np.zeros(2), np.float64([1.0, 0.0])), (ValueError, "m", "d")
    elif how == "m_shape":
        out, why = call_checked(A if which == "acc" else S, np.zeros(2), np.ones(3)), (ValueError, "m", "d")
    elif how == "m_str":
        out, why = call_checked(A if which == "acc" else S, "0.5", 1.0), (TypeError, "m", "d")
    elif how == "s_str":
        out, why = (call_checked(A().update, ["1", "2"]), (TypeError, "block")) if which == "acc" else \
            (call_checked(S().update, ["1", "2"], [[1.0], [2.0]]), (TypeError, "scores"))
    elif which == "acc":
        return
    elif how == "v_inf":
        out, why = call_checked(S().update, x, np.float64([[0.0], [np.inf], [1.0]])), (ValueError, "values")
    elif how == "v_1d":
        out, why = call_checked(S().update, x, np.zeros(3)), (ValueError, "values")
    elif how == "v_dv":
        out, why = call_checked(base().update, x, np.zeros((3, 2))), (ValueError, "values")
    elif how == "v_batch":
        if tolerated("STR2"):
            return
        out, why = call_checked(S().update, np.zeros((2, 2, 3)), np.zeros((5, 3, 1))), (ValueError, "values", "scores")
    elif how == "o_inf":
        out, why = call_checked(S, np.zeros(1), np.ones(1), np.float64([[np.inf]])), (ValueError, "o")
    elif how == "o_shape":
        out, why = call_checked(S, np.zeros(2), np.ones(2), np.zeros((3, 1))), (ValueError, "o")
    else:  # o_masked: a row that saw no key must have o = 0
        out, why = call_checked(S, np.float64([-np.inf]), np.zeros(1), np.ones((1, 1))), (ValueError, "o")
    out.refused((why[0], why[1:]))


# --------------------------------------------------------------------------- known bugs (strict xfail)
def _xfail(bug):
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"{bug}: {KNOWN[bug]}")


def test_STR1_attention_state_values_near_the_maximum():
    res = call_checked(snb.AttentionState().update, np.zeros((1, 4), np.float32), np.full((4, 1), 3e38, np.float32))
    np.testing.assert_allclose(res.ok().output, [[3e38]], rtol=1e-6)


def test_STR2_attention_state_batch_mismatch_names_the_arguments():
    res = call_checked(snb.AttentionState().update, np.zeros((2, 2, 3)), np.zeros((5, 3, 1)))
    res.refused((ValueError, ("values", "scores")))


@pytest.mark.parametrize("cls", ["SoftmaxAccumulator", "AttentionState"])
def test_STR3_logsumexp_of_one_row_is_a_numpy_scalar(cls):
    st_ = snb.SoftmaxAccumulator().update([1.0, 2.0]) if cls == "SoftmaxAccumulator" else \
        snb.AttentionState().update([1.0, 2.0], [[1.0], [2.0]])
    assert isinstance(st_.logsumexp, np.generic), type(st_.logsumexp)


def test_STR4_normalise_after_only_minus_inf_names_an_argument():
    acc = snb.SoftmaxAccumulator().update(np.float64([-np.inf, -np.inf]))
    call_checked(acc.normalise, np.float64([-np.inf, -np.inf])).refused((ValueError, ("block",)))


def test_STR5_merge_of_large_sums_does_not_warn():
    a = snb.SoftmaxAccumulator(np.float64(0.0), np.float64(1e308))
    res = call_checked(a.merge, snb.SoftmaxAccumulator(np.float64(0.0), np.float64(1e308)))
    if res.error is not None:
        res.refused((ValueError, ("other",)))


def test_every_known_bug_has_a_strict_xfail_test():
    """Each entry of KNOWN has a test_<ID>_... here (delete both when the bug is fixed)."""
    ids = {name.split("_")[1] for name in globals() if name.startswith("test_") and name.split("_")[1] in KNOWN}
    assert ids == set(KNOWN)
