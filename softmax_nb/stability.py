r"""Controlling the normaliser in large models: the z-loss and logit soft-capping.

Softmax is unchanged when every logit of a row moves by the same constant, so nothing in the cross-entropy stops
the log-normaliser :math:`\log Z = \operatorname{LSE}(z)` from drifting during training. Large :math:`|\log Z|`
costs precision in low-precision arithmetic, and attention and router logits that keep growing make training
unstable. Two remedies used in today's models:

* :func:`z_loss` adds :math:`w \cdot \overline{\operatorname{LSE}(z)^2}`, which pulls :math:`\log Z` towards 0
  (PaLM, :math:`w = 10^{-4}`, on the output logits; ST-MoE's *router z-loss* on the router logits);
* :func:`soft_cap` squashes logits smoothly into :math:`(-c, c)` with :math:`c \tanh(z / c)` (Gemma 2: :math:`c = 30`
  on the final logits, :math:`c = 50` on the attention logits).
"""

from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_bool, check_max, real_scalar, work_dtype
from .core import logsumexp, softmax

__all__ = ["z_loss", "soft_cap"]

Array = NDArray[np.floating]


@overload
def z_loss(logits: ArrayLike, *, weight: float = ..., return_grad: Literal[False] = ...) -> np.floating:
    ...


@overload
def z_loss(logits: ArrayLike, *, weight: float = ..., return_grad: Literal[True]) -> tuple[np.floating, Array]:
    ...


def z_loss(logits: ArrayLike, *, weight: float = 1e-4,
           return_grad: bool = False) -> np.floating | tuple[np.floating, Array]:
    r"""The z-loss: the weighted mean over rows of the squared log-normaliser.

    .. math::

        L = \frac{w}{N} \sum_{n=1}^{N} \operatorname{LSE}(z_n)^2, \qquad
        \frac{\partial L}{\partial z_{n}} = \frac{2 w}{N} \operatorname{LSE}(z_n)\, \operatorname{softmax}(z_n),

    where the rows :math:`z_n` run over every leading axis of ``logits`` (the classes are the last axis). The
    gradient is the softmax of the row scaled by its log-normaliser: a step against it lowers every logit of a row
    with :math:`\log Z > 0` in proportion to its probability.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., V)``; ``-inf`` entries are masked classes. A row with every class masked raises.
    weight : float, default 1e-4
        :math:`w \ge 0` (PaLM's value).
    return_grad : bool, default False
        Also return :math:`\partial L / \partial z`, same shape and dtype as ``logits``.

    Returns
    -------
    loss : numpy floating scalar
        In the dtype of ``logits`` (float64 for integers); the mean is summed in float64 and rounded once (to
        ``inf`` if it exceeds the dtype's range, as float16 does beyond 65504). ``weight=0`` gives exactly 0.
    grad : numpy.ndarray
        Only with ``return_grad=True``.

    Raises
    ------
    ValueError
        For NaN or ``+inf`` logits, a row of ``-inf``, an empty class axis, or a negative or non-finite weight.

    Examples
    --------
    >>> float(z_loss([[0.0, 0.0], [1.0, 1.0]], weight=1.0))  # rows of LSE log 2 and 1 + log 2
    1.6736...
    """
    z = as_float_array(logits, "logits")
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty class axis (the last), got shape {z.shape}")
    w = real_scalar(weight, "weight", "a finite number >= 0")
    if not (math.isfinite(w) and w >= 0.0):
        raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
    flag = check_bool(return_grad, "return_grad")
    work = z.astype(work_dtype(z.dtype), copy=False)
    if z.size:
        check_max(work.max(axis=-1), "logits")
    lse = logsumexp(work, axis=-1).astype(np.float64)
    rows = max(lse.size, 1)
    with np.errstate(over="ignore"):  # beyond the dtype's range the loss rounds to inf, as IEEE rounds
        loss = z.dtype.type(_weighted_mean_square(lse, w, rows))
    if not flag:
        return loss
    if w == 0.0:  # exactly 0, also where LSE * softmax would overflow
        return loss, np.zeros(z.shape, dtype=z.dtype)
    with np.errstate(over="ignore", under="ignore"):  # a gradient beyond the range rounds to ±inf, as IEEE rounds
        grad = _times_weight((lse[..., None] * softmax(work, axis=-1)) / rows, w, 1).astype(z.dtype)
    return loss, grad


def _times_weight(x: NDArray[np.float64] | float, w: float, e: int = 0) -> NDArray[np.float64]:
    r""":math:`w \cdot 2^e \cdot x` with the weight's exponent applied last, by ``ldexp``.

    With :math:`w = f\,2^{k}`, :math:`\tfrac12 \le f < 1` (``frexp``), :math:`f x` is rounded in the normal range
    and the scaling by :math:`2^{k + e}` rounds once more only where the result is subnormal (or overflows,
    to inf). A subnormal weight (``5e-324``) times a large :math:`x` thus keeps float64's relative accuracy
    instead of the weight's few significant bits.
    """
    f, k = math.frexp(w)
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(np.asarray(x, dtype=np.float64) * f, k + e)


def _weighted_mean_square(lse: NDArray[np.float64], w: float, rows: int) -> float:
    r""":math:`w \sum_n \mathrm{LSE}_n^2 / N` in float64; 0 for ``w = 0``.

    The :math:`\mathrm{LSE}_n` are scaled by the power of two :math:`2^{-e}` nearest below the largest
    :math:`|\mathrm{LSE}|` (exact), the mean of their squares is formed in the normal range, and the factors
    :math:`2^{2e}` and :math:`w` are applied last (:func:`_times_weight`): the squares overflow only where the
    result does (it then rounds to inf, as IEEE rounds), and a subnormal result is rounded once.
    """
    m = float(np.max(np.abs(lse))) if lse.size else 0.0
    if w == 0.0 or m == 0.0:
        return 0.0
    e = math.frexp(m)[1]
    with np.errstate(under="ignore"):
        scaled = np.ldexp(lse, -e)
        mean = float(np.sum(scaled * scaled)) / rows
    return float(_times_weight(mean, w, 2 * e))


def soft_cap(z: ArrayLike, *, cap: float) -> Array:
    r"""Logit soft-capping: :math:`c \tanh(z / c)`, a smooth squashing of every logit into :math:`(-c, c)`.

    Near 0 it is the identity (:math:`c \tanh(z/c) = z - z^3 / (3c^2) + \dots`), it keeps the order of the logits
    (it is strictly increasing), and it bounds every logit gap by :math:`2c`, hence every probability ratio by
    :math:`e^{2c}`. The derivative is :math:`1 - \tanh^2(z/c)`.

    ``-inf`` maps to :math:`-c` as the formula says, so a masked logit is no longer masked after capping: apply
    masks after the cap, as Gemma 2 does.

    Parameters
    ----------
    z : array_like
        Logits of any shape.
    cap : float
        :math:`c > 0`, finite (keyword-only; Gemma 2 uses 30 on the final logits and 50 on attention logits).

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``z`` (float64 for integers; a numpy scalar for 0-d input, as
        :func:`~softmax_nb.core.sigmoid` gives). float16 is computed in float32 and rounded once, so
        a float16 logit near :math:`\pm 65504` gives :math:`\pm c` instead of overflowing in :math:`z/c` and
        back.

    Raises
    ------
    ValueError
        For NaN in ``z``, or ``cap`` not finite and positive (in the dtype the cap is computed in).

    Examples
    --------
    >>> soft_cap([0.0, 1.0, 100.0, -np.inf], cap=30.0).round(4)
    array([  0.    ,   0.9996,  29.9237, -30.    ])
    """
    arr = as_float_array(z, "z")
    c = real_scalar(cap, "cap", "a finite number > 0")
    if not (math.isfinite(c) and c > 0.0):
        raise ValueError(f"cap must be a finite number > 0, got {cap!r}")
    if np.isnan(arr).any():
        raise ValueError("z contains NaN")
    work = arr.astype(work_dtype(arr.dtype), copy=False)
    with np.errstate(over="ignore", under="ignore"):
        cw = work.dtype.type(c)
    if not (np.isfinite(cw) and cw > 0):
        raise ValueError(f"cap must be a positive number representable in {work.dtype}, got {cap!r}")
    with np.errstate(over="ignore", under="ignore"):  # z / c overflows to ±inf only where tanh is ±1 anyway
        out = cw * np.tanh(work / cw)
        # |z / c| < sqrt(eps): tanh(x) = x to within x^2 / 3 < eps / 3, so c tanh(z / c) is z itself; computing
        # it would lose z / c to underflow for a huge cap (z = 1e-30, c = 1e300 gave 0)
        small = np.abs(work) < cw * np.sqrt(np.finfo(work.dtype).eps)
        out = np.where(small, work, out)[()]  # [()]: a numpy scalar for 0-d input, as before
    return out.astype(arr.dtype, copy=False)
