"""The harness of the property suite: one way to call a public function and judge what came back.

Every property of ``tests/properties`` is one of two kinds (issue 21):

* the result equals an exact reference (mpmath, or exact rational/integer
  arithmetic, rounded once to float64) within a bound stated next to the
  reference; or
* a :class:`ValueError` / :class:`TypeError` whose message names the argument
  at fault, as the caller wrote it.

:func:`call_checked` runs a call with every warning turned into an error and
classifies the result. Anything else fails the test at once: a bare
:class:`IndexError`, a numpy ``RuntimeWarning`` (or any other warning that is
not the one documented), a :class:`FloatingPointError`, a
``ValueError``/``TypeError`` whose message names none of the function's
parameters. :meth:`Outcome.ok` then rejects a NaN anywhere in the result
unless the policy allows it, and :meth:`Outcome.refused` checks the kind of
the refusal and the name it gives.

Known bugs (``BUGS``) found by this suite are tolerated here, each under its
ID, so that the properties keep covering the rest of the input space; each
has a strict ``xfail`` test with its failing example in
``test_prop_known_bugs.py``. Fixing a bug means deleting its entry here and
its ``xfail`` marker there.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import event, settings

# --------------------------------------------------------------------------- known bugs
#: Bugs this suite found, by ID (the report lists a minimal reproducer for each).
BUGS: dict[str, str] = {  # B1-B18 are fixed; their tests stay in test_prop_known_bugs.py as regressions
}

# Messages that name the argument by another name (bug B1): parameter -> names tolerated for now.
_ALIASES_B1 = {"logits": ("z",)}


_STRICT = [False]


def tolerated(bug: str) -> bool:
    """True while ``bug`` is listed in :data:`BUGS` (the properties skip or accept its symptom), outside
    :func:`strict`."""
    return bug in BUGS and not _STRICT[0]


@contextlib.contextmanager
def strict():
    """Tolerate no known bug inside this block (the xfail tests of ``test_prop_known_bugs.py``)."""
    _STRICT[0] = True
    try:
        yield
    finally:
        _STRICT[0] = False


# --------------------------------------------------------------------------- example budget
_BASE_EXAMPLES = 60  # max_examples of the "book" profile that conftest.py loads by default


def budget(n: int, **kw: Any) -> settings:
    """Hypothesis settings with ``n`` examples under the default profile, scaled with the loaded profile.

    ``--hypothesis-profile=long`` (600 examples) runs 10 n, ``HYPOTHESIS_PROFILE=ci`` 2 n; every
    other setting (deadline, derandomize on CI, health checks) comes from the profile.
    """
    scale = settings.default.max_examples / _BASE_EXAMPLES
    return settings(max_examples=max(1, round(n * scale)), **kw)


# --------------------------------------------------------------------------- calling
def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")


def names_in(message: str, names: tuple[str, ...] | list[str]) -> bool:
    """Whether ``message`` names one of ``names`` as a whole word."""
    return any(_word(n).search(message) for n in names)


def _parameters(fn: Callable[..., Any]) -> tuple[str, ...]:
    try:
        return tuple(p for p in inspect.signature(fn).parameters if p not in ("self", "args", "kwargs"))
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return ()


def _qualname(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def _accepted_names(names: tuple[str, ...]) -> tuple[str, ...]:
    out = list(names)
    if tolerated("B1"):
        for n in names:
            out.extend(_ALIASES_B1.get(n, ()))
    return tuple(out)


@dataclass
class Outcome:
    """What one call did: a value (with any documented warnings) or a refusal."""

    fn: str
    params: tuple[str, ...]
    value: Any = None
    error: BaseException | None = None
    warned: list[warnings.WarningMessage] = field(default_factory=list)

    def ok(self, *, allow_nan: bool = False) -> Any:
        """The value; fails if the call was refused or (unless allowed) the value holds a NaN."""
        if self.error is not None:
            raise AssertionError(f"{self.fn} refused a call the policy allows: "
                                 f"{type(self.error).__name__}: {self.error}") from self.error
        if not allow_nan:
            assert_no_nan(self.value, self.fn)
        return self.value

    def refused(self, *expected: tuple[type[BaseException], tuple[str, ...]]) -> BaseException:
        """Check that the call raised one of the ``(kind, names)`` refusals.

        ``kind`` is ``ValueError`` (a wrong value: must not also be a TypeError) or ``TypeError``
        (a wrong type); the message must name one of ``names``.
        """
        want = " or ".join(f"{k.__name__} naming {'/'.join(n)}" for k, n in expected)
        if self.error is None:
            raise AssertionError(f"{self.fn} returned {self.value!r}; the policy asks for {want}")
        e = self.error
        for kind, names in expected:
            right_kind = isinstance(e, TypeError) if kind is TypeError else (
                isinstance(e, ValueError) and not isinstance(e, TypeError))
            if right_kind and names_in(str(e), _accepted_names(names)):
                return e
        raise AssertionError(f"{self.fn} raised {type(e).__name__}: {e}; the policy asks for {want}") from e

    def check(self, expected: Expected, **ok_kw: Any) -> Any:
        """Judge against :class:`Expected`: a refusal if any problem was predicted, else a value (or one of
        the optional refusals). Returns the value, or None after a refusal."""
        if expected.problems:
            self.refused(*expected.problems, *expected.optional)
            event("refused")
            return None
        if self.error is not None and expected.optional:
            self.refused(*expected.optional)
            event("refused")
            return None
        event("value")
        return self.ok(**ok_kw)


@dataclass
class Expected:
    """The refusals a call must produce (any one of them), or none: then it must return a value."""

    problems: list[tuple[type[BaseException], tuple[str, ...]]] = field(default_factory=list)
    optional: list[tuple[type[BaseException], tuple[str, ...]]] = field(default_factory=list)

    def refuse(self, kind: type[BaseException], *names: str) -> Expected:
        """The call must raise this (or another listed) refusal."""
        self.problems.append((kind, names))
        return self

    def allow(self, kind: type[BaseException], *names: str) -> Expected:
        """The call may raise this refusal instead of returning (e.g. NaN in a slice that is not used)."""
        self.optional.append((kind, names))
        return self

    def __bool__(self) -> bool:  # truthy when the call must be refused
        return bool(self.problems)


def call_checked(fn: Callable[..., Any], /, *args: Any, warns: tuple[type[Warning], str] | None = None,
                 **kw: Any) -> Outcome:
    """Call ``fn(*args, **kw)`` with every warning an error, and classify what happened.

    Returns an :class:`Outcome` holding the value, or the ``ValueError``/``TypeError`` it
    raised if that error's message names one of ``fn``'s parameters. Fails (AssertionError)
    on any other exception (a bare IndexError, a warning turned error, FloatingPointError,
    ZeroDivisionError, ...) and on a ValueError/TypeError that names no parameter.
    ``warns=(category, message_regex)`` lets one documented warning through; it is recorded
    in ``Outcome.warned``.
    """
    params = _parameters(fn)
    name = _qualname(fn)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")
        if warns is not None:
            warnings.filterwarnings("always", message=warns[1], category=warns[0])
        try:
            value = fn(*args, **kw)
        except (ValueError, TypeError) as e:
            if isinstance(e, IndexError) and not isinstance(e, ValueError):  # pragma: no cover
                raise AssertionError(f"{name} raised a bare IndexError: {e}") from e
            if not names_in(str(e), _accepted_names(params)):
                raise AssertionError(f"{name} raised {type(e).__name__}: {e!s}; the message names none of "
                                     f"its arguments {params}") from e
            return Outcome(name, params, error=e, warned=list(caught))
        except Exception as e:  # noqa: BLE001 - that is the point
            raise AssertionError(f"{name} raised {type(e).__name__}: {e}; only a ValueError or TypeError "
                                 f"naming an argument is allowed") from e
    return Outcome(name, params, value=value, warned=list(caught))


# --------------------------------------------------------------------------- checking values
def _leaves(value: Any):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def assert_no_nan(value: Any, what: str = "result") -> None:
    """No NaN anywhere in ``value`` (arrays, numpy or Python scalars, tuples, NamedTuples, dicts)."""
    for leaf in _leaves(value):
        if isinstance(leaf, (np.ndarray, np.generic, float)):
            arr = np.asarray(leaf)
            if arr.dtype.kind in "fc" and np.isnan(arr).any():
                raise AssertionError(f"{what} returned a NaN the policy does not allow: {value!r}")


def assert_within(actual: Any, ref: Any, bound: Any, *, what: str, dtype: Any = None) -> None:
    r"""``|actual - ref| <= bound`` elementwise, with the infinities handled as rounding does.

    ``ref`` is the exact value rounded to float64 (``±inf`` where it is infinite or
    beyond float64), ``bound`` the stated absolute bound (float64, >= 0). An infinite
    ``actual`` is accepted for a finite ``ref`` only where ``|ref| + bound`` reaches the
    largest finite value of ``dtype`` (the result rounds to overflow there); an infinite
    ``ref`` needs the same infinity, or a value of at least 1/16 of that largest value
    when ``ref`` only overflowed float64.
    """
    a = np.asarray(actual)
    r = np.asarray(ref, dtype=np.float64)
    b = np.broadcast_to(np.asarray(bound, dtype=np.float64), r.shape)
    assert a.shape == r.shape, f"{what}: shape {a.shape}, expected {r.shape}"
    a64 = a.astype(np.float64)
    big = float(np.finfo(a.dtype if dtype is None else dtype).max) if a.dtype.kind == "f" or dtype else math.inf
    bad = np.isnan(a64) | np.isnan(r)
    same = (a64 == r)
    fin = np.isfinite(a64) & np.isfinite(r)
    with np.errstate(over="ignore", invalid="ignore"):
        close = fin & (np.abs(a64 - r) <= b)
        over_ok = np.isinf(a64) & np.isfinite(r) & (np.sign(a64) == np.sign(r)) & (np.abs(r) + b >= big)
        ref_over = np.isinf(r) & np.isfinite(a64) & (np.sign(a64) == np.sign(r)) & (np.abs(a64) >= big / 16)
    good = ~bad & (same | close | over_ok | ref_over)
    if not good.all():
        i = tuple(np.argwhere(~good)[0])
        with np.errstate(all="ignore"):
            err = abs(float(a64[i]) - float(r[i]))
        raise AssertionError(f"{what}: at index {i} got {a[i]!r}, exact {float(r[i])!r} (error {err:.3g}, "
                             f"stated bound {float(b[i]):.3g}); {int((~good).sum())} of {good.size} entries out "
                             f"of bound")


# --------------------------------------------------------------------------- the dtype model
@dataclass(frozen=True)
class Precision:
    """Work and output dtype of a function on input of some dtype: the package's half-precision rule.

    float16 is computed in float32 and rounded once to float16; float32 and float64 in
    themselves; integers and bools in float64. ``u_w``/``u_o`` are the unit roundoffs,
    ``sub_w``/``sub_o`` the smallest subnormals, ``cap`` the exponent range of ``exp``
    in the work dtype (beyond it a term is 0, so errors in its exponent do not matter).
    """

    work: np.dtype
    out: np.dtype

    @property
    def u_w(self) -> float:
        return float(np.finfo(self.work).eps) / 2

    @property
    def u_o(self) -> float:
        """The output rounding, if the output dtype is narrower than the work dtype (else 0)."""
        return float(np.finfo(self.out).eps) / 2 if self.out != self.work else 0.0

    @property
    def sub_w(self) -> float:
        return float(np.finfo(self.work).smallest_subnormal)

    @property
    def sub_o(self) -> float:
        return float(np.finfo(self.out).smallest_subnormal)

    @property
    def cap(self) -> float:
        return -math.log(float(np.finfo(self.work).smallest_subnormal)) + 2.0


def precision(dtype: Any) -> Precision:
    dt = np.dtype(dtype)
    out = dt if dt.kind == "f" else np.dtype(np.float64)
    work = np.dtype(np.float32) if out == np.float16 else out
    return Precision(work, out)


U64 = float(np.finfo(np.float64).eps) / 2


# --------------------------------------------------------------------------- layout
def norm_axes(ndim: int, axis: Any) -> tuple[int, ...]:
    """The reduced axes of an ``ndim``-D array for ``axis`` (int, tuple or None); a 0-d array has one axis."""
    n = max(ndim, 1)
    if axis is None:
        return tuple(range(n))
    if isinstance(axis, tuple):
        return tuple(sorted(a % n for a in axis)) if axis or ndim else (0,)
    return (axis % n,)


def to_rows(arr: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """``arr`` as ``(rows, K)`` with the reduced axes last (0-d counts as shape (1,)), and the batch shape."""
    a = arr.reshape(1) if arr.ndim == 0 else arr
    rest = [i for i in range(a.ndim) if i not in axes]
    moved = np.transpose(a, rest + list(axes))
    batch = moved.shape[:len(rest)]
    k = math.prod(moved.shape[len(rest):])
    return moved.reshape(math.prod(batch), k), batch


def from_rows(rows: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`to_rows` for an output shaped like the input."""
    if len(shape) == 0:
        return rows.reshape(())
    rest = [i for i in range(len(shape)) if i not in axes]
    perm = rest + list(axes)
    moved = rows.reshape(tuple(shape[i] for i in perm))
    return np.transpose(moved, np.argsort(perm))


def exact_values(arr: np.ndarray) -> np.ndarray:
    """The entries of a numeric array as exact Python numbers (ints stay ints; floats via float64, exactly)."""
    if arr.dtype.kind in "iu":
        return arr.astype(object)
    return arr.astype(np.float64).astype(object)
