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
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (ArgumentTypeError, check_generator, check_positive_int, deprecated_call_forms, real_scalar,
                      work_dtype)
from .losses import cross_entropy, cross_entropy_grad
from .stability import z_loss as _z_loss

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

    Raises
    ------
    softmax_nb.ArgumentTypeError
        If ``chars`` is not a str.
    ValueError
        If ``chars`` repeats a character (its id would be ambiguous).
    """

    chars: str

    def __post_init__(self) -> None:
        if not isinstance(self.chars, str):
            raise ArgumentTypeError(f"chars must be a str of distinct characters, got {type(self.chars).__name__}")
        if len(set(self.chars)) != len(self.chars):
            repeated = sorted({c for c in self.chars if self.chars.count(c) > 1})
            raise ValueError(f"chars must hold distinct characters, got {''.join(repeated)!r} more than once")

    @staticmethod
    def normalise(text: str) -> str:
        """Lower-case ``text`` and collapse every run of whitespace (spaces, newlines) to one space."""
        if not isinstance(text, str):
            raise ArgumentTypeError(f"text must be a str, got {type(text).__name__}")
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
        """The text of integer token ids (any shape, read in C order); an id outside ``[0, len(self))`` raises
        ValueError."""
        arr = _check_ids(ids, len(self.chars), "ids")
        return "".join(self.chars[i] for i in arr.ravel().tolist())


def _check_ids(ids: ArrayLike, vocab_size: int, name: str) -> NDArray[np.intp]:
    """Integer token ids in ``[0, vocab_size)`` as an intp array (an empty list is accepted)."""
    arr = np.asarray(ids)
    if arr.size == 0 and arr.dtype.kind == "f":  # np.asarray([]) is float64
        arr = arr.astype(np.intp)
    if arr.dtype.kind not in "iu":
        raise ArgumentTypeError(f"{name} must be integer token ids, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        bad = arr[(arr < 0) | (arr >= vocab_size)].flat[0]
        raise ValueError(f"{name} must hold token ids in [0, {vocab_size}), got {bad}")
    return arr.astype(np.intp, copy=False)


# --------------------------------------------------------------------------- model
_PARAM_NAMES = ("E", "W1", "b1", "W2", "b2")


@dataclass(eq=False)
class CharMLP:
    r"""A character-level MLP language model (Bengio et al., 2003, with characters).

    The previous ``context`` characters are embedded, concatenated and passed
    through one tanh layer:

    .. math::

        h = \tanh\big([E_{x_{t-c}}; \dots; E_{x_{t-1}}]\, W_1 + b_1\big), \qquad
        z = h W_2 + b_2, \qquad p(x_t \mid \cdot) = \operatorname{softmax}(z).

    The parameters may be float16, float32 or float64 (all of one dtype);
    float16 is computed in float32 and the results rounded once.
    Two models are equal (``==``) when their contexts are equal and their
    parameters have the same names, shapes, dtypes and values; a model is
    mutable, so it is not hashable.

    Attributes
    ----------
    params : dict of numpy.ndarray
        ``E`` (V, e), ``W1`` (c e, H), ``b1`` (H,), ``W2`` (H, V), ``b2`` (V,).
    context : int
        Number of previous characters :math:`c`.

    Raises
    ------
    ValueError
        If the parameters' names or shapes do not fit together or with
        ``context``, they are not of one float dtype, or one is not finite
        (checked when the model is built).
    softmax_nb.ArgumentTypeError
        If ``params`` is not a dict of numpy arrays (lists are refused: the
        model holds the arrays themselves, which training updates in place),
        or ``context`` is not an integer.
    """

    params: dict[str, Array]
    context: int

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __post_init__(self) -> None:
        self.context = check_positive_int(self.context, "context")
        if not isinstance(self.params, dict):
            raise ArgumentTypeError(f"params must be a dict with the keys {list(_PARAM_NAMES)}, "
                                    f"got {type(self.params).__name__}")
        if sorted(self.params) != sorted(_PARAM_NAMES):
            raise ValueError(f"params must be a dict with the keys {list(_PARAM_NAMES)}, got {sorted(self.params)}")
        not_arrays = sorted(k for k, a in self.params.items() if not isinstance(a, np.ndarray))
        if not_arrays:  # the model holds (and train_char_mlp updates) the arrays themselves
            raise ArgumentTypeError(f"params must map each name to a numpy.ndarray, got "
                                    + ", ".join(f"{k}: {type(self.params[k]).__name__}" for k in not_arrays))
        dtypes = {a.dtype for a in self.params.values()}
        if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
            raise ValueError(f"params must all have one float dtype, got {sorted(map(str, dtypes))}")
        shapes = {k: np.shape(a) for k, a in self.params.items()}
        v, e = shapes["E"] if len(shapes["E"]) == 2 else (-1, -1)
        h = shapes["b1"][0] if len(shapes["b1"]) == 1 else -1
        want = {"E": (v, e), "W1": (self.context * e, h), "b1": (h,), "W2": (h, v), "b2": (v,)}
        if min(v, e, h) < 1 or shapes != want:
            raise ValueError(f"params must have shapes E (V, e), W1 (context * e, H), b1 (H,), W2 (H, V), b2 (V,) "
                             f"with context = {self.context}, got {shapes}")
        bad = [k for k in _PARAM_NAMES if not np.isfinite(self.params[k]).all()]
        if bad:
            raise ValueError(f"params must be finite, got NaN or inf in {', '.join(bad)}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CharMLP):
            return NotImplemented
        return (self.context == other.context and self.params.keys() == other.params.keys()
                and all(self.params[k].dtype == other.params[k].dtype
                        and np.array_equal(self.params[k], other.params[k]) for k in self.params))

    @property
    def vocab_size(self) -> int:
        """The number of tokens :math:`V`."""
        return int(self.params["E"].shape[0])

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype (that of every result)."""
        return np.asarray(self.params["E"]).dtype

    def _check_windows(self, windows: ArrayLike) -> NDArray[np.intp]:
        w = _check_ids(windows, self.vocab_size, "windows")
        if w.ndim != 2 or w.shape[1] != self.context:
            raise ValueError(f"windows must have shape (N, context) = (N, {self.context}), got {w.shape}")
        return w

    def _hidden(self, w: NDArray[np.intp]) -> Array:
        """Hidden states in the work dtype (float32 for float16 parameters)."""
        dt = work_dtype(self.dtype)
        par = {k: np.asarray(a, dtype=dt) for k, a in self.params.items()}
        x = par["E"][w].reshape(w.shape[0], w.shape[1] * par["E"].shape[1])  # (N, context * e), also for N = 0
        return np.tanh(x @ par["W1"] + par["b1"])

    def _logits(self, w: NDArray[np.intp]) -> Array:
        """Logits in the work dtype (float32 for float16 parameters), not rounded."""
        dt = work_dtype(self.dtype)
        return self._hidden(w) @ np.asarray(self.params["W2"], dtype=dt) + np.asarray(self.params["b2"], dtype=dt)

    def hidden(self, windows: ArrayLike) -> Array:
        """Hidden states :math:`h`, shape ``(N, H)``, for integer windows of shape ``(N, context)`` (``N = 0``
        gives an empty result)."""
        return self._hidden(self._check_windows(windows)).astype(self.dtype, copy=False)

    def logits(self, windows: ArrayLike) -> Array:
        r"""Next-character logits :math:`z`, shape ``(N, V)``, for integer windows of shape ``(N, context)``.

        ``N = 0`` gives an empty ``(0, V)`` result. For float16 parameters the
        logits are computed in float32 and rounded once to float16: a logit
        beyond the float16 range (:math:`\pm 65\,504`) rounds to
        :math:`\pm\infty`, as IEEE rounding does, with no warning.
        An id outside ``[0, V)`` or a window of the wrong length raises ValueError naming ``windows``.
        """
        z = self._logits(self._check_windows(windows))
        with np.errstate(over="ignore"):  # float32 -> float16: beyond the range is ±inf, the correct rounding
            return z.astype(self.dtype, copy=False)

    @deprecated_call_forms(("batch",))
    def nll(self, ids: ArrayLike, *, batch: int = 8192) -> np.floating:
        r"""Mean negative log-likelihood (nats per character) of every character of ``ids`` after the first
        ``context``: :math:`-\frac{1}{n - c}\sum_{t > c} \log p(x_t \mid x_{t-c:t-1})`.

        Computed ``batch`` windows at a time, summed in float64 and returned
        as a numpy scalar of the parameters' dtype.
        """
        arr = _check_ids(ids, self.vocab_size, "ids")
        if arr.ndim != 1:
            raise ValueError(f"ids must be a 1-D sequence of token ids, got shape {arr.shape}")
        batch = check_positive_int(batch, "batch")
        windows, targets = _windows(arr, self.context)
        total = 0.0
        for s in range(0, len(targets), batch):
            total += float(cross_entropy(self._logits(windows[s:s + batch]), targets[s:s + batch], reduction="sum"))
        with np.errstate(over="ignore"):  # a mean beyond float16 rounds to inf, as the logits do
            return self.dtype.type(total / len(targets))


def _windows(ids: NDArray[np.intp], context: int, name: str = "ids") -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """All (previous ``context`` ids, next id) pairs of a sequence, as a strided view and a slice."""
    if len(ids) <= context:
        raise ValueError(f"{name} must be longer than the context ({context}), got {len(ids)} ids")
    win = np.lib.stride_tricks.sliding_window_view(ids, context)[:-1]
    return win, ids[context:]


def _loss_and_grads(params: dict[str, Array], w: NDArray[np.intp], y: NDArray[np.intp],
                    label_smoothing: float = 0.0, z_loss: float = 0.0) -> tuple[float, dict[str, Array]]:
    """Mean cross-entropy (plus the z-loss of weight ``z_loss``) of a batch of windows ``w`` with next ids ``y``,
    and its gradients (backprop by hand)."""
    loss, grads, _ = _loss_grads_log_z(params, w, y, label_smoothing, z_loss)
    return loss, grads


def _loss_grads_log_z(params: dict[str, Array], w: NDArray[np.intp], y: NDArray[np.intp],
                      label_smoothing: float = 0.0, z_loss: float = 0.0) -> tuple[float, dict[str, Array], float]:
    """:func:`_loss_and_grads` and the batch's mean log-normaliser, mean LSE(z) (before the step)."""
    x = params["E"][w].reshape(len(w), -1)
    hid = np.tanh(x @ params["W1"] + params["b1"])
    z = hid @ params["W2"] + params["b2"]
    loss = float(cross_entropy(z, y, label_smoothing=label_smoothing))
    dz = cross_entropy_grad(z, y, label_smoothing=label_smoothing)
    m = z.max(axis=1)  # finite: cross_entropy above refuses NaN and inf logits
    mean_log_z = float(np.mean(m + np.log(np.exp(z - m[:, None]).sum(axis=1))))
    if z_loss > 0.0:  # z_loss = 0 leaves the objective and its gradient untouched, bit for bit
        zl, zg = _z_loss(z, weight=z_loss, return_grad=True)
        loss += float(zl)
        dz = dz + zg
    dh = (dz @ params["W2"].T) * (1 - hid**2)
    dx = dh @ params["W1"].T
    grads = {"W2": hid.T @ dz, "b2": dz.sum(axis=0), "W1": x.T @ dh, "b1": dh.sum(axis=0),
             "E": np.zeros_like(params["E"])}
    np.add.at(grads["E"], w.ravel(), dx.reshape(-1, params["E"].shape[1]))
    return loss, grads, mean_log_z


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
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
    r"""What :func:`train_char_mlp` records.

    Attributes
    ----------
    val_nll : list of numpy.floating
        Validation NLL (nats per character) after each epoch (empty without ``val_ids``).
    log_z : list of float
        The mean log-normaliser :math:`\frac{1}{B}\sum_n \operatorname{LSE}(z_n)` of each training
        mini-batch, before its step (one entry per step).
    """

    val_nll: list[np.floating] = field(default_factory=list)
    log_z: list[float] = field(default_factory=list)


@deprecated_call_forms(renamed={"seed": ("rng", check_generator)})
def train_char_mlp(train_ids: ArrayLike, vocab_size: int, *, context: int = 8, embed: int = 16, hidden: int = 256,
                   epochs: int = 3, batch_size: int = 128, lr: float = 3e-3, label_smoothing: float = 0.0,
                   rng: int | np.random.Generator | None = 0,
                   val_ids: ArrayLike | None = None, z_loss: float = 0.0) -> tuple[CharMLP, TrainLog]:
    r"""Train a :class:`CharMLP` on a token sequence with Adam and the package's cross-entropy.

    The loss of each mini-batch is :func:`~softmax_nb.losses.cross_entropy` of the
    next character, and its gradient with respect to the logits
    :func:`~softmax_nb.losses.cross_entropy_grad` (:math:`(p - y)/N`); the rest is
    backpropagated by hand. With ``z_loss`` :math:`= w > 0` the objective adds
    :func:`~softmax_nb.stability.z_loss`, :math:`\frac{w}{N}\sum_n \operatorname{LSE}(z_n)^2`, whose
    gradient :math:`\frac{2w}{N}\operatorname{LSE}(z_n)\operatorname{softmax}(z_n)` joins :math:`(p - y)/N`.
    The learning rate decays linearly to 0. Everything
    is float64 with one BLAS thread, so a seed gives the same model on every
    run of a machine, and nearly the same on other CPUs.

    The step of parameter :math:`\theta` at step :math:`s` of :math:`S` is Adam's,

    .. math::

        \theta \leftarrow \theta - \eta \Big(1 - \frac{s - 1}{S}\Big)
        \frac{\hat m}{\sqrt{\hat v} + 10^{-8}}, \qquad \beta_1 = 0.9,\ \beta_2 = 0.999 .

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
        Peak Adam step size :math:`\eta`, a finite number > 0.
    label_smoothing : float
        :math:`\alpha` of the training loss (label smoothing).
    rng : int, numpy.random.Generator or None, default 0
        Source of randomness for the initialisation and the shuffling (SPEC 7):
        an int seed (the default, 0, makes training reproducible), a Generator,
        or ``None`` for fresh entropy. The old name ``seed`` is deprecated.
    val_ids : array_like of int, optional
        A validation sequence, scored after each epoch.
    z_loss : float, default 0.0
        Weight :math:`w \ge 0` of the z-loss added to the training objective (PaLM uses :math:`10^{-4}`); 0
        trains on the cross-entropy alone, exactly as without the option.

    Returns
    -------
    model : CharMLP
    log : TrainLog
    """
    v = check_positive_int(vocab_size, "vocab_size")
    ids = _check_ids(train_ids, v, "train_ids")
    if ids.ndim != 1:
        raise ValueError(f"train_ids must be a 1-D sequence of token ids, got shape {ids.shape}")
    if val_ids is not None:
        val_ids = _check_ids(val_ids, v, "val_ids")
        if val_ids.ndim != 1:
            raise ValueError(f"val_ids must be a 1-D sequence of token ids, got shape {val_ids.shape}")
    c, e, h = (check_positive_int(x, n) for x, n in ((context, "context"), (embed, "embed"), (hidden, "hidden")))
    epochs, batch_size = check_positive_int(epochs, "epochs"), check_positive_int(batch_size, "batch_size")
    lr = real_scalar(lr, "lr", "a finite number > 0")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    zw = real_scalar(z_loss, "z_loss", "a finite number >= 0")
    if not (math.isfinite(zw) and zw >= 0):
        raise ValueError(f"z_loss must be a finite number >= 0, got {z_loss!r}")
    gen = check_generator(rng)
    params: dict[str, Array] = {"E": gen.normal(0, 1.0, (v, e)), "W1": gen.normal(0, 1 / math.sqrt(c * e), (c * e, h)),
                                "b1": np.zeros(h), "W2": gen.normal(0, 1 / math.sqrt(h), (h, v)), "b2": np.zeros(v)}
    model = CharMLP(params, c)
    windows, targets = _windows(ids, c, "train_ids")
    if val_ids is not None and len(val_ids) <= c:
        raise ValueError(f"val_ids must be longer than the context ({c}), got {len(val_ids)} ids")
    m1 = {k: np.zeros_like(p) for k, p in params.items()}
    m2 = {k: np.zeros_like(p) for k, p in params.items()}
    b1, b2, step = 0.9, 0.999, 0
    n = len(targets)
    total_steps = epochs * math.ceil(n / batch_size)
    log = TrainLog()
    with _one_blas_thread():
        for _ in range(epochs):
            order = gen.permutation(n)
            for s in range(0, n, batch_size):
                idx = order[s:s + batch_size]
                _, grads, mean_log_z = _loss_grads_log_z(params, windows[idx], targets[idx], label_smoothing, zw)
                log.log_z.append(mean_log_z)
                step += 1
                rate = lr * (1 - (step - 1) / total_steps)
                for k, g in grads.items():
                    m1[k] = b1 * m1[k] + (1 - b1) * g
                    m2[k] = b2 * m2[k] + (1 - b2) * g * g
                    params[k] -= rate * (m1[k] / (1 - b1**step)) / (np.sqrt(m2[k] / (1 - b2**step)) + 1e-8)
            if val_ids is not None:
                log.val_nll.append(model.nll(val_ids))
    return model, log
