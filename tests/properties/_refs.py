r"""Exact references for the property suite, each with the error bound the package must meet.

The values are computed in mpmath at 128 bits from the exact input (a float16
logit is an exact float64), then rounded once to float64. Terms
:math:`e^{s}` with :math:`s < -1200` are dropped: they change no float64
result (:math:`e^{-1200} < 10^{-521}`).

**The stated bounds.** With :math:`u_w` the unit roundoff of the work dtype
(float32 for float16 input, else the input's own float dtype), :math:`u_o` that
of the output if it is narrower (float16; else 0), :math:`s_j = (z_j - m)/T`,
:math:`S = \min(\max_j |s_j|, L_w)` (:math:`L_w` the exponent range of ``exp``
in the work dtype: beyond it a term is 0 and its error does not matter),
:math:`\lambda = \log_2 K` and :math:`\sigma_w, \sigma_o` the smallest subnormals:

* the sum :math:`r = \sum_{j \ne j^*} e^{s_j}` has relative error at most
  :math:`\varepsilon_r = (2S + 2\lambda + 8)\,u_w` (each exponent is off by
  :math:`2|s_j|u_w` after the shift and the division by :math:`T`, ``exp``
  adds :math:`4u_w`, pairwise summation :math:`\lambda u_w`);
* softmax: :math:`|\hat p_j - p_j| \le p_j\big((3\min(|s_j|, L_w) + 3S + 2\lambda + 16)u_w + u_o\big)
  + K\sigma_w + \sigma_o`;
* log-softmax, maximal entry (:math:`s_j = 0`, full relative accuracy as documented):
  :math:`|\hat\ell_j - \ell_j| \le |\ell_j|(\varepsilon_r + 3u_w + u_o) + K\sigma_w + \sigma_o`;
  other entries: :math:`u_w(3|s_j| + |\ell_j| + \log K) + \varepsilon_r + u_o|\ell_j| + K\sigma_w + \sigma_o`;
* log-sum-exp: :math:`u_w(2|\mathrm{LSE}| + \lambda + 2) + \varepsilon_r + u_o|\mathrm{LSE}| + K\sigma_w + \sigma_o`.

Each bound also allows :math:`u_{64}|x|` for the rounding of the reference itself.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Sequence

from mpmath import mp

from _harness import U64, Precision

PREC = 128
CUT = 1200
NEG_INF = float("-inf")


def _log2k(k: int) -> float:
    return math.log2(k) if k > 1 else 0.0


def _f(x: Any) -> float:
    return float(x)


def _log_total(s: Sequence[Any]) -> Any:
    r""":math:`\log \sum_j e^{s_j}` for shifted exponents (one of them 0), as ``log1p`` of the other terms:
    at 128 bits, ``log(1 + r)`` would lose :math:`r` below :math:`2^{-128}` relative to 1."""
    first = next(i for i, x in enumerate(s) if x is not None and x == 0)
    r = mp.fsum(mp.exp(x) for i, x in enumerate(s) if i != first and x is not None and x > -CUT)
    return mp.log1p(r)


def softmax_family_row(vals: Sequence[Any], t: float, prec: Precision,
                       kind: str) -> tuple[list[float], list[float]]:
    """``kind`` in {"softmax", "log_softmax", "lse"} of one row of exact values (finite or -inf, one finite).

    Returns the float64 values (one for "lse") and their bounds (see the module docstring).
    """
    k = len(vals)
    lam = _log2k(k)
    with mp.workprec(PREC):
        finite = [v for v in vals if v != NEG_INF]
        m = max(finite)
        mm, tt = mp.mpf(m), mp.mpf(t)
        s = [None if v == NEG_INF else (mp.mpf(v) - mm) / tt for v in vals]
        logtot = _log_total(s)
        smax = min(max(abs(_f(si)) for si in s if si is not None), prec.cap)
        eps_r = (2 * smax + 2 * lam + 8) * prec.u_w
        tiny = k * prec.sub_w + prec.sub_o
        if kind == "lse":
            val = _f(mm + logtot)
            return [val], [prec.u_w * (2 * abs(val) + lam + 2) + eps_r + (prec.u_o + U64) * abs(val) + tiny]
        out, bound = [], []
        for si in s:
            if si is None:
                out.append(0.0 if kind == "softmax" else NEG_INF)
                bound.append(0.0)
                continue
            ell = si - logtot
            abs_s = abs(_f(si))
            if kind == "softmax":
                p = _f(mp.exp(ell)) if ell > -CUT else 0.0
                out.append(p)
                bound.append(p * ((3 * min(abs_s, prec.cap) + 3 * smax + 2 * lam + 16) * prec.u_w + prec.u_o + U64)
                             + tiny)
            else:
                lv = _f(ell)
                out.append(lv)
                if si == 0:
                    bound.append(abs(lv) * (eps_r + 3 * prec.u_w + prec.u_o + U64) + tiny)
                else:
                    bound.append(prec.u_w * (3 * abs_s + abs(lv) + math.log(k)) + eps_r
                                 + (prec.u_o + U64) * abs(lv) + tiny)
        return out, bound


def weighted_sum_row(vals: Sequence[Any], b: Sequence[float]) -> tuple[Any, Any, Any, int]:
    r"""``(m, S, A, K_used)`` of a row for ``logsumexp(..., b=)``: the maximum ``m`` over the entries with
    ``b != 0`` and the exact :math:`S = \sum_j b_j e^{z_j - m}`, :math:`A = \sum_j |b_j| e^{z_j - m}` (mpf).

    ``m`` is None when no entry has ``b != 0`` or all those are -inf.
    """
    used = [(v, w) for v, w in zip(vals, b) if w != 0 and v != NEG_INF]
    if not used:
        return None, mp.zero, mp.zero, 0
    m = max(v for v, _ in used)
    with mp.workprec(PREC):
        mm = mp.mpf(m)
        pairs = [(mp.mpf(w), mp.mpf(v) - mm) for v, w in used]
        s = mp.fsum(w * mp.exp(x) for w, x in pairs if x > -CUT)
        a = mp.fsum(abs(w) * mp.exp(x) for w, x in pairs if x > -CUT)
        return m, s, a, len(used)


def sigmoid_value(x: float) -> float:
    with mp.workprec(PREC):
        if x == math.inf:
            return 1.0
        if x == -math.inf:
            return 0.0
        return _f(1 / (1 + mp.exp(-mp.mpf(x))))


def softplus(x: Any) -> Any:
    """:math:`\\log(1 + e^x)` in mpmath (``x`` an mpf)."""
    if x > 50:
        return x + mp.log1p(mp.exp(-x))
    return mp.log1p(mp.exp(x))


def log_softmax_mp(vals: Sequence[Any]) -> tuple[list[Any], float]:
    """Exact log-probabilities (mpf, ``-inf`` for ``-inf`` logits) of one row and ``S`` (as in the docstring)."""
    with mp.workprec(PREC):
        m = max(v for v in vals if v != NEG_INF)
        mm = mp.mpf(m)
        s = [None if v == NEG_INF else mp.mpf(v) - mm for v in vals]
        logtot = _log_total(s)
        smax = max(abs(_f(x)) for x in s if x is not None)
        return [mp.ninf if x is None else x - logtot for x in s], smax


def log_softmax_bound(ell: Any, s_abs: float, smax: float, k: int, prec: Precision) -> float:
    """The log-softmax bound of the module docstring for one entry, work-dtype part only (no output rounding)."""
    lam = _log2k(k)
    eps_r = (2 * min(smax, prec.cap) + 2 * lam + 8) * prec.u_w
    lv = abs(_f(ell))
    if s_abs == 0:
        return lv * (eps_r + 3 * prec.u_w) + k * prec.sub_w
    return prec.u_w * (3 * s_abs + lv + math.log(k)) + eps_r + k * prec.sub_w


# --------------------------------------------------------------------------- sparsemax (exact rationals)
def sparsemax_row(vals: Sequence[float]) -> list[Fraction]:
    """Exact sparsemax of one row (finite or -inf values, one finite) in rational arithmetic."""
    finite = sorted((Fraction(v) for v in vals if v != NEG_INF), reverse=True)
    cum, tau = Fraction(0), None
    for i, zi in enumerate(finite, start=1):
        cum += zi
        if 1 + i * zi > cum:
            tau = (cum - 1) / i
    assert tau is not None
    return [Fraction(0) if v == NEG_INF else max(Fraction(v) - tau, Fraction(0)) for v in vals]
