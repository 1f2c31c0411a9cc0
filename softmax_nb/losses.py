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
import math
import os
import sys
import warnings
from types import FrameType
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (
    REDUCTIONS,
    ArgumentTypeError,
    as_float_array,
    check_axis,
    check_class_weights,
    check_finite,
    check_labels,
    check_nonnegative,
    check_positive_int,
    check_choice,
    check_probabilities,
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


def _total(loss: NDArray[np.floating]) -> tuple[np.float64, int]:
    """The float64 sum of ``loss`` as ``(s, shift)``, the sum being ``s * 2**shift``.

    A sum of finite terms that overflows float64 (e.g. two losses of 1.7e308) is redone on the
    terms scaled by the power of two ``2**-64`` (exact), so that a mean inside the range stays
    finite. The extra pass is only taken after an overflow.
    """
    s = np.sum(loss, dtype=np.float64)
    if np.isinf(s) and np.isfinite(loss).all():
        return np.sum(np.ldexp(loss.astype(np.float64, copy=False), -64)), 64
    return s, 0


def _unscale(loss: NDArray[np.floating], e: int) -> NDArray[np.floating]:
    """``loss * 2**e`` (exact unless it leaves the range), in float64 when ``e != 0``."""
    return np.ldexp(loss.astype(np.float64), e) if e else loss


def _reduce(loss: NDArray[np.floating], reduction: str, e: int = 0) -> NDArray[np.floating] | np.floating:
    """Apply ``'mean'``, ``'sum'`` or ``'none'`` to per-sample losses ``loss * 2**e`` (sums in float64)."""
    if reduction == "none":
        return _unscale(loss, e)
    if reduction == "mean" and loss.size == 0:
        _warn_empty_mean("loss")
        return loss.dtype.type(np.nan)
    s, shift = _total(loss)
    if reduction == "mean":
        s = s / loss.size
    return np.ldexp(s, shift + e)


def _check_reduction(reduction: Any) -> str:
    """``reduction`` must be the string ``'mean'``, ``'sum'`` or ``'none'`` (another type: ArgumentTypeError)."""
    return check_choice(reduction, REDUCTIONS, "reduction")


def _class_weights(weight: ArrayLike, k: int, name: str) -> NDArray[np.float64]:
    """K finite class weights >= 0 as float64; strings (numeric ones too), objects and complex numbers are
    an :class:`ArgumentTypeError` naming ``name``."""
    return check_class_weights(as_float_array(weight, name), k, name)


def _weight_exponent(used: NDArray[np.float64]) -> int:
    """``e`` with ``max(used) * 2**-e`` in [0.5, 1) (0 when no weight is positive).

    Losses are computed with the weights scaled by the power of two ``2**-e`` (exact), so that
    weights beyond the work dtype's range (float32 logits, weight 1e39 or 1e-112) are neither
    cast to inf or 0 nor overflow a product whose result, or whose weighted mean, is in range.
    """
    m = float(used.max()) if used.size else 0.0
    return math.frexp(m)[1] if m > 0 else 0


def _fits(w: NDArray[np.float64], wd: np.dtype) -> bool:
    """Whether every positive weight is a normal number of the work dtype ``wd`` (no overflow, no precision lost)."""
    if wd == np.float64:
        return True
    fi = np.finfo(wd)
    pos = w[w > 0]
    return not pos.size or bool(fi.tiny <= pos.min() and pos.max() <= fi.max)


def _named(func: Callable[..., Any], z: NDArray[np.floating], axis: int) -> NDArray[np.floating]:
    """``func(z, axis=axis)`` (softmax or log_softmax) with its refusals naming ``logits``, the caller's
    argument, instead of core's ``z``. Costs nothing on valid input."""
    try:
        return func(z, axis=axis)
    except ValueError as e:
        msg = str(e)
        if msg.startswith("z "):
            raise ValueError("logits" + msg[1:]) from None
        raise


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
    """Cast a result (array or numpy scalar) from the work dtype back to the input's dtype; a 0-d
    array becomes a numpy scalar (the package's scalar rule)."""
    if isinstance(value, np.ndarray) and value.ndim:
        return value.astype(dtype, copy=False)
    return dtype.type(value)


def _check_ignore_index(ignore_index: Any) -> int | None:
    """Return ``ignore_index`` as a Python int (or None), rejecting non-integers and booleans."""
    if ignore_index is None:
        return None
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, (int, np.integer)):
        raise ArgumentTypeError(f"ignore_index must be None or an integer (a target value to skip, "
                                f"e.g. -100 as in PyTorch), got {type(ignore_index).__name__} {ignore_index!r}")
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
    logp = _named(log_softmax, z.astype(wd, copy=False), axis)
    if is_prob:
        y = t.astype(wd, copy=False)
        y = (1.0 - eps) * y + eps / k if eps > 0 else y
        # A class has mass if its target (before any rounding to the work dtype) or the smoothing is
        # positive and its weight is: 0 * (-inf) must give 0, not NaN, for the others.
        mass = None if eps > 0 else t > 0
        if w is not None:
            wk = _along(w, axis, z.ndim)
            y = y * wk
            mass = wk > 0 if mass is None else mass & (wk > 0)
        with np.errstate(invalid="ignore"):
            loss = -np.sum(y * (logp if mass is None else np.where(mass, logp, 0.0)), axis=axis, dtype=np.float64)
        # NaN only from a mass that rounded to 0 in the work dtype (a target of 5e-324 in float32) on a
        # -inf log-probability: the exact loss is +inf. An O(N) pass over the per-sample losses.
        loss = np.where(np.isnan(loss), np.inf, loss) + 0.0
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
                smooth = -eps * np.mean(logp, axis=axis, dtype=np.float64)
            else:
                # The coefficients eps w_k / K are formed first (a K-vector) when they are normal numbers
                # of the work dtype: a large weight times a log-probability beyond the range would
                # overflow before a small eps brings it back.
                assert weight is not None
                cw = eps / k * weight
                coef, scale = (cw, 1.0) if _fits(cw, wd) and cw.min() > 0 else (weight, eps / k)
                wk = _along(coef.astype(wd), axis, z.ndim)
                with np.errstate(invalid="ignore"):
                    smooth = -np.sum(np.where(wk > 0, wk * logp, 0.0), axis=axis, dtype=np.float64) * scale
            if keep is not None:
                smooth = np.where(keep, smooth, 0.0)
            loss = nll + smooth
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
        means all 1. Weights are used in float64 when they are not normal
        numbers of the work dtype (e.g. ``1e39`` or ``1e-112`` with float32
        logits): they are never rounded to ``inf`` or 0.
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
        >= 0, or logits with NaN/``+inf`` or an all ``-inf`` slice (the
        message names ``logits``).
    ArgumentTypeError
        (a :class:`TypeError`, and a ``ValueError`` for one release) For a
        ``reduction`` that is not a string, an ``ignore_index`` that is not an
        integer (a float or a bool), or a ``weight`` of strings (numeric ones
        too), objects or complex numbers.

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
    reduction = _check_reduction(reduction)
    ignore = _check_ignore_index(ignore_index)
    t, is_prob, keep = _targets(z, target, axis, ignore)
    k = z.shape[axis]
    mean_of_labels = reduction == "mean" and not is_prob
    # A weighted mean over labels does not depend on the scale of the weights: it is computed with
    # them scaled near 1 (weights of 1e-300 would make w * loss subnormal and inexact).
    w64, e, wd = _scaled_class_weights(weight, z, t, is_prob, keep, k, mean_of_labels, mean_of_labels)
    loss = _ce_per_sample(z, t, is_prob, keep, w64, eps, axis, wd)
    if wd != np.float64 and not np.isfinite(loss).all():
        # A log-probability beyond the dtype's range (|log p| > max, e.g. logits of -1.8e38 and
        # 1.6e38 in float32) gives inf where the smoothed or weighted loss is finite: redo in float64.
        loss = _ce_per_sample(z, t, is_prob, keep, w64, eps, axis, np.dtype(np.float64))
    if w64 is not None and not (np.isfinite(loss).all() and (
            not mean_of_labels or math.isfinite(_ce_denominator(t, keep, w64, loss.size, is_prob)))):
        # A weight times a log-probability, or the sum of the weights, beyond float64's range: redo
        # with the weights scaled by a power of two (a rare path; it costs subnormal targets accuracy).
        w64, e, wd = _scaled_class_weights(weight, z, t, is_prob, keep, k, mean_of_labels, True)
        loss = _ce_per_sample(z, t, is_prob, keep, w64, eps, axis, np.dtype(np.float64))
    if reduction == "none":
        return _as_out(_unscale(loss, e), z.dtype)
    # Sums accumulate in float64: a float32 mean of large losses must not overflow on the way.
    s, shift = _total(loss)
    if reduction == "sum":
        return _as_out(np.ldexp(s, shift + e), z.dtype)
    if is_prob or (w64 is None and keep is None):
        if not loss.size:
            _warn_empty_mean("cross_entropy")
            return z.dtype.type(np.nan)
        return _as_out(np.ldexp(s / loss.size, shift + e), z.dtype)
    # Labels: the weighted mean does not depend on the scale 2**e of the weights.
    denom = _ce_denominator(t, keep, w64, loss.size, is_prob)
    if denom == 0:
        _warn_empty_mean("cross_entropy")
        return z.dtype.type(np.nan)
    return _as_out(np.ldexp(s / denom, shift), z.dtype)


def _scaled_class_weights(weight: ArrayLike | None, z: NDArray[np.floating], t: NDArray, is_prob: bool,
                          keep: NDArray[np.bool_] | None, k: int, mean: bool,
                          scale: bool) -> tuple[NDArray[np.float64] | None, int, np.dtype]:
    """Checked class weights (float64), scaled by ``2**-e`` if ``scale`` (see :func:`_weight_exponent`),
    ``e`` (0 without ``scale``), and the work dtype.

    ``e`` comes from the largest weight (no scaled weight exceeds 1, so no weighted log-probability
    overflows before the final ``2**e``), except for the ``'mean'`` of labels (``mean``), see below.
    The work dtype is float64 when a weight is not a normal number of the logits' work dtype (float32
    logits with a weight of 1e39 or 1e-112): weights are never cast to inf or 0.
    """
    wd = _work_dtype(z)
    if weight is None:
        return None, 0, wd
    w64 = _class_weights(weight, k, "weight")
    e = _weight_exponent(w64) if scale else 0
    if scale and mean and not is_prob:
        # A weighted mean over labels does not depend on the scale: take it from the weights used, so
        # that the divisor is at least 1/2, unless another class's weight (in the smoothing term) would
        # overflow.
        used = w64[t] if keep is None else w64[t][keep]
        e = max(_weight_exponent(used), e - 1023)
    if e:
        w64 = np.ldexp(w64, -e)  # exact (powers of two), unless a weight becomes subnormal
    if not _fits(w64, wd):
        wd = np.dtype(np.float64)
    return w64, e, wd


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
    reduction = _check_reduction(reduction)
    ignore = _check_ignore_index(ignore_index)
    t, is_prob, keep = _targets(z, target, axis, ignore)
    k = z.shape[axis]
    mean_of_labels = reduction == "mean" and not is_prob
    w64, e, wd = _scaled_class_weights(weight, z, t, is_prob, keep, k, mean_of_labels, mean_of_labels)
    w = None if w64 is None else w64.astype(wd)
    p = _named(softmax, z.astype(wd, copy=False), axis)  # a fresh array: updated in place below
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
        denom = _ce_denominator(t, keep, w64, grad.size // k, is_prob)
        if denom == 0:
            kept = np.expand_dims(np.ones(z.shape[:axis] + z.shape[axis + 1:], dtype=bool) if keep is None else keep,
                                  axis)
            if kept.any():
                _warn_empty_mean("cross_entropy_grad")
            return np.broadcast_to(np.where(kept, np.nan, 0.0), z.shape).astype(z.dtype)
        if not is_prob:
            e = 0  # a weighted mean over labels does not depend on the scale of the weights
        if e or not np.finfo(wd).tiny <= denom <= np.finfo(wd).max:
            grad = np.ldexp(grad.astype(np.float64) / denom, e)  # the divisor may leave the work dtype's range
        else:
            grad /= wd.type(denom)
    elif e:
        grad = np.ldexp(grad.astype(np.float64), e)
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
        dtype's range can have a mean inside it) or when a weight is not a
        normal number of float32 (e.g. ``1e300``).
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
    if reduction != "none" and np.isposinf(loss).any():
        # An elementwise loss beyond float64 (a pos_weight of 1e300 on a softplus of 1.8e8) can
        # have a mean inside the range: redo the losses scaled by 2**-64 (exact) and unscale the mean.
        x, loss = _bce(logits, targets, reduction, weight, pos_weight, e=64)
        return _as_out(_reduce(loss, reduction, e=64), x.dtype)
    return _as_out(_reduce(loss, reduction), x.dtype)


def _bce(logits: ArrayLike, targets: ArrayLike, reduction: str, weight: ArrayLike | None,
         pos_weight: ArrayLike | None, e: int = 0) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Validate the arguments; return the logits and the elementwise loss times ``2**-e`` in the work dtype."""
    x = as_float_array(logits, "logits")
    y = as_float_array(targets, "targets")
    check_same_shape(x, y, "logits", "targets")
    reduction = _check_reduction(reduction)
    check_finite(x, "logits")
    check_probabilities(y, "targets")
    # float16/float32 are computed in float32, except that a mean or sum is computed in float64
    # throughout: elementwise losses beyond the dtype's range can have a mean inside it.
    wd = _work_dtype(x) if reduction == "none" else np.dtype(np.float64)
    w64 = None if weight is None else _check_broadcast_weight(weight, x.shape, "weight").astype(np.float64)
    pw64 = None if pos_weight is None else _check_broadcast_weight(pos_weight, x.shape, "pos_weight").astype(
        np.float64)
    if not all(_fits(v, wd) for v in (w64, pw64) if v is not None):
        wd = np.dtype(np.float64)  # weights beyond float32's range (1e39, 1e-300) are not cast to inf or 0
    w = None if w64 is None else w64.astype(wd, copy=False)
    pw = None if pw64 is None else pw64.astype(wd, copy=False)
    xw, yw = x.astype(wd, copy=False), y.astype(wd, copy=False)
    tail = np.log1p(np.exp(-np.abs(xw)))
    if e:
        w = np.full(x.shape, np.ldexp(1.0, -e), dtype=wd) if w is None else np.ldexp(w, -e)
    if pw is None:
        loss = np.maximum(xw, 0.0) - xw * yw + tail
        if w is not None:
            with np.errstate(invalid="ignore"):  # weight 0 on an overflowed (inf) loss: 0, not NaN
                loss = np.where(w > 0, w * loss, 0.0)
    else:
        # w*pi*y*softplus(-x) + w*(1-y)*softplus(x): two non-negative terms, no cancellation. The
        # first is a product of four factors without an intermediate overflow (pi * softplus(-x)
        # beyond the range, brought back by a small w).
        sp_neg = np.maximum(-xw, 0.0) + tail
        neg = (1.0 - yw) * (np.maximum(xw, 0.0) + tail)
        if w is None:
            loss = _product(pw, yw, sp_neg) + neg
        else:
            loss = _product(w, pw, yw, sp_neg) + w * neg
    return x, loss


def _product(*factors: NDArray[np.floating]) -> NDArray[np.floating]:
    """The product of finite factors with no intermediate overflow or underflow: the mantissas
    (in [0.5, 1)) are multiplied and the exponents added (``frexp``/``ldexp``); only the result
    can overflow (to inf) or underflow."""
    m, e = np.frexp(factors[0])
    for f in factors[1:]:
        mf, ef = np.frexp(f)
        m, e = m * mf, e + ef
    return np.ldexp(m, e)


def _focal_parts(logits: ArrayLike, target: ArrayLike, gamma: float, alpha: ArrayLike | None, reduction: str,
                 float64: bool = False, scale: bool = False
                 ) -> tuple[np.dtype, NDArray[np.floating], NDArray[np.floating], NDArray[np.floating] | None,
                            NDArray[np.intp], float, int]:
    """Validate focal-loss arguments; return the dtype, log p, log p_t, alpha_t, labels, gamma and ``e``.

    With ``scale``, ``alpha_t`` is scaled by ``2**-e`` (see :func:`_weight_exponent`): the loss is
    ``2**e`` times the one computed with it (``e = 0`` otherwise). The work dtype is float64 if
    ``float64`` or if an ``alpha_t`` is not a normal number of the logits' work dtype (never cast to
    inf or 0).
    """
    z = as_float_array(logits, "logits")
    check_axis(z, -1, "logits")
    g = check_nonnegative(gamma, "gamma")
    reduction = _check_reduction(reduction)
    k = z.shape[-1]
    t = np.asarray(target)
    if t.shape != z.shape[:-1]:
        raise ValueError(f"target must be integer class labels of shape {z.shape[:-1]} "
                         f"(logits shape {z.shape} without the last axis), got shape {t.shape}")
    labels = check_labels(t, k, "target")
    wd = np.dtype(np.float64) if float64 else _work_dtype(z)
    alpha_t, e = None, 0
    if alpha is not None:
        a64 = _class_weights(alpha, k, "alpha")[labels]
        e = _weight_exponent(a64) if scale else 0
        a64 = np.ldexp(a64, -e) if e else a64
        if not _fits(a64, wd):
            wd = np.dtype(np.float64)  # alpha beyond float32's range is not cast to inf or 0
        alpha_t = a64.astype(wd)
    logp = _named(log_softmax, z.astype(wd, copy=False), -1)
    logp_t = np.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
    return z.dtype, logp, logp_t, alpha_t, labels, g, e


def _focal_values(logp_t: NDArray[np.floating], alpha_t: NDArray[np.floating] | None,
                  g: float) -> NDArray[np.floating]:
    one_minus = -np.expm1(logp_t)  # 1 - p_t, accurate when p_t is close to 1
    loss = -(one_minus**g) * logp_t
    if alpha_t is not None:
        # A class of weight 0 contributes 0, even where its loss is +inf (a -inf logit), as in cross_entropy.
        loss = np.multiply(alpha_t, loss, out=np.zeros(np.broadcast(alpha_t, loss).shape, loss.dtype),
                           where=alpha_t != 0)
    return loss + 0.0  # + 0.0 turns -0.0 (at p_t = 1) into 0.0


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
        weight of the sample's true class. ``None`` means all 1. Used in
        float64 when not normal numbers of the work dtype (as ``weight`` of
        :func:`cross_entropy`).
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Returns
    -------
    numpy.ndarray
        A numpy scalar, or per-sample losses of shape ``(...)`` for ``'none'``.

    Raises
    ------
    ValueError
        For labels outside ``[0, K)``, a target of the wrong shape,
        :math:`\gamma < 0`, a bad ``alpha`` vector, an unknown ``reduction``,
        or logits with NaN/``+inf`` or an all ``-inf`` row (naming ``logits``).
        A ``reduction`` that is not a string or an ``alpha`` of strings is an
        :class:`~softmax_nb.ArgumentTypeError` (a TypeError).

    Notes
    -----
    For :math:`\gamma > 0` the loss is not convex in the logits (its curvature is
    negative for confidently wrong predictions), and it is not a proper scoring
    rule: the expected loss under a true distribution :math:`\eta` is not
    minimised at :math:`p = \eta` (for two classes and :math:`\gamma = 2`,
    :math:`\eta = 0.9` gives :math:`p \approx 0.69`), although the most
    probable class is kept (Charoenphakdee et al., 2021). Its probabilities are
    therefore not posteriors; recalibrate them (e.g.
    :func:`~softmax_nb.calibration.fit_temperature`) before reading them as such.

    Examples
    --------
    The ratio to cross-entropy is the modulating factor: at :math:`p_t = 0.9`
    and :math:`\gamma = 2`, :math:`1 / (1 - 0.9)^2 = 100`.

    >>> z = np.array([[np.log(0.9), np.log(0.1)]])      # two classes, p_t = 0.9
    >>> round(float(cross_entropy(z, [0]) / focal_loss(z, [0], gamma=2.0)), 6)
    100.0
    >>> bool(focal_loss(z, [0], gamma=0.0) == cross_entropy(z, [0]))
    True
    """
    dtype, logp, logp_t, alpha_t, _, g, e = _focal_parts(logits, target, gamma, alpha, reduction)
    loss = _focal_values(logp_t, alpha_t, g)
    if logp.dtype != np.float64 and not np.isfinite(loss).all():
        # A log-probability beyond the dtype's range (logits of 3.4e38 and -3.4e38 in float32) is -inf
        # where the loss can be finite: redo in float64, as cross_entropy does (a rare path).
        dtype, _, logp_t, alpha_t, _, g, e = _focal_parts(logits, target, gamma, alpha, reduction, float64=True)
        loss = _focal_values(logp_t, alpha_t, g)
    if alpha is not None and reduction != "none" and not np.isfinite(loss).all():
        # alpha_t times a loss beyond float64's range, with a mean or sum that may be inside it: redo with
        # alpha scaled by a power of two (a rare path).
        dtype, _, logp_t, alpha_t, _, g, e = _focal_parts(logits, target, gamma, alpha, reduction, True, True)
        loss = _focal_values(logp_t, alpha_t, g)
    return _as_out(_reduce(loss, reduction, e), dtype)


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
    dtype, logp, logp_t, alpha_t, labels, g, e = _focal_parts(logits, target, gamma, alpha, reduction)
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
    return _as_out(_unscale(grad, e), dtype)


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
