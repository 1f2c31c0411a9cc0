r"""Properties of ``softmax_nb.alternatives``: sparsemax, one_hot_argmax, gumbel_softmax.

* sparsemax against the exact projection in rational arithmetic (``_refs.sparsemax_row``), bound
  :math:`(4K + 4)u_w + u_o p + \sigma_o` (the support's logits lie within 1 of the maximum, so
  every rounding is relative to numbers of size at most 1; the support decision is continuous);
* one_hot_argmax exactly (first maximum; ``±inf`` ordinary, NaN refused);
* gumbel_softmax: the perturbed logits are the definition, ``work + rng.gumbel(size)`` rounded
  to the work dtype, drawn from a copy of the same generator; the soft sample is then held to
  the exact tempered softmax of those logits (the softmax bound of ``_refs.py``), the hard one to
  their first argmax, and the generator must end where ``rng.gumbel(size=shape)`` leaves it.
"""

from __future__ import annotations

import copy
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import softmax_nb as snb
from _gen import FLOAT_DTYPES, arrays_and_axis, temperatures
from _harness import Expected, assert_within, budget, call_checked, exact_values, precision
from _refs import softmax_family_row, sparsemax_row

NEG_INF = float("-inf")
ALT_DTYPES = FLOAT_DTYPES + (np.int64,)


def _bad_row(vals) -> bool:
    return any(v != v or v == math.inf for v in vals) or all(v == NEG_INF for v in vals)


def _rows(z, axis):
    moved = np.moveaxis(exact_values(z), axis, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape


def _axis_refusals(z, axis, name, exp):
    """0-d input, an axis out of range, an empty class axis: the ValueErrors of check_axis."""
    if z.ndim == 0:
        exp.refuse(ValueError, name)
    elif not -z.ndim <= axis < z.ndim:
        exp.refuse(ValueError, "axis")
    elif z.shape[axis] == 0:
        exp.refuse(ValueError, name)
    return bool(exp)


@budget(200)
@given(arrays_and_axis(ALT_DTYPES))
def test_sparsemax_matches_exact_projection(case):
    """sparsemax: the exact Euclidean projection onto the simplex within the stated bound; -inf gives exactly 0;
    NaN, +inf, an all -inf slice, an empty class axis or 0-d input: a ValueError naming z (or axis)."""
    z, axis = case
    out = call_checked(snb.sparsemax, z, axis)
    exp = Expected()
    if not _axis_refusals(z, axis, "z", exp):
        rows, _ = _rows(z, axis)
        if any(_bad_row(list(r)) for r in rows):
            exp.refuse(ValueError, "z")
    val = out.check(exp)
    if val is None:
        return
    prec = precision(z.dtype)
    rows, moved_shape = _rows(z, axis)
    k = rows.shape[1]
    ref = np.array([[float(p) for p in sparsemax_row(list(r))] for r in rows], dtype=np.float64)
    bnd = (4 * k + 4) * prec.u_w + prec.u_o * ref + prec.sub_o
    ref = np.moveaxis(ref.reshape(moved_shape), -1, axis)
    bnd = np.moveaxis(bnd.reshape(moved_shape), -1, axis)
    assert isinstance(val, np.ndarray) and val.shape == z.shape and val.dtype == prec.out
    assert_within(val, ref, bnd, what=f"sparsemax({z.dtype})")
    neg = z == -np.inf if z.dtype.kind == "f" else np.zeros(z.shape, bool)
    assert (val[neg] == 0).all(), "a -inf logit must get exactly 0"


@budget(150)
@given(arrays_and_axis(ALT_DTYPES + (np.bool_,)))
def test_one_hot_argmax_is_first_maximum(case):
    """one_hot_argmax: exactly one 1 per slice, at the first maximum (±inf ordinary); NaN: a ValueError naming p."""
    p, axis = case
    out = call_checked(snb.one_hot_argmax, p, axis)
    exp = Expected()
    if not _axis_refusals(p, axis, "p", exp) and p.dtype.kind == "f" and np.isnan(p).any():
        exp.refuse(ValueError, "p")
    val = out.check(exp)
    if val is None:
        return
    rows, moved_shape = _rows(p, axis)
    ref = np.zeros(rows.shape)
    for i, r in enumerate(rows):
        vals = list(r)
        ref[i, vals.index(max(vals))] = 1.0
    ref = np.moveaxis(ref.reshape(moved_shape), -1, axis)
    assert isinstance(val, np.ndarray) and val.dtype == precision(p.dtype).out
    np.testing.assert_array_equal(val, ref)


@st.composite
def gumbel_cases(draw):
    z, axis = draw(arrays_and_axis(FLOAT_DTYPES + (np.int64,), special_rate=0.15))
    t = draw(temperatures())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed) if draw(st.booleans()) else seed
    return z, t, rng, draw(st.booleans()), axis


@budget(150)
@given(gumbel_cases())
def test_gumbel_softmax_is_softmax_of_perturbed_logits(case):
    """gumbel_softmax(logits, T, rng, hard, axis) = softmax((z + g)/T) (or the one-hot of argmax(z + g)),
    g = rng.gumbel(size); an int seed is the Generator of that seed (SPEC 7); the generator advances as
    by one rng.gumbel(size=shape); NaN/+inf/all -inf slices: a ValueError naming logits."""
    z, t, rng, hard, axis = case
    twin = copy.deepcopy(rng) if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    out = call_checked(snb.gumbel_softmax, z, t, rng, hard, axis)
    exp = Expected()
    if not _axis_refusals(z, axis, "logits", exp):
        rows, _ = _rows(z, axis)
        if any(_bad_row(list(r)) for r in rows):
            exp.refuse(ValueError, "logits")
    val = out.check(exp)
    if val is None:
        return
    prec = precision(z.dtype)
    work = z.astype(prec.work)
    g = twin.gumbel(size=work.shape).astype(prec.work)
    if isinstance(rng, np.random.Generator):
        assert rng.bit_generator.state == twin.bit_generator.state, "the generator did not advance as documented"
    perturbed = work + g
    rows, moved_shape = _rows(perturbed, axis)
    assert isinstance(val, np.ndarray) and val.shape == z.shape and val.dtype == prec.out
    if hard:
        ref = np.zeros(rows.shape)
        for i, r in enumerate(rows):
            vals = list(r)
            ref[i, vals.index(max(vals))] = 1.0
        np.testing.assert_array_equal(val, np.moveaxis(ref.reshape(moved_shape), -1, axis))
        return
    ref, bnd = np.zeros(rows.shape), np.zeros(rows.shape)
    for i, r in enumerate(rows):
        ref[i], bnd[i] = softmax_family_row(list(r), t, prec, "softmax")
    assert_within(val, np.moveaxis(ref.reshape(moved_shape), -1, axis),
                  np.moveaxis(bnd.reshape(moved_shape), -1, axis), what=f"gumbel_softmax({z.dtype}, T={t})")
