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
* :func:`typical_filter` (locally typical sampling, Meister et al., 2023)
  keeps the tokens whose surprisal is nearest the entropy, up to a mass
  ``typical_p``;
* :func:`epsilon_filter` (ε-sampling, Hewitt et al., 2022) keeps the tokens
  of probability at least ``epsilon``;
* :func:`sample` applies the temperature, then the filters in that order, and
  draws one token per row;
* :func:`repetition_penalty` (Keskar et al., 2019) lowers the logits of the
  tokens already seen; :func:`generate` continues prompts with a model such
  as :class:`~softmax_nb.charlm.CharMLP`, and takes it (or a constraint, as
  ``-inf`` on the forbidden tokens) as its ``logits_processor``;
* :func:`gumbel_top_k` draws ``k`` distinct tokens without replacement
  (Kool et al., 2019), and :func:`beam_search` finds a likely continuation
  with a length-normalised score.

**Conventions, compared with other libraries.** The :math:`-\infty` convention
and the order temperature :math:`\to` top-k :math:`\to` top-p :math:`\to`
min-p :math:`\to` typical :math:`\to` ε are those of Hugging Face
``transformers`` (its ``TopKLogitsWarper``, ``TopPLogitsWarper``,
``MinPLogitsWarper``, ``TypicalLogitsWarper`` and ``EpsilonLogitsWarper``, in
the order its ``generate`` builds them). On rows without ties the filters keep
the same tokens as those warpers, and :func:`repetition_penalty` returns the
same logits as ``RepetitionPenaltyLogitsProcessor``
(``tests/test_decoding_hf.py`` checks it when ``transformers`` is installed).
The typical and ε filters keep ties whole as HF does. The first three filters
differ from HF in three ways:

* **Ties at the top-p boundary are kept whole.** A group of tied tokens that
  straddles the boundary is kept entirely, so the result does not depend on
  the order of the vocabulary; HF sorts the tokens and cuts the group part-way
  (a uniform row of 4 tokens at ``top_p=0.5``: 4 tokens kept here, 2 by HF).
  llama.cpp cuts it too: it keeps the shortest prefix of its descending sort
  whose mass reaches ``top_p``, so it also keeps 2 of the 4, and which tied
  tokens survive depends on each library's sort. On rows without ties the
  three rules keep the same tokens (the Decoding chapter shows both cases,
  ``tests/test_decoding_libraries.py`` checks them). Ties at the
  ``top_k``-th logit are kept whole here and in HF; llama.cpp keeps exactly
  ``top_k`` tokens.
* **No "off" values.** ``top_k=0`` and ``top_p=0`` raise :class:`ValueError`
  here (in HF's ``generate``, ``top_k=0`` disables top-k, and
  ``TopPLogitsWarper(top_p=0)`` keeps ``min_tokens_to_keep`` tokens); ``None``
  skips a filter in :func:`sample`, and ``top_p=1`` or ``min_p=0`` keep every
  token.
* **No** ``min_tokens_to_keep``: every filter keeps the most probable token
  (with its ties), except the typical filter, which keeps the most typical
  one; nothing more is guaranteed.

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

from ._checks import (ArgumentTypeError, as_float_array, check_bool, check_generator, check_int, check_positive_int,
                      check_temperature, check_unit_interval, deprecated_call_forms, real_scalar, work_dtype)
from .core import log_softmax, softmax

if TYPE_CHECKING:
    from .charlm import CharMLP

__all__ = ["top_k_filter", "top_p_filter", "min_p_filter", "typical_filter", "epsilon_filter", "repetition_penalty",
           "sample", "generate", "gumbel_top_k", "beam_search"]

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


def _keep_by_mass(key: Array, q: Array, limit: float) -> NDArray[np.bool_]:
    """Sort the tokens by ``key`` (ascending) and keep each one whose tie group (equal key) starts before the running
    mass ``q`` reaches ``limit``: the mass of the tokens strictly before its group is below ``limit``. Ties are kept
    or removed whole, so the result does not depend on the order of the vocabulary."""
    order = np.argsort(key, axis=-1, kind="stable")
    key_sorted = np.take_along_axis(key, order, axis=-1)
    q_sorted = np.take_along_axis(q, order, axis=-1)
    before = np.zeros_like(q_sorted)  # mass of the tokens earlier in the order (an exclusive running sum)
    np.cumsum(q_sorted[..., :-1], axis=-1, out=before[..., 1:])
    # the mass strictly before a tie group is the `before` of its first token
    idx = np.arange(key.shape[-1])
    starts = np.where(np.concatenate([np.ones_like(key_sorted[..., :1], dtype=bool),
                                      key_sorted[..., 1:] != key_sorted[..., :-1]], axis=-1), idx, 0)
    mass_before = np.take_along_axis(before, np.maximum.accumulate(starts, axis=-1), axis=-1)
    keep = np.empty_like(mass_before, dtype=bool)
    np.put_along_axis(keep, order, mass_before < limit, axis=-1)
    return keep


def _top_p(z: Array, p: float) -> Array:
    if p == 1.0:
        return z.copy()
    q = softmax(z.astype(np.float64), axis=-1)  # masses in float64 (module docstring, "Precision")
    keep = _keep_by_mass(-z.astype(work_dtype(z.dtype), copy=False), q, p)  # most probable first
    return np.where(keep, z, -np.inf).astype(z.dtype, copy=False)


def _min_p(z: Array, p_min: float) -> Array:
    if p_min == 0.0:
        return z.copy()
    z64 = z.astype(np.float64)  # the gap of two float16 (or most float32) logits is exact in float64
    with np.errstate(over="ignore"):  # a gap beyond -1.8e308 (1e308 - -1e308) is -inf: removed, exactly
        gap = z64 - np.max(z64, axis=-1, keepdims=True)
    return np.where(gap >= math.log(p_min), z, -np.inf).astype(z.dtype, copy=False)


def _typical(z: Array, mass: float) -> Array:
    if mass == 1.0:
        return z.copy()
    lq = log_softmax(z.astype(np.float64), axis=-1)  # everything in float64 (module docstring, "Precision")
    q = np.exp(lq)
    finite = np.isfinite(lq)
    entropy = -np.sum(q * np.where(finite, lq, 0.0), axis=-1, keepdims=True)
    shifted = np.where(finite, np.abs(-lq - entropy), np.inf)  # |-log q_i - H|; a removed token is least typical
    keep = _keep_by_mass(shifted, q, mass)  # most typical first
    return np.where(keep, z, -np.inf).astype(z.dtype, copy=False)


def _epsilon(z: Array, eps: float) -> Array:
    if eps == 0.0:
        return z.copy()
    z64 = z.astype(np.float64)  # log-probabilities in float64: no probability underflows before the comparison
    keep = (log_softmax(z64, axis=-1) >= math.log(eps)) | (z64 == np.max(z64, axis=-1, keepdims=True))
    return np.where(keep, z, -np.inf).astype(z.dtype, copy=False)


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


def typical_filter(logits: ArrayLike, *, typical_p: float) -> Array:
    r"""Locally typical filter: keep the tokens whose surprisal is closest to the entropy, up to mass ``typical_p``.

    With :math:`q = \operatorname{softmax}(z)`, its entropy
    :math:`H = -\sum_j q_j \log q_j` and the *shifted score*
    :math:`s_i = \lvert -\log q_i - H \rvert` (how far token :math:`i`'s
    surprisal is from the expected surprisal), token :math:`i` is kept when
    the tokens strictly more typical than it hold less than :math:`\tau` =
    ``typical_p``:

    .. math::

        \text{keep}_i \iff \sum_{j:\, s_j < s_i} q_j < \tau .

    In the tokens sorted by increasing :math:`s` this keeps the shortest
    prefix whose cumulative probability reaches :math:`\tau`, and every token
    whose score ties with the last one of that prefix (Meister et al., 2023).
    The most typical token (with its ties) is always kept; it need not be the
    most probable one. ``typical_p=1`` keeps every token.

    This is Hugging Face's ``TypicalLogitsWarper`` (``typical_p`` of
    ``generate``, ``min_tokens_to_keep=1``): it sorts by :math:`s`, finds the
    first position whose cumulative mass is :math:`\ge \tau` and removes the
    tokens whose score is strictly larger than the score there, so it too
    keeps a straddling tie group whole, and the two rules keep the same tokens
    whatever the order of the vocabulary (``tests/test_decoding_hf.py``). Two
    differences: the masses, the entropy and the scores are computed here in
    float64, where HF uses the input's dtype (a decision within rounding of
    :math:`\tau` can differ on float32 input), and ``typical_p=1`` keeps every
    token, where HF accepts only :math:`0 < \tau < 1`.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``. ``-inf`` entries stay ``-inf``.
    typical_p : float
        Probability mass to keep, :math:`0 < \tau \le 1` (keyword-only).

    Returns
    -------
    numpy.ndarray
        Filtered logits, same shape and dtype (float64 for integer input).

    Raises
    ------
    TypeError
        If ``typical_p`` is not a real number (a string, a bool).
    ValueError
        If ``typical_p`` is not in ``(0, 1]``, or a row of ``logits`` is all
        ``-inf`` or contains NaN or ``+inf``.

    Examples
    --------
    The runner-up is the most typical token: its surprisal, 1.20 nats, is
    nearest the entropy, 1.17 nats.

    >>> z = np.log([0.5, 0.3, 0.1, 0.1])
    >>> np.isfinite(typical_filter(z, typical_p=0.25))
    array([False,  True, False, False])
    >>> np.isfinite(typical_filter(z, typical_p=0.5))  # 0.3 < 0.5 <= 0.3 + 0.5
    array([ True,  True, False, False])
    """
    mass = _check_top_p(typical_p, "typical_p")
    return _typical(_as_logits(logits), mass)


def epsilon_filter(logits: ArrayLike, *, epsilon: float) -> Array:
    r"""ε-sampling's filter: keep the tokens whose probability is at least ``epsilon``, and the most probable one.

    With :math:`q = \operatorname{softmax}(z)` and :math:`\varepsilon` =
    ``epsilon``,

    .. math::

        \text{keep}_i \iff q_i \ge \varepsilon \ \text{ or } \ z_i = \max_j z_j ,

    computed as :math:`\log q_i \ge \log \varepsilon` in float64 (no
    probability underflows). Unlike min-p, the threshold is absolute: it does
    not move with the model's confidence (Hewitt et al., 2022). The most
    probable token and its ties are always kept, so no row is left empty;
    ``epsilon=0`` keeps every token.

    This is Hugging Face's ``EpsilonLogitsWarper`` (``epsilon_cutoff`` of
    ``generate``, ``min_tokens_to_keep=1``), which also keeps the tied maxima
    (``tests/test_decoding_hf.py``); HF accepts only :math:`0 < \varepsilon < 1`,
    here ``0`` and ``1`` are allowed (``epsilon=1`` keeps the maxima).

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``.
    epsilon : float
        Absolute probability threshold, :math:`0 \le \varepsilon \le 1`
        (keyword-only). Hewitt et al. use :math:`3 \cdot 10^{-4}` to
        :math:`10^{-3}` on word-piece vocabularies.

    Returns
    -------
    numpy.ndarray
        Filtered logits, same shape and dtype.

    Raises
    ------
    TypeError
        If ``epsilon`` is not a real number.
    ValueError
        If ``epsilon`` is not in ``[0, 1]``, or a row of ``logits`` is all
        ``-inf`` or contains NaN or ``+inf``.

    Examples
    --------
    >>> np.isfinite(epsilon_filter(np.log([0.6, 0.3, 0.1]), epsilon=0.2))
    array([ True,  True, False])
    >>> np.isfinite(epsilon_filter(np.log([0.4, 0.3, 0.3]), epsilon=0.5))  # the maximum stays
    array([ True, False, False])
    """
    eps = check_unit_interval(epsilon, "epsilon")
    return _epsilon(_as_logits(logits), eps)


def repetition_penalty(logits: ArrayLike, previous: ArrayLike, *, penalty: float) -> Array:
    r"""Penalise the tokens that already occurred: divide their logit by ``penalty`` if positive, multiply if negative.

    With :math:`\theta` = ``penalty`` and :math:`P` the set of ids in
    ``previous`` (each counted once, however often it occurs),

    .. math::

        \tilde z_i = \begin{cases} z_i / \theta & i \in P,\ z_i \ge 0 \\
                                   z_i \, \theta & i \in P,\ z_i < 0 \\
                                   z_i & i \notin P , \end{cases}

    so :math:`\theta > 1` makes every previous token less likely and
    :math:`\theta < 1` more likely; :math:`\theta = 1` changes nothing. This
    is the penalty of CTRL (Keskar et al., 2019), as Hugging Face's
    ``RepetitionPenaltyLogitsProcessor`` (``repetition_penalty`` of
    ``generate``) applies it (``tests/test_decoding_hf.py``). Unlike a
    temperature it is not invariant to shifting the logits: it depends on
    their sign. HF penalises the whole context, prompt included; pass only the
    last few tokens (llama.cpp's ``repeat_last_n``) for a window. HF ignores
    ids beyond the vocabulary, here they are a ValueError.

    The work dtype is the input's (float32 for float16, rounded once at the
    end), and :math:`\theta` is rounded to it, as numpy and torch do, unless
    it lies outside that dtype's range (then float64 is used). ``-inf`` stays
    ``-inf``.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``.
    previous : array_like of int
        The ids seen so far, shape ``(..., L)``: its leading axes broadcast
        against those of ``logits`` (a 1-D ``previous`` applies to every row);
        ``L = 0`` penalises nothing.
    penalty : float
        :math:`\theta > 0`, finite (keyword-only); CTRL uses 1.2.

    Returns
    -------
    numpy.ndarray
        Penalised logits, same shape and dtype (float64 for integer input).

    Raises
    ------
    TypeError
        If ``previous`` is not integer ids or ``penalty`` not a real number.
    ValueError
        If ``penalty`` is not a finite number > 0, or sends a logit beyond
        the range of its dtype; if ``previous`` holds ids outside
        ``[0, V)`` or its leading axes do not broadcast to those of
        ``logits``; or if a row of ``logits`` is all ``-inf`` or contains NaN
        or ``+inf``.

    Examples
    --------
    >>> repetition_penalty([2.0, -1.0, 0.5], [0, 1, 1], penalty=2.0)
    array([ 1. , -2. ,  0.5])
    """
    z = _as_logits(logits)
    theta = check_temperature(penalty, "penalty")
    ids = np.asarray(previous)
    if ids.dtype.kind not in "iu":
        raise ArgumentTypeError(f"previous must be integer token ids, got dtype {ids.dtype}")
    if ids.ndim == 0:
        raise ValueError("previous must have at least one axis (the ids seen so far), got a scalar")
    lead = z.shape[:-1]
    try:
        ok = np.broadcast_shapes(ids.shape[:-1], lead) == lead
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"previous must have shape (..., L) with leading axes that broadcast to those of logits "
                         f"{lead}, got shape {ids.shape}")
    v = z.shape[-1]
    if ids.size and (ids.min() < 0 or ids.max() >= v):
        bad = ids[(ids < 0) | (ids >= v)].flat[0]
        raise ValueError(f"previous must hold token ids in [0, {v}) for a vocabulary of {v}, got {bad}")
    seen = np.zeros(z.shape, dtype=bool)
    np.put_along_axis(seen, np.broadcast_to(ids, lead + ids.shape[-1:]).astype(np.intp), True, axis=-1)
    work = work_dtype(z.dtype)
    with np.errstate(over="ignore", under="ignore"):
        fits = 0.0 < float(work.type(theta)) < math.inf  # else theta is outside the work dtype's range: use float64
        w = z.astype(work if fits else np.dtype(np.float64), copy=False)
        out = np.where(seen, np.where(w < 0, w * theta, w / theta), w).astype(z.dtype, copy=False)
    overflow = np.isinf(out) & np.isfinite(z)
    if overflow.any():
        raise ValueError(f"penalty={penalty!r} sends the logit {float(z[overflow].flat[0]):.6g} beyond the "
                         f"range of {z.dtype}")
    return out


def gumbel_top_k(logits: ArrayLike, rng: int | np.random.Generator | None = None, *, k: int) -> NDArray[np.intp]:
    r"""Draw ``k`` distinct tokens per row, without replacement, by the Gumbel-top-k trick.

    With independent standard Gumbel variables :math:`g_i`, the tokens are the
    indices of the ``k`` largest perturbed logits :math:`z_i + g_i`, in
    decreasing order:

    .. math::

        (i_1, \dots, i_k) = \operatorname{top-}k \operatorname{argsort}(z + g) .

    The first, :math:`\arg\max_i (z_i + g_i)`, is a draw from
    :math:`\operatorname{softmax}(z)` (the Gumbel-max trick of the chapter "Beyond softmax"), and
    the ordered tuple is distributed as drawing from
    :math:`\operatorname{softmax}(z)` ``k`` times *without replacement*, each
    draw renormalised over the tokens not yet drawn (Kool et al., 2019):

    .. math::

        P(i_1, \dots, i_k) = \prod_{r=1}^{k}
        \frac{e^{z_{i_r}}}{\sum_{j \notin \{i_1, \dots, i_{r-1}\}} e^{z_j}} .

    One pass of noise replaces ``k`` sequential draws. The perturbed logits
    are formed in float64 from :math:`z - \max z` (so huge tied logits stay
    tied exactly and the noise breaks the tie); a gap beyond the float64
    range (:math:`z_i - \max z < -1.8 \cdot 10^{308}`) counts as
    :math:`-\infty`, drawn only when ``k`` leaves no other choice.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``; ``-inf`` entries are never drawn.
    rng : int, numpy.random.Generator or None, optional
        Source of randomness (SPEC 7), advanced by ``V`` Gumbel numbers per
        row (``rng.gumbel(size=logits.shape)``); an int seeds a new
        Generator; ``None`` draws fresh entropy.
    k : int
        Number of distinct tokens per row, :math:`1 \le k \le` the number of
        finite logits of every row (keyword-only).

    Returns
    -------
    numpy.ndarray of numpy.intp
        Shape ``logits.shape[:-1] + (k,)``: the tokens of each row in the
        order they were drawn.

    Raises
    ------
    TypeError
        If ``k`` is not an integer or ``rng`` not a seed or Generator.
    ValueError
        If ``k < 1`` or ``k`` exceeds the finite logits of a row, or a row of
        ``logits`` is all ``-inf`` or contains NaN or ``+inf``.

    Examples
    --------
    >>> draws = gumbel_top_k(np.zeros((1000, 5)), 0, k=3)
    >>> draws.shape, bool((np.sort(draws, axis=-1)[:, 1:] > np.sort(draws, axis=-1)[:, :-1]).all())
    ((1000, 3), True)
    """
    z = _as_logits(logits)
    kk = check_positive_int(k, "k")
    gen = check_generator(rng)
    finite = np.isfinite(z).sum(axis=-1)
    if finite.size and kk > finite.min():
        raise ValueError(f"k must be at most the number of finite logits in every row of logits "
                         f"({int(finite.min())}), got {k!r}")
    z64 = z.astype(np.float64)
    top = np.max(z64, axis=-1, keepdims=True) if z64.size else z64[..., :1]
    with np.errstate(over="ignore"):  # a gap beyond float64 (1e308 - -1e308) is -inf: probability 0 there
        keys = (z64 - top) + gen.gumbel(size=z.shape)  # -inf stays -inf: never drawn
    if kk < z.shape[-1]:
        part = np.argpartition(-keys, kk - 1, axis=-1)[..., :kk]
    else:
        part = np.broadcast_to(np.arange(z.shape[-1]), z.shape).copy()
    order = np.argsort(-np.take_along_axis(keys, part, axis=-1), axis=-1, kind="stable")
    return np.take_along_axis(part, order, axis=-1).astype(np.intp, copy=False)


# --------------------------------------------------------------------------- sampling
@deprecated_call_forms(positional=("temperature", "top_k", "top_p", "min_p"))
def sample(logits: ArrayLike, rng: int | np.random.Generator | None = None, *, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
           typical_p: float | None = None, epsilon: float | None = None) -> np.intp | NDArray[np.intp]:
    r"""Draw one token per row: temperature first, then top-k, top-p, min-p, typical and ε, in that order.

    .. math::

        z' = \operatorname{minp}\big(\operatorname{topp}(\operatorname{topk}(
             \operatorname{log\_softmax}(z / T)))\big), \qquad
        i \sim \operatorname{softmax}(z') ,

    followed, when they are given, by :func:`typical_filter` and
    :func:`epsilon_filter` (Hugging Face's order: its ``generate`` builds
    the typical and epsilon warpers after min-p).

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
        Passing ``temperature`` and these three positionally is deprecated.
    typical_p, epsilon : optional
        Parameters of :func:`typical_filter` and :func:`epsilon_filter`
        (keyword-only); ``None`` (the default) skips them.

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
    mass = None if typical_p is None else _check_top_p(typical_p, "typical_p")
    eps = None if epsilon is None else check_unit_interval(epsilon, "epsilon")
    gen = check_generator(rng)
    z = _as_logits(logits)
    w = log_softmax(z.astype(np.float64), axis=-1, temperature=t)
    if k is not None:
        w = _top_k(w, k)
    if p is not None:
        w = _top_p(w, p)
    if p_min is not None:
        w = _min_p(w, p_min)
    if mass is not None:
        w = _typical(w, mass)
    if eps is not None:
        w = _epsilon(w, eps)
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


def _prompt_rows(prompt: ArrayLike, model: Any) -> tuple[NDArray[Any], NDArray[np.intp]]:
    """The prompt as given and as ``(R, L)`` rows of ids, checked against the model's context and vocabulary."""
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
    return p, rows


def _processed(fn: Callable[..., ArrayLike], rows: NDArray[np.intp], new: NDArray[np.intp], z: Array,
               step: int) -> Array:
    """``fn(ids, z)`` of :func:`generate`'s ``logits_processor``, checked: the same shape, no NaN or ``+inf``, a
    finite entry in every row; returned in the work dtype of ``z``."""
    out = np.asarray(fn(np.concatenate([rows, new], axis=1), z.copy()))
    if out.shape != z.shape or out.dtype.kind not in "fiu":
        raise ValueError(f"logits_processor must return real logits of the shape it was given, {z.shape}, "
                         f"got {out.dtype} of shape {out.shape} at step {step}")
    with np.errstate(over="ignore"):  # a float64 result beyond float32's range becomes inf, refused below
        out = out.astype(z.dtype, copy=False)
    if np.isnan(out).any() or np.isposinf(out).any() or np.isneginf(out).all(axis=-1).any():
        what = ("NaN" if np.isnan(out).any() else "+inf" if np.isposinf(out).any() else "a row of -inf")
        raise ValueError(f"logits_processor returned {what} at step {step}: every row needs a finite logit and "
                         "no NaN or +inf")
    return out


# The options generate() passes on to sample(): the keyword-only parameters of its signature.
_SAMPLE_OPTIONS = tuple(name for name, par in inspect.signature(sample).parameters.items()
                        if par.kind is inspect.Parameter.KEYWORD_ONLY)


@deprecated_call_forms(positional=("greedy",))
def generate(model: CharMLP, prompt: ArrayLike, length: int, rng: int | np.random.Generator | None = None, *,
             greedy: bool = False, logits_processor: Callable[[NDArray[np.intp], Array], ArrayLike] | None = None,
             **sample_kwargs: Any) -> tuple[NDArray[np.intp], NDArray[np.floating]]:
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
    logits_processor : callable, optional
        ``logits_processor(ids, z)`` returns the logits to decode from at each
        step, as Hugging Face's logits processors do (keyword-only): ``ids`` is
        the ``(R, L + t)`` array of each prompt and the tokens generated so
        far, ``z`` the model's ``(R, V)`` logits in the work dtype. Use it for
        a :func:`repetition_penalty` or a constraint (``-inf`` on the tokens
        not allowed). It acts before greedy's argmax or :func:`sample`'s
        temperature and filters, and does not change ``logp``.
    **sample_kwargs
        The options of :func:`sample`: ``temperature``, ``top_k``, ``top_p``,
        ``min_p``, ``typical_p``, ``epsilon``. Any other name is a TypeError, and so is any of them with
        ``greedy=True`` (greedy decoding would ignore it).

    Returns
    -------
    tokens : numpy.ndarray of numpy.intp
        The generated ids, shape ``(length,)`` or ``(R, length)``.
    logp : numpy.ndarray
        :math:`\log p(x_t \mid \cdot)` of each generated token under the
        model at temperature 1 without filters or processor, i.e. the model's
        own log-likelihood of its text; same shape as ``tokens``, in the dtype of
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
        ``model``); if ``logits_processor`` is not callable (a TypeError) or
        returns logits of another shape, with NaN, ``+inf`` or a row of
        ``-inf``; or as :func:`sample`.
    """
    unknown = sorted(set(sample_kwargs) - set(_SAMPLE_OPTIONS))
    if unknown:
        raise TypeError(f"generate() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                        f"its sampling options are those of sample(): {', '.join(_SAMPLE_OPTIONS)}")
    greedy = check_bool(greedy, "greedy")
    if greedy and sample_kwargs:
        raise TypeError(f"generate(greedy=True) takes no sampling options, got {', '.join(sorted(sample_kwargs))}: "
                        "greedy decoding takes the most probable token and would ignore them")
    if logits_processor is not None and not callable(logits_processor):
        raise ArgumentTypeError(f"logits_processor must be None or a callable f(ids, logits), "
                                f"got {type(logits_processor).__name__}")
    length = check_positive_int(length, "length")
    p, rows = _prompt_rows(prompt, model)
    gen = check_generator(rng) if rng is not None or not greedy else None
    window = rows[:, -model.context:].copy()
    out = np.empty((rows.shape[0], length), dtype=np.intp)
    logp: Array | None = None
    for t in range(length):
        z = np.asarray(model.logits(window))
        _check_model_logits(z, window.shape[0], t)
        zw = z.astype(work_dtype(z.dtype), copy=False)
        zd = zw if logits_processor is None else _processed(logits_processor, rows, out[:, :t], zw, t)
        tok = np.asarray(np.argmax(zd, axis=-1) if greedy else sample(zd, gen, **sample_kwargs))
        if logp is None:
            logp = np.empty((rows.shape[0], length), dtype=zw.dtype)
        out[:, t] = tok
        logp[:, t] = np.take_along_axis(log_softmax(zw), tok[:, None], axis=-1)[:, 0]
        window = np.concatenate([window[:, 1:], tok[:, None]], axis=1)
    assert logp is not None  # length >= 1
    logp_out = logp.astype(z.dtype, copy=False) if z.dtype.kind == "f" else logp
    return (out[0], logp_out[0]) if p.ndim == 1 else (out, logp_out)


def beam_search(model: CharMLP, prompt: ArrayLike, length: int, *, beam_width: int, length_penalty: float = 1.0,
                eos: int | None = None) -> tuple[NDArray[np.intp], NDArray[np.floating]]:
    r"""Continue one prompt by the most probable sequence that a beam of ``beam_width`` hypotheses finds.

    A hypothesis :math:`y = (y_1, \dots, y_n)` is scored by its log-probability
    divided by a power of its length (Hugging Face's ``length_penalty``
    :math:`\lambda`):

    .. math::

        \operatorname{score}(y) = \frac{1}{n^{\lambda}} \sum_{t=1}^{n} \log p(y_t \mid \text{prompt}, y_{<t}) .

    A hypothesis ends when it emits ``eos`` (which counts in :math:`n`) or
    reaches ``length`` tokens. At each step every live hypothesis is extended
    by every token, and the candidates are ranked by their summed
    log-probability; an ``eos`` candidate among the first ``beam_width`` is
    finished, and the first ``beam_width`` other candidates stay live (the rule
    of HF's beam search, without its early stopping: the search always runs to
    ``length``). The result is the finished hypothesis of highest score.

    Without ``eos`` every hypothesis has ``length`` tokens and :math:`\lambda`
    changes nothing. With it, :math:`\lambda = 0` ranks by total
    log-probability, which every extra token lowers, so short hypotheses win;
    :math:`\lambda = 1` ranks by the mean log-probability per token (Wu et
    al., 2016, use :math:`((5 + n)/6)^{\lambda}` instead). Once nothing is
    pruned (``beam_width`` :math:`\ge V^{\text{length}}`), the result is the
    best-scoring sequence of all; with ``beam_width=1`` and no ``eos`` it is
    greedy decoding.

    Parameters
    ----------
    model : CharMLP
        As in :func:`generate`: an int ``context`` and ``logits(windows)``
        mapping ``(R, context)`` ids to ``(R, V)`` logits.
    prompt : array_like of int
        Shape ``(L,)`` with ``L >= model.context``.
    length : int
        Largest number of tokens to generate, >= 1.
    beam_width : int
        Number of live hypotheses, >= 1 (keyword-only).
    length_penalty : float, default 1.0
        :math:`\lambda`, a finite number (HF's default, 1.0).
    eos : int, optional
        The id that ends a hypothesis; ``None`` (default): hypotheses end at
        ``length`` tokens.

    Returns
    -------
    tokens : numpy.ndarray of numpy.intp
        The best hypothesis, ``n <= length`` ids (ending in ``eos`` if
        ``n < length``).
    logp : numpy.ndarray
        :math:`\log p(y_t \mid \cdot)` of each of its tokens, in the dtype of
        the model's logits (computed in float32 for float16); the ranking uses
        their sums in float64.

    Raises
    ------
    TypeError
        If ``length``, ``beam_width`` or ``eos`` is not an integer,
        ``length_penalty`` not a real number or ``prompt`` not integer ids.
    ValueError
        If ``length`` or ``beam_width`` is < 1, ``length_penalty`` is not
        finite, ``eos`` or a prompt id is outside the vocabulary, the prompt is
        not 1-D or is shorter than the context, or the model's logits hold NaN,
        ``+inf`` or a row of ``-inf``.
    """
    length = check_positive_int(length, "length")
    width = check_positive_int(beam_width, "beam_width")
    alpha = real_scalar(length_penalty, "length_penalty", "a finite number")
    if not math.isfinite(alpha):
        raise ValueError(f"length_penalty must be a finite number, got {length_penalty!r}")
    end = None if eos is None else check_int(eos, "eos", 0)
    p, rows = _prompt_rows(prompt, model)
    if p.ndim != 1:
        raise ValueError(f"prompt must be a 1-D array of token ids (one prompt), got shape {p.shape}")
    v = getattr(model, "vocab_size", None)
    if end is not None and v is not None and end >= v:
        raise ValueError(f"eos must be a token id in [0, {v}) for the model's vocabulary, got {eos!r}")
    window = rows[:, -model.context:]
    seqs = np.empty((1, 0), dtype=np.intp)
    lps: Array | None = None
    total = np.zeros(1)  # summed log-probabilities of the live hypotheses, in float64
    finished: list[tuple[float, NDArray[np.intp], Array]] = []
    for t in range(length):
        z = np.asarray(model.logits(window))
        _check_model_logits(z, window.shape[0], t)
        if end is not None and end >= z.shape[1]:
            raise ValueError(f"eos must be a token id in [0, {z.shape[1]}) for the model's vocabulary, got {eos!r}")
        lp = log_softmax(z.astype(work_dtype(z.dtype), copy=False), axis=-1)
        if lps is None:
            lps = np.empty((1, 0), dtype=lp.dtype)
        cand = total[:, None] + lp.astype(np.float64)
        order = np.argsort(-cand, axis=None, kind="stable")[:2 * width]
        live: list[int] = []
        for rank, flat in enumerate(order):
            b, tok = divmod(int(flat), z.shape[1])
            if cand[b, tok] == -np.inf:
                break  # a removed token: so is every later candidate
            hyp = (np.append(seqs[b], tok), np.append(lps[b], lp[b, tok]))
            if tok == end:
                if rank < width:
                    finished.append((float(cand[b, tok]) / (t + 1) ** alpha, *hyp))
            elif len(live) < width:
                live.append(int(flat))
            if len(live) == width:
                break
        if not live:
            break
        b_idx, tok_idx = np.divmod(np.array(live), z.shape[1])
        seqs = np.concatenate([seqs[b_idx], tok_idx[:, None]], axis=1)
        lps = np.concatenate([lps[b_idx], lp[b_idx, tok_idx][:, None]], axis=1)
        total = cand[b_idx, tok_idx]
        window = np.concatenate([window[b_idx, 1:], tok_idx[:, None]], axis=1)
    else:  # the hypotheses still live at `length` tokens end there
        assert lps is not None  # length >= 1
        finished.extend((float(s) / length ** alpha, q, lq) for s, q, lq in zip(total, seqs, lps))
    best = max(range(len(finished)), key=lambda i: finished[i][0])  # the first of tied scores
    _, tokens, logp = finished[best]
    return tokens, logp.astype(z.dtype, copy=False) if z.dtype.kind == "f" else logp
