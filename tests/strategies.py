"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def logits(min_k: int = 1, max_k: int = 12, bound: float = 50.0):
    """1-D float64 logit vectors with moderate values."""
    return hnp.arrays(np.float64, st.integers(min_k, max_k),
                      elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False))


def logit_matrices(max_rows: int = 6, max_k: int = 8, bound: float = 50.0):
    """2-D (N, K) float64 logit matrices."""
    return hnp.arrays(np.float64, st.tuples(st.integers(1, max_rows), st.integers(1, max_k)),
                      elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False))
