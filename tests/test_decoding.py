"""Tests for softmax_nb.decoding (logit filters, sampling, generation) and softmax_nb.charlm (corpus, character MLP)."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from softmax_nb import numerical_gradient, softmax
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
    check_filter(top_k_filter(z, k), z, keep)
    kept = np.isfinite(top_k_filter(z, k)).sum(axis=1)
    assert (kept >= np.minimum(k, np.isfinite(z).sum(axis=1))).all()  # ties may keep more, never fewer


@given(logit_rows(), st.floats(0.0, 1.0, exclude_min=True))
def test_top_p_matches_loop(z, p):
    out = top_p_filter(z, p)
    keep = [ref_top_p(list(row), p) for row in z]
    check_filter(out, z, [[k and np.isfinite(x) for k, x in zip(kr, row)] for kr, row in zip(keep, z)])
    q = softmax(z.astype(np.float64))
    kept_mass = np.where(np.isfinite(out), q, 0).sum(axis=1)
    assert (kept_mass >= p - 1e-12).all()


@given(logit_rows(), st.floats(0.0, 1.0))
def test_min_p_matches_loop(z, p_min):
    keep = [ref_min_p(list(row), p_min) for row in z]
    check_filter(min_p_filter(z, p_min), z, [[k and np.isfinite(x) for k, x in zip(kr, row)]
                                            for kr, row in zip(keep, z)])


@given(logit_rows(), st.floats(0.01, 1.0), st.floats(0.01, 1.0))
def test_kept_sets_are_nested_and_have_no_holes(z, a, b):
    lo, hi = min(a, b), max(a, b)
    for f in (top_p_filter, min_p_filter):
        small, large = np.isfinite(f(z, lo if f is top_p_filter else hi)), np.isfinite(f(z, hi if f is top_p_filter else lo))
        assert (small <= large).all()
        for row, keep in zip(z, small):  # a kept token implies every strictly larger logit is kept
            if keep.any():
                assert (keep | (row < row[keep].min())).all()


def test_filter_hand_cases():
    z = np.log([0.5, 0.3, 0.15, 0.05])
    assert np.isfinite(top_p_filter(z, 0.5)).tolist() == [True, False, False, False]
    assert np.isfinite(top_p_filter(z, 0.51)).tolist() == [True, True, False, False]
    assert np.isfinite(top_p_filter(z, 1.0)).all()
    assert np.isfinite(top_p_filter(z, 1e-9)).tolist() == [True, False, False, False]
    assert np.isfinite(min_p_filter(z, 0.3)).tolist() == [True, True, True, False]  # 0.15 >= 0.3 * 0.5
    assert np.isfinite(min_p_filter(z, 1.0)).tolist() == [True, False, False, False]
    ties = np.array([1.0, 2.0, 2.0, 0.0])
    assert np.isfinite(top_k_filter(ties, 1)).tolist() == [False, True, True, False]
    assert np.isfinite(top_p_filter(ties, 0.1)).tolist() == [False, True, True, False]  # the tie group is kept
    assert np.isfinite(min_p_filter(ties, 1.0)).tolist() == [False, True, True, False]
    # batches along leading axes
    zb = np.stack([z, z[::-1]])[None]
    np.testing.assert_array_equal(top_k_filter(zb, 2)[0, 1], top_k_filter(z[::-1], 2))


def test_filters_reject_bad_input():
    z = np.zeros(3)
    for f, arg in ((top_k_filter, 1), (top_p_filter, 0.5), (min_p_filter, 0.5)):
        with pytest.raises(ValueError, match="every entry is -inf"):
            f(np.array([[0.0, 1.0], [-np.inf, -np.inf]]), arg)
        with pytest.raises(ValueError, match="NaN"):
            f(np.array([0.0, np.nan]), arg)
        with pytest.raises(ValueError, match=r"\+inf"):
            f(np.array([0.0, np.inf]), arg)
        with pytest.raises(ValueError, match="non-empty last axis"):
            f(np.zeros((2, 0)), arg)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must be an integer >= 1"):
            top_k_filter(z, bad)
    for bad in (0.0, -0.1, 1.1, np.nan, "x", True):
        with pytest.raises(ValueError, match="p must be a number with 0 < p <= 1"):
            top_p_filter(z, bad)
    for bad in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match="p_min must be a number with 0 <= p_min <= 1"):
            min_p_filter(z, bad)


# --------------------------------------------------------------------------- sample
@given(logit_rows(), st.integers(0, 2**32 - 1), st.sampled_from([0.3, 1.0, 4.0]),
       st.sampled_from([None, 1, 3]), st.sampled_from([None, 0.5, 0.9]), st.sampled_from([None, 0.1]))
def test_sample_never_draws_a_removed_token(z, seed, t, top_k, top_p, min_p):
    tok = sample(z, np.random.default_rng(seed), temperature=t, top_k=top_k, top_p=top_p, min_p=min_p)
    assert tok.shape == z.shape[:-1] and tok.dtype == np.intp
    zt = z.astype(np.float64) / t
    for f, arg in ((top_k_filter, top_k), (top_p_filter, top_p), (min_p_filter, min_p)):
        if arg is not None:
            zt = f(zt, arg)
    assert np.isfinite(np.take_along_axis(zt, tok[:, None], axis=1)).all()


def test_sample_frequencies_match_filtered_softmax():
    z = np.array([2.0, 1.5, 1.0, 0.0, -1.0, -3.0])
    n = 200_000
    for kwargs in ({}, {"temperature": 0.5}, {"top_k": 3}, {"top_p": 0.8, "temperature": 2.0}, {"min_p": 0.2}):
        zz = z / kwargs.get("temperature", 1.0)
        if "top_k" in kwargs:
            zz = top_k_filter(zz, kwargs["top_k"])
        if "top_p" in kwargs:
            zz = top_p_filter(zz, kwargs["top_p"])
        if "min_p" in kwargs:
            zz = min_p_filter(zz, kwargs["min_p"])
        expected = softmax(zz)
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
    assert sample(z, np.random.default_rng(0)).shape == ()


def test_sample_rejects_bad_arguments():
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        sample([0.0, 1.0], np.random.default_rng(0), temperature=0.0)
    with pytest.raises(TypeError, match="rng must be an int seed, a numpy.random.Generator"):
        sample([0.0, 1.0], np.random.RandomState(42))


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
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.encode("xyz")


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
    model, log = train_char_mlp(train, len(vocab), context=4, embed=8, hidden=64, epochs=2, val_ids=val, seed=1)
    assert len(log.val_nll) == 2 and log.val_nll[-1] < unigram - 0.4
    assert math.isclose(model.nll(val), log.val_nll[-1], rel_tol=1e-12)
    again, _ = train_char_mlp(train, len(vocab), context=4, embed=8, hidden=64, epochs=2, seed=1)
    for name in model.params:
        np.testing.assert_array_equal(model.params[name], again.params[name])


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
    tok2, _ = generate(model, prompt, 50, np.random.default_rng(5), top_k=2)
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
    with pytest.raises(TypeError, match="rng must be"):
        generate(model, prompt, 5, 1.5)


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
