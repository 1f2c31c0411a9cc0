r"""Speculative sampling: draw from a cheap draft distribution, keep the target distribution exactly.

A small *draft* model proposes a token :math:`x \sim q`; the large *target* model, which gives
:math:`p`, accepts it with probability :math:`\min(1, p(x)/q(x))`, and after a rejection a token is drawn
from the *residual* distribution

.. math::

    r(x) = \frac{\max(0,\, p(x) - q(x))}{\sum_y \max(0,\, p(y) - q(y))} .

Whatever :math:`q` is, the token that comes out is distributed exactly as :math:`p` (Leviathan et al., 2023;
Chen et al., 2023), and a draft token is accepted with probability

.. math::

    \beta(p, q) = \sum_x \min(p(x), q(x)) = 1 - \operatorname{TV}(p, q),

one minus the total-variation distance between the two distributions. Temperature and filters (top-k, top-p)
must therefore be applied to both :math:`p` and :math:`q` before they reach these functions: the guarantee is about
the two distributions passed in, and nothing else.

Both functions take probability vectors (for instance ``softmax_nb.softmax`` of filtered logits) along the last
axis. Probabilities are read in float64, whatever their dtype, checked to sum to 1 within the square root of their
dtype's epsilon, and divided by their sum.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_bool, check_generator, check_int, check_probabilities

__all__ = ["acceptance_rate", "speculative_sample"]

def _distribution(x: ArrayLike, name: str) -> NDArray[np.float64]:
    """``x`` in float64, checked to be probabilities summing to 1 within the square root of its dtype's
    epsilon (1.5e-8 for float64, 3.5e-4 for float32, 0.031 for float16), then divided by its sum."""
    given = as_float_array(x, name)
    arr = given.astype(np.float64)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{name} must hold probabilities along its last axis (at least one entry), "
                         f"got shape {arr.shape}")
    check_probabilities(arr, name)
    total = arr.sum(axis=-1, keepdims=True)
    tolerance = float(np.sqrt(np.finfo(given.dtype).eps))
    if np.any(np.abs(total - 1.0) > tolerance):
        worst = float(total.flat[np.argmax(np.abs(total - 1.0))])
        raise ValueError(f"{name} must sum to 1 along its last axis (within {tolerance:.2g} for "
                         f"{given.dtype}), got a sum of {worst:.9g}")
    return arr / total


def _pair(p: ArrayLike, q: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    pp, qq = _distribution(p, "p"), _distribution(q, "q")
    if pp.shape != qq.shape:
        raise ValueError(f"p and q must have the same shape (one probability per token), got {pp.shape} and "
                         f"{qq.shape}")
    return pp, qq


def acceptance_rate(p: ArrayLike, q: ArrayLike) -> np.float64 | NDArray[np.float64]:
    r"""Probability that speculative sampling accepts a draft token: :math:`\beta = \sum_x \min(p(x), q(x))`.

    Equal to :math:`1 - \operatorname{TV}(p, q) = 1 - \tfrac12 \sum_x |p(x) - q(x)|` for distributions that
    sum to 1.

    Parameters
    ----------
    p, q : array_like
        Target and draft probabilities, same shape ``(..., V)``, each summing to 1 along the last axis.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        :math:`\beta` per row: a scalar for 1-D input, shape ``(...)`` otherwise.

    Raises
    ------
    ValueError
        If ``p`` or ``q`` holds a value outside [0, 1], NaN, or does not sum to 1, or their shapes differ.

    Examples
    --------
    >>> acceptance_rate([0.5, 0.5, 0.0], [0.25, 0.25, 0.5])
    np.float64(0.5)
    """
    pp, qq = _pair(p, q)
    beta = np.minimum(pp, qq).sum(axis=-1)
    return np.float64(beta) if beta.ndim == 0 else beta


@overload
def speculative_sample(p: ArrayLike, q: ArrayLike, rng: int | np.random.Generator | None = ..., *,
                       size: int | None = ..., return_accepted: Literal[False] = ...) -> np.intp | NDArray[np.intp]:
    ...


@overload
def speculative_sample(p: ArrayLike, q: ArrayLike, rng: int | np.random.Generator | None = ..., *,
                       size: int | None = ..., return_accepted: Literal[True]
                       ) -> tuple[np.intp | NDArray[np.intp], np.bool_ | NDArray[np.bool_]]:
    ...


def speculative_sample(p: ArrayLike, q: ArrayLike, rng: int | np.random.Generator | None = None, *,
                       size: int | None = None, return_accepted: bool = False
                       ) -> (np.intp | NDArray[np.intp]
                             | tuple[np.intp | NDArray[np.intp], np.bool_ | NDArray[np.bool_]]):
    r"""One step of speculative sampling: propose from ``q``, accept or resample, so that the result is :math:`\sim p`.

    For each draw: :math:`x \sim q`; with :math:`u \sim U(0, 1)`, keep :math:`x` if
    :math:`u < p(x) / q(x)` (always when :math:`p(x) \ge q(x)`); otherwise draw from the residual
    :math:`r \propto \max(0, p - q)`. The result is distributed as :math:`p` exactly, and a draft token is kept
    with probability :func:`acceptance_rate` :math:`(p, q)`.

    If rounding leaves the residual with no mass at all although a draw was rejected (possible only when
    :math:`p` and :math:`q` agree to within rounding), the replacement is drawn from :math:`p` itself.

    Parameters
    ----------
    p : array_like
        Target probabilities, shape ``(V,)``, summing to 1.
    q : array_like
        Draft probabilities, shape ``(V,)``, summing to 1. Tokens with :math:`q(x) = 0` are never proposed,
        so a token only the target allows comes from the residual.
    rng : int, numpy.random.Generator or None
        The random generator, or a seed for ``numpy.random.default_rng`` (SPEC 7).
    size : int, optional
        Number of independent draws; ``None`` (default) draws one and returns a scalar.
    return_accepted : bool, default False
        Also return whether each draft token was accepted.

    Returns
    -------
    tokens : numpy.intp or numpy.ndarray of intp
        The token index (``size=None``) or an array of ``size`` indices.
    accepted : numpy.bool_ or numpy.ndarray of bool
        Only with ``return_accepted=True``: whether each draft token was kept.

    Raises
    ------
    ValueError
        If ``p`` or ``q`` is not a 1-D probability vector summing to 1, their shapes differ, or ``size < 0``.

    Examples
    --------
    >>> p, q = [0.6, 0.4, 0.0], [0.2, 0.3, 0.5]
    >>> draws = speculative_sample(p, q, rng=0, size=100_000)
    >>> np.round(np.bincount(draws, minlength=3) / draws.size, 2)
    array([0.6, 0.4, 0. ])
    """
    pp, qq = _pair(p, q)
    if pp.ndim != 1:
        raise ValueError(f"p and q must be 1-D (one distribution over the vocabulary), got shape {pp.shape}; "
                         "call once per position for a batch")
    n = 1 if size is None else check_int(size, "size", 0)
    flag = check_bool(return_accepted, "return_accepted")
    gen = check_generator(rng)
    vocab = pp.size
    draft = gen.choice(vocab, size=n, p=qq)
    u = gen.random(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = pp[draft] / qq[draft]  # q[draft] > 0: a token with q = 0 is never drawn
    accepted = u < ratio
    tokens = draft.astype(np.intp)
    rejected = int(np.count_nonzero(~accepted))
    if rejected:
        residual = np.maximum(pp - qq, 0.0)
        mass = residual.sum()
        resample = residual / mass if mass > 0.0 else pp
        tokens[~accepted] = gen.choice(vocab, size=rejected, p=resample)
    if size is None:
        out_t: np.intp | NDArray[np.intp] = tokens[0]
        out_a: np.bool_ | NDArray[np.bool_] = accepted[0]
    else:
        out_t, out_a = tokens, accepted
    return (out_t, out_a) if flag else out_t
