r"""Properties of ``softmax_nb.routing``: ``route`` and ``load_balancing_loss``, against mpmath and exact sums.

* ``route(logits, top_k=k, gating=..., renormalize=..., bias=b)``: the scores :math:`s` (softmax or sigmoid)
  and the selection scores :math:`s + b` are computed exactly in mpmath. The experts of a token must be
  :math:`k` distinct indices whose exact selection scores are, up to the rounding bound :math:`\beta` of the
  work dtype (:math:`\beta = (8\lambda + 16 + 3S)u_w\max(1, |b|_\infty)`, :math:`S` the largest shifted logit),
  in decreasing order and at least every unchosen score; ties broken differently are allowed only within that
  bound. The weights are the exact scores of the chosen experts, renormalised over them when asked,
  within :math:`g\,((3S + 2\lambda + 24)u_w + u_o) + K\sigma_w + \sigma_o`. Non-finite logits or bias, 0-d
  logits or an empty expert axis: a ValueError naming ``logits`` (or ``bias``); ``top_k`` out of
  :math:`[1, E]`: one naming ``top_k``; a bias of the wrong shape: one naming ``bias``.
* ``load_balancing_loss(probs, experts)`` is :math:`E\sum_i f_i P_i` computed exactly in rationals from the
  float64 values of the input, within :math:`(N + E + 8)u_{64}` relative; valid float16 router probabilities
  (the softmax of float16 logits) are accepted; a repeated expert in a token, an index out of range or an
  experts array of the wrong shape: a ValueError naming ``experts``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

import softmax_nb as snb
from _gen import FLOAT_DTYPES, float_arrays
from _harness import U64, Expected, budget, call_checked, exact_values, precision
from _refs import PREC


@st.composite
def route_cases(draw):
    e = draw(st.integers(1, 9))
    lead = draw(st.lists(st.integers(0, 4), min_size=0, max_size=2))
    valid = draw(st.floats(0, 1)) < 0.85
    z = draw(float_arrays(FLOAT_DTYPES, tuple(lead) + (e,), nan=not valid, posinf=not valid, neginf=not valid,
                          extreme=draw(st.booleans())))
    k = draw(st.integers(1, e) if valid else st.integers(0, e + 1))
    gating = draw(st.sampled_from(["softmax", "sigmoid"] + ([] if valid else ["relu"])))
    renorm = draw(st.sampled_from([None, True, False]))
    bias = None
    if draw(st.booleans()):
        n_b = e if valid or draw(st.booleans()) else e + 1
        bias = draw(hnp.arrays(np.float64, n_b, elements=st.floats(-10, 10)))
        if not valid and draw(st.booleans()):
            bias[0] = np.nan
    return z, k, gating, renorm, bias


def _exact_scores(row, gating):
    # Enough bits for z_j - max(z) to be exact: a logit of 1.8e308 against 1.0 and 5e-324 needs about
    # 2100 bits, or the ratio e^(1 - 5e-324) of two zero-probability experts is lost.
    nonzero = [math.frexp(abs(float(v)))[1] for v in row if float(v) != 0.0]
    span = max(nonzero) - min(nonzero) if nonzero else 0
    with mp.workprec(PREC + span):
        vals = [mp.mpf(float(v)) for v in row]
        if gating == "softmax":
            m = max(vals)
            ex = [mp.exp(v - m) for v in vals]
            tot = mp.fsum(ex)
            return [x / tot for x in ex]
        return [1 / (1 + mp.exp(-v)) for v in vals]


@budget(200)
@given(route_cases())
def test_route_chooses_the_top_k_and_weighs_them_exactly(case):
    """route: the top-k of s + b (up to rounding), weights = exact scores (renormalised over the chosen ones)."""
    z, k, gating, renorm, bias = case
    kw = {"top_k": k, "gating": gating, "renormalize": renorm}
    if bias is not None:
        kw["bias"] = bias
    out = call_checked(snb.route, z, **kw)
    e = z.shape[-1]
    exp = Expected()
    if not np.isfinite(z).all():
        exp.refuse(ValueError, "logits")
    if not 1 <= k <= e:
        exp.refuse(ValueError, "top_k")
    if gating not in ("softmax", "sigmoid"):
        exp.refuse(ValueError, "gating")
    if bias is not None and (bias.shape != (e,) or not np.isfinite(bias).all()):
        exp.refuse(ValueError, "bias")
    val = out.check(exp)
    if val is None:
        return
    weights, experts = val
    prec = precision(z.dtype)
    assert weights.dtype == prec.out and experts.dtype == np.intp
    assert weights.shape == experts.shape == z.shape[:-1] + (k,)
    b = np.zeros(e) if bias is None else bias
    renormalised = (gating == "sigmoid") if renorm is None else renorm
    lam = math.log2(e) if e > 1 else 0.0
    rows = exact_values(z).reshape(-1, e)
    for row, w_row, e_row in zip(rows, weights.reshape(-1, k), experts.reshape(-1, k)):
        assert len(set(e_row.tolist())) == k and all(0 <= x < e for x in e_row)
        s = _exact_scores(row, gating)
        if gating == "softmax":  # the largest shifted logit; sigmoid: twice the largest |z| (log-sigmoid spread)
            smax = min(max(abs(float(v) - float(max(row))) for v in row), prec.cap)
        else:
            smax = min(2 * max(abs(float(v)) for v in row), prec.cap)
        beta = (8 * lam + 16 + 3 * smax) * prec.u_w * max(1.0, float(np.max(np.abs(b))))
        sel = [float(si) + float(bi) for si, bi in zip(s, b)]
        chosen = [sel[x] for x in e_row]
        others = [sel[x] for x in range(e) if x not in set(e_row.tolist())]
        assert all(a >= c - beta for a, c in zip(chosen, chosen[1:])), "experts not in decreasing order"
        assert not others or min(chosen) >= max(others) - beta, "an unchosen expert scores higher"
        with mp.workprec(PREC):
            ref = [s[x] for x in e_row]
            if renormalised:
                tot = mp.fsum(ref)
                ref = [r / tot for r in ref]
            ref = np.array([float(r) for r in ref])
        bound = ref * ((3 * smax + 2 * lam + 24) * prec.u_w + prec.u_o) + e * prec.sub_w + prec.sub_o
        if renormalised and gating == "softmax":
            kept = [float(row[x]) for x in e_row]
            spread = max(kept) - min(kept)
            bound = ref * ((3 * min(spread, prec.cap) + 2 * lam + 24) * prec.u_w + prec.u_o) + e * prec.sub_w \
                + prec.sub_o
        got = w_row.astype(np.float64)
        assert np.all(np.abs(got - ref) <= bound), f"weights {got} vs exact {ref} (bound {bound})"


@st.composite
def balance_cases(draw):
    n = draw(st.integers(0, 12))
    e = draw(st.integers(1, 9))
    k = draw(st.integers(1, e))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    z = draw(hnp.arrays(np.float64, (n, e), elements=st.floats(-20, 20))).astype(dtype)
    probs = snb.softmax(z, axis=-1) if n else np.zeros((0, e), dtype)
    experts = np.array([draw(st.permutations(range(e)))[:k] for _ in range(n)], dtype=np.int64).reshape(n, k)
    fault = draw(st.sampled_from([None] * 6 + ["repeat", "range", "shape", "float"]))
    if fault == "repeat" and k > 1 and n:
        experts[0, 1] = experts[0, 0]
    elif fault == "range" and n:
        experts[0, 0] = e
    elif fault == "shape":
        experts = experts[:, :0] if draw(st.booleans()) else experts.reshape(1, -1)
        if experts.shape == (n, k):  # one token: (1, k) is the right shape
            fault = None
    elif fault == "float":
        experts = experts.astype(np.float64)
    else:
        fault = None
    return probs, experts, fault


@budget(150)
@given(balance_cases())
def test_load_balancing_loss_is_exact(case):
    """load_balancing_loss = E sum_i f_i P_i within (N + E + 8) u64 relative; bad experts refused by name."""
    probs, experts, fault = case
    out = call_checked(snb.load_balancing_loss, probs, experts)
    n, e = probs.shape
    exp = Expected()
    if fault == "float":
        exp.refuse(TypeError, "experts")
    elif fault is not None:
        exp.refuse(ValueError, "experts")
    if n == 0 and fault != "float":
        exp.refuse(ValueError, "router_probs", "experts")
    val = out.check(exp)
    if val is None:
        return
    counts = [Fraction(0)] * e
    for row in experts:
        for x in row:
            counts[int(x)] += 1
    mean_p = [sum((Fraction(float(v)) for v in probs[:, i].astype(np.float64)), Fraction(0)) / n for i in range(e)]
    exact = float(e * sum(c / n * p for c, p in zip(counts, mean_p)))
    assert isinstance(val, np.float64)
    assert abs(float(val) - exact) <= (n + e + 8) * U64 * exact
