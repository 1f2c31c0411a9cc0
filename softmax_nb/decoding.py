r"""Decoding a language model: logit filters, sampling and generation.

The filters follow the semantics of the logits processors of Hugging Face
``transformers``: they take logits and return logits of the same shape in
which every removed token is :math:`-\infty`, so that a softmax afterwards
gives it probability exactly 0. They act on the last axis and on any number
of leading (batch) axes.

* :func:`top_k_filter` keeps the tokens whose logit is at least the
  :math:`k`-th largest;
* :func:`top_p_filter` (nucleus sampling, Holtzman et al., 2020) keeps the
  smallest set of most probable tokens whose total probability is at least
  :math:`p`;
* :func:`min_p_filter` (Nguyen et al., 2024) keeps the tokens whose
  probability is at least :math:`p_{\min}` times the largest;
* :func:`sample` divides by the temperature, applies the filters in that
  order and draws one token per row;
* :func:`generate` continues prompts with a :class:`~softmax_nb.charlm.CharMLP`.

The book's corpus, character vocabulary, model and training loop live in
:mod:`softmax_nb.charlm` (importing them from here still works for one
release, with a :class:`DeprecationWarning`).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_generator, check_positive_int, check_temperature
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


# --------------------------------------------------------------------------- filters
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


def _check_probability(value: Any, name: str, allow_zero: bool) -> float:
    low = "0 <=" if allow_zero else "0 <"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number with {low} {name} <= 1, got {value!r}") from None
    if isinstance(value, bool) or not ((0.0 <= v if allow_zero else 0.0 < v) and v <= 1.0):
        raise ValueError(f"{name} must be a number with {low} {name} <= 1, got {value!r}")
    return v


def top_k_filter(logits: ArrayLike, k: int) -> Array:
    r"""Keep the tokens whose logit is at least the :math:`k`-th largest of their row.

    .. math::

        \tilde z_i = \begin{cases} z_i & z_i \ge z_{(k)} \\ -\infty & \text{otherwise,} \end{cases}

    where :math:`z_{(k)}` is the :math:`k`-th largest logit of the row
    (counted with multiplicity). Tokens tied with the :math:`k`-th largest
    are all kept, so a row may keep more than :math:`k` tokens; ``k`` at
    least the vocabulary size keeps everything.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``. ``-inf`` entries stay ``-inf``.
    k : int
        Number of tokens to keep, an integer >= 1.

    Returns
    -------
    numpy.ndarray
        Filtered logits, same shape and dtype (float64 for integer input).

    Raises
    ------
    ValueError
        If ``k`` is not an integer >= 1, or a row of ``logits`` is all
        ``-inf`` or contains NaN or ``+inf``.

    Examples
    --------
    >>> top_k_filter([1.0, 3.0, 2.0, 3.0], k=2)
    array([-inf,   3., -inf,   3.])
    """
    k = check_positive_int(k, "k")
    z = _as_logits(logits)
    if k >= z.shape[-1]:
        return z.copy()
    kth = -np.partition(-z, k - 1, axis=-1)[..., k - 1:k]
    return np.where(z >= kth, z, -np.inf).astype(z.dtype, copy=False)


def top_p_filter(logits: ArrayLike, p: float) -> Array:
    r"""Nucleus filter: keep the smallest set of most probable tokens with total probability :math:`\ge p`.

    With :math:`q = \operatorname{softmax}(z)`, token :math:`i` is kept when
    the tokens strictly more probable than it hold less than :math:`p`:

    .. math::

        \text{keep}_i \iff \sum_{j:\, z_j > z_i} q_j < p .

    In a row sorted by decreasing logit this keeps the shortest prefix whose
    cumulative probability reaches :math:`p`, plus every token tied with the
    last one of that prefix (ties are kept, as in :func:`top_k_filter`). The
    most probable token is always kept, so no row is left empty; ``p = 1``
    keeps every token (Holtzman et al., 2020).

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``.
    p : float
        Probability mass to keep, :math:`0 < p \le 1`.

    Returns
    -------
    numpy.ndarray
        Filtered logits, same shape and dtype.

    Raises
    ------
    ValueError
        If ``p`` is not in ``(0, 1]``, or a row of ``logits`` is all ``-inf``
        or contains NaN or ``+inf``.

    Examples
    --------
    >>> z = np.log([0.5, 0.3, 0.15, 0.05])
    >>> np.isfinite(top_p_filter(z, 0.75))  # 0.5 < 0.75 <= 0.5 + 0.3
    array([ True,  True, False, False])
    """
    p = _check_probability(p, "p", allow_zero=False)
    z = _as_logits(logits)
    if p == 1.0:
        return z.copy()
    q = softmax(z.astype(np.float64), axis=-1)  # masses in float64, whatever the logits' dtype
    order = np.argsort(-z, axis=-1, kind="stable")
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


def min_p_filter(logits: ArrayLike, p_min: float) -> Array:
    r"""Keep the tokens whose probability is at least :math:`p_{\min}` times the largest.

    .. math::

        \text{keep}_i \iff q_i \ge p_{\min} \max_j q_j
        \iff z_i - \max_j z_j \ge \log p_{\min} ,

    computed in the second (logit) form, which cannot underflow. The most
    probable token is always kept; ``p_min = 0`` keeps everything
    (Nguyen et al., 2024).

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``.
    p_min : float
        Relative threshold, :math:`0 \le p_{\min} \le 1`.

    Returns
    -------
    numpy.ndarray
        Filtered logits, same shape and dtype.

    Raises
    ------
    ValueError
        If ``p_min`` is not in ``[0, 1]``, or a row of ``logits`` is all
        ``-inf`` or contains NaN or ``+inf``.

    Examples
    --------
    >>> np.isfinite(min_p_filter(np.log([0.6, 0.3, 0.1]), 0.25))  # threshold 0.25 * 0.6 = 0.15
    array([ True,  True, False])
    """
    p_min = _check_probability(p_min, "p_min", allow_zero=True)
    z = _as_logits(logits)
    if p_min == 0.0:
        return z.copy()
    gap = z.astype(np.float64) - np.max(z, axis=-1, keepdims=True)
    return np.where(gap >= math.log(p_min), z, -np.inf).astype(z.dtype, copy=False)


def sample(logits: ArrayLike, rng: np.random.Generator, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, min_p: float | None = None) -> NDArray[np.intp]:
    r"""Draw one token per row: temperature first, then top-k, top-p and min-p, in that order.

    .. math::

        z' = \operatorname{minp}\big(\operatorname{topp}(\operatorname{topk}(z / T))\big), \qquad
        i \sim \operatorname{softmax}(z') .

    The draw is by inversion: with :math:`u = 1 - U`, :math:`U` uniform on
    :math:`[0, 1)` (one ``rng.random`` number per row), the token is the
    first :math:`i` whose cumulative probability reaches :math:`u`, so a
    removed token (probability 0) is never drawn.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``.
    rng : numpy.random.Generator
        Source of randomness, e.g. ``np.random.default_rng(0)``; advanced by
        one number per row.
    temperature : float, default 1.0
        :math:`T > 0`, finite.
    top_k, top_p, min_p : optional
        Parameters of :func:`top_k_filter`, :func:`top_p_filter` and
        :func:`min_p_filter`; ``None`` skips a filter.

    Returns
    -------
    numpy.ndarray of int
        Token indices, shape ``logits.shape[:-1]`` (a 0-d array for one row).

    Raises
    ------
    ValueError
        As the filters, or if ``temperature`` is not a finite number > 0 or
        ``rng`` is not a Generator.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> int(sample([0.0, 5.0, 1.0], rng, top_k=1))
    1
    """
    rng = check_generator(rng)
    t = check_temperature(temperature)
    z = _as_logits(logits)
    if t != 1.0:
        z = z.astype(np.float64) / t  # float64: 1/T may not fit the logits' dtype
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    if min_p is not None:
        z = min_p_filter(z, min_p)
    q = softmax(z.astype(np.float64), axis=-1)
    cdf = np.cumsum(q, axis=-1)
    u = (1.0 - rng.random(size=z.shape[:-1])) * cdf[..., -1]  # in (0, total]
    return np.sum(cdf < np.asarray(u)[..., None], axis=-1).astype(np.intp)


def generate(model: CharMLP, prompt: ArrayLike, length: int, rng: np.random.Generator | None = None,
             greedy: bool = False, **sample_kwargs: Any) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    r"""Continue a prompt (or a batch of prompts) by ``length`` tokens, and score each under the model.

    Parameters
    ----------
    model : CharMLP
        The language model.
    prompt : array_like of int
        Shape ``(L,)`` for one prompt or ``(R, L)`` for ``R`` prompts
        generated side by side, with ``L >= model.context``.
    length : int
        Number of tokens to generate, >= 1.
    rng : numpy.random.Generator, optional
        Required unless ``greedy``; advanced by one number per row and step.
    greedy : bool, default False
        Take the most probable token (the first one on ties) instead of sampling.
    **sample_kwargs
        ``temperature``, ``top_k``, ``top_p``, ``min_p`` for :func:`sample`.

    Returns
    -------
    tokens : numpy.ndarray of int
        The generated ids, shape ``(length,)`` or ``(R, length)``.
    logp : numpy.ndarray
        :math:`\log p(x_t \mid \cdot)` of each generated token under the
        model at temperature 1 without filters, i.e. the model's own
        log-likelihood of its text; same shape as ``tokens``.
    """
    length = check_positive_int(length, "length")
    p = np.asarray(prompt)
    if p.ndim not in (1, 2) or p.dtype.kind not in "iu":
        raise ValueError(f"prompt must be a 1-D or 2-D array of token ids, got dtype {p.dtype} and shape {p.shape}")
    rows = np.atleast_2d(p).astype(np.intp)
    if rows.shape[1] < model.context:
        raise ValueError(f"prompt must hold at least context = {model.context} ids, got {rows.shape[1]}")
    if not greedy:
        rng = check_generator(rng)
    window = rows[:, -model.context:].copy()
    out = np.empty((rows.shape[0], length), dtype=np.intp)
    logp = np.empty((rows.shape[0], length))
    for t in range(length):
        z = model.logits(window)
        tok = np.argmax(z, axis=-1) if greedy else sample(z, rng, **sample_kwargs)
        out[:, t] = tok
        logp[:, t] = np.take_along_axis(log_softmax(z), tok[:, None], axis=-1)[:, 0]
        window = np.concatenate([window[:, 1:], tok[:, None]], axis=1)
    return (out[0], logp[0]) if p.ndim == 1 else (out, logp)
