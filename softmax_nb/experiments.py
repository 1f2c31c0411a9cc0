r"""Repeat an experiment over seeds and report it honestly: mean, spread, per-seed values.

One run of a training experiment is one draw from a distribution: another
split or another shuffling seed gives other numbers. The chapters therefore
report a metric as mean :math:`\pm` standard deviation over ``n`` seeds,
compare two methods by their *paired* differences on the same seeds, and
assert a claim only if it holds on the aggregate and on nearly every seed
(:func:`fraction`).

>>> res = repeat(lambda s: {"x": float(s), "y": 2.0 * s}, seeds=range(4))
>>> res["x"].tolist()
[0.0, 1.0, 2.0, 3.0]
>>> print(res.summary("y"))
3.000 ± 2.582 (n = 4)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Summary", "Repeats", "summarize", "repeat", "paired", "fraction", "format_table"]


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
