"""Tests for softmax_nb.decoding (logit filters, sampling, generation) and softmax_nb.charlm (corpus, character MLP)."""

from __future__ import annotations

import hashlib
import inspect
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from softmax_nb import numerical_gradient, softmax
from softmax_nb._checks import ArgumentTypeError
from softmax_nb.charlm import CharMLP, CharVocab, _loss_and_grads, load_corpus, train_char_mlp
from softmax_nb.decoding import generate, min_p_filter, sample, top_k_filter, top_p_filter

DTYPES = [np.float16, np.float32, np.float64]


# --------------------------------------------------------------------------- direct-loop references
def ref_top_k(row, k):
    finite_sorted = sorted(row, reverse=True)
    kth = finite_sorted[min(k, len(row)) - 1]
    return [z >= kth for z in row]


def ref_top_p(row, p):
    # smallest prefix of the tokens sorted by decreasing logit whose mass reaches p, plus ties of its last token
    if p == 1.0:  # documented: p = 1 keeps everything (rounding could make a prefix sum reach 1 too early)
        return [True] * len(row)
    q = softmax(np.asarray(row, np.float64))
    order = sorted(range(len(row)), key=lambda i: -float(row[i]))
    keep, total = [False] * len(row), 0.0
    last = None
    for i in order:
        if total >= p and row[i] != last:
            break
        keep[i] = True
        total += float(q[i])
        last = row[i]
    return keep


def ref_min_p(row, p_min):
    top = max(float(z) for z in row)
    return [float(z) - top >= math.log(p_min) if p_min > 0 else True for z in row]


@st.composite
def logit_rows(draw):
    """Rows with ties (values from a small set), -inf entries, and every float dtype."""
    dtype = draw(st.sampled_from(DTYPES))
    n_rows, v = draw(st.integers(1, 4)), draw(st.integers(1, 9))
    values = st.sampled_from([-np.inf, -3.0, -1.0, 0.0, 0.5, 2.0, 7.0]) if draw(st.booleans()) else \
        st.floats(-30, 30, allow_nan=False, width=16)
    z = draw(hnp.arrays(np.float64, (n_rows, v), elements=values)).astype(dtype)
    z[np.isneginf(z).all(axis=1), 0] = 1.0  # every row needs a finite logit
    return z


def check_filter(out, z, keep):
    assert out.shape == z.shape and out.dtype == z.dtype
    keep = np.asarray(keep, bool)
    np.testing.assert_array_equal(out[keep], z[keep])
    assert np.isneginf(out[~keep]).all()
    assert np.isfinite(out).any(axis=-1).all()  # never an empty row


@given(logit_rows(), st.integers(1, 12))
def test_top_k_matches_loop(z, k):
    keep = [ref_top_k(list(row), k) for row in z]
    check_filter(top_k_filter(z, top_k=k), z, keep)
    kept = np.isfinite(top_k_filter(z, top_k=k)).sum(axis=1)
    assert (kept >= np.minimum(k, np.isfinite(z).sum(axis=1))).all()  # ties may keep more, never fewer


@given(logit_rows(), st.floats(0.0, 1.0, exclude_min=True))
def test_top_p_matches_loop(z, p):
    out = top_p_filter(z, top_p=p)
    keep = [ref_top_p(list(row), p) for row in z]
    check_filter(out, z, [[k and np.isfinite(x) for k, x in zip(kr, row)] for kr, row in zip(keep, z)])
    q = softmax(z.astype(np.float64))
    kept_mass = np.where(np.isfinite(out), q, 0).sum(axis=1)
    assert (kept_mass >= p - 1e-12).all()


@given(logit_rows(), st.floats(0.0, 1.0))
def test_min_p_matches_loop(z, p_min):
    keep = [ref_min_p(list(row), p_min) for row in z]
    check_filter(min_p_filter(z, min_p=p_min), z, [[k and np.isfinite(x) for k, x in zip(kr, row)]
                                            for kr, row in zip(keep, z)])


@given(logit_rows(), st.floats(0.01, 1.0), st.floats(0.01, 1.0))
def test_kept_sets_are_nested_and_have_no_holes(z, a, b):
    lo, hi = min(a, b), max(a, b)
    for small, large in ((top_p_filter(z, top_p=lo), top_p_filter(z, top_p=hi)),
                         (min_p_filter(z, min_p=hi), min_p_filter(z, min_p=lo))):
        small, large = np.isfinite(small), np.isfinite(large)
        assert (small <= large).all()
        for row, keep in zip(z, small):  # a kept token implies every strictly larger logit is kept
            if keep.any():
                assert (keep | (row < row[keep].min())).all()


def test_filter_hand_cases():
    z = np.log([0.5, 0.3, 0.15, 0.05])
    assert np.isfinite(top_p_filter(z, top_p=0.5)).tolist() == [True, False, False, False]
    assert np.isfinite(top_p_filter(z, top_p=0.51)).tolist() == [True, True, False, False]
    assert np.isfinite(top_p_filter(z, top_p=1.0)).all()
    assert np.isfinite(top_p_filter(z, top_p=1e-9)).tolist() == [True, False, False, False]
    assert np.isfinite(min_p_filter(z, min_p=0.3)).tolist() == [True, True, True, False]  # 0.15 >= 0.3 * 0.5
    assert np.isfinite(min_p_filter(z, min_p=1.0)).tolist() == [True, False, False, False]
    assert np.isfinite(min_p_filter(z, min_p=0.0)).all()
    ties = np.array([1.0, 2.0, 2.0, 0.0])
    assert np.isfinite(top_k_filter(ties, top_k=1)).tolist() == [False, True, True, False]
    assert np.isfinite(top_p_filter(ties, top_p=0.1)).tolist() == [False, True, True, False]  # the tie group is kept
    assert np.isfinite(min_p_filter(ties, min_p=1.0)).tolist() == [False, True, True, False]
    # a uniform row at top_p = 0.5: the whole tie group (4 tokens), where HF's TopPLogitsWarper keeps 2 (R7)
    assert np.isfinite(top_p_filter(np.zeros(4), top_p=0.5)).sum() == 4
    # batches along leading axes
    zb = np.stack([z, z[::-1]])[None]
    np.testing.assert_array_equal(top_k_filter(zb, top_k=2)[0, 1], top_k_filter(z[::-1], top_k=2))


def test_filters_reject_bad_input():
    for f, kw in ((top_k_filter, {"top_k": 1}), (top_p_filter, {"top_p": 0.5}), (min_p_filter, {"min_p": 0.5})):
        with pytest.raises(ValueError, match="every entry is -inf"):
            f(np.array([[0.0, 1.0], [-np.inf, -np.inf]]), **kw)
        with pytest.raises(ValueError, match="NaN"):
            f(np.array([0.0, np.nan]), **kw)
        with pytest.raises(ValueError, match=r"\+inf"):
            f(np.array([0.0, np.inf]), **kw)
        with pytest.raises(ValueError, match="non-empty last axis"):
            f(np.zeros((2, 0)), **kw)
        with pytest.raises(ArgumentTypeError, match="logits must be numeric"):
            f("0 1", **kw)
        with pytest.raises(TypeError, match="missing 1 required keyword-only argument"):
            f(np.zeros(3))
    z = np.zeros(3)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="^top_k must be an integer >= 1") as info:
            top_k_filter(z, top_k=bad)
        assert not isinstance(info.value, TypeError)
    for bad in (1.5, 2.0, True, "2", None):
        with pytest.raises(ArgumentTypeError, match="^top_k must be an integer >= 1"):
            top_k_filter(z, top_k=bad)
    for bad in (0.0, -0.1, 1.1, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"^top_p must be in \(0, 1\]") as info:
            top_p_filter(z, top_p=bad)
        assert not isinstance(info.value, TypeError)
    for bad in ("0.5", "x", True, np.bool_(True), None, 0.5j, [0.5]):
        with pytest.raises(ArgumentTypeError, match=r"^top_p must be a number in \(0, 1\]"):
            top_p_filter(z, top_p=bad)
    for bad in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match=r"^min_p must be in \[0, 1\]"):
            min_p_filter(z, min_p=bad)
    for bad in ("0.5", False):
        with pytest.raises(ArgumentTypeError, match="^min_p must be a number in"):
            min_p_filter(z, min_p=bad)
    # the documented ranges' end points are accepted
    top_p_filter(z, top_p=1.0), min_p_filter(z, min_p=0.0), min_p_filter(z, min_p=1.0), top_k_filter(z, top_k=99)
    top_p_filter(z, top_p=np.float32(0.5)), top_k_filter(z, top_k=np.int8(2)), min_p_filter(z, min_p=np.array(0.5))


@pytest.mark.parametrize("f, old, new, value", [(top_k_filter, "k", "top_k", 2), (top_p_filter, "p", "top_p", 0.6),
                                                (min_p_filter, "p_min", "min_p", 0.3)])
def test_old_filter_names_and_positional_calls_warn_and_agree(f, old, new, value):
    z = np.log([[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]])
    expected = f(z, **{new: value})
    with pytest.warns(DeprecationWarning, match=f"argument '{old}' is renamed '{new}'") as rec:
        np.testing.assert_array_equal(f(z, **{old: value}), expected)
    assert rec[0].filename == __file__  # stacklevel: the caller's line
    with pytest.warns(DeprecationWarning, match=f"passing {new} to {f.__name__}\\(\\) positionally") as rec:
        np.testing.assert_array_equal(f(z, value), expected)
    assert rec[0].filename == __file__
    # an error names the argument the caller wrote
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=f"^{old} must"):
        f(z, **{old: -1})
    with pytest.warns(DeprecationWarning), pytest.raises(ArgumentTypeError, match=f"^{old} must"):
        f(z, **{old: "0.5"})
    with pytest.raises(TypeError, match=f"both '{new}' and its deprecated name '{old}'"):
        f(z, **{old: value, new: value})
    with pytest.raises(TypeError, match="multiple values"):
        f(z, value, **{new: value})
    assert list(inspect.signature(f).parameters) == ["logits", new]
    assert inspect.signature(f).parameters[new].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_filters_in_half_and_single_precision(dtype):
    # The filters keep the input's values and dtype; their choices are those for the same values in float64.
    rng = np.random.default_rng(4)
    z = (rng.standard_normal((50, 40)) * 3).astype(dtype)
    z[0, :5] = z[0, 5]  # a tie group
    z64 = z.astype(np.float64)
    for f, kw in ((top_k_filter, {"top_k": 5}), (top_p_filter, {"top_p": 0.8}), (min_p_filter, {"min_p": 0.05})):
        out = f(z, **kw)
        assert out.dtype == dtype
        np.testing.assert_array_equal(np.isfinite(out), np.isfinite(f(z64, **kw)))
        np.testing.assert_array_equal(out[np.isfinite(out)], z[np.isfinite(out)])


# --------------------------------------------------------------------------- sample
def _filtered_reference(z, t, top_k=None, top_p=None, min_p=None):
    """The filters applied to z / T in float64 (the division is safe for the temperatures used here)."""
    zt = z.astype(np.float64) / t
    for f, kw in ((top_k_filter, {"top_k": top_k}), (top_p_filter, {"top_p": top_p}), (min_p_filter, {"min_p": min_p})):
        if next(iter(kw.values())) is not None:
            zt = f(zt, **kw)
    return zt


@given(logit_rows(), st.integers(0, 2**32 - 1), st.sampled_from([0.3, 1.0, 4.0]),
       st.sampled_from([None, 1, 3]), st.sampled_from([None, 0.5, 0.9]), st.sampled_from([None, 0.1]))
def test_sample_never_draws_a_removed_token(z, seed, t, top_k, top_p, min_p):
    tok = sample(z, np.random.default_rng(seed), temperature=t, top_k=top_k, top_p=top_p, min_p=min_p)
    assert tok.shape == z.shape[:-1] and tok.dtype == np.intp
    zt = _filtered_reference(z, t, top_k, top_p, min_p)
    assert np.isfinite(np.take_along_axis(zt, tok[:, None], axis=1)).all()


def test_sample_frequencies_match_filtered_softmax():
    z = np.array([2.0, 1.5, 1.0, 0.0, -1.0, -3.0])
    n = 200_000
    for kwargs in ({}, {"temperature": 0.5}, {"top_k": 3}, {"top_p": 0.8, "temperature": 2.0}, {"min_p": 0.2}):
        expected = softmax(_filtered_reference(z, kwargs.get("temperature", 1.0), kwargs.get("top_k"),
                                               kwargs.get("top_p"), kwargs.get("min_p")))
        draws = sample(np.tile(z, (n, 1)), np.random.default_rng(1), **kwargs)
        freq = np.bincount(draws, minlength=len(z)) / n
        sd = np.sqrt(expected * (1 - expected) / n)
        assert (np.abs(freq - expected) <= 5 * sd + 1e-12).all(), kwargs
        assert (freq[expected == 0] == 0).all()


def test_sample_order_of_operations_and_rng_use():
    z = np.log([0.4, 0.3, 0.2, 0.1])
    # temperature first: at T = 0.25 the nucleus p = 0.7 holds only the top token
    rng = np.random.default_rng(0)
    assert set(sample(np.tile(z, (1000, 1)), rng, temperature=0.25, top_p=0.7).tolist()) == {0}
    # top-k before top-p: k = 3 renormalises, then p = 0.5 keeps tokens 0 and 1 (0.4/0.9 < 0.5)
    draws = sample(np.tile(z, (5000, 1)), np.random.default_rng(0), top_k=3, top_p=0.5)
    assert set(draws.tolist()) == {0, 1}
    # one uniform number per row, and reproducible from the seed
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    t1 = sample(np.tile(z, (7, 1)), a)
    b.random(7)
    assert a.random() == b.random()
    np.testing.assert_array_equal(t1, sample(np.tile(z, (7, 1)), np.random.default_rng(3)))


def test_sample_returns_a_numpy_scalar_for_one_row():
    tok = sample(np.log([0.4, 0.3, 0.2, 0.1]), np.random.default_rng(0))
    assert isinstance(tok, np.intp) and not isinstance(tok, np.ndarray)
    assert sample(np.zeros((2, 3, 4)), 0).shape == (2, 3)
    assert sample(np.zeros((0, 4)), 0).shape == (0,)


def test_sample_rng_accepts_int_generator_or_none():
    z = np.random.default_rng(9).normal(size=(64, 10))
    np.testing.assert_array_equal(sample(z, 123), sample(z, np.random.default_rng(123)))
    np.testing.assert_array_equal(sample(z, 123, top_p=0.9), sample(z, rng=np.random.default_rng(123), top_p=0.9))
    assert sample(z).shape == (64,) and sample(z, None).shape == (64,)  # fresh entropy
    for bad in (1.5, True, "1", np.random.RandomState(0)):
        with pytest.raises(ArgumentTypeError, match="^rng must be an int seed, a numpy.random.Generator"):
            sample(z, bad)
    with pytest.raises(ValueError, match="^rng must be a non-negative integer seed"):
        sample(z, -1)
    params = inspect.signature(sample).parameters
    options = ("temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon")
    assert list(params) == ["logits", "rng", *options]
    assert params["rng"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and params["rng"].default is None
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in options)


def test_sample_positional_options_are_deprecated():
    z = np.random.default_rng(9).normal(size=(64, 10))
    expected = sample(z, 5, temperature=0.7, top_k=4, top_p=0.9, min_p=0.05)
    match = "passing temperature, top_k, top_p, min_p to sample\\(\\) positionally"
    with pytest.warns(DeprecationWarning, match=match) as rec:
        np.testing.assert_array_equal(sample(z, 5, 0.7, 4, 0.9, 0.05), expected)
    assert rec[0].filename == __file__
    with pytest.warns(DeprecationWarning, match="passing temperature to sample"):
        np.testing.assert_array_equal(sample(z, 5, 0.7), sample(z, 5, temperature=0.7))


def test_sample_tiny_temperature_is_the_argmax_without_a_warning():
    # R12: z / T overflowed (a RuntimeWarning, then "z contains +inf"); the limit T -> 0 is uniform over the maxima
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sample([1.0, 2.0], np.random.default_rng(0), temperature=1e-310) == 1
        assert sample([1.0, 2.0, 2.0 - 1e-15], 0, temperature=5e-324) == 1
        draws = sample(np.tile([1e306, -1e306, 1e306, 0.0], (4000, 1)), np.random.default_rng(0), temperature=1e-3)
        assert set(draws.tolist()) == {0, 2} and abs(np.mean(draws == 0) - 0.5) < 0.05  # the tied maxima, uniformly
        draws = sample(np.tile(np.float32([3e38, -3e38, 3e38]), (2000, 1)), 1, temperature=1e-30, top_p=0.5)
        assert set(draws.tolist()) == {0, 2}  # the tie group is kept whole by top-p
        draws = sample(np.tile([1.0, 2.0, -np.inf], (2000, 1)), 2, temperature=1e308)  # T -> inf: uniform over finite
        assert set(draws.tolist()) == {0, 1} and abs(np.mean(draws == 0) - 0.5) < 0.05


@given(logit_rows(), st.sampled_from([5e-324, 1e-310, 1e-30, 1e-3, 1e3, 1e300, 1.7e308]), st.integers(0, 2**16))
def test_sample_at_extreme_temperatures_draws_from_the_limit(z, t, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok = sample(z, seed, temperature=t)
    picked = np.take_along_axis(z, tok[:, None], axis=1)[:, 0]
    assert np.isfinite(picked).all()
    if t <= 1e-30:  # every gap of these logits is far larger than T: only the maxima remain
        np.testing.assert_array_equal(picked, z.max(axis=1))


def test_sample_rejects_bad_arguments():
    z = [0.0, 1.0]
    with pytest.raises(ValueError, match="^temperature must be a finite number > 0"):
        sample(z, 0, temperature=0.0)
    for kw, name in (({"top_k": 0}, "top_k"), ({"top_p": 0.0}, "top_p"), ({"min_p": 2.0}, "min_p")):
        with pytest.raises(ValueError, match=f"^{name} must") as info:  # R15: the caller's name, not k, p or p_min
            sample(z, 0, **kw)
        assert not isinstance(info.value, TypeError)
    for kw, name in (({"temperature": "2"}, "temperature"), ({"top_p": "0.5"}, "top_p"), ({"top_k": 2.0}, "top_k"),
                     ({"min_p": "0.1"}, "min_p"), ({"temperature": True}, "temperature")):
        with pytest.raises(ArgumentTypeError, match=f"^{name} must"):
            sample(z, 0, **kw)
    with pytest.raises(TypeError, match="unexpected keyword argument 'k'"):
        sample(z, 0, k=2)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_sample_in_half_and_single_precision_draws_as_float64(dtype):
    z = (np.random.default_rng(2).standard_normal((300, 30)) * 4).astype(dtype)
    for kw in ({}, {"temperature": 0.5, "top_k": 7}, {"top_p": 0.8}, {"min_p": 0.1, "temperature": 1e-300}):
        np.testing.assert_array_equal(sample(z, 8, **kw), sample(z.astype(np.float64), 8, **kw))


# --------------------------------------------------------------------------- corpus, vocabulary, model
def test_corpus_is_the_shipped_public_domain_text():
    text = load_corpus()
    assert len(text) == 383_070 and text.isascii()
    assert hashlib.sha256(text.encode("ascii")).hexdigest() == \
        "6a4cdb18a85020e7c57ef435a80d1719104533476d081e7977e0b2dc32a01e6a"
    assert "THE DEVIL'S DICTIONARY" in text and "A Public Domain Text" in text


def test_vocab_round_trip_and_errors():
    vocab = CharVocab.from_text("Hello,\n  World!")
    assert vocab.chars == " !,dehlorw"
    ids = vocab.encode("hello   world")
    assert vocab.decode(ids) == "hello world" and len(vocab) == 10
    assert vocab.decode([]) == "" and vocab.decode(np.array([[4, 5]], np.uint8)) == "eh" and vocab.decode(3) == "d"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.encode("xyz")
    for f in (vocab.encode, CharVocab.from_text):
        with pytest.raises(ArgumentTypeError, match="^text must be a str"):
            f(b"hello")
    # R14: out-of-range ids were a bare IndexError, and -1 wrapped round to the last character
    for bad in ([10], [0, -1], [[1, 99]]):
        with pytest.raises(ValueError, match=r"^ids must hold token ids in \[0, 10\)") as info:
            vocab.decode(bad)
        assert not isinstance(info.value, IndexError)
    for bad in ([1.0, 2.0], [1.5], ["a"], [True]):
        with pytest.raises(ArgumentTypeError, match="^ids must be integer token ids"):
            vocab.decode(bad)


def test_mlp_gradients_match_central_differences():
    rng = np.random.default_rng(0)
    v, c, e, h = 5, 3, 2, 4
    params = {"E": rng.normal(size=(v, e)), "W1": rng.normal(size=(c * e, h)), "b1": rng.normal(size=h),
              "W2": rng.normal(size=(h, v)), "b2": rng.normal(size=v)}
    w = rng.integers(0, v, size=(6, c))
    w[0] = [1, 1, 2]  # a repeated id: its embedding gradient accumulates
    y = rng.integers(0, v, size=6)
    for alpha in (0.0, 0.1):
        _, grads = _loss_and_grads(params, w, y, alpha)
        for name in params:
            def f(x, name=name):
                return _loss_and_grads({**params, name: x}, w, y, alpha)[0]
            np.testing.assert_allclose(grads[name], numerical_gradient(f, params[name]), atol=1e-8)


def test_training_beats_the_unigram_baseline_and_is_reproducible():
    vocab = CharVocab.from_text(load_corpus())
    ids = vocab.encode(load_corpus()[:60_000])
    train, val = ids[:50_000], ids[50_000:]
    p = np.bincount(train, minlength=len(vocab)) / len(train)
    unigram = -np.mean(np.log(p[val[4:]]))
    model, log = train_char_mlp(train, len(vocab), context=4, embed=8, hidden=64, epochs=2, val_ids=val, rng=1)
    assert len(log.val_nll) == 2 and log.val_nll[-1] < unigram - 0.4
    assert math.isclose(model.nll(val), log.val_nll[-1], rel_tol=1e-12)
    assert isinstance(log.val_nll[-1], np.float64)
    with pytest.warns(DeprecationWarning, match="argument 'seed' is renamed 'rng'") as rec:
        again, _ = train_char_mlp(train, len(vocab), context=4, embed=8, hidden=64, epochs=2, seed=1)
    assert rec[0].filename == __file__
    assert again == model  # the old seed= and rng= give the same model (and CharMLP == is a bool)
    other, _ = train_char_mlp(train[:5000], len(vocab), context=4, embed=8, hidden=64, epochs=1,
                              rng=np.random.default_rng(1))
    assert other == train_char_mlp(train[:5000], len(vocab), context=4, embed=8, hidden=64, epochs=1, rng=1)[0]


def test_generate_greedy_and_sampled():
    rng = np.random.default_rng(2)
    v, c = 6, 3
    model = CharMLP({"E": rng.normal(size=(v, 2)), "W1": rng.normal(size=(6, 5)), "b1": np.zeros(5),
                     "W2": rng.normal(size=(5, v)), "b2": np.zeros(v)}, c)
    prompt = [0, 1, 2]
    tok, logp = generate(model, prompt, 20, greedy=True)
    seq = list(prompt)
    for t, lp in zip(tok, logp):
        z = model.logits(np.asarray(seq[-c:])[None])[0]
        assert t == np.argmax(z)
        assert math.isclose(lp, z[t] - math.log(np.exp(z).sum()), rel_tol=1e-12)
        seq.append(t)
    tok1, _ = generate(model, prompt, 50, np.random.default_rng(5), top_k=2)
    tok2, _ = generate(model, prompt, 50, 5, top_k=2)  # an int seed is a Generator seeded with it
    np.testing.assert_array_equal(tok1, tok2)
    # a batch of prompts side by side: greedy rows equal separate calls; sampled rows have the asked shape
    prompts = np.array([[0, 1, 2], [3, 4, 5], [5, 5, 0]])
    batch, batch_lp = generate(model, prompts, 15, greedy=True)
    for r in range(3):
        one, one_lp = generate(model, prompts[r], 15, greedy=True)
        np.testing.assert_array_equal(batch[r], one)
        np.testing.assert_allclose(batch_lp[r], one_lp, rtol=1e-12)
    assert generate(model, prompts, 4, np.random.default_rng(0), top_p=0.9)[0].shape == (3, 4)
    with pytest.raises(ValueError, match="prompt must hold at least"):
        generate(model, [0], 5, greedy=True)
    with pytest.raises(ArgumentTypeError, match="^rng must be"):
        generate(model, prompt, 5, 1.5)
    with pytest.raises(ArgumentTypeError, match="^rng must be"):
        generate(model, prompt, 5, "0", greedy=True)  # not used when greedy, but checked


def test_moved_names_still_import_from_decoding_with_a_deprecation_warning():
    import softmax_nb.charlm as charlm
    import softmax_nb.decoding as decoding
    for name in ("load_corpus", "CharVocab", "CharMLP", "TrainLog", "train_char_mlp"):
        with pytest.warns(DeprecationWarning, match=f"decoding.{name} moved to softmax_nb.charlm") as rec:
            obj = getattr(decoding, name)
        assert obj is getattr(charlm, name)
        assert rec[0].filename == __file__  # stacklevel points at the caller
        assert name not in decoding.__all__ and name in charlm.__all__
    with pytest.warns(DeprecationWarning):
        from softmax_nb.decoding import CharVocab as Old  # noqa: F401
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        decoding.nope  # noqa: B018


def _tiny_model(dtype=np.float64, seed=2, v=6, c=3, e=2, h=5):
    rng = np.random.default_rng(seed)
    return CharMLP({"E": rng.normal(size=(v, e)), "W1": rng.normal(size=(c * e, h)), "b1": rng.normal(size=h),
                    "W2": rng.normal(size=(h, v)), "b2": rng.normal(size=v)}, c) if dtype is None else \
        CharMLP({k: a.astype(dtype) for k, a in _tiny_model(None, seed, v, c, e, h).params.items()}, c)


def test_char_mlp_equality_is_a_bool_and_it_is_unhashable():
    # R14: == raised "The truth value of an array with more than one element is ambiguous"
    a = _tiny_model()
    b = CharMLP({k: x.copy() for k, x in a.params.items()}, a.context)
    assert (a == b) is True and (a != b) is False
    changed = {k: x.copy() for k, x in a.params.items()}
    changed["b2"][3] += 1e-12
    assert (a == CharMLP(changed, a.context)) is False
    assert a != _tiny_model(np.float32)  # same values rounded: another dtype, another model
    assert a != _tiny_model(seed=3) and a != "model" and a != None  # noqa: E711
    assert (a == b.params) is False
    with pytest.raises(TypeError, match="unhashable"):
        hash(a)


def test_char_mlp_validates_its_parameters_and_windows():
    a = _tiny_model()
    for params, context, match in ((a.params, 2, "shapes"), ({**a.params, "b1": np.zeros(4)}, 3, "shapes"),
                                   ({k: v for k, v in a.params.items() if k != "E"}, 3, "keys"),
                                   ({**a.params, "E": a.params["E"].astype(np.float32)}, 3, "one float dtype")):
        with pytest.raises(ValueError, match=match):
            CharMLP(params, context)
    with pytest.raises(ArgumentTypeError, match="^context must be an integer"):
        CharMLP(a.params, 3.0)
    # R14: ids out of range were a bare IndexError (and negative ids wrapped round silently)
    for bad in ([[0, 1, 6]], [[0, -1, 2]]):
        with pytest.raises(ValueError, match=r"^windows must hold token ids in \[0, 6\)") as info:
            a.logits(bad)
        assert not isinstance(info.value, IndexError)
        with pytest.raises(ValueError, match="^windows must hold"):
            a.hidden(bad)
    with pytest.raises(ValueError, match=r"^windows must have shape \(N, context\) = \(N, 3\)"):
        a.logits([[0, 1]])
    with pytest.raises(ArgumentTypeError, match="^windows must be integer"):
        a.logits([[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match=r"^ids must hold token ids in \[0, 6\)"):
        a.nll([0, 1, 2, 3, 9])
    with pytest.raises(ValueError, match="^ids must be longer than the context"):
        a.nll([0, 1, 2])
    with pytest.raises(ValueError, match="^prompt must hold token ids in"):
        generate(a, [0, 1, 7], 2, greedy=True)
    with pytest.raises(ArgumentTypeError, match="^prompt must be integer"):
        generate(a, [0.0, 1.0, 2.0], 2, greedy=True)
    with pytest.raises(ValueError, match="^val_ids must hold token ids"):
        train_char_mlp([0, 1, 2, 3, 4, 0], 6, context=2, val_ids=[0, 1, 2, 7])
    with pytest.raises(ValueError, match="^val_ids must be longer than the context"):
        train_char_mlp([0, 1, 2, 3, 4, 0], 6, context=2, val_ids=[0, 1])
    with pytest.raises(ValueError, match="^train_ids must hold token ids"):
        train_char_mlp([0, 1, 2, 3, 4, 6], 6, context=2)
    for bad in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match="^lr must be a finite number > 0"):
            train_char_mlp([0, 1, 2, 3, 4, 0], 6, context=2, lr=bad)
    with pytest.raises(ArgumentTypeError, match="^lr must be"):
        train_char_mlp([0, 1, 2, 3, 4, 0], 6, context=2, lr="0.1")


def test_generate_refuses_unknown_and_greedy_sampling_options():
    # R14: generate(greedy=True) silently ignored every sampling argument, even a misspelled one
    model, prompt = _tiny_model(), [0, 1, 2]
    with pytest.raises(TypeError, match="unexpected keyword argument\\(s\\) 'topk'"):
        generate(model, prompt, 3, greedy=True, topk=3)
    with pytest.raises(TypeError, match="unexpected keyword argument\\(s\\) 'topk'"):
        generate(model, prompt, 3, 0, topk=3)
    for kw in ({"temperature": 0.5}, {"top_k": 3}, {"top_p": 0.9}, {"min_p": 0.1}, {"temperature": 1.0}):
        with pytest.raises(TypeError, match=f"greedy=True\\) takes no sampling options, got {next(iter(kw))}"):
            generate(model, prompt, 3, greedy=True, **kw)
    with pytest.raises(ArgumentTypeError, match="^greedy must be True or False"):
        generate(model, prompt, 3, greedy="yes")
    with pytest.raises(ValueError, match="^top_k must be an integer >= 1"):
        generate(model, prompt, 3, 0, top_k=0)
    with pytest.raises(ArgumentTypeError, match="^length must be an integer"):
        generate(model, prompt, 3.0, greedy=True)
    with pytest.warns(DeprecationWarning, match="passing greedy to generate\\(\\) positionally"):
        tok, _ = generate(model, prompt, 4, None, True)
    np.testing.assert_array_equal(tok, generate(model, prompt, 4, greedy=True)[0])


def test_charlm_and_generate_in_float16_compute_in_float32_and_round_once():
    m16, m32, m64 = _tiny_model(np.float16), _tiny_model(np.float32), _tiny_model()
    up = CharMLP({k: a.astype(np.float32) for k, a in m16.params.items()}, m16.context)  # the float16 values
    w = np.random.default_rng(0).integers(0, 6, size=(40, 3))
    for method in ("logits", "hidden"):
        out = getattr(m16, method)(w)
        assert out.dtype == np.float16
        np.testing.assert_array_equal(out, getattr(up, method)(w).astype(np.float16))  # rounded once, from float32
        assert getattr(m32, method)(w).dtype == np.float32 and getattr(m64, method)(w).dtype == np.float64
    ids = np.random.default_rng(1).integers(0, 6, size=200)
    nll16 = m16.nll(ids, batch=64)
    assert isinstance(nll16, np.float16) and isinstance(m64.nll(ids), np.float64)
    assert nll16 == np.float16(up.nll(ids))
    # generate: the model's float16 logits, then log-softmax and the draw in float32 (or float64), rounded once
    for greedy, kw in ((True, {}), (False, {"temperature": 0.8, "top_p": 0.9})):
        tok16, lp16 = generate(m16, [0, 1, 2], 30, None if greedy else 4, greedy=greedy, **kw)
        assert tok16.dtype == np.intp and lp16.dtype == np.float16
        seq, gen, ref = [0, 1, 2], np.random.default_rng(4), []
        for t in tok16:  # a float64 reference loop on the same float16 logits
            z = m16.logits(np.asarray(seq[-3:])[None])[0].astype(np.float64)
            assert t == (np.argmax(z) if greedy else sample(z, gen, **kw))
            ref.append(z[t] - np.log(np.exp(z).sum()))
            seq.append(int(t))
        np.testing.assert_allclose(lp16, ref, rtol=2.0**-10, atol=0)


# --------------------------------------------------------------------------- property-suite bugs (regressions)
def test_min_p_gap_beyond_float64_is_removed_without_a_warning():
    # DEC1: the gap 1e308 - (-1e308) overflowed float64 with "overflow encountered in subtract"
    z = np.array([[1e308, -1e308, 0.0], [-1e308, 1e308, 1e308]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = min_p_filter(z, min_p=0.5)
        tok = sample(z, 0, min_p=0.5)
    np.testing.assert_array_equal(out, [[1e308, -np.inf, -np.inf], [-np.inf, 1e308, 1e308]])
    assert tok[0] == 0 and tok[1] in (1, 2)


def test_char_mlp_no_windows_and_an_empty_batch_give_empty_results():
    # CLM1: "cannot reshape array of size 0 into shape (0,newaxis)"
    for dtype in (np.float16, np.float64):
        model = _tiny_model(dtype)
        assert model.hidden(np.zeros((0, 3), np.int64)).shape == (0, 5)
        z = model.logits(np.zeros((0, 3), np.int64))
        assert z.shape == (0, 6) and z.dtype == dtype
        for greedy in (True, False):
            tokens, logp = generate(model, np.zeros((0, 4), np.int64), 2, 0, greedy=greedy)
            assert tokens.shape == logp.shape == (0, 2) and tokens.dtype == np.intp and logp.dtype == dtype


def test_char_mlp_refuses_non_finite_and_non_array_parameters():
    a = _tiny_model()
    for name in ("E", "b2"):  # CLM2: a NaN parameter gave silent NaN logits and nll
        for bad in (np.nan, np.inf):
            params = {k: x.copy() for k, x in a.params.items()}
            params[name].flat[0] = bad
            with pytest.raises(ValueError, match=f"^params must be finite, got NaN or inf in {name}$"):
                CharMLP(params, 3)
    # CLM3: lists were accepted, then logits raised "'list' object has no attribute 'shape'"
    with pytest.raises(ArgumentTypeError, match="^params must map each name to a numpy.ndarray, got b1: list"):
        CharMLP({**a.params, "b1": a.params["b1"].tolist()}, 3)


def test_char_vocab_checks_its_characters():
    # CLM4: CharVocab(5).encode("a") raised "'int' object is not iterable"
    for bad in (5, ["a", "b"], None, b"ab"):
        with pytest.raises(ArgumentTypeError, match="^chars must be a str"):
            CharVocab(bad)
    with pytest.raises(ValueError, match="^chars must hold distinct characters, got 'a' more than once"):
        CharVocab("aba")
    assert CharVocab("").encode("").size == 0 and CharVocab("ab").decode([1, 0]) == "ba"


def test_float16_char_mlp_logits_beyond_the_range_round_to_inf_without_a_warning():
    # CLM5: the float32 logits were rounded to float16 with numpy's "overflow encountered in cast"
    params = {k: x.astype(np.float16) for k, x in _tiny_model().params.items()}
    params["W2"][:] = 30000.0 * np.float16([1.0, 0.5, 0.0, 0.0, -0.5, -1.0])  # h sums to 2.55 for w below
    params["b2"][:] = [60000.0, 0.0, 0.0, 0.0, 0.0, -60000.0]
    model = CharMLP(params, 3)
    w = np.array([[0, 1, 2]])
    z32 = model._logits(w)  # the float32 logits, rounded once
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = model.logits(w)
        nll = model.nll(np.array([0, 1, 2, 5]))
    assert z.dtype == np.float16
    np.testing.assert_array_equal(np.isinf(z), np.abs(z32) > 65519.0)  # beyond the float16 rounding threshold
    np.testing.assert_array_equal(np.sign(z), [[1, 1, 0, 0, -1, -1]])
    assert np.isposinf(z[0, 0]) and np.isneginf(z[0, 5]) and (z[0, 1:5] == z32[0, 1:5].astype(np.float16)).all()
    assert isinstance(nll, np.float16) and np.isposinf(nll)  # about 2.7e5 nats: beyond float16 too
    # generate cannot sample from +inf logits: a ValueError naming the model, not a NaN or a foreign message
    for greedy in (True, False):
        with pytest.raises(ValueError, match="^model.logits returned \\+inf at step 0"):
            generate(model, [0, 1, 2], 2, 0, greedy=greedy)
