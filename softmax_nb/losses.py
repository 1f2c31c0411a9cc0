r"""Classification losses built on :func:`~softmax_nb.core.log_softmax`, and their gradients.

Every loss is computed from log-probabilities (``log_softmax`` or the
log-sigmoid identity), never as ``log(softmax(z))``, so it stays finite for
logits of :math:`\pm 10^4` and for ``-inf`` logits of classes that are not
the target. The semantics match PyTorch where PyTorch has the same function
(:func:`torch.nn.functional.cross_entropy` with ``weight``, ``ignore_index``,
``label_smoothing`` and probability targets,
:func:`torch.nn.functional.binary_cross_entropy_with_logits` with ``weight``
and ``pos_weight``, and torchvision's ``sigmoid_focal_loss``); the deliberate
differences (errors where PyTorch returns NaN, exact values where it computes
``0 * inf``) are listed in each docstring.

``reduction`` is ``'mean'`` (average over samples, weighted as PyTorch
weights it), ``'sum'`` or ``'none'`` (one loss per sample). Sums and means
accumulate in float64. float16/float32/float64 input gives a result of the
same dtype (float16 is computed in float32); integers and booleans give
float64. A loss beyond the dtype's largest finite number is ``+inf``.

**Deliberate differences from torch.nn.functional** (``cross_entropy``,
``binary_cross_entropy_with_logits``), each tested in
``tests/test_parity_torch.py``:

==================================  ==============================  =================================
input or option                     torch.nn.functional             softmax_nb.losses
==================================  ==============================  =================================
``ignore_index`` default            ``-100`` (labels -100 skipped)  ``None`` (a label -100 raises)
'mean' over total weight 0          ``nan``, silently               ``nan`` with a ``RuntimeWarning``
target mass 0 on a ``-inf`` logit   ``nan`` (0 * -inf)              exact finite loss
class weight 0 on a ``-inf`` logit  ``nan`` (0 * -inf)              exact finite loss
all ``-inf`` class slice            ``nan``                         ``ValueError``
NaN or ``+inf`` logits              ``nan``                         ``ValueError``
BCE: ``-inf`` or ``+inf`` logits    ``nan``                         ``ValueError``
negative or NaN ``weight``          accepted                        ``ValueError``
probabilities outside [0, 1]        accepted                        ``ValueError``
mixed logits/target dtypes          promoted (e.g. to float64)      the logits' dtype
float16 logits                      float16 log-probabilities       computed in float32, rounded once
integer logits                      ``NotImplementedError``         float64
BCE with ``pos_weight``             may overflow to ``inf``         finite when the loss is
float32 class or batch sums         may overflow to ``inf``         in float64: finite when result is
class axis                          ``dim=1`` (0 for 1-D input)     ``axis`` (default ``-1``)
==================================  ==============================  =================================
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from types import FrameType
from typing import Any, Callable

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


def _reduce(loss: NDArray[np.floating], reduction: str) -> NDArray[np.floating] | np.floating:
    """Apply ``'mean'``, ``'sum'`` or ``'none'`` to per-sample losses (sums accumulate in float64)."""
    if reduction == "mean":
        if loss.size == 0:
            _warn_empty_mean("loss")
            return loss.dtype.type(np.nan)
        return np.mean(loss, dtype=np.float64)
    if reduction == "sum":
        return np.sum(loss, dtype=np.float64)
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


def _inf_on_overflow(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a loss with numpy's overflow warning off: a loss beyond the dtype's range is +inf, correctly rounded."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore"):
            return func(*args, **kwargs)
    return wrapper


def _work_dtype(z: NDArray[np.floating]) -> np.dtype:
    """The dtype a loss is computed in: float32 for float16 input, else the input's own dtype."""
    return np.dtype(np.float32) if z.dtype == np.float16 else z.dtype


def _as_out(value: NDArray[np.floating] | np.floating, dtype: np.dtype) -> Any:
    """Cast a result (array or numpy scalar) from the work dtype back to the input's dtype."""
    return value.astype(dtype, copy=False) if isinstance(value, np.ndarray) else dtype.type(value)


def _check_ignore_index(ignore_index: Any) -> int | None:
    """Return ``ignore_index`` as a Python int (or None), rejecting non-integers and booleans."""
    if ignore_index is None:
        return None
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise ValueError(f"ignore_index must be None or an integer (a target value to skip, "
                         f"e.g. -100 as in PyTorch), got {ignore_index!r}")
    return int(ignore_index)


def _check_broadcast_weight(weight: ArrayLike, shape: tuple[int, ...], name: str) -> NDArray[np.floating]:
    """Return finite, non-negative weights that broadcast to ``shape`` without enlarging it."""
    arr = as_float_array(weight, name)
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must broadcast to the logits shape {shape}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or (arr.size and arr.min() < 0.0):
        raise ValueError(f"{name} must contain finite weights >= 0")
    return arr


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _outside_stacklevel() -> int:
    """``stacklevel`` for a ``warnings.warn`` in the caller of this function that points at the first
    frame outside ``softmax_nb`` (the user's line), however deep the package's own calls are."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR:
        frame, level = frame.f_back, level + 1
    return level


def _warn_empty_mean(what: str) -> None:
    warnings.warn(f"{what}: reduction='mean' over a total weight of 0 (every target ignored, an empty batch, "
                  "or only classes of weight 0) is 0/0; returning nan, as torch does", RuntimeWarning,
                  stacklevel=_outside_stacklevel())


def _targets(z: NDArray[np.floating], target: ArrayLike, axis: int,
             ignore_index: int | None = None) -> tuple[NDArray, bool, NDArray[np.bool_] | None]:
    """Classify ``target`` as probability rows (same shape as ``z``) or labels (class axis removed).

    Returns ``(t, is_prob, keep)``: ``keep`` marks the labels not equal to ``ignore_index``
    (None when nothing can be ignored); ignored labels are replaced by 0 in ``t``.
    """
    t = np.asarray(target)
    label_shape = z.shape[:axis] + z.shape[axis + 1:]
    if t.shape == z.shape:
        if ignore_index is not None and ignore_index >= 0:
            raise ValueError(f"ignore_index applies to class-index targets only, got ignore_index={ignore_index} "
                             f"with probability targets of shape {t.shape} (use a negative value or None)")
        t = as_float_array(t, "target")
        check_probabilities(t, "target")
        return t, True, None
    if t.shape == label_shape:
        if ignore_index is None:
            return check_labels(t, z.shape[axis], "target"), False, None
        keep = t != ignore_index
        return check_labels(np.where(keep, t, 0), z.shape[axis], "target"), False, keep
    raise ValueError(f"target must be class labels of shape {label_shape} or probabilities of shape {z.shape} "
                     f"(logits shape with class axis {axis}), got shape {t.shape}")


def _along(v: NDArray, axis: int, ndim: int) -> NDArray:
    """Reshape a length-K vector so that it broadcasts along ``axis`` of an ``ndim``-D array."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _ce_denominator(t: NDArray, keep: NDArray[np.bool_] | None, w: NDArray | None, n: int, is_prob: bool) -> float:
    """The divisor of ``reduction='mean'``: torch's weighted count of the non-ignored targets."""
    if is_prob or (w is None and keep is None):
        return float(n)  # probability targets: the number of samples, even with weights (as torch)
    if w is None:
        return float(np.count_nonzero(keep))  # type: ignore[arg-type]  # keep is not None here
    wy = w[t]
    return float(np.sum(wy if keep is None else np.where(keep, wy, 0.0), dtype=np.float64))


def _ce_per_sample(z: NDArray, t: NDArray, is_prob: bool, keep: NDArray[np.bool_] | None,
                   weight: NDArray | None, eps: float, axis: int, wd: np.dtype) -> NDArray:
    """Per-sample cross-entropy (before reduction), computed in the work dtype ``wd``."""
    k = z.shape[axis]
    w = None if weight is None else weight.astype(wd)
    logp = log_softmax(z.astype(wd, copy=False), axis=axis)
    if is_prob:
        y = t.astype(wd, copy=False)
        y = (1.0 - eps) * y + eps / k if eps > 0 else y
        if w is not None:
            y = y * _along(w, axis, z.ndim)
        # 0 * (-inf) must give 0, not NaN: only take logs where the target has mass.
        loss = -np.sum(y * np.where(y > 0, logp, 0.0), axis=axis, dtype=np.float64)
    else:
        loss = -np.squeeze(np.take_along_axis(logp, np.expand_dims(t, axis), axis=axis), axis=axis)
        if w is not None:
            wy = w[t]
            with np.errstate(invalid="ignore"):  # weight 0 on a -inf target logit: 0, not NaN
                loss = np.where(wy > 0, wy * loss, 0.0)
        if keep is not None:
            loss = np.where(keep, loss, 0.0)
        if eps > 0:
            # eps = 1 keeps only the uniform part (and avoids 0 * inf when log p_c = -inf). The
            # class sums run in float64: in float32, two terms of 2**127 would overflow.
            nll = (1.0 - eps) * loss if eps < 1 else np.zeros_like(loss)
            if w is None:
                smooth = -np.mean(logp, axis=axis, dtype=np.float64)
            else:
                wk = _along(w, axis, z.ndim)
                with np.errstate(invalid="ignore"):
                    smooth = -np.sum(np.where(wk > 0, wk * logp, 0.0), axis=axis, dtype=np.float64) / k
            if keep is not None:
                smooth = np.where(keep, smooth, 0.0)
            loss = nll + eps * smooth
    return loss


@_inf_on_overflow
def cross_entropy(logits: ArrayLike, target: ArrayLike, axis: int = -1, label_smoothing: float = 0.0,
                  reduction: str = "mean", *, weight: ArrayLike | None = None,
                  ignore_index: int | None = None) -> NDArray[np.floating]:
    r"""Softmax cross-entropy, as :func:`torch.nn.functional.cross_entropy`.

    With :math:`\log p = \operatorname{log\_softmax}(z)`, class weights
    :math:`w` (all 1 by default) and label smoothing :math:`\alpha`, the loss
    of one sample with class label :math:`c` is

    .. math::

        \ell = (1 - \alpha)\, w_c\, (-\log p_c)
               + \frac{\alpha}{K} \sum_{k=1}^{K} w_k\, (-\log p_k) ,

    which for :math:`w = 1` is :math:`-\sum_k \tilde y_k \log p_k` with the
    smoothed target :math:`\tilde y = (1 - \alpha)\, y + \alpha/K`. For a
    probability target :math:`y` it is
    :math:`\ell = -\sum_k w_k \tilde y_k \log p_k`. With :math:`\alpha = 0`
    and :math:`w = 1` a label gives :math:`-\log p_c = \operatorname{LSE}(z) - z_c`.

    ``reduction='mean'`` divides the sum of the losses by

    * the number of samples, for probability targets (even with ``weight``);
    * :math:`\sum_i w_{c_i}` over the samples whose label is not
      ``ignore_index``, for class labels (the number of such samples
      without ``weight``).

    This is PyTorch's convention, so a weighted mean is a weighted average.

    Parameters
    ----------
    logits : array_like
        Logits ``z``. The class axis is ``axis``; PyTorch's class axis is
        ``dim=1`` (``dim=0`` for 1-D input), so its ``(N, K)`` layout works
        with the default ``axis=-1`` and its ``(N, K, d1, ...)`` layout needs
        ``axis=1``. float16/float32/float64 logits give a result of the same
        dtype (float16 is computed in float32); integers and booleans give
        float64.
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
        ``'mean'`` is the weighted mean above, ``'sum'`` the sum and
        ``'none'`` the per-sample losses (0 for ignored samples).
    weight : array_like, optional
        Per-class weights :math:`w` (length ``K``, finite, >= 0). ``None``
        means all 1.
    ignore_index : int, optional
        A label value whose samples contribute nothing (loss and gradient 0)
        and are left out of the ``'mean'`` divisor, e.g. ``-100`` for padding,
        as PyTorch's default. It may lie outside ``[0, K)``. ``None`` (the
        default, unlike PyTorch's ``-100``) ignores nothing, so a label of
        ``-100`` raises. Only for class labels: a non-negative value with
        probability targets raises (as in PyTorch).

    Returns
    -------
    numpy.ndarray
        A numpy scalar, or the per-sample losses (``logits`` shape without the
        class axis) for ``reduction='none'``. A ``-inf`` logit of a non-target
        class is fine (it contributes nothing), unless smoothing or a soft
        target puts mass on it, in which case the loss is ``+inf`` — the
        exact value, never NaN. A class of weight 0 or target mass 0
        contributes 0 even when its logit is ``-inf`` (PyTorch gives NaN there).

    Warns
    -----
    RuntimeWarning
        For ``reduction='mean'`` when the divisor is 0 (every label equal to
        ``ignore_index``, an empty batch, or only classes of weight 0): the
        mean is 0/0 and the result is ``nan``, as in PyTorch — the one place
        where this package returns NaN, and never silently.

    Raises
    ------
    ValueError
        For labels outside ``[0, K)`` (other than ``ignore_index``),
        ``label_smoothing`` outside [0, 1], an unknown ``reduction``, a
        ``target`` whose shape fits neither form, probabilities outside
        [0, 1] or non-finite, a ``weight`` that is not ``K`` finite numbers
        >= 0, a non-integer ``ignore_index``, or logits with NaN/``+inf`` or
        an all ``-inf`` slice.

    Examples
    --------
    >>> round(float(cross_entropy([[2.0, 0.0, -1.0]], [0])), 4)
    0.1698
    >>> round(float(cross_entropy([[2.0, 0.0], [0.0, 2.0]], [1, -100], ignore_index=-100)), 4)  # row 0 only
    2.1269
    """
    z = as_float_array(logits, "logits")
    axis = check_axis(z, axis, "logits")
    eps = check_unit_interval(label_smoothing, "label_smoothing")
    check_reduction(reduction)
    ignore = _check_ignore_index(ignore_index)
    t, is_prob, keep = _targets(z, target, axis, ignore)
    k = z.shape[axis]
    wd = _work_dtype(z)
    w64 = None if weight is None else check_class_weights(weight, k, "weight")
    loss = _ce_per_sample(z, t, is_prob, keep, w64, eps, axis, wd)
    if wd != np.float64 and not np.isfinite(loss).all():
        # A log-probability beyond the dtype's range (|log p| > max, e.g. logits of -1.8e38 and
        # 1.6e38 in float32) gives inf where the smoothed or weighted loss is finite: redo in float64.
        loss = _ce_per_sample(z, t, is_prob, keep, w64, eps, axis, np.dtype(np.float64))
    w = None if w64 is None else w64.astype(wd)
    if reduction == "none":
        return _as_out(loss, z.dtype)
    # Sums accumulate in float64: a float32 mean of large losses must not overflow on the way.
    if reduction == "sum":
        return _as_out(np.sum(loss, dtype=np.float64), z.dtype)
    if w is None and keep is None and loss.size:
        return _as_out(np.mean(loss, dtype=np.float64), z.dtype)
    denom = _ce_denominator(t, keep, w, loss.size, is_prob)
    if denom == 0:
        _warn_empty_mean("cross_entropy")
        return z.dtype.type(np.nan)
    return _as_out(np.sum(loss, dtype=np.float64) / denom, z.dtype)


@_inf_on_overflow
def cross_entropy_grad(logits: ArrayLike, target: ArrayLike, label_smoothing: float = 0.0,
                       reduction: str = "mean", *, axis: int = -1, weight: ArrayLike | None = None,
                       ignore_index: int | None = None) -> NDArray[np.floating]:
    r"""Gradient of :func:`cross_entropy` with respect to the logits.

    For a probability target :math:`y` (smoothed to :math:`\tilde y` as in
    :func:`cross_entropy`) and class weights :math:`w` (all 1 by default),
    with :math:`p = \operatorname{softmax}(z)`,

    .. math::

        \frac{\partial \ell}{\partial z} = \frac{1}{D}\Big(\big(\textstyle\sum_k w_k \tilde y_k\big)\, p
            - w \odot \tilde y\Big) ,

    which is :math:`(p - \tilde y)/D` when the target sums to 1 and
    :math:`w = 1`. A target that does not sum to 1 (accepted, as in PyTorch)
    gets the factor :math:`\sum_k \tilde y_k`: this is the true gradient of
    the loss :func:`cross_entropy` returns, the one PyTorch's autograd gives.
    A class label :math:`c` is the one-hot target :math:`y = e_c`, with
    :math:`w` applied as in :func:`cross_entropy`:

    .. math::

        \frac{\partial \ell}{\partial z} = \frac{1}{D}\Big((1 - \alpha)\, w_c\, (p - e_c)
            + \frac{\alpha}{K}\big((\textstyle\sum_k w_k)\, p - w\big)\Big) .

    :math:`D` is the divisor of ``reduction='mean'`` of :func:`cross_entropy`
    (the number of samples, or the weighted count of the non-ignored labels)
    and :math:`D = 1` for ``'sum'``. For ``'none'`` each sample's slice is the
    gradient of its own loss (also :math:`D = 1`). Samples whose label is
    ``ignore_index`` get a zero gradient.

    Parameters
    ----------
    logits : array_like
        Logits; the class axis is ``axis`` (the last by default).
    target : array_like
        Labels (``logits`` shape without the class axis) or probabilities
        (``logits`` shape).
    label_smoothing : float, default 0.0
        :math:`\alpha \in [0, 1]`.
    reduction : {'mean', 'sum', 'none'}, default 'mean'
    axis, weight, ignore_index
        As :func:`cross_entropy`.

    Returns
    -------
    numpy.ndarray
        Array of the shape and floating dtype of ``logits`` (float16 is
        computed in float32).

    Warns
    -----
    RuntimeWarning
        For ``reduction='mean'`` with a divisor of 0 when some label is not
        ignored (only classes of weight 0): those samples' gradients are
        ``nan`` (0/0), as in PyTorch. If every label is ignored the gradient
        is 0, as in PyTorch, with no warning.

    Raises
    ------
    ValueError
        As :func:`cross_entropy`.
    """
    z = as_float_array(logits, "logits")
    axis = check_axis(z, axis, "logits")
    eps = check_unit_interval(label_smoothing, "label_smoothing")
    check_reduction(reduction)
    ignore = _check_ignore_index(ignore_index)
    t, is_prob, keep = _targets(z, target, axis, ignore)
    k = z.shape[axis]
    wd = _work_dtype(z)
    w = None if weight is None else check_class_weights(weight, k, "weight").astype(wd)
    p = softmax(z.astype(wd, copy=False), axis=axis)  # a fresh array: updated in place below
    if is_prob:
        y = t.astype(wd, copy=False)
        if eps > 0:
            y = (1.0 - eps) * y + eps / k
        if w is not None:
            y = y * _along(w, axis, z.ndim)
        # d/dz of -sum(w y log p) is (sum w y) p - w y: p - y only for unweighted targets that sum to 1.
        grad = np.sum(y, axis=axis, keepdims=True) * p - y
    else:
        idx = np.expand_dims(t, axis)
        if w is None:
            # p - y~ with y~ = (1 - eps) e_c + eps/K, without building the one-hot array.
            grad = p - eps / k if eps > 0 else p
            np.put_along_axis(grad, idx, np.take_along_axis(grad, idx, axis=axis) - (1.0 - eps), axis=axis)
        else:
            smooth = (eps / k) * (np.sum(w) * p - _along(w, axis, z.ndim)) if eps > 0 else None
            np.put_along_axis(p, idx, np.take_along_axis(p, idx, axis=axis) - 1.0, axis=axis)  # p - e_c
            grad = (1.0 - eps) * np.expand_dims(w[t], axis) * p
            if smooth is not None:
                grad += smooth
    if keep is not None:
        grad = np.where(np.expand_dims(keep, axis), grad, 0.0)
    if reduction == "mean":
        denom = _ce_denominator(t, keep, w, grad.size // k, is_prob)
        if denom == 0:
            kept = np.expand_dims(np.ones(z.shape[:axis] + z.shape[axis + 1:], dtype=bool) if keep is None else keep,
                                  axis)
            if kept.any():
                _warn_empty_mean("cross_entropy_grad")
            return np.broadcast_to(np.where(kept, np.nan, 0.0), z.shape).astype(z.dtype)
        grad /= wd.type(denom)
    return _as_out(grad, z.dtype)


@_inf_on_overflow
def binary_cross_entropy_with_logits(logits: ArrayLike, targets: ArrayLike,
                                     reduction: str = "mean", *, weight: ArrayLike | None = None,
                                     pos_weight: ArrayLike | None = None) -> NDArray[np.floating]:
    r"""Binary cross-entropy of a sigmoid, computed from the logits.

    .. math::

        \ell = -w\big[\pi\, y \log \sigma(x) + (1 - y) \log(1 - \sigma(x))\big]
             = w\big[\pi\, y\, \operatorname{softplus}(-x) + (1 - y)\operatorname{softplus}(x)\big],

    with the element weight :math:`w` (``weight``) and the positive-class
    weight :math:`\pi` (``pos_weight``), both 1 by default, where
    :math:`\operatorname{softplus}(x) = \log(1 + e^x) = \max(x, 0) + \log(1 + e^{-|x|})`.
    Without ``pos_weight`` this is :math:`\max(x, 0) - x\,y + \log(1 + e^{-|x|})`.
    Neither form exponentiates a positive number, so the loss is finite for
    any finite ``x``. Matches
    :func:`torch.nn.functional.binary_cross_entropy_with_logits`.

    Parameters
    ----------
    logits : array_like
        Finite logits ``x`` of any shape. float16/float32/float64 keep their
        dtype; the work dtype is float32 for float16 with ``'none'``, and
        float64 for ``'mean'``/``'sum'`` (elementwise losses beyond the
        dtype's range can have a mean inside it).
    targets : array_like
        Targets ``y`` in [0, 1] of the same shape (soft targets allowed).
    reduction : {'mean', 'sum', 'none'}, default 'mean'
        ``'mean'`` averages the (weighted) losses over all elements (the
        weights do not enter the divisor, as in PyTorch).
    weight : array_like, optional
        Finite weights >= 0 that broadcast to the shape of ``logits``
        (a per-element rescaling, as PyTorch's ``weight``).
    pos_weight : array_like, optional
        Finite weights >= 0 of the positive term that broadcast to the shape
        of ``logits``; usually one per class along the last axis, e.g.
        ``#negatives / #positives``.

    Returns
    -------
    numpy.ndarray
        A numpy scalar, or the elementwise losses for ``'none'``.

    Raises
    ------
    ValueError
        If shapes differ, ``targets`` leave [0, 1], an input is not finite,
        a weight is negative, not finite or does not broadcast to the shape
        of ``logits``, or ``reduction`` is unknown.
    """
    x, loss = _bce(logits, targets, reduction, weight, pos_weight)
    return _as_out(_reduce(loss, reduction), x.dtype)


def _bce(logits: ArrayLike, targets: ArrayLike, reduction: str, weight: ArrayLike | None,
         pos_weight: ArrayLike | None) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Validate the arguments; return the logits and the elementwise loss in the work dtype."""
    x = as_float_array(logits, "logits")
    y = as_float_array(targets, "targets")
    check_same_shape(x, y, "logits", "targets")
    check_reduction(reduction)
    check_finite(x, "logits")
    check_probabilities(y, "targets")
    # float16/float32 are computed in float32, except that a mean or sum is computed in float64
    # throughout: elementwise losses beyond the dtype's range can have a mean inside it.
    wd = _work_dtype(x) if reduction == "none" else np.dtype(np.float64)
    w = None if weight is None else _check_broadcast_weight(weight, x.shape, "weight").astype(wd)
    pw = None if pos_weight is None else _check_broadcast_weight(pos_weight, x.shape, "pos_weight").astype(wd)
    xw, yw = x.astype(wd, copy=False), y.astype(wd, copy=False)
    tail = np.log1p(np.exp(-np.abs(xw)))
    if pw is None:
        loss = np.maximum(xw, 0.0) - xw * yw + tail
    else:
        # pi*y*softplus(-x) + (1-y)*softplus(x): two non-negative terms, no cancellation.
        loss = pw * yw * (np.maximum(-xw, 0.0) + tail) + (1.0 - yw) * (np.maximum(xw, 0.0) + tail)
    if w is not None:
        with np.errstate(invalid="ignore"):  # weight 0 on an overflowed (inf) loss: 0, not NaN
            loss = np.where(w > 0, w * loss, 0.0)
    return x, loss


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
    wd = _work_dtype(z)
    alpha_t = None if alpha is None else check_class_weights(alpha, k).astype(wd)[labels]
    logp = log_softmax(z.astype(wd, copy=False), axis=-1)
    logp_t = np.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
    return z.dtype, logp, logp_t, alpha_t, labels, g


@_inf_on_overflow
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
    dtype, _, logp_t, alpha_t, _, g = _focal_parts(logits, target, gamma, alpha, reduction)
    one_minus = -np.expm1(logp_t)  # 1 - p_t, accurate when p_t is close to 1
    loss = -(one_minus**g) * logp_t
    if alpha_t is not None:
        loss = alpha_t * loss
    return _as_out(_reduce(loss + 0.0, reduction), dtype)  # + 0.0 turns -0.0 (at p_t = 1) into 0.0


@_inf_on_overflow
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
    dtype, logp, logp_t, alpha_t, labels, g = _focal_parts(logits, target, gamma, alpha, reduction)
    p = np.exp(logp)
    p_t = np.exp(logp_t)
    one_minus = -np.expm1(logp_t)
    # ratio = p_t log p_t / (1 - p_t), with its limits: 0 as p_t -> 0. Where 1 - p_t = 0 the
    # factor (1 - p_t)^g (g ratio - 1) is 0 for g > 0 and -1 for g = 0 whatever the ratio.
    safe = (one_minus > 0) & (p_t > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(safe, p_t * np.where(safe, logp_t, 0.0) / np.where(safe, one_minus, 1.0), 0.0)
    factor = one_minus ** g * (g * ratio - 1.0)
    if alpha_t is not None:
        factor = alpha_t * factor
    y = (labels[..., None] == np.arange(p.shape[-1])).astype(p.dtype)
    grad = factor[..., None] * (y - p) + 0.0  # no -0.0 entries
    if reduction == "mean":
        grad /= max(1, labels.size)
    return _as_out(grad, dtype)


@_inf_on_overflow
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
    x, ce = _bce(logits, targets, reduction, None, None)
    xw = x.astype(ce.dtype, copy=False)
    y = as_float_array(targets, "targets").astype(ce.dtype, copy=False)
    one_minus_pt = sigmoid(xw) * (1.0 - y) + sigmoid(-xw) * y
    loss = ce * one_minus_pt**g
    if a >= 0:
        loss = (a * y + (1.0 - a) * (1.0 - y)) * loss
    return _as_out(_reduce(loss, reduction), x.dtype)
