r"""Properties of ``softmax_nb.charlm``: CharVocab (normalise, from_text, encode, decode) and tiny CharMLPs.

* ``CharVocab``: ``normalise`` lower-cases and collapses whitespace (checked by its definition, not
  its implementation); ``from_text`` holds the sorted distinct characters; ``decode(encode(t))`` is
  ``normalise(t)`` for any text over the vocabulary, in any case and spacing; a character outside the
  vocabulary, an id outside ``[0, V)``, a non-str text or non-integer ids are refused naming ``text`` or
  ``ids``.
* ``CharMLP`` (float16/32/64 parameters, 1-3 context characters): ``hidden``, ``logits`` and ``nll`` are
  within a rigorous bound (``_interval.py``) of the exact forward pass
  :math:`h = \tanh([E_{x}]W_1 + b_1)`, :math:`z = hW_2 + b_2`, computed in longdouble from the same
  parameters (float16 computed in float32 and rounded once; ``tanh`` within 2 ulps, and 1-Lipschitz);
  ``nll`` is :math:`-\frac{1}{n-c}\sum_t \log\operatorname{softmax}(z_t)_{x_t}`. Bad windows, ids, batch
  sizes, contexts and parameters are refused naming them; ``==`` is a bool and a model is unhashable.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from softmax_nb.charlm import CharMLP, CharVocab
from _harness import budget, call_checked, precision
from _interval import LD, Approx, Work, check_close, ld, matmul, rounded, softmax_pieces

#: Bugs these properties found (report: minimal reproducers); each has a strict xfail test below.
KNOWN: dict[str, str] = {}  # CLM1-CLM5 fixed; their tests below are the regression tests
_STRICT = [False]


def tolerated(bug: str) -> bool:
    return bug in KNOWN and not _STRICT[0]


# --------------------------------------------------------------------------- CharVocab
WS = st.sampled_from([" ", "  ", "\n", "\t", " \n "])


@st.composite
def vocab_texts(draw):
    """A text, and a second text over the first one's (normalised) characters in any case and spacing."""
    text = draw(st.text(alphabet=st.one_of(st.characters(codec="ascii"), st.sampled_from("éßİΣ")), max_size=30))
    chars = sorted(set(CharVocab.normalise(text)) - {" "})
    words = draw(st.lists(st.lists(st.sampled_from(chars), min_size=1, max_size=4).map("".join), max_size=5)) \
        if chars else []
    words = [draw(st.sampled_from([w, w.upper(), w.title()])) if w.upper().lower() == w else w for w in words]
    other = draw(WS) * draw(st.booleans())
    for w in words:
        other += w + draw(WS)
    return text, other


def _normal_form(text: str, norm: str) -> None:
    """The definition of normalise: lower case, single spaces, no space at either end, same words."""
    assert norm == norm.strip() and "  " not in norm, norm
    assert not any(c.isspace() and c != " " for c in norm), norm
    assert norm.split(" ") == ([w.lower() for w in text.split()] if norm else [""]), (text, norm)


@budget(100)
@given(vocab_texts())
def test_char_vocab_round_trip(case):
    """normalise by its definition; from_text: the sorted distinct characters; decode(encode(t)) == normalise(t)
    for any text over the vocabulary; encode gives intp ids in [0, V); a character outside: ValueError naming
    text."""
    text, other = case
    norm = CharVocab.normalise(text)
    _normal_form(text, norm)
    vocab = CharVocab.from_text(text)
    assert vocab.chars == "".join(sorted(set(norm))) and len(vocab) == len(vocab.chars)
    if " " not in vocab.chars and " " in CharVocab.normalise(other):
        other = other.split()[0] if other.split() else ""
    ids = call_checked(vocab.encode, other).ok()
    assert ids.dtype == np.intp and ids.ndim == 1 and (ids.size == 0 or (0 <= ids.min() and ids.max() < len(vocab)))
    assert call_checked(vocab.decode, ids).ok() == CharVocab.normalise(other)
    assert vocab.decode(ids.reshape(1, -1)) == vocab.decode(ids.tolist()) == CharVocab.normalise(other)
    outside = next(c for c in "~#0aZ!" + "".join(map(chr, range(0x100, 0x110))) if c.lower() not in vocab.chars)
    call_checked(vocab.encode, other + outside).refused((ValueError, ("text",)))


_SHAPES = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)


@budget(80)
@given(st.text(alphabet="abc ", min_size=1, max_size=5),
       st.one_of(hnp.arrays(st.sampled_from([np.int8, np.int64]), _SHAPES, elements=st.integers(-2, 5)),
                 hnp.arrays(np.uint16, _SHAPES, elements=st.integers(0, 5)),
                 hnp.arrays(np.float64, _SHAPES, elements=st.integers(0, 5)),
                 hnp.arrays(np.bool_, _SHAPES),
                 st.sampled_from([[], [0], 1.5, "ab", None, [[0, 1], [1, 0]]])),
       st.one_of(st.text(max_size=3), st.sampled_from([None, 5, b"ab", ["a"], 1.0])))
def test_char_vocab_refusals(text, ids, bad_text):
    """decode: integer ids of any shape in [0, V) give their characters in C order; ids outside: ValueError
    naming ids; non-integer ids (floats, bools, strings): TypeError naming ids. encode/normalise/from_text of a
    non-str: TypeError naming text."""
    vocab = CharVocab.from_text(text)
    arr = np.asarray(ids)
    out = call_checked(vocab.decode, ids)
    if arr.size == 0 and arr.dtype.kind in "iuf":
        assert out.ok() == ""
    elif arr.dtype.kind not in "iu":
        out.refused((TypeError, ("ids",)))
    elif arr.min() < 0 or arr.max() >= len(vocab):
        out.refused((ValueError, ("ids",)))
    else:
        assert out.ok() == "".join(vocab.chars[i] for i in arr.reshape(-1))
    if not isinstance(bad_text, str):
        for fn in (vocab.encode, CharVocab.normalise, CharVocab.from_text):
            call_checked(fn, bad_text).refused((TypeError, ("text",)))


# --------------------------------------------------------------------------- tiny models
@st.composite
def tiny_models(draw, dtypes=(np.float16, np.float32, np.float64)):
    """A CharMLP with V in 2..5, e in 1..3, H in 1..4, context 1..3 and parameters N(0, s^2), s from 0.1 to the
    size that saturates tanh and makes float16 logits large."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    v, e, h, c = (draw(st.integers(a, b)) for a, b in ((2, 5), (1, 3), (1, 4), (1, 3)))
    s = draw(st.sampled_from([0.1, 1.0, 1.0, 10.0] + ([3000.0] if dtype == np.float16 else [1e6])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = float(np.finfo(dtype).max)
    par = {"E": (v, e), "W1": (c * e, h), "b1": (h,), "W2": (h, v), "b2": (v,)}
    params = {k: np.clip(rng.normal(0, s, shape), -top, top).astype(dtype) for k, shape in par.items()}
    return CharMLP(params, c)


class ModelRef:
    """The exact forward pass of a CharMLP, with the bounds of its work dtype."""

    def __init__(self, model: CharMLP):
        self.model = model
        self.prec = precision(model.dtype)
        self.w = Work.of(self.prec)
        self.par = {k: Approx.exact(a) for k, a in model.params.items()}

    def hidden(self, windows: np.ndarray) -> Approx:
        w = self.w
        n = windows.shape[0]
        emb = ld(self.model.params["E"])
        x = Approx.exact(emb[windows].reshape(n, windows.shape[1] * emb.shape[1]))  # also for n = 0
        a = matmul(x, self.par["W1"], w, extra_terms=1)
        a = Approx(a.val + self.par["b1"].val, a.err + w.u * (np.abs(a.val) + np.abs(self.par["b1"].val)))
        h = np.tanh(a.val)
        return Approx(h, a.err + 4 * w.u * np.abs(h) + w.sub)  # tanh is 1-Lipschitz, within 2 ulps

    def logits(self, windows: np.ndarray) -> Approx:
        w = self.w
        z = matmul(self.hidden(windows), self.par["W2"], w, extra_terms=1)
        return Approx(z.val + self.par["b2"].val, z.err + w.u * (np.abs(z.val) + np.abs(self.par["b2"].val)))

    def nll(self, ids: np.ndarray, batch: int) -> Approx:
        """Mean of -log softmax(z_t)[x_t]: per-window losses summed per batch in the work dtype (``reduction=
        'sum'`` rounds its float64 sum once), the batch sums in float64, then rounded to the model's dtype."""
        c = self.model.context
        windows = np.lib.stride_tricks.sliding_window_view(ids, c)[:-1]
        targets = ids[c:]
        z = self.logits(windows)
        p = softmax_pieces(z, np.ones(z.val.shape, bool), self.w)
        zy = z[np.arange(len(targets)), targets]
        m = np.max(z.val, axis=-1)
        with np.errstate(all="ignore"):
            loss = p.lse.val - zy.val
            err = p.lse.err + zy.err + 4 * self.w.u * (np.abs(p.lse.val) + np.abs(zy.val) + np.abs(m)) \
                + z.val.shape[-1] * self.w.sub
        n = len(targets)
        total, terr = LD(0), LD(0)
        for s in range(0, n, batch):
            part, perr = np.sum(loss[s:s + batch]), np.sum(err[s:s + batch])
            total += part
            terr += perr + (self.w.u + 2 ** -53) * (abs(part) + perr) + n * 2 ** -53 * abs(part)
        mean = total / n
        u_out = float(np.finfo(self.model.dtype).eps) / 2  # the float64 mean rounded to the model's dtype
        tiny = float(np.finfo(self.model.dtype).smallest_subnormal)
        return Approx(mean, terr / n + (2 ** -53 + u_out) * abs(mean) + tiny)


@budget(100)
@given(tiny_models(), st.data())
def test_char_mlp_logits_and_nll_match_the_exact_forward_pass(model, data):
    """hidden and logits of any windows, and nll of any sequence (any batch), within the bound of the exact
    forward pass, in the parameters' dtype (numpy scalar for nll)."""
    ref = ModelRef(model)
    v, c = model.vocab_size, model.context
    n = data.draw(st.integers(0, 5))
    windows = data.draw(hnp.arrays(np.int64, (n, c), elements=st.integers(0, v - 1)))
    want_h = ref.hidden(windows)
    want_z = ref.logits(windows)
    h = call_checked(model.hidden, windows).ok()
    z = call_checked(model.logits, windows).ok()
    assert h.shape == (n, model.params["b1"].shape[0]) and z.shape == (n, v)
    assert h.dtype == model.dtype and z.dtype == model.dtype, (h.dtype, z.dtype)
    check_close(h, rounded(want_h, ref.prec), what="CharMLP.hidden", dtype=model.dtype)
    check_close(z, rounded(want_z, ref.prec), what="CharMLP.logits", dtype=model.dtype)
    ids = data.draw(hnp.arrays(np.int64, data.draw(st.integers(c + 1, c + 12)), elements=st.integers(0, v - 1)))
    batch = data.draw(st.integers(1, 6))
    want = ref.nll(ids, batch)
    out = call_checked(model.nll, ids, batch=batch)
    val = out.ok()
    assert isinstance(val, np.floating) and val.dtype == model.dtype, (type(val), getattr(val, "dtype", None))
    check_close(val, Approx(np.asarray(want.val), np.asarray(want.err)), what="CharMLP.nll", dtype=model.dtype)


@budget(60)
@given(tiny_models(dtypes=(np.float64,)),
       st.sampled_from(["window_shape", "window_1d", "window_oov", "window_float", "ids_2d", "ids_short",
                        "ids_oov", "ids_float", "batch_zero", "batch_float", "batch_bool"]))
def test_char_mlp_refuses_bad_windows_and_ids(model, how):
    """Windows of the wrong shape or with ids outside [0, V), float ids, 2-D or too short sequences, bad batch
    sizes: a ValueError or TypeError naming windows, ids or batch."""
    v, c = model.vocab_size, model.context
    good = np.zeros((2, c), np.int64)
    seq = np.zeros(c + 3, np.int64)
    cases = {
        "window_shape": (model.logits, (np.zeros((2, c + 1), np.int64),), ValueError, "windows"),
        "window_1d": (model.hidden, (np.zeros(c, np.int64),), ValueError, "windows"),
        "window_oov": (model.logits, (good + v,), ValueError, "windows"),
        "window_float": (model.logits, (good.astype(float),), TypeError, "windows"),
        "ids_2d": (model.nll, (seq.reshape(1, -1),), ValueError, "ids"),
        "ids_short": (model.nll, (seq[:c],), ValueError, "ids"),
        "ids_oov": (model.nll, (seq - 1,), ValueError, "ids"),
        "ids_float": (model.nll, (seq.astype(float),), TypeError, "ids"),
        "batch_zero": (partial(model.nll, batch=0), (seq,), ValueError, "batch"),
        "batch_float": (partial(model.nll, batch=2.0), (seq,), TypeError, "batch"),
        "batch_bool": (partial(model.nll, batch=True), (seq,), TypeError, "batch"),
    }
    fn, args, kind, name = cases[how]
    call_checked(fn, *args).refused((kind, (name,)))


def _bad_params(model: CharMLP, how: str):
    p = {k: a.copy() for k, a in model.params.items()}
    if how == "missing":
        del p["b2"]
    elif how == "extra":
        p["W3"] = p["b2"]
    elif how == "int":
        p = {k: a.astype(np.int64) for k, a in p.items()}
    elif how == "mixed":
        p["b2"] = p["b2"].astype(np.float32 if model.dtype != np.float32 else np.float64)
    elif how == "shape":
        p["b2"] = np.zeros(p["b2"].shape[0] + 1, model.dtype)
    elif how == "not_dict":
        p = list(p.values())
    elif how == "nan":
        p["b2"] = p["b2"].copy()
        p["b2"][0] = np.nan
    return p


@budget(50)
@given(tiny_models(), st.sampled_from(["missing", "extra", "int", "mixed", "shape", "not_dict", "nan", "context_0",
                                       "context_float", "context_wrong"]))
def test_char_mlp_construction_and_equality(model, how):
    """A bad parameter dict or context is refused naming params or context; == compares context, names, shapes,
    dtypes and values and returns a bool; a model is not hashable."""
    if how.startswith("context"):
        c = {"context_0": 0, "context_float": float(model.context), "context_wrong": model.context + 1}[how]
        kind = TypeError if how == "context_float" else ValueError
        call_checked(CharMLP, model.params, c).refused((kind, ("context", "params")))
    else:
        kind = TypeError if how == "not_dict" else ValueError  # a list is the wrong type; the rest wrong values
        call_checked(CharMLP, _bad_params(model, how), model.context).refused((kind, ("params",)))
    twin = CharMLP({k: a.copy() for k, a in model.params.items()}, model.context)
    assert (model == twin) is True and (model != twin) is False
    changed = {k: a.copy() for k, a in model.params.items()}
    b = changed["b2"][0]
    changed["b2"][0] = np.nextafter(b, model.dtype.type(0)) if b != 0 else np.nextafter(b, model.dtype.type(1))
    assert (model == CharMLP(changed, model.context)) is False
    wider = np.float64 if model.dtype != np.float64 else np.float32
    other_dtype = {k: a.astype(wider) for k, a in model.params.items()}
    assert (model == CharMLP(other_dtype, model.context)) is False
    assert (model == "model") is False and (model == 3) is False
    with pytest.raises(TypeError):
        hash(model)


# --------------------------------------------------------------------------- fixed bugs (regression tests)
def _model(dtype=np.float64, scale=1.0, c=2, v=3):
    rng = np.random.default_rng(0)
    shapes = {"E": (v, 2), "W1": (2 * c, 4), "b1": (4,), "W2": (4, v), "b2": (v,)}
    return CharMLP({k: (scale * rng.normal(size=s)).astype(dtype) for k, s in shapes.items()}, c)


@pytest.mark.parametrize("fn", ["logits", "hidden", "generate"])
def test_CLM1_no_windows_give_an_empty_result(fn):
    import softmax_nb as snb

    model = _model()
    if fn == "generate":
        tokens, logp = call_checked(snb.generate, model, np.zeros((0, 2), np.int64), 2, 0).ok()
        assert tokens.shape == logp.shape == (0, 2)
    else:
        out = call_checked(getattr(model, fn), np.zeros((0, 2), np.int64)).ok()
        assert out.shape[0] == 0


def test_CLM2_nan_parameters_are_refused():
    model = _model()
    params = {k: a.copy() for k, a in model.params.items()}
    params["b2"][0] = np.nan
    res = call_checked(CharMLP, params, 2)
    if res.error is None:
        call_checked(res.value.logits, np.zeros((1, 2), np.int64)).ok()  # a NaN fails here
    else:
        res.refused((ValueError, ("params",)))


def test_CLM3_list_parameters():
    params = {k: a.tolist() for k, a in _model().params.items()}
    res = call_checked(CharMLP, params, 2)
    if res.error is None:
        assert call_checked(res.value.logits, np.zeros((1, 2), np.int64)).ok().shape == (1, 3)
    else:
        res.refused((TypeError, ("params",)))


def test_CLM4_char_vocab_of_a_non_string():
    res = call_checked(CharVocab, 5)
    if res.error is None:
        call_checked(res.value.encode, "a").refused((TypeError, ("chars",)))
    else:
        res.refused((TypeError, ("chars",)))


def test_CLM5_float16_logits_beyond_the_range_do_not_warn():
    model = _model(np.float16, 1.0)
    params = {k: a.copy() for k, a in model.params.items()}
    params["b2"] = np.float16([60000.0, 60000.0, 0.0])
    params["W2"] = np.full_like(params["W2"], 30000.0)
    big = CharMLP(params, 2)
    res = call_checked(big.logits, np.zeros((1, 2), np.int64))  # a RuntimeWarning fails here
    if res.error is not None:
        res.refused((ValueError, ("params", "windows")))


def test_every_known_bug_has_a_strict_xfail_test():
    """Each entry of KNOWN has a test_<ID>_... here (delete both when the bug is fixed)."""
    ids = {name.split("_")[1] for name in globals() if name.startswith("test_") and name.split("_")[1] in KNOWN}
    assert ids == set(KNOWN)
