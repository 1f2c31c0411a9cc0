r"""Decoding a language model: logit filters, sampling and generation.

The filters take logits and return logits of the same shape in which every
removed token is :math:`-\infty`, so that a softmax afterwards gives it
probability exactly 0. They act on the last axis and on any number of leading
(batch) axes, and return the kept logits unchanged, in the input's dtype.

* :func:`top_k_filter` keeps the tokens whose logit is at least the
  ``top_k``-th largest;
* :func:`top_p_filter` (nucleus sampling, Holtzman et al., 2020) keeps the
  smallest set of most probable tokens whose total probability is at least
  ``top_p``;
* :func:`min_p_filter` (Nguyen et al., 2024) keeps the tokens whose
  probability is at least ``min_p`` times the largest;
* :func:`sample` applies the temperature, then the filters in that order, and
  draws one token per row;
* :func:`generate` continues prompts with a model such as
  :class:`~softmax_nb.charlm.CharMLP`.

**Conventions, compared with other libraries.** The :math:`-\infty` convention
and the order temperature :math:`\to` top-k :math:`\to` top-p :math:`\to`
min-p are those of Hugging Face ``transformers`` (its ``TopKLogitsWarper``,
``TopPLogitsWarper`` and ``MinPLogitsWarper``, in the order its ``generate``
builds them). On rows without ties the three filters keep the same tokens as
those warpers (``tests/test_decoding_hf.py`` checks it when ``transformers`` is
installed). They differ from them in three ways:

* **Ties at the top-p boundary are kept whole.** A group of tied tokens that
  straddles the boundary is kept entirely, so the result does not depend on
  the order of the vocabulary; HF sorts the tokens and cuts the group part-way
  (a uniform row of 4 tokens at ``top_p=0.5``: 4 tokens kept here, 2 by HF).
  llama.cpp cuts it too: it keeps the shortest prefix of its descending sort
  whose mass reaches ``top_p``, so it also keeps 2 of the 4, and which tied
  tokens survive depends on each library's sort. On rows without ties the
  three rules keep the same tokens (chapter 12 shows both cases,
  ``tests/test_decoding_libraries.py`` checks them). Ties at the
  ``top_k``-th logit are kept whole here and in HF; llama.cpp keeps exactly
  ``top_k`` tokens.
* **No "off" values.** ``top_k=0`` and ``top_p=0`` raise :class:`ValueError`
  here (in HF's ``generate``, ``top_k=0`` disables top-k, and
  ``TopPLogitsWarper(top_p=0)`` keeps ``min_tokens_to_keep`` tokens); ``None``
  skips a filter in :func:`sample`, and ``top_p=1`` or ``min_p=0`` keep every
  token.
* **No** ``min_tokens_to_keep``: every filter keeps the most probable token
  (with its ties), and nothing more is guaranteed.

Other frameworks order the knobs differently: llama.cpp's default sampler
chain applies the temperature *last* (after top-k, top-p and min-p), so
"min-p 0.1 at :math:`T = 1.5`" selects from a different set there.

**Precision.** The filters return the input's own values or :math:`-\infty`,
so nothing they return is rounded. The choices they make, and the draw of
:func:`sample`, depend on probability masses (for min-p, on logit gaps),
which are computed in float64 whatever the input dtype: a running sum (``np.cumsum``) in float32 over a flat
50 257-token row is off by up to :math:`3.6 \cdot 10^{-4}`, the mass of 18 of
its tokens (on a nearly flat row, ``top_p=0.9`` computed so would keep 15
tokens too few), and once a float32 running sum is near 1 a token
of probability below about :math:`3 \cdot 10^{-8}` adds nothing to it and
could never be drawn. The float64 passes cost a few per cent of
:func:`top_p_filter`'s time, which its sort dominates. Comparisons (the
``top_k``-th logit, the sort) are exact in any dtype and run in the work dtype
(float32 for float16, ``_checks.work_dtype``).
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (ArgumentTypeError, as_float_array, check_bool, check_generator, check_positive_int,
                      check_temperature, check_unit_interval, deprecated_call_forms, real_scalar, work_dtype)
from .core import log_softmax, softmax

if TYPE_CHECKING:
    from .charlm import CharMLP

__all__ = ["top_k_filter", "top_p_filter", "min_p_filter", "sample", "generate"]

# The book's model moved to softmax_nb.charlm; the old imports keep working for one release.
_MOVED_TO_CHARLM = frozenset({"load_corpus", "CharVocab", "CharMLP", "TrainLog", "train_char_mlp"})


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_CHARLM:
        warnings.warn(f"softmax_nb.decoding.{name} moved to softmax_nb.charlm.{name}; import it from there "
                      "(the old location will be removed in the next release)", DeprecationWarning, stacklevel=2)
        from . import charlm
        return getattr(charlm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


Array = NDArray[np.floating]
_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- old call forms
# --------------------------------------------------------------------------- argument checks
def _as_logits(logits: ArrayLike) -> Array:
    """Logits with at least one dimension and, per row, at least one finite entry; no NaN or +inf."""
    z = as_float_array(logits, "logits")
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty last axis (the vocabulary), got shape {z.shape}")
    if np.isnan(z).any():
        raise ValueError("logits contains NaN")
    if np.isposinf(z).any():
        raise ValueError("logits contains +inf; use a large finite logit instead")
    if np.isneginf(z).all(axis=-1).any():
        raise ValueError("logits has a row whose every entry is -inf: no token can be kept or sampled")
    return z


def _check_top_p(value: Any, name: str = "top_p") -> float:
    """Return ``value`` as a float, checking ``0 < value <= 1``."""
    v = real_scalar(value, name, "a number in (0, 1]")
    if not 0.0 < v <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return v


# --------------------------------------------------------------------------- filters (on checked logits)
def _top_k(z: Array, k: int) -> Array:
    if k >= z.shape[-1]:
        return z.copy()
    zw = z.astype(work_dtype(z.dtype), copy=False)  # comparisons are exact in any dtype; float16 sorts in float32
    kth = -np.partition(-zw, k - 1, axis=-1)[..., k - 1:k]
    return np.where(zw >= kth, z, -np.inf).astype(z.dtype, copy=False)


def _top_p(z: Array, p: float) -> Array:
    if p == 1.0:
        return z.copy()
    q = softmax(z.astype(np.float64), axis=-1)  # masses in float64 (module docstring, "Precision")
    order = np.argsort(-z.astype(work_dtype(z.dtype), copy=False), axis=-1, kind="stable")
    z_sorted = np.take_along_axis(z, order, axis=-1)
    q_sorted = np.take_along_axis(q, order, axis=-1)
    before = np.zeros_like(q_sorted)  # mass of the tokens earlier in the order (an exclusive running sum)
    np.cumsum(q_sorted[..., :-1], axis=-1, out=before[..., 1:])
    # For ties, the mass strictly above a token is the `before` of the first token of its tie group.
    idx = np.arange(z.shape[-1])
    starts = np.where(np.concatenate([np.ones_like(z_sorted[..., :1], dtype=bool),
                                      z_sorted[..., 1:] != z_sorted[..., :-1]], axis=-1), idx, 0)
    above = np.take_along_axis(before, np.maximum.accumulate(starts, axis=-1), axis=-1)
    keep = np.empty_like(above, dtype=bool)
    np.put_along_axis(keep, order, above < p, axis=-1)
    return np.where(keep, z, -np.inf).astype(z.dtype, copy=False)


def _min_p(z: Array, p_min: float) -> Array:
    if p_min == 0.0:
        return z.copy()
    z64 = z.astype(np.float64)  # the gap of two float16 (or most float32) logits is exact in float64
    with np.errstate(over="ignore"):  # a gap beyond -1.8e308 (1e308 - -1e308) is -inf: removed, exactly
        gap = z64 - np.max(z64, axis=-1, keepdims=True)
    return np.where(gap >= math.log(p_min), z, -np.inf).astype(z.dtype, copy=False)


# --------------------------------------------------------------------------- public filters
@deprecated_call_forms(positional=("top_k",), renamed={"k": ("top_k", check_positive_int)})
def top_k_filter(logits: ArrayLike, *, top_k: int) -> Array:
    r"""Keep the tokens whose logit is at least the ``top_k``-th largest of their row.

    .. math::

        \tilde z_i = \begin{cases} z_i & z_i \ge z_{(k)} \\ -\infty & \text{otherwise,} \end{cases}

    where :math:`z_{(k)}` is the :math:`k`-th largest logit of the row
    (counted with multiplicity), :math:`k` = ``top_k``. Tokens tied with the
    :math:`k`-th largest are all kept, so a row may keep more than :math:`k`
    tokens; ``top_k`` at least the vocabulary size keeps everything.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``. ``-inf`` entries stay ``-inf``.
    top_k : int
        Number of tokens to keep, an integer >= 1 (keyword-only; the old name
        ``k``, and passing it positionally, are deprecated).

    Returns
    -------
    numpy.ndarray
        Filtered logits, same shape and dtype (float64 for integer input).

    Raises
    ------
    TypeError
        If ``top_k`` is not an integer (:class:`~softmax_nb.ArgumentTypeError`).
    ValueError
        If ``top_k < 1``, or a row of ``logits`` is all ``-inf`` or contains
        NaN or ``+inf``.

    Examples
    --------
    >>> top_k_filter([1.0, 3.0, 2.0, 3.0], top_k=2)
    array([-inf,   3., -inf,   3.])
    """
    k = check_positive_int(top_k, "top_k")
    return _top_k(_as_logits(logits), k)


@deprecated_call_forms(positional=("top_p",), renamed={"p": ("top_p", _check_top_p)})
def top_p_filter(logits: ArrayLike, *, top_p: float) -> Array:
    r"""Nucleus filter: keep the smallest set of most probable tokens with total probability :math:`\ge p`.

    With :math:`q = \operatorname{softmax}(z)` and :math:`p` = ``top_p``,
    token :math:`i` is kept when the tokens strictly more probable than it
    hold less than :math:`p`:

    .. math::

        \text{keep}_i \iff \sum_{j:\, z_j > z_i} q_j < p .

    In a row sorted by decreasing logit this keeps the shortest prefix whose
    cumulative probability reaches :math:`p`, plus every token tied with the
    last one of that prefix (ties are kept whole, unlike Hugging Face's
    ``TopPLogitsWarper``: see the module docstring). The most probable token is
    always kept, so no row is left empty; ``top_p=1`` keeps every token
    (Holtzman et al., 2020). The masses are computed in float64.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``.
    top_p : float
        Probability mass to keep, :math:`0 < p \le 1` (keyword-only; the old
        name ``p``, and passing it positionally, are deprecated).

    Returns
    -------
    numpy.ndarray
        Filtered logits, same shape and dtype.

    Raises
    ------
    TypeError
        If ``top_p`` is not a real number (a string such as ``"0.5"``, a bool).
    ValueError
        If ``top_p`` is not in ``(0, 1]``, or a row of ``logits`` is all
        ``-inf`` or contains NaN or ``+inf``.

    Examples
    --------
    >>> z = np.log([0.5, 0.3, 0.15, 0.05])
    >>> np.isfinite(top_p_filter(z, top_p=0.75))  # 0.5 < 0.75 <= 0.5 + 0.3
    array([ True,  True, False, False])
    """
    p = _check_top_p(top_p)
    return _top_p(_as_logits(logits), p)


@deprecated_call_forms(positional=("min_p",), renamed={"p_min": ("min_p", check_unit_interval)})
def min_p_filter(logits: ArrayLike, *, min_p: float) -> Array:
    r"""Keep the tokens whose probability is at least ``min_p`` times the largest.

    With :math:`p_{\min}` = ``min_p``,

    .. math::

        \text{keep}_i \iff q_i \ge p_{\min} \max_j q_j
        \iff z_i - \max_j z_j \ge \log p_{\min} ,

    computed in the second (logit) form, in float64, which cannot underflow.
    The most probable token is always kept; ``min_p=0`` keeps everything
    (Nguyen et al., 2024).

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``.
    min_p : float
        Relative threshold, :math:`0 \le p_{\min} \le 1` (keyword-only; the
        old name ``p_min``, and passing it positionally, are deprecated).

    Returns
    -------
    numpy.ndarray
        Filtered logits, same shape and dtype.

    Raises
    ------
    TypeError
        If ``min_p`` is not a real number.
    ValueError
        If ``min_p`` is not in ``[0, 1]``, or a row of ``logits`` is all
        ``-inf`` or contains NaN or ``+inf``.

    Examples
    --------
    >>> np.isfinite(min_p_filter(np.log([0.6, 0.3, 0.1]), min_p=0.25))  # threshold 0.25 * 0.6 = 0.15
    array([ True,  True, False])
    """
    p_min = check_unit_interval(min_p, "min_p")
    return _min_p(_as_logits(logits), p_min)


# --------------------------------------------------------------------------- sampling
@deprecated_call_forms(positional=("temperature", "top_k", "top_p", "min_p"))
def sample(logits: ArrayLike, rng: int | np.random.Generator | None = None, *, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None,
           min_p: float | None = None) -> np.intp | NDArray[np.intp]:
    r"""Draw one token per row: temperature first, then top-k, top-p and min-p, in that order.

    .. math::

        z' = \operatorname{minp}\big(\operatorname{topp}(\operatorname{topk}(
             \operatorname{log\_softmax}(z / T)))\big), \qquad
        i \sim \operatorname{softmax}(z') .

    The temperature is applied by :func:`~softmax_nb.core.log_softmax`, which
    subtracts the row maximum before dividing by :math:`T`: the tempered
    logits are :math:`(z - \max z)/T - \log \sum_j e^{(z_j - \max z)/T}`, at
    most 0, so no :math:`T > 0` overflows them (the filters are invariant to
    that shift). As :math:`T \to 0` the draw is uniform over the tied maxima
    (:math:`T = 10^{-310}` gives exactly that); as :math:`T \to \infty`,
    uniform over the tokens whose logit is finite.

    The draw is by inversion: with :math:`u = 1 - U`, :math:`U` uniform on
    :math:`[0, 1)` (one ``rng.random`` number per row), the token is the
    first :math:`i` whose cumulative probability (in float64) reaches
    :math:`u`, so a removed token (probability 0) is never drawn.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``, any float dtype; the draw is computed in float64
        (module docstring, "Precision").
    rng : int, numpy.random.Generator or None, optional
        Source of randomness (SPEC 7): a Generator is advanced by one number
        per row; an int seeds a new one (``sample(z, 123)`` equals
        ``sample(z, np.random.default_rng(123))``); ``None`` (the default)
        draws fresh entropy, so the result is not reproducible. ``rng`` is
        the one option that may be passed positionally.
    temperature : float, default 1.0
        :math:`T > 0`, finite.
    top_k, top_p, min_p : optional
        Parameters of :func:`top_k_filter`, :func:`top_p_filter` and
        :func:`min_p_filter`; ``None`` (the default) skips a filter.
        Passing ``temperature`` and the filters' parameters positionally is
        deprecated.

    Returns
    -------
    numpy.intp or numpy.ndarray of numpy.intp
        Token indices: a numpy scalar for 1-D ``logits``, else an array of
        shape ``logits.shape[:-1]``.

    Raises
    ------
    TypeError
        If an option has the wrong type (a string, a bool, a float ``top_k``,
        a legacy ``RandomState``).
    ValueError
        As the filters, or if ``temperature`` is not a finite number > 0.

    Examples
    --------
    >>> int(sample([0.0, 5.0, 1.0], 0, top_k=1))
    1
    """
    t = check_temperature(temperature)
    k = None if top_k is None else check_positive_int(top_k, "top_k")
    p = None if top_p is None else _check_top_p(top_p)
    p_min = None if min_p is None else check_unit_interval(min_p, "min_p")
    gen = check_generator(rng)
    z = _as_logits(logits)
    w = log_softmax(z.astype(np.float64), axis=-1, temperature=t)
    if k is not None:
        w = _top_k(w, k)
    if p is not None:
        w = _top_p(w, p)
    if p_min is not None:
        w = _min_p(w, p_min)
    cdf = np.cumsum(np.exp(w), axis=-1)  # unnormalised after a filter; u is scaled by the total, at least 1/V
    u = (1.0 - gen.random(size=z.shape[:-1])) * cdf[..., -1]  # in (0, total]
    tokens = np.asarray(np.sum(cdf < np.asarray(u)[..., None], axis=-1, dtype=np.intp))
    return tokens[()] if tokens.ndim == 0 else tokens


def _check_model_logits(z: NDArray[Any], n_rows: int, step: int) -> None:
    """The model's logits at one step of :func:`generate`: ``(n_rows, V)``, real, no NaN or ``+inf``, and a
    finite entry in every row; else a ValueError naming ``model`` (its logits, not the caller's)."""
    if z.ndim != 2 or z.shape[0] != n_rows or z.shape[1] == 0 or z.dtype.kind not in "fiu":
        raise ValueError(f"model.logits must return real logits of shape (R, V) = ({n_rows}, V) with V >= 1, "
                         f"got {z.dtype} of shape {z.shape} at step {step}")
    if z.dtype.kind != "f" or np.isfinite(z).all():
        return
    if np.isnan(z).any() or np.isposinf(z).any() or np.isneginf(z).all(axis=-1).any():
        what = ("NaN" if np.isnan(z).any() else "+inf" if np.isposinf(z).any() else "a row of -inf")
        raise ValueError(f"model.logits returned {what} at step {step}: the model's logits are not defined there "
                         f"(a {z.dtype} model whose logits overflow its range? use float32 or float64 parameters)")


# The options generate() passes on to sample(): the keyword-only parameters of its signature.
_SAMPLE_OPTIONS = tuple(name for name, par in inspect.signature(sample).parameters.items()
                        if par.kind is inspect.Parameter.KEYWORD_ONLY)


@deprecated_call_forms(positional=("greedy",))
def generate(model: CharMLP, prompt: ArrayLike, length: int, rng: int | np.random.Generator | None = None, *,
             greedy: bool = False, **sample_kwargs: Any) -> tuple[NDArray[np.intp], NDArray[np.floating]]:
    r"""Continue a prompt (or a batch of prompts) by ``length`` tokens, and score each under the model.

    At each step the model's logits :math:`z` for the last ``model.context``
    tokens give the next token, :math:`\arg\max_i z_i` (greedy) or a draw of
    :func:`sample`, and its log-probability :math:`z_i - \log\sum_j e^{z_j}`.

    Parameters
    ----------
    model : CharMLP
        The language model: any object with an int ``context`` and a method
        ``logits(windows)`` mapping ``(R, context)`` token ids to ``(R, V)``
        logits, such as :class:`~softmax_nb.charlm.CharMLP`.
    prompt : array_like of int
        Shape ``(L,)`` for one prompt or ``(R, L)`` for ``R`` prompts
        generated side by side, with ``L >= model.context`` (``R = 0`` gives
        empty results).
    length : int
        Number of tokens to generate, >= 1.
    rng : int, numpy.random.Generator or None, optional
        As in :func:`sample`: advanced by one number per row and step; an int
        seeds a new Generator, ``None`` draws fresh entropy. Not used (but
        checked) when ``greedy``.
    greedy : bool, default False
        Take the most probable token (the first one on ties) instead of
        sampling. Keyword-only (passing it positionally is deprecated).
    **sample_kwargs
        The options of :func:`sample`: ``temperature``, ``top_k``, ``top_p``,
        ``min_p``. Any other name is a TypeError, and so is any of them with
        ``greedy=True`` (greedy decoding would ignore it).

    Returns
    -------
    tokens : numpy.ndarray of numpy.intp
        The generated ids, shape ``(length,)`` or ``(R, length)``.
    logp : numpy.ndarray
        :math:`\log p(x_t \mid \cdot)` of each generated token under the
        model at temperature 1 without filters, i.e. the model's own
        log-likelihood of its text; same shape as ``tokens``, in the dtype of
        the model's logits (computed in float32 for float16).

    Raises
    ------
    TypeError
        For an unknown option, a sampling option with ``greedy=True``, or an
        option of the wrong type.
    ValueError
        If ``prompt`` is not 1-D or 2-D integer ids, is shorter than the
        context, or holds ids outside the model's vocabulary; if the model's
        logits hold NaN or ``+inf`` or a row of ``-inf`` (a float16 model
        whose logits overflow the float16 range: the message names
        ``model``); or as :func:`sample`.
    """
    unknown = sorted(set(sample_kwargs) - set(_SAMPLE_OPTIONS))
    if unknown:
        raise TypeError(f"generate() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                        f"its sampling options are those of sample(): {', '.join(_SAMPLE_OPTIONS)}")
    greedy = check_bool(greedy, "greedy")
    if greedy and sample_kwargs:
        raise TypeError(f"generate(greedy=True) takes no sampling options, got {', '.join(sorted(sample_kwargs))}: "
                        "greedy decoding takes the most probable token and would ignore them")
    length = check_positive_int(length, "length")
    p = np.asarray(prompt)
    if p.dtype.kind not in "iu":
        raise ArgumentTypeError(f"prompt must be integer token ids, got dtype {p.dtype}")
    if p.ndim not in (1, 2):
        raise ValueError(f"prompt must be a 1-D or 2-D array of token ids, got shape {p.shape}")
    rows = np.atleast_2d(p).astype(np.intp)
    if rows.shape[1] < model.context:
        raise ValueError(f"prompt must hold at least context = {model.context} ids, got {rows.shape[1]}")
    v = getattr(model, "vocab_size", None)
    if v is not None and rows.size and (rows.min() < 0 or rows.max() >= v):
        bad = rows[(rows < 0) | (rows >= v)].flat[0]
        raise ValueError(f"prompt must hold token ids in [0, {v}) for the model's vocabulary, got {bad}")
    gen = check_generator(rng) if rng is not None or not greedy else None
    window = rows[:, -model.context:].copy()
    out = np.empty((rows.shape[0], length), dtype=np.intp)
    logp: Array | None = None
    for t in range(length):
        z = np.asarray(model.logits(window))
        _check_model_logits(z, window.shape[0], t)
        zw = z.astype(work_dtype(z.dtype), copy=False)
        tok = np.asarray(np.argmax(zw, axis=-1) if greedy else sample(zw, gen, **sample_kwargs))
        if logp is None:
            logp = np.empty((rows.shape[0], length), dtype=zw.dtype)
        out[:, t] = tok
        logp[:, t] = np.take_along_axis(log_softmax(zw), tok[:, None], axis=-1)[:, 0]
        window = np.concatenate([window[:, 1:], tok[:, None]], axis=1)
    assert logp is not None  # length >= 1
    logp_out = logp.astype(z.dtype, copy=False) if z.dtype.kind == "f" else logp
    return (out[0], logp_out[0]) if p.ndim == 1 else (out, logp_out)
