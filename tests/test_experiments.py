"""Tests of softmax_nb.experiments (repeat over seeds, summaries, tables)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softmax_nb.experiments import Repeats, format_table, fraction, paired, repeat, summarize


def test_summarize_matches_direct_formulas():
    v = [0.2, 0.5, 0.9, 0.4]
    s = summarize(v)
    mean = sum(v) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / 3)
    assert s.mean == pytest.approx(mean, rel=1e-15) and s.sd == pytest.approx(sd, rel=1e-14)
    assert (s.n, s.min, s.max) == (4, 0.2, 0.9)
    assert summarize([3.0]).sd == 0.0
    assert str(s) == f"{mean:.3f} ± {sd:.3f} (n = 4)"
    assert s.format(digits=1, scale=100) == f"{100 * mean:.1f} ± {100 * sd:.1f} (n = 4)"


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [1.0, np.nan], [np.inf]])
def test_summarize_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="values"):
        summarize(bad)


def test_repeat_collects_per_seed_values_in_order():
    calls = []
    def fn(seed):
        calls.append(seed)
        return {"acc": seed / 10, "ece": 1 - seed / 10}
    res = repeat(fn, [3, 1, 2])
    assert calls == [3, 1, 2]
    assert res.names == ["acc", "ece"] and "acc" in res and "nll" not in res
    assert np.array_equal(res["acc"], [0.3, 0.1, 0.2]) and np.array_equal(res.seeds, [3, 1, 2])
    assert res.summary("ece").mean == pytest.approx(0.8)


def test_repeat_scalar_and_seed_reproducibility():
    res = repeat(lambda s: float(np.random.default_rng(s).normal()), range(5))
    again = repeat(lambda s: float(np.random.default_rng(s).normal()), range(5))
    assert res.names == ["value"] and np.array_equal(res["value"], again["value"])


def test_repeat_errors():
    with pytest.raises(ValueError, match="seeds"):
        repeat(lambda s: 1.0, [])
    with pytest.raises(ValueError, match="metrics"):
        repeat(lambda s: {"a": 1.0} if s == 0 else {"b": 1.0}, [0, 1])
    with pytest.raises(ValueError, match="one value per seed"):
        Repeats([0, 1], {"a": [1.0]})


def test_paired_and_fraction():
    a, b = np.array([0.9, 0.8, 0.85]), np.array([0.88, 0.81, 0.80])
    d = paired(a, b)
    assert d.mean == pytest.approx(np.mean(a - b)) and d.sd == pytest.approx(np.std(a - b, ddof=1))
    assert fraction(a > b) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same shape"):
        paired([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="boolean"):
        fraction([1, 0])
    with pytest.raises(ValueError, match="boolean"):
        fraction(np.array([], dtype=bool))


def test_format_table_rows_and_numbers():
    text = format_table({"acc": [0.5, 0.7], "a long name": [1.0, 1.0]}, digits=2, scale=100)
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0].split()[:2] == ["metric", "mean"]
    assert lines[1].split() == ["acc", "60.00", "±", "14.14", "50.00", "70.00", "2"]
    assert lines[2].startswith("a long name") and "100.00 ±   0.00" in lines[2]
    res = repeat(lambda s: {"x": s, "y": 2 * s}, range(3))
    assert res.table(["y"]).splitlines()[1].split()[0] == "y"
