"""Tests of softmax_nb.experiments (repeat over seeds, summaries, tables)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import softmax_nb as snb

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


# --- evidence(): intervals against scipy and closed forms, verdicts, quick mode -----------------------------------

def test_evidence_paired_interval_matches_scipy_ttest_rel():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 0.02, 12), rng.normal(0.79, 0.02, 12)
    ev = snb.evidence(a, b, claim="a beats b")
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert ev.low == pytest.approx(ci.low, rel=1e-12) and ev.high == pytest.approx(ci.high, rel=1e-12)
    assert ev.n == 12 and ev.method == "paired t, disjoint splits"
    np.testing.assert_array_equal(ev.differences, a - b)


def test_evidence_nadeau_bengio_interval_is_the_closed_form():
    d = np.array([0.01, 0.03, -0.01, 0.02, 0.00, 0.04, 0.02, 0.01, 0.03, 0.02])
    ev = snb.evidence(d, np.zeros(10), claim="c", test_fraction=0.25)
    s2 = sum((x - d.mean()) ** 2 for x in d) / 9
    half = 2.2621571627409915 * math.sqrt((1 / 10 + 0.25 / 0.75) * s2)  # t_{9, 0.975}
    assert ev.low == pytest.approx(d.mean() - half, rel=1e-9)
    assert ev.high == pytest.approx(d.mean() + half, rel=1e-9)
    plain = snb.evidence(d, np.zeros(10), claim="c")
    assert plain.high - plain.low < ev.high - ev.low  # the correction widens the interval
    assert plain.verdict == "supported" and ev.verdict == "inconclusive"


@pytest.mark.parametrize("shift, greater, less", [(0.5, "supported", "contradicted"),
                                                  (-0.5, "contradicted", "supported"),
                                                  (0.0, "inconclusive", "inconclusive")])
def test_evidence_verdict_reads_the_interval(shift, greater, less):
    noise = np.array([0.1, -0.1, 0.2, -0.2, 0.05, -0.05, 0.0, 0.15, -0.15, 0.0])
    assert snb.evidence(noise + shift, np.zeros(10), claim="c").verdict == greater
    assert snb.evidence(noise + shift, np.zeros(10), claim="c", direction="less").verdict == less


def test_evidence_equivalence_needs_the_interval_inside_the_margin():
    noise = np.array([0.1, -0.1, 0.2, -0.2, 0.05, -0.05, 0.0, 0.15, -0.15, 0.0])
    z = np.zeros(10)
    assert snb.evidence(noise, z, claim="c", direction="equivalent", margin=0.5).verdict == "supported"
    # not significant, but the interval is wider than the margin: not evidence of equality
    wide = snb.evidence(noise, z, claim="c", direction="greater")
    assert wide.verdict == "inconclusive"
    assert snb.evidence(noise, z, claim="c", direction="equivalent", margin=0.05).verdict == "inconclusive"
    assert snb.evidence(noise + 3, z, claim="c", direction="equivalent", margin=0.5).verdict == "contradicted"
    with pytest.raises(ValueError, match="margin"):
        snb.evidence(noise, z, claim="c", direction="equivalent")


def test_evidence_counts_ties_apart_from_wins():
    a = np.array([1.0, 1.0, 2.0, 0.0, 3.0])
    b = np.array([1.0, 0.0, 1.0, 1.0, 3.0])
    ev = snb.evidence(a, b, claim="c")
    assert (ev.holds, ev.ties) == (2, 2)
    assert "2 of 5 splits (2 ties)" in str(ev)
    assert snb.evidence(a, b, claim="c", direction="less").holds == 1


def test_evidence_renders_a_collapsed_escaped_box():
    ev = snb.evidence([2.0, 2.25, 2.5], [1.0, 1.0, 1.0], claim="a < b & c", scale=100, digits=1, label="A − B")
    page = ev._repr_html_()
    assert page.startswith('<details class="snb-evidence"><summary>') and " open" not in page
    assert "a &lt; b &amp; c" in page and "(<em>supported</em>)" in page
    text = str(ev)
    assert text.splitlines()[0] == "Evidence: a < b & c"
    assert "A − B: +125.0 ± 25.0 (mean ± sd over 3 splits)" in text
    assert "verdict: supported" in text


@pytest.mark.parametrize("kwargs, err", [
    ({"a": [1.0], "b": [0.0]}, ValueError),
    ({"a": [1.0, 2.0], "b": [0.0]}, ValueError),
    ({"a": [1.0, np.nan], "b": [0.0, 0.0]}, ValueError),
    ({"direction": "bigger"}, ValueError),
    ({"margin": -1.0}, ValueError),
    ({"margin": "0.1"}, TypeError),
    ({"test_fraction": 1.0}, ValueError),
    ({"confidence": 95}, ValueError),
    ({"claim": ""}, TypeError),
    ({"scale": 0}, ValueError),
])
def test_evidence_rejects_bad_arguments(kwargs, err):
    args = {"a": [1.0, 2.0], "b": [0.0, 0.0], "claim": "c"} | kwargs
    with pytest.raises(err):
        snb.evidence(args.pop("a"), args.pop("b"), **args)


def test_require_asserts_unless_quick(monkeypatch, capsys):
    ev = snb.evidence([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], claim="c")
    assert ev.verdict == "inconclusive"
    ev.require("inconclusive")
    monkeypatch.delenv("SNB_QUICK", raising=False)
    with pytest.raises(AssertionError, match="verdict 'inconclusive', expected 'supported'"):
        ev.require()
    with pytest.raises(ValueError, match="verdict must be"):
        ev.require("true")
    monkeypatch.setenv("SNB_QUICK", "1")
    assert snb.quick_mode() and snb.n_splits(20) == 5 and snb.n_splits(3) == 3
    ev.require()
    assert "full run asserts the verdict 'supported'" in capsys.readouterr().out
    for off in ("0", ""):
        monkeypatch.setenv("SNB_QUICK", off)
        assert not snb.quick_mode() and snb.n_splits(20, quick=4) == 20
    with pytest.raises(TypeError):
        snb.n_splits(20.0)
