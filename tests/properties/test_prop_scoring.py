r"""Properties of ``softmax_nb.scoring`` (and the binned metrics of ``softmax_nb.calibration``).

References are direct loops over the samples in exact rational arithmetic (Fraction), rounded
once; the bins are the right-closed bins :math:`((m-1)/M, m/M]` of ``reliability_curve``, found
by comparing each value with the doubles ``m/M``. The package computes in float64, so each
bound is a small multiple of :math:`u_{64}` times the size of the terms (stated per test).
The Wilson interval is checked against mpmath.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from mpmath import mp

import softmax_nb as snb
from _gen import FLOAT_DTYPES, prob_rows, probabilities
from _harness import U64, Expected, assert_within, budget, call_checked
from _refs import PREC


# --------------------------------------------------------------------------- inputs
@st.composite
def scored(draw, simplex: bool = False):
    """``(probs, labels, valid)``: (N, K) probabilities of some dtype and labels, valid in 3 of 4 examples."""
    valid = draw(st.integers(0, 3)) > 0
    n, k = draw(st.integers(1, 8)), draw(st.integers(1, 4))
    dtype = np.dtype(draw(st.sampled_from(FLOAT_DTYPES)))
    if simplex or draw(st.booleans()):
        p = draw(prob_rows(n, k)).astype(dtype)
    else:
        p = draw(hnp.arrays(dtype, (n, k), elements=probabilities(dtype)))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, k - 1)))
    if not valid:
        how = draw(st.sampled_from(["shape", "labels", "label_shape", "value", "empty"]))
        if how == "shape":
            p = p.reshape(-1) if draw(st.booleans()) else p[None]
        elif how == "labels":
            y[0] = draw(st.sampled_from([-1, k]))
        elif how == "label_shape":
            y = y[:-1] if draw(st.booleans()) else y[:, None]
        elif how == "value":
            p.flat[0] = draw(st.sampled_from([np.nan, np.inf, -0.25, 1.5]))
        else:
            p, y = p[:0], y[:0]
    return p, y


def _expect_scored(p, y, exp):
    """The refusals of ``check_matrix_and_labels`` and ``check_probabilities``."""
    if p.ndim != 2 or 0 in p.shape:
        return exp.refuse(ValueError, "probs")
    if y.shape != (p.shape[0],) or y.min() < 0 or y.max() >= p.shape[1]:
        exp.refuse(ValueError, "labels")
    if not (np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1):
        exp.refuse(ValueError, "probs")
    return exp


def _bin(v: float, m: int) -> int:
    """Right-closed equal-width bin of v in [0, 1], by comparison with the doubles j/M."""
    below = sum(1 for j in range(m + 1) if j / m < v)
    return min(max(below - 1, 0), m - 1)


def _f(x: Fraction) -> float:
    return float(x)


# --------------------------------------------------------------------------- Brier
@budget(150)
@given(scored())
def test_brier_score_matches_exact(case):
    r"""brier_score: :math:`\frac1N\sum_i\sum_k (p_{ik} - [y_i = k])^2` within :math:`(K + N + 4)u_{64}` relative."""
    p, y = case
    exp = _expect_scored(p, y, Expected())
    val = call_checked(snb.brier_score, p, y).check(exp)
    if val is None:
        return
    q = p.astype(np.float64)
    ref = _f(sum((Fraction(q[i, j]) - (j == y[i])) ** 2 for i in range(q.shape[0]) for j in range(q.shape[1]))
             / q.shape[0])
    assert isinstance(val, (float, np.floating))
    assert_within(np.float64(val), ref, (sum(q.shape) + 4) * U64 * ref, what="brier_score")


@budget(100)
@given(scored(), st.one_of(st.none(), st.integers(1, 6), st.sampled_from([0, -1])))
def test_brier_decomposition_matches_exact(case, n_bins):
    r"""brier_decomposition: each of reliability, resolution, uncertainty and the within-bin term equals the
    grouped sums of Murphy (1973) / Stephenson et al. (2008) computed exactly, within :math:`64 K N u_{64}`;
    the five numbers add up within the same bound; n_bins < 1: a ValueError naming n_bins."""
    p, y = case
    exp = _expect_scored(p, y, Expected())
    if n_bins is not None and n_bins < 1:
        exp.refuse(ValueError, "n_bins")
    val = call_checked(snb.brier_decomposition, p, y, n_bins).check(exp)
    if val is None:
        return
    q = p.astype(np.float64)
    n, k = q.shape
    rel = res = unc = within = Fraction(0)
    for c in range(k):
        o = [Fraction(int(y[i] == c)) for i in range(n)]
        pc = [Fraction(q[i, c]) for i in range(n)]
        base = sum(o) / n
        groups: dict = {}
        for i in range(n):
            key = q[i, c] if n_bins is None else _bin(q[i, c], n_bins)
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            g = len(members)
            pb = sum(pc[i] for i in members) / g
            ob = sum(o[i] for i in members) / g
            rel += g * (pb - ob) ** 2 / n
            res += g * (ob - base) ** 2 / n
            if n_bins is not None:
                var = sum(pc[i] ** 2 for i in members) / g - pb ** 2
                cov = sum(pc[i] * o[i] for i in members) / g - pb * ob
                within += g * (var - 2 * cov) / n
        unc += base * (1 - base)
    brier = sum((pc_ - (j == y[i])) ** 2 for i in range(n) for j, pc_ in enumerate(map(Fraction, q[i]))) / n
    ref = np.array([_f(brier), _f(rel), _f(res), _f(unc), _f(within)])
    got = np.array(list(val), dtype=np.float64)
    bound = 64 * k * n * U64
    assert_within(got, ref, bound, what=f"brier_decomposition(n_bins={n_bins})")
    assert abs(got[0] - (got[1] - got[2] + got[3] + got[4])) <= 4 * bound


# --------------------------------------------------------------------------- ECE variants
def _ece_ref(conf, correct, idx, m, n):
    gaps = [Fraction(0)] * m
    for c, ok, b in zip(conf, correct, idx):
        gaps[b] += Fraction(int(ok)) - Fraction(c)
    return _f(sum(abs(g) for g in gaps) / n)


@budget(100)
@given(scored(), st.one_of(st.integers(1, 6), st.sampled_from([0, 15])))
def test_classwise_and_adaptive_ece_match_exact(case, n_bins):
    r"""classwise_ece (mean over classes of the binned |frequency - mean p|) and adaptive_ece (equal-mass groups
    of the sorted confidences, sizes as numpy.array_split) equal their definitions within :math:`8N u_{64}`."""
    p, y = case
    exp = _expect_scored(p, y, Expected())
    if n_bins < 1:
        exp.refuse(ValueError, "n_bins")
    cw = call_checked(snb.classwise_ece, p, y, n_bins).check(exp)
    ad = call_checked(snb.adaptive_ece, p, y, n_bins).check(exp)
    if cw is None:
        assert ad is None
        return
    q = p.astype(np.float64)
    n, k = q.shape
    ref_cw = sum(_ece_ref(q[:, c], y == c, [_bin(v, n_bins) for v in q[:, c]], n_bins, n) for c in range(k)) / k
    assert_within(np.float64(cw), ref_cw, 8 * n * U64, what="classwise_ece")
    pred = [int(np.argmax(r)) for r in q]
    conf = [q[i, pred[i]] for i in range(n)]
    order = sorted(range(n), key=lambda i: conf[i])  # stable, as the package's sort
    sizes = [n // n_bins + (1 if g < n % n_bins else 0) for g in range(n_bins)]
    idx = [0] * n
    pos = 0
    for g, size in enumerate(sizes):
        for i in order[pos:pos + size]:
            idx[i] = g
        pos += size
    ref_ad = _ece_ref(conf, [pred[i] == y[i] for i in range(n)], idx, n_bins, n)
    assert_within(np.float64(ad), ref_ad, 8 * n * U64, what="adaptive_ece")


@st.composite
def noise_cases(draw):
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    p = draw(prob_rows(n, k))
    if draw(st.integers(0, 5)) == 0:
        p = p.copy()
        p[0] *= draw(st.sampled_from([0.99, 1.01]))  # rows must sum to 1 within 1e-6
    n_bins = draw(st.one_of(st.integers(1, 5), st.just(0)))
    n_draws = draw(st.one_of(st.integers(1, 8), st.just(0)))
    rng = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1),
                         st.integers(0, 2**32 - 1).map(np.random.default_rng)))
    return p, n_bins, n_draws, rng


@budget(100)
@given(noise_cases())
def test_ece_noise_floor_matches_label_redraws(case):
    """ece_noise_floor: for each draw, labels redrawn by inverse CDF from the same uniforms (rng.random((draws, N)),
    a copy of the generator; None is seed 0), then the ECE of probs against them, within 8 N u64."""
    p, n_bins, n_draws, rng = case
    exp = Expected()
    if not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-6):
        exp.refuse(ValueError, "probs")
    if n_bins < 1:
        exp.refuse(ValueError, "n_bins")
    if n_draws < 1:
        exp.refuse(ValueError, "n_draws")
    twin = (np.random.default_rng(0) if rng is None else
            copy.deepcopy(rng) if isinstance(rng, np.random.Generator) else np.random.default_rng(rng))
    val = call_checked(snb.ece_noise_floor, p, n_bins, n_draws, rng).check(exp)
    if val is None:
        return
    n, k = p.shape
    u = twin.random((n_draws, n))
    cdf = np.cumsum(p, axis=1)
    pred = [int(np.argmax(r)) for r in p]
    conf = [p[i, pred[i]] for i in range(n)]
    idx = [_bin(c, n_bins) for c in conf]
    ref = []
    for d in range(n_draws):
        labels = [next((j for j in range(k - 1) if u[d, i] < cdf[i, j]), k - 1) for i in range(n)]
        ref.append(_ece_ref(conf, [labels[i] == pred[i] for i in range(n)], idx, n_bins, n))
    assert isinstance(val, np.ndarray) and val.shape == (n_draws,) and val.dtype == np.float64
    assert_within(val, np.array(ref), 8 * n * U64, what="ece_noise_floor")


# --------------------------------------------------------------------------- Wilson interval
@st.composite
def wilson_cases(draw):
    shape = draw(st.sampled_from([(), (3,), (2, 1)]))
    n = draw(hnp.arrays(np.int64, shape, elements=st.one_of(st.integers(1, 50), st.integers(1, 2**53),
                                                          st.sampled_from([0, -1]))))
    frac = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1)))
    s = np.floor(frac * np.maximum(n, 0)).astype(np.int64)
    if draw(st.integers(0, 5)) == 0 and s.size:
        s.flat[0] = draw(st.sampled_from([-1, int(n.flat[0]) + 1]))
    if draw(st.integers(0, 3)) == 0:  # integral floats are accepted
        s, n = s.astype(np.float64), n.astype(np.float64)
        if draw(st.integers(0, 3)) == 0 and s.size:
            s.flat[0] += 0.5
        if draw(st.integers(0, 5)) == 0:  # beyond int64's range
            n.flat[0] = 1e30
    conf = draw(st.one_of(st.sampled_from([0.95, 0.5, 0.99]), st.floats(1e-6, 1 - 1e-9),
                          st.sampled_from([0.0, 1.0, np.nan])))
    return s, n, conf


@budget(150)
@given(wilson_cases())
def test_wilson_interval_matches_exact(case):
    r"""wilson_interval: the Wilson bounds (mpmath) within :math:`64u_{64}(1 + z^2)` absolute, low exactly 0 at
    s = 0 and high exactly 1 at s = n, 0 <= low <= s/n <= high <= 1; bad counts or confidence: a ValueError
    naming successes, n or confidence."""
    s, n, conf = case
    exp = Expected()
    for name, v in (("successes", s), ("n", n)):
        if v.dtype.kind == "f" and np.any(v != np.round(v)):
            exp.refuse(ValueError, name)
    if not 0 < conf < 1:
        exp.refuse(ValueError, "confidence")
    if not exp:
        if np.any(n < 1):
            exp.refuse(ValueError, "n")
        elif np.any(s < 0) or np.any(s > n):
            exp.refuse(ValueError, "successes")
    val = call_checked(snb.wilson_interval, s, n, confidence=conf).check(exp)
    if val is None:
        return
    low, high = val
    with mp.workprec(PREC):
        z = mp.sqrt(2) * mp.erfinv(mp.mpf(conf))
        ref_lo, ref_hi = [], []
        for si, ni in zip(np.broadcast_to(s, low.shape).ravel(), np.broadcast_to(n, low.shape).ravel()):
            si, ni = mp.mpf(int(si)), mp.mpf(int(ni))
            ph = si / ni
            d = 1 + z * z / ni
            c = (ph + z * z / (2 * ni)) / d
            h = z / d * mp.sqrt(ph * (1 - ph) / ni + z * z / (4 * ni * ni))
            ref_lo.append(0.0 if si == 0 else float(max(c - h, 0)))
            ref_hi.append(1.0 if si == ni else float(min(c + h, 1)))
        bound = 64 * U64 * (1 + float(z) ** 2)
    assert low.dtype == np.float64 and high.dtype == np.float64
    assert_within(low.ravel(), ref_lo, bound, what="wilson low")
    assert_within(high.ravel(), ref_hi, bound, what="wilson high")
    ratio = np.broadcast_to(s / n, low.shape)
    assert np.all((0 <= low) & (low <= ratio) & (ratio <= high) & (high <= 1))
    assert np.all(low[np.broadcast_to(s == 0, low.shape)] == 0)
    assert np.all(high[np.broadcast_to(s == n, low.shape)] == 1)


# --------------------------------------------------------------------------- calibration: reliability, ECE
@budget(120)
@given(scored(), st.one_of(st.integers(1, 6), st.sampled_from([0, 15])))
def test_reliability_curve_and_ece_match_exact(case, n_bins):
    r"""reliability_curve: per right-closed bin the count, mean confidence and accuracy (NaN exactly for empty
    bins, as documented), within :math:`4N u_{64}`; expected_calibration_error the count-weighted gap within
    :math:`8N u_{64}`."""
    p, y = case
    exp = _expect_scored(p, y, Expected())
    if n_bins < 1:
        exp.refuse(ValueError, "n_bins")
    curve = call_checked(snb.reliability_curve, p, y, n_bins).check(exp, allow_nan=True)
    ece = call_checked(snb.expected_calibration_error, p, y, n_bins).check(exp)
    if curve is None:
        assert ece is None
        return
    q = p.astype(np.float64)
    n = q.shape[0]
    pred = [int(np.argmax(r)) for r in q]
    conf = [q[i, pred[i]] for i in range(n)]
    idx = [_bin(c, n_bins) for c in conf]
    counts = np.bincount(idx, minlength=n_bins)
    edges, mean_conf, acc, cnt = curve
    np.testing.assert_array_equal(edges, [j / n_bins for j in range(n_bins + 1)])
    np.testing.assert_array_equal(cnt, counts)
    full = counts > 0
    assert np.isnan(mean_conf[~full]).all() and np.isnan(acc[~full]).all()
    ref_conf = [_f(sum(Fraction(conf[i]) for i in range(n) if idx[i] == b) / counts[b]) for b in np.flatnonzero(full)]
    ref_acc = [_f(Fraction(sum(1 for i in range(n) if idx[i] == b and pred[i] == y[i]), int(counts[b])))
               for b in np.flatnonzero(full)]
    assert_within(mean_conf[full], ref_conf, 4 * n * U64, what="reliability_curve confidence")
    assert_within(acc[full], ref_acc, 4 * n * U64, what="reliability_curve accuracy")
    ref_ece = _ece_ref(conf, [pred[i] == y[i] for i in range(n)], idx, n_bins, n)
    assert_within(np.float64(ece), ref_ece, 8 * n * U64, what="expected_calibration_error")
