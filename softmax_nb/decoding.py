r"""Decoding a language model: logit filters, sampling, and a small character-level model.

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
  order and draws one token per row.

The second half of the module is the chapter's language model: the corpus
(:func:`load_corpus`), a character vocabulary (:class:`CharVocab`), an MLP
over a window of previous characters (:class:`CharMLP`, trained by
:func:`train_char_mlp`) and :func:`generate`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_generator, check_positive_int, check_temperature
from .core import log_softmax, softmax
from .losses import cross_entropy, cross_entropy_grad

__all__ = ["top_k_filter", "top_p_filter", "min_p_filter", "sample", "load_corpus", "CharVocab", "CharMLP",
           "TrainLog", "train_char_mlp", "generate"]

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


# --------------------------------------------------------------------------- corpus
def load_corpus() -> str:
    """The text of *The Devil's Dictionary* (Ambrose Bierce, 1911; public domain), shipped with the package.

    See ``softmax_nb/data/README.md`` for its source and licence. Nothing is
    downloaded.

    Returns
    -------
    str
        The text, 383 070 ASCII characters.
    """
    return resources.files("softmax_nb").joinpath("data/devils_dictionary.txt").read_text(encoding="ascii")


@dataclass(frozen=True)
class CharVocab:
    """A character vocabulary: lower-case text with runs of whitespace collapsed to one space.

    Attributes
    ----------
    chars : str
        The characters, sorted; token ``i`` is ``chars[i]``.
    """

    chars: str

    @staticmethod
    def normalise(text: str) -> str:
        """Lower-case ``text`` and collapse every run of whitespace (spaces, newlines) to one space."""
        return " ".join(text.lower().split())

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of the normalised ``text``."""
        return cls("".join(sorted(set(cls.normalise(text)))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> NDArray[np.intp]:
        """Token ids of the normalised ``text``; a character outside the vocabulary raises ValueError."""
        lookup = {c: i for i, c in enumerate(self.chars)}
        norm = self.normalise(text)
        missing = sorted(set(norm) - set(lookup))
        if missing:
            raise ValueError(f"text contains characters outside the vocabulary: {''.join(missing)!r}")
        return np.fromiter((lookup[c] for c in norm), dtype=np.intp, count=len(norm))

    def decode(self, ids: ArrayLike) -> str:
        """The text of token ids."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())


# --------------------------------------------------------------------------- model
@dataclass
class CharMLP:
    r"""A character-level MLP language model (Bengio et al., 2003, with characters).

    The previous ``context`` characters are embedded, concatenated and passed
    through one tanh layer:

    .. math::

        h = \tanh\big([E_{x_{t-c}}; \dots; E_{x_{t-1}}]\, W_1 + b_1\big), \qquad
        z = h W_2 + b_2, \qquad p(x_t \mid \cdot) = \operatorname{softmax}(z).

    Attributes
    ----------
    params : dict of numpy.ndarray
        ``E`` (V, e), ``W1`` (c e, H), ``b1`` (H,), ``W2`` (H, V), ``b2`` (V,).
    context : int
        Number of previous characters :math:`c`.
    """

    params: dict[str, Array]
    context: int

    @property
    def vocab_size(self) -> int:
        return int(self.params["E"].shape[0])

    def hidden(self, windows: ArrayLike) -> Array:
        """Hidden states :math:`h` for integer windows of shape ``(N, context)``."""
        w = np.asarray(windows)
        x = self.params["E"][w].reshape(w.shape[0], -1)
        return np.tanh(x @ self.params["W1"] + self.params["b1"])

    def logits(self, windows: ArrayLike) -> Array:
        """Next-character logits :math:`z`, shape ``(N, V)``."""
        return self.hidden(windows) @ self.params["W2"] + self.params["b2"]

    def nll(self, ids: ArrayLike, batch: int = 8192) -> float:
        """Mean negative log-likelihood (nats per character) of every character of ``ids`` after the first ``context``."""
        ids = np.asarray(ids)
        windows, targets = _windows(ids, self.context)
        total = 0.0
        for s in range(0, len(targets), batch):
            total += float(cross_entropy(self.logits(windows[s:s + batch]), targets[s:s + batch], reduction="sum"))
        return total / len(targets)


def _windows(ids: NDArray[np.intp], context: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """All (previous ``context`` ids, next id) pairs of a sequence, as a strided view and a slice."""
    if len(ids) <= context:
        raise ValueError(f"the sequence must be longer than the context ({context}), got {len(ids)} ids")
    win = np.lib.stride_tricks.sliding_window_view(ids, context)[:-1]
    return win, ids[context:]


def _loss_and_grads(params: dict[str, Array], w: NDArray[np.intp], y: NDArray[np.intp],
                    label_smoothing: float = 0.0) -> tuple[float, dict[str, Array]]:
    """Mean cross-entropy of a batch of windows ``w`` with next ids ``y``, and its gradients (backprop by hand)."""
    x = params["E"][w].reshape(len(w), -1)
    hid = np.tanh(x @ params["W1"] + params["b1"])
    z = hid @ params["W2"] + params["b2"]
    loss = float(cross_entropy(z, y, label_smoothing=label_smoothing))
    dz = cross_entropy_grad(z, y, label_smoothing=label_smoothing)
    dh = (dz @ params["W2"].T) * (1 - hid**2)
    dx = dh @ params["W1"].T
    grads = {"W2": hid.T @ dz, "b2": dz.sum(axis=0), "W1": x.T @ dh, "b1": dh.sum(axis=0),
             "E": np.zeros_like(params["E"])}
    np.add.at(grads["E"], w.ravel(), dx.reshape(-1, params["E"].shape[1]))
    return loss, grads


@contextlib.contextmanager
def _one_blas_thread():
    """One BLAS thread while training (results independent of the core count), if threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@dataclass
class TrainLog:
    """Validation NLL (nats per character) after each epoch of :func:`train_char_mlp`."""

    val_nll: list[float] = field(default_factory=list)


def train_char_mlp(train_ids: ArrayLike, vocab_size: int, *, context: int = 8, embed: int = 16, hidden: int = 256,
                   epochs: int = 3, batch_size: int = 128, lr: float = 3e-3, label_smoothing: float = 0.0,
                   seed: int = 0, val_ids: ArrayLike | None = None) -> tuple[CharMLP, TrainLog]:
    r"""Train a :class:`CharMLP` on a token sequence with Adam and the package's cross-entropy.

    The loss of each mini-batch is :func:`~softmax_nb.losses.cross_entropy` of the
    next character, and its gradient with respect to the logits
    :func:`~softmax_nb.losses.cross_entropy_grad` (:math:`(p - y)/N`); the rest is
    backpropagated by hand. The learning rate decays linearly to 0. Everything
    is float64 with one BLAS thread, so a seed gives the same model on every
    run of a machine, and nearly the same on other CPUs.

    Parameters
    ----------
    train_ids : array_like of int
        The training sequence.
    vocab_size : int
        Number of tokens :math:`V`.
    context, embed, hidden : int
        Window length :math:`c`, embedding width :math:`e`, hidden width :math:`H`.
    epochs, batch_size : int
        Passes over the shuffled windows, and windows per step.
    lr : float
        Peak Adam step size.
    label_smoothing : float
        :math:`\alpha` of the training loss (label smoothing).
    seed : int
        Seeds the initialisation and the shuffling.
    val_ids : array_like of int, optional
        A validation sequence, scored after each epoch.

    Returns
    -------
    model : CharMLP
    log : TrainLog
    """
    ids = np.asarray(train_ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"train_ids must be a 1-D integer sequence, got dtype {ids.dtype} and shape {ids.shape}")
    v = check_positive_int(vocab_size, "vocab_size")
    if ids.size and (ids.min() < 0 or ids.max() >= v):
        raise ValueError(f"train_ids must lie in [0, {v}), got values in [{ids.min()}, {ids.max()}]")
    c, e, h = (check_positive_int(x, n) for x, n in ((context, "context"), (embed, "embed"), (hidden, "hidden")))
    epochs, batch_size = check_positive_int(epochs, "epochs"), check_positive_int(batch_size, "batch_size")
    rng = np.random.default_rng(seed)
    params = {"E": rng.normal(0, 1.0, (v, e)), "W1": rng.normal(0, 1 / math.sqrt(c * e), (c * e, h)),
              "b1": np.zeros(h), "W2": rng.normal(0, 1 / math.sqrt(h), (h, v)), "b2": np.zeros(v)}
    model = CharMLP(params, c)
    windows, targets = _windows(ids, c)
    m1 = {k: np.zeros_like(p) for k, p in params.items()}
    m2 = {k: np.zeros_like(p) for k, p in params.items()}
    b1, b2, step = 0.9, 0.999, 0
    n = len(targets)
    total_steps = epochs * math.ceil(n / batch_size)
    log = TrainLog()
    with _one_blas_thread():
        for _ in range(epochs):
            order = rng.permutation(n)
            for s in range(0, n, batch_size):
                idx = order[s:s + batch_size]
                _, grads = _loss_and_grads(params, windows[idx], targets[idx], label_smoothing)
                step += 1
                rate = lr * (1 - (step - 1) / total_steps)
                for k, g in grads.items():
                    m1[k] = b1 * m1[k] + (1 - b1) * g
                    m2[k] = b2 * m2[k] + (1 - b2) * g * g
                    params[k] -= rate * (m1[k] / (1 - b1**step)) / (np.sqrt(m2[k] / (1 - b2**step)) + 1e-8)
            if val_ids is not None:
                log.val_nll.append(model.nll(val_ids))
    return model, log


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
