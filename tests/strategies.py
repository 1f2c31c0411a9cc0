"""Hypothesis strategies shared by the test modules.

They cover every floating dtype the package promises to keep (float16,
float32, float64), magnitudes from tiny up to each dtype's largest finite
value, ``-inf`` masks, and 1-D to 3-D arrays reduced along any axis.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = (np.float16, np.float32, np.float64)
_WIDTH = {np.float16: 16, np.float32: 32, np.float64: 64}


def float_dtypes():
    """One of float16, float32, float64."""
    return st.sampled_from(FLOAT_DTYPES)


def finite_elements(dtype, bound: float | None = None):
    """Finite values of ``dtype`` in ``[-bound, bound]`` (default: the dtype's largest finite value)."""
    top = float(np.finfo(dtype).max)
    b = top if bound is None else min(float(bound), top)
    return st.floats(-b, b, allow_nan=False, allow_infinity=False, width=_WIDTH[dtype])


def magnitudes(dtype):
    """A bound for the logits: small, around the exp overflow threshold of ``dtype``, or its maximum.

    Drawing the bound first makes hypothesis try each regime, instead of
    mostly huge values that all round to one-hot probabilities.
    """
    over = float(np.log(np.finfo(dtype).max))
    return st.sampled_from([1.0, 20.0, 2 * over, float(np.finfo(dtype).max)])


def logits(min_k: int = 1, max_k: int = 12, bound: float = 50.0, dtype=np.float64):
    """1-D logit vectors with moderate values (float64 unless ``dtype`` is given)."""
    return hnp.arrays(dtype, st.integers(min_k, max_k), elements=finite_elements(dtype, bound))


def logit_matrices(max_rows: int = 6, max_k: int = 8, bound: float = 50.0, dtype=np.float64):
    """2-D (N, K) logit matrices (float64 unless ``dtype`` is given)."""
    return hnp.arrays(dtype, st.tuples(st.integers(1, max_rows), st.integers(1, max_k)),
                      elements=finite_elements(dtype, bound))


@st.composite
def logit_arrays(draw, dtypes=FLOAT_DTYPES, min_dims: int = 1, max_dims: int = 3, max_side: int = 6,
                 mask: bool = True, extreme: bool = True):
    """``(z, axis)``: 1-D to 3-D logits of any float dtype and a class axis in ``[-ndim, ndim)``.

    With ``mask`` some entries are ``-inf``, but every slice along ``axis``
    keeps at least one finite entry (so softmax is defined). With
    ``extreme`` the magnitudes reach the dtype's largest finite value.
    """
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side))
    bound = draw(magnitudes(dtype)) if extreme else 20.0
    z = draw(hnp.arrays(dtype, shape, elements=finite_elements(dtype, bound)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    if mask and draw(st.booleans()):
        masked = draw(hnp.arrays(np.bool_, shape))
        z = np.where(masked, -np.inf, z).astype(dtype)
        dead = np.all(np.isneginf(z), axis=axis, keepdims=True)
        first = np.zeros(shape, dtype=bool)
        np.moveaxis(first, axis, 0)[0] = True  # the first entry of every slice along axis
        z = np.where(dead & first, 0, z).astype(dtype)
    return z, axis


@st.composite
def batch_with_row(draw, dtypes=FLOAT_DTYPES, max_k: int = 300, max_rows: int = 40):
    """``(row, batch, i)``: a 1-D row and a 2-D batch of any size whose row ``i`` is that row."""
    dtype = draw(st.sampled_from(dtypes))
    k = draw(st.integers(1, max_k))
    bound = draw(magnitudes(dtype))
    row = draw(hnp.arrays(dtype, k, elements=finite_elements(dtype, bound)))
    n = draw(st.integers(1, max_rows))
    i = draw(st.integers(0, n - 1))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = (np.random.default_rng(seed).standard_normal((n, k)) * min(bound, 30.0)).astype(dtype)
    batch[i] = row
    return row, batch, i
