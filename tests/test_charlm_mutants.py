"""Tests written to kill surviving mutmut mutants of softmax_nb.charlm (see tests/MUTATION.md)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.special import log_softmax

from softmax_nb._checks import ArgumentTypeError
from softmax_nb.charlm import CharMLP, CharVocab, _loss_and_grads
from softmax_nb.losses import cross_entropy


def _params(v=3, e=2, h=4, context=2, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return {"E": rng.normal(size=(v, e)).astype(dtype), "W1": rng.normal(size=(context * e, h)).astype(dtype),
            "b1": rng.normal(size=h).astype(dtype), "W2": rng.normal(size=(h, v)).astype(dtype),
            "b2": rng.normal(size=v).astype(dtype)}


# --------------------------------------------------------------------------- vocabulary and ids
def test_char_vocab_messages_in_full():
    with pytest.raises(ArgumentTypeError, match="^chars must be a str of distinct characters, got int$"):
        CharVocab(5)
    with pytest.raises(ValueError, match="^chars must hold distinct characters, got 'ab' more than once$"):
        CharVocab("abab")
    with pytest.raises(ArgumentTypeError, match="^text must be a str, got int$"):
        CharVocab.normalise(5)
    with pytest.raises(ValueError, match="^text contains characters outside the vocabulary: 'xyz'$"):
        CharVocab("ab").encode("zyx")


def test_the_first_id_out_of_range_is_named():
    vocab = CharVocab("abc")
    with pytest.raises(ValueError, match=r"^ids must hold token ids in \[0, 3\), got 7$"):
        vocab.decode([0, 1, 7, 2])


# --------------------------------------------------------------------------- CharMLP's parameters
def test_params_type_messages_in_full():
    with pytest.raises(ArgumentTypeError, match=re.escape("params must be a dict with the keys "
                                                          "['E', 'W1', 'b1', 'W2', 'b2'], got list") + "$"):
        CharMLP([1], 2)
    params = {k: a.tolist() if k in ("E", "W1") else a for k, a in _params().items()}
    with pytest.raises(ArgumentTypeError, match="^params must map each name to a numpy.ndarray, got E: list, "
                                                "W1: list$"):
        CharMLP(params, 2)
    params = _params()
    params["E"][0, 0], params["b2"][1] = np.nan, np.inf
    with pytest.raises(ValueError, match="^params must be finite, got NaN or inf in E, b2$"):
        CharMLP(params, 2)


@pytest.mark.parametrize("name, value", [("E", np.ones(3)), ("E", np.ones((3, 2, 1))), ("b1", np.array(0.0))])
def test_params_of_the_wrong_rank(name, value):
    params = _params()
    params[name] = value
    with pytest.raises(ValueError, match=r"^params must have shapes E \(V, e\), W1 \(context \* e, H\)"):
        CharMLP(params, 2)


@pytest.mark.parametrize("size", ["v", "e", "h"])
def test_empty_sizes_are_refused(size):
    params = _params(**{size: 0})
    with pytest.raises(ValueError, match=r"^params must have shapes"):
        CharMLP(params, 2)


def test_sizes_of_one_are_a_model():
    model = CharMLP(_params(v=1, e=1, h=1, context=1), 1)
    assert model.vocab_size == 1
    np.testing.assert_array_equal(model.logits([[0], [0]]).shape, (2, 1))


# --------------------------------------------------------------------------- nll and the training loss
def test_nll_equals_the_mean_cross_entropy_written_out():
    params = _params(seed=1)
    model = CharMLP(params, 2)
    ids = np.random.default_rng(2).integers(0, 3, 50)
    w = np.lib.stride_tricks.sliding_window_view(ids, 2)[:-1]
    x = params["E"][w].reshape(len(w), -1)
    z = np.tanh(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    ref = -np.mean(log_softmax(z, axis=1)[np.arange(len(w)), ids[2:]])
    assert model.nll(ids) == pytest.approx(ref, rel=1e-13)
    assert model.nll(ids, batch=7) == pytest.approx(ref, rel=1e-13)


def test_nll_default_batch_is_8192():
    # The documented default: the same batches, so the same rounding, as batch=8192.
    model = CharMLP(_params(dtype=np.float32, seed=3), 2)
    ids = np.random.default_rng(4).integers(0, 3, 8200)
    assert model.nll(ids) == model.nll(ids, batch=8192)


def test_nll_messages():
    model = CharMLP(_params(), 2)
    with pytest.raises(ValueError, match=r"^ids must be a 1-D sequence of token ids, got shape \(1, 4\)$"):
        model.nll([[0, 1, 2, 0]])
    with pytest.raises(ValueError, match="^batch must be an integer >= 1, got 0$"):
        model.nll([0, 1, 2, 0], batch=0)


def test_training_loss_has_no_label_smoothing_by_default():
    params = _params(seed=5)
    w = np.array([[0, 1], [2, 2], [1, 0]])
    y = np.array([2, 0, 1])
    loss, _ = _loss_and_grads(params, w, y)
    assert loss == pytest.approx(float(cross_entropy(CharMLP(params, 2).logits(w), y)), rel=1e-14)
