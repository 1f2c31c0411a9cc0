"""Tests for softmax_nb.alternatives: sparsemax and the Gumbel-softmax."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

import softmax_nb as snb
from softmax_nb import gumbel_softmax, one_hot_argmax, sparsemax

from strategies import logit_arrays, logit_matrices, logits

NEG_INF = -np.inf


# --------------------------------------------------------------------------- sparsemax: references
def sparsemax_brute_force(z: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Enumerate every support S: tau = (sum_S z - 1)/|S| is right iff z > tau on S and z <= tau off S."""
    k = len(z)
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            on = np.zeros(k, dtype=bool)
            on[list(support)] = True
            tau = (z[on].sum() - 1.0) / size
            if np.all(z[on] > tau - tol) and np.all(z[~on] <= tau + tol):
                return np.where(on, np.maximum(z - tau, 0.0), 0.0)
    raise AssertionError("no feasible support: the brute force is wrong")


def test_reference_value():
    # sorted: 1, 0.5, -1; support {1, 0.5} (1 + 2*0.5 > 1.5, but 1 - 3 < 0.5); tau = 0.25
    np.testing.assert_array_equal(sparsemax([1.0, 0.5, -1.0]), [0.75, 0.25, 0.0])


@pytest.mark.parametrize("z", [[0.1, 1.1, 0.2, -0.3], [3.0, 2.9, 2.8, -5.0], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.4, 0.6, 0.9]])
def test_matches_numerical_projection(z):
    # scipy's SLSQP minimising ||p - z||^2 - ||z||^2 = p.p - 2 p.z on the simplex: an independent optimiser.
    z = np.asarray(z)
    res = minimize(lambda p: p @ p - 2 * p @ z, np.full(len(z), 1 / len(z)), jac=lambda p: 2 * (p - z),
                   bounds=[(0, 1)] * len(z), constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1, "jac": np.ones_like}],
                   method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
    assert res.success
    np.testing.assert_allclose(sparsemax(z), res.x, atol=1e-7)


@pytest.mark.parametrize("x", [-5.0, -1.0005, -1.0, -0.999, -0.5, 0.0, 0.25, 0.999, 1.0, 3.0, 1e4])
def test_two_class_closed_form(x):
    p = sparsemax([x, 0.0])
    assert p[0] == pytest.approx(np.clip((x + 1) / 2, 0, 1), abs=1e-15)
    assert p[1] == pytest.approx(1 - np.clip((x + 1) / 2, 0, 1), abs=1e-15)


@given(x=st.floats(-1e6, 1e6))
def test_two_class_closed_form_property(x):
    assert sparsemax([x, 0.0])[0] == pytest.approx(np.clip((x + 1) / 2, 0, 1), abs=1e-12)


@pytest.mark.parametrize("z", [[1.0, 0.0, -0.0005], [2.0, 1.5, 0.4996, 0.4994], [0.3, 0.3, -0.3999, -0.4001]])
def test_near_the_support_boundary(z):
    # Each case has a logit just inside or just outside the support.
    z = np.asarray(z)
    p = sparsemax(z)
    np.testing.assert_allclose(p, sparsemax_brute_force(z, tol=0.0), atol=1e-15)
    assert p.sum() == pytest.approx(1.0, abs=1e-15)


def test_equal_logits_give_uniform_and_large_gap_one_hot():
    np.testing.assert_allclose(sparsemax(np.full(4, 7.0)), np.full(4, 0.25), rtol=1e-15)
    np.testing.assert_array_equal(sparsemax([0.0, 5.0, 1.0]), [0.0, 1.0, 0.0])


# --------------------------------------------------------------------------- sparsemax: properties
@given(z=logits(max_k=6, bound=5.0))
def test_matches_brute_force(z):
    np.testing.assert_allclose(sparsemax(z), sparsemax_brute_force(z), atol=1e-8)


@given(z=logit_matrices(max_rows=5, max_k=12, bound=100.0))
def test_simplex_and_exact_zeros(z):
    p = sparsemax(z)
    assert p.shape == z.shape
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    # tau >= max - 1 (no probability exceeds 1), so logits at least 1 below the max get exactly 0.
    far = z <= z.max(axis=-1, keepdims=True) - 1
    assert np.all(p[far] == 0.0)
    # Order is preserved: larger logit, no smaller probability.
    for row_z, row_p in zip(z, p):
        order = np.argsort(row_z, kind="stable")
        assert np.all(np.diff(row_p[order]) >= -1e-15)


@given(z=logits(max_k=12, bound=20.0))
def test_is_the_closest_point_of_the_simplex(z):
    # Exact optimality certificate of the projection onto a convex set: (z - p).(y - p) <= 0 for every y
    # in the simplex, and (linear in y) it suffices to check the vertices e_j. softmax(z) fails it.
    p = sparsemax(z)
    assert np.all(p >= 0) and p.sum() == pytest.approx(1.0, abs=1e-12)
    gaps = (z - p) @ (np.eye(len(z)) - p).T
    assert np.all(gaps <= 1e-9 * (1 + np.abs(z).max()))


@given(z=logits(max_k=10, bound=50.0), c=st.floats(-100, 100))
def test_shift_invariance(z, c):
    np.testing.assert_allclose(sparsemax(z + c), sparsemax(z), atol=1e-11)


@given(z=logit_matrices(max_rows=4, max_k=6, bound=10.0))
def test_axis_argument(z):
    np.testing.assert_array_equal(sparsemax(z.T, axis=0), sparsemax(z).T)


# --------------------------------------------------------------------------- sparsemax: extremes, bad input
@pytest.mark.parametrize("big", [1e4, 1e300, 1.7e308])
def test_sparsemax_extreme_logits_no_warning(big):
    z = np.array([[big, -big, 0.0], [-big, -big, -big], [big, big, -big], [NEG_INF, 1.0, NEG_INF], [big, big, big]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = sparsemax(z)
    np.testing.assert_array_equal(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0], [0, 1, 0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sparsemax_dtype_is_kept(dtype):
    p = sparsemax(np.array([1.0, 0.5, -1.0], dtype=dtype))
    assert p.dtype == dtype
    np.testing.assert_array_equal(p, [0.75, 0.25, 0.0])  # exact in every dtype


def test_softmax_fails_the_projection_certificate():
    # The certificate above is not vacuous.
    z = np.array([1.0, 0.5, -1.0])
    p = snb.softmax(z)
    assert np.max((z - p) @ (np.eye(3) - p).T) > 0.1


@given(logit_arrays())
def test_sparsemax_every_dtype_axis_and_magnitude(case):
    z, axis = case
    p = sparsemax(z, axis=axis)
    assert p.dtype == z.dtype and p.shape == z.shape and np.all(p >= 0)
    k = z.shape[axis]
    np.testing.assert_allclose(p.sum(axis=axis, dtype=np.float64), 1.0, atol=4 * k * np.finfo(z.dtype).eps)
    assert np.all(p[np.isneginf(z)] == 0)
    ref = sparsemax(z.astype(np.float64), axis=axis)
    np.testing.assert_allclose(p.astype(np.float64), ref, atol=4 * k * np.finfo(z.dtype).eps)


def test_float32_sparsemax_normalised_on_a_huge_support():
    # B7: a million logits with a support of ~800 000; a float32 cumsum lost 3e-4 of the mass.
    z = np.random.default_rng(0).normal(0, 1e-6, 1_000_000)
    p32, p64 = sparsemax(z.astype(np.float32)), sparsemax(z)
    assert abs(float(p32.sum(dtype=np.float64)) - 1.0) < 1e-5
    assert abs(int(np.count_nonzero(p32)) - int(np.count_nonzero(p64))) <= 20


@pytest.mark.parametrize("z, axis, match", [
    (np.empty((3, 0)), -1, "empty class axis"),
    ([NEG_INF, NEG_INF], -1, "every entry is -inf"),
    ([1.0, np.nan], -1, "NaN"),
    ([1.0, np.inf], -1, r"\+inf"),
    ([1.0, 2.0], 1, "axis must be in"),
    (2.0, -1, "at least one dimension"),
])
def test_sparsemax_bad_input(z, axis, match):
    with pytest.raises(ValueError, match=match):
        sparsemax(z, axis=axis)


# --------------------------------------------------------------------------- one_hot_argmax
def test_one_hot_argmax_nan_raises_and_infinities_are_values():
    with pytest.raises(ValueError, match="p contains NaN"):
        one_hot_argmax([[0.0, 1.0], [np.nan, 0.0]])
    np.testing.assert_array_equal(one_hot_argmax([[np.inf, 1.0], [NEG_INF, 0.0]]), [[1, 0], [0, 1]])


def test_one_hot_argmax():
    np.testing.assert_array_equal(one_hot_argmax([[0.2, 0.5, 0.3], [1.0, 1.0, 0.0]]), [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(one_hot_argmax([[0.2, 0.5], [0.8, 0.5]], axis=0), [[0, 1], [1, 0]])
    assert one_hot_argmax(np.float32([1, 3])).dtype == np.float32


# --------------------------------------------------------------------------- gumbel_softmax
Z = np.array([1.0, 0.0, -1.0, 2.5, NEG_INF])


@pytest.mark.parametrize("temperature", [1.0, 0.3, 5.0])
def test_argmax_frequencies_match_softmax(temperature):
    # Gumbel-max trick: argmax(z + g) ~ Categorical(softmax(z)), whatever the temperature.
    n = 100_000
    rng = np.random.default_rng(20170101)
    hard = gumbel_softmax(np.tile(Z, (n, 1)), temperature, rng, hard=True)
    freq = hard.mean(axis=0)
    p = snb.softmax(Z)
    sigma = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) <= 5 * sigma + 1e-12), (freq, p, sigma)
    assert freq[-1] == 0.0  # the -inf class is never drawn


def test_soft_sample_argmax_frequencies_and_mean_sum():
    n = 50_000
    soft = gumbel_softmax(np.tile(Z[:4], (n, 1)), 0.5, np.random.default_rng(1))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-14)
    assert np.all(soft >= 0)
    freq = np.bincount(soft.argmax(axis=1), minlength=4) / n
    p = snb.softmax(Z[:4])
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n))


def test_reproducible_given_seed_and_hard_matches_soft():
    z = np.random.default_rng(0).normal(size=(6, 5))
    a = gumbel_softmax(z, 0.7, np.random.default_rng(42))
    b = gumbel_softmax(z, 0.7, np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, gumbel_softmax(z, 0.7, np.random.default_rng(43)))
    rng = np.random.default_rng(42)
    first, second = gumbel_softmax(z, 0.7, rng), gumbel_softmax(z, 0.7, rng)
    assert not np.array_equal(first, second)  # the generator advances
    hard = gumbel_softmax(z, 0.7, np.random.default_rng(42), hard=True)
    np.testing.assert_array_equal(hard, one_hot_argmax(a))


def test_noise_is_standard_gumbel():
    # With T = 1 and z = (0, c), log(y_0 / y_1) = g_0 - g_1 - c. The difference of two independent
    # standard Gumbel variables is standard logistic, so a Kolmogorov-Smirnov test against
    # scipy.stats.logistic(loc=-c) checks the noise distribution itself (not which numpy call made it).
    from scipy import stats

    n = 20_000
    for c in (0.0, 1.5):
        z = np.tile([0.0, c], (n, 1))
        y = gumbel_softmax(z, 1.0, np.random.default_rng(7))
        diff = np.log(y[:, 0]) - np.log(y[:, 1])
        assert stats.kstest(diff, stats.logistic(loc=-c).cdf).pvalue > 1e-4
        assert stats.kstest(diff, stats.logistic(loc=-c + 0.1).cdf).pvalue < 1e-4  # the test has power


@given(z=logit_matrices(max_rows=4, max_k=7, bound=30.0), t=st.floats(0.05, 20.0), seed=st.integers(0, 2**32 - 1))
def test_hard_is_one_hot_soft_on_simplex(z, t, seed):
    hard = gumbel_softmax(z, t, np.random.default_rng(seed), hard=True)
    assert set(np.unique(hard)) <= {0.0, 1.0}
    np.testing.assert_array_equal(hard.sum(axis=-1), 1.0)
    soft = gumbel_softmax(z, t, np.random.default_rng(seed))
    assert np.all(soft >= 0)
    np.testing.assert_allclose(soft.sum(axis=-1), 1.0, rtol=1e-13)
    np.testing.assert_array_equal(soft.argmax(axis=-1), hard.argmax(axis=-1))


def test_low_temperature_approaches_one_hot_high_approaches_uniform():
    z = np.tile([0.5, 0.0, -0.5], (2000, 1))
    cold = gumbel_softmax(z, 1e-3, np.random.default_rng(3))
    assert np.median(cold.max(axis=1)) > 0.999
    hot = gumbel_softmax(z, 1e4, np.random.default_rng(3))
    np.testing.assert_allclose(hot, 1 / 3, atol=1e-3)


def test_axis_and_dtype():
    z = np.float32([[1.0, 2.0], [3.0, 0.0], [0.5, 0.5]])
    y = gumbel_softmax(z, 1.0, np.random.default_rng(0), axis=0)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=0), 1.0, rtol=1e-6)
    hard = gumbel_softmax(z, 1.0, np.random.default_rng(0), hard=True, axis=0)
    np.testing.assert_array_equal(hard.sum(axis=0), [1.0, 1.0])
    np.testing.assert_array_equal(hard, one_hot_argmax(y, axis=0))


@pytest.mark.parametrize("dtype, t", [(np.float32, 1e-39), (np.float64, 1e-310), (np.float16, 1e-30)])
def test_gumbel_tiny_temperature_is_hard_not_nan(dtype, t):
    z = np.array([[1.0, 2.0, 0.5]] * 5, dtype=dtype)
    soft = gumbel_softmax(z, t, np.random.default_rng(4))
    hard = gumbel_softmax(z, t, np.random.default_rng(4), hard=True)
    np.testing.assert_array_equal(soft, hard)
    assert soft.dtype == dtype


@pytest.mark.parametrize("big", [1e4, 1e300])
def test_gumbel_extreme_logits_no_warning(big):
    z = np.array([[big, -big, NEG_INF], [-big, -big, -big + 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        soft = gumbel_softmax(z, 0.5, np.random.default_rng(0))
        hard = gumbel_softmax(z, 0.5, np.random.default_rng(0), hard=True)
    assert np.all(np.isfinite(soft))
    np.testing.assert_array_equal(soft[0], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(hard[0], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("temperature", [0.0, -1.0, np.inf, np.nan, "hot", None])
def test_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        gumbel_softmax([1.0, 2.0], temperature, np.random.default_rng(0))


@pytest.mark.parametrize("rng", [np.random.RandomState(0), 1.5, "42", True])
def test_bad_rng(rng):
    with pytest.raises(TypeError, match="rng must be an int seed, a numpy.random.Generator"):
        gumbel_softmax([1.0, 2.0], 1.0, rng)


def test_int_seed_equals_generator():
    """SPEC 7: an int seed means np.random.default_rng(seed)."""
    a = gumbel_softmax([1.0, 2.0, 0.5], 0.7, 42)
    b = gumbel_softmax([1.0, 2.0, 0.5], 0.7, np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("logits_, kwargs, match", [
    ([1.0, 2.0], {"hard": "yes"}, "hard must be True or False"),
    ([[NEG_INF, NEG_INF], [0.0, 1.0]], {}, "logits has a slice .* every entry is -inf"),
    ([0.0, np.nan], {}, "logits contains NaN"),
    (np.empty((2, 0)), {}, "empty class axis"),
    ([1.0, 2.0], {"axis": 2}, "axis must be in"),
])
def test_gumbel_bad_input(logits_, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gumbel_softmax(logits_, 1.0, np.random.default_rng(0), **kwargs)


# --------------------------------------------------------------------------- found by mutation testing (tests/MUTATION.md)
def test_messages_name_the_argument():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="^p must be numeric"):
        snb.one_hot_argmax(["a"])
    with pytest.raises(ValueError, match="^p has an empty class axis"):
        snb.one_hot_argmax(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="^p contains NaN; its argmax is undefined$"):
        snb.one_hot_argmax([0.0, np.nan])
    with pytest.raises(ValueError, match="^logits must be numeric"):
        snb.gumbel_softmax(["a"], 1.0, rng)
    with pytest.raises(ValueError, match="^logits has an empty class axis"):
        snb.gumbel_softmax(np.zeros((2, 0)), 1.0, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gumbel_softmax_is_softmax_of_perturbed_logits_in_the_input_dtype(dtype):
    # y = softmax((z + g)/T) with g ~ Gumbel(0, 1) drawn from rng, computed in z's own dtype (same bits).
    z = np.random.default_rng(1).standard_normal((50, 7)).astype(dtype)
    g = np.random.default_rng(5).gumbel(size=z.shape).astype(dtype)
    soft = gumbel_softmax(z, 0.7, np.random.default_rng(5))
    assert soft.dtype == dtype
    np.testing.assert_array_equal(soft, snb.softmax(z + g, temperature=0.7))
    hard = gumbel_softmax(z, 0.7, np.random.default_rng(5), hard=True)
    np.testing.assert_array_equal(hard, one_hot_argmax(z + g))
