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
