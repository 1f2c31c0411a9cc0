"""Tests written to kill surviving mutmut mutants of softmax_nb.streaming (see tests/MUTATION.md)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from softmax_nb._checks import ArgumentTypeError
from softmax_nb.streaming import AttentionState, SoftmaxAccumulator

BIG = float(np.finfo(np.float64).max)


def _state(m=0.0, d=1.0, o=1.0, o_exp=0):
    return AttentionState(np.array([m]), np.array([d]), np.array([[o]]), o_exp)


# --------------------------------------------------------------------------- AttentionState: construction and ==
def test_attention_state_messages_in_full():
    with pytest.raises(ArgumentTypeError, match="^o_exp must be an integer >= 0, got float$"):
        AttentionState(o_exp=1.5)
    with pytest.raises(ArgumentTypeError, match="^o must be a real number or array, got dtype <U1$"):
        AttentionState(o=np.array(["a"]))
    with pytest.raises(ValueError, match=r"^o must be finite \(a weighted sum of finite values\)$"):
        _state(o=np.nan)
    with pytest.raises(ValueError, match=r"^inconsistent state: a row with m = -inf \(no key seen\) must have o = 0$"):
        AttentionState(np.array([-np.inf]), np.array([0.0]), np.ones((1, 1)))
    with pytest.raises(ValueError, match=re.escape("o must have shape rows + (d_v,) with rows = the shape (2,) of m, "
                                                   "got (3,)") + "$"):
        AttentionState(np.zeros(2), np.ones(2), np.zeros(3))


def test_a_one_row_state_needs_a_vector_o():
    # m and d scalars of a state that has seen a key (d = 1): o has the shape (d_v,), not a scalar.
    with pytest.raises(ValueError, match=r"^o must have shape rows \+ \(d_v,\) with rows = the shape \(\) of m"):
        AttentionState(0.0, 1.0, 5.0)


@pytest.mark.parametrize("other", [_state(m=0.5), _state(d=2.0), _state(o=2.0), _state(o_exp=1)])
def test_states_differing_in_one_field_are_not_equal(other):
    assert _state() == _state()
    assert _state() != other


# --------------------------------------------------------------------------- AttentionState.update
def test_update_names_scores_and_values():
    with pytest.raises(ArgumentTypeError, match="^scores must be numeric"):
        AttentionState().update(np.full((1, 2), "a"), np.ones((2, 1)))
    with pytest.raises(ArgumentTypeError, match="^values must be numeric"):
        AttentionState().update(np.zeros((1, 2)), np.full((2, 1), "a"))
    with pytest.raises(ValueError, match=r"^values must contain only finite numbers, got NaN or ±inf$"):
        AttentionState().update(np.zeros((2, 3)), np.array([[np.nan], [1.0], [1.0]]))


def test_update_shape_messages_in_full():
    with pytest.raises(ValueError, match=re.escape("values must have shape (..., n, d_v) with n = 4 keys (the last "
                                                   "axis of scores), got (3, 2)") + "$"):
        AttentionState().update(np.zeros((1, 2, 4)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=re.escape("the leading axes of values (3,) must broadcast to those of scores "
                                                   "(2,) (scores has shape (2, 5, 3), values (3, 3, 1))") + "$"):
        AttentionState().update(np.zeros((2, 5, 3)), np.ones((3, 3, 1)))
    state = AttentionState().update(np.zeros((1, 2, 3)), np.ones((1, 3, 5)))
    with pytest.raises(ValueError, match="^values have d_v = 4 columns, but the state holds 5$"):
        state.update(np.zeros((1, 2, 3)), np.ones((1, 3, 4)))


def test_update_with_batched_values_whose_keys_differ_from_their_columns():
    # values (1, 3 keys, 2 columns), twice: the column count is the last axis, not the key axis.
    state = AttentionState().update(np.zeros((1, 2, 3)), np.ones((1, 3, 2)))
    state.update(np.zeros((1, 2, 3)), np.full((1, 3, 2), 4.0))
    np.testing.assert_allclose(state.output, 2.5, rtol=1e-15)


def test_one_row_state_refuses_rows_later():
    with pytest.raises(ValueError, match=r"^scores has rows of shape \(2,\), but the accumulator holds rows of "
                                         r"shape \(\)"):
        AttentionState().update(np.array([1.0, 2.0]), np.ones((2, 1))).update(np.ones((2, 2)), np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"^block has rows of shape \(2,\), but the accumulator holds rows of "
                                         r"shape \(\)"):
        SoftmaxAccumulator().update(np.array([1.0, 2.0])).normalise(np.ones((2, 3)))


def test_empty_blocks():
    # no rows (twice: the state then holds an empty o), no keys (a no-op), no value columns
    state = AttentionState().update(np.zeros((0, 3)), np.ones((3, 2)))
    state.update(np.zeros((0, 3)), np.ones((3, 2)))
    assert state.output.shape == (0, 2)
    assert AttentionState().update(np.zeros((1, 0, 3)), np.ones((1, 3, 2))).output.shape == (1, 0, 2)
    state = AttentionState().update(np.zeros((2, 0)), np.zeros((0, 3)))
    assert state == AttentionState()
    assert AttentionState().update(np.zeros((2, 3)), np.zeros((3, 0))).output.shape == (2, 0)


def test_values_wider_than_the_scores_keep_their_dtype():
    # float64 values with float32 scores: the values are not rounded to float32 (1e300 would overflow it).
    state = AttentionState().update(np.zeros((2, 3), np.float32), np.full((3, 1), 1e300))
    np.testing.assert_array_equal(state.output, 1e300)


def test_float32_values_with_float64_scores_are_summed_in_float64():
    # The values take the scores' wider dtype: no headroom is needed in float64, so the smallest float32
    # subnormal, the one value row 1 attends to, comes back exactly (float32 headroom would flush it to 0).
    tiny = np.float32(1.4e-45)
    values = np.array([[3e38], [tiny]], np.float32)
    state = AttentionState().update(np.array([[0.0, 0.0], [-np.inf, 0.0]]), values)
    assert state.output.dtype == np.float64
    assert state.output[1, 0] == float(tiny)


# --------------------------------------------------------------------------- the headroom of o (STR1)
@pytest.mark.parametrize("scores, n", [(np.zeros((1, 2)), 2), (np.zeros((1, 1, 4)), 4)])
def test_values_near_the_maximum_are_averaged_without_overflow(scores, n):
    # n equal values 0.7 max (0.45 max for 4 keys): their sum overflows, their average is the value.
    x = (0.7 if n == 2 else 0.45) * BIG
    values = np.full((*scores.shape[:-2], n, 1), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = AttentionState().update(scores, values)
    assert state.o_exp > 0 and np.isfinite(state.o).all()
    np.testing.assert_allclose(state.output, x, rtol=1e-15)


def test_many_blocks_of_large_values():
    # 40 blocks of 2 keys with values near 1e307: the headroom grows only as needed, so nothing underflows.
    rng = np.random.default_rng(0)
    s, v = rng.normal(size=(3, 80)), rng.uniform(0.5, 1.0, size=(80, 2)) * 1e307
    state = AttentionState()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for b in range(40):
            state.update(s[:, 2 * b:2 * b + 2], v[2 * b:2 * b + 2])
    p = np.exp(s - s.max(axis=1, keepdims=True))
    ref = (p / p.sum(axis=1, keepdims=True)) @ (v / 1e307) * 1e307
    np.testing.assert_allclose(state.output, ref, rtol=1e-12)
    assert state.o_exp < 8


def test_headroom_of_a_state_that_already_holds_o():
    # The second block rescales the o already held (a 2-D array) by 2^-k before adding to it.
    x = 0.4 * BIG
    state = AttentionState().update(np.zeros((2, 1)), np.full((1, 1), x))
    state.update(np.zeros((2, 2)), np.full((2, 1), x))
    assert state.o_exp > 0
    np.testing.assert_allclose(state.output, x, rtol=1e-15)


# --------------------------------------------------------------------------- AttentionState.merge
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_of_states_whose_outputs_sum_beyond_the_maximum(dtype):
    # Two float32 (float64) states with o = 0.6 max each and no headroom yet (built by hand): the merged
    # o = 1.2 max needs one.
    x = 0.6 * float(np.finfo(dtype).max)
    a, b = (AttentionState(np.zeros(1, dtype), np.ones(1, dtype), np.full((1, 1), x, dtype)) for _ in range(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        merged = a.merge(b)
    assert merged.o_exp > 0 and np.isfinite(merged.o).all()
    assert merged.output.dtype == dtype
    np.testing.assert_allclose(merged.output, x, rtol=4 * np.finfo(dtype).eps)


def test_merge_of_many_states_near_the_maximum():
    # Ten states with o = 0.45 max (as updates leave them, below half the maximum): the merge takes 2^-5.
    x = 0.45 * BIG
    states = [AttentionState(np.zeros(1), np.ones(1), np.full((1, 1), x)) for _ in range(10)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        merged = states[0].merge(*states[1:])
    np.testing.assert_allclose(merged.output, x, rtol=1e-15)


def test_merge_overflow_message_names_the_other_state():
    big = AttentionState(np.array([0.0]), np.array([1e308]), np.zeros((1, 1)))
    with pytest.raises(ValueError, match=re.escape("the merged sum d = sum_b d_b e^(m_b - m) of self and other "
                                                   "(others[0]) overflows float64")):
        big.merge(AttentionState(np.array([0.0]), np.array([1e308]), np.zeros((1, 1))))


# --------------------------------------------------------------------------- SoftmaxAccumulator.normalise
def test_normalise_message_in_full():
    acc = SoftmaxAccumulator().update(np.array([[-np.inf, -np.inf], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"^block cannot be normalised: a row of the accumulator has seen only -inf "
                                         r"\(or nothing\), where softmax is undefined; fold in at least one finite "
                                         r"entry per row first$"):
        acc.normalise(np.zeros((2, 2)))


def test_merge_overflow_message_with_several_states_and_float32():
    def big(dtype):
        return AttentionState(np.array([0.0], dtype), np.array([float(np.finfo(dtype).max) * 0.6], dtype),
                              np.zeros((1, 1), dtype))
    with pytest.raises(ValueError, match=re.escape("the merged sum d = sum_b d_b e^(m_b - m) of self and others "
                                                   "overflows float64; the states' sums d are too large to merge")
                       + "$"):
        big(np.float64).merge(big(np.float64), big(np.float64))
    with pytest.raises(ValueError, match=r"^the merged sum .* of self and other \(others\[0\]\) overflows float32;"):
        big(np.float32).merge(big(np.float32))


def test_one_row_accumulator_refuses_rows_later():
    one_row = SoftmaxAccumulator().update(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"^block has rows of shape \(2,\), but the accumulator holds rows of shape \(\)"):
        SoftmaxAccumulator().update(np.array([1.0, 2.0])).update(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^other has rows of shape \(2,\), but the accumulator holds rows of "
                                         r"shape \(\)"):
        one_row.merge(SoftmaxAccumulator().update(np.ones((2, 3))))


def test_the_logsumexp_of_one_row_is_a_numpy_scalar():
    # The package's scalar rule: a numpy scalar, not a 0-d array, for one row; an array for several.
    for state in (SoftmaxAccumulator().update(np.array([0.0, 1.0])),
                  AttentionState().update(np.array([0.0, 1.0]), np.ones((2, 1)))):
        lse = state.logsumexp
        assert isinstance(lse, np.float64) and not isinstance(lse, np.ndarray)
        assert lse == pytest.approx(np.log(1 + np.e), rel=1e-15)
    rows = SoftmaxAccumulator().update(np.zeros((2, 3))).logsumexp
    assert isinstance(rows, np.ndarray) and rows.shape == (2,)
