r"""Mixture-of-experts routers: which experts a token goes to, with which weights, and the balancing loss.

A router scores every token against :math:`E` experts with logits :math:`z \in \mathbb{R}^E`, keeps the
:math:`k` best experts and mixes their outputs with weights :math:`g`. :func:`route` implements the three
conventions in use:

* **softmax, then top-k, no renormalisation** (Switch Transformer, GShard): :math:`g_e = \operatorname{softmax}(z)_e`
  for the :math:`k` largest; the weights sum to less than 1;
* **softmax, then top-k, renormalised** (Mixtral): the kept probabilities divided by their sum, which equals the
  softmax of the :math:`k` kept logits alone ("top-k, then softmax");
* **sigmoid scores with a selection bias** (DeepSeek-V3): :math:`s = \sigma(z)`; the experts are the top-k of
  :math:`s + b`, where the bias :math:`b` is adjusted outside the gradient to balance the load, while the weights
  come from the scores alone, :math:`g_e = s_e / \sum_{e' \in \text{top-k}} s_{e'}`.

:func:`load_balancing_loss` is the auxiliary loss of the Switch Transformer, in Hugging Face's convention for
top-k routing. The router z-loss of ST-MoE is :func:`softmax_nb.stability.z_loss` on the router logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (ArgumentTypeError, as_float_array, check_bool, check_choice, check_finite, check_int,
                      check_probabilities, work_dtype)
from .core import sigmoid, softmax

__all__ = ["route", "load_balancing_loss"]


def _top_k_indices(scores: NDArray[np.floating], k: int) -> NDArray[np.intp]:
    """Indices of the k largest entries of each row, largest first; ties go to the lower index."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    return order[..., :k].astype(np.intp)


def route(logits: ArrayLike, *, top_k: int, gating: str = "softmax", renormalize: bool | None = None,
          bias: ArrayLike | None = None) -> tuple[NDArray[np.floating], NDArray[np.intp]]:
    r"""Route each token to its ``top_k`` experts: ``(weights, experts)``.

    With router logits :math:`z` (one row per token, one column per expert), scores :math:`s` and the selection
    scores :math:`s + b`:

    .. math::

        s = \begin{cases} \operatorname{softmax}(z) & \texttt{gating="softmax"} \\
                          \sigma(z) & \texttt{gating="sigmoid"} \end{cases}, \qquad
        \mathcal{T} = \operatorname{top-k}(s + b), \qquad
        g_e = \begin{cases} s_e / \sum_{e' \in \mathcal{T}} s_{e'} & \text{renormalised} \\
                            s_e & \text{otherwise} \end{cases} \quad (e \in \mathcal{T}).

    The bias changes which experts are chosen, never the weights.

    Parameters
    ----------
    logits : array_like
        Router logits, shape ``(..., E)`` (tokens on the leading axes). Finite.
    top_k : int
        Experts per token, ``1 <= top_k <= E`` (keyword-only).
    gating : {'softmax', 'sigmoid'}, default 'softmax'
    renormalize : bool, optional
        Divide the kept scores by their sum. Default: ``False`` for softmax gating (Switch, GShard; ``True`` is
        Mixtral), ``True`` for sigmoid gating (DeepSeek-V3).
    bias : array_like, optional
        Selection bias :math:`b`, shape ``(E,)``, finite; default 0.

    Returns
    -------
    weights : numpy.ndarray
        Shape ``(..., top_k)``, in the dtype of ``logits`` (float16 computed in float32 and rounded once).
        Renormalised weights are computed as the softmax of the kept logits (softmax gating) or of the kept
        :math:`\log\sigma(z)` (sigmoid gating): the same numbers, but no 0/0 where every kept score underflows.
    experts : numpy.ndarray of intp
        Shape ``(..., top_k)``: the chosen experts, in decreasing order of :math:`s + b`; ties go to the lower
        index.

    Raises
    ------
    ValueError
        For non-finite logits or bias, an empty expert axis, ``top_k`` out of range, or a bias of the wrong
        shape.

    Examples
    --------
    >>> w, e = route([[2.0, 1.0, 0.0, -1.0]], top_k=2)
    >>> e, w.round(4)
    (array([[0, 1]]), array([[0.6439, 0.2369]]))
    >>> route([[2.0, 1.0, 0.0, -1.0]], top_k=2, renormalize=True)[0].round(4)
    array([[0.7311, 0.2689]])
    """
    z = as_float_array(logits, "logits")
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty expert axis (the last), got shape {z.shape}")
    check_finite(z, "logits")
    n_experts = z.shape[-1]
    k = check_int(top_k, "top_k", 1)
    if k > n_experts:
        raise ValueError(f"top_k must be at most the number of experts ({n_experts}), got {top_k!r}")
    gate = check_choice(gating, ("softmax", "sigmoid"), "gating")
    renorm = (gate == "sigmoid") if renormalize is None else check_bool(renormalize, "renormalize")
    work = z.astype(work_dtype(z.dtype), copy=False)
    scores = softmax(work, axis=-1) if gate == "softmax" else sigmoid(work)
    select = scores
    if bias is not None:
        b = as_float_array(bias, "bias")
        if b.shape != (n_experts,):
            raise ValueError(f"bias must have shape ({n_experts},), one entry per expert, got {b.shape}")
        check_finite(b, "bias")
        select = scores + b.astype(scores.dtype, copy=False)
    experts = _top_k_indices(select, k)
    if not renorm:
        weights = np.take_along_axis(scores, experts, axis=-1)
    elif gate == "softmax":  # p_e / sum_T p = softmax of the kept logits: no 0/0 where the kept p underflow
        weights = softmax(np.take_along_axis(work, experts, axis=-1), axis=-1)
    else:  # s_e / sum_T s = softmax of log sigma(z) over the kept experts, log sigma(z) = -log(1 + e^{-z})
        kept = np.take_along_axis(work, experts, axis=-1)
        weights = softmax(-np.logaddexp(work.dtype.type(0), -kept), axis=-1)
    return weights.astype(z.dtype, copy=False), experts


def load_balancing_loss(router_probs: ArrayLike, experts: ArrayLike, *,
                        num_experts: int | None = None) -> np.float64:
    r"""The Switch Transformer's load-balancing loss, :math:`E \sum_{i=1}^{E} f_i P_i`.

    Over :math:`N` tokens, :math:`f_i` is the number of assignments to expert :math:`i` divided by :math:`N` (with
    top-k routing the :math:`f_i` sum to :math:`k`, as in Hugging Face's ``load_balancing_loss_func``) and
    :math:`P_i` is the mean router probability of expert :math:`i`. The loss is :math:`k` for a perfectly
    balanced router (:math:`f_i = k / E`, :math:`P_i = 1 / E`) and grows to :math:`E k` when one expert takes every
    token with probability 1. Only :math:`P` carries a gradient; :math:`f` counts.

    Parameters
    ----------
    router_probs : array_like
        Router probabilities (the softmax of the router logits), shape ``(..., E)``, each row summing to 1.
    experts : array_like of int
        The chosen experts, shape ``(..., k)`` with the same leading shape (as :func:`route` returns).
    num_experts : int, optional
        :math:`E`; checked against ``router_probs.shape[-1]`` when given (keyword-only).

    Returns
    -------
    numpy.float64

    Raises
    ------
    ValueError
        For probabilities outside [0, 1] or rows that do not sum to 1, shapes that do not match, expert indices
        out of range or repeated within a token, or no tokens.
    TypeError
        For non-integer ``experts`` (:class:`~softmax_nb.ArgumentTypeError`).

    Examples
    --------
    >>> probs = np.full((4, 4), 0.25)
    >>> float(load_balancing_loss(probs, [[0], [1], [2], [3]]))  # balanced, k = 1
    1.0
    >>> float(load_balancing_loss(probs, [[0], [0], [0], [0]]))  # all tokens to expert 0
    1.0
    """
    p = as_float_array(router_probs, "router_probs").astype(np.float64)
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"router_probs must have a non-empty expert axis (the last), got shape {p.shape}")
    n_experts = p.shape[-1]
    if num_experts is not None and check_int(num_experts, "num_experts", 1) != n_experts:
        raise ValueError(f"num_experts={num_experts!r} does not match router_probs, which has {n_experts} experts")
    check_probabilities(p, "router_probs")
    if p.size and np.any(np.abs(p.sum(axis=-1) - 1.0) > 1e-3):
        raise ValueError("router_probs must sum to 1 along the expert axis (the softmax of the router logits)")
    e = _expert_indices(experts, p.shape[:-1], n_experts)
    tokens = int(np.prod(p.shape[:-1], dtype=np.int64))
    if tokens == 0:
        raise ValueError("router_probs holds no tokens; the loss is a mean over tokens")
    counts = np.bincount(e.reshape(-1), minlength=n_experts).astype(np.float64)
    f = counts / tokens
    mean_p = p.reshape(-1, n_experts).mean(axis=0)
    return np.float64(n_experts * float(np.sum(f * mean_p)))


def _expert_indices(experts: Any, lead: tuple[int, ...], n_experts: int) -> NDArray[np.intp]:
    e = np.asarray(experts)
    if e.dtype.kind not in "iu":
        raise ArgumentTypeError(f"experts must hold integer expert indices, got dtype {e.dtype}")
    if e.ndim != len(lead) + 1 or e.shape[:-1] != lead or e.shape[-1] == 0:
        raise ValueError(f"experts must have shape {(*lead, 'k')} (one row of k >= 1 experts per token of "
                         f"router_probs), got {e.shape}")
    if e.size and (e.min() < 0 or e.max() >= n_experts):
        raise ValueError(f"experts must be indices in [0, {n_experts}), got values in [{e.min()}, {e.max()}]")
    flat = np.sort(e.reshape(-1, e.shape[-1]), axis=-1)
    if np.any(flat[:, 1:] == flat[:, :-1]):
        raise ValueError("experts repeats an expert within a token; each token's k experts must differ")
    return e.astype(np.intp)
