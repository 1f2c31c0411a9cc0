r"""The book's character-level language model: corpus, vocabulary, model and training loop.

Chapters 12 and 13 train and decode this model; the general decoding API
(the logit filters, :func:`~softmax_nb.decoding.sample` and
:func:`~softmax_nb.decoding.generate`) lives in :mod:`softmax_nb.decoding`.

* :func:`load_corpus`: the text of *The Devil's Dictionary* (public domain),
  shipped with the package;
* :class:`CharVocab`: a character vocabulary over normalised text;
* :class:`CharMLP`: an MLP over a window of previous characters (Bengio et
  al., 2003, with characters), trained by :func:`train_char_mlp`, which
  returns a :class:`TrainLog` of validation losses.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_positive_int
from .losses import cross_entropy, cross_entropy_grad

__all__ = ["load_corpus", "CharVocab", "CharMLP", "TrainLog", "train_char_mlp"]

Array = NDArray[np.floating]


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
