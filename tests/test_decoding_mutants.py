"""Tests written to kill surviving mutmut mutants of softmax_nb.decoding (see tests/MUTATION.md)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import softmax_nb.charlm as charlm
import softmax_nb.decoding as decoding
from softmax_nb.decoding import generate, top_k_filter, top_p_filter

MOVED = ("load_corpus", "CharVocab", "CharMLP", "TrainLog", "train_char_mlp")


# --------------------------------------------------------------------------- names moved to charlm
@pytest.mark.parametrize("name", MOVED)
def test_moved_names_warn_in_full_and_resolve_to_charlm(name):
    # What tests/test_decoding.py checks, except the warning's file (which mutmut's trampolines change): the
    # category, the whole message, and that it is not attributed to a line inside the package.
    msg = (rf"^softmax_nb\.decoding\.{name} moved to softmax_nb\.charlm\.{name}; import it from there "
           r"\(the old location will be removed in the next release\)$")
    with pytest.warns(DeprecationWarning, match=msg) as rec:
        obj = getattr(decoding, name)
    assert obj is getattr(charlm, name)
    assert len(rec) == 1 and rec[0].category is DeprecationWarning
    package = os.path.dirname(os.path.abspath(decoding.__file__))
    assert not os.path.abspath(rec[0].filename).startswith(package + os.sep)


def test_unknown_attribute_message():
    with pytest.raises(AttributeError, match=r"^module 'softmax_nb\.decoding' has no attribute 'nope'$"):
        decoding.nope  # noqa: B018


# --------------------------------------------------------------------------- logits checks
@pytest.mark.parametrize("z, msg", [
    ([0.0, np.nan], "logits contains NaN"),
    ([0.0, np.inf], "logits contains +inf; use a large finite logit instead"),
    ([[0.0, 1.0], [-np.inf, -np.inf]], "logits has a row whose every entry is -inf: no token can be kept or sampled"),
])
def test_logits_messages_in_full(z, msg):
    with pytest.raises(ValueError) as e:
        top_k_filter(z, top_k=1)
    assert str(e.value) == msg


# --------------------------------------------------------------------------- filters
@pytest.mark.parametrize("k", [1, 2, 5, 37, 999, 1000])
def test_top_k_on_a_long_row_matches_a_sort(k):
    # Long enough that np.partition does not sort the whole row (introselect, not insertion sort).
    z = np.random.default_rng(k).normal(size=(3, 1000))
    kth = -np.sort(-z, axis=-1)[:, k - 1:k]
    np.testing.assert_array_equal(top_k_filter(z, top_k=k), np.where(z >= kth, z, -np.inf))


def test_top_p_of_one_keeps_tokens_whose_probability_underflows():
    # Documented: top_p=1 keeps every token, even those whose float64 probability is 0 (the mass before them
    # already sums to 1).
    z = np.array([-900.0, 0.0, -800.0])  # probabilities 0, 1, 0 in float64
    np.testing.assert_array_equal(top_p_filter(z, top_p=1.0), z)


# --------------------------------------------------------------------------- the model's logits in generate
class _Model:
    """A stand-in language model: context 1, logits from a function of the windows."""

    context = 1

    def __init__(self, fn):
        self.fn = fn

    def logits(self, windows):
        return self.fn(np.asarray(windows))


SHAPE_MSG = r"^model\.logits must return real logits of shape \(R, V\) = \(2, V\) with V >= 1, got "


@pytest.mark.parametrize("fn, got", [
    (lambda w: np.zeros((len(w), 0)), r"float64 of shape \(2, 0\) at step 0$"),
    (lambda w: np.zeros((len(w) + 1, 3)), r"float64 of shape \(3, 3\) at step 0$"),
    (lambda w: np.zeros(len(w)), r"float64 of shape \(2,\) at step 0$"),
    (lambda w: np.zeros((len(w), 3, 1)), r"float64 of shape \(2, 3, 1\) at step 0$"),
    (lambda w: np.zeros((len(w), 3), bool), r"bool of shape \(2, 3\) at step 0$"),
])
@pytest.mark.parametrize("greedy", [True, False])
def test_generate_checks_the_shape_and_dtype_of_the_model_logits(fn, got, greedy):
    with pytest.raises(ValueError, match=SHAPE_MSG + got):
        generate(_Model(fn), [[0], [1]], 2, 0, greedy=greedy)


def _bad_logits(kind):
    def fn(w):
        z = np.zeros((len(w), 3))
        if kind == "nan":
            z[1, 2] = np.nan
        elif kind == "+inf":
            z[1, 2] = np.inf
        else:
            z[1] = -np.inf  # one row of -inf, the other finite
        return z
    return fn


@pytest.mark.parametrize("kind, what", [("nan", "NaN"), ("+inf", r"\+inf"), ("-inf", "a row of -inf")])
@pytest.mark.parametrize("greedy", [True, False])
def test_generate_names_the_model_for_undefined_logits(kind, what, greedy):
    with pytest.raises(ValueError, match=rf"^model\.logits returned {what} at step 0: the model's logits are not "
                                         r"defined there \(a float64 model whose logits overflow its range\? use "
                                         r"float32 or float64 parameters\)$"):
        generate(_Model(_bad_logits(kind)), [[0], [1]], 2, 0, greedy=greedy)


def test_generate_with_a_one_token_vocabulary():
    tokens, logp = generate(_Model(lambda w: np.zeros((len(w), 1))), [[0], [0]], 3, 0)
    np.testing.assert_array_equal(tokens, np.zeros((2, 3), np.intp))
    np.testing.assert_array_equal(logp, np.zeros((2, 3)))
