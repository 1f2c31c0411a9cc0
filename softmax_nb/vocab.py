r"""Softmax over huge vocabularies: chunked, sharded, sampled and hierarchical.

* :func:`chunked_cross_entropy` computes the mean cross-entropy of the logits
  :math:`Z = H W^\top` (and its gradient) a chunk of the vocabulary at a
  time, with the online log-sum-exp of :class:`~softmax_nb.streaming.SoftmaxAccumulator`,
  never holding the :math:`N \times V` logits (the idea of "Cut Your Losses",
  Wijmans et al.).
* :func:`shard_statistics` and :func:`merge_shard_statistics` split the
  vocabulary across workers: each returns :math:`(m, d, z_y)` for its shard,
  and the merge is the accumulator rule. :func:`sharded_cross_entropy` runs
  the shards as ``dask.delayed`` tasks.
* :func:`sampled_softmax_loss` approximates the loss with a few sampled
  negatives and the log-Q correction (Jean et al., 2015).
* :func:`huffman_codes` and :func:`hierarchical_softmax_nll` implement a
  hierarchical softmax over a Huffman tree (Morin and Bengio, 2005; Mikolov
  et al., 2013).
"""

from __future__ import annotations

import heapq
import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_generator, check_positive_int
from .core import logsumexp
from .streaming import SoftmaxAccumulator

__all__ = ["chunked_cross_entropy", "ShardStats", "shard_statistics", "merge_shard_statistics",
           "sharded_cross_entropy", "sampled_softmax_loss", "huffman_codes", "hierarchical_softmax_nll"]

Array = NDArray[np.floating]


def _check_problem(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike) -> tuple[Array, Array, NDArray[np.intp]]:
    h = as_float_array(hidden, "hidden")
    w = as_float_array(weight, "weight")
    if h.ndim != 2 or w.ndim != 2 or h.shape[1] != w.shape[1] or h.shape[0] == 0 or w.shape[0] == 0:
        raise ValueError(f"hidden must be (N, d) and weight (V, d) with the same d and N, V >= 1, "
                         f"got shapes {h.shape} and {w.shape}")
    for arr, name in ((h, "hidden"), (w, "weight")):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must contain only finite numbers")
    y = np.asarray(targets)
    if y.shape != (h.shape[0],) or y.dtype.kind not in "iu":
        raise ValueError(f"targets must be {h.shape[0]} integer class ids (one per row of hidden), "
                         f"got dtype {y.dtype} and shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= w.shape[0]):
        raise ValueError(f"targets must lie in [0, V) = [0, {w.shape[0]}), got values in [{y.min()}, {y.max()}]")
    dtype = np.result_type(h, w)
    return h.astype(dtype, copy=False), w.astype(dtype, copy=False), y.astype(np.intp)


def chunked_cross_entropy(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, chunk_size: int = 4096,
                          return_grad: bool = False):
    r"""Mean cross-entropy of the logits ``hidden @ weight.T``, one vocabulary chunk at a time.

    .. math::

        L = \frac{1}{N} \sum_{n=1}^{N} \big(\operatorname{LSE}(z_n) - z_{n, y_n}\big),
        \qquad z_n = W h_n ,

    with :math:`\operatorname{LSE}` accumulated over chunks of ``chunk_size``
    rows of :math:`W` by the online rule of
    :class:`~softmax_nb.streaming.SoftmaxAccumulator`. The gradient makes a second pass,
    recomputing each chunk's logits:

    .. math::

        \frac{\partial L}{\partial z_{n,v}} = \frac{p_{n,v} - [v = y_n]}{N}, \qquad
        \frac{\partial L}{\partial H} = \frac{\partial L}{\partial Z} W, \qquad
        \frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial Z}\Big)^{\!\top} H ,

    with :math:`p_{n,v} = e^{z_{n,v} - \operatorname{LSE}(z_n)}`. Only an
    ``N x chunk_size`` block of logits exists at any time.

    Parameters
    ----------
    hidden : array_like
        Hidden states :math:`H`, shape ``(N, d)``.
    weight : array_like
        Output weights :math:`W`, shape ``(V, d)`` (as a PyTorch ``Linear``).
    targets : array_like of int
        Class ids in ``[0, V)``, shape ``(N,)``.
    chunk_size : int, default 4096
        Vocabulary rows per chunk, an integer >= 1.
    return_grad : bool, default False
        Also return the gradients with respect to ``hidden`` and ``weight``.

    Returns
    -------
    loss : float
        The mean cross-entropy.
    grad_hidden, grad_weight : numpy.ndarray
        Only if ``return_grad``: shapes of ``hidden`` and ``weight``.

    Raises
    ------
    ValueError
        On shapes that do not fit, non-finite entries, targets outside
        ``[0, V)`` or a ``chunk_size`` that is not an integer >= 1.
    """
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    h, w, y = _check_problem(hidden, weight, targets)
    n, v = h.shape[0], w.shape[0]
    rows = np.arange(n)
    acc = SoftmaxAccumulator()
    z_target = np.zeros(n, dtype=h.dtype)
    for v0 in range(0, v, chunk_size):
        z = h @ w[v0:v0 + chunk_size].T
        acc.update(z)
        inside = (y >= v0) & (y < v0 + z.shape[1])
        z_target[inside] = z[rows[inside], y[inside] - v0]
    lse = np.asarray(acc.logsumexp)
    loss = float(np.mean(lse - z_target))
    if not return_grad:
        return loss
    grad_h = np.zeros_like(h)
    grad_w = np.empty_like(w)
    for v0 in range(0, v, chunk_size):
        wc = w[v0:v0 + chunk_size]
        dz = np.exp(h @ wc.T - lse[:, None])
        inside = (y >= v0) & (y < v0 + wc.shape[0])
        dz[rows[inside], y[inside] - v0] -= 1.0
        dz /= n
        grad_h += dz @ wc
        grad_w[v0:v0 + chunk_size] = dz.T @ h
    return loss, grad_h, grad_w


class ShardStats(NamedTuple):
    r"""What one vocabulary shard contributes to the cross-entropy of each row."""

    #: Row maxima of the shard's logits, shape ``(N,)``.
    m: Array
    #: :math:`\sum_{v \in \text{shard}} e^{z_v - m}`, shape ``(N,)``.
    d: Array
    #: The target's logit where the target is in the shard, ``-inf`` elsewhere.
    z_target: Array


def shard_statistics(hidden: ArrayLike, weight_shard: ArrayLike, targets: ArrayLike, offset: int) -> ShardStats:
    r"""The :class:`ShardStats` of vocabulary rows ``offset, ..., offset + len(weight_shard) - 1``.

    Parameters
    ----------
    hidden : array_like
        ``(N, d)``.
    weight_shard : array_like
        The shard's rows of :math:`W`, ``(V_s, d)``.
    targets : array_like of int
        Global class ids, ``(N,)``.
    offset : int
        Global id of the shard's first row.

    Returns
    -------
    ShardStats
    """
    h = as_float_array(hidden, "hidden")
    ws = as_float_array(weight_shard, "weight_shard")
    y = np.asarray(targets).astype(np.intp)
    z = h @ ws.T
    acc = SoftmaxAccumulator().update(z)
    local = y - int(offset)
    inside = (local >= 0) & (local < ws.shape[0])
    zt = np.full(h.shape[0], -np.inf, dtype=z.dtype)
    zt[inside] = z[np.flatnonzero(inside), local[inside]]
    return ShardStats(np.asarray(acc.m), np.asarray(acc.d), zt)


def merge_shard_statistics(stats: list[ShardStats]) -> float:
    r"""Mean cross-entropy from every shard's statistics, merged with the accumulator rule.

    .. math::

        m = \max_s m_s, \quad d = \sum_s d_s e^{m_s - m}, \quad
        L = \frac{1}{N}\sum_n \big(m_n + \log d_n - z_{n, y_n}\big) .

    Parameters
    ----------
    stats : list of ShardStats
        One per shard; together they must cover the vocabulary.

    Returns
    -------
    float
    """
    if not stats:
        raise ValueError("stats must hold at least one shard")
    acc = SoftmaxAccumulator()
    for s in stats:
        acc = acc.merge(SoftmaxAccumulator(s.m, s.d))
    z_target = np.max(np.stack([s.z_target for s in stats]), axis=0)
    if np.isneginf(z_target).any():
        raise ValueError("some target lies in no shard: the shards must cover the vocabulary")
    return float(np.mean(np.asarray(acc.logsumexp) - z_target))


def sharded_cross_entropy(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, n_shards: int,
                          scheduler: str = "threads") -> float:
    r"""Vocabulary-parallel cross-entropy: one ``dask.delayed`` task per shard, merged at the end.

    Each task computes :func:`shard_statistics` of its rows of :math:`W`
    (in a real deployment, on the machine that holds that shard) and sends
    back three numbers per row instead of its :math:`N \times V_s` logits;
    :func:`merge_shard_statistics` combines them. The same graph runs on a
    ``dask.distributed`` cluster.

    Parameters
    ----------
    hidden, weight, targets
        As in :func:`chunked_cross_entropy`.
    n_shards : int
        Number of shards (contiguous blocks of rows of :math:`W`), 1 to V.
    scheduler : str, default 'threads'
        A dask scheduler name: ``'threads'``, ``'sync'`` or ``'processes'``.

    Returns
    -------
    float
        The mean cross-entropy, equal to the unsharded one to rounding.

    Raises
    ------
    ValueError
        As :func:`chunked_cross_entropy`, or if ``n_shards`` is not in ``[1, V]``.
    ImportError
        If dask is not installed.
    """
    import dask

    h, w, y = _check_problem(hidden, weight, targets)
    n_shards = check_positive_int(n_shards, "n_shards")
    if n_shards > w.shape[0]:
        raise ValueError(f"n_shards must be in [1, V] = [1, {w.shape[0]}], got {n_shards}")
    bounds = np.linspace(0, w.shape[0], n_shards + 1).round().astype(int)
    tasks = [dask.delayed(shard_statistics)(h, w[a:b], y, int(a)) for a, b in zip(bounds[:-1], bounds[1:])]
    return dask.delayed(merge_shard_statistics)(tasks).compute(scheduler=scheduler)


def sampled_softmax_loss(hidden: ArrayLike, weight: ArrayLike, targets: ArrayLike, proposal: ArrayLike,
                         n_samples: int, rng: np.random.Generator, correct: bool = True) -> float:
    r"""Sampled-softmax estimate of the mean cross-entropy (Jean et al., 2015).

    Draw :math:`k` = ``n_samples`` negatives :math:`S` from the proposal
    :math:`Q` (with replacement, shared by the batch), and take the softmax
    over the target and the negatives, with the **log-Q correction** on the
    negatives:

    .. math::

        \tilde z_v = z_v - \log\big(k\, Q(v)\big), \qquad
        \hat L = \frac{1}{N} \sum_n \Big(\log\big(e^{z_{y_n}} + \sum_{v \in S,\, v \ne y_n} e^{\tilde z_v}\big) - z_{y_n}\Big).

    A negative equal to the row's target is dropped. Then
    :math:`\hat Z = e^{z_y} + \sum_{v \in S, v \ne y} e^{z_v} / (k Q(v))` is an
    unbiased estimate of the partition function :math:`Z = \sum_v e^{z_v}`,
    and :math:`\hat L = \log \hat Z - z_y` is biased low only through the
    concavity of the log (by :math:`O(1/k)`). With ``correct=False`` the raw
    logits of the negatives are used, as if :math:`k Q(v) = 1`: the estimate
    of :math:`Z` is then off by a factor that depends on :math:`Q`, and
    the loss no longer estimates the cross-entropy (Jean et al., 2015).

    Parameters
    ----------
    hidden, weight, targets
        As in :func:`chunked_cross_entropy`.
    proposal : array_like
        :math:`Q`, shape ``(V,)``, positive, summing to 1.
    n_samples : int
        Number of negatives :math:`k`.
    rng : numpy.random.Generator
    correct : bool, default True
        Apply the log-Q correction.

    Returns
    -------
    float
        The estimate :math:`\hat L`; only ``N x (k + 1)`` logits are computed.
    """
    h, w, y = _check_problem(hidden, weight, targets)
    q = as_float_array(proposal, "proposal")
    if q.shape != (w.shape[0],) or not (q > 0).all() or not math.isclose(float(q.sum()), 1.0, rel_tol=1e-9):
        raise ValueError(f"proposal must be {w.shape[0]} positive probabilities summing to 1")
    k = check_positive_int(n_samples, "n_samples")
    rng = check_generator(rng)
    neg = rng.choice(w.shape[0], size=k, p=q)
    cand = np.concatenate([y[:, None], np.broadcast_to(neg, (len(y), k))], axis=1)  # (N, k+1)
    z = np.einsum("nd,nkd->nk", h, w[cand])
    if correct:
        z[:, 1:] -= np.log(k * q[neg])
    z[:, 1:][cand[:, 1:] == y[:, None]] = -np.inf  # an accidental hit of the target is not a negative
    return float(np.mean(logsumexp(z, axis=-1) - z[:, 0]))


def huffman_codes(counts: ArrayLike) -> tuple[list[NDArray[np.intp]], list[NDArray[np.int8]], int]:
    r"""The Huffman tree of token counts, as a path of inner nodes and a binary code per token.

    Frequent tokens get short codes: the expected code length is at most the
    entropy of the count distribution (in bits) plus 1.

    Parameters
    ----------
    counts : array_like
        Non-negative counts, shape ``(V,)`` with ``V >= 2``.

    Returns
    -------
    paths : list of numpy.ndarray
        For token ``v``, the ids (``0 .. V-2``) of the inner nodes from the root down.
    codes : list of numpy.ndarray
        For token ``v``, the branch (0 or 1) taken at each of those nodes.
    n_inner : int
        Number of inner nodes, ``V - 1``.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size < 2 or not np.isfinite(c).all() or (c < 0).any():
        raise ValueError(f"counts must be a 1-D array of at least 2 finite counts >= 0, got shape {c.shape}")
    v = c.size
    heap = [(float(x), i) for i, x in enumerate(c)]
    heapq.heapify(heap)
    parent, branch = np.full(2 * v - 1, -1), np.zeros(2 * v - 1, dtype=np.int8)
    nxt = v
    while len(heap) > 1:
        (ca, a), (cb, b) = heapq.heappop(heap), heapq.heappop(heap)
        parent[a], parent[b], branch[a], branch[b] = nxt, nxt, 0, 1
        heapq.heappush(heap, (ca + cb, nxt))
        nxt += 1
    paths, codes = [], []
    for tok in range(v):
        nodes, bits, node = [], [], tok
        while parent[node] >= 0:
            nodes.append(parent[node] - v)
            bits.append(branch[node])
            node = parent[node]
        paths.append(np.asarray(nodes[::-1], dtype=np.intp))
        codes.append(np.asarray(bits[::-1], dtype=np.int8))
    return paths, codes, v - 1


def hierarchical_softmax_nll(hidden: ArrayLike, node_weight: ArrayLike, targets: ArrayLike,
                             paths: list[NDArray[np.intp]], codes: list[NDArray[np.int8]]) -> NDArray[np.float64]:
    r"""Negative log-likelihood of each target under a hierarchical softmax (a binary tree of sigmoids).

    .. math::

        p(y \mid h) = \prod_{j=1}^{L_y} \sigma\big(s_j\, u_{n_j}^\top h\big), \qquad
        s_j = 1 - 2\, b_j ,

    over the inner nodes :math:`n_j` on the path to :math:`y` and the branches
    :math:`b_j \in \{0, 1\}`: a row costs :math:`L_y` dot products instead of
    :math:`V`. The probabilities of all tokens sum to 1 by construction.

    Parameters
    ----------
    hidden : array_like
        ``(N, d)``.
    node_weight : array_like
        One vector per inner node, ``(V - 1, d)``.
    targets : array_like of int
        ``(N,)``.
    paths, codes
        From :func:`huffman_codes`.

    Returns
    -------
    numpy.ndarray
        :math:`-\log p(y_n \mid h_n)`, shape ``(N,)``.
    """
    h = as_float_array(hidden, "hidden")
    u = as_float_array(node_weight, "node_weight")
    y = np.asarray(targets).astype(np.intp)
    out = np.empty(len(y))
    for n, tok in enumerate(y):
        s = (u[paths[tok]] @ h[n]) * (1 - 2 * codes[tok].astype(np.float64))
        out[n] = float(np.sum(np.logaddexp(0.0, -s)))  # -log sigmoid(s), stably
    return out
