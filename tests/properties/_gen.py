"""Hypothesis strategies of the property suite, built on ``tests/strategies.py``.

Arrays of float16/float32/float64 (and, where the policy speaks of them,
integers and bools) of 0 to 3 dimensions, empty axes included; values from
small to the dtype's largest finite, with ``±inf``, NaN, ``±1e308``,
subnormals and signed zeros sprinkled in where asked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from strategies import FLOAT_DTYPES, finite_elements, magnitudes

__all__ = ["FLOAT_DTYPES", "shapes", "float_arrays", "specials_pool", "axis_specs", "temperatures",
           "probabilities", "labels_for", "prob_rows", "mask_shapes",
           "arrays_and_axis"]


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4) -> st.SearchStrategy:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def specials_pool(dtype: Any, nan: bool = True, posinf: bool = True, neginf: bool = True) -> list[float]:
    """The extreme values of ``dtype``: ±max, ±1e308 (float64), subnormals, ±tiny, signed zeros, and the
    infinities and NaN that are asked for."""
    info = np.finfo(dtype)
    pool = [float(info.max), -float(info.max), float(info.smallest_subnormal), -float(info.smallest_subnormal),
            float(info.tiny), 0.0, -0.0]
    if np.dtype(dtype) == np.float64:
        pool += [1e308, -1e308]
    pool += [np.inf] * posinf + [-np.inf] * neginf + [np.nan] * nan
    return pool


@st.composite
def float_arrays(draw, dtypes=FLOAT_DTYPES, shape=None, *, nan: bool = True, posinf: bool = True,
                 neginf: bool = True, extreme: bool = True, bound: float | None = None,
                 special_rate: float = 0.3) -> np.ndarray:
    """An array of one of ``dtypes`` (default: any shape of 0-3 dims with sides 0-4).

    Values are finite up to a drawn magnitude (1, 20, twice the exp overflow threshold, or
    the dtype's max; ``bound`` fixes it); in a fraction ``special_rate`` of the examples
    some entries are replaced by :func:`specials_pool` values.
    """
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shp = draw(shapes() if shape is None else (shape if isinstance(shape, st.SearchStrategy) else st.just(shape)))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        top = draw(st.sampled_from([3, 100, int(info.max)]))
        return draw(hnp.arrays(dtype, shp, elements=st.integers(max(int(info.min), -top), top)))
    if dtype.kind == "b":
        return draw(hnp.arrays(dtype, shp))
    b = bound if bound is not None else (draw(magnitudes(dtype.type)) if extreme else 20.0)
    z = draw(hnp.arrays(dtype, shp, elements=finite_elements(dtype.type, b)))
    if z.size and draw(st.floats(0, 1)) < special_rate:
        pool = np.array(specials_pool(dtype, nan, posinf, neginf), dtype=dtype)
        where = draw(hnp.arrays(np.bool_, shp, elements=st.integers(0, 3).map(lambda v: v == 0)))
        which = draw(hnp.arrays(np.intp, shp, elements=st.integers(0, len(pool) - 1)))
        z = np.where(where, pool[which], z).astype(dtype)
    return z


@st.composite
def arrays_and_axis(draw, dtypes=FLOAT_DTYPES, *, refused_values: bool = True, valid_rate: float = 0.75,
                    **kw: Any) -> tuple[np.ndarray, int]:
    """``(array, axis)`` for functions with one int class axis: in a fraction ``valid_rate`` of the examples
    a valid call (at least 1-D, no empty side, the axis in range, and no NaN/+inf when
    ``refused_values``); otherwise anything, 0-d, empty axes and out-of-range axes included."""
    valid = draw(st.floats(0, 1)) < valid_rate
    if valid:
        kw.setdefault("shape", shapes(min_dims=1, min_side=1))
        if refused_values:
            kw.update(nan=False, posinf=False)
    z = draw(float_arrays(dtypes=dtypes, **kw))
    n = max(z.ndim, 1)
    axis = draw(st.integers(-n, n - 1) if valid else st.integers(-n - 1, n))
    return z, axis


def axis_specs(ndim: int, *, tuples: bool = True, none: bool = True) -> st.SearchStrategy:
    """A valid ``axis``: an int in ``[-ndim, ndim)`` (0-d: ``0``/``-1``), a tuple of distinct axes, or None."""
    n = max(ndim, 1)
    options = [st.integers(-n, n - 1)]
    if tuples:
        options.append(st.lists(st.integers(0, n - 1), unique=True, max_size=n).flatmap(
            lambda axes: st.permutations(axes).map(lambda p: tuple(a if ndim == 0 else a - n * (a % 2) for a in p))))
    if none:
        options.append(st.none())
    return st.one_of(*options)


def mask_shapes(shape: tuple[int, ...]) -> st.SearchStrategy:
    """Shapes that broadcast to ``shape`` (``where=``, ``b=``, weights), and now and then one that does not."""
    ok = hnp.broadcastable_shapes(shape, min_dims=0, max_dims=max(len(shape), 1), min_side=0, max_side=4)
    return st.one_of(ok, ok, ok, shapes(max_dims=2, min_side=1, max_side=5))


def temperatures() -> st.SearchStrategy:
    """Mostly ordinary, sometimes extreme: 1e-310 (reciprocal overflows), 1e-30, 1e30, 1e300, ..."""
    return st.one_of(st.just(1.0), st.floats(0.05, 20.0),
                     st.sampled_from([1e-310, 1e-300, 1e-30, 1e-3, 0.5, 2.0, 1e3, 1e30, 1e300]))


def probabilities(dtype: Any = np.float64) -> st.SearchStrategy:
    """Entries in [0, 1], with the ends, subnormals and values next to 1 over-represented."""
    info = np.finfo(dtype)
    ends = [0.0, 1.0, float(info.smallest_subnormal), float(info.tiny), 1.0 - float(info.epsneg), 0.5]
    width = {2: 16, 4: 32, 8: 64}[np.dtype(dtype).itemsize]
    return st.one_of(st.floats(0.0, 1.0, width=width), st.sampled_from(ends))


def labels_for(k: int, shape: tuple[int, ...]) -> st.SearchStrategy:
    return hnp.arrays(np.int64, shape, elements=st.integers(0, k - 1))


@st.composite
def prob_rows(draw, n: int, k: int, exact_zeros: bool = True) -> np.ndarray:
    """``(n, k)`` float64 rows on the simplex: softmax of drawn logits, one-hot rows, exact zeros."""
    z = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-30, 30)))
    if exact_zeros:
        z = np.where(draw(hnp.arrays(np.bool_, (n, k))), -np.inf, z)
        z[np.all(np.isinf(z), axis=1), 0] = 0.0
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
