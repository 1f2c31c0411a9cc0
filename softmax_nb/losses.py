r"""Classification losses built on :func:`~softmax_nb.core.log_softmax`, and their gradients.

Every loss is computed from log-probabilities (``log_softmax`` or the
log-sigmoid identity), never as ``log(softmax(z))``, so it stays finite for
logits of :math:`\pm 10^4` and for ``-inf`` logits of classes that are not
the target. The semantics match PyTorch where PyTorch has the same function
(:func:`torch.nn.functional.cross_entropy`,
:func:`torch.nn.functional.binary_cross_entropy_with_logits`,
:func:`torchvision.ops.sigmoid_focal_loss`).

``reduction`` is ``'mean'`` (average over samples), ``'sum'`` or ``'none'``
(one loss per sample).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (
    as_float_array,
    check_axis,
    check_class_weights,
    check_finite,
    check_labels,
    check_nonnegative,
    check_positive_int,
    check_probabilities,
    check_reduction,
    check_same_shape,
    check_sigmoid_alpha,
    check_unit_interval,
)
from .core import log_softmax, sigmoid, softmax

__all__ = [
    "one_hot",
    "smooth_labels",
    "cross_entropy",
    "cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "focal_loss",
    "focal_loss_grad",
    "sigmoid_focal_loss",
]


def _reduce(loss: NDArray[np.floating], reduction: str) -> NDArray[np.floating]:
    """Apply ``'mean'``, ``'sum'`` or ``'none'`` to per-sample losses."""
    if reduction == "mean":
        return np.mean(loss)
    if reduction == "sum":
        return np.sum(loss)
    return loss


def one_hot(labels: ArrayLike, num_classes: int) -> NDArray[np.float64]:
    r"""One-hot encode integer class labels.

    .. math::

        y_{\dots, k} = [\,k = \text{labels}_{\dots}\,], \qquad k = 0, \dots, K-1 .

    Parameters
    ----------
    labels : array_like of int
        Class indices in ``[0, num_classes)``, any shape.
    num_classes : int
        ``K``, the number of classes (>= 1).

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``labels.shape + (K,)``.

    Examples
    --------
    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    k = check_positive_int(num_classes, "num_classes")
    idx = check_labels(labels, k)
    return (idx[..., None] == np.arange(k)).astype(np.float64)


def smooth_labels(labels: ArrayLike, num_classes: int, alpha: float) -> NDArray[np.float64]:
    r"""Label-smoothed targets, the convention of ``cross_entropy(..., label_smoothing=alpha)``.

    .. math::

        \tilde y = (1 - \alpha)\, \mathrm{onehot}(y) + \frac{\alpha}{K} .

    The true class gets :math:`1 - \alpha + \alpha/K`, every other class
    :math:`\alpha/K`; each row still sums to 1.

    Parameters
    ----------
    labels : array_like of int
        Class indices in ``[0, num_classes)``.
    num_classes : int
        ``K``.
    alpha : float
        Smoothing :math:`\alpha \in [0, 1]`.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``labels.shape + (K,)``.
    """
    a = check_unit_interval(alpha, "alpha")
    y = one_hot(labels, num_classes)
    return (1.0 - a) * y + a / y.shape[-1]


def _targets(z: NDArray[np.floating], target: ArrayLike, axis: int) -> tuple[NDArray, bool]:
    """Classify ``target`` as probability rows (same shape as ``z``) or labels (class axis removed)."""
    t = np.asarray(target)
    label_shape = z.shape[:axis] + z.shape[axis + 1:]
    if t.shape == z.shape:
        t = as_float_array(t, "target")
        check_probabilities(t, "target")
        return t, True
    if t.shape == label_shape:
        return check_labels(t, z.shape[axis], "target"), False
    raise ValueError(f"target must be class labels of shape {label_shape} or probabilities of shape {z.shape} "
                     f"(logits shape with class axis {axis}), got shape {t.shape}")


def cross_entropy(logits: ArrayLike, target: ArrayLike, axis: int = -1, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> NDArray[np.floating]:
    r"""Softmax cross-entropy, as :func:`torch.nn.functional.cross_entropy`.

    With :math:`\log p = \operatorname{log\_softmax}(z)` and label smoothing
    :math:`\alpha`, the smoothed target puts :math:`\alpha/K` on every
    class (the true one included):

    .. math::

        \tilde y = (1 - \alpha)\, y + \frac{\alpha}{K}, \qquad
        \ell = -\sum_{k=1}^{K} \tilde y_k \log p_k .

    For a label :math:`c` and :math:`\alpha = 0` this is
    :math:`-\log p_c = \operatorname{LSE}(z) - z_c`.

    Parameters
    ----------
    logits : array_like
        Logits ``z``; the class axis is ``axis`` (use ``axis=1`` for PyTorch's
        ``(N, K, d1, ...)`` layout).
    target : array_like
        Either integer class labels in ``[0, K)`` with the shape of ``logits``
        without the class axis, or probability rows with the shape of
        ``logits`` (entries in [0, 1]; like PyTorch, rows are not required to
        sum to 1, and smoothing is applied to them too).
    axis : int, default -1
        The class axis of ``logits`` (and of probability targets).
    label_smoothing : float, default 0.0
        :math:`\alpha \in [0, 1]`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` divides the sum by the number of samples (the number of
        elements of the unreduced loss); ``'none'`` returns it unreduced.

    Returns
    -------
    numpy.ndarray
        A numpy scalar, or the per-sample losses (``logits`` shape without the
        class axis) for ``reduction='none'``. A ``-inf`` logit of a non-target
        class is fine (it contributes nothing), unless smoothing or a soft
        target puts mass on it, in which case the loss is ``+inf`` — the
        exact value, never NaN.

    Raises
    ------
    ValueError
        For labels outside ``[0, K)``, ``label_smoothing`` outside [0, 1], an
        unknown ``reduction``, a ``target`` whose shape fits neither form,
        probabilities outside [0, 1] or non-finite, or logits with NaN/``+inf``
        or an all ``-inf`` slice.

    Examples
    --------
    >>> round(float(cross_entropy([[2.0, 0.0, -1.0]], [0])), 4)
    0.1698
    """
    z = as_float_array(logits, "logits")
    axis = check_axis(z, axis, "logits")
    eps = check_unit_interval(label_smoothing, "label_smoothing")
    check_reduction(reduction)
    t, is_prob = _targets(z, target, axis)
    logp = log_softmax(z, axis=axis)
    k = z.shape[axis]
    if is_prob:
        y = (1.0 - eps) * t + eps / k if eps > 0 else t
        # 0 * (-inf) must give 0, not NaN: only take logs where the target has mass.
        loss = -np.sum(y * np.where(y > 0, logp, 0.0), axis=axis)
    else:
        loss = -np.squeeze(np.take_along_axis(logp, np.expand_dims(t, axis), axis=axis), axis=axis)
        if eps > 0:
            # eps = 1 keeps only the uniform part (and avoids 0 * inf when log p_c = -inf).
            nll = (1.0 - eps) * loss if eps < 1 else np.zeros_like(loss)
            loss = nll - eps * np.mean(logp, axis=axis)
    return _reduce(loss, reduction)


def cross_entropy_grad(logits: ArrayLike, target: ArrayLike, label_smoothing: float = 0.0,
                       reduction: str = "mean") -> NDArray[np.floating]:
    r"""Gradient of :func:`cross_entropy` with respect to the logits (class axis last).

    .. math::

        \frac{\partial \ell}{\partial z} = \frac{1}{N}\big(\operatorname{softmax}(z) - \tilde y\big),
        \qquad \tilde y = (1 - \alpha)\, y + \frac{\alpha}{K},

    where :math:`N` is the number of samples for ``reduction='mean'`` and
    :math:`N = 1` for ``'sum'``. For ``'none'`` each sample's row is the
    gradient of its own loss (also :math:`N = 1`).

    Parameters
    ----------
    logits : array_like
        Logits of shape ``(..., K)``: here the class axis is always the last.
    target : array_like
        Labels of shape ``(...)`` or probabilities of shape ``(..., K)``.
    label_smoothing : float, default 0.0
        :math:`\alpha \in [0, 1]`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Returns
    -------
    numpy.ndarray
        Array of the shape of ``logits``.

    Raises
    ------
    ValueError
        As :func:`cross_entropy`.
    """
    z = as_float_array(logits, "logits")
    check_axis(z, -1, "logits")
    eps = check_unit_interval(label_smoothing, "label_smoothing")
    check_reduction(reduction)
    t, is_prob = _targets(z, target, z.ndim - 1)
    k = z.shape[-1]
    y = t if is_prob else one_hot(t, k)
    if eps > 0:
        y = (1.0 - eps) * y + eps / k
    grad = softmax(z, axis=-1) - y
    if reduction == "mean":
        grad /= max(1, z.size // k)
    return grad


def binary_cross_entropy_with_logits(logits: ArrayLike, targets: ArrayLike,
                                     reduction: str = "mean") -> NDArray[np.floating]:
    r"""Binary cross-entropy of a sigmoid, computed from the logits.

    .. math::

        \ell = -\big[y \log \sigma(x) + (1 - y) \log(1 - \sigma(x))\big]
             = \max(x, 0) - x\,y + \log\!\big(1 + e^{-|x|}\big) .

    The right-hand form never exponentiates a positive number, so it is
    finite for any finite ``x``. Matches
    :func:`torch.nn.functional.binary_cross_entropy_with_logits` (without
    ``weight``/``pos_weight``).

    Parameters
    ----------
    logits : array_like
        Finite logits ``x`` of any shape.
    targets : array_like
        Targets ``y`` in [0, 1] of the same shape (soft targets allowed).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` averages over all elements.

    Returns
    -------
    numpy.ndarray
        A numpy scalar, or the elementwise losses for ``'none'``.

    Raises
    ------
    ValueError
        If shapes differ, ``targets`` leave [0, 1], an input is not finite,
        or ``reduction`` is unknown.
    """
    x = as_float_array(logits, "logits")
    y = as_float_array(targets, "targets")
    check_same_shape(x, y, "logits", "targets")
    check_reduction(reduction)
    check_finite(x, "logits")
    check_probabilities(y, "targets")
    loss = np.maximum(x, 0.0) - x * y + np.log1p(np.exp(-np.abs(x)))
    return _reduce(loss, reduction)


def _focal_parts(logits: ArrayLike, target: ArrayLike, gamma: float, alpha: ArrayLike | None, reduction: str):
    """Validate focal-loss arguments; return log p_t, alpha_t, labels, logits and gamma."""
    z = as_float_array(logits, "logits")
    check_axis(z, -1, "logits")
    g = check_nonnegative(gamma, "gamma")
    check_reduction(reduction)
    k = z.shape[-1]
    t = np.asarray(target)
    if t.shape != z.shape[:-1]:
        raise ValueError(f"target must be integer class labels of shape {z.shape[:-1]} "
                         f"(logits shape {z.shape} without the last axis), got shape {t.shape}")
    labels = check_labels(t, k, "target")
    alpha_t = None if alpha is None else check_class_weights(alpha, k)[labels]
    logp = log_softmax(z, axis=-1)
    logp_t = np.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
    return logp, logp_t, alpha_t, labels, g


def focal_loss(logits: ArrayLike, target: ArrayLike, gamma: float = 2.0, alpha: ArrayLike | None = None,
               reduction: str = "mean") -> NDArray[np.floating]:
    r"""Multi-class focal loss (Lin et al., 2017) on softmax probabilities.

    .. math::

        \mathrm{FL} = -\alpha_t\, (1 - p_t)^{\gamma} \log p_t,
        \qquad p_t = \operatorname{softmax}(z)_t .

    :math:`\log p_t` comes from ``log_softmax`` and :math:`1 - p_t` is
    computed as ``-expm1(log p_t)``, so the loss is accurate for confident
    predictions and finite for logits of :math:`\pm 10^4`. With
    :math:`\gamma = 0` and no ``alpha`` it equals :func:`cross_entropy`
    exactly.

    Parameters
    ----------
    logits : array_like
        Logits of shape ``(..., K)`` (class axis last), e.g. ``(N, K)``.
    target : array_like of int
        Labels in ``[0, K)`` of shape ``(...)``, e.g. ``(N,)``.
    gamma : float, default 2.0
        Focusing parameter :math:`\gamma \ge 0`.
    alpha : array_like, optional
        Per-class weights (length ``K``, each >= 0); :math:`\alpha_t` is the
        weight of the sample's true class. ``None`` means all 1.
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Returns
    -------
    numpy.ndarray
        A numpy scalar, or per-sample losses of shape ``(...)`` for ``'none'``.

    Raises
    ------
    ValueError
        For labels outside ``[0, K)``, a target of the wrong shape,
        :math:`\gamma < 0`, a bad ``alpha`` vector or an unknown ``reduction``.
    """
    _, logp_t, alpha_t, _, g = _focal_parts(logits, target, gamma, alpha, reduction)
    one_minus = -np.expm1(logp_t)  # 1 - p_t, accurate when p_t is close to 1
    loss = -(one_minus**g) * logp_t
    if alpha_t is not None:
        loss = alpha_t * loss
    return _reduce(loss + 0.0, reduction)  # + 0.0 turns -0.0 (at p_t = 1) into 0.0


def focal_loss_grad(logits: ArrayLike, target: ArrayLike, gamma: float = 2.0, alpha: ArrayLike | None = None,
                    reduction: str = "mean") -> NDArray[np.floating]:
    r"""Gradient of :func:`focal_loss` with respect to the logits (class axis last).

    Using :math:`\partial p_t / \partial z_j = p_t(\delta_{jt} - p_j)`:

    .. math::

        \frac{\partial\, \mathrm{FL}}{\partial z_j}
        = \alpha_t \big[\gamma (1 - p_t)^{\gamma - 1} p_t \log p_t - (1 - p_t)^{\gamma}\big]
          (\delta_{jt} - p_j)
        = \alpha_t (1 - p_t)^{\gamma} \Big[\gamma\, \frac{p_t \log p_t}{1 - p_t} - 1\Big]
          (\delta_{jt} - p_j) .

    The second form is the one computed: :math:`p_t \log p_t / (1 - p_t)`
    tends to :math:`-1` as :math:`p_t \to 1` and to 0 as :math:`p_t \to 0`, so
    no negative power of :math:`1 - p_t` appears (safe for :math:`\gamma < 1`).
    For :math:`\gamma = 0` it reduces to :math:`\alpha_t(p - y)`. Divided by
    the number of samples for ``reduction='mean'``; for ``'none'`` each row
    is the gradient of its own sample's loss.

    Parameters
    ----------
    logits, target, gamma, alpha, reduction
        As :func:`focal_loss`.

    Returns
    -------
    numpy.ndarray
        Array of the shape of ``logits``.
    """
    logp, logp_t, alpha_t, labels, g = _focal_parts(logits, target, gamma, alpha, reduction)
    p = np.exp(logp)
    p_t = np.exp(logp_t)
    one_minus = -np.expm1(logp_t)
    safe = (one_minus > 0) & (p_t > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(safe, p_t * np.where(safe, logp_t, 0.0) / np.where(safe, one_minus, 1.0), 0.0)
    ratio = np.where(one_minus == 0, -1.0, ratio)
    factor = one_minus ** g * (g * ratio - 1.0)
    if alpha_t is not None:
        factor = alpha_t * factor
    grad = factor[..., None] * (one_hot(labels, p.shape[-1]) - p) + 0.0  # no -0.0 entries
    if reduction == "mean":
        grad /= max(1, labels.size)
    return grad


def sigmoid_focal_loss(logits: ArrayLike, targets: ArrayLike, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: str = "none") -> NDArray[np.floating]:
    r"""Binary (per-logit) focal loss, as :func:`torchvision.ops.sigmoid_focal_loss`.

    With :math:`p = \sigma(x)` and the binary cross-entropy
    :math:`\mathrm{CE}` of :func:`binary_cross_entropy_with_logits`,

    .. math::

        p_t = p\,y + (1 - p)(1 - y), \qquad
        \ell = \alpha_t\, (1 - p_t)^{\gamma}\, \mathrm{CE}(x, y), \qquad
        \alpha_t = \alpha y + (1 - \alpha)(1 - y) .

    :math:`1 - p_t` is computed as :math:`p(1 - y) + \sigma(-x)\,y`, which
    avoids the cancellation in ``1 - p_t`` when :math:`p_t \approx 1`.

    Parameters
    ----------
    logits : array_like
        Finite logits ``x`` of any shape.
    targets : array_like
        Targets ``y`` in [0, 1] of the same shape (soft targets allowed).
    alpha : float, default 0.25
        Weight of the positive class, :math:`\alpha \le 1`; a negative value
        turns the weighting off (:math:`\alpha_t = 1`), as in torchvision.
    gamma : float, default 2.0
        :math:`\gamma \ge 0`.
    reduction : {'none', 'mean', 'sum'}, default 'none'
        torchvision's default is ``'none'``: elementwise losses.

    Returns
    -------
    numpy.ndarray
        Elementwise losses, or a numpy scalar for ``'mean'``/``'sum'``.

    Raises
    ------
    ValueError
        As :func:`binary_cross_entropy_with_logits`, plus :math:`\gamma < 0`
        or :math:`\alpha > 1`.
    """
    a = check_sigmoid_alpha(alpha)
    g = check_nonnegative(gamma, "gamma")
    check_reduction(reduction)
    ce = binary_cross_entropy_with_logits(logits, targets, reduction="none")
    x = as_float_array(logits, "logits")
    y = as_float_array(targets, "targets")
    one_minus_pt = sigmoid(x) * (1.0 - y) + sigmoid(-x) * y
    loss = ce * one_minus_pt**g
    if a >= 0:
        loss = (a * y + (1.0 - a) * (1.0 - y)) * loss
    return _reduce(loss, reduction)
