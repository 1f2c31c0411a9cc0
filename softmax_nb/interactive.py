"""Data for the web edition's interactive figures, which run without a kernel.

Every value a reader can reach with a slider or a step button is computed
here, by the package's own functions, when the book is built; the page only
shows the precomputed values (``_ext/interactive.py`` embeds them as JSON, and
``_ext/static/sbk-interactive.js`` draws them). The browser tests move each
control and compare what the page displays with these functions.

- :func:`temperature_widget`: the worked example's probabilities over a range
  of temperatures, from the stable and the naive formula, at the original
  logits and at logits scaled up until the naive formula overflows.
- :func:`online_softmax_widget`: the online recurrence block by block: the
  running maximum, the rescale factor, the running sum and the final
  probabilities.
- :func:`calibration_widget`: a reliability diagram of an overconfident
  classifier over a range of temperatures, with ECE, NLL and Brier score.
- :func:`simplex_widget`: softmax, sparsemax and tempered softmax of
  three-class logits over a grid of the two logit differences that matter;
  :func:`simplex_figure` is its static counterpart for print.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .alternatives import sparsemax
from .calibration import expected_calibration_error, fit_temperature, reliability_curve
from .core import naive_softmax, softmax
from .losses import cross_entropy
from .scoring import brier_score
from .streaming import SoftmaxAccumulator

__all__ = ["WORKED_EXAMPLE", "temperature_widget", "online_softmax_widget", "calibration_data",
           "calibration_widget", "SIMPLEX_DIFFS", "SIMPLEX_TEMPERATURES", "SIMPLEX_EXAMPLES", "simplex_widget",
           "simplex_xy",
           "simplex_figure"]

#: The logits of the quick tour's worked example.
WORKED_EXAMPLE: tuple[float, ...] = (2.0, 0.1, 0.5, 1.0, 1.5)

_DIGITS = 6  # values are stored to 6 decimals and shown to 4


def _clean(values: ArrayLike) -> list[float | None]:
    """Round to ``_DIGITS`` decimals for JSON; NaN and infinities become ``None`` (shown as "nan")."""
    arr = np.asarray(values, dtype=float)
    return [round(float(v), _DIGITS) if np.isfinite(v) else None for v in arr.ravel()]


def temperature_widget(z: ArrayLike = WORKED_EXAMPLE, temperatures: ArrayLike | None = None,
                       scales: ArrayLike = (1.0, 400.0)) -> dict[str, Any]:
    r"""Softmax of ``scale * z / T`` for every temperature and scale, by the stable and the naive formula.

    Parameters
    ----------
    z : array_like, default WORKED_EXAMPLE
        A 1-D vector of logits.
    temperatures : array_like, optional
        Temperatures :math:`T > 0` (default: 41 values from 0.1 to 10,
        evenly spaced in :math:`\log T`, rounded to 3 significant digits).
    scales : array_like, default (1.0, 400.0)
        Factors applied to the logits. At 400 the largest scaled logit over
        :math:`T` passes :math:`\log(\text{float64 max}) \approx 709.78` for
        :math:`T < 1.13`, where the naive formula returns NaN.

    Returns
    -------
    dict
        ``z``, ``temperatures``, ``scales``, and ``stable`` and ``naive``:
        nested lists indexed ``[scale][temperature][class]`` (``None`` where
        the naive formula gives NaN).

    Raises
    ------
    ValueError
        If ``z`` is not a non-empty 1-D vector, or a temperature or scale is
        not positive and finite.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 1 or z.size == 0:
        raise ValueError(f"z must be a non-empty 1-D vector of logits, got shape {z.shape}")
    if temperatures is None:
        temperatures = np.array([float(f"{t:.3g}") for t in np.geomspace(0.1, 10.0, 41)])
    temps = np.asarray(temperatures, dtype=float)
    scales_arr = np.asarray(scales, dtype=float)
    for name, arr in (("temperatures", temps), ("scales", scales_arr)):
        if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
            raise ValueError(f"{name} must be a non-empty 1-D sequence of positive finite numbers, got {arr}")
    stable, naive = [], []
    for s in scales_arr:
        logits = s * z[None, :] / temps[:, None]
        stable.append([_clean(row) for row in softmax(logits, axis=-1)])
        with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            naive.append([_clean(row) for row in naive_softmax(logits, axis=-1)])
    return {"z": _clean(z), "temperatures": _clean(temps), "scales": _clean(scales_arr),
            "stable": stable, "naive": naive}


def online_softmax_widget(x: ArrayLike | None = None, block_size: int = 3) -> dict[str, Any]:
    r"""The online softmax recurrence, one block of ``block_size`` columns per step.

    After block :math:`k` the state is :math:`m_k = \max(m_{k-1}, \max_{j \in B_k} x_j)`
    and :math:`d_k = d_{k-1} e^{m_{k-1} - m_k} + \sum_{j \in B_k} e^{x_j - m_k}`
    (:class:`~softmax_nb.streaming.SoftmaxAccumulator`); the final probabilities
    are :math:`e^{x_i - m}/d`.

    Parameters
    ----------
    x : array_like, optional
        A 1-D vector of logits (default: 12 logits drawn with seed 0, rounded
        to 2 decimals, with the maximum in the last block so that the rescale
        factor matters).
    block_size : int, default 3
        Columns per step.

    Returns
    -------
    dict
        ``x``, ``block_size`` and ``steps``: one dict per block with
        ``block`` (column indices), ``m``, ``factor`` (:math:`e^{m_{k-1} - m_k}`,
        1 for the first block), ``d`` and ``p_seen`` (:math:`e^{x_j - m_k}/d_k`
        for the columns seen so far); and ``final`` (the probabilities).

    Raises
    ------
    ValueError
        If ``x`` is not a non-empty 1-D vector or ``block_size`` is not a
        positive integer.
    """
    if x is None:
        rng = np.random.default_rng(0)
        x = np.round(rng.normal(0.0, 2.0, size=12), 2)
        x[-2] = np.round(x.max() + 1.5, 2)
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a non-empty 1-D vector of logits, got shape {x.shape}")
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    acc = SoftmaxAccumulator()
    steps = []
    for start in range(0, x.size, block_size):
        m_old = float(acc.m)
        acc.update(x[start:start + block_size])
        m, d = float(acc.m), float(acc.d)
        seen = x[:start + block_size]
        steps.append({
            "block": list(range(start, min(start + block_size, x.size))),
            "m": round(m, _DIGITS),
            "factor": 1.0 if not np.isfinite(m_old) else round(float(np.exp(m_old - m)), _DIGITS),
            "d": round(d, _DIGITS),
            "p_seen": _clean(np.exp(seen - m) / d),
        })
    return {"x": _clean(x), "block_size": int(block_size), "steps": steps, "final": _clean(softmax(x))}


def calibration_data(n: int = 2000, k: int = 10, overconfidence: float = 2.5,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""Logits of a synthetic overconfident classifier and labels drawn from its true probabilities.

    True logits :math:`u \sim \mathcal{N}(0, 1.5^2)` per class; the label of each
    row is drawn from :math:`\operatorname{softmax}(u)`; the model reports
    ``overconfidence`` :math:`\times u`, so its ideal temperature is about
    ``overconfidence``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(n, k)`` logits and ``(n,)`` integer labels.

    Raises
    ------
    ValueError
        If ``n`` or ``k`` is below 2 or ``overconfidence`` is not positive.
    """
    if n < 2 or k < 2:
        raise ValueError(f"n and k must be at least 2, got n={n}, k={k}")
    if not overconfidence > 0:
        raise ValueError(f"overconfidence must be positive, got {overconfidence}")
    rng = np.random.default_rng(seed)
    u = rng.normal(0.0, 1.5, size=(n, k))
    p = softmax(u)
    labels = (rng.random(n)[:, None] > np.cumsum(p, axis=-1)).sum(axis=-1)
    return overconfidence * u, np.minimum(labels, k - 1)


def calibration_widget(temperatures: ArrayLike | None = None, n_bins: int = 10) -> dict[str, Any]:
    r"""Reliability diagram, ECE, NLL and Brier score of :func:`calibration_data` at each temperature.

    Parameters
    ----------
    temperatures : array_like, optional
        Temperatures :math:`T > 0` (default: 36 values from 0.5 to 5, evenly
        spaced in :math:`\log T` and rounded to 3 significant digits, plus 1 and
        the fitted temperature of :func:`~softmax_nb.calibration.fit_temperature`).
    n_bins : int, default 10
        Confidence bins of the reliability diagram and the ECE.

    Returns
    -------
    dict
        ``temperatures``, ``fitted`` (the fitted :math:`T`), ``edges``, and per
        temperature: ``ece``, ``nll``, ``brier``, and ``bins``
        (``[count, mean confidence, accuracy]`` per bin, ``None`` for an
        empty bin's confidence and accuracy).

    Raises
    ------
    ValueError
        If a temperature is not positive and finite.
    """
    logits, labels = calibration_data()
    fitted = round(float(fit_temperature(logits, labels)), 3)
    if temperatures is None:
        grid = [float(f"{t:.3g}") for t in np.geomspace(0.5, 5.0, 36)]
        temperatures = sorted(set(grid) | {1.0, fitted})
    temps = np.asarray(temperatures, dtype=float)
    if temps.ndim != 1 or temps.size == 0 or not np.all(np.isfinite(temps) & (temps > 0)):
        raise ValueError(f"temperatures must be a non-empty 1-D sequence of positive finite numbers, got {temps}")
    frames = []
    for t in temps:
        probs = softmax(logits / t)
        curve = reliability_curve(probs, labels, n_bins=n_bins)
        bins = [[int(c), *(_clean([conf, acc]) if c else [None, None])]
                for c, conf, acc in zip(curve.counts, curve.confidence, curve.accuracy)]
        frames.append({
            "ece": round(float(expected_calibration_error(probs, labels, n_bins=n_bins)), _DIGITS),
            "nll": round(float(cross_entropy(logits / t, labels)), _DIGITS),
            "brier": round(float(brier_score(probs, labels)), _DIGITS),
            "bins": bins,
        })
    return {"temperatures": _clean(temps), "fitted": fitted, "edges": _clean(curve.edges), "n": int(labels.size),
            "frames": frames}


#: Grid of the logit differences :math:`z_1 - z_3` and :math:`z_2 - z_3` of the simplex figure: -4 to 4 in steps of 0.5.
SIMPLEX_DIFFS: tuple[float, ...] = tuple(float(v) for v in np.arange(-8, 9) / 2)

#: Temperatures of the simplex figure's slider.
SIMPLEX_TEMPERATURES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0)


def _check_grid(name: str, values: ArrayLike, positive: bool, increasing: bool) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    ok = arr.ndim == 1 and arr.size >= (2 if increasing else 1) and bool(np.all(np.isfinite(arr)))
    if ok and positive:
        ok = bool(np.all(arr > 0))
    if ok and increasing:
        ok = bool(np.all(np.diff(arr) > 0))
    if not ok:
        need = "positive finite numbers" if positive else "at least 2 finite, strictly increasing numbers"
        raise ValueError(f"{name} must be a non-empty 1-D sequence of {need}, got {arr}")
    return arr


def simplex_widget(diffs: ArrayLike = SIMPLEX_DIFFS,
                   temperatures: ArrayLike = SIMPLEX_TEMPERATURES) -> dict[str, Any]:
    r"""Softmax, sparsemax and tempered softmax of three-class logits over a grid of logit differences.

    Softmax and sparsemax are shift invariant, :math:`f(z + c\mathbf{1}) = f(z)`,
    and so is :math:`\operatorname{softmax}(z/T)`; three-class logits therefore
    matter only through :math:`a = z_1 - z_3` and :math:`b = z_2 - z_3`, and
    :math:`z = (a, b, 0)` stands for all of them. For every :math:`(a, b)` on
    the grid ``diffs`` :math:`\times` ``diffs`` this computes
    :func:`~softmax_nb.core.softmax`, :func:`~softmax_nb.alternatives.sparsemax`
    and, for every temperature, :math:`\operatorname{softmax}(z/T)`.

    Parameters
    ----------
    diffs : array_like, default SIMPLEX_DIFFS
        The values of both :math:`a` and :math:`b` (-4 to 4 in steps of 0.5):
        at least 2, finite and strictly increasing.
    temperatures : array_like, default SIMPLEX_TEMPERATURES
        Temperatures :math:`T > 0` (0.1 to 10).

    Returns
    -------
    dict
        ``diffs``, ``temperatures``; ``softmax`` and ``sparsemax``: nested
        lists indexed ``[i][j][class]`` for :math:`a` = ``diffs[i]`` and
        :math:`b` = ``diffs[j]``; ``tempered``: indexed ``[t][i][j][class]``.
        Values are rounded to 6 decimals.

    Raises
    ------
    ValueError
        If ``diffs`` is not a 1-D sequence of at least 2 finite, strictly
        increasing numbers, or a temperature is not positive and finite.
    """
    d = _check_grid("diffs", diffs, positive=False, increasing=True)
    temps = _check_grid("temperatures", temperatures, positive=True, increasing=False)
    a, b = np.meshgrid(d, d, indexing="ij")
    z = np.stack([a, b, np.zeros_like(a)], axis=-1)  # (n, n, 3): z[i, j] = (d[i], d[j], 0)

    def nested(p: np.ndarray) -> list[list[list[float | None]]]:
        return [[_clean(p[i, j]) for j in range(d.size)] for i in range(d.size)]

    return {"diffs": _clean(d), "temperatures": _clean(temps),
            "softmax": nested(softmax(z, axis=-1)), "sparsemax": nested(sparsemax(z, axis=-1)),
            "tempered": [nested(softmax(z / t, axis=-1)) for t in temps]}


def simplex_xy(p: ArrayLike) -> np.ndarray:
    r"""Plane coordinates of three-class probabilities on the equilateral triangle.

    Class 1 sits at :math:`(0, 0)`, class 2 at :math:`(1, 0)`, class 3 at
    :math:`(\tfrac12, \tfrac{\sqrt3}{2})`, and :math:`p` at the mean of the
    corners weighted by :math:`p`: :math:`(p_2 + p_3/2,\ \tfrac{\sqrt3}{2} p_3)`.

    Parameters
    ----------
    p : array_like
        Probabilities, shape ``(..., 3)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., 2)``.

    Raises
    ------
    ValueError
        If the last axis of ``p`` does not have length 3.
    """
    p = np.asarray(p, dtype=float)
    if p.ndim == 0 or p.shape[-1] != 3:
        raise ValueError(f"p must have 3 classes on its last axis, got shape {p.shape}")
    return np.stack([p[..., 1] + p[..., 2] / 2, np.sqrt(3) / 2 * p[..., 2]], axis=-1)


#: The logits of the two panels of :func:`simplex_figure`.
SIMPLEX_EXAMPLES: tuple[tuple[float, float, float], ...] = ((1.0, 0.5, -1.0), (0.5, 0.0, 0.0))


def simplex_figure(examples: Sequence[ArrayLike] = SIMPLEX_EXAMPLES, temperature: float = 2.0):
    r"""Static counterpart of the simplex widget: one probability triangle per logit vector.

    Each panel draws :math:`\operatorname{softmax}(z)` (blue circle),
    :math:`\operatorname{sparsemax}(z)` (vermillion square),
    :math:`\operatorname{softmax}(z/T)` at ``temperature`` (green triangle) and the
    path of :math:`\operatorname{softmax}(z/T)` for :math:`0.05 \le T \le 20`
    (green dashes), from near the vertex of the largest logit to the centre
    (black cross, the uniform distribution).
    White background, markers as well as colours.

    Parameters
    ----------
    examples : sequence of array_like, default SIMPLEX_EXAMPLES
        Three-class logit vectors, one panel each.
    temperature : float, default 2.0
        The temperature of the marked tempered point.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If an example does not have exactly 3 finite logits or ``temperature``
        is not positive and finite.
    """
    from matplotlib.figure import Figure

    zs = [np.asarray(z, dtype=float) for z in examples]
    if not zs or any(z.shape != (3,) or not np.all(np.isfinite(z)) for z in zs):
        raise ValueError(f"examples must be vectors of 3 finite logits, got {examples}")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    fig = Figure(figsize=(3.3 * len(zs), 3.4), facecolor="white", edgecolor="white", layout="constrained")
    axes = fig.subplots(1, len(zs), squeeze=False)[0]
    corners = simplex_xy(np.eye(3))
    path_t = np.geomspace(0.05, 20.0, 200)
    for ax, z in zip(axes, zs):
        ax.set_facecolor("white")
        ax.fill(*corners.T, facecolor="#f4f4f4", edgecolor="black", linewidth=1.0, zorder=0)
        for k, (x, y) in enumerate(corners):
            ax.annotate(f"class {k + 1}", (x, y), xytext=((-6, -12), (6, -12), (0, 6))[k], textcoords="offset points",
                        ha=("right", "left", "center")[k], va="bottom" if k == 2 else "top", fontsize=9)
        ax.plot(*simplex_xy(softmax(z[None, :] / path_t[:, None])).T, color="#009E73", linestyle="--",
                linewidth=1.2, label=r"softmax$(z/T)$, $0.05 \leq T \leq 20$")
        ax.plot(*simplex_xy(softmax(z)), marker="o", markersize=8, color="#0072B2", linestyle="none",
                label=r"softmax$(z)$")
        ax.plot(*simplex_xy(sparsemax(z)), marker="s", markersize=7, color="#D55E00", linestyle="none",
                label=r"sparsemax$(z)$")
        ax.plot(*simplex_xy(softmax(z / temperature)), marker="^", markersize=8, color="#009E73", linestyle="none",
                label=rf"softmax$(z/T)$, $T = {temperature:g}$")
        ax.plot(*simplex_xy(np.full(3, 1 / 3)), marker="+", color="black", markersize=9, linestyle="none",
                label="uniform (1/3, 1/3, 1/3)")
        ax.set_title("z = (" + ", ".join(f"{v:g}".replace("-", "\u2212") for v in z) + ")", fontsize=10)
        ax.set_aspect("equal")
        ax.set_xlim(-0.2, 1.2)
        ax.set_ylim(-0.15, 1.0)
        ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    return fig
