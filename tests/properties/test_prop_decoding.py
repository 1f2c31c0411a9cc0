r"""Properties of ``softmax_nb.decoding``: top_k_filter, top_p_filter, min_p_filter, sample and generate.

The filters return the input's own values or ``-inf``, so they are checked entry for entry against
the definitions, with the exact probabilities computed in longdouble:

* top-k keeps :math:`z_i \ge z_{(k)}` (the k-th largest with multiplicity);
* top-p keeps :math:`i` iff :math:`\sum_{j: z_j > z_i} q_j < p`, :math:`q = \operatorname{softmax}(z)`;
* min-p keeps :math:`i` iff :math:`z_i - \max_j z_j \ge \log p_{\min}`.

A decision is allowed to go either way only where the exact quantity lies within the rounding of the
package's float64 computation of it (the stated margin: the float64 softmax's bound of ``_refs.py``
carried through the sums, :math:`(V + 4)u` for a running sum, :math:`2u(|\mathrm{gap}| + |\log p|)` for
a gap). Kept sets must also be closed upwards and under ties, whatever the rounding.

``sample`` is checked as the documented inversion: with the same generator, :math:`U` =
``rng.random()`` per row, the token must be the first index :math:`i` (in vocabulary order) whose
cumulative exact probability under temperature, top-k, top-p and min-p reaches :math:`1 - U`, to within
the margin; where a filter's decision is within its margin, the token must at least be one that some
rounding could have kept. Tiny temperatures (down to 1e-310) and logits of 1e306 give the argmax, uniform
over ties, with no warning. ``generate`` on tiny CharMLPs: greedy tokens are the argmax of the exact
logits, the returned log-probabilities are within the bound of the exact ones, and sampled tokens equal
the documented loop of ``sample`` calls.
"""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmax_nb as snb
from _gen import FLOAT_DTYPES, temperatures
from _harness import U64, Expected, budget, call_checked
from _interval import LD, Approx, arrays, check_close, ld, rounded, softmax_pieces
from test_prop_charlm import ModelRef, tiny_models

#: Bugs these properties found (report: minimal reproducers); each has a strict xfail test below.
KNOWN: dict[str, str] = {}  # DEC1 (min_p_filter leaked an overflow warning on a gap beyond float64) fixed
_STRICT = [False]
CAP = 746.0  # exponent range of float64 exp: beyond it a probability is 0


def tolerated(bug: str) -> bool:
    return bug in KNOWN and not _STRICT[0]


# --------------------------------------------------------------------------- generators
@st.composite
def logit_arrays(draw, *, valid: bool = True, min_dims: int = 1):
    """Logits ``rows + (V,)``: float16/32/64 or int64, ties likely, ``-inf`` masks, magnitudes up to the dtype's
    maximum (1e306 in float64); with ``valid=False`` sometimes NaN, +inf, all -inf rows, 0-d or empty."""
    dtype = np.dtype(draw(st.sampled_from(FLOAT_DTYPES + (np.int64,))))
    rows = draw(hnp.array_shapes(min_dims=min_dims - 1, max_dims=2, min_side=0 if not valid else 1, max_side=3))
    v = draw(st.integers(1, 6))
    if dtype.kind == "i":
        z = draw(hnp.arrays(dtype, rows + (v,), elements=st.integers(-3, 3)))
    else:
        top = float(np.finfo(dtype).max)
        bound = draw(st.sampled_from([1.0, 1.0, 4.0, 30.0, 1e4, 1e306, top]))
        pool = draw(st.lists(st.sampled_from([0.0, 1.0, -1.0, 0.5, bound, -bound, 1e306, -1e306]), min_size=1,
                             max_size=3))
        z = draw(arrays(dtype, rows + (v,), bound))
        if draw(st.booleans()):  # ties: some entries from a small pool
            ties = np.array(pool, dtype=np.float64).clip(-top, top).astype(dtype)
            pick = draw(hnp.arrays(np.int64, z.shape, elements=st.integers(-1, len(ties) - 1)))
            z = np.where(pick >= 0, ties[np.maximum(pick, 0)], z).astype(dtype)
        if z.size and draw(st.booleans()):
            z = np.where(draw(hnp.arrays(np.bool_, z.shape)), -np.inf, z).astype(dtype)
            dead = np.isneginf(z).all(axis=-1)
            if dead.any() and (valid or draw(st.integers(0, 3)) > 0):
                z[dead, 0] = 0
    if not valid and dtype.kind == "f" and z.size and draw(st.integers(0, 5)) == 0:
        z = z.copy()
        z.flat[draw(st.integers(0, z.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    if not valid and draw(st.integers(0, 11)) == 0:
        z = draw(st.sampled_from([z[..., :0], np.float64(1.0), np.full((2,), -np.inf)]))
    return z


def logits_problem(z) -> Expected:
    """The refusal the filters and sample owe for these logits (or none)."""
    exp = Expected()
    z = np.asarray(z)
    if z.ndim == 0 or z.shape[-1] == 0:
        return exp.refuse(ValueError, "logits")
    if z.dtype.kind == "f" and (np.isnan(z).any() or np.isposinf(z).any() or np.isneginf(z).all(axis=-1).any()):
        exp.refuse(ValueError, "logits")
    return exp


# --------------------------------------------------------------------------- the exact chain, one row
class RowRef:
    r"""One row: exact tempered log-probabilities and the package's error on them (float64 log_softmax, the
    bound of ``_refs.py``), then the filters with their margins, tracking which tokens are surely kept, surely
    removed, or either (a decision within the margin)."""

    def __init__(self, z: np.ndarray, temperature: float = 1.0, *, on_logits: bool = False):
        #: the filter functions compare the logits themselves (exactly); sample filters its computed log-probs,
        #: whose rounding can merge two close values into a tie
        self.on_logits = on_logits
        self.z = ld(z.astype(np.float64))
        k = len(self.z)
        self.fin = np.isfinite(self.z)
        m = np.max(self.z[self.fin])
        t = LD(temperature)
        s = np.where(self.fin, (self.z - m) / t, LD(-np.inf))
        with np.errstate(all="ignore"):
            lse = np.log(np.sum(np.exp(s[self.fin])))
            self.lp = np.where(self.fin, s - lse, LD(-np.inf))
            lam = math.log2(k) if k > 1 else 0.0
            abs_s = np.where(self.fin, np.abs(s), LD(0))
            big_s = min(float(np.max(abs_s)), CAP)
            eps_r = (2 * big_s + 2 * lam + 8) * U64
            ell = np.abs(np.where(self.fin, self.lp, LD(0)))
            sub = k * 5e-324
            self.e = np.where(s == 0, ell * LD(eps_r + 3 * U64) + sub,
                              LD(U64) * (3 * abs_s + ell + math.log(k)) + LD(eps_r + U64) * (1 + ell) + sub)
        self.keep = self.fin.copy()  # the kept set if every decision went as in exact arithmetic
        self.maybe = np.zeros(k, bool)  # tokens whose fate a rounding could change
        self.exact = True  # no decision within its margin so far

    def _flag(self, amb: np.ndarray) -> None:
        if amb.any():
            self.exact = False
            self.maybe |= amb

    def top_k(self, kk: int) -> None:
        zs = np.where(self.keep, self.z, LD(-np.inf))  # the order of z is that of the tempered log-probs
        if kk >= len(zs):
            return
        kth = np.sort(zs)[::-1][kk - 1]
        new = self.keep & (zs >= kth)
        if not self.on_logits:
            lp_kth = np.max(np.where(zs == kth, self.lp, LD(-np.inf)))
            e_kth = np.max(np.where(zs == kth, self.e, LD(0)))
            with np.errstate(invalid="ignore"):
                self._flag(self.keep & ~new & (lp_kth - self.lp <= self.e + e_kth))
        self.keep = new

    def probs(self, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact renormalised probabilities over ``keep`` and a relative error bound on the package's."""
        with np.errstate(all="ignore"):
            lp = np.where(keep, self.lp, LD(-np.inf))
            top = np.max(lp)
            q = np.exp(lp - top)
            q = q / np.sum(q)
            e_max = np.max(np.where(keep & (lp - top > -CAP), self.e, LD(0)))
            gap = np.minimum(np.abs(np.where(keep, lp - top, LD(0))), LD(CAP))
            k = len(lp)
            rel = np.expm1(2 * (np.minimum(self.e, LD(CAP)) + e_max)) + (6 * gap + 2 * math.log2(max(k, 2)) + 20) * U64
        return q, np.where(keep, rel, LD(0))

    def top_p(self, p: float) -> None:
        if p == 1.0:
            return
        q, rel = self.probs(self.keep)
        zs = np.where(self.keep, self.z, LD(-np.inf))
        lp = np.where(self.keep, self.lp, LD(-np.inf))
        k = len(zs)
        with np.errstate(all="ignore"):
            above = np.array([np.sum(q[zs > zs[i]]) for i in range(k)])
            err = np.array([np.sum((q * rel)[zs > zs[i]]) for i in range(k)]) + (k + 4) * U64 + 1e-300
            near = np.zeros(k) if self.on_logits else \
                np.array([np.sum(q[(zs > zs[i]) & (lp - lp[i] <= self.e + self.e[i])]) for i in range(k)])
        new = self.keep & (above < p)
        self._flag(self.keep & (above - near - err < p) & (p <= above + err))
        self.keep = new

    def min_p(self, mp: float) -> None:
        if mp == 0.0:
            return
        vals = np.where(self.keep, self.lp, LD(-np.inf))
        top = np.max(vals)
        e = np.zeros_like(self.e) if self.on_logits else self.e  # min_p_filter subtracts the logits themselves
        e_top = np.max(np.where(vals == top, e, LD(0)))
        lg = LD(math.log(mp))
        with np.errstate(all="ignore"):
            gap = vals - top
            margin = e + e_top + 2 * U64 * (np.abs(gap) + abs(lg)) + 1e-300
        new = self.keep & (gap >= lg)
        self._flag(self.keep & (np.abs(gap - lg) <= margin))
        self.keep = new

    def acceptable(self, u: float) -> np.ndarray:
        """Tokens the inversion may return for ``U = u``: exactly the first index whose cumulative probability
        reaches 1 - u (within the margin) when no decision was marginal, else any token some rounding keeps."""
        if not self.exact:
            return self.keep | self.maybe
        q, rel = self.probs(self.keep)
        c = np.cumsum(q)
        before = np.concatenate([[LD(0)], c[:-1]])
        with np.errstate(all="ignore"):
            delta = np.sum(q * rel) + 2 * (len(q) + 4) * U64 + 1e-300
        t = LD(1) - LD(u)
        return self.keep & (before - delta < t) & (t <= c + delta)


# --------------------------------------------------------------------------- filters
def _option(draw, name):
    """A valid value of ``top_k``/``top_p``/``min_p``, or now and then a wrong one (with its refusal)."""
    if draw(st.integers(0, 7)) == 0:
        bad = {"top_k": [0, -1, 2.0, "2", True, None], "top_p": [0.0, -0.1, 1.5, math.nan, "0.5", True, None],
               "min_p": [-0.1, 1.5, math.nan, math.inf, "0.1", False, None]}[name]
        v = draw(st.sampled_from(bad))
        kind = TypeError if v is None or isinstance(v, (str, bool)) or (name == "top_k" and isinstance(v, float)) \
            else ValueError
        return v, (kind, name)
    if name == "top_k":
        return draw(st.integers(1, 7)), None
    if name == "top_p":
        return draw(st.one_of(st.floats(0.0, 1.0, exclude_min=True), st.sampled_from([1.0, 0.5, 1e-300, 5e-324]))), None
    return draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 0.5, 5e-324]))), None


def _rows(z: np.ndarray) -> np.ndarray:
    return z.reshape(-1, z.shape[-1])


@budget(140)
@given(logit_arrays(valid=False), st.sampled_from(["top_k", "top_p", "min_p"]), st.data())
def test_filters_keep_exactly_the_defined_tokens(z, name, data):
    """Each filter returns, entry for entry, the input's own value where the definition keeps the token and
    -inf elsewhere (either, only where the decision is within the stated margin), in the input's dtype
    (float64 for integers); kept sets are closed upwards and under ties and never empty; bad logits or a bad
    option: a ValueError or TypeError naming it."""
    value, bad = _option(data.draw, name)
    fn = {"top_k": snb.top_k_filter, "top_p": snb.top_p_filter, "min_p": snb.min_p_filter}[name]
    exp = Expected().refuse(bad[0], bad[1]) if bad else logits_problem(z)
    out = call_checked(fn, z, **{name: value}).check(exp)
    if out is None:
        return
    dtype = z.dtype if z.dtype.kind == "f" else np.dtype(np.float64)
    assert out.dtype == dtype and out.shape == z.shape, (out.dtype, out.shape)
    for row, got in zip(_rows(z), _rows(out)):
        ref = RowRef(row, on_logits=True)
        getattr(ref, name)(value)
        kept = np.isfinite(got)
        sure_keep, sure_drop = ref.keep & ~ref.maybe, ~ref.keep & ~ref.maybe
        assert not (kept & sure_drop).any() and kept[sure_keep].all(), \
            f"{name}={value!r}: kept {kept}, the definition keeps {ref.keep} (either way: {ref.maybe}) of {row}"
        np.testing.assert_array_equal(got[kept], row[kept].astype(dtype))
        assert kept.any(), "a filter emptied a row"
        zr = row.astype(np.float64)
        for i in np.flatnonzero(kept):  # closed upwards and under ties (exact comparisons)
            assert kept[zr >= zr[i]].all(), f"{name}: token {i} kept but a larger or tied logit removed: {got}"
        event(f"{name}: {'marginal' if not ref.exact else 'exact'}")


# --------------------------------------------------------------------------- sample
@budget(140)
@given(logit_arrays(), st.one_of(temperatures(), st.floats(0.3, 3.0), st.sampled_from([1e-310, 5e-324, 1e-3])),
       st.data())
def test_sample_is_the_inversion_of_the_exact_filtered_distribution(z, temperature, data):
    """sample(z, rng, temperature, top_k, top_p, min_p) returns, per row, the first token whose exact
    cumulative probability reaches 1 - U (U: the generator's next number for that row), within the margin;
    T = 1e-310 and logits of 1e306 give an argmax, uniform over ties; an int seed equals a Generator of that
    seed, and a Generator advances by one number per row; no warning."""
    opts = {}
    for name in ("top_k", "top_p", "min_p"):
        if data.draw(st.booleans()):
            opts[name] = data.draw(st.one_of(st.integers(1, 7) if name == "top_k" else
                                             st.floats(0.0, 1.0, exclude_min=name == "top_p"),
                                             st.sampled_from({"top_k": [1, 2], "top_p": [1.0, 1e-300, 0.5],
                                                              "min_p": [0.0, 1.0, 5e-324, 0.5]}[name])))
    seed = data.draw(st.integers(0, 2**32 - 1))
    as_gen = data.draw(st.booleans())
    gen = np.random.default_rng(seed)
    rng = gen if as_gen else seed
    before = copy.deepcopy(gen)
    tokens = call_checked(snb.sample, z, rng, temperature=temperature, **opts).ok()
    rows = z.shape[:-1]
    if z.ndim == 1:
        assert isinstance(tokens, np.integer) and tokens.dtype == np.intp, type(tokens)
    else:
        assert isinstance(tokens, np.ndarray) and tokens.dtype == np.intp and tokens.shape == rows
    us = before.random(size=rows)
    if as_gen:  # the Generator advanced by exactly one number per row
        assert gen.random() == before.random()
    else:
        np.testing.assert_array_equal(snb.sample(z, np.random.default_rng(seed), temperature=temperature, **opts),
                                      tokens)
    exact = True
    for row, tok, u in zip(_rows(z), np.asarray(tokens).reshape(-1), np.asarray(us).reshape(-1)):
        ref = RowRef(row, temperature)
        for name in ("top_k", "top_p", "min_p"):
            if name in opts:
                getattr(ref, name)(opts[name])
        ok = ref.acceptable(u)
        exact &= ref.exact
        assert ok[tok], (f"sample(T={temperature!r}, {opts}) drew token {tok} with U = {u!r}; the exact filtered "
                         f"distribution allows {np.flatnonzero(ok)} (kept {ref.keep}, either way {ref.maybe}) of {row}")
        zr = ref.z[ref.fin]
        gaps = (zr.max() - zr)[zr < zr.max()]
        if gaps.size == 0 or np.min(gaps) / LD(temperature) > 2000:  # T -> 0: an argmax, uniform over ties
            assert ref.z[tok] == zr.max(), f"T={temperature!r}: token {tok} is not an argmax of {row}"
            if gaps.size:
                event("argmax limit")
    event("exact inversion" if exact else "marginal")


SAMPLE_BAD = {
    "temperature": ([0.0, -1.0, math.inf, math.nan], ["2", True, None, [1.0]]),
    "top_k": ([0, -3], [2.0, "2", True]),
    "top_p": ([0.0, 1.5, math.nan], ["0.9", True]),
    "min_p": ([-0.5, 1.01, math.nan], ["0.1", True]),
    "rng": ([-1], [np.random.RandomState(0), "seed", 1.5]),
}


@budget(60)
@given(logit_arrays(valid=False), st.sampled_from(sorted(SAMPLE_BAD)), st.data())
def test_sample_refuses_wrong_arguments(z, name, data):
    """A wrong value (ValueError) or type (TypeError) of any option, or bad logits: refused naming it."""
    values, types = SAMPLE_BAD[name]
    kind = data.draw(st.sampled_from([ValueError, TypeError]))
    value = data.draw(st.sampled_from(values if kind is ValueError else types))
    kw = {} if name == "rng" else {name: value}
    out = call_checked(snb.sample, z, value if name == "rng" else 0, **kw)
    out.refused((kind, (name,)))
    exp = logits_problem(z)
    if exp:
        call_checked(snb.sample, z, 0).refused((ValueError, ("logits",)))


# --------------------------------------------------------------------------- generate
@budget(80)
@given(tiny_models(), st.data())
def test_generate_on_a_tiny_char_mlp(model, data):
    """generate: shapes and dtypes as documented; each greedy token is an argmax of the exact logits (within their
    bound); each log-probability is within the bound of the exact log-softmax of the exact logits at that token;
    sampled tokens are those of the documented loop of sample calls with the same generator."""
    v, c = model.vocab_size, model.context
    ref = ModelRef(model)
    batched = data.draw(st.booleans())
    r = data.draw(st.integers(1, 3)) if batched else 1
    prompt = data.draw(hnp.arrays(np.int64, (r, data.draw(st.integers(c, c + 3))), elements=st.integers(0, v - 1)))
    if not batched:
        prompt = prompt[0]
    length = data.draw(st.integers(1, 4))
    greedy = data.draw(st.booleans())
    opts = {}
    if not greedy:
        for name, strat in (("temperature", st.sampled_from([0.5, 1.0, 2.0, 1e-3])), ("top_k", st.integers(1, v)),
                            ("top_p", st.sampled_from([0.5, 0.9, 1.0])), ("min_p", st.sampled_from([0.0, 0.1, 0.5]))):
            if data.draw(st.booleans()):
                opts[name] = data.draw(strat)
    seed = data.draw(st.integers(0, 2**32 - 1))
    top = float(np.finfo(model.dtype).max)
    tokens, logp = call_checked(snb.generate, model, prompt, length, seed, greedy=greedy, **opts).ok()
    shape = (r, length) if batched else (length,)
    assert tokens.shape == logp.shape == shape and tokens.dtype == np.intp and logp.dtype == model.dtype
    toks2, rows = np.atleast_2d(tokens), np.atleast_2d(prompt)
    seq = np.concatenate([rows, toks2], axis=1)
    gen = np.random.default_rng(seed)
    for t in range(length):
        window = seq[:, rows.shape[1] - c + t: rows.shape[1] + t]
        z = rounded(ref.logits(window), ref.prec)  # generate rounds model.logits to the model's dtype
        if (z.mag >= top / 4).any():
            return  # the property covers logits inside the dtype's range (beyond it: CLM5)
        pieces = softmax_pieces(z, np.ones(z.val.shape, bool), ref.w)
        tok = toks2[:, t]
        sel = (np.arange(len(tok)), tok)
        lp = Approx(z.val[sel] - pieces.lse.val, z.err[sel] + pieces.lse.err
                    + 4 * ref.w.u * (np.abs(z.val[sel]) + np.abs(pieces.lse.val)))
        check_close(np.atleast_2d(logp)[:, t], rounded(lp, ref.prec), what=f"generate logp, step {t}",
                    dtype=model.dtype)
        if greedy:
            best = np.max(z.val, axis=-1, keepdims=True)
            e_best = np.max(z.err, axis=-1, keepdims=True)
            near = z.val >= best - 2 * (z.err + e_best) - 2 * ref.prec.u_o * np.abs(best)
            assert near[sel].all(), f"greedy step {t}: token {tok} is not an argmax of {z.val}"
        else:
            zw = model.logits(window).astype(ref.prec.work)
            want = snb.sample(zw, gen, **opts)
            np.testing.assert_array_equal(tok, want, err_msg=f"step {t}: generate differs from sample")


def _generate(*args, **kw):
    return snb.generate(*args, **kw)


# generate's options arrive through **sample_kwargs; the harness reads the names a message may use from the
# signature, so this wrapper's signature lists them (and the misspelt one the test passes).
_generate.__signature__ = inspect.Signature(
    [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in ("model", "prompt", "length", "rng")]
    + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None)
       for n in ("greedy", "temperature", "top_k", "top_p", "min_p", "topk")])

GENERATE_BAD = ["greedy_opts", "unknown", "length_zero", "length_float", "prompt_float", "prompt_3d", "prompt_short",
                "prompt_oov", "rng", "greedy_type", "option_value"]


@budget(40)
@given(tiny_models(dtypes=(np.float64,)), st.sampled_from(GENERATE_BAD))
def test_generate_refuses_wrong_arguments(model, how):
    """Sampling options with greedy=True, unknown options, bad length, prompt, rng or option values: a
    TypeError or ValueError naming the argument."""
    c, v = model.context, model.vocab_size
    prompt = np.zeros(c + 1, np.int64)
    args, kw, why = (model, prompt, 2, 0), {}, None
    if how == "greedy_opts":
        kw, why = {"greedy": True, "top_k": 2}, (TypeError, ("greedy", "sample_kwargs", "top_k"))
    elif how == "unknown":
        kw, why = {"topk": 2}, (TypeError, ("topk", "sample_kwargs"))
    elif how == "length_zero":
        args, why = (model, prompt, 0, 0), (ValueError, ("length",))
    elif how == "length_float":
        args, why = (model, prompt, 2.0, 0), (TypeError, ("length",))
    elif how == "prompt_float":
        args, why = (model, prompt.astype(float), 2, 0), (TypeError, ("prompt",))
    elif how == "prompt_3d":
        args, why = (model, prompt.reshape(1, 1, -1), 2, 0), (ValueError, ("prompt",))
    elif how == "prompt_short":
        args, why = (model, prompt[:c - 1] if c > 1 else prompt[:0], 2, 0), (ValueError, ("prompt",))
    elif how == "prompt_oov":
        args, why = (model, prompt + v, 2, 0), (ValueError, ("prompt",))
    elif how == "rng":
        args, why = (model, prompt, 2, np.random.RandomState(0)), (TypeError, ("rng",))
    elif how == "greedy_type":
        kw, why = {"greedy": 1}, (TypeError, ("greedy",))
    else:
        kw, why = {"top_p": 0.0}, (ValueError, ("top_p",))
    call_checked(_generate, *args, **kw).refused(why)


# --------------------------------------------------------------------------- known bugs (strict xfail)
def test_DEC1_min_p_gap_overflow_does_not_warn():
    """Regression (DEC1): a gap to the maximum beyond float64 (1e308 - -1e308) is -inf, removed, with no warning."""
    out = call_checked(snb.min_p_filter, np.array([1e308, -1e308]), min_p=0.5).ok()
    np.testing.assert_array_equal(out, [1e308, -np.inf])


def test_every_known_bug_has_a_strict_xfail_test():
    """Each entry of KNOWN has a test_<ID>_... here (delete both when the bug is fixed)."""
    ids = {name.split("_")[1] for name in globals() if name.startswith("test_") and name.split("_")[1] in KNOWN}
    assert ids == set(KNOWN)
