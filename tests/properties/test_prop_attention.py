r"""Properties of ``softmax_nb.attention``: attention, tiled_attention, attention_backward, merge_attention.

The reference is the definition, row by row, with the mask written out: query :math:`i`
of batch element :math:`b` may attend key :math:`j` iff ``mask`` (broadcast) allows it and,
with ``causal``, :math:`j \le i` (``True``/``"top_left"``) or :math:`j \le i + n_k - n_q`
(``"bottom_right"``). Scores :math:`S = s\,QK^\top`, weights, outputs, log-sum-exps and the
gradients :math:`dV = P^\top G`, :math:`dS = P \odot (GV^\top - \mathrm{rowsum}(G \odot O))`,
:math:`dQ = s\,dS\,K`, :math:`dK = s\,dS^\top Q` (summed over broadcast axes) are computed in
longdouble with a rigorous bound on the rounding of the work dtype (``_interval.py``; float16
is computed in float32 and rounded once). Besides the bound, every returned output row must be a
convex combination of its allowed value rows (inside their range, whatever the rounding), a row
with no allowed key must be exactly 0 with a log-sum-exp of ``-inf``, and dtypes and shapes must
be the documented ones. Finite ``q``, ``k`` whose scores come near the dtype's maximum may
instead raise a ValueError naming ``q`` and ``k`` (``scale`` and ``q`` for ``scale * q``).

Every wrong argument (a corruption of a valid call: shapes, NaN/inf, mask dtype and shape,
causal, scale, block sizes, return_lse, grad_out/out/lse) must raise a ValueError or TypeError
naming it. Known bugs are kept as strict xfails at the end of the file.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import Phase, assume, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb
from _gen import FLOAT_DTYPES
from _harness import Expected, Precision, budget, call_checked
from _interval import (LD, WIDE, Approx, Work, add, arrays, check_close, div, exp_shifted, ld, matmul, mul,
                       rounded, softmax_pieces, total, weighted_output)
from _interval import scale as scaled

CAUSAL = [False, True, "top_left", "bottom_right"]
EXPLICIT = settings(phases=[Phase.explicit], database=None, deadline=None)

#: Bugs these properties found (report: minimal reproducers); each has a strict xfail test below.
KNOWN: dict[str, str] = {}  # all fixed; their tests below stay as regression tests
_STRICT = [False]


def tolerated(bug: str) -> bool:
    return bug in KNOWN and not _STRICT[0]


# --------------------------------------------------------------------------- generators
def _big(dtype) -> float:
    """A magnitude for q and k whose scores reach the dtype's maximum (sqrt of it)."""
    return float(np.sqrt(np.finfo(dtype).max))


@st.composite
def qkv_cases(draw, *, small: bool = False, min_q: int = 0, causal=None):
    """A valid call ``(q, k, v, mask, causal, scale)``: broadcasting batch axes (empty ones included),
    n_q != n_k, float16/32/64 (sometimes mixed), magnitudes up to the dtype's maximum."""
    base = draw(st.sampled_from(FLOAT_DTYPES))
    mixed = draw(st.integers(0, 4)) == 0
    dts = [draw(st.sampled_from(FLOAT_DTYPES)) if mixed else base for _ in range(3)]
    bq, bk, bv = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=2, min_side=0,
                                                         max_side=3)).input_shapes
    n_q, n_k = draw(st.integers(min_q, 4)), draw(st.integers(1, 5))
    d_k, d_v = draw(st.integers(1, 3)), draw(st.integers(0, 3))
    big = [_big(dt) for dt in dts]
    mags = [1.0, 4.0, 30.0] if small else [1.0, 4.0, 30.0, 30.0, min(big[0], big[1]), float(np.finfo(base).max)]
    mq = draw(st.sampled_from(mags))
    mk = draw(st.sampled_from(mags))
    mv = draw(st.sampled_from([1.0, 1.0, 1e3] + ([] if small else [float(np.finfo(dts[2]).max)])))
    q = draw(arrays(dts[0], bq + (n_q, d_k), mq))
    k = draw(arrays(dts[1], bk + (n_k, d_k), mk))
    v = draw(arrays(dts[2], bv + (n_k, d_v), mv))
    batch = np.broadcast_shapes(bq, bk, bv)
    mask = None
    if draw(st.integers(0, 2)):
        target = batch + (n_q, n_k)
        shape = draw(hnp.broadcastable_shapes(target, min_dims=0, max_dims=len(target), min_side=1, max_side=4)
                     .filter(lambda s: np.broadcast_shapes(s, target) == target))
        mask = draw(hnp.arrays(np.bool_, shape, elements=st.integers(0, 4).map(lambda x: x > 0)))
    causal = draw(st.sampled_from(CAUSAL)) if causal is None else causal
    scale = draw(st.one_of(st.none(), st.none(), st.floats(1e-3, 10.0),
                           st.sampled_from([1.0, 1e-300, 1e-30, 1e30, 1e300] if not small else [1.0, 0.5])))
    work = np.dtype(np.float32) if np.result_type(*dts) == np.float16 else np.result_type(*dts)
    if tolerated("ATT4") and scale is not None and float(scale) > float(np.finfo(work).max):
        scale = 1e30
    if draw(st.integers(0, 9)) == 0:
        causal = np.bool_(causal) if isinstance(causal, bool) else causal
    return q, k, v, mask, causal, scale


# --------------------------------------------------------------------------- the reference
def allowed_matrix(batch, n_q, n_k, mask, causal) -> np.ndarray:
    """Which key each query may attend, written out: ``mask`` (broadcast) and the causal alignment."""
    allowed = np.ones(batch + (n_q, n_k), bool) if mask is None else np.broadcast_to(mask, batch + (n_q, n_k)).copy()
    if causal is not False and not (isinstance(causal, np.bool_) and not causal):
        offset = n_k - n_q if causal == "bottom_right" else 0
        for i in range(n_q):
            for j in range(n_k):
                if j > i + offset:
                    allowed[..., i, j] = False
    return allowed


class Ref:
    """The exact forward pass of one valid call, with the bounds of a computation in the work dtype."""

    def __init__(self, q, k, v, mask, causal, scale, *, blocks: int = 1):
        self.q, self.k, self.v = q, k, v
        self.batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        self.n_q, self.d_k = q.shape[-2:]
        self.n_k, self.d_v = v.shape[-2:]
        self.out_dtype = np.result_type(q, k, v)
        self.work = np.dtype(np.float32) if self.out_dtype == np.float16 else self.out_dtype
        self.prec = Precision(self.work, self.out_dtype)
        self.w = Work.of(self.prec)
        self.s = 1.0 / math.sqrt(self.d_k) if scale is None else float(scale)
        self.s_exact = (LD(1) / np.sqrt(LD(self.d_k))) if scale is None else LD(scale)
        self.allowed = allowed_matrix(self.batch, self.n_q, self.n_k, mask, causal)
        full = lambda a, n, d: np.broadcast_to(ld(a), self.batch + (n, d))  # noqa: E731
        self.Q, self.K, self.V = full(q, self.n_q, self.d_k), full(k, self.n_k, self.d_k), full(v, self.n_k, self.d_v)
        w2 = Work(2 * self.w.u, self.w.sub)  # s is rounded to the work dtype, then s * q
        self.QS = scaled(Approx.exact(self.Q), self.s_exact, w2)
        self.S = matmul(self.QS, Approx.exact(self.K).T, self.w)
        self.pieces = softmax_pieces(self.S, self.allowed, self.w, blocks=blocks)
        self.out = weighted_output(self.pieces, Approx.exact(self.V), self.w, blocks=blocks)
        self.out.err = self.out.err + 16 * self.n_k * self.w.sub  # the headroom scaling of tiny values
        self.lse = self.pieces.lse
        top = float(np.finfo(self.work).max)
        with np.errstate(all="ignore"):
            # a score, or a product inside its sum, near the maximum (inf - inf in the sum is refused too)
            terms = self.QS.mag @ np.abs(np.swapaxes(self.K, -1, -2))
            near = ((self.S.mag >= top / 8) | (terms >= top / 8)) & self.allowed
            # the package scales q before broadcasting it: an unused q entry (an empty batch) counts too
            qs_big = self.s > 1 and bool((np.abs(ld(q)) * self.s_exact >= top / 2).any())
        #: scores (or scale * q) near the dtype's maximum: a ValueError naming q and k is allowed
        self.risky = bool(near.any()) or qs_big
        #: values near the dtype's maximum scaled by a power of two, with a row that attends to nothing (ATT5)
        self.headroom_empty = bool((np.abs(self.V) > top / (2 * self.n_k)).any()) and bool((~self.pieces.has).any())

    def expected(self) -> Expected:
        exp = Expected()
        if self.risky:
            exp.allow(ValueError, "q", "k", "scale")
        return exp

    def check_forward(self, out, lse, what: str) -> None:
        assert out.shape == self.batch + (self.n_q, self.d_v) and out.dtype == self.out_dtype, (out.shape, out.dtype)
        assert lse.shape == self.batch + (self.n_q,) and lse.dtype == self.work, (lse.shape, lse.dtype)
        none = ~self.pieces.has
        assert np.all(out[none] == 0) and np.all(np.isneginf(lse[none])), f"{what}: a row with no key"
        assert np.isfinite(out).all() and not np.isnan(lse).any() and not np.isposinf(lse).any()
        self.check_convex(out, what)
        check_close(out, rounded(self.out, self.prec), what=f"{what} output", dtype=self.out_dtype)
        check_close(lse, self.lse, what=f"{what} lse", dtype=self.work)

    def check_convex(self, out, what: str) -> None:
        """Each row lies within the range of its allowed value rows (whatever the rounding)."""
        if not self.d_v or not out.size:
            return
        a = self.allowed[..., None]
        vv = self.V[..., None, :, :].astype(np.float64)
        lo = np.where(a, vv, np.inf).min(axis=-2)
        hi = np.where(a, vv, -np.inf).max(axis=-2)
        has = self.pieces.has[..., None]
        o = out.astype(np.float64)
        u = self.prec.u_o + self.w.u
        with np.errstate(all="ignore"):
            slack = (2 * self.n_k + 8) * u * np.maximum(np.abs(lo), np.abs(hi)) + self.w.sub + self.prec.sub_o
            ok = ~has | ((o >= lo - slack) & (o <= hi + slack))
        assert ok.all(), f"{what}: an output row leaves the range of its values: {o[~ok][:3]}"


def _skip_beyond_longdouble(ref: Ref) -> None:
    if not WIDE and ref.out_dtype == np.float64:  # pragma: no cover - float64 == longdouble platforms
        assume(not ref.risky)


# --------------------------------------------------------------------------- forward
@budget(130)
@given(qkv_cases(), st.integers(1, 5), st.integers(1, 5), st.data())
def test_attention_tiled_attention_and_backward_match_the_reference(case, block_q, block_k, data):
    """attention and tiled_attention (any block sizes): output and lse within the stated bound of the exact
    rows, convex combinations of the allowed values, 0 / -inf for rows with no key, dtypes as documented.
    attention_backward from the package's own (out, lse) and a drawn grad_out (float16/32/64): dq, dk, dv
    within the bound of the exact formula (summed over broadcast axes), in the dtypes and shapes of q, k, v."""
    q, k, v, mask, causal, scale = case
    ref = Ref(q, k, v, mask, causal, scale)
    _skip_beyond_longdouble(ref)
    if tolerated("ATT5"):
        assume(not ref.headroom_empty)
    event("no key in some row" if (~ref.pieces.has).any() else "every row has a key")
    blocks = -(-ref.n_k // block_k)
    tref = Ref(q, k, v, mask, causal, scale, blocks=blocks) if blocks > 1 else ref
    tiled = call_checked(snb.tiled_attention, q, k, v, mask=mask, causal=causal, scale=scale, return_lse=True,
                         block_q=block_q, block_k=block_k).check(tref.expected())
    if tiled is not None:
        tref.check_forward(*tiled, f"tiled_attention(block_q={block_q}, block_k={block_k})")
    plain = call_checked(snb.attention, q, k, v, mask=mask, causal=causal, scale=scale).check(ref.expected())
    if plain is not None:  # return_lse=False returns the output alone
        assert isinstance(plain, np.ndarray) and plain.shape == ref.batch + (ref.n_q, ref.d_v)
    val = call_checked(snb.attention, q, k, v, mask=mask, causal=causal, scale=scale,
                       return_lse=True).check(ref.expected())
    if val is None:
        return
    ref.check_forward(*val, "attention")
    # ---- backward, from this forward pass
    out, lse = val
    gdt = data.draw(st.sampled_from([ref.out_dtype, np.float64, np.float16]))
    g = data.draw(arrays(gdt, out.shape, data.draw(st.sampled_from([1.0, 1.0, 30.0, float(np.finfo(gdt).max)]))))
    if tolerated("ATT1") and 0 in ref.batch:
        return
    # the out and lse passed in are off by at most the forward bounds (checked above)
    with np.errstate(all="ignore"):
        out_err = ref.out.err + ref.prec.u_o * np.abs(ref.out.val) + ref.prec.sub_o
    if tolerated("ATT3") and np.dtype(gdt).itemsize > ref.work.itemsize and \
            np.abs(g).max(initial=0) >= np.finfo(ref.work).max:
        return
    bref = BackwardRef(ref, g, out_err, ref.lse.err)
    if tolerated("ATT3") and (bref.overflows or bref.risky):
        return
    exp = ref.expected()
    if bref.risky or bref.overflows:
        exp.allow(ValueError, "grad_out", "v", "lse", "q", "k")
    res = call_checked(snb.attention_backward, g, q, k, v, out, lse, mask=mask, causal=causal, scale=scale,
                       block_q=block_q, block_k=block_k).check(exp)
    if res is None:
        return
    for name, arr, got, want in zip("qkv", (q, k, v), res, bref.grads):
        assert got.shape == arr.shape and got.dtype == arr.dtype, (name, got.shape, got.dtype)
        prec = Precision(ref.work, arr.dtype)
        check_close(got, rounded(want, prec), what=f"d{name}", dtype=arr.dtype)


@budget(40)
@given(qkv_cases(small=True, causal=True), st.data())
def test_bottom_right_chunk_equals_the_rows_of_the_full_causal_prefill(case, data):
    """A decoding step or chunked prefill against a cache (``causal='bottom_right'``, queries q[c0:c1] and keys
    k[:c1]) equals rows c0..c1-1 of the full causal prefill (``causal=True`` with n_q = n_k), within the bound."""
    q, k, v, mask, _, scale = case
    n = min(q.shape[-2], k.shape[-2])
    assume(n >= 1)
    q = q[..., :n, :]
    k, v = k[..., :n, :], v[..., :n, :]
    c1 = data.draw(st.integers(1, n))
    c0 = data.draw(st.integers(0, c1 - 1))
    full = Ref(q, k, v, None, True, scale)
    val = call_checked(snb.attention, q[..., c0:c1, :], k[..., :c1, :], v[..., :c1, :], causal="bottom_right",
                       scale=scale, return_lse=True).ok()
    rows = Approx(full.out.val[..., c0:c1, :], full.out.err[..., c0:c1, :])
    check_close(val[0], rounded(rows, full.prec), what="bottom_right chunk", dtype=full.out_dtype)
    check_close(val[1], full.lse[..., c0:c1], what="bottom_right chunk lse", dtype=full.work)


# --------------------------------------------------------------------------- refusals
CORRUPTIONS = ["q_1d", "nan_q", "inf_k", "nan_v", "dk", "nk", "nk0", "dk0", "batch", "mask_shape", "mask_dtype",
               "causal_value", "causal_type", "scale_value", "scale_type", "return_lse", "block_q", "block_k",
               "q_str", "v_masked"]


def corrupt(case, how, draw):
    """A valid call with one argument made wrong; returns (args, kwargs, refusal)."""
    q, k, v, mask, causal, scale = case
    kw = dict(mask=mask, causal=causal, scale=scale)
    why: tuple = ()
    if how == "q_1d":
        q, why = q.reshape(-1), (ValueError, "q")
    elif how in ("nan_q", "inf_k", "nan_v"):
        arr = {"nan_q": q, "inf_k": k, "nan_v": v}[how].copy()
        assume(arr.size)
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        q, k, v = (arr if how == "nan_q" else q), (arr if how == "inf_k" else k), (arr if how == "nan_v" else v)
        why = (ValueError, how[-1])
    elif how == "dk":
        k, why = np.concatenate([k, k[..., :1]], axis=-1), (ValueError, "q", "k")
    elif how == "nk":
        v, why = np.concatenate([v, v[..., :1, :]], axis=-2), (ValueError, "k", "v")
    elif how == "nk0":
        k, v, why = k[..., :0, :], v[..., :0, :], (ValueError, "k", "v")
        kw["mask"] = None
    elif how == "dk0":
        q, k, why = q[..., :0], k[..., :0], (ValueError, "q", "k")
    elif how == "batch":  # leading axes 2 and 3 at the same position
        q = np.zeros((2, 1, 1, 1) + q.shape[-2:], q.dtype)
        k = np.zeros((3, 1, 1, 1) + k.shape[-2:], k.dtype)
        kw["mask"], why = None, (ValueError, "q", "k", "v")
    elif how == "mask_shape":
        kw["mask"], why = np.ones((q.shape[-2] + 2, k.shape[-2]), bool), (ValueError, "mask")
    elif how == "mask_dtype":
        m = np.ones((q.shape[-2], k.shape[-2]), bool) if mask is None else mask
        kw["mask"] = m.astype(draw(st.sampled_from([np.int64, np.float64, np.uint8])))
        why = (TypeError, "mask")
    elif how == "causal_value":
        kw["causal"], why = draw(st.sampled_from(["lower", "TOP_LEFT", "", "bottom-right"])), (ValueError, "causal")
    elif how == "causal_type":
        kw["causal"], why = draw(st.sampled_from([1, 0, None, 1.0, [True], np.int64(1)])), (TypeError, "causal")
    elif how == "scale_value":
        kw["scale"] = draw(st.sampled_from([0.0, -1.0, -0.0, math.inf, math.nan, -1e-300, np.float32(0)]))
        why = (ValueError, "scale")
    elif how == "scale_type":
        kw["scale"], why = draw(st.sampled_from(["0.5", "1", True, np.bool_(False), [1.0], 1j])), (TypeError, "scale")
    elif how == "return_lse":
        kw["return_lse"], why = draw(st.sampled_from([1, 0, "True", None])), (TypeError, "return_lse")
    elif how in ("block_q", "block_k"):
        bad = draw(st.sampled_from([0, -1, 2.0, "2", True, None]))
        kind = ValueError if isinstance(bad, int) and not isinstance(bad, bool) else TypeError
        kw[how], why = bad, (kind, how)
    elif how == "q_str":
        q, why = draw(st.sampled_from(["abc", [["1", "2"]], [[1 + 1j, 0j]]])), (TypeError, "q")
    elif how == "v_masked":
        v, why = np.ma.masked_array(v, mask=np.zeros(v.shape, bool)), (ValueError, "v")
    return (q, k, v), kw, why


@budget(80)
@given(qkv_cases(small=True), st.sampled_from(CORRUPTIONS), st.sampled_from(["attention", "tiled", "backward"]),
       st.data())
def test_wrong_arguments_are_refused_naming_them(case, how, fn, data):
    """One wrong argument in an otherwise valid call (any of the three functions): a ValueError (wrong value)
    or TypeError (wrong type) naming that argument; never a bare IndexError, a numpy message or a warning."""
    (q, k, v), kw, why = corrupt(case, how, data.draw)
    if fn == "attention" and how in ("block_q", "block_k") or fn == "backward" and how == "return_lse":
        return
    if fn == "backward":  # grad_out, out and lse fit the valid call; the corrupted argument is checked first
        n_q = case[0].shape[-2]
        batch = np.broadcast_shapes(case[0].shape[:-2], case[1].shape[:-2], case[2].shape[:-2])
        g = np.zeros(batch + (n_q, case[2].shape[-1]))
        out = call_checked(snb.attention_backward, g, q, k, v, g, np.zeros(batch + (n_q,)), **kw)
    elif fn == "tiled":
        out = call_checked(snb.tiled_attention, q, k, v, **kw)
    else:
        out = call_checked(snb.attention, q, k, v, **kw)
    out.refused((why[0], why[1:]))


# --------------------------------------------------------------------------- backward
class BackwardRef:
    r"""The gradients by the formula, from the exact forward pass, with bounds that take the given ``out`` and
    ``lse`` (the package's own forward results) to within the forward pass's bounds."""

    def __init__(self, ref: Ref, g: np.ndarray, out_err: np.ndarray, lse_err: np.ndarray):
        w = ref.w
        n_extra = ref.n_q + ref.n_k + 4  # tile accumulations
        G = Approx.exact(g)
        if np.dtype(g.dtype).itemsize > ref.work.itemsize:  # grad_out is rounded to the work dtype
            G.err = w.u * np.abs(G.val) + w.sub
        allowed = ref.allowed
        has = ref.pieces.has
        L = np.where(has, ref.lse.val, LD(0))
        with np.errstate(all="ignore"):
            x = np.where(allowed, ref.S.val - L[..., None], LD(-np.inf))
            ex = (ref.S.err + ld(lse_err)[..., None]) * (1 + 2 * w.u) + 2 * w.u * np.abs(np.where(allowed, x, 0))
        P = exp_shifted(x, np.where(allowed, ex, LD(0)), w)
        O = Approx(ref.out.val, ld(out_err))
        D = total(mul(G, O, w), -1, w)
        dV = matmul(P.T, G, w, extra_terms=n_extra)
        dP = matmul(G, Approx.exact(ref.V).T, w)
        dS = mul(P, add(dP, Approx(D.val[..., None], D.err[..., None]), w, sign=-1), w)
        w2 = Work(2 * w.u, w.sub)  # s rounded to the work dtype, then the product
        dQ = scaled(matmul(dS, Approx.exact(ref.K), w, extra_terms=n_extra), ref.s_exact, w2)
        dK = matmul(dS.T, ref.QS, w, extra_terms=n_extra)
        self.grads = [sum_to(dQ, ref.q.shape, w), sum_to(dK, ref.k.shape, w), sum_to(dV, ref.v.shape, w)]
        top = float(np.finfo(ref.work).max)
        tops = [float(np.finfo(a.dtype).max) for a in (ref.q, ref.k, ref.v)]
        with np.errstate(all="ignore"):
            self.risky = ref.risky or any(bool((a.mag >= top / 8).any()) for a in (dP, dS, dV, dQ, dK, D))
            #: a gradient beyond the range of its array's dtype (it rounds to inf there)
            self.overflows = any(bool((a.mag >= t / 2).any()) for a, t in zip(self.grads, tops))


def sum_to(a: Approx, shape, w: Work) -> Approx:
    """Sum the axes that broadcasting added or stretched, as the package returns gradients."""
    extra = a.val.ndim - len(shape)
    if extra:
        a = total(a, tuple(range(extra)), w)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and a.val.shape[i] != 1)
    if axes:
        s = total(a, axes, w)
        a = Approx(np.expand_dims(s.val, axes), np.expand_dims(s.err, axes))
    return a


@budget(15)
@given(qkv_cases(small=True, min_q=1), st.data())
def test_attention_backward_matches_central_differences(case, data):
    r"""float64: the gradient of :math:`f = \sum G \odot \operatorname{attention}(q, k, v)` equals central
    differences with step h = 1e-6, within :math:`10^{-6}(1 + \sum|G|\max|v|)` (truncation :math:`O(h^2)`,
    rounding :math:`O(u/h)`)."""
    q, k, v, mask, causal, scale = (a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                                    else a for a in case)
    assume(0 < q.size <= 24 and 0 < k.size <= 24 and v.size <= 24)
    assume(0 not in np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))  # an empty batch: ATT1
    kw = dict(mask=mask, causal=causal, scale=None if scale is None else min(float(scale), 1.0))
    q, k, v = q / (1 + np.abs(q).max()), k / (1 + np.abs(k).max()), v / (1 + np.abs(v).max(initial=0))
    out, lse = snb.attention(q, k, v, return_lse=True, **kw)
    g = data.draw(arrays(np.float64, out.shape, 1.0))
    grads = call_checked(snb.attention_backward, g, q, k, v, out, lse, **kw).ok()
    tol = 1e-6 * (1 + np.abs(g).sum() * max(np.abs(v).max(initial=0), 1))
    h = 1e-6
    for arr, got, name in zip((q, k, v), grads, "qkv"):
        for idx in np.ndindex(arr.shape):
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            args = [plus if a is arr else a for a in (q, k, v)], [minus if a is arr else a for a in (q, k, v)]
            fd = (np.sum(g * snb.attention(*args[0], **kw)) - np.sum(g * snb.attention(*args[1], **kw))) / (2 * h)
            assert abs(fd - got[idx]) <= tol, f"d{name}{idx}: {got[idx]!r}, central difference {fd!r}"


# --------------------------------------------------------------------------- merge_attention
@st.composite
def merge_cases(draw):
    """Blocks ``(outputs, lses)``: (..., n_q, d_v) outputs up to the dtype's maximum, lses real or -inf."""
    n_b = draw(st.integers(1, 4))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    odt = draw(st.sampled_from(FLOAT_DTYPES))
    ldt = draw(st.sampled_from([odt, odt, np.float32, np.float64]))
    mag = draw(st.sampled_from([1.0, 1.0, 1e3, float(np.finfo(odt).max)]))
    lmag = draw(st.sampled_from([1.0, 30.0, 1e4, float(np.finfo(ldt).max)]))
    outs = [draw(arrays(odt, shape, mag)) for _ in range(n_b)]
    lses = []
    for _ in range(n_b):
        x = draw(arrays(ldt, shape[:-1], lmag))
        if x.size and draw(st.booleans()):
            x = np.where(draw(hnp.arrays(np.bool_, x.shape)), -np.inf, x).astype(ldt)
        lses.append(x)
    return outs, lses


def merge_ref(outs, lses, w: Work, *, out_err=None, lse_err=None):
    """The exact merge: L = log sum_b e^{L_b}, O = sum_b e^{L_b - L} O_b (blocks with L_b = -inf skipped)."""
    lv, ov = np.stack([ld(x) for x in lses], axis=-1), np.stack([ld(o) for o in outs], axis=-2)
    L = Approx(lv, np.stack([ld(e) for e in lse_err], axis=-1) if lse_err else np.zeros(lv.shape, LD))
    O = Approx(ov, np.stack([ld(e) for e in out_err], axis=-2) if out_err else np.zeros(ov.shape, LD))
    allowed = np.isfinite(L.val)
    p = softmax_pieces(L, allowed, w)
    o = matmul(Approx(p.w.val[..., None, :], p.w.err[..., None, :]), O, w, extra_terms=2)
    o = Approx(o.val[..., 0, :], o.err[..., 0, :])
    safe = Approx(np.where(p.has, p.d.val, LD(1))[..., None], p.d.err[..., None])
    out = div(o, safe, w)
    has = p.has[..., None]
    out = Approx(np.where(has, out.val, LD(0)), np.where(has, out.err, LD(0)) + 16 * len(outs) * w.sub)
    return out, p.lse, p.has


@budget(100)
@given(merge_cases(), st.randoms(use_true_random=False))
def test_merge_attention_matches_the_reference_in_any_order(case, rnd):
    """merge_attention: output and lse within the bound of the exact merge, in any order of the blocks (two
    blocks: the same bits either way); a block with L = -inf contributes nothing; all empty: 0 and -inf."""
    outs, lses = case
    out_dtype = np.result_type(*outs)
    work = np.dtype(np.float32) if np.result_type(*outs, *lses) == np.float16 else np.result_type(*outs, *lses)
    prec = Precision(work, out_dtype)
    w = Work.of(prec)
    ref_o, ref_l, has = merge_ref(outs, lses, w)
    if tolerated("ATT5"):
        big = max(float(np.abs(o.astype(np.float64)).max(initial=0)) for o in outs)
        assume(not (big > float(np.finfo(work).max) / (2 * len(outs)) and (~has).any()))
    res = call_checked(snb.merge_attention, outs, lses)
    o, lse = res.ok()
    if tolerated("ATT2") and outs[0].ndim == 1:
        lse = lse[()]
    assert o.dtype == out_dtype and o.shape == outs[0].shape and lse.shape == lses[0].shape, (o.dtype, o.shape)
    # the scalar rule: one query (1-D outputs) gives a numpy scalar log-sum-exp, as core does
    scalar = outs[0].ndim == 1
    assert isinstance(lse, np.generic if scalar else np.ndarray) and lse.dtype == work, (type(lse), lse.dtype)
    assert np.all(o[~has] == 0) and np.all(np.isneginf(lse[~has]))
    check_close(o, rounded(ref_o, prec), what="merge_attention output", dtype=out_dtype)
    check_close(lse, ref_l, what="merge_attention lse", dtype=work)
    order = list(range(len(outs)))
    rnd.shuffle(order)
    o2, lse2 = call_checked(snb.merge_attention, [outs[i] for i in order], [lses[i] for i in order]).ok()
    check_close(o2, rounded(ref_o, prec), what="merge_attention output, blocks reordered", dtype=out_dtype)
    check_close(lse2, ref_l, what="merge_attention lse, blocks reordered", dtype=work)
    if len(outs) == 2:
        o3, lse3 = snb.merge_attention(outs[::-1], lses[::-1])
        np.testing.assert_array_equal(o3, o)
        np.testing.assert_array_equal(lse3, lse)


@budget(40)
@given(qkv_cases(small=True), st.lists(st.integers(0, 3), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_merge_of_key_blocks_equals_attention_over_all_keys(case, labels, rnd):
    """Split the keys into disjoint (not necessarily contiguous) blocks, attend to each with its columns of the
    explicit mask, merge the (O, L) pairs in any order: the result is attention over all keys, within the
    forward bounds of the blocks carried through the merge (Flash-Decoding / ring attention)."""
    q, k, v, mask, causal, scale = case
    n_k = k.shape[-2]
    full = Ref(q, k, v, mask, causal, scale)
    assume(not full.risky)
    blocks = {}
    for j in range(n_k):
        blocks.setdefault(labels[j % len(labels)], []).append(j)
    parts, refs = [], []
    for idx in blocks.values():
        r = Ref(q, k[..., idx, :], v[..., idx, :], full.allowed[..., idx], False, scale)
        parts.append(call_checked(snb.attention, q, k[..., idx, :], v[..., idx, :], mask=full.allowed[..., idx],
                                  scale=scale, return_lse=True).ok())
        refs.append(r)
    order = list(range(len(parts)))
    rnd.shuffle(order)
    outs, lses = [parts[i][0] for i in order], [parts[i][1] for i in order]
    o, lse = call_checked(snb.merge_attention, outs, lses).ok()
    prec = Precision(full.work, full.out_dtype)
    with np.errstate(all="ignore"):
        oerr = [refs[i].out.err + prec.u_o * np.abs(refs[i].out.val) + prec.sub_o for i in order]
    want_o, want_l, _ = merge_ref([refs[i].out.val for i in order], [refs[i].lse.val for i in order], full.w,
                                  out_err=oerr, lse_err=[refs[i].lse.err for i in order])
    check_close(o, rounded(want_o, prec), what="merged blocks vs the blocks' exact merge", dtype=full.out_dtype)
    # the exact merge of the exact blocks is the exact attention over all keys
    check_close(o, rounded(Approx(full.out.val, want_o.err), prec), what="merged blocks vs attention",
                dtype=full.out_dtype)
    check_close(lse, Approx(full.lse.val, want_l.err), what="merged lse vs attention", dtype=full.work)


MERGE_BAD = ["empty", "lengths", "shape", "lse_shape", "lse_nan", "lse_posinf", "out_inf", "scalar", "not_seq",
             "strings", "masked"]


@budget(40)
@given(merge_cases(), st.sampled_from(MERGE_BAD), st.data())
def test_merge_attention_refuses_wrong_blocks(case, how, data):
    """No blocks, unequal lengths, mismatched shapes, NaN/+inf lses, non-finite outputs, scalars, non-sequences,
    strings, masked arrays: a ValueError or TypeError naming outputs or lses."""
    outs, lses = case
    why = (ValueError, "outputs", "lses")
    if how == "empty":
        outs, lses = [], []
    elif how == "lengths":
        lses = lses + [lses[0]]
    elif how == "shape":
        outs = outs + [np.zeros(outs[0].shape[:-1] + (outs[0].shape[-1] + 1,))]
        lses = lses + [lses[0]]
    elif how == "lse_shape":
        lses = [np.zeros(outs[0].shape)] + lses[1:]
    elif how in ("lse_nan", "lse_posinf"):
        assume(lses[0].size)
        x = lses[0].astype(np.float64)
        x.flat[data.draw(st.integers(0, x.size - 1))] = np.nan if how == "lse_nan" else np.inf
        lses = [x] + lses[1:]
    elif how == "out_inf":
        assume(outs[0].size)
        x = outs[0].astype(np.float64)
        x.flat[data.draw(st.integers(0, x.size - 1))] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        outs = [x] + outs[1:]
    elif how == "scalar":
        outs, lses = [np.float64(1.0)], [np.float64(0.0)]
    elif how == "not_seq":
        which = data.draw(st.sampled_from(["outputs", "lses"]))
        bad = data.draw(st.sampled_from([None, 1.0, "abc", {1: 2}, object()]))
        outs, lses = (bad, lses) if which == "outputs" else (outs, bad)
        why = (TypeError, which)
    elif how == "strings":
        outs, why = [np.array([["a", "b"]])], (TypeError, "outputs")
        lses = [np.zeros(1)]
    elif how == "masked":
        outs = [np.ma.masked_array(outs[0], mask=np.zeros(outs[0].shape, bool))] + outs[1:]
    call_checked(snb.merge_attention, outs, lses).refused((why[0], why[1:]))


# --------------------------------------------------------------------------- known bugs (strict xfail)
def _xfail(bug):
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"{bug}: {KNOWN[bug]}")


def test_ATT1_backward_with_an_empty_batch_names_no_argument():
    q = np.zeros((0, 2, 2))
    k = v = np.ones((3, 2))
    _STRICT[0] = True
    try:
        res = call_checked(snb.attention_backward, q, q, k, v, q, np.zeros((0, 2)))
        dq, dk, dv = res.ok()  # the gradients of an empty batch: dq empty, dk = dv = 0
        assert dq.shape == q.shape and np.all(dk == 0) and np.all(dv == 0)
    finally:
        _STRICT[0] = False


@pytest.mark.parametrize("case", ["dq beyond float16", "grad_out beyond float32", "grad_out * out"])
def test_ATT3_backward_overflow_leaks_a_warning(case):
    if case == "grad_out * out":  # D = 2 * 3.4e38 overflows float32; exact gradients: dv = 2, dq = dk = 0
        q = k = np.zeros((1, 1), np.float32)
        v = np.float32([[3.4028235e38]])
        out, lse = snb.attention(q, k, v, return_lse=True)
        g = np.float32([[2.0]])
    elif case == "dq beyond float16":  # exact dq = -65540 rounds to -inf in float16
        q, k, v = np.zeros((1, 1), np.float16), np.float16([[0.0], [32768.0]]), np.float16([[8.0], [0.0]])
        out, lse = snb.attention(q, k, v, return_lse=True)
        g = np.ones((1, 1), np.float16)
    else:
        q = k = v = out = np.zeros((1, 1), np.float32)
        lse, g = np.zeros(1, np.float32), np.array([[3.5e38]])
    res = call_checked(snb.attention_backward, g, q, k, v, out, lse)  # a warning fails here
    if res.error is not None:
        res.refused((ValueError, ("grad_out", "q", "k", "v")))
    elif case == "grad_out * out":
        np.testing.assert_array_equal(res.ok()[2], [[2.0]])


@pytest.mark.parametrize("fn", ["attention", "tiled_attention", "merge_attention"])
def test_ATT5_a_row_with_no_key_is_zero_even_for_values_near_the_maximum(fn):
    if fn == "merge_attention":
        out = call_checked(snb.merge_attention, [np.float32([[3.4e38], [1.0]])], [np.float32([-np.inf, 0.0])]).ok()[0]
    else:
        f = getattr(snb, fn)
        out = call_checked(f, np.zeros((2, 1)), np.zeros((1, 1)), np.array([[1.7e308]]), causal="bottom_right").ok()
    assert out[0, 0] == 0, f"{fn}: the row that attends to nothing is {out[0, 0]!r}, not 0"


def test_ATT4_scale_beyond_float32_with_a_zero_query():
    q = k = np.zeros((1, 1), np.float32)
    res = call_checked(snb.attention, q, k, np.ones((1, 1), np.float32), scale=1e300)  # a warning fails here
    if res.error is not None:
        res.refused((ValueError, ("scale",)))
    else:
        np.testing.assert_array_equal(res.ok(), [[1.0]])  # s * q = 0: every score 0


@EXPLICIT
@given(merge_cases())
@example(case=([np.array([1.0, 2.0]), np.array([3.0, 4.0])], [np.array(0.0), np.array(1.0)]))
def test_ATT2_merge_attention_of_one_query_returns_a_numpy_scalar_lse(case):
    _STRICT[0] = True
    try:
        test_merge_attention_matches_the_reference_in_any_order.hypothesis.inner_test(case, random.Random(0))
    finally:
        _STRICT[0] = False


def test_every_known_bug_has_a_strict_xfail_test():
    """Each entry of KNOWN has a test_<ID>_... here (delete both when the bug is fixed)."""
    ids = {name.split("_")[1] for name in globals() if name.startswith("test_") and name.split("_")[1] in KNOWN}
    assert ids == set(KNOWN)
