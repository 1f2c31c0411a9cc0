"""Mixture-of-experts routing (softmax_nb.routing) against direct loops, torch and Hugging Face."""

from __future__ import annotations

import math

import numpy as np
import pytest

import softmax_nb as snb


def _route_loop(z, k, gating, renormalize, bias):
    weights, experts = [], []
    for row in z:
        if gating == "softmax":
            m = max(row)
            e = [math.exp(x - m) for x in row]
            s = [x / sum(e) for x in e]
        else:
            s = [1 / (1 + math.exp(-x)) for x in row]
        sel = [si + bi for si, bi in zip(s, bias)]
        chosen = sorted(range(len(row)), key=lambda i: (-sel[i], i))[:k]
        w = [s[i] for i in chosen]
        if renormalize:
            w = [x / sum(w) for x in w]
        weights.append(w)
        experts.append(chosen)
    return np.array(weights), np.array(experts)


@pytest.mark.parametrize("gating, renormalize", [("softmax", False), ("softmax", True), ("sigmoid", True),
                                                 ("sigmoid", False)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_route_matches_a_direct_loop(gating, renormalize, with_bias):
    rng = np.random.default_rng(5)
    z = rng.standard_normal((50, 8)) * 2
    bias = rng.standard_normal(8) if with_bias else np.zeros(8)
    w, e = snb.route(z, top_k=3, gating=gating, renormalize=renormalize, bias=bias if with_bias else None)
    w_ref, e_ref = _route_loop(z, 3, gating, renormalize, bias)
    np.testing.assert_array_equal(e, e_ref)
    np.testing.assert_allclose(w, w_ref, rtol=1e-13, atol=0)
    assert e.dtype == np.intp and w.shape == e.shape == (50, 3)


def test_defaults_follow_the_literature():
    z = np.random.default_rng(6).standard_normal((20, 6))
    w_soft, _ = snb.route(z, top_k=2)
    assert np.all(w_soft.sum(axis=-1) < 1)  # Switch/GShard: not renormalised
    w_sig, _ = snb.route(z, top_k=2, gating="sigmoid")
    np.testing.assert_allclose(w_sig.sum(axis=-1), 1.0, rtol=1e-15)  # DeepSeek-V3: normalised


def test_renormalised_softmax_is_top_k_then_softmax():
    z = np.random.default_rng(7).standard_normal((30, 10)) * 3
    w, e = snb.route(z, top_k=4, renormalize=True)
    np.testing.assert_allclose(w, snb.softmax(np.take_along_axis(z, e, axis=-1)), rtol=1e-14, atol=0)


def test_bias_changes_the_choice_not_the_weights():
    z = np.array([[3.0, 2.0, 1.0, 0.0]])
    w0, e0 = snb.route(z, top_k=2, gating="sigmoid", renormalize=False)
    w1, e1 = snb.route(z, top_k=2, gating="sigmoid", renormalize=False, bias=[0.0, 0.0, 0.0, 5.0])
    assert e0.tolist() == [[0, 1]] and e1.tolist() == [[3, 0]]
    sig = 1 / (1 + np.exp(-z[0]))
    np.testing.assert_allclose(w1[0], sig[[3, 0]], rtol=1e-15)


def test_route_matches_torch_mixtral_style():
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(8).standard_normal((64, 8))
    probs = torch.softmax(torch.from_numpy(z), dim=-1)
    w_ref, e_ref = torch.topk(probs, 2, dim=-1)
    w, e = snb.route(z, top_k=2)
    np.testing.assert_array_equal(e, e_ref.numpy())
    np.testing.assert_allclose(w, w_ref.numpy(), rtol=1e-14)
    w_norm, _ = snb.route(z, top_k=2, renormalize=True)
    np.testing.assert_allclose(w_norm, (w_ref / w_ref.sum(-1, keepdim=True)).numpy(), rtol=1e-14)


def test_ties_go_to_the_lower_index_and_half_precision_rounds_once():
    w, e = snb.route(np.zeros((1, 5)), top_k=3)
    assert e.tolist() == [[0, 1, 2]]
    z16 = np.random.default_rng(9).standard_normal((10, 6)).astype(np.float16)
    w16, e16 = snb.route(z16, top_k=2, renormalize=True)
    w32, e32 = snb.route(z16.astype(np.float32), top_k=2, renormalize=True)
    assert w16.dtype == np.float16
    np.testing.assert_array_equal(e16, e32)
    np.testing.assert_array_equal(w16, w32.astype(np.float16))


@pytest.mark.parametrize("kwargs, err, match", [
    ({"top_k": 0}, ValueError, "top_k"),
    ({"top_k": 5}, ValueError, "top_k"),
    ({"top_k": 2.0}, TypeError, "top_k"),
    ({"top_k": 1, "gating": "relu"}, ValueError, "gating"),
    ({"top_k": 1, "renormalize": "yes"}, TypeError, "renormalize"),
    ({"top_k": 1, "bias": [0.0, 1.0]}, ValueError, "bias"),
    ({"top_k": 1, "bias": [0.0, 0.0, 0.0, np.nan]}, ValueError, "bias"),
])
def test_route_rejects_bad_options(kwargs, err, match):
    with pytest.raises(err, match=match):
        snb.route(np.zeros((2, 4)), **kwargs)
    with pytest.raises(ValueError, match="logits"):
        snb.route([[0.0, np.inf]], top_k=1)


def _balance_loop(probs, experts):
    n, e = probs.shape
    f = [sum(1 for row in experts for x in row if x == i) / n for i in range(e)]
    p = [sum(probs[t, i] for t in range(n)) / n for i in range(e)]
    return e * sum(fi * pi for fi, pi in zip(f, p))


def test_load_balancing_loss_matches_a_loop_and_its_extremes():
    rng = np.random.default_rng(10)
    z = rng.standard_normal((100, 8))
    probs = snb.softmax(z)
    _, experts = snb.route(z, top_k=2)
    assert snb.load_balancing_loss(probs, experts) == pytest.approx(_balance_loop(probs, experts), rel=1e-14)
    uniform = np.full((8, 4), 0.25)
    balanced = np.array([[i % 4, (i + 1) % 4] for i in range(8)])
    assert snb.load_balancing_loss(uniform, balanced, num_experts=4) == pytest.approx(2.0)  # = k
    collapsed = np.tile([1.0, 0.0, 0.0, 0.0], (8, 1))
    assert snb.load_balancing_loss(collapsed, np.zeros((8, 1), dtype=int)) == pytest.approx(4.0)  # = E k


def test_load_balancing_loss_matches_hugging_face():
    pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    mixtral = pytest.importorskip("transformers.models.mixtral.modeling_mixtral")
    z = np.random.default_rng(11).standard_normal((3, 40, 8))  # three layers of 40 tokens
    ref = mixtral.load_balancing_loss_func(tuple(torch.from_numpy(layer) for layer in z), num_experts=8, top_k=2)
    flat = z.reshape(-1, 8)
    _, experts = snb.route(flat, top_k=2)
    ours = snb.load_balancing_loss(snb.softmax(flat), experts, num_experts=8)
    assert ours == pytest.approx(ref.item(), rel=1e-6)  # HF sums its probabilities in float32


@pytest.mark.parametrize("probs, experts, kwargs, err, match", [
    (np.full((2, 4), 0.25), [[0], [4]], {}, ValueError, "experts must be indices"),
    (np.full((2, 4), 0.25), [[0, 0], [1, 2]], {}, ValueError, "repeats"),
    (np.full((2, 4), 0.25), [[0.0], [1.0]], {}, TypeError, "integer"),
    (np.full((2, 4), 0.25), [[0], [1], [2]], {}, ValueError, "shape"),
    (np.full((2, 4), 0.3), [[0], [1]], {}, ValueError, "sum to 1"),
    (np.full((2, 4), 0.25), [[0], [1]], {"num_experts": 5}, ValueError, "num_experts"),
    (np.zeros((0, 4)), np.zeros((0, 1), dtype=int), {}, ValueError, "no tokens"),
])
def test_load_balancing_loss_rejects_bad_input(probs, experts, kwargs, err, match):
    with pytest.raises(err, match=match):
        snb.load_balancing_loss(probs, experts, **kwargs)


def test_renormalised_weights_survive_underflowing_scores():
    w, e = snb.route(np.full((1, 4), -1000.0), top_k=2, gating="sigmoid")  # every sigma(z) is 0 in float64
    np.testing.assert_array_equal(w, [[0.5, 0.5]])
    w, e = snb.route(np.array([[0.0, -1000.0, -1001.0]]), top_k=2, renormalize=True, bias=[-10.0, 5.0, 5.0])
    assert e.tolist() == [[1, 2]]  # the bias picks two experts whose probabilities underflow to 0
    np.testing.assert_allclose(w, [[1 / (1 + np.exp(-1.0)), 1 / (1 + np.e)]], rtol=1e-15)
    z = np.array([[-800.0, -801.0, 3.0]])
    w, _ = snb.route(z, top_k=2, gating="sigmoid", bias=[5.0, 5.0, 0.0])
    np.testing.assert_allclose(w, [[1 / (1 + np.exp(-1.0)), 1 / (1 + np.e)]], rtol=1e-13)
