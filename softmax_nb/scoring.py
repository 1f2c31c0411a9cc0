r"""Proper scoring rules and honest calibration metrics.

The expected calibration error of :mod:`softmax_nb.calibration` is a useful
summary but not a scoring rule: a classifier that predicts the class
frequencies for every input has an ECE near 0 and is useless. This module adds
what a careful evaluation puts next to it:

* :func:`brier_score` (Brier 1950), a strictly proper scoring rule, and its
  Murphy (1973) decomposition :func:`brier_decomposition` into reliability,
  resolution and uncertainty;
* :func:`ece_noise_floor`: the ECE values a *perfectly calibrated* model with
  the same probabilities would get on the same number of examples, by redrawing
  the labels from the model's own probabilities (*consistency resampling*,
  Bröcker and Smith 2007); ``metric=`` gives the same null distribution for the
  class-wise ECE, the adaptive ECE, the Brier reliability term or any metric;
* :func:`classwise_ece` (Kull et al. 2019) and :func:`adaptive_ece`
  (equal-mass bins, Nixon et al. 2019);
* :func:`wilson_interval`, the Wilson (1927) score interval of a binomial
  proportion, for the accuracy of each bin of a reliability diagram.

Bins are those of :func:`~softmax_nb.calibration.reliability_curve`: ``M``
equal-width, right-closed bins :math:`((m-1)/M, m/M]` (a confidence of exactly
0 goes in the first bin).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (
    ArgumentTypeError,
    as_float_array,
    check_choice,
    check_generator,
    check_matrix_and_labels,
    check_positive_int,
    check_probabilities,
    deprecated_call_forms,
    real_scalar,
)

__all__ = [
    "BrierDecomposition",
    "brier_score",
    "brier_decomposition",
    "ece_noise_floor",
    "classwise_ece",
    "adaptive_ece",
    "wilson_interval",
]


def _probs_and_labels(probs: ArrayLike, labels: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Validate ``(N, K)`` probabilities and ``(N,)`` labels (float64 copy of the probabilities)."""
    p = as_float_array(probs, "probs")
    y = check_matrix_and_labels(p, labels, "probs")
    check_probabilities(p, "probs")
    return p.astype(np.float64, copy=False), y


def _bin_index(values: NDArray[np.float64], n_bins: int) -> NDArray[np.intp]:
    """Equal-width, right-closed bin of each value in [0, 1] (the bins of ``reliability_curve``)."""
    edges = np.arange(n_bins + 1) / n_bins
    return np.clip(np.searchsorted(edges, values, side="left") - 1, 0, n_bins - 1)


def _binned_gap(values: NDArray[np.float64], outcomes: NDArray[np.float64], idx: NDArray[np.intp],
                n_bins: int) -> float:
    r""":math:`\sum_m |\sum_{i \in B_m} (o_i - v_i)| / N` for bin indices ``idx``."""
    diff = np.bincount(idx, weights=outcomes - values, minlength=n_bins)
    return float(np.sum(np.abs(diff)) / values.size)


def brier_score(probs: ArrayLike, labels: ArrayLike) -> float:
    r"""Multi-class Brier score (Brier 1950): mean squared distance to the one-hot label.

    .. math::

        \mathrm{BS} = \frac{1}{N} \sum_{i=1}^{N} \sum_{k=1}^{K} (p_{ik} - y_{ik})^2,
        \qquad y_{ik} = [y_i = k].

    It lies in [0, 2]; 0 only for certain, correct predictions. It is a
    *strictly proper* scoring rule: its expectation under the true class
    probabilities :math:`q` is minimised only by reporting :math:`p = q`.

    Parameters
    ----------
    probs : array_like
        Predicted probabilities, shape ``(N, K)``, entries in [0, 1].
    labels : array_like of int
        True labels, shape ``(N,)``, in ``[0, K)``.

    Returns
    -------
    float
        The Brier score.

    Raises
    ------
    ValueError
        For an empty or non-(N, K) ``probs``, entries outside [0, 1] or non-finite, or bad labels.

    Examples
    --------
    >>> round(brier_score([[0.8, 0.2], [0.5, 0.5]], [0, 1]), 12)
    0.29
    """
    p, y = _probs_and_labels(probs, labels)
    d = p.copy()
    d[np.arange(p.shape[0]), y] -= 1.0
    return float(np.mean(np.sum(d * d, axis=1)))


class BrierDecomposition(NamedTuple):
    r"""Murphy's decomposition :math:`\mathrm{BS} = \mathrm{REL} - \mathrm{RES} + \mathrm{UNC} + \mathrm{W}`."""

    #: The Brier score itself.
    brier: float
    #: Reliability, the calibration term; lower is better. It is :math:`\sum_k \sum_g \frac{n_g}{N}(\bar p_{kg} - \bar o_{kg})^2`.
    reliability: float
    #: Resolution; higher is better. It is :math:`\sum_k \sum_g \frac{n_g}{N}(\bar o_{kg} - \bar o_k)^2`.
    resolution: float
    #: Uncertainty, a property of the labels alone. It is :math:`\sum_k \bar o_k (1 - \bar o_k)`.
    uncertainty: float
    #: Within-bin term, exactly 0 when groups are distinct forecast values (``n_bins=None``).
    within_bin: float


def brier_decomposition(probs: ArrayLike, labels: ArrayLike, n_bins: int | None = None) -> BrierDecomposition:
    r"""Murphy (1973) decomposition of the multi-class Brier score, class by class.

    The multi-class score is the sum over classes :math:`k` of the binary
    Brier score of :math:`p_{\cdot k}` against :math:`o_{\cdot k} = [y = k]`.
    For each class the forecasts are grouped, and with :math:`n_g` forecasts
    in group :math:`g`, mean forecast :math:`\bar p_{kg}`, observed frequency
    :math:`\bar o_{kg}` and base rate :math:`\bar o_k`,

    .. math::

        \mathrm{BS} = \underbrace{\sum_k \sum_g \tfrac{n_g}{N} (\bar p_{kg} - \bar o_{kg})^2}_{\text{reliability}}
        - \underbrace{\sum_k \sum_g \tfrac{n_g}{N} (\bar o_{kg} - \bar o_k)^2}_{\text{resolution}}
        + \underbrace{\sum_k \bar o_k (1 - \bar o_k)}_{\text{uncertainty}}
        + W .

    With ``n_bins=None`` every distinct forecast value is its own group and
    the identity holds with :math:`W = 0` (Murphy's exact form). With
    ``n_bins = M`` the groups are the equal-width bins of
    :func:`~softmax_nb.calibration.reliability_curve`, and
    :math:`W = \sum_k \sum_g \frac{n_g}{N}\big(\operatorname{Var}_g(p) -
    2\operatorname{Cov}_g(p, o)\big)` collects the within-bin variation
    (Stephenson et al. 2008), so the five numbers still add up.

    Parameters
    ----------
    probs : array_like
        Shape ``(N, K)``, entries in [0, 1].
    labels : array_like of int
        Shape ``(N,)``.
    n_bins : int, optional
        ``None`` (default) groups by distinct values; an int ``M >= 1`` bins.

    Returns
    -------
    BrierDecomposition
        ``brier == reliability - resolution + uncertainty + within_bin`` up to rounding.

    Raises
    ------
    ValueError
        As :func:`brier_score`, or ``n_bins < 1``.
    """
    p, y = _probs_and_labels(probs, labels)
    n, k = p.shape
    m = None if n_bins is None else check_positive_int(n_bins, "n_bins")
    o = np.zeros_like(p)
    o[np.arange(n), y] = 1.0
    rel = res = unc = within = 0.0
    for c in range(k):
        pc, oc = p[:, c], o[:, c]
        base = oc.mean()
        if m is None:
            _, idx = np.unique(pc, return_inverse=True)
            idx = idx.reshape(-1)
        else:
            idx = _bin_index(pc, m)
        cnt = np.bincount(idx)
        full = cnt > 0
        cnt = cnt[full]
        p_bar = np.bincount(idx, weights=pc)[full] / cnt
        o_bar = np.bincount(idx, weights=oc)[full] / cnt
        rel += float(np.sum(cnt * (p_bar - o_bar) ** 2) / n)
        res += float(np.sum(cnt * (o_bar - base) ** 2) / n)
        unc += float(base * (1.0 - base))
        if m is not None:
            # within-bin variance of p minus twice the within-bin covariance of p and o
            pp = np.bincount(idx, weights=pc * pc)[full] / cnt - p_bar**2
            po = np.bincount(idx, weights=pc * oc)[full] / cnt - p_bar * o_bar
            within += float(np.sum(cnt * (pp - 2.0 * po)) / n)
    return BrierDecomposition(brier_score(p, y), rel, res, unc, within)


_FLOOR_METRICS = ("ece", "classwise", "adaptive", "reliability")


def ece_noise_floor(probs: ArrayLike, n_bins: int = 15, n_draws: int = 1000,
                    rng: np.random.Generator | int | None = None, *,
                    metric: str | Callable[[NDArray[np.float64], NDArray[np.intp]], float] = "ece"
                    ) -> NDArray[np.float64]:
    r"""Values of a calibration metric for a perfectly calibrated model with these probabilities (a null distribution).

    For each of ``n_draws`` draws, every label is redrawn from the model's
    own probabilities, :math:`\tilde y_i \sim \operatorname{Categorical}(p_i)`,
    so the model is calibrated by construction (in every sense: top-label,
    class-wise and canonical); the metric of ``probs`` against :math:`\tilde y`
    is then pure finite-sample noise. A measured value inside this
    distribution is indistinguishable from perfect calibration. This is the
    *consistency resampling* of Bröcker and Smith (2007), used for calibration
    tests by Vaicenavicius et al. (2019).

    Parameters
    ----------
    probs : array_like
        Shape ``(N, K)``; rows must sum to 1 (within ``1e-6``).
    n_bins : int, default 15
        The bins of the metric (as the metric's own ``n_bins``).
    n_draws : int, default 1000
    rng : numpy.random.Generator or int, optional
        Generator or seed (``None`` uses seed 0, so the result is reproducible).
    metric : str or callable, default 'ece'
        Which metric's null distribution:

        * ``'ece'``: :func:`~softmax_nb.calibration.expected_calibration_error`;
        * ``'classwise'``: :func:`classwise_ece`;
        * ``'adaptive'``: :func:`adaptive_ece`;
        * ``'reliability'``: the reliability term of :func:`brier_decomposition` with ``n_bins`` bins;
        * a callable ``metric(probs, labels) -> float``, called once per draw (slower).

        The four named metrics are computed for all draws at once and equal the functions' values on the
        same redrawn labels. The same ``rng`` gives the same labels for every metric.

    Returns
    -------
    numpy.ndarray
        ``n_draws`` values (float64); summarise with the mean or a quantile.

    Raises
    ------
    ValueError
        For bad ``probs``, rows not summing to 1, ``n_bins``/``n_draws < 1``, or an unknown metric name.
    ArgumentTypeError
        For a ``metric`` that is neither a str nor callable.
    """
    p = as_float_array(probs, "probs").astype(np.float64, copy=False)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must be a non-empty (N, K) array, got shape {p.shape}")
    check_probabilities(p, "probs")
    if not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-6):
        raise ValueError("probs rows must sum to 1 (within 1e-6) to be sampled from")
    m = check_positive_int(n_bins, "n_bins")
    draws = check_positive_int(n_draws, "n_draws")
    if not callable(metric):
        check_choice(metric, _FLOOR_METRICS, "metric")
    gen = np.random.default_rng(0) if rng is None else check_generator(rng)
    n = p.shape[0]
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = np.inf  # rounding in the cumulative sum must not lose the last class
    if metric != "ece":
        return _null_of_metric(p, cdf, gen.random((draws, n)), m, metric)
    pred = p.argmax(axis=1)
    conf = p[np.arange(n), pred]
    idx = _bin_index(conf, m)
    # P(label == pred) is all that matters: correct iff u falls in pred's slice of the cdf
    lo = np.where(pred > 0, cdf[np.arange(n), np.maximum(pred - 1, 0)], 0.0)
    hi = cdf[np.arange(n), pred]
    u = gen.random((draws, n))
    correct = (u >= lo) & (u < hi)                         # (draws, N) booleans
    return _binned_null(conf, correct, idx, m)


def _binned_null(values: NDArray[np.float64], outcomes: NDArray[np.bool_], idx: NDArray[np.intp],
                 n_bins: int) -> NDArray[np.float64]:
    r""":func:`_binned_gap` for each row of the ``(draws, N)`` boolean ``outcomes`` (exact integer bin counts)."""
    onehot = np.zeros((values.size, n_bins), dtype=np.int64)
    onehot[np.arange(values.size), idx] = 1
    hits = outcomes.astype(np.int64) @ onehot               # (draws, n_bins)
    value_sum = np.bincount(idx, weights=values, minlength=n_bins)
    return np.sum(np.abs(hits - value_sum), axis=1) / values.size


def _equal_mass_index(conf: NDArray[np.float64], n_bins: int) -> NDArray[np.intp]:
    """Equal-mass bin of each confidence: sorted stably, split as :func:`numpy.array_split` splits."""
    n = conf.size
    order = np.argsort(conf, kind="stable")
    sizes = np.array([len(g) for g in np.array_split(np.arange(n), n_bins)])
    idx = np.empty(n, dtype=np.intp)
    idx[order] = np.repeat(np.arange(n_bins), sizes)
    return idx


def _null_of_metric(p: NDArray[np.float64], cdf: NDArray[np.float64], u: NDArray[np.float64], m: int,
                    metric: str | Callable[[NDArray[np.float64], NDArray[np.intp]], float]) -> NDArray[np.float64]:
    """The metric of ``p`` against labels redrawn from ``u``: label = number of cdf entries <= u."""
    draws, n = u.shape
    k = p.shape[1]
    block = max(1, 4_000_000 // (n * k))                   # bounds the (block, N, K) comparison
    labels = np.concatenate([(u[i:i + block, :, None] >= cdf[None]).sum(axis=2) for i in range(0, draws, block)])
    if callable(metric):
        return np.array([float(metric(p, labels[d])) for d in range(draws)], dtype=np.float64)
    if metric == "adaptive":
        pred = p.argmax(axis=1)
        conf = p[np.arange(n), pred]
        return _binned_null(conf, labels == pred, _equal_mass_index(conf, m), m)
    out = np.zeros(draws)
    for c in range(k):
        idx = _bin_index(p[:, c], m)
        if metric == "classwise":
            out += _binned_null(p[:, c], labels == c, idx, m) / k
            continue
        # reliability: sum over full bins of n_g (mean forecast - observed frequency)^2 / N
        onehot = np.zeros((n, m), dtype=np.int64)
        onehot[np.arange(n), idx] = 1
        cnt = np.bincount(idx, minlength=m)
        full = cnt > 0
        hits = ((labels == c).astype(np.int64) @ onehot)[:, full]
        p_bar = np.bincount(idx, weights=p[:, c], minlength=m)[full] / cnt[full]
        out += np.sum(cnt[full] * (p_bar - hits / cnt[full]) ** 2, axis=1) / n
    return out


def classwise_ece(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    r"""Class-wise ECE (Kull et al. 2019): the mean over classes of each class's own ECE.

    .. math::

        \mathrm{cwECE} = \frac{1}{K} \sum_{k=1}^{K} \sum_{m=1}^{M} \frac{|B_{mk}|}{N}
            \Big| \frac{1}{|B_{mk}|} \sum_{i \in B_{mk}} [y_i = k]
                - \frac{1}{|B_{mk}|} \sum_{i \in B_{mk}} p_{ik} \Big|,

    where :math:`B_{mk}` holds the samples whose :math:`p_{ik}` falls in bin
    :math:`m` (the equal-width bins of
    :func:`~softmax_nb.calibration.reliability_curve`). Unlike the top-label
    ECE it also checks the probabilities of the classes that were not predicted.

    Parameters
    ----------
    probs : array_like
        Shape ``(N, K)``.
    labels : array_like of int
        Shape ``(N,)``.
    n_bins : int, default 15

    Returns
    -------
    float
        In [0, 1].
    """
    p, y = _probs_and_labels(probs, labels)
    m = check_positive_int(n_bins, "n_bins")
    n, k = p.shape
    total = 0.0
    for c in range(k):
        total += _binned_gap(p[:, c], (y == c).astype(np.float64), _bin_index(p[:, c], m), m)
    return total / k


def adaptive_ece(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    r"""Top-label ECE with equal-mass bins (adaptive ECE; Nixon et al. 2019).

    The confidences are sorted (stably) and split into ``n_bins`` groups of
    (nearly) equal size, as :func:`numpy.array_split` splits; then

    .. math::

        \mathrm{ACE} = \sum_{m=1}^{M} \frac{|G_m|}{N}\,
            \big|\operatorname{acc}(G_m) - \operatorname{conf}(G_m)\big| .

    Equal-mass bins avoid the nearly empty bins that equal-width bins leave
    when most confidences are close to 1.

    Parameters
    ----------
    probs : array_like
        Shape ``(N, K)``.
    labels : array_like of int
        Shape ``(N,)``.
    n_bins : int, default 15
        ``M``; with ``M > N`` some groups are empty and contribute nothing.

    Returns
    -------
    float
        In [0, 1].
    """
    p, y = _probs_and_labels(probs, labels)
    m = check_positive_int(n_bins, "n_bins")
    n = p.shape[0]
    pred = p.argmax(axis=1)
    conf = p[np.arange(n), pred]
    return _binned_gap(conf, (pred == y).astype(np.float64), _equal_mass_index(conf, m), m)


@deprecated_call_forms(("confidence",))
def wilson_interval(successes: ArrayLike, n: ArrayLike, *,
                    confidence: float = 0.95) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Wilson (1927) score interval for a binomial proportion, elementwise.

    With :math:`\hat p = s/n` and :math:`z = \Phi^{-1}\big(\tfrac{1 + c}{2}\big) = \sqrt 2\,
    \operatorname{erf}^{-1}(c)` for confidence level :math:`c` (computed with ``erfinv``, which keeps
    the tail :math:`1 - c` exactly for :math:`c` near 1), the interval is

    .. math::

        \frac{\hat p + \frac{z^2}{2n}}{1 + \frac{z^2}{n}}
        \;\pm\; \frac{z}{1 + \frac{z^2}{n}}
            \sqrt{\frac{\hat p (1 - \hat p)}{n} + \frac{z^2}{4 n^2}} ,

    the set of proportions :math:`\pi` that a two-sided score test,
    :math:`|\hat p - \pi| \le z \sqrt{\pi (1 - \pi) / n}`, does not reject.
    Unlike the normal ("Wald") interval :math:`\hat p \pm z\sqrt{\hat p(1-\hat p)/n}`
    it stays inside [0, 1] and does not collapse to a point at :math:`s = 0`
    or :math:`s = n`, which matters for the small bins of a reliability
    diagram. The lower end is exactly 0 when :math:`s = 0` and the upper end
    exactly 1 when :math:`s = n` (as in :func:`scipy.stats.binomtest`'s
    ``proportion_ci(method="wilson")``).

    Parameters
    ----------
    successes : array_like of int
        Numbers of successes :math:`s`, integers with ``0 <= s <= n``
        (any integer dtype, uint64 included, or integral floats, also beyond
        the range of int64; compared exactly).
    n : array_like of int
        Numbers of trials, integers ``>= 1``; broadcast against ``successes``.
    confidence : float, default 0.95
        Confidence level :math:`c`, in the open interval (0, 1).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Lower and upper ends (float64, the broadcast shape; numpy scalars for
        scalar counts), with ``0 <= low <= s/n <= high <= 1``.

    Raises
    ------
    ArgumentTypeError
        For ``successes`` or ``n`` that are not numbers (strings, bools,
        objects), or a ``confidence`` that is not a real number.
    ValueError
        For ``n`` or ``successes`` that are not whole numbers (integral
        floats are accepted), ``n < 1``, ``successes`` outside ``[0, n]``,
        shapes that do not broadcast, or ``confidence`` outside (0, 1).

    Examples
    --------
    >>> low, high = wilson_interval(0, 10)
    >>> float(low), round(float(high), 4)
    (0.0, 0.2775)
    """
    from scipy.special import erfinv

    s = _as_counts(successes, "successes")
    trials = _as_counts(n, "n")
    c = real_scalar(confidence, "confidence", "a number in (0, 1)")
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in the open interval (0, 1), got {confidence!r}")
    try:
        s, trials = np.broadcast_arrays(s, trials)
    except ValueError:
        raise ValueError(f"successes and n must broadcast together, got shapes {s.shape} and {trials.shape}") from None
    if np.any(trials < 1):
        raise ValueError(f"n must be >= 1 (a proportion of 0 trials is undefined), got minimum {trials.min()}")
    if np.any(s < 0):
        raise ValueError(f"successes must lie in [0, n], got minimum {s.min()}")
    # both are >= 0 now: compare them exactly (int64 with uint64 would go through float64 in numpy)
    both_int = s.dtype.kind in "iu" and trials.dtype.kind in "iu"
    s_cmp, n_cmp = (s.astype(np.uint64), trials.astype(np.uint64)) if both_int else (s, trials)
    if np.any(s_cmp > n_cmp):
        raise ValueError("successes must lie in [0, n]")
    z = math.sqrt(2.0) * float(erfinv(c))  # not ndtri(0.5 + 0.5 c), which rounds the tail 1 - c away
    nf = trials.astype(np.float64)
    p_hat = s.astype(np.float64) / nf
    with np.errstate(over="ignore"):  # n beyond 1e154: 4 n^2 is inf and z^2 / (4 n^2) the correct limit 0
        denom = 1.0 + z * z / nf
        center = (p_hat + z * z / (2.0 * nf)) / denom
        half = z / denom * np.sqrt(p_hat * (1.0 - p_hat) / nf + z * z / (4.0 * nf * nf))
    low = np.where(s == 0, 0.0, np.clip(center - half, 0.0, 1.0))
    high = np.where(s_cmp == n_cmp, 1.0, np.clip(center + half, 0.0, 1.0))
    if low.ndim == 0:  # scalar counts: numpy scalars, as the package's reductions return
        return low[()], high[()]
    return low, high


def _as_counts(value: ArrayLike, name: str) -> NDArray[np.integer] | NDArray[np.float64]:
    """Whole-number counts, as an integer array (its own integer dtype, so uint64 does not wrap round) or a
    float64 array of integral values (beyond int64's range too); a wrong type is an
    :class:`ArgumentTypeError`, a float that is not a whole number a ValueError, both naming ``name``."""
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be integer counts, got {type(value).__name__} {value!r}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":  # bools, strings, complex numbers, objects
        raise ArgumentTypeError(f"{name} must be integer counts, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be integer counts (finite, whole numbers)")
    return arr
