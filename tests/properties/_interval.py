r"""Reference values with a rigorous bound on the package's rounding error (phase 2 of the property suite).

The phase-2 properties (attention, streaming, decoding, vocab, charlm) compare a
result with the exact value of its formula, computed here in ``numpy.longdouble``
(x87 extended precision on x86-64: 64-bit significand, exponent range to
:math:`10^{4932}`, so no score, logit or product of float64 inputs overflows or
loses more than :math:`2^{-64}` relatively), and with a bound on the error that a
computation in the *work dtype* (float32 for float16 input, else the input's
dtype; ``_harness.precision``) may make.

An :class:`Approx` is a pair ``(val, err)``: the exact value and a bound on
``|computed - val|`` for any order of evaluation in the work dtype. Each operation
propagates the bound with the textbook model :math:`\mathrm{fl}(a \circ b) = (a
\circ b)(1 + \delta)`, :math:`|\delta| \le u`, where :math:`u` is the unit
roundoff of the work dtype plus that of the reference (``U_REF``), and an absolute
:math:`\sigma` (the work dtype's smallest subnormal) per operation for underflow:

* a product of sums of :math:`n` terms (``matmul``): :math:`|A||\Delta B| +
  |\Delta A|(|B| + |\Delta B|) + \gamma_{n+1}(|A| + |\Delta A|)(|B| + |\Delta B|)
  + (n + 1)\sigma`, with :math:`\gamma_n = nu/(1 - nu)` (Higham, *Accuracy and
  Stability of Numerical Algorithms*, §3.1);
* ``exp`` of a shifted exponent :math:`x \le 0` known to :math:`\pm e`:
  :math:`e^{x}(e^{e}(1 + 4u) - 1) + \sigma` (``exp`` itself within 2 ulps);
* a quotient by :math:`b > \Delta b`: :math:`(\Delta a + |a/b|\,\Delta b)/(b -
  \Delta b) + u|a/b|`; a logarithm of :math:`b > \Delta b`:
  :math:`-\log(1 - \Delta b/b) + 2u|\log b|`.

A bound that the inputs make infinite (an ill-conditioned example: two huge,
nearly equal scores) accepts any value; the properties then still check what
holds regardless of rounding (no NaN, convex combinations, shapes, dtypes).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from _harness import U64, Precision, assert_within

LD = np.longdouble
#: The reference's own unit roundoff, added to every operation's bound.
U_REF = float(np.finfo(LD).eps)
#: True where longdouble is wider than float64 (x86-64 Linux); else float64 examples beyond float64 are skipped.
WIDE = float(np.log10(np.finfo(LD).max)) > 400


def ld(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=LD)


@dataclass
class Work:
    """The rounding of one computation: ``u`` (unit roundoff, reference's included) and ``sub`` (underflow)."""

    u: float
    sub: float

    @classmethod
    def of(cls, prec: Precision) -> Work:
        return cls(prec.u_w + U_REF, prec.sub_w)

    def gamma(self, n: int) -> float:
        nu = (n + 1) * self.u
        return nu / (1 - nu) if nu < 0.5 else math.inf


@dataclass
class Approx:
    """An exact value (longdouble) and a bound on the package's absolute error (longdouble, >= 0)."""

    val: np.ndarray
    err: np.ndarray

    @classmethod
    def exact(cls, x: Any) -> Approx:
        v = ld(x)
        return cls(v, np.zeros(v.shape, LD))

    @property
    def mag(self) -> np.ndarray:
        """:math:`|v| + \\Delta v`, a bound on the computed value's magnitude."""
        with np.errstate(invalid="ignore"):
            return np.abs(self.val) + self.err

    def __getitem__(self, idx: Any) -> Approx:
        return Approx(self.val[idx], self.err[idx])

    @property
    def T(self) -> Approx:  # noqa: N802 - numpy's name
        return Approx(np.swapaxes(self.val, -1, -2), np.swapaxes(self.err, -1, -2))


def _nz(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), LD(np.inf), x)


def scale(a: Approx, s: Any, w: Work) -> Approx:
    """``s * a`` rounded once (``s`` exact: a float or a longdouble)."""
    s_ = LD(s)
    val = s_ * a.val
    with np.errstate(all="ignore"):
        err = abs(s_) * a.err + w.u * abs(s_) * a.mag + w.sub
    return Approx(val, _nz(err))


def matmul(a: Approx, b: Approx, w: Work, extra_terms: int = 0) -> Approx:
    """``a @ b`` summed in any order (``extra_terms``: further additions into the same accumulator)."""
    n = a.val.shape[-1] + extra_terms
    with np.errstate(all="ignore"):
        val = a.val @ b.val
        err = (np.abs(a.val) @ b.err + a.err @ b.mag + w.gamma(n) * (a.mag @ b.mag) + (n + 1) * w.sub)
    return Approx(val, _nz(err))


def mul(a: Approx, b: Approx, w: Work) -> Approx:
    """Elementwise ``a * b`` rounded once."""
    with np.errstate(all="ignore"):
        val = a.val * b.val
        err = np.abs(a.val) * b.err + a.err * b.mag + w.u * a.mag * b.mag + w.sub
    return Approx(val, _nz(err))


def add(a: Approx, b: Approx, w: Work, sign: int = 1) -> Approx:
    """``a + sign * b`` rounded once."""
    with np.errstate(all="ignore"):
        val = a.val + sign * b.val
        err = a.err + b.err + w.u * (a.mag + b.mag)
    return Approx(val, _nz(err))


def total(a: Approx, axis: Any, w: Work, extra_terms: int = 0) -> Approx:
    """A sum along ``axis`` in any order."""
    n = int(np.prod([a.val.shape[i] for i in np.atleast_1d(axis)])) if a.val.ndim else 1
    with np.errstate(all="ignore"):
        val = np.sum(a.val, axis=axis)
        err = np.sum(a.err, axis=axis) + w.gamma(n + extra_terms) * np.sum(a.mag, axis=axis)
    return Approx(val, _nz(err))


def exp_shifted(x: np.ndarray, ex: np.ndarray, w: Work) -> Approx:
    r""":math:`e^{x}` of an exponent computed to within ``ex`` (``x = -inf``: exactly 0)."""
    x, ex = ld(x), ld(ex)
    with np.errstate(all="ignore"):
        val = np.where(np.isneginf(x), LD(0), np.exp(x))
        up = np.exp(x + ex) * (1 + 4 * w.u)
        err = np.where(np.isneginf(x), LD(0), np.where(val > 0, up - val, up) + w.sub)
    return Approx(val, _nz(np.maximum(err, 0)))


def div(a: Approx, b: Approx, w: Work) -> Approx:
    """``a / b`` for ``b > 0``; an infinite bound where ``b`` might be 0."""
    with np.errstate(all="ignore"):
        q = a.val / b.val
        room = b.val - b.err
        err = np.where(room > 0, (a.err + np.abs(q) * b.err) / room + w.u * np.abs(q) + w.sub, LD(np.inf))
    return Approx(q, _nz(err))


def log(b: Approx, w: Work) -> Approx:
    """``log b`` for ``b > 0``."""
    with np.errstate(all="ignore"):
        val = np.log(b.val)
        rel = b.err / b.val
        err = np.where(rel < 1, -np.log1p(-rel) + 2 * w.u * np.abs(val) + w.sub, LD(np.inf))
    return Approx(val, _nz(err))


def rounded(a: Approx, prec: Precision) -> Approx:
    """The final rounding to the output dtype (float16 after a float32 computation)."""
    with np.errstate(all="ignore"):
        return Approx(a.val, a.err + prec.u_o * np.abs(a.val) + (prec.sub_o if prec.u_o else 0.0))


def to64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float64)


def check_close(actual: Any, ref: Approx, *, what: str, dtype: Any = None) -> None:
    """``actual`` within ``ref.err`` (plus the rounding of the reference to float64) of ``ref.val``."""
    val = to64(ref.val)
    with np.errstate(all="ignore"):
        bound = to64(ref.err) + U64 * np.abs(val)
    assert_within(actual, val, bound, what=what, dtype=dtype)


# --------------------------------------------------------------------------- softmax-weighted sums
@dataclass
class Weighted:
    """The pieces of :math:`\\sum_j e^{S_j} v_j / \\sum_j e^{S_j}` over the allowed keys of each row."""

    m: np.ndarray  # the row maximum of the allowed scores (exact; -inf for a row with none)
    w: Approx  # e^{S_j - m}, 0 where not allowed
    d: Approx  # sum of w
    has: np.ndarray  # rows with at least one allowed key
    lse: Approx  # m + log d (-inf, exactly, for rows with none)


def softmax_pieces(scores: Approx, allowed: np.ndarray, w: Work, *, blocks: int = 1,
                   extra_terms: int = 0) -> Weighted:
    r"""The weights :math:`e^{S_j - m}` and their sum, as an online softmax over ``blocks`` blocks computes them.

    The computed exponent is :math:`\hat S_j - \hat m` rounded, off by at most
    :math:`\Delta S_j + \max_i \Delta S_i + u|S_j - m| + u(\ldots)`; each of the ``blocks - 1`` rescalings
    :math:`e^{m_{b} - m_{b+1}}` multiplies the weight by a factor that is itself off by
    :math:`u|m_b - m_{b+1}| + 6u` (their exponents add up to at most :math:`|S_j - m|`). The computed
    maximum :math:`\hat m` is off by at most the error of a score that can compete for the maximum
    (:math:`S_i + \Delta S_i \ge m - \Delta S_{j^*}`), so a far smaller score with a huge error (a weight
    that underflows anyway) does not spoil the bound of the others.
    """
    s, e = scores.val, scores.err
    with np.errstate(all="ignore"):
        masked = np.where(allowed, s, LD(-np.inf))
        m = np.max(masked, axis=-1) if s.shape[-1] else np.full(s.shape[:-1], LD(-np.inf))
        has = np.isfinite(m)
        m_safe = np.where(has, m, LD(0))
        if s.shape[-1]:
            e_top = np.take_along_axis(e, np.argmax(masked, axis=-1)[..., None], axis=-1)
            rival = allowed & (s + e >= m_safe[..., None] - e_top)
            e_max = np.max(np.where(rival, e, LD(0)), axis=-1)
        else:
            e_max = np.zeros(s.shape[:-1], LD)
        x = masked - m_safe[..., None]
        ax = np.abs(np.where(allowed, x, LD(0)))
        ex = (e + e_max[..., None]) * (1 + 2 * w.u) + 2 * w.u * ax + blocks * 6 * w.u
    wts = exp_shifted(np.where(allowed, x, LD(-np.inf)), np.where(allowed, ex, LD(0)), w)
    d = total(wts, -1, w, extra_terms=2 * blocks + extra_terms)
    d = Approx(np.where(has, d.val, LD(0)), np.where(has, d.err, LD(0)))
    lg = log(Approx(np.where(has, d.val, LD(1)), np.where(has, d.err, LD(0))), w)
    with np.errstate(all="ignore"):
        lse_val = np.where(has, m_safe + lg.val, LD(-np.inf))
        lse_err = np.where(has, e_max + lg.err + w.u * (np.abs(lse_val) + np.abs(m_safe)) + w.sub, LD(0))
    return Weighted(m, wts, d, has, Approx(lse_val, _nz(lse_err)))


def weighted_output(p: Weighted, values: Approx, w: Work, *, blocks: int = 1) -> Approx:
    """:math:`\\sum_j w_j v_j / d` per row; exactly 0 for a row with no allowed key."""
    o = matmul(p.w, values, w, extra_terms=2 * blocks)
    safe_d = Approx(np.where(p.has, p.d.val, LD(1)), p.d.err)
    out = div(o, Approx(safe_d.val[..., None], safe_d.err[..., None]), w)
    has = p.has[..., None]
    return Approx(np.where(has, out.val, LD(0)), np.where(has, out.err, LD(0)))


# --------------------------------------------------------------------------- a generator
@functools.lru_cache(maxsize=None)
def _elements(dtype, bound: float) -> st.SearchStrategy:
    dt = np.dtype(dtype)
    width = {2: 16, 4: 32, 8: 64}[dt.itemsize]
    b = min(float(bound), float(np.finfo(dt).max))
    if float(dt.type(b)) > b:  # the nearest value of the dtype below the bound
        b = float(np.nextafter(dt.type(b), dt.type(0)))
    b = float(dt.type(b))
    return st.one_of(st.floats(-b, b, width=width),
                     st.sampled_from([0.0, -0.0, float(np.finfo(dt).smallest_subnormal), b, -b]))


@functools.lru_cache(maxsize=None)
def _arrays(dtype, shape, bound: float) -> st.SearchStrategy:
    return hnp.arrays(np.dtype(dtype), shape, elements=_elements(np.dtype(dtype), float(bound)))


def arrays(dtype, shape, bound: float) -> st.SearchStrategy:
    """Arrays of ``dtype`` with finite entries up to ``bound``: zeros, signed zeros, subnormals, the bound."""
    return _arrays(np.dtype(dtype), tuple(shape), float(bound))
