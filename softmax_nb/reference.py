"""High-precision reference values computed with mpmath.

These are slow and exact to many digits, which makes them an independent
yardstick for the float implementations (used by the tests and the overflow
chapter). mpmath is imported lazily.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["softmax_mp", "logsumexp_mp"]


def _mp(dps: int):
    import mpmath

    ctx = mpmath.mp.clone()
    ctx.dps = dps
    return ctx


def softmax_mp(z: ArrayLike, dps: int = 50) -> NDArray[np.float64]:
    r"""Softmax of a 1-D vector :math:`e^{z_i}/\sum_j e^{z_j}` in ``dps`` decimal digits, rounded to float64."""
    mp = _mp(dps)
    zs = [mp.mpf(float(v)) for v in np.asarray(z, dtype=np.float64).ravel()]
    es = [mp.exp(v) for v in zs]
    total = mp.fsum(es)
    return np.array([float(e / total) for e in es])


def logsumexp_mp(z: ArrayLike, dps: int = 50) -> float:
    r""":math:`\log \sum_j e^{z_j}` of a 1-D vector in ``dps`` decimal digits, rounded to float64."""
    mp = _mp(dps)
    return float(mp.log(mp.fsum(mp.exp(mp.mpf(float(v))) for v in np.asarray(z, dtype=np.float64).ravel())))
