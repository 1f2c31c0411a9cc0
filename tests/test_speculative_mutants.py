"""Tests written to kill surviving mutmut mutants of softmax_nb.speculative (see tests/MUTATION.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from softmax_nb._checks import ArgumentTypeError
from softmax_nb.speculative import acceptance_rate, speculative_decode, speculative_sample


class Model:
    """Context-1 model: the logits of the next token are row ``z[last token]``; records the windows it sees."""

    context = 1

    def __init__(self, z, vocab_size=None):
        self.z = np.asarray(z)
        self.calls = []
        if vocab_size is not None:
            self.vocab_size = vocab_size

    def logits(self, windows):
        w = np.asarray(windows)
        self.calls.append(w.copy())
        return self.z[w[:, -1]]


class Returns:
    """A model whose logits are a fixed array, whatever the windows."""

    context = 1

    def __init__(self, out):
        self.out = out

    def logits(self, windows):
        return self.out


_Z = np.log(np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]]))


# --------------------------------------------------------------------------- probabilities
def test_the_tolerance_of_half_precision_is_inclusive():
    # float16: the sum may be off by sqrt(eps) = 2**-5 exactly
    p = np.array([0.5, 0.53125], np.float16)
    beta = acceptance_rate(p, np.array([0.5, 0.5], np.float16))
    assert beta == min(0.5 / 1.03125, 0.5) + min(0.53125 / 1.03125, 0.5)


def test_probabilities_are_divided_by_their_sum():
    p = np.array([0.6, 0.4002], np.float32)  # sums to 1.0002, within float32's 3.5e-4
    beta = acceptance_rate(p, [0.5, 0.5])
    assert beta == pytest.approx(0.5 + float(p[1]) / (float(p[0]) + float(p[1])), rel=1e-12)


@pytest.mark.parametrize("sums, worst", [([1.0, 0.9, 1.2], "1.2"), ([1.0, 1.1, 0.7], "0.7")])
def test_the_message_reports_the_worst_row(sums, worst):
    p = np.array([[s / 2, s / 2] for s in sums])
    with pytest.raises(ValueError, match=rf"^p must sum to 1 along its last axis \(within 1.5e-08 for float64\), "
                                         rf"got a sum of {worst}$"):
        acceptance_rate(p, np.full((3, 2), 0.5))


def test_acceptance_rate_types():
    beta = acceptance_rate([0.5, 0.5, 0.0], [0.25, 0.25, 0.5])
    assert type(beta) is np.float64 and beta == 0.5
    rows = acceptance_rate([[0.5, 0.5], [1.0, 0.0]], [[0.5, 0.5], [0.0, 1.0]])
    assert isinstance(rows, np.ndarray) and rows.shape == (2,)
    np.testing.assert_array_equal(rows, [1.0, 0.0])


# --------------------------------------------------------------------------- speculative_sample
def test_speculative_sample_names_its_arguments():
    with pytest.raises(ValueError, match=r"^p and q must be 1-D \(one distribution over the vocabulary\), got shape "
                                         r"\(1, 2\); call once per position for a batch$"):
        speculative_sample([[0.5, 0.5]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="^size must be an integer >= 0, got -1$"):
        speculative_sample([0.5, 0.5], [0.5, 0.5], size=-1)
    with pytest.raises(ArgumentTypeError, match="^return_accepted must be True or False, got 1$"):
        speculative_sample([0.5, 0.5], [0.5, 0.5], return_accepted=1)
    with pytest.raises(ValueError, match=r"^give size \(draw the draft tokens from q\) or draft \(tokens already "
                                         r"drawn\), not both$"):
        speculative_sample([0.5, 0.5], [0.5, 0.5], size=1, draft=[0])


@pytest.mark.parametrize("draft, bad", [([0, 3], 3), ([3], 3), ([1, -1, 4], -1), ([0, 1, 5], 5)])
def test_draft_ids_out_of_range_are_reported(draft, bad):
    with pytest.raises(ValueError, match=rf"^draft must hold token ids in \[0, 3\), got {bad}$"):
        speculative_sample([0.2, 0.3, 0.5], [0.2, 0.3, 0.5], draft=draft)


def test_a_draft_token_with_q_zero_is_reported():
    with pytest.raises(ValueError, match="^draft holds token 2, to which q gives probability 0: it cannot have been "
                                         "drawn from q$"):
        speculative_sample([0.2, 0.3, 0.5], [0.5, 0.5, 0.0], draft=[0, 2, 1])


def test_an_empty_draft_gives_empty_results():
    tokens, accepted = speculative_sample([0.5, 0.5], [0.5, 0.5], rng=0, draft=[], return_accepted=True)
    assert tokens.shape == accepted.shape == (0,)


def test_draft_shapes_are_kept():
    p, q = [0.6, 0.4, 0.0], [0.2, 0.3, 0.5]
    token, ok = speculative_sample(p, q, rng=0, draft=1, return_accepted=True)  # p >= q at token 1: kept
    assert type(token) is np.intp and type(ok) is np.bool_ and token == 1 and ok
    tokens, oks = speculative_sample(p, q, rng=0, draft=[[0, 1], [1, 0]], return_accepted=True)
    assert tokens.shape == oks.shape == (2, 2)
    np.testing.assert_array_equal(tokens, [[0, 1], [1, 0]])
    assert oks.all()


def test_the_seed_makes_draws_reproducible():
    p, q = [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]
    a = speculative_sample(p, q, rng=123, size=200)
    b = speculative_sample(p, q, rng=123, size=200)
    np.testing.assert_array_equal(a, b)


def test_each_rejected_draw_gets_its_own_residual_draw():
    # q proposes token 0 only, which p never takes: every draw is rejected and comes from r = (0, 1/2, 1/2).
    tokens, ok = speculative_sample([0.0, 0.5, 0.5], [1.0, 0.0, 0.0], rng=0, size=100, return_accepted=True)
    assert not ok.any()
    assert set(tokens.tolist()) == {1, 2}


def test_a_residual_without_mass_falls_back_to_p():
    # q(1) = 1e-300 is lost in the sum: p - q has no positive entry, yet the draft token 1 (p = 0) is rejected.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        token, ok = speculative_sample([1.0, 0.0], [1.0, 1e-300], rng=0, draft=[1], return_accepted=True)
    assert token.tolist() == [0] and not ok[0]


# --------------------------------------------------------------------------- speculative_decode: arguments
def _decode(**kw):
    args = dict(target=Model(_Z), draft=Model(_Z), prompt=[0], length=3, rng=0)
    args.update(kw)
    return speculative_decode(args.pop("target"), args.pop("draft"), args.pop("prompt"), args.pop("length"), **args)


@pytest.mark.parametrize("kw, kind, match", [
    (dict(greedy=1), ArgumentTypeError, "^greedy must be True or False, got 1$"),
    (dict(top_k=0), ValueError, "^top_k must be an integer >= 1, got 0$"),
    (dict(top_p="a"), ArgumentTypeError, r"^top_p must be a number in \(0, 1\], got str 'a'$"),
    (dict(top_p=0.0), ValueError, r"^top_p must be in \(0, 1\], got 0.0$"),
    (dict(top_p=1.5), ValueError, r"^top_p must be in \(0, 1\], got 1.5$"),
    (dict(min_p=2.0), ValueError, r"^min_p must be in \[0, 1\], got 2.0$"),
    (dict(length=0), ValueError, "^length must be an integer >= 1, got 0$"),
    (dict(num_draft=-1), ValueError, "^num_draft must be an integer >= 0, got -1$"),
])
def test_speculative_decode_names_its_arguments(kw, kind, match):
    with pytest.raises(kind, match=match):
        _decode(**kw)


@pytest.mark.parametrize("option", [dict(top_p=0.9), dict(min_p=0.1), dict(top_k=2), dict(temperature=0.5)])
def test_greedy_takes_no_sampling_option(option):
    with pytest.raises(ArgumentTypeError, match=r"^speculative_decode\(greedy=True\) takes no sampling options "
                                                r"\(temperature, top_k, top_p, min_p\): greedy decoding takes the "
                                                r"most probable token$"):
        _decode(greedy=True, **option)


def test_top_p_of_one_keeps_everything():
    assert _decode(top_p=1.0).tokens.shape == (3,)


class _LogitsOnly:
    def logits(self, windows):
        return np.zeros((len(windows), 3))


class _NotCallable:
    context = 1
    logits = None


@pytest.mark.parametrize("model, name", [(_LogitsOnly(), "_LogitsOnly"), (_NotCallable(), "_NotCallable")])
def test_models_need_context_and_logits(model, name):
    with pytest.raises(ArgumentTypeError, match=rf"^target must be a language model with an int context >= 1 and a "
                                                rf"method logits\(windows\), such as softmax_nb.charlm.CharMLP; got "
                                                rf"{name}$"):
        _decode(target=model)


@pytest.mark.parametrize("who, out, shape", [
    ("target", np.zeros((1, 3), complex), "complex128 of shape \\(1, 3\\)"),
    ("target", np.zeros((2, 3)), "float64 of shape \\(2, 3\\)"),
    ("draft", np.zeros((1, 1, 3)), "float64 of shape \\(1, 1, 3\\)"),
    ("draft", np.zeros((1, 0)), "float64 of shape \\(1, 0\\)"),
])
def test_logits_of_the_wrong_shape_or_kind_are_reported(who, out, shape):
    kw = {who: Returns(out), "num_draft": 0 if who == "target" else 1}
    with pytest.raises(ValueError, match=rf"^{who}.logits must return real logits of shape \(R, V\) = \(1, V\), got "
                                         rf"{shape}$"):
        _decode(**kw)


@pytest.mark.parametrize("row", [[0.0, np.inf, 0.0], [-np.inf] * 3, [0.0, np.nan, 0.0]])
def test_undefined_logits_are_reported(row):
    with pytest.raises(ValueError, match=r"^target.logits returned NaN, \+inf or a row of -inf: no distribution is "
                                         r"defined there$"):
        _decode(target=Returns(np.array([row])), num_draft=0)


def test_a_row_of_minus_inf_among_finite_rows_is_reported():
    # The draft always proposes token 1; the target's second window ends in 1, whose row is all -inf.
    z = np.array([[0.0, 0.0], [-np.inf, -np.inf]])
    draft = Model(np.array([[-np.inf, 0.0], [-np.inf, 0.0]]))
    with pytest.raises(ValueError, match=r"^target.logits returned NaN, \+inf or a row of -inf"):
        speculative_decode(Model(z), draft, [0], 3, rng=0, num_draft=1)


def test_rows_far_apart_are_normalised_each_on_its_own():
    # The second window's logits lie 2000 below the first's: normalised together, they would underflow to 0/0.
    z = np.array([[-50.0, 0.0], [-2000.0, -1999.0]])
    result = speculative_decode(Model(z), Model(z), [0], 6, rng=0, num_draft=2)
    assert np.isfinite(result.beta).all() and result.tokens.shape == (6,)
    assert set(result.tokens.tolist()) <= {0, 1}


def test_a_vocabulary_of_one():
    result = _decode(target=Model(np.zeros((1, 1))), draft=Model(np.zeros((1, 1))), length=4)
    np.testing.assert_array_equal(result.tokens, [0, 0, 0, 0])


@pytest.mark.parametrize("num_draft", [0, 2])
@pytest.mark.parametrize("vocab_size", [None, 3])
def test_prompt_ids_are_checked_against_the_vocabulary(num_draft, vocab_size):
    # context 1: only the last id reaches the models, so the check is the function's own
    with pytest.raises(ValueError, match=r"^prompt must hold token ids in \[0, 3\) for the models' vocabulary, got "
                                         r"3$"):
        _decode(target=Model(_Z, vocab_size), prompt=[0, 3, 1], num_draft=num_draft)


@pytest.mark.parametrize("vocab_size, where", [(None, "V"), (3, "3")])
def test_negative_prompt_ids_are_reported(vocab_size, where):
    with pytest.raises(ValueError, match=rf"^prompt must hold token ids in \[0, {where}\) for the models' "
                                         rf"vocabulary, got -1$"):
        _decode(target=Model(_Z, vocab_size), prompt=[0, -1, 5, 1])


@pytest.mark.parametrize("num_draft", [1, 3])
def test_models_with_different_vocabularies_are_refused(num_draft):
    wide = Model(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="^target and draft must share a vocabulary"):
        speculative_decode(wide, Model(_Z), [0], 4, rng=0, num_draft=num_draft)


# --------------------------------------------------------------------------- speculative_decode: the loop
def test_the_default_proposes_four_draft_tokens():
    result = speculative_decode(Model(_Z), Model(_Z), [0], 12, rng=0)
    np.testing.assert_array_equal(result.proposed, [4, 4, 1])  # 5 + 5 tokens, then 2 more: 1 proposal + 1
    np.testing.assert_array_equal(result.accepted, [4, 4, 1])


def test_each_target_call_scores_the_proposals_plus_one_window():
    target = Model(_Z)
    result = speculative_decode(target, Model(_Z * 0.5), [0], 20, rng=1, num_draft=3)
    assert [len(w) for w in target.calls] == (result.proposed + 1).tolist()


def test_greedy_leaves_the_generator_alone_and_has_one_hot_distributions():
    gen = np.random.default_rng(0)
    state = gen.bit_generator.state
    result = speculative_decode(Model(_Z), Model(_Z), [0], 9, gen, num_draft=2, greedy=True)
    assert gen.bit_generator.state == state
    np.testing.assert_array_equal(result.tokens, [0] * 9)
    np.testing.assert_array_equal(result.beta, 1.0)  # both one-hot at the same token


def test_plain_decoding_has_empty_bookkeeping_of_the_right_dtypes():
    result = speculative_decode(Model(_Z), Model(_Z), [0], 3, rng=0, num_draft=0)
    assert result.kept.dtype == bool and result.kept.shape == (0,)
    assert result.beta.dtype == np.float64 and result.beta.shape == (0,)
    np.testing.assert_array_equal(result.proposed, [0, 0, 0])
