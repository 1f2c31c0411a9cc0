"""Tests of softmax_nb.scoring against direct loops and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import softmax_nb as snb
from softmax_nb import expected_calibration_error
from softmax_nb.scoring import (
    adaptive_ece,
    brier_decomposition,
    brier_score,
    classwise_ece,
    ece_noise_floor,
    wilson_interval,
)


def random_case(seed, n=200, k=4, concentration=1.0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, concentration), size=n)
    y = rng.integers(0, k, size=n)
    return p, y


def loop_bin(value, n_bins):
    """Bin of a value in right-closed bins ((m-1)/M, m/M], 0 in the first: a plain loop."""
    for m in range(n_bins):
        lo, hi = m / n_bins, (m + 1) / n_bins
        if (value > lo or (m == 0 and value >= lo)) and value <= hi:
            return m
    raise AssertionError(value)


def loop_brier(p, y):
    total = 0.0
    for i in range(len(y)):
        for k in range(p.shape[1]):
            total += (p[i, k] - (1.0 if y[i] == k else 0.0)) ** 2
    return total / len(y)


def loop_classwise(p, y, n_bins):
    n, k = p.shape
    total = 0.0
    for c in range(k):
        for m in range(n_bins):
            members = [i for i in range(n) if loop_bin(p[i, c], n_bins) == m]
            if members:
                acc = sum(1.0 for i in members if y[i] == c) / len(members)
                conf = sum(p[i, c] for i in members) / len(members)
                total += len(members) / n * abs(acc - conf)
    return total / k


def loop_adaptive(p, y, n_bins):
    n = len(y)
    conf = [max(row) for row in p]
    pred = [int(np.argmax(row)) for row in p]
    order = sorted(range(n), key=lambda i: conf[i])  # Python's sort is stable
    total = 0.0
    for group in np.array_split(np.array(order, dtype=int), n_bins):
        if len(group):
            acc = sum(1.0 for i in group if pred[i] == y[i]) / len(group)
            c = sum(conf[i] for i in group) / len(group)
            total += len(group) / n * abs(acc - c)
    return total


@pytest.mark.parametrize("seed", range(5))
def test_brier_matches_loop(seed):
    p, y = random_case(seed)
    assert brier_score(p, y) == pytest.approx(loop_brier(p, y), rel=1e-13)


def test_brier_extremes_and_small_example():
    assert brier_score([[1.0, 0.0], [0.0, 1.0]], [0, 1]) == 0.0
    assert brier_score([[1.0, 0.0]], [1]) == 2.0
    assert brier_score([[0.8, 0.2], [0.5, 0.5]], [0, 1]) == pytest.approx(0.29, abs=1e-15)


def test_brier_is_strictly_proper():
    # expected score under true q, reported p: sum_k q_k * BS(p, k) is minimised at p = q
    q = np.array([0.6, 0.3, 0.1])
    def expected(p):
        return sum(q[k] * brier_score([p], [k]) for k in range(3))
    rng = np.random.default_rng(0)
    best = expected(q)
    for p in rng.dirichlet(np.ones(3), size=200):
        assert expected(p) > best


@pytest.mark.parametrize("n_bins", [None, 1, 5, 15])
@pytest.mark.parametrize("seed", range(3))
def test_brier_decomposition_adds_up(seed, n_bins):
    p, y = random_case(seed)
    d = brier_decomposition(p, y, n_bins=n_bins)
    assert d.brier == pytest.approx(brier_score(p, y), rel=1e-14)
    assert d.reliability - d.resolution + d.uncertainty + d.within_bin == pytest.approx(d.brier, rel=1e-12)
    assert d.reliability >= 0 and d.resolution >= 0
    if n_bins is None:
        assert d.within_bin == 0.0


def test_brier_decomposition_loop_on_discrete_forecasts():
    # forecasts take few distinct values: Murphy's groups are those values
    rng = np.random.default_rng(3)
    table = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]])
    which = rng.integers(0, 3, size=300)
    p, y = table[which], rng.integers(0, 3, size=300)
    rel = res = unc = 0.0
    for k in range(3):
        o = (y == k).astype(float)
        base = o.mean()
        unc += base * (1 - base)
        for v in np.unique(p[:, k]):
            g = p[:, k] == v
            rel += g.mean() * (v - o[g].mean()) ** 2
            res += g.mean() * (o[g].mean() - base) ** 2
    d = brier_decomposition(p, y)
    assert (d.reliability, d.resolution, d.uncertainty) == pytest.approx((rel, res, unc), rel=1e-12)
    assert d.uncertainty == pytest.approx(1 - np.sum(np.bincount(y, minlength=3) ** 2) / 300**2, rel=1e-12)


def test_constant_prior_forecast_has_no_resolution():
    p, y = random_case(1)
    prior = np.bincount(y, minlength=4) / len(y)
    const = np.tile(prior, (len(y), 1))
    d = brier_decomposition(const, y)
    assert d.reliability == pytest.approx(0.0, abs=1e-15) and d.resolution == pytest.approx(0.0, abs=1e-15)
    assert d.brier == pytest.approx(d.uncertainty, rel=1e-13)


@pytest.mark.parametrize("n_bins", [1, 3, 15])
@pytest.mark.parametrize("seed", range(3))
def test_classwise_ece_matches_loop(seed, n_bins):
    p, y = random_case(seed, n=120)
    p[:5] = np.round(p[:5] * n_bins) / n_bins  # some values exactly on bin edges (rows need not sum to 1)
    assert classwise_ece(p, y, n_bins) == pytest.approx(loop_classwise(p, y, n_bins), abs=1e-14)


def test_classwise_ece_of_calibrated_constant_is_zero():
    # every row the empirical class frequencies: each class sits in one bin with acc == conf
    _, y = random_case(4, k=5)
    prior = np.bincount(y, minlength=5) / len(y)
    assert classwise_ece(np.tile(prior, (len(y), 1)), y) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("n_bins", [1, 4, 15, 500])
@pytest.mark.parametrize("seed", range(3))
def test_adaptive_ece_matches_loop(seed, n_bins):
    p, y = random_case(seed, n=150, concentration=0.3)
    assert adaptive_ece(p, y, n_bins) == pytest.approx(loop_adaptive(p, y, n_bins), abs=1e-14)


def test_adaptive_ece_one_bin_equals_ece_one_bin():
    p, y = random_case(7)
    assert adaptive_ece(p, y, 1) == pytest.approx(expected_calibration_error(p, y, 1), abs=1e-15)


def test_noise_floor_matches_direct_simulation():
    p, _ = random_case(2, n=80, k=3)
    floor = ece_noise_floor(p, n_bins=10, n_draws=50, rng=np.random.default_rng(11))
    # the same uniforms, used the slow way: label = first class whose cdf exceeds u
    u = np.random.default_rng(11).random((50, 80))
    cdf = np.cumsum(p, axis=1)
    for d in range(50):
        labels = np.array([min(int(np.searchsorted(cdf[i], u[d, i], side="right")), 2) for i in range(80)])
        assert floor[d] == pytest.approx(expected_calibration_error(p, labels, 10), abs=1e-14)


def test_noise_floor_shape_reproducible_and_positive():
    p, _ = random_case(5, n=300, k=10)
    a = ece_noise_floor(p, n_draws=200, rng=3)
    assert a.shape == (200,) and np.all(a >= 0) and np.all(a <= 1)
    assert np.array_equal(a, ece_noise_floor(p, n_draws=200, rng=3))
    assert np.array_equal(ece_noise_floor(p, n_draws=20), ece_noise_floor(p, n_draws=20))  # default seed 0
    # more samples, lower floor (about 1/sqrt(n))
    big = np.tile(p, (16, 1))
    assert ece_noise_floor(big, n_draws=200, rng=3).mean() < 0.5 * a.mean()


def test_noise_floor_of_certain_predictions_is_zero():
    p = np.eye(4)[[0, 1, 2, 3, 1]]
    assert np.all(ece_noise_floor(p, n_draws=30) == 0.0)


@pytest.mark.parametrize("fn", [brier_score, classwise_ece, adaptive_ece, brier_decomposition])
def test_bad_input_raises(fn):
    with pytest.raises(ValueError, match="probs"):
        fn([[0.5, 1.5]], [0])
    with pytest.raises(ValueError, match="probs"):
        fn([[np.nan, 1.0]], [0])
    with pytest.raises(ValueError, match="labels"):
        fn([[0.5, 0.5]], [0, 1])
    with pytest.raises(ValueError):
        fn([[0.5, 0.5]], [2])


def test_noise_floor_bad_input():
    with pytest.raises(ValueError, match="sum to 1"):
        ece_noise_floor([[0.5, 0.2]])
    with pytest.raises(ValueError, match="n_draws"):
        ece_noise_floor([[0.5, 0.5]], n_draws=0)
    with pytest.raises(ValueError, match="n_bins"):
        ece_noise_floor([[0.5, 0.5]], n_bins=0)
    with pytest.raises(ValueError, match="rng"):
        ece_noise_floor([[0.5, 0.5]], rng="seed")
    with pytest.raises(ValueError, match="probs"):
        ece_noise_floor(np.ones((0, 3)))


@settings(max_examples=40)
@given(st.integers(0, 10_000), st.integers(1, 30), st.integers(2, 6))
def test_metrics_in_range(seed, n_bins, k):
    p, y = random_case(seed, n=40, k=k, concentration=0.5)
    for value in (classwise_ece(p, y, n_bins), adaptive_ece(p, y, n_bins)):
        assert 0.0 <= value <= 1.0
    assert 0.0 <= brier_score(p, y) <= 2.0


# ----------------------------------------------------------------- Wilson score interval

def wilson_by_score_test(s, n, z):
    """The Wilson interval as the roots of the score test (pi - s/n)^2 = z^2 pi (1 - pi) / n, by np.roots."""
    p_hat = s / n
    # (1 + z^2/n) pi^2 - (2 p_hat + z^2/n) pi + p_hat^2 = 0
    roots = np.sort(np.roots([1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat]).real)
    return max(roots[0], 0.0), min(roots[1], 1.0)


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.95, 0.99])
def test_wilson_interval_matches_scipy_and_the_score_test(confidence):
    from scipy.stats import binomtest, norm

    z = norm.ppf(0.5 + confidence / 2)
    for n in (1, 2, 5, 13, 100, 1000):
        s = np.arange(n + 1)
        low, high = wilson_interval(s, n, confidence=confidence)
        for si in range(0, n + 1, max(1, n // 25)):
            ref = binomtest(int(si), n).proportion_ci(confidence_level=confidence, method="wilson")
            assert low[si] == pytest.approx(ref.low, rel=1e-12, abs=1e-15)
            assert high[si] == pytest.approx(ref.high, rel=1e-12, abs=1e-15)
            lo_root, hi_root = wilson_by_score_test(si, n, z)
            assert low[si] == pytest.approx(lo_root, rel=1e-8, abs=1e-12)
            assert high[si] == pytest.approx(hi_root, rel=1e-8, abs=1e-12)


def test_wilson_interval_contains_the_proportion_and_hits_the_ends_exactly():
    n = np.array([1, 3, 7, 40, 40, 40])
    s = np.array([0, 3, 2, 0, 17, 40])
    low, high = wilson_interval(s, n)
    assert np.all((0 <= low) & (low <= s / n) & (s / n <= high) & (high <= 1))
    assert low[0] == 0.0 and low[3] == 0.0 and high[1] == 1.0 and high[5] == 1.0
    assert np.all(low[[1, 2, 4, 5]] > 0) and np.all(high[[0, 2, 3, 4]] < 1)
    # known value: 0 of 10 at 95% gives [0, z^2/(n + z^2)]
    z = 1.959963984540054
    assert wilson_interval(0, 10)[1] == pytest.approx(z * z / (10 + z * z), rel=1e-14)


def test_wilson_interval_narrows_with_n_and_widens_with_confidence():
    n = np.array([10, 100, 1000, 10_000])
    low, high = wilson_interval(n * 3 // 10, n)
    assert np.all(np.diff(high - low) < 0)
    widths = [np.subtract(*wilson_interval(3, 10, confidence=c)[::-1]) for c in (0.5, 0.9, 0.99, 0.999)]
    assert np.all(np.diff(widths) > 0)


def test_wilson_interval_coverage_by_simulation():
    # 95% nominal coverage: for p = 0.8 and n = 30 the Wilson interval covers p in about 95% of draws
    rng = np.random.default_rng(2)
    s = rng.binomial(30, 0.8, size=20_000)
    low, high = wilson_interval(s, 30)
    coverage = np.mean((low <= 0.8) & (0.8 <= high))
    assert 0.93 < coverage < 0.97


def test_wilson_interval_broadcasts_and_accepts_integral_floats():
    low, high = wilson_interval(np.array([[0.0], [2.0]]), np.array([4, 5, 6]))
    assert low.shape == high.shape == (2, 3)
    assert low.dtype == np.float64
    l2, h2 = wilson_interval(2, 5)
    assert low[1, 1] == l2 and high[1, 1] == h2


@pytest.mark.parametrize("args, kwargs, match", [
    ((1, 0), {}, "n must be >= 1"),
    ((0, -3), {}, "n must be >= 1"),
    ((5, 4), {}, r"successes must lie in \[0, n\]"),
    ((-1, 4), {}, r"successes must lie in \[0, n\]"),
    ((1.5, 4), {}, "successes must be integer counts"),
    ((1, 4.5), {}, "n must be integer counts"),
    ((np.nan, 4), {}, "successes must be integer counts"),
    ((True, 4), {}, "successes must be integer counts"),
    (("1", 4), {}, "successes must be integer counts"),
    (([1, 2], [3, 4, 5]), {}, "successes and n must broadcast"),
    ((1, 4), {"confidence": 0.0}, r"confidence must be in the open interval \(0, 1\)"),
    ((1, 4), {"confidence": 1.0}, r"confidence must be in the open interval \(0, 1\)"),
    ((1, 4), {"confidence": 95}, r"confidence must be in the open interval \(0, 1\)"),
    ((1, 4), {"confidence": np.nan}, r"confidence must be in the open interval \(0, 1\)"),
    ((1, 4), {"confidence": "0.95"}, r"confidence must be a number in \(0, 1\)"),
])
def test_wilson_interval_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(*args, **kwargs)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**9), st.floats(0.0, 1.0), st.floats(0.01, 0.999))
def test_wilson_interval_properties_over_extreme_counts(n, frac, confidence):
    from scipy.stats import binomtest

    s = int(round(frac * n))
    low, high = wilson_interval(s, n, confidence=confidence)
    assert 0.0 <= low <= s / n <= high <= 1.0
    assert (low == 0.0) == (s == 0) and (high == 1.0) == (s == n)
    ref = binomtest(s, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert low == pytest.approx(ref.low, rel=1e-6, abs=1e-15)
    assert high == pytest.approx(ref.high, rel=1e-6, abs=1e-15)


# --- regression tests of the property suite's B6, B13 and B7 (wilson_interval) ---
def test_wilson_interval_counts_beyond_int64():
    import math

    # B6: float counts beyond int64 leaked 'invalid value encountered in cast' (and were garbage after it)
    low, high = wilson_interval(0.0, 1e30)
    z = 1.959963984540054
    assert low == 0.0 and high == pytest.approx(z * z / 1e30, rel=1e-14)
    # B6: uint64 counts wrapped round to -1 ('n must be >= 1, got minimum -1')
    n = np.uint64(2**64 - 1)
    low, high = wilson_interval(np.uint64(1), n)
    assert 0.0 < low <= 1 / float(n) <= high < 1.0
    assert wilson_interval(n, n)[1] == 1.0
    with pytest.raises(ValueError, match=r"successes must lie in \[0, n\]"):  # compared exactly, not in float64
        wilson_interval(np.uint64(2**63 + 1), np.int64(2**63 - 1))
    assert isinstance(low, np.float64) and not isinstance(low, np.ndarray)  # numpy scalars for scalar counts
    assert math.isfinite(high)


def test_wilson_interval_confidence_near_one_keeps_its_tail():
    import mpmath

    # B13: z = ndtri(0.5 + 0.5 c) rounded the tail 1 - c away (1.5e-10 off at c = 1 - 1e-9; inf at 1 - 2^-53)
    for c in (1 - 1e-9, 1 - 2.0**-53):
        z = float(mpmath.sqrt(2) * mpmath.erfinv(mpmath.mpf(c)))
        high = wilson_interval(0, 1, confidence=c)[1]
        assert high == pytest.approx(z * z / (1 + z * z), rel=1e-15)


def test_wilson_interval_wrong_types_are_argument_type_errors():
    # B7: bools and strings raised plain ValueErrors; a 0-d array confidence was refused
    for kwargs, name in [({"confidence": True}, "confidence"), ({"confidence": "0.95"}, "confidence"),
                         ({"successes": ["a", "b"]}, "successes"), ({"successes": True}, "successes"),
                         ({"n": "10"}, "n")]:
        with pytest.raises(snb.ArgumentTypeError, match=rf"\b{name}\b"):
            wilson_interval(**{"successes": 3, "n": 10, **kwargs})
    low, high = wilson_interval(3, 10, confidence=np.array(0.9))
    assert (low, high) == wilson_interval(3, 10, confidence=0.9)


def test_wilson_confidence_is_keyword_only_with_a_deprecation_for_positional_calls():
    with pytest.warns(DeprecationWarning, match=r"passing confidence to wilson_interval\(\) positionally") as rec:
        old = wilson_interval(3, 10, 0.9)
    assert rec[0].filename == __file__
    assert old == wilson_interval(3, 10, confidence=0.9)


# --- noise floors of the other calibration metrics (Q6 of the Part II review) ---------------------------------------

FLOOR_METRICS = {
    "ece": lambda p, y, m: expected_calibration_error(p, y, m),
    "classwise": lambda p, y, m: classwise_ece(p, y, m),
    "adaptive": lambda p, y, m: adaptive_ece(p, y, m),
    "reliability": lambda p, y, m: brier_decomposition(p, y, n_bins=m).reliability,
}


@pytest.mark.parametrize("n_bins", [1, 4, 15])
@pytest.mark.parametrize("metric", sorted(FLOOR_METRICS))
def test_floor_of_each_metric_is_the_metric_on_the_redrawn_labels(metric, n_bins):
    p, _ = random_case(6, n=90, k=4, concentration=0.4)
    floor = ece_noise_floor(p, n_bins=n_bins, n_draws=40, rng=np.random.default_rng(21), metric=metric)
    # the same uniforms, used the slow way: label = first class whose cdf exceeds u, then the package's own metric
    u = np.random.default_rng(21).random((40, 90))
    cdf = np.cumsum(p, axis=1)
    for d in range(40):
        labels = np.array([min(int(np.searchsorted(cdf[i], u[d, i], side="right")), 3) for i in range(90)])
        assert floor[d] == pytest.approx(FLOOR_METRICS[metric](p, labels, n_bins), abs=1e-13)


def test_floor_with_a_callable_metric_equals_the_named_one():
    p, _ = random_case(8, n=60, k=3)
    named = ece_noise_floor(p, n_draws=25, rng=4, metric="classwise")
    called = ece_noise_floor(p, n_draws=25, rng=4, metric=lambda q, y: classwise_ece(q, y))
    assert np.allclose(named, called, rtol=0, atol=1e-14)
    assert np.array_equal(ece_noise_floor(p, n_draws=25, rng=4), ece_noise_floor(p, n_draws=25, rng=4, metric="ece"))


@pytest.mark.parametrize("metric", sorted(FLOOR_METRICS))
def test_floor_matches_a_monte_carlo_of_calibrated_predictions(metric):
    # Perfectly calibrated predictions: labels drawn from p by an independent mechanism (Generator.choice).
    # The metric's distribution over those draws must be the null distribution the floor returns.
    p, _ = random_case(9, n=120, k=5, concentration=0.5)
    rng = np.random.default_rng(123)
    mc = np.array([FLOOR_METRICS[metric](p, np.array([rng.choice(5, p=row) for row in p]), 10)
                   for _ in range(300)])
    null = ece_noise_floor(p, n_bins=10, n_draws=3000, rng=5, metric=metric)
    se = np.sqrt(mc.var(ddof=1) / mc.size + null.var(ddof=1) / null.size)
    assert abs(mc.mean() - null.mean()) < 4 * se
    above = np.mean(mc > np.quantile(null, 0.95))           # about 5% of calibrated test sets exceed the 95th percentile
    assert 0.01 < above < 0.10


@pytest.mark.parametrize("metric", sorted(FLOOR_METRICS))
def test_floor_flags_over_confident_predictions(metric):
    # labels from a flatter distribution than p: the reported p is over-confident, and the metric leaves its floor
    rng = np.random.default_rng(7)
    z = rng.normal(0.0, 2.0, (400, 5))
    p = snb.softmax(z, axis=1)
    y = np.array([rng.choice(5, p=row) for row in snb.softmax(z / 3.0, axis=1)])
    null = ece_noise_floor(p, n_bins=10, n_draws=500, rng=1, metric=metric)
    assert FLOOR_METRICS[metric](p, y, 10) > np.quantile(null, 0.99)


def test_floor_metric_bad_input():
    with pytest.raises(ValueError, match="metric"):
        ece_noise_floor([[0.5, 0.5]], metric="brier")
    with pytest.raises(snb.ArgumentTypeError, match="metric"):
        ece_noise_floor([[0.5, 0.5]], metric=3)
    with pytest.raises(TypeError):
        ece_noise_floor([[0.5, 0.5]], 15, 10, 0, "classwise")      # metric is keyword-only
