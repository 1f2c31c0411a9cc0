"""One figure style for the whole book, and chapter-agnostic plot helpers.

Figures have an opaque white background so they stay readable when the
rendered book is switched to dark mode, and use the colour-blind-safe
Okabe-Ito palette.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PALETTE", "use_style", "new_figure", "bar_probs"]

#: Okabe-Ito colours, in the order the book uses them.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

_RC: dict[str, Any] = {
    "figure.figsize": (6.4, 3.4),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.facecolor": "white",
    "figure.edgecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Install the book's matplotlib style (opaque background, palette, sizes).

    pyplot is imported first: in Jupyter that activates the inline backend,
    whose own defaults (a transparent figure) would otherwise override ours.
    """
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams.update(_RC)
    plt.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 3.4, **kwargs: Any):
    """Create a figure with ``nrows x ncols`` axes in the book style.

    Returns
    -------
    (matplotlib.figure.Figure, axes)
        As :func:`matplotlib.pyplot.subplots`, with ``layout="constrained"``.
    """
    import matplotlib.pyplot as plt

    use_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)


def bar_probs(ax, p: ArrayLike, labels: Sequence[str] | None = None, title: str | None = None,
              color: str | None = None, annotate: bool = True, ylim: tuple[float, float] = (0.0, 1.0)):
    """Draw a probability vector as bars, optionally with each value printed on top.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    p : array_like
        A 1-D vector of probabilities.
    labels : sequence of str, optional
        Tick labels; defaults to ``0 .. K-1``.
    title : str, optional
        Axes title.
    color : str, optional
        Bar colour; defaults to the first palette colour.
    annotate : bool, default True
        Print each value (3 decimals) above its bar.
    ylim : tuple of float, default (0.0, 1.0)
        Limits of the probability axis.

    Returns
    -------
    matplotlib.container.BarContainer
    """
    p = np.asarray(p, dtype=float)
    x = np.arange(p.size)
    bars = ax.bar(x, p, color=color or PALETTE[0])
    ax.set_xticks(x, labels if labels is not None else [str(i) for i in x])
    ax.set_ylim(*ylim)
    ax.set_ylabel("probability")
    ax.grid(axis="x", visible=False)
    if title:
        ax.set_title(title)
    if annotate:
        for xi, pi in zip(x, p):
            ax.text(xi, pi + 0.01 * (ylim[1] - ylim[0]), f"{pi:.3f}", ha="center", va="bottom", fontsize=8)
    return bars
