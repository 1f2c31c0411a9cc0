"""The exception rule, as a property over every option of every public function of the phase-1 modules.

Each row of ``OPTIONS`` is one keyword of one function, a valid base call, and the domain of
the option. Hypothesis draws a row and an arbitrary Python/numpy value (floats with NaN and
±inf, ints, bools, numeric and other strings, None, complex numbers, numpy scalars, 0-d arrays,
lists, objects, generators); an oracle that knows only the domain decides:

* a value of the right type inside the domain: the call returns (no NaN, no warning);
* a value of the wrong type (a string, even "0.5"; a bool where a number is meant; a float
  where an int is meant; an object): a :class:`TypeError` naming the option;
* a value of the right type outside the domain: a :class:`ValueError` (not a TypeError)
  naming the option.

``ARRAYS`` does the same for the array arguments with non-numeric arrays. Rows of known bug B7
(wrong types not yet refused as TypeErrors) skip the wrong-type values while B7 stands; their
wrong values are still checked.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import assume, event, given
from hypothesis import strategies as st

import softmax_nb as snb
from _harness import budget, call_checked, tolerated

Z = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0], [0.0, 0.0, 1.0]])
P = np.array([[0.2, 0.8], [0.5, 0.5]])
Y = np.array([0, 2, 1])
PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])


@dataclass(frozen=True)
class Option:
    fn: Callable[..., Any]
    name: str
    domain: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    bug: str | None = None  # wrong types are not yet refused as TypeErrors (skipped while the bug stands)
    nan_ok: bool = False  # the result may hold NaN by documentation (empty bins of a reliability curve)

    def __repr__(self) -> str:  # short ids in hypothesis' reports
        return f"{self.fn.__name__}({self.name}: {self.domain}{', ' + self.bug if self.bug else ''})"


def _quad(x):
    return float(x[0])  # cannot overflow for any finite step


_VS = snb.VectorScaling(np.ones(3), np.zeros(3))
OPTIONS = [
    # core
    *[Option(f, "temperature", "pos_float", (Z,)) for f in (snb.softmax, snb.log_softmax)],
    *[Option(f, "axis", "axes", (Z,)) for f in (snb.softmax, snb.log_softmax, snb.logsumexp)],
    Option(snb.naive_softmax, "axis", "axis", (Z,)),
    Option(snb.logsumexp, "keepdims", "bool", (Z,)),
    Option(snb.logsumexp, "return_sign", "bool", (Z,)),
    # numerics
    Option(snb.exp_limits, "dtype", "dtype"),
    Option(snb.numerical_gradient, "h", "pos_float", (_quad, [1.0, 2.0])),
    # information
    Option(snb.entropy, "axis", "axis", (P,)),
    Option(snb.kl_divergence, "axis", "axis", (P, P)),
    # losses
    Option(snb.one_hot, "num_classes", "pos_int", ([0, 0],)),
    Option(snb.smooth_labels, "num_classes", "pos_int", ([0, 0],), {"alpha": 0.1}),
    Option(snb.smooth_labels, "alpha", "unit", ([0, 1], 3)),
    *[Option(f, "axis", "axis", (Z, Y)) for f in (snb.cross_entropy, snb.cross_entropy_grad)],
    *[Option(f, "label_smoothing", "unit", (Z, Y)) for f in (snb.cross_entropy, snb.cross_entropy_grad)],
    *[Option(f, "reduction", "reduction", (Z, Y)) for f in (snb.cross_entropy, snb.cross_entropy_grad,
                                                            snb.focal_loss, snb.focal_loss_grad)],
    *[Option(f, "ignore_index", "opt_int", (Z, Y)) for f in (snb.cross_entropy, snb.cross_entropy_grad)],
    Option(snb.binary_cross_entropy_with_logits, "reduction", "reduction", (Z, PROBS)),
    *[Option(f, "gamma", "nonneg", (Z, Y)) for f in (snb.focal_loss, snb.focal_loss_grad)],
    Option(snb.sigmoid_focal_loss, "alpha", "sigmoid_alpha", (Z, PROBS)),
    Option(snb.sigmoid_focal_loss, "gamma", "nonneg", (Z, PROBS)),
    Option(snb.sigmoid_focal_loss, "reduction", "reduction", (Z, PROBS)),
    # alternatives
    Option(snb.sparsemax, "axis", "axis", (Z,)),
    Option(snb.one_hot_argmax, "axis", "axis", (Z,)),
    Option(snb.gumbel_softmax, "temperature", "pos_float", (Z,), {"rng": 0}),
    Option(snb.gumbel_softmax, "rng", "rng", (Z, 1.0)),
    Option(snb.gumbel_softmax, "hard", "bool", (Z, 1.0, 0)),
    Option(snb.gumbel_softmax, "axis", "axis", (Z, 1.0, 0)),
    # scoring
    Option(snb.brier_decomposition, "n_bins", "opt_pos_int", (PROBS, Y)),
    Option(snb.ece_noise_floor, "n_bins", "pos_int", (PROBS,), {"n_draws": 3}),
    Option(snb.ece_noise_floor, "n_draws", "pos_int", (PROBS,)),
    Option(snb.ece_noise_floor, "rng", "rng", (PROBS,), {"n_draws": 3}),
    *[Option(f, "n_bins", "pos_int", (PROBS, Y)) for f in (snb.classwise_ece, snb.adaptive_ece,
                                                           snb.expected_calibration_error)],
    Option(snb.reliability_curve, "n_bins", "pos_int", (PROBS, Y), nan_ok=True),
    Option(snb.wilson_interval, "confidence", "open_unit", (3, 10)),
    # calibration
    Option(snb.fit_temperature, "bounds", "bounds", (Z, Y)),
    Option(snb.fit_vector_scaling, "l2", "nonneg", (Z, Y), {"temperature": 1.0}),
    Option(snb.fit_vector_scaling, "temperature", "opt_pos_float", (Z, Y), {"l2": 1.0}),
    Option(snb.fit_matrix_scaling, "l2_offdiag", "nonneg", (Z, Y), {"temperature": 1.0}),
    Option(snb.fit_matrix_scaling, "l2_bias", "nonneg", (Z, Y), {"temperature": 1.0}),
    Option(snb.fit_matrix_scaling, "temperature", "opt_pos_float", (Z, Y), {"l2_offdiag": 1.0}),
]


# --------------------------------------------------------------------------- arbitrary values and the oracle
class Opaque:
    """An object of no numeric type."""

    def __repr__(self) -> str:
        return "Opaque()"


NUMBERS = st.one_of(
    st.floats(), st.floats(-3, 30), st.floats(0, 1), st.integers(-3, 30), st.integers(-2**70, 2**70),
    st.floats(-5, 5, width=32).map(np.float32), st.integers(-3, 30).map(np.int64), st.floats(-5, 5).map(np.array),
    st.integers(0, 5).map(np.array), st.sampled_from(["mean", "sum", "none", "avg", ""]),
    st.tuples(st.floats(0, 30), st.floats(0, 30)), st.tuples(st.integers(-2, 3), st.integers(-2, 3)),
    st.none(), st.booleans(), st.integers(0, 99).map(np.random.default_rng),
)
WRONG_TYPES = st.one_of(
    st.sampled_from(["0.5", "2", "1e-3", "-1", "abc"]), st.text(max_size=3), st.complex_numbers(max_magnitude=10),
    st.floats(-5, 5).map(lambda v: complex(v, 0)), st.booleans().map(np.bool_), st.lists(st.floats(0, 1), max_size=2),
    st.just(Opaque()), st.just(np.random.RandomState(0)), st.integers(0, 99).map(np.random.SeedSequence),
)
ANYTHING = st.one_of(NUMBERS, NUMBERS, WRONG_TYPES)
_REALS = st.one_of(st.floats(), st.floats(-2, 2), st.integers(-3, 30), st.floats(-5, 5, width=32).map(np.float32))
NEAR = {  # values of the right type, inside and outside each domain
    "pos_float": _REALS, "unit": _REALS, "open_unit": _REALS, "nonneg": _REALS, "sigmoid_alpha": _REALS,
    "pos_int": st.one_of(st.integers(-3, 40), st.integers(-3, 40).map(np.int64)),
    "bool": st.one_of(st.booleans(), st.booleans().map(np.bool_)),
    "axis": st.one_of(st.integers(-4, 4), st.integers(-4, 4).map(np.int64)),
    "axes": st.one_of(st.integers(-4, 4), st.none(), st.lists(st.integers(-3, 3), max_size=3).map(tuple)),
    "rng": st.one_of(st.integers(-3, 2**40), st.none(), st.integers(0, 99).map(np.random.default_rng)),
    "reduction": st.sampled_from(["mean", "sum", "none", "avg", "MEAN", ""]),
    "bounds": st.tuples(st.floats(-1, 50), st.floats(-1, 50)),
    "opt_pos_int": st.one_of(st.none(), st.integers(-3, 40)), "opt_int": st.one_of(st.none(), st.integers(-200, 5)),
    "opt_pos_float": st.one_of(st.none(), _REALS),
    "dtype": st.sampled_from([np.float16, "float32", np.dtype("f8"), np.longdouble, np.int8, "U3", "c8", bool, None,
                              "float", "foo"]),
}
CASES = st.sampled_from(OPTIONS).flatmap(lambda o: st.tuples(st.just(o), st.one_of(NEAR[o.domain], ANYTHING)))


def _is_bool(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _real(v):
    """The value as a float if it is a real number (not a bool; 0-d real arrays included), else None."""
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iuf":
        v = v[()]
    if _is_bool(v) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    try:
        return float(v)
    except OverflowError:
        return math.copysign(math.inf, v)


def _int(v):
    return None if _is_bool(v) or not isinstance(v, (int, np.integer)) else int(v)


def classify(domain: str, v: Any, ndim: int = 2) -> str:
    """'ok', 'type' or 'value' for value ``v`` of an option with this domain."""
    if domain.startswith("opt_"):
        return "ok" if v is None else classify(domain[4:], v, ndim)
    if domain == "bool":
        return "ok" if _is_bool(v) else "type"
    if domain in ("pos_int", "int"):
        i = _int(v)
        return "type" if i is None else ("ok" if domain == "int" or i >= 1 else "value")
    if domain in ("axis", "axes"):
        if domain == "axes" and v is None:
            return "ok"
        if domain == "axes" and isinstance(v, tuple):
            kinds = [classify("axis", a, ndim) for a in v]
            if "type" in kinds:
                return "type"
            if "value" in kinds or len({operator.index(a) % ndim for a in v}) != len(v):
                return "value"
            return "ok"
        if _is_bool(v):
            return "type"
        try:
            i = operator.index(v)
        except TypeError:
            return "type"
        return "ok" if -ndim <= i < ndim else "value"
    if domain == "rng":
        if v is None or isinstance(v, (np.random.Generator, np.random.SeedSequence)):
            return "ok"
        i = _int(v)
        return "type" if i is None else ("ok" if i >= 0 else "value")
    if domain == "dtype":
        try:
            dt = np.dtype(v)
        except Exception:  # noqa: BLE001 - numpy raises TypeError, ValueError, even SyntaxError (np.dtype(","))
            return "type"
        return "ok" if dt.kind == "f" else "value"
    if domain == "reduction":
        return "type" if not isinstance(v, str) else ("ok" if v in ("mean", "sum", "none") else "value")
    if domain == "bounds":
        if not (isinstance(v, (tuple, list)) and len(v) == 2):
            return "type"
        lo, hi = _real(v[0]), _real(v[1])
        if lo is None or hi is None:
            return "type"
        # logits / low must not overflow float64 (the base logits reach |z| = 3)
        return "ok" if 0 < lo < hi < math.inf and lo > 3 / np.finfo(np.float64).max else "value"
    x = _real(v)
    if x is None:
        return "type"
    ok = {"pos_float": math.isfinite(x) and x > 0, "unit": 0 <= x <= 1, "open_unit": 0 < x < 1,
          "nonneg": math.isfinite(x) and x >= 0, "sigmoid_alpha": math.isfinite(x) and x <= 1}[domain]
    return "ok" if ok else "value"


def _check(fn, name, verdict, out, nan_ok=False):
    if verdict == "ok":
        out.ok(allow_nan=nan_ok)
    elif verdict == "type":
        out.refused((TypeError, (name,)))
    else:
        out.refused((ValueError, (name,)))


@budget(400)
@given(CASES)
def test_every_option_follows_the_exception_rule(case):
    """Right type and value: a result; wrong type: TypeError naming the option; wrong value: ValueError naming it."""
    opt, value = case
    ndim = np.ndim(opt.args[0]) if opt.args else 1
    verdict = classify(opt.domain, value, ndim)
    if opt.bug and tolerated(opt.bug):  # B7: these options do not check types yet (numpy errors, or accepted)
        assume(verdict != "type" and not (isinstance(value, int) and abs(value) >= 2**63)
               and not isinstance(value, np.ndarray))  # a 0-d array is a number to real_scalar, not to them
    if opt.fn is snb.numerical_gradient:  # (f(x + h) - f(x - h)) / 2h overflows for h near the max
        assume(_real(value) is None or abs(_real(value)) < 1e300)
    # counts such as num_classes or n_draws size arrays: huge valid ones would only test the allocator
    assume(not (opt.domain.endswith("pos_int") and (_int(value) or 0) > 10_000))
    event(verdict)
    out = call_checked(opt.fn, *opt.args, **opt.kwargs, **{opt.name: value})
    _check(opt.fn, opt.name, verdict, out, opt.nan_ok)


# --------------------------------------------------------------------------- array arguments
@dataclass(frozen=True)
class ArrayArg:
    fn: Callable[..., Any]
    name: str
    args: tuple
    masked: bool = True  # a masked array must be refused (its mask would be ignored)
    bug: str | None = None
    shaped: bool = False  # the shape is checked first (labels): only bad arrays of the right shape (2,)
    keyword: bool = False  # pass the value as the keyword ``name`` instead of at the hole in ``args``

    def __repr__(self) -> str:
        return f"{self.fn.__name__}({self.name}{', ' + self.bug if self.bug else ''})"

    def call(self, value):
        if self.keyword:
            return call_checked(self.fn, *self.args, **{self.name: value})
        args = [value if a is _HOLE else a for a in self.args]
        return call_checked(self.fn, *args)


_HOLE = object()
H = _HOLE
ARRAYS = [
    *[ArrayArg(f, "z", (H,)) for f in (snb.softmax, snb.log_softmax, snb.logsumexp, snb.sigmoid,
                                       snb.softmax_jacobian, snb.naive_softmax, snb.sparsemax)],
    ArrayArg(snb.one_hot_argmax, "p", (H,)),
    ArrayArg(snb.logsumexp, "b", ([1.0, 2.0],), masked=False, keyword=True),
    *[ArrayArg(f, "where", ([1.0, 2.0],), masked=False, keyword=True) for f in (snb.softmax, snb.logsumexp)],
    *[ArrayArg(f, "weight", ([[1.0, 0.0], [0.0, 1.0]], [0, 1]), masked=False, keyword=True)
      for f in (snb.cross_entropy, snb.cross_entropy_grad)],
    *[ArrayArg(f, "alpha", ([[1.0, 0.0], [0.0, 1.0]], [0, 1]), masked=False, keyword=True)
      for f in (snb.focal_loss, snb.focal_loss_grad)],
    *[ArrayArg(snb.binary_cross_entropy_with_logits, w, ([0.5, -0.5], [1.0, 0.0]), keyword=True)
      for w in ("weight", "pos_weight")],
    ArrayArg(snb.gumbel_softmax, "logits", (H, 1.0, 0)),
    ArrayArg(snb.entropy, "p", (H,)),
    ArrayArg(snb.kl_divergence, "q", ([0.5, 0.5], H)),
    ArrayArg(snb.relative_error, "approx", (H, [1.0, 2.0])),
    ArrayArg(snb.to_bfloat16, "x", (H,), masked=False),
    ArrayArg(snb.numerical_gradient, "x", (_quad, H)),
    ArrayArg(snb.one_hot, "labels", (H, 3), masked=False),
    *[ArrayArg(f, "logits", (H, [0, 1])) for f in (snb.cross_entropy, snb.cross_entropy_grad, snb.focal_loss,
                                                    snb.focal_loss_grad)],
    *[ArrayArg(f, "target", ([[1.0, 0.0], [0.0, 1.0]], H), masked=False, shaped=True)
      for f in (snb.cross_entropy, snb.focal_loss)],
    ArrayArg(snb.binary_cross_entropy_with_logits, "targets", ([0.5, -0.5], H)),
    ArrayArg(snb.sigmoid_focal_loss, "logits", (H, [1.0, 0.0])),
    ArrayArg(snb.brier_score, "probs", (H, [0, 1])),
    ArrayArg(snb.brier_score, "labels", ([[1.0, 0.0], [0.0, 1.0]], H), masked=False, shaped=True),
    ArrayArg(snb.reliability_curve, "probs", (H, [0, 1])),
    ArrayArg(snb.ece_noise_floor, "probs", (H,)),
    ArrayArg(snb.wilson_interval, "successes", (H, 10), masked=False),
    ArrayArg(snb.fit_temperature, "logits", (H, [0, 1])),
    ArrayArg(snb.fit_vector_scaling, "logits", (H, [0, 1])),
    ArrayArg(_VS.apply, "logits", (H,)),
]

BAD_ARRAYS = st.one_of(
    st.sampled_from([["1", "2"], ["a", "b"], [1 + 2j, 0j], [Opaque(), Opaque()], [None, None]])
    .map(lambda v: ("type", v)),
    st.sampled_from(["abc", "0.5", None, {"a": 1}]).map(lambda v: ("scalar", v)),
    st.just(("value", "masked")),
)


@budget(250)
@given(st.sampled_from(ARRAYS), BAD_ARRAYS)
def test_array_arguments_refuse_non_numeric_input(arg, bad):
    """Strings (numeric ones too), complex numbers, objects, None and dicts: a TypeError naming the array
    argument; a numpy masked array: a ValueError naming it (its mask would silently be ignored)."""
    verdict, value = bad
    if verdict == "scalar":
        assume(not arg.shaped and not (arg.keyword and value is None))  # None: the default of a keyword array
        verdict = "type"
    if isinstance(value, str) and value == "masked":
        assume(arg.masked)
        value = np.ma.masked_array([[0.5, 0.5], [0.5, 0.5]], mask=[[0, 1], [0, 0]])
    elif arg.bug and tolerated(arg.bug):
        return
    out = arg.call(value)
    _check(arg.fn, arg.name, verdict, out)
