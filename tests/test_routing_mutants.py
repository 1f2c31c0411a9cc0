"""Tests written to kill surviving mutmut mutants of softmax_nb.routing (see tests/MUTATION.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softmax_nb._checks import ArgumentTypeError
from softmax_nb.routing import load_balancing_loss, route


def _softmax_rows(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- route: arguments
def test_route_names_its_arguments():
    z = np.zeros((2, 4))
    with pytest.raises(ArgumentTypeError, match="^logits must be numeric"):
        route(np.full((2, 4), "a"), top_k=1)
    with pytest.raises(ValueError, match="^logits must contain only finite numbers"):
        route([[0.0, np.nan]], top_k=1)
    with pytest.raises(ArgumentTypeError, match="^top_k must be an integer >= 1"):
        route(z, top_k=1.5)
    with pytest.raises(ValueError, match="^top_k must be an integer >= 1, got 0$"):
        route(z, top_k=0)
    with pytest.raises(ValueError, match=r"^top_k must be at most the number of experts \(4\), got 5$"):
        route(z, top_k=5)
    with pytest.raises(ValueError, match=r"^gating must be one of \('softmax', 'sigmoid'\), got 'relu'$"):
        route(z, top_k=1, gating="relu")
    with pytest.raises(ArgumentTypeError, match="^renormalize must be True or False, got 1$"):
        route(z, top_k=1, renormalize=1)
    with pytest.raises(ArgumentTypeError, match="^bias must be numeric"):
        route(z, top_k=1, bias=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="^bias must contain only finite numbers"):
        route(z, top_k=1, bias=[0.0, np.inf, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"^bias must have shape \(4,\), one entry per expert, got \(3,\)$"):
        route(z, top_k=1, bias=[0.0, 0.0, 0.0])


@pytest.mark.parametrize("logits, shape", [(1.0, r"\(\)"), (np.zeros((2, 0)), r"\(2, 0\)"),
                                           (np.zeros((2, 3, 0)), r"\(2, 3, 0\)")])
def test_route_needs_a_non_empty_expert_axis(logits, shape):
    with pytest.raises(ValueError, match=rf"^logits must have a non-empty expert axis \(the last\), got shape "
                                         rf"{shape}$"):
        route(logits, top_k=1)


def test_route_of_one_token_and_of_one_expert():
    w, e = route([2.0, 1.0, 0.0], top_k=3)  # 1-D: a single token; top_k = E is allowed
    np.testing.assert_array_equal(e, [0, 1, 2])
    np.testing.assert_allclose(w, _softmax_rows([2.0, 1.0, 0.0]), rtol=1e-15)
    assert w.shape == e.shape == (3,)
    w, e = route([[5.0], [-3.0]], top_k=1)  # E = 1: the only expert, probability 1
    np.testing.assert_array_equal(e, [[0], [0]])
    np.testing.assert_array_equal(w, [[1.0], [1.0]])


def test_ties_go_to_the_lower_index_for_many_experts():
    z = np.array([[0.0, 1.0] * 10])  # 20 experts, ten tied at the top and ten at the bottom
    for gating in ("softmax", "sigmoid"):
        _, e = route(z, top_k=20, gating=gating)
        np.testing.assert_array_equal(e, [list(range(1, 20, 2)) + list(range(0, 20, 2))])


@pytest.mark.parametrize("gating, renormalize", [("softmax", False), ("softmax", True), ("sigmoid", True),
                                                 ("sigmoid", False)])
def test_route_on_three_dimensional_logits_works_row_by_row(gating, renormalize):
    rng = np.random.default_rng(11)
    z = rng.standard_normal((2, 3, 5)) * 2
    bias = rng.standard_normal(5) * 0.3
    w, e = route(z, top_k=2, gating=gating, renormalize=renormalize, bias=bias)
    assert w.shape == e.shape == (2, 3, 2) and w.dtype == np.float64
    for i in range(2):
        for j in range(3):
            s = _softmax_rows(z[i, j]) if gating == "softmax" else 1 / (1 + np.exp(-z[i, j]))
            sel = s + bias
            chosen = sorted(range(5), key=lambda c: (-sel[c], c))[:2]
            g = s[chosen]
            if renormalize:
                g = g / g.sum()
            np.testing.assert_array_equal(e[i, j], chosen)
            np.testing.assert_allclose(w[i, j], g, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_route_keeps_the_dtype_of_the_logits(dtype):
    z = np.array([[2.0, 1.0, 0.0, -1.0]], dtype)
    for gating in ("softmax", "sigmoid"):
        w, e = route(z, top_k=2, gating=gating, bias=np.zeros(4))
        assert w.dtype == dtype and e.dtype == np.intp
        np.testing.assert_array_equal(e, [[0, 1]])


# --------------------------------------------------------------------------- load_balancing_loss
def _lb_loop(p, experts, n):
    p = np.asarray(p, np.float64).reshape(-1, n)
    experts = np.asarray(experts).reshape(p.shape[0], -1)
    tokens = p.shape[0]
    total = 0.0
    for i in range(n):
        f = sum(int(i in row) for row in experts.tolist()) / tokens
        total += f * p[:, i].mean()
    return n * total


def test_load_balancing_loss_names_its_arguments():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ArgumentTypeError, match="^router_probs must be numeric"):
        load_balancing_loss(np.full((2, 3), "a"), [[0], [1]])
    with pytest.raises(ValueError, match=r"^router_probs must contain probabilities in \[0, 1\]"):
        load_balancing_loss([[1.5, -0.5]], [[0]])
    with pytest.raises(ValueError, match=r"^router_probs must sum to 1 along the expert axis \(the softmax of the "
                                         r"router logits\)$"):
        load_balancing_loss([[0.5, 0.4]], [[0]])
    with pytest.raises(ArgumentTypeError, match="^num_experts must be an integer >= 1"):
        load_balancing_loss(p, [[0], [1]], num_experts="3")
    with pytest.raises(ValueError, match="^num_experts must be an integer >= 1, got 0$"):
        load_balancing_loss(p, [[0], [1]], num_experts=0)
    with pytest.raises(ValueError, match="^num_experts=4 does not match router_probs, which has 3 experts$"):
        load_balancing_loss(p, [[0], [1]], num_experts=4)
    with pytest.raises(ArgumentTypeError, match="^experts must hold integer expert indices, got dtype float64$"):
        load_balancing_loss(p, [[0.0], [1.0]])
    with pytest.raises(ValueError, match=r"^experts must be indices in \[0, 3\), got values in \[0, 3\]$"):
        load_balancing_loss(p, [[0], [3]])
    with pytest.raises(ValueError, match="^experts repeats an expert within a token; each token's k experts must "
                                         "differ$"):
        load_balancing_loss(p, [[0, 1, 1], [0, 1, 2]])


@pytest.mark.parametrize("probs, shape", [(1.0, r"\(\)"), (np.zeros((2, 0)), r"\(2, 0\)")])
def test_load_balancing_loss_needs_a_non_empty_expert_axis(probs, shape):
    with pytest.raises(ValueError, match=rf"^router_probs must have a non-empty expert axis \(the last\), got shape "
                                         rf"{shape}$"):
        load_balancing_loss(probs, [[0]])


def test_load_balancing_loss_needs_tokens():
    with pytest.raises(ValueError, match="^router_probs holds no tokens; the loss is a mean over tokens$"):
        load_balancing_loss(np.zeros((0, 3)), np.zeros((0, 1), np.int64))


@pytest.mark.parametrize("experts, shape", [
    ([[0], [1], [2]], r"\(3, 1\)"),  # one token too many
    ([0, 1], r"\(2,\)"),  # no k axis
    (np.zeros((2, 0), np.int64), r"\(2, 0\)"),  # k = 0
])
def test_experts_must_match_the_tokens(experts, shape):
    with pytest.raises(ValueError, match=rf"^experts must have shape \(2, 'k'\) \(one row of k >= 1 experts per "
                                         rf"token of router_probs\), got {shape}$"):
        load_balancing_loss(np.full((2, 3), 1 / 3), experts)


def test_experts_must_match_the_tokens_on_three_dimensional_input():
    p = np.full((2, 3, 4), 0.25)
    for experts, shape in [(np.zeros((2, 3, 0), np.int64), r"\(2, 3, 0\)"), (np.zeros((2, 1), np.int64), r"\(2, 1\)"),
                           (np.zeros((2, 2, 1), np.int64), r"\(2, 2, 1\)")]:
        with pytest.raises(ValueError, match=rf"^experts must have shape \(2, 3, 'k'\)"):
            load_balancing_loss(p, experts)


def test_load_balancing_loss_on_one_token_and_one_expert():
    assert load_balancing_loss([0.25, 0.75], [1]) == 2 * 0.75  # 1-D: one token, f = (0, 1)
    loss = load_balancing_loss([[1.0], [1.0]], [[0], [0]], num_experts=1)  # E = 1
    assert type(loss) is np.float64 and loss == 1.0


def test_load_balancing_loss_on_three_dimensional_input_matches_a_loop():
    rng = np.random.default_rng(3)
    p = _softmax_rows(rng.standard_normal((2, 3, 5)))
    experts = np.array([[[0, 1], [0, 2], [1, 2]], [[0, 1], [3, 0], [0, 2]]])  # the same expert in several tokens
    loss = load_balancing_loss(p, experts, num_experts=5)
    assert math.isclose(loss, _lb_loop(p, experts, 5), rel_tol=1e-13)


def test_load_balancing_loss_with_an_unused_last_expert():
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    loss = load_balancing_loss(p, [[0], [1]])  # expert 2 gets no token
    assert math.isclose(loss, 3 * (0.5 * 0.3 + 0.5 * 0.45), rel_tol=1e-14)
    assert math.isclose(loss, _lb_loop(p, [[0], [1]], 3), rel_tol=1e-14)
