r"""Calibration of classifiers: reliability curves, ECE and temperature scaling.

A classifier is *calibrated* when, among the predictions made with confidence
:math:`c`, a fraction :math:`c` is correct. Following Guo et al. (2017), the
confidence of a prediction is its largest probability and the prediction is
its argmax; predictions are grouped into ``M`` equal-width bins
:math:`B_m = \big(\tfrac{m-1}{M}, \tfrac{m}{M}\big]` (right-closed; a
confidence of exactly 0 goes in the first bin).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (
    as_float_array,
    check_bounds,
    check_finite,
    check_matrix_and_labels,
    check_nonnegative,
    check_positive_int,
    check_probabilities,
    check_temperature,
)
from .losses import cross_entropy

__all__ = ["ReliabilityCurve", "reliability_curve", "expected_calibration_error", "fit_temperature",
           "VectorScaling", "fit_vector_scaling", "MatrixScaling", "fit_matrix_scaling"]


class ReliabilityCurve(NamedTuple):
    """Per-bin statistics of a reliability diagram (``M`` bins).

    Empty bins have ``counts == 0`` and NaN ``confidence`` and ``accuracy``.
    """

    #: The ``M + 1`` bin edges ``0, 1/M, ..., 1`` (each the double nearest ``m/M``).
    edges: NDArray[np.float64]
    #: Mean confidence of the predictions in each bin (NaN if empty).
    confidence: NDArray[np.float64]
    #: Fraction of correct predictions in each bin (NaN if empty).
    accuracy: NDArray[np.float64]
    #: Number of predictions in each bin.
    counts: NDArray[np.intp]


def _confidences(probs: ArrayLike, labels: ArrayLike) -> tuple[NDArray[np.floating], NDArray[np.bool_]]:
    """Validate ``(N, K)`` probabilities and ``(N,)`` labels; return confidences and correctness."""
    p = as_float_array(probs, "probs")
    y = check_matrix_and_labels(p, labels, "probs")
    check_probabilities(p, "probs")
    return p.max(axis=1), p.argmax(axis=1) == y


def reliability_curve(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> ReliabilityCurve:
    r"""Bin predictions by confidence and compare mean confidence with accuracy.

    .. math::

        \operatorname{conf}(B_m) = \frac{1}{|B_m|} \sum_{i \in B_m} \max_k p_{ik},
        \qquad
        \operatorname{acc}(B_m) = \frac{1}{|B_m|} \sum_{i \in B_m}
            [\arg\max_k p_{ik} = y_i],

    with right-closed bins :math:`B_m = ((m-1)/M, m/M]` (confidence 0 goes in
    the first bin). A calibrated model has :math:`\operatorname{acc} \approx
    \operatorname{conf}` in every bin.

    Parameters
    ----------
    probs : array_like
        Predicted probabilities of shape ``(N, K)``, entries in [0, 1].
    labels : array_like of int
        True labels of shape ``(N,)``, in ``[0, K)``.
    n_bins : int, default 15
        ``M``, the number of equal-width bins.

    Returns
    -------
    ReliabilityCurve
        ``(edges, confidence, accuracy, counts)``; empty bins have NaN
        confidence and accuracy and count 0.

    Raises
    ------
    ValueError
        For ``probs`` that are not a non-empty ``(N, K)`` array (``N, K >= 1``),
        probabilities outside [0, 1] or not finite, labels of the wrong shape
        or outside ``[0, K)``, or ``n_bins`` not an integer >= 1.
    """
    m = check_positive_int(n_bins, "n_bins")
    conf, correct = _confidences(probs, labels)
    edges = np.arange(m + 1) / m  # each edge is the double nearest m/M (linspace can be 1 ulp off)
    # searchsorted(side="left") puts a confidence equal to an edge in the bin it closes.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, m - 1)
    counts = np.bincount(idx, minlength=m)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=m) / counts
        acc = np.bincount(idx, weights=correct, minlength=m) / counts
    return ReliabilityCurve(edges, mean_conf, acc, counts)


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    r"""Expected calibration error (Guo et al., 2017), weighted by bin counts.

    .. math::

        \mathrm{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{n}\,
            \big|\operatorname{acc}(B_m) - \operatorname{conf}(B_m)\big|,

    with the bins of :func:`reliability_curve`. It lies in [0, 1]; 0 means
    the binned reliability diagram sits on the diagonal.

    Parameters
    ----------
    probs : array_like
        Predicted probabilities of shape ``(N, K)``.
    labels : array_like of int
        True labels of shape ``(N,)``.
    n_bins : int, default 15
        ``M``.

    Returns
    -------
    float
        The ECE, in [0, 1].

    Raises
    ------
    ValueError
        As :func:`reliability_curve`; in particular an empty batch
        (``N = 0``), whose ECE is undefined.
    """
    curve = reliability_curve(probs, labels, n_bins)
    n = curve.counts.sum()  # N >= 1: reliability_curve rejects an empty batch
    full = curve.counts > 0
    gap = np.abs(curve.accuracy[full] - curve.confidence[full])
    return float(np.sum(curve.counts[full] * gap) / n)


def fit_temperature(logits: ArrayLike, labels: ArrayLike, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    r"""Temperature scaling: the :math:`T > 0` minimising the validation NLL.

    .. math::

        T^\star = \arg\min_{T} \; \frac{1}{N} \sum_{i=1}^{N}
            -\log \operatorname{softmax}(z_i / T)_{y_i} .

    The NLL is convex in :math:`\beta = 1/T` (its second derivative is the
    mean over samples of :math:`\operatorname{Var}_{p_i}(z_i)`), hence
    unimodal in :math:`\log T`, which is searched with
    :func:`scipy.optimize.minimize_scalar` (bounded Brent).
    Dividing logits by :math:`T` never changes the argmax, so accuracy is
    unchanged; :math:`T > 1` softens an over-confident model.

    Parameters
    ----------
    logits : array_like
        Validation logits of shape ``(N, K)`` with ``N >= 1`` and ``K >= 2``
        (finite). The NLL is computed in float64 whatever the dtype.
    labels : array_like of int
        Validation labels of shape ``(N,)``, in ``[0, K)``.
    bounds : tuple of float, default (0.05, 20.0)
        Search interval ``(low, high)`` for ``T``, ``0 < low < high < inf``.

    Returns
    -------
    float
        The fitted temperature, inside ``bounds`` (an end point when the NLL
        keeps decreasing towards it, e.g. ``low`` when every prediction is
        right).

    Raises
    ------
    ValueError
        For ``logits`` that are not a non-empty ``(N, K)`` array with
        ``K >= 2`` (with one class every ``T`` gives NLL 0), non-finite
        logits, logits so large that ``logits / low`` overflows float64,
        labels of the wrong shape or outside ``[0, K)``, or ``bounds`` that
        are not a pair ``0 < low < high < inf``.
    """
    from scipy.optimize import minimize_scalar

    low, high = check_bounds(bounds)
    z = as_float_array(logits, "logits").astype(np.float64)
    y = check_matrix_and_labels(z, labels, "logits")
    check_finite(z, "logits")
    if z.shape[1] < 2:
        raise ValueError(f"logits must have K >= 2 classes to fit a temperature (with K = 1 every T gives "
                         f"NLL 0), got shape {z.shape}")
    # logits / T can only overflow for T < 1 (and finfo.max * low itself would overflow for low > 1)
    if low < 1.0 and np.max(np.abs(z)) > np.finfo(np.float64).max * low:
        raise ValueError(f"logits / T overflows float64 at the lower bound T = {low!r}: the largest |logit| "
                         f"must be below {np.finfo(np.float64).max * low:.3g} (or raise bounds[0])")

    def nll(log_t: float) -> float:
        return float(cross_entropy(z * np.exp(-log_t), y))

    lo, hi = np.log(low), np.log(high)
    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    # Brent never evaluates the end points; keep one if the minimum sits on the boundary.
    # An end point is returned exactly (exp(log(20)) is 19.999999999999996).
    candidates = ((float(res.x), float(np.exp(res.x))), (lo, low), (hi, high))
    best = min(candidates, key=lambda c: nll(c[0]))
    return float(np.clip(best[1], low, high))


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread, if threadpoolctl (a scikit-learn dependency) is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


#: Starting weights are at most this many times 1/max|z|: beyond, the softmax of the start is saturated
#: (logit gaps above 1e6), the NLL is flat to rounding and L-BFGS-B cannot leave the start.
_MAX_START_GAIN = 1e6


def _start_temperature(temperature: float | None, z: NDArray[np.float64], y: NDArray[np.intp]) -> float:
    """The starting temperature of a richer scaling: ``temperature`` checked (or fitted if ``None``), then
    raised to at least ``max|z| / 1e6`` (and 1e-300, so that ``1/T`` is finite)."""
    if temperature is None:
        return fit_temperature(z, y)
    t = check_temperature(temperature)
    scale = float(np.max(np.abs(z)))
    return max(t, (scale if scale > 0 else 1.0) / _MAX_START_GAIN, 1e-300)


class VectorScaling(NamedTuple):
    """A fitted vector scaling, :math:`z \\mapsto w \\odot z + b` (one weight and one bias per class)."""

    #: The per-class weights :math:`w`, shape ``(K,)``.
    weight: NDArray[np.float64]
    #: The per-class biases :math:`b`, shape ``(K,)``, shifted to mean 0 (the softmax ignores a common shift).
    bias: NDArray[np.float64]

    def apply(self, logits: ArrayLike) -> NDArray[np.float64]:
        """The recalibrated logits :math:`w \\odot z + b` of ``(N, K)`` logits (float64)."""
        z = as_float_array(logits, "logits").astype(np.float64)
        if z.ndim != 2 or z.shape[1] != self.weight.shape[0]:
            raise ValueError(f"logits must have shape (N, {self.weight.shape[0]}), got {z.shape}")
        return z * self.weight + self.bias


def fit_vector_scaling(logits: ArrayLike, labels: ArrayLike, l2: float = 0.0,
                       temperature: float | None = None) -> VectorScaling:
    r"""Vector scaling (Guo et al., 2017): per-class weight and bias minimising the validation NLL.

    With :math:`u_i = w \odot z_i + b` it minimises

    .. math::

        L(w, b) = \frac{1}{N} \sum_{i=1}^{N} -\log \operatorname{softmax}(u_i)_{y_i}
            + \lambda \Big( \lVert w - \bar w \mathbf{1} \rVert^2
                          + \lVert b - \bar b \mathbf{1} \rVert^2 \Big),

    where :math:`\bar w, \bar b` are the means of the entries. The
    gradient of the NLL term is :math:`\partial L / \partial w_k = \sum_i
    G_{ik} z_{ik}`, :math:`\partial L / \partial b_k = \sum_i G_{ik}` with
    :math:`G = (\operatorname{softmax}(u) - Y)/N`. The penalty is 0 exactly on
    temperature scaling (:math:`w = \mathbf{1}/T`, equal biases), so it shrinks
    towards the temperature-scaling family, not towards a fixed :math:`T`; as
    :math:`\lambda \to \infty` the fit becomes temperature scaling. The
    objective is convex; L-BFGS-B (:func:`scipy.optimize.minimize`) starts
    from temperature scaling, so the fitted penalised NLL is never above
    temperature scaling's.

    With ``l2 = 0`` a minimiser need not exist: if one class's own logit
    separates it from the others on the validation set, its weight grows
    without bound. A small ``l2`` (e.g. 0.01) keeps the fit finite.

    Parameters
    ----------
    logits : array_like
        Validation logits, shape ``(N, K)``, ``N >= 1``, ``K >= 2``, finite.
    labels : array_like of int
        Validation labels, shape ``(N,)``, in ``[0, K)``.
    l2 : float, default 0.0
        :math:`\lambda \ge 0`.
    temperature : float, optional
        Starting temperature, a finite number > 0; ``None`` fits it with
        :func:`fit_temperature`. A start below :math:`\max|z| / 10^6` is
        raised to that value: from a start so cold the softmax is saturated,
        the NLL is flat to rounding and L-BFGS-B would not move (the
        objective is convex, so only the path changes, not the minimiser).

    Returns
    -------
    VectorScaling
        ``(weight, bias)`` with the bias shifted to mean 0; ``.apply(z)``
        gives the recalibrated logits.

    Raises
    ------
    ArgumentTypeError
        For ``l2`` or ``temperature`` that is not a real number (a string,
        a bool).
    ValueError
        As :func:`fit_temperature` for ``logits`` and ``labels``; for ``l2``
        negative or not finite; for ``temperature`` not a finite number > 0.
    """
    from scipy.optimize import minimize

    z = as_float_array(logits, "logits").astype(np.float64)
    y = check_matrix_and_labels(z, labels, "logits")
    check_finite(z, "logits")
    n, k = z.shape
    if k < 2:
        raise ValueError(f"logits must have K >= 2 classes to fit a vector scaling, got shape {z.shape}")
    lam = check_nonnegative(l2, "l2")
    temperature = _start_temperature(temperature, z, y)
    rows = np.arange(n)

    def objective(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w, b = theta[:k], theta[k:]
        u = z * w + b
        u = u - u.max(axis=1, keepdims=True)
        e = np.exp(u)
        s = e.sum(axis=1)
        nll = float(np.mean(np.log(s) - u[rows, y]))
        g = e / s[:, None]
        g[rows, y] -= 1.0
        g /= n
        dw, db = w - w.mean(), b - b.mean()
        value = nll + lam * float(dw @ dw + db @ db)
        grad = np.concatenate([(g * z).sum(axis=0) + 2.0 * lam * dw, g.sum(axis=0) + 2.0 * lam * db])
        return value, grad

    theta0 = np.concatenate([np.full(k, 1.0 / float(temperature)), np.zeros(k)])
    # One BLAS thread: L-BFGS-B's small vector operations gain nothing from threads, and on a
    # busy machine their synchronisation made the fit 20 times slower.
    with _single_threaded_blas():
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-10, "ftol": 0.0, "maxiter": 10_000})
    theta = res.x if objective(res.x)[0] <= objective(theta0)[0] else theta0
    w, b = theta[:k].copy(), theta[k:] - theta[k:].mean()
    return VectorScaling(w, b)


class MatrixScaling(NamedTuple):
    """A fitted matrix scaling, :math:`z \\mapsto W z + b` (a full weight matrix and one bias per class)."""

    #: The weight matrix :math:`W`, shape ``(K, K)``; row :math:`k` gives the new logit of class :math:`k`.
    weight: NDArray[np.float64]
    #: The per-class biases :math:`b`, shape ``(K,)``, shifted to mean 0 (the softmax ignores a common shift).
    bias: NDArray[np.float64]

    def apply(self, logits: ArrayLike) -> NDArray[np.float64]:
        """The recalibrated logits :math:`W z_i + b` of ``(N, K)`` logits, i.e. ``z @ W.T + b`` (float64)."""
        z = as_float_array(logits, "logits").astype(np.float64)
        if z.ndim != 2 or z.shape[1] != self.weight.shape[1]:
            raise ValueError(f"logits must have shape (N, {self.weight.shape[1]}), got {z.shape}")
        return z @ self.weight.T + self.bias


def _matrix_scaling_loss(theta: NDArray[np.float64], z: NDArray[np.float64], y: NDArray[np.intp],
                         l2_offdiag: float, l2_bias: float) -> tuple[float, NDArray[np.float64]]:
    """The ODIR-penalised mean NLL of :func:`fit_matrix_scaling` and its gradient, at ``theta = [W.ravel(), b]``."""
    n, k = z.shape
    rows = np.arange(n)
    w, b = theta[:k * k].reshape(k, k), theta[k * k:]
    u = z @ w.T + b
    u -= u.max(axis=1, keepdims=True)
    e = np.exp(u)
    s = e.sum(axis=1)
    nll = float(np.mean(np.log(s) - u[rows, y]))
    g = e / s[:, None]
    g[rows, y] -= 1.0
    g /= n
    w_off, db = w - np.diag(np.diag(w)), b - b.mean()
    value = nll + l2_offdiag * float(np.sum(w_off * w_off)) + l2_bias * float(db @ db)
    grad = np.concatenate([(g.T @ z + 2.0 * l2_offdiag * w_off).ravel(), g.sum(axis=0) + 2.0 * l2_bias * db])
    return value, grad


def fit_matrix_scaling(logits: ArrayLike, labels: ArrayLike, l2_offdiag: float = 0.0, l2_bias: float = 0.0,
                       temperature: float | None = None) -> MatrixScaling:
    r"""Matrix scaling with ODIR (Kull et al., 2019): a full weight matrix and biases minimising the validation NLL.

    With :math:`u_i = W z_i + b` it minimises

    .. math::

        L(W, b) = \frac{1}{N} \sum_{i=1}^{N} -\log \operatorname{softmax}(u_i)_{y_i}
            + \lambda_{\mathrm{off}} \sum_{k \ne j} W_{kj}^2
            + \lambda_b \lVert b - \bar b \mathbf{1} \rVert^2,

    where :math:`\bar b` is the mean of the biases: the off-diagonal and
    intercept regularisation (ODIR) of Kull et al., who call the result
    MS-ODIR. The diagonal of :math:`W` is not penalised. With
    :math:`G = (\operatorname{softmax}(u) - Y)/N` the gradient is

    .. math::

        \frac{\partial L}{\partial W_{kj}} = \sum_i G_{ik} z_{ij}
            + 2 \lambda_{\mathrm{off}} W_{kj} [k \ne j], \qquad
        \frac{\partial L}{\partial b_k} = \sum_i G_{ik} + 2 \lambda_b (b_k - \bar b),

    i.e. :math:`G^\top z` plus the penalty terms. The penalty is 0 on every
    diagonal :math:`W` with equal biases, so it shrinks towards vector scaling
    without biases (which contains temperature scaling, :math:`W = I/T`); as
    :math:`\lambda_{\mathrm{off}} \to \infty` with :math:`\lambda_b = 0` the
    fit becomes unpenalised vector scaling (:func:`fit_vector_scaling` with
    ``l2=0``). The objective is convex; L-BFGS-B
    (:func:`scipy.optimize.minimize`) starts from temperature scaling
    (:math:`W = I/T`, :math:`b = 0`), so the fitted penalised NLL is never
    above temperature scaling's.

    Adding the same vector to every row of :math:`W` changes every
    :math:`u_i` by a common shift, which the softmax ignores; with
    ``l2_offdiag = 0`` the NLL therefore fixes :math:`W` only up to such a
    shift, and, as for vector scaling, a minimiser need not exist at all.
    ``l2_offdiag > 0`` makes :math:`W` unique and keeps it finite.

    Dirichlet calibration (Kull et al.) is this fit applied to the
    log-probabilities :math:`\log p_i = z_i - \operatorname{LSE}(z_i)
    \mathbf{1}` instead of the logits: pass ``log_softmax(z)``. The two agree
    only when every row of :math:`W` has the same sum :math:`s`:
    :math:`W \log p_i = W z_i - s \operatorname{LSE}(z_i) \mathbf{1}` is then a
    common shift of :math:`W z_i`, which the softmax ignores (temperature
    scaling is such a case). For a general :math:`W` the term
    :math:`\operatorname{LSE}(z_i) \, W \mathbf{1}` differs between
    classes, and the two calibrators give different probabilities.

    Parameters
    ----------
    logits : array_like
        Validation logits, shape ``(N, K)``, ``N >= 1``, ``K >= 2``, finite.
    labels : array_like of int
        Validation labels, shape ``(N,)``, in ``[0, K)``.
    l2_offdiag : float, default 0.0
        :math:`\lambda_{\mathrm{off}} \ge 0`.
    l2_bias : float, default 0.0
        :math:`\lambda_b \ge 0`.
    temperature : float, optional
        Starting temperature, a finite number > 0; ``None`` fits it with
        :func:`fit_temperature`. A start below :math:`\max|z| / 10^6` is
        raised to that value: from a start so cold the softmax is saturated,
        the NLL is flat to rounding and L-BFGS-B would not move (the
        objective is convex, so only the path changes, not the minimiser).

    Returns
    -------
    MatrixScaling
        ``(weight, bias)`` with the bias shifted to mean 0; ``.apply(z)``
        gives the recalibrated logits.

    Raises
    ------
    ArgumentTypeError
        For ``l2_offdiag``, ``l2_bias`` or ``temperature`` that is not a real
        number (a string, a bool).
    ValueError
        As :func:`fit_temperature` for ``logits`` and ``labels``; for
        ``l2_offdiag`` or ``l2_bias`` negative or not finite; for
        ``temperature`` not a finite number > 0.
    """
    from scipy.optimize import minimize

    z = as_float_array(logits, "logits").astype(np.float64)
    y = check_matrix_and_labels(z, labels, "logits")
    check_finite(z, "logits")
    k = z.shape[1]
    if k < 2:
        raise ValueError(f"logits must have K >= 2 classes to fit a matrix scaling, got shape {z.shape}")
    lam_off = check_nonnegative(l2_offdiag, "l2_offdiag")
    lam_b = check_nonnegative(l2_bias, "l2_bias")
    temperature = _start_temperature(temperature, z, y)

    def objective(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        return _matrix_scaling_loss(theta, z, y, lam_off, lam_b)

    theta0 = np.concatenate([(np.eye(k) / float(temperature)).ravel(), np.zeros(k)])
    # One BLAS thread, as in fit_vector_scaling.
    with _single_threaded_blas():
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-10, "ftol": 0.0, "maxiter": 10_000})
        theta = res.x if objective(res.x)[0] <= objective(theta0)[0] else theta0
    w, b = theta[:k * k].reshape(k, k).copy(), theta[k * k:] - theta[k * k:].mean()
    return MatrixScaling(w, b)
