"""One figure style for the whole book, and chapter-agnostic plot helpers.

Figures have an opaque white background so they stay readable when the
rendered book is switched to dark mode, and use the colour-blind-safe
Okabe-Ito palette. Successive lines differ by dash pattern as well as colour
(:data:`LINESTYLES`), so series stay apart in greyscale print. In Jupyter,
inline figures are stored at twice their pixel density ("retina", 200 dpi at
the displayed size), which is print resolution for the PDF edition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PALETTE", "LINESTYLES", "use_style", "new_figure", "bar_probs"]

#: Okabe-Ito colours, in the order the book uses them.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: One dash pattern per palette colour. The n-th line drawn in an axes gets
#: both the n-th colour and the n-th pattern, so no two series differ by
#: colour alone (an explicit ``color=`` still advances the pattern).
LINESTYLES: tuple[str | tuple, ...] = (
    "-", "--", "-.", ":", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (9, 2.5)), (0, (1, 3.5)), (0, (4, 1, 1, 1, 1, 1, 1, 1)),
)

#: Resolution (dots per inch at the displayed size) of inline notebook figures.
PRINT_DPI: int = 200

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

    plt.rcParams.update(_RC)  # type: ignore[arg-type]  # matplotlib types the keys as Literal
    plt.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE)) + cycler(linestyle=list(LINESTYLES))
    _inline_print_resolution()


def _inline_print_resolution() -> bool:
    """In IPython, store inline PNGs at ``PRINT_DPI`` with their displayed size in the metadata.

    IPython's "retina" format renders at twice ``figure.dpi`` (100) and records
    the 1x width and height, so the page shows the same size while the PDF gets
    200 dpi. Outside IPython it does nothing and returns False.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is there whenever a notebook runs
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    assert PRINT_DPI == 2 * _RC["figure.dpi"], "retina doubles figure.dpi"
    set_matplotlib_formats("retina")
    return True


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


# --- losses, calibration, training ---
__all__ += ["plot_reliability", "show_digits"]


def plot_reliability(ax, curve, label: str | None = None, color: str | None = None, show_gap: bool = True, *,
                     interval: float | None = None, count_ax=None, count_log: bool = True):
    """Draw a reliability diagram: accuracy per confidence bin against the diagonal.

    Bars show the accuracy of each non-empty bin (width = bin width); when
    ``show_gap`` is set, a hatched bar from the accuracy to the bin's mean
    confidence marks the calibration gap, whose count-weighted mean is the ECE.
    The dashed diagonal is perfect calibration. Two opt-in extras (both off by
    default, so existing figures are unchanged):

    * ``interval=0.95`` adds a black error bar at the centre of each
      non-empty bin: the Wilson score interval
      (:func:`~softmax_nb.scoring.wilson_interval`) of the bin's accuracy,
      from its number of correct predictions and its count;
    * ``count_ax=<axes>`` draws the confidence histogram, the number of
      predictions in each bin, as grey bars in a second axes (typically a
      short one underneath, e.g. the lower row of
      ``new_figure(nrows=2, gridspec_kw={"height_ratios": [3, 1]})``), and
      moves the x label there.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    curve : ReliabilityCurve
        The output of :func:`~softmax_nb.calibration.reliability_curve`.
    label : str, optional
        Legend label of the accuracy bars.
    color : str, optional
        Bar colour; defaults to the first palette colour.
    show_gap : bool, default True
        Also draw the gap between accuracy and mean confidence.
    interval : float, optional
        Confidence level in (0, 1) of per-bin Wilson intervals; ``None`` (default) draws none.
    count_ax : matplotlib.axes.Axes, optional
        Axes for the histogram of predictions per bin; ``None`` (default) draws none.
    count_log : bool, default True
        Symmetric-log count axis (linear up to 1), so bins with a handful of
        predictions stay visible next to a bin with hundreds.

    Returns
    -------
    matplotlib.container.BarContainer
        The accuracy bars.

    Raises
    ------
    ValueError
        For ``interval`` outside (0, 1) (from :func:`~softmax_nb.scoring.wilson_interval`).
    """
    edges = np.asarray(curve.edges, dtype=float)
    counts = np.asarray(curve.counts)
    full = counts > 0
    left, width = edges[:-1][full], np.diff(edges)[full]
    acc, conf = np.asarray(curve.accuracy)[full], np.asarray(curve.confidence)[full]
    bars = ax.bar(left, acc, width=width, align="edge", color=color or PALETTE[0], edgecolor="white",
                  label=label or "accuracy")
    if show_gap:
        # Outline + hatch only: where accuracy exceeds confidence the gap bar
        # lies over the accuracy bar, and a filled bar would darken it.
        ax.bar(left, conf - acc, bottom=acc, width=width, align="edge", fill=False,
               edgecolor=PALETTE[3], hatch="//", label="gap to confidence")
    if interval is not None:
        from .scoring import wilson_interval

        n = counts[full]
        low, high = wilson_interval(np.rint(acc * n).astype(np.int64), n, confidence=interval)
        ax.errorbar(left + width / 2, acc, yerr=np.vstack([acc - low, high - acc]), fmt="none",
                    ecolor="black", elinewidth=1, capsize=2, label=f"{interval:.0%} Wilson interval")
    ax.plot([0, 1], [0, 1], ls="--", color="0.4", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    if count_ax is not None:
        count_ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="0.6", edgecolor="white")
        if count_log:
            count_ax.set_yscale("symlog", linthresh=1)
        count_ax.set_xlim(0, 1)
        count_ax.set_xlabel("confidence (max probability)")
        count_ax.set_ylabel("predictions")
        ax.set_xlabel("")
    return bars


def show_digits(images: ArrayLike, titles: Sequence[str] | None = None, ncols: int = 10,
                size: float = 0.9, cmap: str = "gray_r"):
    """Show 8x8 digit images (rows of 64 pixels, or an (n, 8, 8) array) in a grid.

    Parameters
    ----------
    images : array_like
        ``(n, 64)`` or ``(n, 8, 8)`` pixel intensities (any scale).
    titles : sequence of str, optional
        One short title per image (e.g. ``"3 (p=0.98)"``).
    ncols : int, default 10
        Images per row.
    size : float, default 0.9
        Width and height of each cell in inches.
    cmap : str, default "gray_r"
        Colour map (ink dark on white).

    Returns
    -------
    matplotlib.figure.Figure
    """
    imgs = np.asarray(images, dtype=float).reshape(-1, 8, 8)
    n = imgs.shape[0]
    ncols = max(1, min(int(ncols), n))
    nrows = max(1, -(-n // ncols))
    fig, axes = new_figure(ncols, nrows, width=size * ncols, height=size * nrows * (1.25 if titles else 1.0),
                           squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], cmap=cmap, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    return fig
