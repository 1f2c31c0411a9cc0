"""Argument validation shared by every public function.

Each check raises :class:`ValueError` with a message that names the argument
and the allowed range, so the same mistake gives the same message everywhere.
The package-wide policy for NaN, ``+inf``, ``-inf`` and empty input is stated
once, in the docstring of :mod:`softmax_nb.core`, and implemented here.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

try:  # numpy >= 1.25
    from numpy.exceptions import AxisError
except ImportError:  # pragma: no cover - older numpy
    from numpy import AxisError  # type: ignore[attr-defined,no-redef]

REDUCTIONS = ("mean", "sum", "none")


# --- arrays, axes and the NaN/inf policy (every module) ---
def as_float_array(z: ArrayLike, name: str = "z") -> NDArray[np.floating]:
    """Return ``z`` as a floating array without copying floating input.

    float16/float32/float64 arrays keep their dtype; integers, booleans and
    Python lists become float64. A :class:`numpy.ma.MaskedArray` is rejected,
    because ``np.asarray`` would silently drop its mask.
    """
    if isinstance(z, np.ma.MaskedArray):
        raise ValueError(f"{name} is a numpy masked array, whose mask would be ignored; pass plain data "
                         "(and, where supported, the mask as where=~mask)")
    arr = np.asarray(z)
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} must be real-valued, got a complex array")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _as_axis_index(axis: Any) -> int:
    """``operator.index(axis)``, rejecting bools and non-integers with a ValueError."""
    if isinstance(axis, (bool, np.bool_)):
        raise ValueError(f"axis must be an integer, got {axis!r}")
    try:
        return operator.index(axis)
    except TypeError:
        raise ValueError(f"axis must be an integer, got {axis!r}") from None


def _check_in_range(axis: int, ndim: int, name: str) -> int:
    if not -ndim <= axis < ndim:
        # AxisError subclasses ValueError (and IndexError), so numpy users' except clauses keep working.
        raise AxisError(f"axis must be in [{-ndim}, {ndim}) for {name} with {ndim} dimension(s), got {axis}")
    return axis % ndim


def check_axis(arr: NDArray[Any], axis: int, name: str = "z") -> int:
    """Normalise ``axis`` and check that the class axis is not empty.

    ``axis`` is anything :func:`operator.index` accepts except a bool; out of
    range gives :class:`numpy.exceptions.AxisError`, a ``ValueError`` subclass.
    """
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (the class axis), got a scalar")
    axis = _check_in_range(_as_axis_index(axis), arr.ndim, name)
    if arr.shape[axis] == 0:
        raise ValueError(f"{name} has an empty class axis (axis={axis}, shape {arr.shape}); at least one class is required")
    return axis


def check_axes(arr: NDArray[Any], axis: Any, name: str = "z") -> tuple[int, ...]:
    """Normalise ``axis`` (an int, a tuple of ints or None for all axes) to sorted, distinct axes.

    A 0-d array has one implicit axis here, as in scipy: ``axis`` may be
    ``None``, ``0``, ``-1`` or ``()``, and the caller treats it as shape (1,).
    Empty axes are *not* rejected; callers decide (see the NaN/inf/empty
    policy in :mod:`softmax_nb.core`).
    """
    ndim = max(arr.ndim, 1)
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        axes = tuple(_check_in_range(_as_axis_index(a), ndim, name) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"axis must not repeat an axis, got {axis!r}")
        if not axes and arr.ndim == 0:
            return (0,)
        return tuple(sorted(axes))
    return (_check_in_range(_as_axis_index(axis), ndim, name),)


def check_max(m: NDArray[np.floating], name: str = "z") -> None:
    """Reject slices whose maximum makes softmax undefined (all -inf, +inf, NaN)."""
    check_no_nan_or_posinf(m, name)
    if np.isneginf(m).any():
        raise ValueError(f"{name} has a slice along the class axis where every entry is -inf; "
                         "softmax is undefined there (at least one class must be unmasked)")


def check_no_nan_or_posinf(m: NDArray[np.floating], name: str = "z") -> None:
    """Reject NaN and +inf in (running) maxima; -inf is allowed (nothing unmasked seen yet)."""
    if np.isnan(m).any():
        raise ValueError(f"{name} contains NaN; softmax is undefined there")
    if np.isposinf(m).any():
        raise ValueError(f"{name} contains +inf; softmax is undefined there (use a large finite logit instead)")


def check_finite(arr: NDArray[np.floating], name: str) -> None:
    """Check that every entry of ``arr`` is finite (no NaN, no ±inf)."""
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite numbers, got NaN or ±inf")


def check_same_shape(a: NDArray[Any], b: NDArray[Any], name_a: str, name_b: str) -> None:
    """Check that two arrays have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


# --- scalar arguments ---
def check_bool(value: Any, name: str) -> bool:
    """Check that ``value`` is ``True`` or ``False`` (a Python or numpy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_temperature(temperature: Any) -> float:
    """Return ``temperature`` as a Python float, checking ``0 < T < inf`` (bools are rejected)."""
    if isinstance(temperature, (bool, np.bool_)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}") from None
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def check_reduction(reduction: str) -> str:
    """Check that ``reduction`` is one of ``'mean'``, ``'sum'`` or ``'none'``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_choice(value: Any, choices: tuple[str, ...], name: str) -> str:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_unit_interval(value: Any, name: str) -> float:
    """Return ``value`` as a float, checking ``0 <= value <= 1``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def check_nonnegative(value: Any, name: str) -> float:
    """Return ``value`` as a float, checking ``0 <= value < inf``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}") from None
    if not (math.isfinite(v) and v >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_positive_int(value: Any, name: str) -> int:
    """Check that ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_sigmoid_alpha(alpha: Any) -> float:
    """Return ``alpha`` of a sigmoid focal loss as a float, checking ``alpha <= 1`` (``alpha < 0`` disables it)."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a finite number <= 1 (or < 0 to disable weighting), got {alpha!r}") from None
    if not (math.isfinite(a) and a <= 1.0):
        raise ValueError(f"alpha must be a finite number <= 1 (or < 0 to disable weighting), got {alpha!r}")
    return a


def check_bounds(bounds: Any, name: str = "bounds") -> tuple[float, float]:
    """Return ``(low, high)`` with ``0 < low < high < inf``."""
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) with 0 < low < high < inf, got {bounds!r}") from None
    if not (math.isfinite(high) and 0.0 < low < high):
        raise ValueError(f"{name} must be a pair (low, high) with 0 < low < high < inf, got {bounds!r}")
    return low, high


def check_fraction(value: Any, name: str) -> float:
    """Return ``value`` as a float, checking ``0 < value < 1``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}") from None
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return v


def check_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """Check that ``rng`` is a :class:`numpy.random.Generator` (e.g. ``np.random.default_rng(0)``)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{name} must be a numpy.random.Generator such as np.random.default_rng(seed), "
                         f"got {type(rng).__name__}")
    return rng


# --- labels, probabilities and class weights ---
def check_labels(labels: ArrayLike, num_classes: int, name: str = "labels") -> NDArray[np.intp]:
    """Return integer class labels, checking ``0 <= label < num_classes``."""
    arr = np.asarray(labels)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must be integer class indices in [0, {num_classes}), got non-integer values")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer class indices in [0, {num_classes}), got dtype {arr.dtype}")
    arr = arr.astype(np.intp)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        bad = arr[(arr < 0) | (arr >= num_classes)].flat[0]
        raise ValueError(f"{name} must be in [0, {num_classes}) for {num_classes} classes, got {bad}")
    return arr


def check_probabilities(arr: NDArray[Any], name: str) -> None:
    """Check that every entry is a finite number in ``[0, 1]``."""
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain finite probabilities in [0, 1], got NaN or inf")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{name} must contain probabilities in [0, 1], "
                         f"got values in [{arr.min():.6g}, {arr.max():.6g}]")


def check_class_weights(alpha: ArrayLike, num_classes: int, name: str = "alpha") -> NDArray[np.float64]:
    """Return a length-``num_classes`` vector of finite, non-negative class weights."""
    arr = np.asarray(alpha, dtype=np.float64)
    if arr.shape != (num_classes,):
        raise ValueError(f"{name} must be None or a vector of length K={num_classes} (one weight per class), "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0:
        raise ValueError(f"{name} must contain finite class weights >= 0")
    return arr


def check_matrix_and_labels(arr: NDArray[np.floating], labels: ArrayLike, name: str) -> NDArray[np.intp]:
    """Check a non-empty ``(N, K)`` array and ``(N,)`` labels in ``[0, K)``; return the labels."""
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array of shape (N, K), got shape {arr.shape}")
    y = np.asarray(labels)
    if y.shape != (arr.shape[0],):
        raise ValueError(f"labels must have shape (N,) = ({arr.shape[0]},) to match {name}, got shape {y.shape}")
    return check_labels(y, arr.shape[1])
