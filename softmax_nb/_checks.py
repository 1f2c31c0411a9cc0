"""Argument validation shared by every public function.

Each check names the argument as the caller wrote it and the allowed range,
so the same mistake gives the same message everywhere. The exception rule
(``softmax_nb/DESIGN.md``): a value of the wrong *type* (a string, an object,
a bool where a number is meant) raises :class:`ArgumentTypeError`, a
:class:`TypeError`; a value of the right type outside its range raises
:class:`ValueError`. :class:`ArgumentTypeError` also subclasses
:class:`ValueError` for one release, because the package raised ValueError
for both before, and ``except ValueError`` clauses must keep working.
The package-wide policy for NaN, ``+inf``, ``-inf`` and empty input is stated
once, in the docstring of :mod:`softmax_nb.core`, and implemented here.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Union, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

try:  # numpy >= 1.25
    from numpy.exceptions import AxisError
except ImportError:  # pragma: no cover - older numpy
    from numpy import AxisError  # type: ignore[attr-defined,no-redef]

REDUCTIONS = ("mean", "sum", "none")
_F = TypeVar("_F", bound=Callable[..., Any])
_Rename = Union[str, "tuple[str, Callable[[Any, str], Any]]"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a :class:`TypeError`.

    It is also a :class:`ValueError` for one release (the package raised
    ValueError for wrong types before), as :class:`numpy.exceptions.AxisError`
    is both a ValueError and an IndexError.
    """


def work_dtype(dtype: Any) -> np.dtype:
    """The dtype a computation runs in: float32 for float16 input, the dtype itself otherwise.

    This is the package's one half-precision rule (``softmax_nb/DESIGN.md``):
    float16 input is computed in float32 (logits, running maxima, sums,
    gradient accumulators) and rounded to float16 once, at the end; float32
    stays float32 and float64 stays float64.
    """
    dt = np.dtype(dtype)
    return np.dtype(np.float32) if dt == np.float16 else dt


def finite_or_zero(m: NDArray[np.floating]) -> NDArray[np.floating]:
    """Replace non-finite maxima (``-inf``: nothing unmasked) by 0, so that ``x - m`` is ``-inf``, never NaN."""
    return np.where(np.isfinite(m), m, 0).astype(m.dtype, copy=False)


def real_scalar(value: Any, name: str, what: str) -> float:
    """Return a real number as a Python float, or raise :class:`ArgumentTypeError` naming ``name``.

    Python and numpy ints and floats (and 0-d real arrays) are accepted; bools,
    strings (even numeric ones such as ``"0.5"``), complex numbers and other
    objects are refused. ``what`` describes the allowed values in the message.
    """
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ArgumentTypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}")
    return float(value)


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
    if isinstance(z, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be numeric (an array of numbers), got {type(z).__name__} {z!r}")
    arr = np.asarray(z)
    if arr.dtype.kind == "c":
        raise ArgumentTypeError(f"{name} must be real-valued, got a complex array")
    if arr.dtype.kind not in "fiub":
        raise ArgumentTypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _as_axis_index(axis: Any) -> int:
    """``operator.index(axis)``, rejecting bools and non-integers with a ValueError."""
    if isinstance(axis, (bool, np.bool_)):
        raise ArgumentTypeError(f"axis must be an integer, got {axis!r}")
    try:
        return operator.index(axis)
    except TypeError:
        raise ArgumentTypeError(f"axis must be an integer, got {axis!r}") from None


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
        raise ArgumentTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_temperature(temperature: Any, name: str = "temperature") -> float:
    """Return ``temperature`` as a Python float, checking ``0 < T < inf`` (bools and strings are type errors)."""
    t = real_scalar(temperature, name, "a finite number > 0")
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {temperature!r}")
    return t


def check_reduction(reduction: str) -> str:
    """Check that ``reduction`` is one of ``'mean'``, ``'sum'`` or ``'none'``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_choice(value: Any, choices: tuple[str, ...], name: str) -> str:
    """Check that ``value`` is one of ``choices``."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be one of {choices}, got {type(value).__name__} {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_unit_interval(value: Any, name: str) -> float:
    """Return ``value`` as a float, checking ``0 <= value <= 1``."""
    v = real_scalar(value, name, "a number in [0, 1]")
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def check_nonnegative(value: Any, name: str) -> float:
    """Return ``value`` as a float, checking ``0 <= value < inf``."""
    v = real_scalar(value, name, "a finite number >= 0")
    if not (math.isfinite(v) and v >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_int(value: Any, name: str, low: int) -> int:
    """Return ``value`` as a Python int, checking ``value >= low`` (a float such as ``2.0`` or a bool is a type error)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be an integer >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_positive_int(value: Any, name: str) -> int:
    """Check that ``value`` is an integer >= 1 (a float such as ``2.0`` is a type error)."""
    return check_int(value, name, 1)


def check_sigmoid_alpha(alpha: Any) -> float:
    """Return ``alpha`` of a sigmoid focal loss as a float, checking ``alpha <= 1`` (``alpha < 0`` disables it)."""
    a = real_scalar(alpha, "alpha", "a finite number <= 1 (or < 0 to disable weighting)")
    if not (math.isfinite(a) and a <= 1.0):
        raise ValueError(f"alpha must be a finite number <= 1 (or < 0 to disable weighting), got {alpha!r}")
    return a


def check_bounds(bounds: Any, name: str = "bounds") -> tuple[float, float]:
    """Return ``(low, high)`` with ``0 < low < high < inf``."""
    what = "a pair (low, high) with 0 < low < high < inf"
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be {what}, got {bounds!r}") from None
    low, high = real_scalar(low, name, what), real_scalar(high, name, what)
    if not (math.isfinite(high) and 0.0 < low < high):
        raise ValueError(f"{name} must be a pair (low, high) with 0 < low < high < inf, got {bounds!r}")
    return low, high


def check_fraction(value: Any, name: str) -> float:
    """Return ``value`` as a float, checking ``0 < value < 1``."""
    v = real_scalar(value, name, "a number in (0, 1)")
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return v


def check_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from ``rng``, as SPEC 7 asks.

    ``rng`` may be a Generator (used as is), an integer seed or a
    :class:`numpy.random.SeedSequence` (``np.random.default_rng(rng)``), or
    ``None`` (fresh OS entropy: not reproducible). ``sample(z, 123)`` thus
    equals ``sample(z, np.random.default_rng(123))``. A legacy
    ``RandomState``, a float or a bool is an :class:`ArgumentTypeError`; a
    negative seed is a :class:`ValueError`.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"{name} must be a non-negative integer seed, a numpy.random.Generator or None, "
                             f"got {rng}")
        return np.random.default_rng(int(rng))
    raise ArgumentTypeError(f"{name} must be an int seed, a numpy.random.Generator such as "
                            f"np.random.default_rng(seed), or None, got {type(rng).__name__}")


# --- labels, probabilities and class weights ---
def check_labels(labels: ArrayLike, num_classes: int, name: str = "labels") -> NDArray[np.intp]:
    """Return integer class labels, checking ``0 <= label < num_classes``."""
    arr = np.asarray(labels)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must be integer class indices in [0, {num_classes}), got non-integer values")
    elif arr.dtype.kind not in "iu":
        raise ArgumentTypeError(f"{name} must be integer class indices in [0, {num_classes}), got dtype {arr.dtype}")
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


# --- deprecations: the call forms of the previous release ---
def deprecated_call_forms(positional: tuple[str, ...] = (),
                          renamed: Mapping[str, _Rename] | None = None) -> Callable[[_F], _F]:
    """Keep the calls of the previous release working for one more, with a :class:`DeprecationWarning`.

    The wrapped function's own signature (``inspect.signature``) is the new
    one: arrays positional, options keyword-only. Options passed positionally
    after the positional parameters are taken, in order, as the keyword
    options ``positional``; an old keyword ``old`` with ``renamed[old] = new``
    or ``renamed[old] = (new, check)`` is passed on as ``new``, after
    ``check(value, old)`` has validated it under the name the caller wrote.
    The warnings point at the caller's line (``stacklevel=2``). Passing an
    option twice, or a new name with its old one, is an
    :class:`ArgumentTypeError`.
    """
    renames = {old: (new, None) if isinstance(new, str) else new for old, new in (renamed or {}).items()}

    def decorate(func: _F) -> _F:
        n_args = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in inspect.signature(func).parameters.values())
        name = func.__name__

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > n_args:
                extra = args[n_args:]
                if len(extra) > len(positional):
                    raise ArgumentTypeError(f"{name}() takes {n_args + len(positional)} positional arguments "
                                            f"but {len(args)} were given")
                given = positional[:len(extra)]
                for key in given:
                    if key in kwargs:
                        raise ArgumentTypeError(f"{name}() got multiple values for argument {key!r}")
                warnings.warn(f"passing {', '.join(given)} to {name}() positionally is deprecated and will be an "
                              f"error in the next release; write {', '.join(k + '=...' for k in given)}",
                              DeprecationWarning, stacklevel=2)
                kwargs.update(zip(given, extra))
                args = args[:n_args]
            for old, (new, check) in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise ArgumentTypeError(f"{name}() got both {new!r} and its deprecated name {old!r}; "
                                                f"pass {new} only")
                    warnings.warn(f"{name}(): the argument {old!r} is renamed {new!r}; the old name will be "
                                  "removed in the next release", DeprecationWarning, stacklevel=2)
                    value = kwargs.pop(old)
                    kwargs[new] = value if check is None else check(value, old)
            return func(*args, **kwargs)

        return cast(_F, wrapper)

    return decorate
