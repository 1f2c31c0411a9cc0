r"""Small, deterministic numpy classifiers for the chapters: data, training loops, logits.

Everything is seeded through one :class:`numpy.random.Generator` per call (no
global ``np.random`` state), so the same arguments give the same model, bit
for bit, on the same machine. scikit-learn is used only to load and split the
digits data.

:func:`fit_softmax_regression` fits softmax regression to the optimum of its
penalised objective with L-BFGS-B and the analytic gradient: use it to compare
*losses* (their minimisers), not optimiser noise. :func:`distill_softmax_regression`
does the same for a student distilled from a teacher's logits (Hinton et al.,
2015). The two SGD trainers below are for the chapters where the optimiser
itself is the subject; :func:`template_plane` draws an MLP's hidden layer in the
plane of three class templates (Müller et al., 2019).

Both SGD trainers use mini-batch stochastic gradient descent with
momentum on the mean loss of a batch,

.. math::

    v \leftarrow \mu v - \eta\,(\nabla_\theta \ell + \lambda W), \qquad
    \theta \leftarrow \theta + v,

where :math:`\ell` is :func:`~softmax_nb.losses.cross_entropy` (optionally
label-smoothed) or :func:`~softmax_nb.losses.focal_loss`, whose logit gradients come
from :func:`~softmax_nb.losses.cross_entropy_grad` / :func:`~softmax_nb.losses.focal_loss_grad`,
and :math:`\lambda` is the weight decay (applied to weight matrices, not
biases).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (
    as_float_array,
    check_bool,
    check_choice,
    check_finite,
    check_fraction,
    check_labels,
    check_nonnegative,
    check_positive_int,
    check_temperature,
    check_unit_interval,
)
from .losses import cross_entropy, cross_entropy_grad, focal_loss, focal_loss_grad

__all__ = [
    "DigitsSplit",
    "History",
    "SoftmaxRegressionModel",
    "MLPModel",
    "load_digits_split",
    "train_softmax_regression",
    "fit_softmax_regression",
    "distill_softmax_regression",
    "train_mlp",
    "predict_logits",
    "template_plane",
]

Array = NDArray[np.float64]


class DigitsSplit(NamedTuple):
    """A stratified train/validation/test split of scikit-learn's 8x8 digits.

    Features are pixel intensities scaled to [0, 1] (divided by 16), shape
    ``(n, 64)``; labels are integers 0-9.
    """

    X_train: Array
    y_train: NDArray[np.intp]
    X_val: Array
    y_val: NDArray[np.intp]
    X_test: Array
    y_test: NDArray[np.intp]


@dataclass
class History:
    """Per-epoch training curves (one entry per epoch, measured after the epoch).

    ``train_loss``/``val_loss`` are the training objective's data term (the
    chosen loss with its label smoothing or :math:`\\gamma`, without weight
    decay) on the whole set; ``train_nll``/``val_nll`` are the plain
    cross-entropy (negative log-likelihood), comparable across losses.
    Validation entries are NaN when no validation set was given.
    """

    train_loss: Array = field(default_factory=lambda: np.empty(0))
    val_loss: Array = field(default_factory=lambda: np.empty(0))
    train_acc: Array = field(default_factory=lambda: np.empty(0))
    val_acc: Array = field(default_factory=lambda: np.empty(0))
    train_nll: Array = field(default_factory=lambda: np.empty(0))
    val_nll: Array = field(default_factory=lambda: np.empty(0))


@dataclass
class SoftmaxRegressionModel:
    r"""Multinomial logistic regression, :math:`z = X W + b`."""

    W: Array  #: weights, shape (D, K)
    b: Array  #: bias, shape (K,)
    history: History

    def logits(self, X: ArrayLike) -> Array:
        """Logits ``X @ W + b`` of shape ``(n, K)``."""
        return np.asarray(X, dtype=np.float64) @ self.W + self.b


@dataclass
class MLPModel:
    r"""One-hidden-layer perceptron, :math:`z = \phi(X W_1 + b_1) W_2 + b_2`."""

    W1: Array  #: shape (D, H)
    b1: Array  #: shape (H,)
    W2: Array  #: shape (H, K)
    b2: Array  #: shape (K,)
    activation: str  #: ``'relu'`` or ``'tanh'``
    history: History

    def hidden(self, X: ArrayLike) -> Array:
        """Hidden activations :math:`\\phi(X W_1 + b_1)`, shape ``(n, H)``."""
        return _ACTIVATIONS[self.activation][0](np.asarray(X, dtype=np.float64) @ self.W1 + self.b1)

    def logits(self, X: ArrayLike) -> Array:
        """Logits of shape ``(n, K)``."""
        return self.hidden(X) @ self.W2 + self.b2


_ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    # name: (phi(a), phi'(a) expressed through h = phi(a))
    "relu": (lambda a: np.maximum(a, 0.0), lambda h: (h > 0).astype(np.float64)),
    "tanh": (np.tanh, lambda h: 1.0 - h * h),
}


def load_digits_split(seed: int = 0, val_size: float = 0.2, test_size: float = 0.2,
                      noise: float = 0.0) -> DigitsSplit:
    """Load scikit-learn's digits (1797 images, 8x8, 10 classes) and split it, stratified.

    The test set is split off first, then the validation set from the rest;
    both sizes are fractions of the *whole* data set. With the defaults the
    split is 1077 / 360 / 360.

    Clean digits are easy (about 97% test accuracy), so even an over-fitted
    model is only slightly over-confident. ``noise > 0`` adds Gaussian noise
    of that standard deviation to every scaled pixel (drawn once, from
    ``numpy.random.default_rng(seed)``, before splitting), a harder task on
    which over-fitting shows as clear over-confidence: ``noise=0.3`` is the
    setting of the temperature-scaling chapter.

    Parameters
    ----------
    seed : int, default 0
        ``random_state`` of :func:`sklearn.model_selection.train_test_split`.
    val_size, test_size : float, default 0.2
        Fractions in (0, 1) with ``val_size + test_size < 1``.
    noise : float, default 0.0
        Standard deviation of the pixel noise (>= 0).

    Returns
    -------
    DigitsSplit
        Features (float64; in [0, 1] when ``noise=0``) and integer labels.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    sigma = check_nonnegative(noise, "noise")
    v = check_fraction(val_size, "val_size")
    t = check_fraction(test_size, "test_size")
    if v + t >= 1.0:
        raise ValueError(f"val_size + test_size must be < 1, got {v} + {t}")
    data = load_digits()
    X = data.data.astype(np.float64) / 16.0
    if sigma > 0:
        X = X + sigma * np.random.default_rng(seed).standard_normal(X.shape)
    y = data.target.astype(np.intp)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=t, stratify=y, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=v / (1.0 - t), stratify=y_rest,
                                                      random_state=seed)
    return DigitsSplit(X_train, y_train, X_val, y_val, X_test, y_test)


def predict_logits(model: SoftmaxRegressionModel | MLPModel, X: ArrayLike) -> Array:
    """Logits of a trained model for features ``X`` of shape ``(n, D)``; shape ``(n, K)``."""
    return model.logits(X)


def _check_data(X: ArrayLike, y: ArrayLike, num_classes: int | None, name: str = "X") -> tuple[Array, NDArray, int]:
    """Validate features ``(n, D)`` and labels ``(n,)``; infer ``K`` if needed."""
    Xa = as_float_array(X, name).astype(np.float64, copy=False)
    if Xa.ndim != 2 or Xa.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, D), got shape {Xa.shape}")
    check_finite(Xa, name)
    ya = np.asarray(y)
    if ya.shape != (Xa.shape[0],):
        raise ValueError(f"y must have shape ({Xa.shape[0]},) to match {name}, got shape {ya.shape}")
    if num_classes is None:
        num_classes = int(check_labels(ya, np.iinfo(np.intp).max, "y").max()) + 1
    k = check_positive_int(num_classes, "num_classes")
    return Xa, check_labels(ya, k, "y"), k


class _Objective:
    """The data loss and its logit gradient for ``loss='ce'`` or ``'focal'``."""

    def __init__(self, loss: str, label_smoothing: float, gamma: float, focal_alpha: ArrayLike | None = None) -> None:
        self.loss = check_choice(loss, ("ce", "focal"), "loss")
        self.eps = check_unit_interval(label_smoothing, "label_smoothing")
        self.gamma = check_nonnegative(gamma, "gamma")
        self.alpha = focal_alpha  # validated by focal_loss against K on first use
        if self.loss == "focal" and self.eps > 0:
            raise ValueError("label_smoothing must be 0 with loss='focal' (focal_loss has no smoothing)")
        if self.loss == "ce" and focal_alpha is not None:
            raise ValueError("focal_alpha is only used with loss='focal'")

    def value(self, z: Array, y: NDArray) -> float:
        if self.loss == "ce":
            return float(cross_entropy(z, y, label_smoothing=self.eps))
        return float(focal_loss(z, y, gamma=self.gamma, alpha=self.alpha))

    def grad(self, z: Array, y: NDArray) -> Array:
        if self.loss == "ce":
            return cross_entropy_grad(z, y, label_smoothing=self.eps)
        return focal_loss_grad(z, y, gamma=self.gamma, alpha=self.alpha)


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread while training, if threadpoolctl (a scikit-learn dependency) is installed.

    The matrices here are tiny (batches of 32-64 rows): BLAS threads only add
    synchronisation, which costs several times the arithmetic on a busy
    machine. One thread also makes results independent of the core count.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _sgd(params: dict[str, Array], backward: Callable[[dict[str, Array], Array, NDArray], dict[str, Array]],
         forward: Callable[[dict[str, Array], Array], Array], objective: _Objective, X: Array, y: NDArray,
         X_val: Array | None, y_val: NDArray | None, epochs: int, lr: float, batch_size: int, momentum: float,
         weight_decay: float, rng: np.random.Generator) -> History:
    """Mini-batch SGD with momentum, updating ``params`` in place; return the history."""
    decayed = [name for name in params if name.startswith("W")]
    velocity = {name: np.zeros_like(value) for name, value in params.items()}
    curves: dict[str, list[float]] = {name: [] for name in History.__dataclass_fields__}
    n = X.shape[0]
    with _single_threaded_blas():
        for _ in range(epochs):
            _epoch(params, velocity, backward, X, y, n, batch_size, momentum, lr, weight_decay, decayed, rng)
            _record(curves, params, forward, objective, X, y, X_val, y_val)
    return History(**{name: np.asarray(values) for name, values in curves.items()})


def _epoch(params, velocity, backward, X, y, n, batch_size, momentum, lr, weight_decay, decayed, rng) -> None:
    """One pass over the shuffled data: momentum-SGD updates of ``params`` in place."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        batch = order[start:start + batch_size]
        grads = backward(params, X[batch], y[batch])
        for name in decayed:
            grads[name] = grads[name] + weight_decay * params[name]
        for name, g in grads.items():
            velocity[name] = momentum * velocity[name] - lr * g
            params[name] += velocity[name]


def _record(curves, params, forward, objective, X, y, X_val, y_val) -> None:
    """Append the end-of-epoch loss, accuracy and NLL on the training and validation sets."""
    for split, (Xs, ys) in {"train": (X, y), "val": (X_val, y_val)}.items():
        if Xs is None:
            stats = (np.nan, np.nan, np.nan)
        else:
            z = forward(params, Xs)
            stats = (objective.value(z, ys), float(np.mean(z.argmax(axis=1) == ys)), float(cross_entropy(z, ys)))
        for key, value in zip(("loss", "acc", "nll"), stats):
            curves[f"{split}_{key}"].append(value)


def _common(X, y, num_classes, epochs, lr, batch_size, momentum, weight_decay, X_val, y_val):
    """Shared argument validation of the two trainers."""
    Xa, ya, k = _check_data(X, y, num_classes)
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together")
    Xv, yv = (None, None) if X_val is None else _check_data(X_val, y_val, k, "X_val")[:2]
    if Xv is not None and Xv.shape[1] != Xa.shape[1]:
        raise ValueError(f"X_val must have {Xa.shape[1]} features like X, got {Xv.shape[1]}")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if not check_nonnegative(lr, "lr") > 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    check_nonnegative(weight_decay, "weight_decay")
    if not 0.0 <= check_nonnegative(momentum, "momentum") < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    return Xa, ya, k, Xv, yv


def train_softmax_regression(X: ArrayLike, y: ArrayLike, num_classes: int | None = None, epochs: int = 100,
                             lr: float = 0.5, batch_size: int = 64, weight_decay: float = 1e-4, seed: int = 0,
                             label_smoothing: float = 0.0, loss: str = "ce", gamma: float = 2.0,
                             X_val: ArrayLike | None = None, y_val: ArrayLike | None = None,
                             momentum: float = 0.9, focal_alpha: ArrayLike | None = None) -> SoftmaxRegressionModel:
    r"""Fit multinomial logistic regression :math:`p = \operatorname{softmax}(XW + b)` by mini-batch SGD.

    The gradient of the mean batch loss is
    :math:`\nabla_W = X^\top G`, :math:`\nabla_b = \sum_i G_i` with
    :math:`G = \partial \ell / \partial z` from
    :func:`~softmax_nb.losses.cross_entropy_grad` (:math:`(p - \tilde y)/n`) or
    :func:`~softmax_nb.losses.focal_loss_grad`. Weights start at 0; ``seed``
    drives the shuffling. With ``loss='ce'`` (with or without label smoothing)
    the objective is convex in :math:`(W, b)`; with ``loss='focal'`` and
    :math:`\gamma > 0` it is **not** convex (focal loss has negative curvature
    for confidently wrong examples), so the zero start is a convention, not a
    guarantee of the global minimum. The last SGD iterate at a constant rate
    scatters around the optimum; :func:`fit_softmax_regression` finds the
    optimum itself.

    Parameters
    ----------
    X : array_like
        Features, shape ``(n, D)``.
    y : array_like of int
        Labels, shape ``(n,)``.
    num_classes : int, optional
        ``K``; inferred as ``max(y) + 1`` if omitted.
    epochs : int, default 100
    lr : float, default 0.5
        Learning rate :math:`\eta`.
    batch_size : int, default 64
    weight_decay : float, default 1e-4
        L2 coefficient :math:`\lambda` on ``W`` (gradient :math:`\lambda W`).
    seed : int, default 0
    label_smoothing : float, default 0.0
        :math:`\alpha` of :func:`~softmax_nb.losses.cross_entropy` (``loss='ce'`` only).
    loss : {'ce', 'focal'}, default 'ce'
    gamma : float, default 2.0
        :math:`\gamma` of :func:`~softmax_nb.losses.focal_loss` (``loss='focal'`` only).
    X_val, y_val : array_like, optional
        A validation set, evaluated after every epoch.
    momentum : float, default 0.9
        :math:`\mu \in [0, 1)`.
    focal_alpha : array_like, optional
        Per-class weights :math:`\alpha` of :func:`~softmax_nb.losses.focal_loss`
        (``loss='focal'`` only); ``None`` weighs every class 1.

    Returns
    -------
    SoftmaxRegressionModel
        ``W`` (D, K), ``b`` (K,) and the per-epoch :class:`History`.

    Notes
    -----
    On :func:`load_digits_split` (seed 0) the defaults take well under a
    second and reach about the test accuracy of scikit-learn's
    ``LogisticRegression``.
    """
    Xa, ya, k, Xv, yv = _common(X, y, num_classes, epochs, lr, batch_size, momentum, weight_decay, X_val, y_val)
    objective = _Objective(loss, label_smoothing, gamma, focal_alpha)
    rng = np.random.default_rng(seed)
    params = {"W": np.zeros((Xa.shape[1], k)), "b": np.zeros(k)}

    def forward(p: dict[str, Array], Xb: Array) -> Array:
        return Xb @ p["W"] + p["b"]

    def backward(p: dict[str, Array], Xb: Array, yb: NDArray) -> dict[str, Array]:
        g = objective.grad(forward(p, Xb), yb)
        return {"W": Xb.T @ g, "b": g.sum(axis=0)}

    history = _sgd(params, backward, forward, objective, Xa, ya, Xv, yv, epochs, float(lr), batch_size,
                   float(momentum), float(weight_decay), rng)
    return SoftmaxRegressionModel(params["W"], params["b"], history)


def fit_softmax_regression(X: ArrayLike, y: ArrayLike, num_classes: int | None = None, weight_decay: float = 1e-4,
                           label_smoothing: float = 0.0, loss: str = "ce", gamma: float = 2.0,
                           class_weight: ArrayLike | None = None, tol: float = 1e-6,
                           max_iter: int = 5000, *, center: bool = False) -> SoftmaxRegressionModel:
    r"""Fit softmax regression to the minimum of its penalised objective with L-BFGS-B.

    The objective, with per-sample loss :math:`\ell_i` (cross-entropy, label-smoothed
    or focal) and optional class weights :math:`w_k`, is

    .. math::

        J(W, b) = \frac{\sum_i w_{y_i} \ell_i(x_i W + b)}{\sum_i w_{y_i}}
                  + \frac{\lambda}{2} \lVert W \rVert_F^2 ,

    the weighted mean of PyTorch's ``cross_entropy(weight=)`` (all
    :math:`w_k = 1` by default) plus the L2 penalty of
    :func:`train_softmax_regression`. The gradient is
    :math:`\nabla_W J = X^\top G + \lambda W`, :math:`\nabla_b J = \sum_i G_i`,
    with :math:`G_i = w_{y_i} \, \partial \ell_i / \partial z_i / \sum_j w_{y_j}` from
    :func:`~softmax_nb.losses.cross_entropy_grad` or
    :func:`~softmax_nb.losses.focal_loss_grad`, and
    :func:`scipy.optimize.minimize` (``method='L-BFGS-B'``) runs from zero
    weights until every entry of the gradient is below ``tol`` in size. For ``loss='ce'``
    and :math:`\lambda > 0` the objective is convex and its minimiser in
    :math:`W` unique, so the result does not depend on a seed or a learning
    rate; for ``loss='focal'`` (not convex) it is the local minimum reached
    from zero.

    Parameters
    ----------
    X, y, num_classes, weight_decay, label_smoothing, loss, gamma
        As :func:`train_softmax_regression`.
    class_weight : array_like, optional
        Non-negative weights :math:`w_k`, one per class (``None``: all 1).
    tol : float, default 1e-6
        Stop when :math:`\max |\nabla J| \le` ``tol`` (``gtol`` of L-BFGS-B).
    max_iter : int, default 5000
        Iteration cap of L-BFGS-B.
    center : bool, default False
        Minimise over the centred features :math:`x - \bar x` (:math:`\bar x` the mean training row) and
        return :math:`b = b_c - \bar x W`. Because :math:`b` is not penalised this is an exact change of
        variables, :math:`x W + b = (x - \bar x) W + b_c`, with the same minimiser and the same zero start; it
        only makes the problem better conditioned, so L-BFGS-B needs several times fewer iterations on
        features far from zero mean (pixels). ``tol`` then bounds the gradient in the centred variables,
        and the result agrees with ``center=False`` to within the stopping accuracy, not bit for bit.

    Returns
    -------
    SoftmaxRegressionModel
        ``W``, ``b`` and an empty :class:`History` (no epochs).

    Raises
    ------
    ValueError
        As :func:`train_softmax_regression`, for bad ``class_weight``, or if
        L-BFGS-B stops with a gradient entry above ``max(10 * tol, 1e-6)``.
    """
    from ._checks import check_class_weights

    Xa, ya, k = _check_data(X, y, num_classes)
    lam = check_nonnegative(weight_decay, "weight_decay")
    iters = check_positive_int(max_iter, "max_iter")
    gtol = check_nonnegative(tol, "tol")
    if not gtol > 0:
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    shift = Xa.mean(axis=0) if check_bool(center, "center") else None
    if shift is not None:
        Xa = Xa - shift
    objective = _Objective(loss, label_smoothing, gamma)
    w_class = np.ones(k) if class_weight is None else check_class_weights(class_weight, k, "class_weight")
    w = w_class[ya]
    if not w.sum() > 0:
        raise ValueError("class_weight must give positive total weight to the training labels")
    w = w / w.sum()
    n, d = Xa.shape
    rows = np.arange(n)

    def fun(theta: Array) -> tuple[float, Array]:
        W, b = theta[:d * k].reshape(d, k), theta[d * k:]
        z = Xa @ W + b
        if objective.loss == "ce":
            # cross_entropy and cross_entropy_grad in one pass (inputs already validated):
            # log p = z - max - log sum exp(z - max), gradient p - y~
            shifted = z - z.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            s = e.sum(axis=1, keepdims=True)
            logp = shifted - np.log(s)
            per = -(1.0 - objective.eps) * logp[rows, ya] - objective.eps * logp.mean(axis=1)
            g = e / s
            g[rows, ya] -= 1.0 - objective.eps
            g -= objective.eps / k
        else:
            per = focal_loss(z, ya, gamma=objective.gamma, reduction="none")
            g = focal_loss_grad(z, ya, gamma=objective.gamma, reduction="none")
        g = g * w[:, None]
        value = float(w @ per) + 0.5 * lam * float(np.sum(W * W))
        return value, np.concatenate([(Xa.T @ g + lam * W).ravel(), g.sum(axis=0)])

    theta = _minimize_lbfgs(fun, d * k + k, iters, gtol)
    W, b = theta[:d * k].reshape(d, k).copy(), theta[d * k:].copy()
    if shift is not None:
        b -= shift @ W
    return SoftmaxRegressionModel(W, b, History())


def _minimize_lbfgs(fun: Callable[[Array], tuple[float, Array]], size: int, iters: int, gtol: float) -> Array:
    """Minimise ``fun`` (value and gradient) with L-BFGS-B from zeros; return the minimiser."""
    from scipy.optimize import minimize

    with _single_threaded_blas():
        res = minimize(fun, np.zeros(size), jac=True, method="L-BFGS-B",
                       options={"maxiter": iters, "maxfun": 2 * iters, "ftol": 0.0, "gtol": gtol})
    # L-BFGS-B can stop "abnormally" when rounding stalls its line search just above a tiny tol: accept that
    # if the gradient is within max(10 tol, 1e-6) of zero; anything worse is a real failure.
    if not res.success and np.abs(res.jac).max() > max(10 * gtol, 1e-6):
        raise ValueError(f"L-BFGS-B did not converge (max |gradient| {np.abs(res.jac).max():.2e}): {res.message}")
    return res.x


def _log_softmax_columns(z: Array) -> tuple[Array, Array]:
    """``(log p, p)`` of ``softmax`` over axis 0 (classes in rows: fast reductions for small ``K``)."""
    shifted = z - z.max(axis=0)
    e = np.exp(shifted)
    s = e.sum(axis=0)
    return shifted - np.log(s), e / s


def distill_softmax_regression(X: ArrayLike, y: ArrayLike, teacher_logits: ArrayLike, temperature: float = 4.0,
                               hard_weight: float = 0.0, weight_decay: float = 1e-4, tol: float = 1e-6,
                               max_iter: int = 5000) -> SoftmaxRegressionModel:
    r"""Distil a teacher into a softmax-regression student, fitted to the optimum with L-BFGS-B.

    The student's logits are :math:`z = x W + b`. With temperature :math:`T`,
    the teacher's softened probabilities :math:`q = \operatorname{softmax}(t / T)`
    (``t`` the teacher's logits) and the hard-label weight :math:`\beta`, the
    objective is that of Hinton et al. (2015),

    .. math::

        J(W, b) = \frac{1}{n} \sum_{i=1}^{n} \Big[
            \beta\, \operatorname{CE}\big(y_i, \operatorname{softmax}(z_i)\big)
            + (1 - \beta)\, T^2\, \operatorname{CE}\big(q_i, \operatorname{softmax}(z_i / T)\big)
        \Big] + \frac{\lambda}{2} \lVert W \rVert_F^2 ,

    where the student is softened by the same :math:`T` in the soft term and
    :math:`T^2` keeps the soft term's gradient on the scale of the hard one. The
    logit gradient of sample :math:`i` is
    :math:`\big[\beta (p_i - y_i) + (1 - \beta)\, T\, (\operatorname{softmax}(z_i / T) - q_i)\big] / n`,
    with :math:`p_i = \operatorname{softmax}(z_i)` and one-hot :math:`y_i`.
    :math:`J` is convex in :math:`(W, b)`, and strictly convex in :math:`W` for
    :math:`\lambda > 0`, so the result depends on no seed or learning rate. The
    student is used at temperature 1: its predictions are
    :math:`\operatorname{softmax}(z)`.

    Parameters
    ----------
    X : array_like
        Features, shape ``(n, D)``.
    y : array_like of int
        Hard labels in ``[0, K)``, shape ``(n,)`` (unused when ``hard_weight=0``,
        but still checked).
    teacher_logits : array_like
        The teacher's logits on ``X``, shape ``(n, K)``, finite.
    temperature : float, default 4.0
        :math:`T > 0`.
    hard_weight : float, default 0.0
        :math:`\beta \in [0, 1]`; 0 trains on the soft targets only, 1 ignores
        the teacher (the objective of :func:`fit_softmax_regression`).
    weight_decay : float, default 1e-4
        :math:`\lambda \ge 0`.
    tol, max_iter
        As :func:`fit_softmax_regression`.

    Returns
    -------
    SoftmaxRegressionModel
        ``W`` (D, K), ``b`` (K,) and an empty :class:`History`.

    Raises
    ------
    ValueError
        For a bad shape or value of any argument (the message names it), or if
        L-BFGS-B does not converge.
    """
    t = as_float_array(teacher_logits, "teacher_logits").astype(np.float64, copy=False)
    if t.ndim != 2 or t.shape[1] < 2:
        raise ValueError(f"teacher_logits must be a 2-D array (n, K) with K >= 2, got shape {t.shape}")
    check_finite(t, "teacher_logits")
    Xa, ya, k = _check_data(X, y, t.shape[1])
    if t.shape[0] != Xa.shape[0]:
        raise ValueError(f"teacher_logits must have one row per sample of X ({Xa.shape[0]}), got {t.shape[0]}")
    T = check_temperature(temperature)
    beta = check_unit_interval(hard_weight, "hard_weight")
    lam = check_nonnegative(weight_decay, "weight_decay")
    iters = check_positive_int(max_iter, "max_iter")
    gtol = check_nonnegative(tol, "tol")
    if not gtol > 0:
        raise ValueError(f"tol must be a finite number > 0, got {tol!r}")
    n, d = Xa.shape
    # classes in rows ((K, n) arrays) so that every softmax reduction runs over K short rows
    XT = np.ascontiguousarray(Xa.T)
    Y = np.zeros((k, n))
    Y[ya, np.arange(n)] = 1.0
    Q = _log_softmax_columns(t.T / T)[1]

    def fun(theta: Array) -> tuple[float, Array]:
        W, b = theta[:d * k].reshape(d, k), theta[d * k:]
        z = W.T @ XT + b[:, None]
        value, g = 0.5 * lam * float(np.sum(W * W)), np.zeros((k, n))
        if beta > 0:
            logp, p = _log_softmax_columns(z)
            value -= beta * float(np.sum(Y * logp)) / n
            g += (beta / n) * (p - Y)
        if beta < 1:
            logp_t, p_t = _log_softmax_columns(z / T)
            value -= (1.0 - beta) * T * T * float(np.sum(Q * logp_t)) / n
            g += ((1.0 - beta) * T / n) * (p_t - Q)
        return value, np.concatenate([(g @ Xa).T.ravel() + lam * W.ravel(), g.sum(axis=1)])

    theta = _minimize_lbfgs(fun, d * k + k, iters, gtol)
    return SoftmaxRegressionModel(theta[:d * k].reshape(d, k).copy(), theta[d * k:].copy(), History())


def train_mlp(X: ArrayLike, y: ArrayLike, num_classes: int | None = None, hidden: int = 64,
              activation: str = "relu", epochs: int = 200, lr: float = 0.1, batch_size: int = 32,
              weight_decay: float = 0.0, seed: int = 0, label_smoothing: float = 0.0, loss: str = "ce",
              gamma: float = 2.0, X_val: ArrayLike | None = None, y_val: ArrayLike | None = None,
              momentum: float = 0.9, focal_alpha: ArrayLike | None = None) -> MLPModel:
    r"""Fit a one-hidden-layer MLP :math:`z = \phi(X W_1 + b_1) W_2 + b_2` by mini-batch SGD.

    Backpropagation with :math:`G = \partial \ell / \partial z`, :math:`h =
    \phi(a_1)`:

    .. math::

        \nabla_{W_2} = h^\top G, \quad \nabla_{b_2} = \textstyle\sum_i G_i, \quad
        \delta = (G W_2^\top) \odot \phi'(a_1), \quad
        \nabla_{W_1} = X^\top \delta, \quad \nabla_{b_1} = \textstyle\sum_i \delta_i .

    Weights are initialised from ``seed`` (He-normal for ReLU, Glorot-normal
    for tanh; biases 0). The defaults (no weight decay, 200 epochs) drive
    the training loss to nearly 0, which makes the model *over-confident* on
    held-out data: the setting the temperature-scaling chapter needs.

    Parameters
    ----------
    X, y, num_classes, epochs, lr, batch_size, weight_decay, seed, label_smoothing, loss, gamma, X_val, y_val, momentum, focal_alpha
        As :func:`train_softmax_regression` (defaults differ: ``epochs=200``,
        ``lr=0.1``, ``batch_size=32``, ``weight_decay=0``).
    hidden : int, default 64
        Width ``H`` of the hidden layer.
    activation : {'relu', 'tanh'}, default 'relu'

    Returns
    -------
    MLPModel
        The weights and the per-epoch :class:`History`.
    """
    Xa, ya, k, Xv, yv = _common(X, y, num_classes, epochs, lr, batch_size, momentum, weight_decay, X_val, y_val)
    check_choice(activation, tuple(_ACTIVATIONS), "activation")
    h = check_positive_int(hidden, "hidden")
    objective = _Objective(loss, label_smoothing, gamma, focal_alpha)
    phi, dphi = _ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    d = Xa.shape[1]
    scale1, scale2 = ((2.0 / d) ** 0.5, (2.0 / h) ** 0.5) if activation == "relu" else \
        ((2.0 / (d + h)) ** 0.5, (2.0 / (h + k)) ** 0.5)
    params = {"W1": rng.normal(0.0, scale1, (d, h)), "b1": np.zeros(h),
              "W2": rng.normal(0.0, scale2, (h, k)), "b2": np.zeros(k)}

    def forward(p: dict[str, Array], Xb: Array) -> Array:
        return phi(Xb @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]

    def backward(p: dict[str, Array], Xb: Array, yb: NDArray) -> dict[str, Array]:
        hb = phi(Xb @ p["W1"] + p["b1"])
        g = objective.grad(hb @ p["W2"] + p["b2"], yb)
        delta = (g @ p["W2"].T) * dphi(hb)
        return {"W1": Xb.T @ delta, "b1": delta.sum(axis=0), "W2": hb.T @ g, "b2": g.sum(axis=0)}

    history = _sgd(params, backward, forward, objective, Xa, ya, Xv, yv, epochs, float(lr), batch_size,
                   float(momentum), float(weight_decay), rng)
    return MLPModel(params["W1"], params["b1"], params["W2"], params["b2"], activation, history)


def template_plane(model: MLPModel, X: ArrayLike, classes: ArrayLike) -> tuple[Array, Array]:
    r"""Project an MLP's hidden activations onto the plane through three class templates (Müller et al., 2019).

    The *template* of class :math:`k` is its column :math:`w_k` of the output
    weights ``W2`` (the logit is :math:`z_k = h \cdot w_k + b_k`). For classes
    :math:`(a, b, c)`, Gram-Schmidt on :math:`w_b - w_a` and :math:`w_c - w_a`
    gives an orthonormal basis :math:`(e_1, e_2)` of the plane through the three
    templates, and each hidden activation :math:`h = \phi(x W_1 + b_1)` is mapped
    to its coordinates in that plane relative to the templates' centroid
    :math:`m = (w_a + w_b + w_c)/3`:

    .. math::

        \big((h - m) \cdot e_1,\; (h - m) \cdot e_2\big) .

    Parameters
    ----------
    model : MLPModel
        A trained MLP (from :func:`train_mlp`).
    X : array_like
        Inputs, shape ``(n, D)``.
    classes : array_like of int
        Three distinct class indices in ``[0, K)``.

    Returns
    -------
    points : numpy.ndarray
        The projected activations, shape ``(n, 2)``.
    templates : numpy.ndarray
        The projected templates, shape ``(3, 2)``, in the order of ``classes``.

    Raises
    ------
    ValueError
        For ``classes`` that are not three distinct indices in ``[0, K)``, for
        templates on one line, or for ``X`` of the wrong shape.
    """
    if not isinstance(model, MLPModel):
        raise ValueError(f"model must be an MLPModel (from train_mlp), got {type(model).__name__}")
    k = model.W2.shape[1]
    cls = np.asarray(classes)
    if cls.shape != (3,) or cls.dtype.kind not in "iu" or len(set(cls.tolist())) != 3 \
            or cls.min() < 0 or cls.max() >= k:
        raise ValueError(f"classes must be three distinct integers in [0, {k}), got {classes!r}")
    Xa = as_float_array(X, "X").astype(np.float64, copy=False)
    if Xa.ndim != 2 or Xa.shape[1] != model.W1.shape[0]:
        raise ValueError(f"X must be a 2-D array (n, {model.W1.shape[0]}), got shape {Xa.shape}")
    check_finite(Xa, "X")
    w = model.W2[:, cls].T                         # (3, H): one template per row
    u, v = w[1] - w[0], w[2] - w[0]
    e1 = u / np.linalg.norm(u)
    v_perp = v - (v @ e1) * e1
    norm_v = np.linalg.norm(v_perp)
    if not norm_v > 1e-12 * np.linalg.norm(v):
        raise ValueError("the three templates lie on one line: they span no plane")
    basis = np.stack([e1, v_perp / norm_v], axis=1)    # (H, 2), orthonormal
    centre = w.mean(axis=0)
    return (model.hidden(Xa) - centre) @ basis, (w - centre) @ basis
