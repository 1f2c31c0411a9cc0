r"""Repeat an experiment over seeds and report it honestly: mean, spread, per-seed values.

One run of a training experiment is one draw from a distribution: another
split or another shuffling seed gives other numbers. The chapters therefore
report a metric as mean :math:`\pm` standard deviation over ``n`` seeds (a
descriptive spread), and compare two methods by their *paired* differences on
the same seeds with :func:`evidence`: an interval for the mean difference (a
paired t interval for disjoint splits, the corrected resampled t of Nadeau and
Bengio for random splits that overlap), the count of splits on which the claim
holds (:func:`fraction`; a description, not a test) and a verdict read from the
interval. A claim of "no difference" needs an equivalence margin. The appendix
"How this book reports experiments" explains each step.

>>> res = repeat(lambda s: {"x": float(s), "y": 2.0 * s}, seeds=range(4))
>>> res["x"].tolist()
[0.0, 1.0, 2.0, 3.0]
>>> print(res.summary("y"))
3.000 ± 2.582 (n = 4)
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ._checks import ArgumentTypeError, check_int, real_scalar

__all__ = ["Summary", "Repeats", "summarize", "repeat", "paired", "fraction", "format_table", "Evidence", "evidence",
           "quick_mode", "n_splits"]


class Summary(NamedTuple):
    """Mean, sample standard deviation (``ddof=1``), count and extremes of per-seed values."""

    mean: float
    sd: float
    n: int
    min: float
    max: float

    def __str__(self) -> str:
        return self.format()

    def format(self, digits: int = 3, scale: float = 1.0) -> str:
        """``'mean ± sd (n = ...)'`` with ``digits`` decimals, values multiplied by ``scale``."""
        return f"{self.mean * scale:.{digits}f} ± {self.sd * scale:.{digits}f} (n = {self.n})"


def summarize(values: ArrayLike) -> Summary:
    r"""Summarise per-seed values: mean, sample sd :math:`\sqrt{\sum (x_i - \bar x)^2 / (n - 1)}`, n, min, max.

    Parameters
    ----------
    values : array_like
        A non-empty 1-D array of finite numbers (one per seed).

    Returns
    -------
    Summary
        ``sd`` is 0.0 for a single value.

    Raises
    ------
    ValueError
        For an empty or non-1-D array, or NaN/inf values.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array (one value per seed), got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite numbers, got NaN or inf")
    sd = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
    return Summary(float(np.mean(v)), sd, int(v.size), float(v.min()), float(v.max()))


class Repeats:
    """Per-seed results of :func:`repeat`: ``res[name]`` is an array with one value per seed."""

    def __init__(self, seeds: ArrayLike, values: Mapping[str, ArrayLike]) -> None:
        self.seeds = np.asarray(seeds)
        self.values: dict[str, NDArray[np.float64]] = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        for name, v in self.values.items():
            if v.shape != self.seeds.shape:
                raise ValueError(f"metric {name!r} has shape {v.shape}, expected one value per seed {self.seeds.shape}")

    def __getitem__(self, name: str) -> NDArray[np.float64]:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    @property
    def names(self) -> list[str]:
        """The metric names, in the order ``fn`` returned them."""
        return list(self.values)

    def summary(self, name: str) -> Summary:
        """:func:`summarize` of one metric."""
        return summarize(self.values[name])

    def table(self, names: Iterable[str] | None = None, digits: int = 3) -> str:
        """:func:`format_table` of some (default: all) metrics."""
        chosen = self.names if names is None else list(names)
        return format_table({name: self.values[name] for name in chosen}, digits=digits)


def repeat(fn: Callable[[int], float | Mapping[str, float]], seeds: Iterable[int]) -> Repeats:
    """Run ``fn(seed)`` for every seed and collect its metrics.

    Parameters
    ----------
    fn : callable
        ``fn(seed)`` returns one float (stored under the name ``'value'``) or
        a mapping ``{metric name: float}`` with the same names for every seed.
    seeds : iterable of int
        At least one seed.

    Returns
    -------
    Repeats
        ``res[name]`` holds the per-seed values, ``res.summary(name)`` the summary.

    Raises
    ------
    ValueError
        For no seeds, or metrics whose names change between seeds.
    """
    seed_list = [int(s) for s in seeds]
    if not seed_list:
        raise ValueError("seeds must contain at least one seed")
    rows: list[dict[str, float]] = []
    for s in seed_list:
        out = fn(s)
        rows.append({"value": float(out)} if not isinstance(out, Mapping) else {k: float(v) for k, v in out.items()})
        if list(rows[-1]) != list(rows[0]):
            raise ValueError(f"fn returned metrics {list(rows[-1])} for seed {s}, but {list(rows[0])} before")
    return Repeats(seed_list, {name: [r[name] for r in rows] for name in rows[0]})


def paired(a: ArrayLike, b: ArrayLike) -> Summary:
    """Summary of the paired differences ``a - b`` (same seeds, same order).

    Raises
    ------
    ValueError
        If ``a`` and ``b`` differ in shape.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"a and b must hold one value per seed each (same shape), got {x.shape} and {y.shape}")
    return summarize(x - y)


def fraction(mask: ArrayLike) -> float:
    """Fraction of seeds on which a claim holds: the mean of a non-empty boolean array.

    Raises
    ------
    ValueError
        For an empty or non-boolean array.
    """
    m = np.asarray(mask)
    if m.size == 0 or m.dtype != np.bool_:
        raise ValueError(f"mask must be a non-empty boolean array (one entry per seed), got dtype {m.dtype}, "
                         f"size {m.size}")
    return float(np.mean(m))


def format_table(columns: Mapping[str, ArrayLike], digits: int = 3, scale: float = 1.0) -> str:
    """One line per metric: name, mean ± sd, min and max over seeds, and n.

    Parameters
    ----------
    columns : mapping
        ``{row name: per-seed values}``.
    digits : int, default 3
        Decimals printed.
    scale : float, default 1.0
        Multiply every value (e.g. 100 for percentage points).

    Returns
    -------
    str
        The table, one row per entry of ``columns``, without a trailing newline.
    """
    width = max([len("metric"), *(len(str(k)) for k in columns)])
    w = digits + 4
    lines = [f"{'metric':<{width}}  {'mean':>{w}}   {'sd':>{w}}  {'min':>{w}}  {'max':>{w}}   n"]
    for name, vals in columns.items():
        s = summarize(vals)
        lines.append(f"{name:<{width}}  {s.mean * scale:>{w}.{digits}f} ± {s.sd * scale:>{w}.{digits}f}  "
                     f"{s.min * scale:>{w}.{digits}f}  {s.max * scale:>{w}.{digits}f}  {s.n:>2d}")
    return "\n".join(lines)


# --- Evidence boxes and the quick mode ---------------------------------------------------------------------------

_VERDICTS = ("supported", "contradicted", "inconclusive")


def quick_mode() -> bool:
    """True when the environment variable ``SNB_QUICK`` is set to anything but ``''`` or ``'0'``.

    The chapters read it to run fewer splits (for a reader in Colab). The default, and every test, is the full run.
    """
    return os.environ.get("SNB_QUICK", "0").strip() not in ("", "0")


def n_splits(full: int, *, quick: int = 5) -> int:
    """``quick`` in quick mode (:func:`quick_mode`), else ``full``: the number of splits a chapter runs.

    Raises
    ------
    ValueError
        If ``full`` or ``quick`` is not a positive int.
    """
    check_int(full, "full", 1)
    check_int(quick, "quick", 1)
    return min(quick, full) if quick_mode() else full


@dataclass(frozen=True)
class Evidence:
    r"""The evidence for one experimental claim, comparing two methods on the same splits.

    Built by :func:`evidence`. ``str(ev)`` is a plain-text box (for the PDF and the terminal); in a notebook it
    renders as a collapsed HTML box whose summary line states the claim and the verdict.

    Attributes
    ----------
    claim : str
        The claim, as a sentence.
    differences : numpy.ndarray
        Per-split paired differences :math:`d_j = a_j - b_j`.
    low, high : float
        The ``confidence`` interval of the mean difference.
    holds, ties : int
        Splits on which the claim holds strictly (for an equivalence claim: :math:`|d_j| < \text{margin}`), and
        splits with :math:`d_j = 0` exactly (counted separately, never as wins).
    verdict : str
        ``'supported'``, ``'contradicted'`` or ``'inconclusive'`` (see :func:`evidence`).
    method : str
        How the interval was computed.
    """

    claim: str
    differences: NDArray[np.float64]
    low: float
    high: float
    confidence: float
    holds: int
    ties: int
    verdict: str
    method: str
    direction: str
    margin: float | None
    label: str
    digits: int
    scale: float

    @property
    def n(self) -> int:
        """The number of splits."""
        return int(self.differences.size)

    @property
    def summary(self) -> Summary:
        """:func:`summarize` of the per-split differences."""
        return summarize(self.differences)

    def _lines(self) -> list[tuple[str, str]]:
        s, d, k = self.summary, self.digits, self.scale
        margin = "" if self.margin is None else f"; margin ±{self.margin * k:.{d}f}"
        return [
            ("effect", f"{self.label}: {s.mean * k:+.{d}f} ± {s.sd * k:.{d}f} (mean ± sd over {self.n} splits)"),
            (f"{self.confidence:.0%} interval", f"[{self.low * k:+.{d}f}, {self.high * k:+.{d}f}] "
                                                 f"({self.method}{margin})"),
            ("holds on", f"{self.holds} of {self.n} splits" + (f" ({self.ties} ties)" if self.ties else "")),
            ("verdict", self.verdict),
        ]

    def __str__(self) -> str:
        body = "\n".join(f"  {name}: {text}" for name, text in self._lines())
        return f"Evidence: {self.claim}\n{body}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th scope=\"row\">{html.escape(name)}</th><td>{html.escape(text)}</td></tr>"
                       for name, text in self._lines())
        return (f"<details class=\"snb-evidence\"><summary><strong>Evidence</strong>: {html.escape(self.claim)} "
                f"(<em>{self.verdict}</em>)</summary><table>{rows}</table></details>")

    def require(self, verdict: str = "supported") -> None:
        """Assert the verdict; in quick mode, print what the full run asserts instead of asserting it.

        Raises
        ------
        AssertionError
            If the verdict differs (full run only).
        ValueError
            For an unknown ``verdict``.
        """
        if verdict not in _VERDICTS:
            raise ValueError(f"verdict must be one of {_VERDICTS}, got {verdict!r}")
        if self.verdict == verdict:
            return
        if quick_mode():
            print(f"quick mode: the full run asserts the verdict {verdict!r}; these few splits give {self.verdict!r}")
            return
        raise AssertionError(f"{self.claim}: verdict {self.verdict!r}, expected {verdict!r}\n{self}")


def evidence(a: ArrayLike, b: ArrayLike, *, claim: str, direction: str = "greater", margin: float | None = None,
             test_fraction: float | None = None, confidence: float = 0.95, label: str = "a − b", digits: int = 3,
             scale: float = 1.0) -> Evidence:
    r"""Weigh a claim about two methods measured on the same splits: effect, interval, per-split count, verdict.

    With paired differences :math:`d_j = a_j - b_j` over :math:`n` splits, mean :math:`\bar d` and sample
    variance :math:`s^2`, the interval is :math:`\bar d \pm t_{n-1}\, \hat\sigma`, where

    * :math:`\hat\sigma^2 = s^2 / n` for disjoint splits (``test_fraction=None``: a paired t interval);
    * :math:`\hat\sigma^2 = (1/n + \rho/(1-\rho))\, s^2` for random train/test splits that overlap, each holding
      a fraction :math:`\rho` of the data out (``test_fraction=rho``): the corrected resampled t of Nadeau and
      Bengio (2003). Overlapping splits are not independent, and the plain :math:`s^2/n` is then too small.

    The verdict reads the interval, not the count:

    * ``direction='greater'`` (the claim is :math:`a > b`): *supported* if the interval lies above 0,
      *contradicted* if it lies below 0, otherwise *inconclusive*;
    * ``direction='less'``: the mirror image;
    * ``direction='equivalent'`` (needs ``margin``): *supported* if the interval lies inside
      :math:`(-\text{margin}, \text{margin})` (two one-sided tests, each at level :math:`(1 - \text{confidence})/2`),
      *contradicted* if it lies wholly outside, otherwise *inconclusive*. A difference that is merely not
      significant is never evidence of equality.

    Parameters
    ----------
    a, b : array_like
        One value per split for each method, same splits in the same order; at least 2 splits.
    claim : str
        The claim, as a sentence (shown in the box).
    direction : {'greater', 'less', 'equivalent'}, default 'greater'
    margin : float, optional
        The equivalence margin (positive), in the units of ``a``. Required for ``'equivalent'``.
    test_fraction : float, optional
        For random splits that overlap: :math:`\rho = n_{\text{test}} / (n_{\text{test}} + n_{\text{train}})`,
        in (0, 1), where :math:`n_{\text{train}}` counts the examples the models are fitted on (a validation set
        used only for tuning counts in neither), so that :math:`\rho / (1 - \rho) = n_{\text{test}} /
        n_{\text{train}}`, the ratio of Nadeau and Bengio's correction. The book's digits splits (1,077 training,
        360 validation and 360 test images) give :math:`\rho = 360 / 1437 \approx 0.25`.
    confidence : float, default 0.95
    label : str, default 'a − b'
        How the box names the difference.
    digits : int, default 3
    scale : float, default 1.0
        Multiplies the printed values (100 for percentage points); the verdict does not depend on it.

    Returns
    -------
    Evidence

    Raises
    ------
    ValueError
        For fewer than 2 splits, shapes that differ, non-finite values, an unknown direction, a missing or
        non-positive margin, or a fraction or confidence outside (0, 1).
    """
    if direction not in ("greater", "less", "equivalent"):
        raise ValueError(f"direction must be 'greater', 'less' or 'equivalent', got {direction!r}")
    if not isinstance(claim, str) or not claim:
        raise ArgumentTypeError(f"claim must be a non-empty str, got {claim!r}")
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if np.shape(a) != np.shape(b):
        raise ValueError(f"a and b must hold one value per split each (same shape), got {np.shape(a)} and "
                         f"{np.shape(b)}")
    if d.ndim != 1 or d.size < 2:
        raise ValueError(f"a and b must be 1-D with at least 2 splits, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("a and b must be finite")
    conf = real_scalar(confidence, "confidence", "a number in (0, 1)")
    if not 0.0 < conf < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    m: float | None = None
    if margin is not None:
        m = real_scalar(margin, "margin", "a positive number")
        if not (m > 0.0 and math.isfinite(m)):
            raise ValueError(f"margin must be positive and finite, got {margin!r}")
    if direction == "equivalent" and m is None:
        raise ValueError("direction='equivalent' needs a margin: a difference is never shown to be exactly 0")
    n = d.size
    var = float(np.var(d, ddof=1))
    if test_fraction is None:
        factor, method = 1.0 / n, "paired t, disjoint splits"
    else:
        rho = real_scalar(test_fraction, "test_fraction", "a number in (0, 1)")
        if not 0.0 < rho < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
        factor = 1.0 / n + rho / (1.0 - rho)
        method = f"Nadeau–Bengio corrected t, test fraction {rho:g}"
    half = float(stats.t.ppf(0.5 + conf / 2.0, n - 1)) * math.sqrt(var * factor)
    mean = float(np.mean(d))
    low, high = mean - half, mean + half
    if direction == "equivalent":
        assert m is not None
        holds = int(np.sum(np.abs(d) < m))
        verdict = ("supported" if -m < low and high < m else
                   "contradicted" if low >= m or high <= -m else "inconclusive")
    else:
        sign = 1.0 if direction == "greater" else -1.0
        holds = int(np.sum(sign * d > 0))
        lo, hi = sorted((sign * low, sign * high))
        verdict = "supported" if lo > 0 else "contradicted" if hi < 0 else "inconclusive"
    check_int(digits, "digits", 0)
    k = real_scalar(scale, "scale", "a positive number")
    if not (k > 0.0 and math.isfinite(k)):
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    return Evidence(claim, d, low, high, conf, holds, int(np.sum(d == 0)), verdict, method, direction, m, label,
                    digits, k)
