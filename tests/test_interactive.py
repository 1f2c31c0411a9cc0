"""softmax_nb.interactive: the data of the web edition's interactive figures.

The values the page can show equal the package's functions (and, for the
naive formula, show NaN exactly where float64 ``exp`` overflows); bad input
raises a ValueError naming the argument.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from softmax_nb import interactive, softmax
from softmax_nb.interactive import WORKED_EXAMPLE, online_softmax_widget, temperature_widget

ROOT = Path(__file__).resolve().parents[1]
LOG_MAX = math.log(np.finfo(np.float64).max)  # 709.78...


def test_temperature_widget_values_are_softmax():
    d = temperature_widget()
    z = np.array(d["z"])
    assert d["z"] == list(WORKED_EXAMPLE) and len(d["temperatures"]) == 41 and 1.0 in d["temperatures"]
    for s, scale in enumerate(d["scales"]):
        for i, T in enumerate(d["temperatures"]):
            ref = softmax(scale * z / T)
            np.testing.assert_allclose(d["stable"][s][i], ref, rtol=0, atol=5e-7)
            naive = d["naive"][s][i]
            overflows = (scale * z / T).max() > LOG_MAX
            assert (naive[0] is None) == overflows, (scale, T, naive)
            if not overflows:
                np.testing.assert_allclose(naive, ref, rtol=0, atol=5e-7)
    # Both regimes are reachable with the controls.
    assert any(v is None for row in d["naive"][1] for v in row)
    assert all(v is not None for row in d["naive"][0] for v in row)


def test_online_softmax_widget_follows_the_recurrence():
    d = online_softmax_widget()
    x = np.array(d["x"])
    steps = d["steps"]
    assert len(steps) == math.ceil(x.size / d["block_size"])
    m_prev = -math.inf
    for k, s in enumerate(steps):
        seen = x[: (k + 1) * d["block_size"]]
        assert s["m"] == pytest.approx(seen.max(), abs=1e-6)
        assert s["d"] == pytest.approx(np.exp(seen - seen.max()).sum(), rel=1e-6)
        assert s["factor"] == pytest.approx(1.0 if k == 0 else math.exp(m_prev - s["m"]), abs=1e-6)
        m_prev = s["m"]
    assert any(s["factor"] < 1 for s in steps), "the default logits never raise the maximum after block 1"
    np.testing.assert_allclose(steps[-1]["p_seen"], softmax(x), rtol=0, atol=5e-7)
    np.testing.assert_allclose(d["final"], softmax(x), rtol=0, atol=5e-7)


@pytest.mark.parametrize("kwargs, name", [
    ({"z": []}, "z"), ({"z": [[1.0, 2.0]]}, "z"), ({"temperatures": [1.0, 0.0]}, "temperatures"),
    ({"temperatures": [np.nan]}, "temperatures"), ({"scales": [-1.0]}, "scales"),
])
def test_temperature_widget_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        temperature_widget(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    ({"x": []}, "x"), ({"x": [[1.0]]}, "x"), ({"block_size": 0}, "block_size"), ({"block_size": 1.5}, "block_size"),
    ({"block_size": True}, "block_size"),
])
def test_online_widget_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        online_softmax_widget(**kwargs)


def test_directive_embeds_the_data_as_json():
    sys.path.insert(0, str(ROOT / "_ext"))
    import json
    import re

    import interactive as ext  # _ext/interactive.py

    html = ext.widget_html("temperature", temperature_widget())
    payload = re.search(r'<script type="application/json" class="sbk-data">(.*?)</script>', html, re.S)[1]
    assert json.loads(payload.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")) == \
        json.loads(json.dumps(temperature_widget()))
    with pytest.raises(ValueError, match="unknown interactive figure"):
        ext._data("no-such-figure")
    assert interactive.__all__


def test_calibration_widget_metrics_match_the_package():
    from softmax_nb import brier_score, cross_entropy, expected_calibration_error, fit_temperature
    from softmax_nb.interactive import calibration_data, calibration_widget

    d = calibration_widget()
    logits, labels = calibration_data()
    assert d["fitted"] == pytest.approx(fit_temperature(logits, labels), abs=5e-4)
    assert d["fitted"] in d["temperatures"] and 1.0 in d["temperatures"]
    for i in (0, d["temperatures"].index(1.0), d["temperatures"].index(d["fitted"]), len(d["temperatures"]) - 1):
        T, f = d["temperatures"][i], d["frames"][i]
        p = softmax(logits / T)
        assert f["ece"] == pytest.approx(expected_calibration_error(p, labels, n_bins=10), abs=1e-6)
        assert f["nll"] == pytest.approx(float(cross_entropy(logits / T, labels)), abs=1e-6)
        assert f["brier"] == pytest.approx(brier_score(p, labels), abs=1e-6)
        assert sum(b[0] for b in f["bins"]) == labels.size
    # The story the page tells: at T = 1 the model is overconfident, and the fitted T is much better calibrated.
    at_one, at_fit = d["frames"][d["temperatures"].index(1.0)], d["frames"][d["temperatures"].index(d["fitted"])]
    assert at_fit["ece"] < at_one["ece"] / 5 and at_fit["nll"] < at_one["nll"] and at_fit["brier"] < at_one["brier"]
    confident = [b for b in at_one["bins"] if b[0] and b[1] > 0.5]
    assert all(b[1] > b[2] for b in confident), "at T = 1 every confident bin should be overconfident"


@pytest.mark.parametrize("kwargs, name", [({"n": 1}, "n"), ({"k": 1}, "k"), ({"overconfidence": 0.0}, "overconfidence")])
def test_calibration_data_rejects_bad_input(kwargs, name):
    from softmax_nb.interactive import calibration_data

    with pytest.raises(ValueError, match=name):
        calibration_data(**kwargs)


# --- the probability simplex -------------------------------------------------------------------------------------

def _mpmath_softmax(z, T=1.0):
    """Softmax by mpmath at 50 digits: an independent reference."""
    import mpmath

    with mpmath.workdps(50):
        e = [mpmath.exp(mpmath.mpf(v) / mpmath.mpf(T)) for v in z]
        s = mpmath.fsum(e)
        return [float(x / s) for x in e]


def _sparsemax_by_bisection(z):
    """Sparsemax as the Euclidean projection onto the simplex, its threshold found by bisection (independent)."""
    z = np.asarray(z, dtype=float)
    lo, hi = z.min() - 1.0, z.max()
    for _ in range(200):
        tau = (lo + hi) / 2
        lo, hi = (tau, hi) if np.maximum(z - tau, 0).sum() > 1 else (lo, tau)
    return np.maximum(z - (lo + hi) / 2, 0)


def test_simplex_widget_every_value_is_softmax_and_sparsemax():
    from softmax_nb import sparsemax
    from softmax_nb.interactive import SIMPLEX_DIFFS, SIMPLEX_TEMPERATURES, simplex_widget

    d = simplex_widget()
    diffs, temps = d["diffs"], d["temperatures"]
    assert diffs == list(SIMPLEX_DIFFS) == [v / 2 for v in range(-8, 9)]
    assert temps == list(SIMPLEX_TEMPERATURES) and 1.0 in temps
    n = len(diffs)
    a, b = np.meshgrid(diffs, diffs, indexing="ij")
    z = np.stack([a, b, np.zeros_like(a)], axis=-1)
    soft, sparse, tempered = np.array(d["softmax"]), np.array(d["sparsemax"]), np.array(d["tempered"])
    assert soft.shape == sparse.shape == (n, n, 3) and tempered.shape == (len(temps), n, n, 3)
    # Stored to 6 decimals: within half a unit of the 6th decimal (5e-7) of the package's float64 values.
    np.testing.assert_allclose(soft, softmax(z), rtol=0, atol=5e-7)
    np.testing.assert_allclose(sparse, sparsemax(z), rtol=0, atol=5e-7)
    for t, T in enumerate(temps):
        np.testing.assert_allclose(tempered[t], softmax(z / T), rtol=0, atol=5e-7)
    # The T = 1 frame is softmax(z) itself.
    assert d["tempered"][temps.index(1.0)] == d["softmax"]
    # Independent references: mpmath softmax and a bisection sparsemax on a spread of grid points.
    for i, j in [(0, 0), (n - 1, 0), (0, n - 1), (n // 2, n // 2), (3, 11), (12, 5), (n - 1, n - 1)]:
        zz = (diffs[i], diffs[j], 0.0)
        np.testing.assert_allclose(d["softmax"][i][j], _mpmath_softmax(zz), rtol=0, atol=5e-7)
        np.testing.assert_allclose(d["tempered"][0][i][j], _mpmath_softmax(zz, temps[0]), rtol=0, atol=5e-7)
        np.testing.assert_allclose(d["sparsemax"][i][j], _sparsemax_by_bisection(zz), rtol=0, atol=5e-7)


def test_simplex_widget_shift_invariance_and_edge_cases():
    from softmax_nb import sparsemax
    from softmax_nb.interactive import simplex_widget

    d = simplex_widget()
    idx = {v: k for k, v in enumerate(d["diffs"])}
    # z = (a, b, 0) stands for every logit vector with those differences.
    rng = np.random.default_rng(0)
    for a, b in [(1.5, 1.0), (-4.0, 2.5), (0.0, -0.5)]:
        c = rng.normal(0, 100)
        np.testing.assert_allclose(d["softmax"][idx[a]][idx[b]], softmax(np.array([a, b, 0.0]) + c), rtol=0, atol=1e-6)
        np.testing.assert_allclose(d["sparsemax"][idx[a]][idx[b]], sparsemax(np.array([a, b, 0.0]) + c),
                                   rtol=0, atol=1e-6)

    def at(key, a, b, t=None):
        frames = d[key] if t is None else d[key][d["temperatures"].index(t)]
        return frames[idx[a]][idx[b]]

    # Ties: all equal is the centre for every method and temperature.
    third = round(1 / 3, 6)
    assert at("softmax", 0.0, 0.0) == at("sparsemax", 0.0, 0.0) == at("tempered", 0.0, 0.0, 0.1) == [third] * 3
    # z1 = z2: equal first two coordinates; sparsemax at (2, 2, 0) is the midpoint of an edge.
    p = at("softmax", 2.0, 2.0)
    assert p[0] == p[1] and at("sparsemax", 2.0, 2.0) == [0.5, 0.5, 0.0]
    # Sparsemax on an edge (the page's default) and on a corner; inside at (0.5, 0, 0).
    assert at("sparsemax", 1.5, 1.0) == [0.75, 0.25, 0.0]
    assert at("sparsemax", 2.0, 0.0) == [1.0, 0.0, 0.0] and at("sparsemax", -4.0, -4.0) == [0.0, 0.0, 1.0]
    assert at("sparsemax", 0.5, 0.0) == [round(2 / 3, 6), round(1 / 6, 6), round(1 / 6, 6)]
    # Softmax saturates: at T = 0.1 and z = (4, 0, 0), z/T = (40, 0, 0) and exp(-40) = 4e-18 is below u.
    assert at("tempered", 4.0, 0.0, 0.1) == [1.0, 0.0, 0.0]
    assert float(softmax(np.array([40.0, 0.0, 0.0]))[0]) == 1.0  # exactly 1 in float64, not a rounding artefact
    # ... while at T = 1 the same logits are plainly inside: softmax is never on an edge there.
    assert min(min(min(p) for p in row) for row in d["softmax"]) > 1e-4
    # Every stored distribution sums to 1 (to the 6-decimal rounding of three numbers).
    for key in ("softmax", "sparsemax"):
        sums = np.array(d[key]).sum(axis=-1)
        assert np.abs(sums - 1).max() <= 1.5e-6
    assert np.abs(np.array(d["tempered"]).sum(axis=-1) - 1).max() <= 1.5e-6


@pytest.mark.parametrize("kwargs, name", [
    ({"diffs": [1.0]}, "diffs"), ({"diffs": [[0.0, 1.0]]}, "diffs"), ({"diffs": [0.0, 0.0]}, "diffs"),
    ({"diffs": [1.0, 0.0]}, "diffs"), ({"diffs": [0.0, np.inf]}, "diffs"), ({"diffs": [0.0, np.nan]}, "diffs"),
    ({"temperatures": []}, "temperatures"), ({"temperatures": [0.0]}, "temperatures"),
    ({"temperatures": [-1.0, 1.0]}, "temperatures"), ({"temperatures": [np.inf]}, "temperatures"),
    ({"temperatures": [[1.0]]}, "temperatures"),
])
def test_simplex_widget_rejects_bad_input(kwargs, name):
    from softmax_nb.interactive import simplex_widget

    with pytest.raises(ValueError, match=name):
        simplex_widget(**kwargs)


def test_simplex_xy_puts_the_corners_and_centre_in_place():
    from softmax_nb.interactive import simplex_xy

    h = math.sqrt(3) / 2
    np.testing.assert_allclose(simplex_xy(np.eye(3)), [[0, 0], [1, 0], [0.5, h]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(simplex_xy([1 / 3] * 3), [0.5, h / 3], rtol=0, atol=1e-15)
    # A point is the p-weighted mean of the corners.
    p = np.random.default_rng(1).dirichlet(np.ones(3), size=5)
    np.testing.assert_allclose(simplex_xy(p), p @ simplex_xy(np.eye(3)), rtol=0, atol=1e-15)
    for bad in ([0.5, 0.5], 1.0, np.ones((2, 4))):
        with pytest.raises(ValueError, match="p must have 3 classes"):
            simplex_xy(bad)


def test_simplex_figure_draws_the_package_values():
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_hex

    from softmax_nb import sparsemax
    from softmax_nb.interactive import SIMPLEX_EXAMPLES, simplex_figure, simplex_xy

    fig = simplex_figure()
    assert to_hex(fig.get_facecolor()) == "#ffffff"
    axes = [ax for ax in fig.axes if ax.lines]
    assert len(axes) == len(SIMPLEX_EXAMPLES) == 2
    for ax, z in zip(axes, SIMPLEX_EXAMPLES):
        z = np.array(z)
        assert to_hex(ax.get_facecolor()) == "#ffffff"
        lines = {line.get_label(): line for line in ax.lines}
        expect = {"softmax$(z)$": (softmax(z), "o"), "sparsemax$(z)$": (sparsemax(z), "s"),
                  "softmax$(z/T)$, $T = 2$": (softmax(z / 2), "^")}
        for label, (p, mark) in expect.items():
            line = lines[label]
            assert line.get_marker() == mark  # markers as well as colours
            np.testing.assert_allclose(np.ravel(line.get_xydata()), simplex_xy(p), rtol=0, atol=1e-12)
        path = lines[r"softmax$(z/T)$, $0.05 \leq T \leq 20$"].get_xydata()
        np.testing.assert_allclose(path[0], simplex_xy(softmax(z / 0.05)), rtol=0, atol=1e-12)
        np.testing.assert_allclose(path[-1], simplex_xy(softmax(z / 20)), rtol=0, atol=1e-12)
        assert lines[r"softmax$(z/T)$, $0.05 \leq T \leq 20$"].get_linestyle() == "--"
    colours = {to_hex(line.get_color()) for line in axes[0].lines if line.get_marker() in "os^"}
    assert colours == {"#0072b2", "#d55e00", "#009e73"}
    with pytest.raises(ValueError, match="examples"):
        simplex_figure(examples=[(1.0, 2.0)])
    with pytest.raises(ValueError, match="examples"):
        simplex_figure(examples=[(1.0, np.nan, 0.0)])
    with pytest.raises(ValueError, match="temperature"):
        simplex_figure(temperature=0.0)


def test_static_figure_directive_renders_png_and_pdf(tmp_path):
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(ROOT / "_ext"))
    import interactive as ext  # _ext/interactive.py

    png, pdf = ext.render_static("simplex", tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    from PIL import Image

    with Image.open(png) as im:
        assert im.info.get("dpi", (0, 0))[0] == pytest.approx(200, abs=1)  # print resolution
        assert im.mode in ("RGB", "RGBA") and im.convert("RGBA").getpixel((0, 0))[3] == 255  # opaque
    with pytest.raises(ValueError, match="unknown static figure"):
        ext.render_static("no-such-figure", tmp_path)
    html = ext.widget_html("simplex", {"diffs": [0.0, 1.0]})
    assert 'data-kind="simplex"' in html and "static figure below" in html


def test_simplex_widget_on_any_grid_and_extreme_magnitudes():
    """Custom grids up to 1e300 and temperatures from 1e-3 to 1e3: no None/NaN, every value equals the package's."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from softmax_nb import sparsemax
    from softmax_nb.interactive import simplex_widget

    finite = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)

    @settings(max_examples=40, deadline=None)
    @given(st.lists(finite, min_size=2, max_size=4, unique=True),
           st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=2))
    def check(diffs, temps):
        diffs = sorted(diffs)
        d = simplex_widget(diffs, temps)
        a, b = np.meshgrid(diffs, diffs, indexing="ij")
        z = np.stack([a, b, np.zeros_like(a)], axis=-1)
        for key, ref in (("softmax", softmax(z)), ("sparsemax", sparsemax(z))):
            got = np.array(d[key], dtype=float)
            assert np.all(np.isfinite(got)), key
            np.testing.assert_allclose(got, ref, rtol=0, atol=5e-7)
        for t, T in enumerate(temps):
            np.testing.assert_allclose(np.array(d["tempered"][t], dtype=float), softmax(z / T), rtol=0, atol=5e-7)

    check()
