"""The interactive figures (book/interactive.md) in Chromium: offline, driven like a reader would.

Move the temperature slider (keyboard and value), toggle the scale and the
formula, step through the online softmax, and compare every number the page
shows with softmax_nb for that setting.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from softmax_nb import softmax
from softmax_nb.interactive import online_softmax_widget, temperature_widget

PAGE = "book/interactive"
LOG_MAX = math.log(np.finfo(np.float64).max)


@pytest.fixture(scope="module")
def page(browser, html_dir):
    path = html_dir / f"{PAGE}.html"
    if not path.is_file():
        pytest.fail(f"{path} not built (is book/interactive in _toc.yml?)")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors, remote = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:", "about:")) else remote.append(r.url))
    pg.goto(path.as_uri(), wait_until="load")
    pg.wait_for_selector('.sbk-widget[data-ready="true"]')
    yield pg, errors, remote
    ctx.close()


def shown(pg, widget: str) -> list[str]:
    return pg.locator(f"#sbk-{widget} td.sbk-p").all_inner_texts()


def as_numbers(texts: list[str]) -> list[float]:
    return [math.nan if t == "nan" else float(t) for t in texts]


def test_widgets_load_offline_without_errors(page):
    pg, errors, remote = page
    assert not errors, errors
    assert not remote, f"the interactive page fetched {remote}"
    assert pg.locator(".sbk-widget").count() == 4


def test_temperature_slider_shows_softmax_at_each_temperature(page):
    pg, _, _ = page
    data = temperature_widget()
    z = np.array(data["z"])
    slider = pg.locator("#sbk-temperature input.sbk-slider")
    checked = 0
    for i in (0, 7, 20, 33, len(data["temperatures"]) - 1):
        slider.fill(str(i))  # sets the value and fires input/change
        T = float(pg.locator("#sbk-temperature output.sbk-t").inner_text())
        assert T == data["temperatures"][i]
        np.testing.assert_allclose(as_numbers(shown(pg, "temperature")), softmax(z / T), rtol=0, atol=5.1e-5)
        checked += 1
    # The keyboard moves it too (one step right from the last setting is clamped, so go left).
    slider.focus()
    pg.keyboard.press("ArrowLeft")
    T = float(pg.locator("#sbk-temperature output.sbk-t").inner_text())
    assert T == data["temperatures"][-2]
    np.testing.assert_allclose(as_numbers(shown(pg, "temperature")), softmax(z / T), rtol=0, atol=5.1e-5)
    assert checked == 5


def test_naive_formula_fails_exactly_where_exp_overflows(page):
    pg, _, _ = page
    data = temperature_widget()
    z = np.array(data["z"])
    scale = data["scales"][1]
    pg.locator("#sbk-temperature input.sbk-scale").check()
    pg.locator("#sbk-temperature input.sbk-naive").check()
    slider = pg.locator("#sbk-temperature input.sbk-slider")
    saw_nan = saw_number = False
    for i in range(0, len(data["temperatures"]), 4):
        slider.fill(str(i))
        T = data["temperatures"][i]
        values = as_numbers(shown(pg, "temperature"))
        status = pg.locator("#sbk-temperature .sbk-status").inner_text()
        if (scale * z / T).max() > LOG_MAX:
            assert math.isnan(values[0]) and "nan" in status, (T, values)
            saw_nan = True
        else:
            np.testing.assert_allclose(values, softmax(scale * z / T), rtol=0, atol=5.1e-5)
            saw_number = True
    assert saw_nan and saw_number
    pg.locator("#sbk-temperature input.sbk-naive").uncheck()  # the stable formula never fails
    for i in range(0, len(data["temperatures"]), 4):
        slider.fill(str(i))
        T = data["temperatures"][i]
        np.testing.assert_allclose(as_numbers(shown(pg, "temperature")), softmax(scale * z / T), rtol=0, atol=5.1e-5)
    pg.locator("#sbk-temperature input.sbk-scale").uncheck()


def test_online_softmax_steps_to_the_softmax(page):
    pg, _, _ = page
    data = online_softmax_widget()
    x = np.array(data["x"])
    prev, nxt = pg.locator("#sbk-online-softmax button.sbk-prev"), pg.locator("#sbk-online-softmax button.sbk-next")
    assert prev.is_disabled()
    for k in range(len(data["steps"])):
        if k:
            nxt.click()
        seen = x[: (k + 1) * data["block_size"]]
        m = float(pg.locator("#sbk-online-softmax .sbk-m").inner_text())
        d = float(pg.locator("#sbk-online-softmax .sbk-d").inner_text())
        assert m == pytest.approx(seen.max(), abs=5.1e-5)
        assert d == pytest.approx(np.exp(seen - seen.max()).sum(), abs=5.1e-5)
        texts = shown(pg, "online-softmax")
        assert texts[len(seen):] == ["not read yet"] * (x.size - len(seen))
    assert nxt.is_disabled()
    assert "final" in pg.locator("#sbk-online-softmax output.sbk-step").inner_text()
    np.testing.assert_allclose(as_numbers(shown(pg, "online-softmax")), softmax(x), rtol=0, atol=5.1e-5)
    prev.click()
    assert "Block 3 of 4" in pg.locator("#sbk-online-softmax output.sbk-step").inner_text()


def test_calibration_slider_updates_ece_nll_brier(page):
    from softmax_nb import brier_score, cross_entropy, expected_calibration_error
    from softmax_nb.interactive import calibration_data, calibration_widget

    pg, _, _ = page
    data = calibration_widget()
    logits, labels = calibration_data()
    slider = pg.locator("#sbk-calibration input.sbk-slider")

    def check(T: float) -> float:
        p = softmax(logits / T)
        ece = float(pg.locator("#sbk-calibration .sbk-ece").inner_text())
        assert ece == pytest.approx(expected_calibration_error(p, labels, n_bins=10), abs=5.1e-5)
        assert float(pg.locator("#sbk-calibration .sbk-nll").inner_text()) == \
            pytest.approx(float(cross_entropy(logits / T, labels)), abs=5.1e-5)
        assert float(pg.locator("#sbk-calibration .sbk-brier").inner_text()) == \
            pytest.approx(brier_score(p, labels), abs=5.1e-5)
        return ece

    for i in (0, 12, len(data["temperatures"]) - 1):
        slider.fill(str(i))
        T = float(pg.locator("#sbk-calibration output.sbk-t").inner_text())
        assert T == data["temperatures"][i]
        check(T)
    slider.fill(str(data["temperatures"].index(1.0)))
    ece_one = check(1.0)
    pg.locator("#sbk-calibration button.sbk-fit").click()
    T = float(pg.locator("#sbk-calibration output.sbk-t").inner_text())
    assert T == data["fitted"]
    assert check(T) < ece_one / 5
