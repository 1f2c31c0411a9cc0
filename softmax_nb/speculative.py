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

:func:`speculative_decode` runs the whole loop with two language models (Leviathan et al., 2023, Algorithm 1): the
draft proposes ``num_draft`` tokens one by one, the target scores all of them in one call, the first rejected token
is replaced by a draw from the residual, and if none is rejected the target's next distribution gives one more
token. It applies the same temperature and filters (those of :func:`softmax_nb.decoding.sample`) to both models, and
returns a :class:`SpeculativeResult` that counts the calls and records every test of a draft token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (ArgumentTypeError, as_float_array, check_bool, check_generator, check_int, check_positive_int,
                      check_probabilities, check_temperature, check_unit_interval, real_scalar)
from .core import log_softmax
from .decoding import min_p_filter, top_k_filter, top_p_filter

__all__ = ["acceptance_rate", "speculative_sample", "speculative_decode", "SpeculativeResult"]

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
                       size: int | None = ..., draft: ArrayLike | None = ...,
                       return_accepted: Literal[False] = ...) -> np.intp | NDArray[np.intp]:
    ...


@overload
def speculative_sample(p: ArrayLike, q: ArrayLike, rng: int | np.random.Generator | None = ..., *,
                       size: int | None = ..., draft: ArrayLike | None = ..., return_accepted: Literal[True]
                       ) -> tuple[np.intp | NDArray[np.intp], np.bool_ | NDArray[np.bool_]]:
    ...


def speculative_sample(p: ArrayLike, q: ArrayLike, rng: int | np.random.Generator | None = None, *,
                       size: int | None = None, draft: ArrayLike | None = None, return_accepted: bool = False
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
    draft : array_like of int, optional
        Draft tokens already drawn from ``q`` (by a draft model, as in :func:`speculative_decode`): they are
        tested instead of new draws, and the result has their shape. The guarantee holds only if they really
        were drawn from ``q``. Not together with ``size``.
    return_accepted : bool, default False
        Also return whether each draft token was accepted.

    Returns
    -------
    tokens : numpy.intp or numpy.ndarray of intp
        The token index (``size=None``) or an array of ``size`` indices (of ``draft``'s shape).
    accepted : numpy.bool_ or numpy.ndarray of bool
        Only with ``return_accepted=True``: whether each draft token was kept.

    Raises
    ------
    ValueError
        If ``p`` or ``q`` is not a 1-D probability vector summing to 1, their shapes differ, ``size < 0``,
        both ``size`` and ``draft`` are given, or ``draft`` holds a token outside ``[0, V)`` or one to which
        ``q`` gives probability 0 (it cannot have been drawn from ``q``).

    Examples
    --------
    >>> p, q = [0.6, 0.4, 0.0], [0.2, 0.3, 0.5]
    >>> draws = speculative_sample(p, q, rng=0, size=100_000)
    >>> np.round(np.bincount(draws, minlength=3) / draws.size, 2)
    array([0.6, 0.4, 0. ])
    >>> speculative_sample(p, q, rng=0, draft=[0, 0, 1], return_accepted=True)  # p >= q there: all kept
    (array([0, 0, 1]), array([ True,  True,  True]))
    """
    pp, qq = _pair(p, q)
    if pp.ndim != 1:
        raise ValueError(f"p and q must be 1-D (one distribution over the vocabulary), got shape {pp.shape}; "
                         "call once per position for a batch")
    n = 1 if size is None else check_int(size, "size", 0)
    flag = check_bool(return_accepted, "return_accepted")
    gen = check_generator(rng)
    vocab = pp.size
    given = None if draft is None else _check_draft(draft, qq, size)
    drafts = gen.choice(vocab, size=n, p=qq) if given is None else given.ravel()
    tokens, accepted = _verify(pp, qq, drafts, gen)
    if given is not None:
        shape = given.shape
        out_t: np.intp | NDArray[np.intp] = tokens.reshape(shape) if shape else tokens[0]
        out_a: np.bool_ | NDArray[np.bool_] = accepted.reshape(shape) if shape else accepted[0]
    elif size is None:
        out_t, out_a = tokens[0], accepted[0]
    else:
        out_t, out_a = tokens, accepted
    return (out_t, out_a) if flag else out_t


def _verify(pp: NDArray[np.float64], qq: NDArray[np.float64], drafts: NDArray[Any],
            gen: np.random.Generator) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Test draft tokens drawn from ``qq``: keep each with probability min(1, p/q), else draw from the residual."""
    u = gen.random(drafts.size)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # p / q = inf for a tiny q: always kept
        ratio = pp[drafts] / qq[drafts]  # q[draft] > 0: a token with q = 0 is never drawn (nor accepted as given)
    accepted = u < ratio
    tokens = drafts.astype(np.intp)
    rejected = int(np.count_nonzero(~accepted))
    if rejected:
        residual = np.maximum(pp - qq, 0.0)
        mass = residual.sum()
        resample = residual / mass if mass > 0.0 else pp
        tokens[~accepted] = gen.choice(pp.size, size=rejected, p=resample)
    return tokens, accepted


def _check_draft(draft: ArrayLike, q: NDArray[np.float64], size: int | None) -> NDArray[np.intp]:
    """Given draft tokens as an intp array: integers in ``[0, V)`` with ``q > 0``; not together with ``size``."""
    if size is not None:
        raise ValueError("give size (draw the draft tokens from q) or draft (tokens already drawn), not both")
    arr = np.asarray(draft)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise ArgumentTypeError(f"draft must be integer token ids, got dtype {arr.dtype}")
    arr = arr.astype(np.intp)
    if arr.size and (arr.min() < 0 or arr.max() >= q.size):
        bad = arr[(arr < 0) | (arr >= q.size)].flat[0]
        raise ValueError(f"draft must hold token ids in [0, {q.size}), got {bad}")
    if arr.size and np.any(q[arr] == 0.0):
        bad = arr[q[arr] == 0.0].flat[0]
        raise ValueError(f"draft holds token {bad}, to which q gives probability 0: it cannot have been drawn "
                         "from q")
    return arr


# --------------------------------------------------------------------------- the decoding loop
class _LanguageModel(Protocol):
    """What :func:`speculative_decode` needs of a model (as :func:`softmax_nb.decoding.generate` does): an int
    ``context`` and ``logits(windows)`` mapping ``(R, context)`` token ids to ``(R, V)`` logits."""

    context: int

    def logits(self, windows: Any, /) -> Any: ...


@dataclass(frozen=True, eq=False)
class SpeculativeResult:
    r"""What :func:`speculative_decode` produced, and what each target call did.

    Attributes
    ----------
    tokens : numpy.ndarray of intp, shape ``(length,)``
        The generated tokens (the prompt excluded).
    proposed : numpy.ndarray of intp, shape ``(calls,)``
        Draft tokens checked by each target call (``num_draft``, fewer near the end).
    accepted : numpy.ndarray of intp, shape ``(calls,)``
        Draft tokens kept by each target call; the call then adds one token of its own (the residual draw
        after a rejection, or the extra draw from the target when all were kept), so it yields
        ``accepted + 1`` tokens.
    beta : numpy.ndarray
        :func:`acceptance_rate` :math:`\beta = \sum_x \min(p(x), q(x))` of the filtered target and draft
        distributions at each tested draft token, in order. A call tests its proposals in order and stops at
        the first rejection, so it tests ``accepted + 1`` of them after a rejection and ``accepted`` otherwise.
    kept : numpy.ndarray of bool, same shape as ``beta``
        Whether each tested draft token was kept: ``kept.sum() == accepted.sum()``.
    """

    tokens: NDArray[np.intp]
    proposed: NDArray[np.intp]
    accepted: NDArray[np.intp]
    beta: NDArray[np.float64]
    kept: NDArray[np.bool_]

    @property
    def target_calls(self) -> int:
        """Calls of the target model (one per block)."""
        return int(self.accepted.size)

    @property
    def draft_calls(self) -> int:
        """Calls of the draft model (one per proposed token)."""
        return int(self.proposed.sum())

    @property
    def tokens_per_call(self) -> float:
        """Generated tokens per target call, ``length / target_calls``: 1 for plain decoding."""
        return self.tokens.size / self.target_calls

    @property
    def position(self) -> NDArray[np.intp]:
        """Index ``1 .. num_draft`` of each tested draft token in its block, aligned with ``beta`` and ``kept``."""
        tested = self.accepted + (self.accepted < self.proposed)
        if not tested.sum():
            return np.zeros(0, dtype=np.intp)
        return np.concatenate([np.arange(1, n + 1, dtype=np.intp) for n in tested.tolist()])


def _model_probs(model: _LanguageModel, windows: NDArray[np.intp], name: str, vocab: int | None, temperature: float,
                 top_k: int | None, top_p: float | None, min_p: float | None,
                 greedy: bool) -> NDArray[np.float64]:
    """Rows of float64 next-token probabilities: the chain of :func:`softmax_nb.decoding.sample` (temperature,
    then top-k, top-p, min-p), or one-hot at the first maximum (greedy)."""
    z = np.asarray(model.logits(windows))
    rows = windows.shape[0]
    if z.ndim != 2 or z.shape[0] != rows or z.shape[1] == 0 or z.dtype.kind not in "fiu":
        raise ValueError(f"{name}.logits must return real logits of shape (R, V) = ({rows}, V), got {z.dtype} "
                         f"of shape {z.shape}")
    if vocab is not None and z.shape[1] != vocab:
        raise ValueError(f"target and draft must share a vocabulary: target has V = {vocab}, {name} returned "
                         f"{z.shape[1]} logits per row")
    z64 = z.astype(np.float64)
    if np.isnan(z64).any() or np.isposinf(z64).any() or np.isneginf(z64).all(axis=1).any():
        raise ValueError(f"{name}.logits returned NaN, +inf or a row of -inf: no distribution is defined there")
    if greedy:
        out = np.zeros_like(z64)
        out[np.arange(rows), np.argmax(z64, axis=1)] = 1.0
        return out
    w = log_softmax(z64, axis=-1, temperature=temperature)
    if top_k is not None:
        w = top_k_filter(w, top_k=top_k)
    if top_p is not None:
        w = top_p_filter(w, top_p=top_p)
    if min_p is not None:
        w = min_p_filter(w, min_p=min_p)
    e = np.exp(w)  # w <= 0 with a 0 at each row's maximum: no overflow, and a sum >= 1 before the filters
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float64)


def _check_prompt_ids(text: list[int], vocab: int | None) -> None:
    low, high = min(text), max(text)
    if low < 0 or (vocab is not None and high >= vocab):
        bad = low if low < 0 else high
        where = f"[0, {vocab})" if vocab is not None else "[0, V)"
        raise ValueError(f"prompt must hold token ids in {where} for the models' vocabulary, got {bad}")


def _check_model(model: Any, name: str) -> int:
    context = getattr(model, "context", None)
    if not callable(getattr(model, "logits", None)) or isinstance(context, (bool, np.bool_)) \
            or not isinstance(context, (int, np.integer)) or context < 1:
        raise ArgumentTypeError(f"{name} must be a language model with an int context >= 1 and a method "
                                f"logits(windows), such as softmax_nb.charlm.CharMLP; got {type(model).__name__}")
    return int(context)


def speculative_decode(target: _LanguageModel, draft: _LanguageModel, prompt: ArrayLike, length: int,
                       rng: int | np.random.Generator | None = None, *, num_draft: int = 4,
                       temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                       min_p: float | None = None, greedy: bool = False) -> SpeculativeResult:
    r"""Continue ``prompt`` by ``length`` tokens of the target model, with a draft model proposing blocks.

    Each block (Leviathan et al., 2023, Algorithm 1; Chen et al., 2023): the draft proposes
    :math:`n = \min(\gamma, \text{tokens still needed} - 1)` tokens :math:`x_1, \dots, x_n`, each drawn from its
    distribution :math:`q_i` given the text so far and the earlier proposals (:math:`\gamma` = ``num_draft``);
    **one** call of the target scores the :math:`n + 1` windows that end before :math:`x_1, \dots, x_n` and after
    :math:`x_n`, giving :math:`p_1, \dots, p_{n+1}`. The proposals are tested in order by
    :func:`speculative_sample` :math:`(p_i, q_i)`; the first rejected one is replaced by its residual draw and ends
    the block; if all are kept, one more token is drawn from :math:`p_{n+1}`. Each block thus yields between 1 and
    :math:`n + 1` tokens, and every token is distributed, given the text before it, as the target's (filtered)
    next-token distribution: the output has the distribution of :func:`softmax_nb.decoding.generate` with the same
    options.

    Temperature and filters are applied to **both** models' logits, in the order of
    :func:`softmax_nb.decoding.sample`: :math:`p_i` and :math:`q_i` are the softmax of the filtered
    log-probabilities (in float64). ``greedy=True`` makes both one-hot at the first maximum: a proposal is kept iff
    it is the target's greedy token, and the output equals ``generate(target, prompt, length, greedy=True)``.

    Parameters
    ----------
    target, draft : object
        Language models with an int ``context`` and a method ``logits(windows)`` mapping ``(R, context)`` token ids to
        ``(R, V)`` logits, such as :class:`~softmax_nb.charlm.CharMLP`, over the same vocabulary.
    prompt : array_like of int
        Shape ``(L,)``, with ``L`` at least the larger of the two contexts; ids in ``[0, V)``, checked against
        ``target.vocab_size`` when the target has one (as :class:`~softmax_nb.charlm.CharMLP` does), else
        against the width of the first logits returned.
    length : int
        Number of tokens to generate, >= 1.
    rng : int, numpy.random.Generator or None
        Source of randomness (SPEC 7); checked but not used when ``greedy``.
    num_draft : int, default 4
        :math:`\gamma`, the largest number of draft tokens per target call, >= 0 (0 is plain decoding: one
        target call per token).
    temperature, top_k, top_p, min_p :
        As in :func:`softmax_nb.decoding.sample`, applied to both models.
    greedy : bool, default False
        Greedy decoding of the target (no sampling options allowed).

    Returns
    -------
    SpeculativeResult
        The tokens, and per target call the draft tokens proposed and kept, with the acceptance rate and the
        outcome of every test.

    Raises
    ------
    TypeError
        If a model lacks ``context`` or ``logits``, an option has the wrong type, or a sampling option is given
        with ``greedy=True``.
    ValueError
        If ``prompt`` is not 1-D integer ids at least as long as both contexts, holds an id outside the
        vocabulary, the two models' vocabularies differ, a model returns logits of the wrong shape or with NaN,
        ``+inf`` or a row of ``-inf``, or an option is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> class Table:  # a model of context 1: logits of the next token given the last one
    ...     context = 1
    ...     def __init__(self, z): self.z = np.asarray(z, dtype=float)
    ...     def logits(self, windows): return self.z[np.asarray(windows)[:, -1]]
    >>> target = Table([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    >>> result = speculative_decode(target, target, [0], 12, rng=0, num_draft=3)
    >>> result.accepted.tolist(), result.tokens_per_call  # the draft is the target: every proposal is kept
    ([3, 3, 3], 4.0)
    """
    t_ctx, d_ctx = _check_model(target, "target"), _check_model(draft, "draft")
    greedy = check_bool(greedy, "greedy")
    if greedy and (temperature != 1.0 or top_k is not None or top_p is not None or min_p is not None):
        raise ArgumentTypeError("speculative_decode(greedy=True) takes no sampling options (temperature, top_k, "
                                "top_p, min_p): greedy decoding takes the most probable token")
    temp = check_temperature(temperature)
    k = None if top_k is None else check_positive_int(top_k, "top_k")
    tp = None
    if top_p is not None:
        tp = real_scalar(top_p, "top_p", "a number in (0, 1]")
        if not 0.0 < tp <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    mp = None if min_p is None else check_unit_interval(min_p, "min_p")
    length = check_positive_int(length, "length")
    gamma = check_int(num_draft, "num_draft", 0)
    gen = check_generator(rng)
    seq = np.asarray(prompt)
    if seq.size == 0 and seq.dtype.kind == "f":  # np.asarray([]) is float64
        seq = seq.astype(np.intp)
    if seq.dtype.kind not in "iu":
        raise ArgumentTypeError(f"prompt must be integer token ids, got dtype {seq.dtype}")
    if seq.ndim != 1:
        raise ValueError(f"prompt must be a 1-D array of token ids (one prompt), got shape {seq.shape}")
    need = max(t_ctx, d_ctx)
    if seq.size < need:
        raise ValueError(f"prompt must hold at least {need} ids (the larger context), got {seq.size}")
    text = seq.astype(np.intp).tolist()
    opts = (temp, k, tp, mp, greedy)
    vocab = getattr(target, "vocab_size", None)
    vocab = int(vocab) if isinstance(vocab, (int, np.integer)) and not isinstance(vocab, bool) else None
    _check_prompt_ids(text, vocab)
    out: list[int] = []
    proposed: list[int] = []
    accepted: list[int] = []
    betas: list[float] = []
    kept: list[bool] = []
    while len(out) < length:
        n = min(gamma, length - len(out) - 1)
        drafts: list[int] = []
        qs: list[NDArray[np.float64]] = []
        for _ in range(n):
            q = _model_probs(draft, np.asarray([(text + drafts)[-d_ctx:]], dtype=np.intp), "draft", vocab,
                             *opts)[0]
            if vocab is None:
                vocab = q.size
                _check_prompt_ids(text, vocab)
            drafts.append(int(np.argmax(q)) if greedy else int(gen.choice(vocab, p=q)))
            qs.append(q)
        windows = np.asarray([(text + drafts[:j])[-t_ctx:] for j in range(n + 1)], dtype=np.intp)
        ps = _model_probs(target, windows, "target", vocab, *opts)
        if vocab is None:
            vocab = ps.shape[1]
            _check_prompt_ids(text, vocab)
        block: list[int] = []
        for j in range(n):
            betas.append(float(np.minimum(ps[j], qs[j]).sum()))
            if greedy:
                ok = drafts[j] == int(np.argmax(ps[j]))
                tok = drafts[j] if ok else int(np.argmax(ps[j]))
            else:
                tok_, ok_ = _verify(ps[j], qs[j], np.asarray([drafts[j]]), gen)  # speculative_sample's test
                tok, ok = int(tok_[0]), bool(ok_[0])
            kept.append(ok)
            block.append(tok)
            if not ok:
                break
        else:
            block.append(int(np.argmax(ps[n])) if greedy else int(gen.choice(vocab, p=ps[n])))
        proposed.append(n)
        accepted.append(len(block) - 1)
        out.extend(block)
        text.extend(block)
    return SpeculativeResult(tokens=np.asarray(out, dtype=np.intp), proposed=np.asarray(proposed, dtype=np.intp),
                             accepted=np.asarray(accepted, dtype=np.intp), beta=np.asarray(betas, dtype=np.float64),
                             kept=np.asarray(kept, dtype=bool))
