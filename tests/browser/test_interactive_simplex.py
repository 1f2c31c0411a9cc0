"""The probability-simplex figure (book/interactive.md) in Chromium, driven like a reader would.

Set the logit differences with the pad (click and drag), with the sliders
(keyboard and value) and the temperature slider, and compare every
coordinate the page prints with ``softmax_nb.softmax`` / ``softmax_nb.sparsemax``
at that setting: interior points, ties, softmax saturated to a corner, and
sparsemax on an edge and on a corner. Also checks that the markers sit at the
printed coordinates on the triangle, and that the static figure is there.

The page prints 4 decimals of values stored to 6, so a displayed number is
within 5e-5 (half a unit of the 4th decimal) + 5e-7 (the storage rounding) of
the float64 value: the tolerance is 5.1e-5. The setting itself (the two
differences and T) is read from the page and compared exactly, and the exact
cases (ties, sparsemax's zeros, softmax saturated to a corner) are compared
as exact strings of 4 decimals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from softmax_nb import softmax, sparsemax
from softmax_nb.interactive import SIMPLEX_DIFFS, SIMPLEX_TEMPERATURES

PAGE = "book/interactive"
W = "#sbk-simplex"
TOL = 5.1e-5


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
    pg.wait_for_selector(f'{W}[data-ready="true"]')
    yield pg, errors, remote
    ctx.close()


def displayed(pg) -> dict[str, list[float]]:
    rows = {}
    for key in ("softmax", "sparsemax", "tempered"):
        rows[key] = [float(t) for t in pg.locator(f"{W} tr.sbk-row-{key} td.sbk-p").all_inner_texts()]
    return rows


def setting(pg) -> tuple[float, float, float]:
    def num(sel: str) -> float:
        return float(pg.locator(f"{W} output.{sel}").inner_text().replace("\u2212", "-"))
    return num("sbk-a-out"), num("sbk-b-out"), num("sbk-t")


def check(pg, a: float, b: float, T: float) -> dict[str, list[float]]:
    """The page shows (a, b, T) and the package's values there; returns the displayed values."""
    assert setting(pg) == (a, b, T)
    z = np.array([a, b, 0.0])
    rows = displayed(pg)
    np.testing.assert_allclose(rows["softmax"], softmax(z), rtol=0, atol=TOL)
    np.testing.assert_allclose(rows["sparsemax"], sparsemax(z), rtol=0, atol=TOL)
    np.testing.assert_allclose(rows["tempered"], softmax(z / T), rtol=0, atol=TOL)
    assert f"T = {T:g}" in pg.locator(f"{W} tr.sbk-row-tempered th").inner_text()
    return rows


def set_sliders(pg, a: float, b: float, T: float) -> None:
    pg.locator(f"{W} input.sbk-a").fill(str(SIMPLEX_DIFFS.index(a)))
    pg.locator(f"{W} input.sbk-b").fill(str(SIMPLEX_DIFFS.index(b)))
    pg.locator(f"{W} input.sbk-slider").fill(str(SIMPLEX_TEMPERATURES.index(T)))


def test_simplex_loads_offline_with_labelled_controls(page):
    pg, errors, remote = page
    assert not errors, errors
    assert not remote, f"the interactive page fetched {remote}"
    labels = (("sbk-a", "z\u2081 \u2212 z\u2083"), ("sbk-b", "z\u2082 \u2212 z\u2083"), ("sbk-slider", "Temperature T"))
    for sel, text in labels:
        slider = pg.locator(f"{W} input.{sel}")
        label = pg.locator(f'{W} label[for="{slider.get_attribute("id")}"]')
        assert text in label.inner_text()
        assert slider.get_attribute("aria-valuetext")
    # The default setting: z = (1.5, 1, 0), where sparsemax is on an edge.
    rows = check(pg, 1.5, 1.0, 0.5)
    assert rows["sparsemax"] == [0.75, 0.25, 0.0]
    assert "on an edge (class 3 gets exactly 0)" in pg.locator(f"{W} .sbk-status").inner_text()


@pytest.mark.parametrize("a, b, T, where", [
    (0.0, 0.0, 1.0, "inside"),      # a three-way tie: the centre, for all three
    (2.0, 2.0, 0.3, "on an edge"),  # z1 = z2: sparsemax at the midpoint of the edge 1-2
    (0.5, 0.0, 2.0, "inside"),      # sparsemax strictly inside
    (4.0, 0.0, 0.1, "on a corner"),  # z/T = (40, 0, 0): softmax saturates to the corner, exactly
    (-4.0, -4.0, 10.0, "on a corner"),  # class 3 far ahead; a high T pulls softmax(z/T) back inside
    (-3.5, 2.5, 0.7, "on a corner"),
    (1.0, -0.5, 5.0, "on a corner"),  # the boundary 1 + 2 z_(2) = z_(1) + z_(2): support of size 1, exactly
    (0.5, -0.5, 1.5, "on an edge (class 2 gets exactly 0)"),
])
def test_sliders_show_the_package_values(page, a, b, T, where):
    pg, _, _ = page
    set_sliders(pg, a, b, T)
    rows = check(pg, a, b, T)
    assert f"sparsemax is {where}" in pg.locator(f"{W} .sbk-status").inner_text()
    if (a, b) == (0.0, 0.0):
        assert rows["softmax"] == rows["sparsemax"] == rows["tempered"] == [0.3333] * 3
    if (a, b, T) == (4.0, 0.0, 0.1):
        assert rows["tempered"] == [1.0, 0.0, 0.0] and rows["sparsemax"] == [1.0, 0.0, 0.0]
    if a == b:
        assert rows["softmax"][0] == rows["softmax"][1] and rows["tempered"][0] == rows["tempered"][1]


def test_keyboard_moves_each_slider(page):
    pg, _, _ = page
    set_sliders(pg, 0.0, 0.0, 1.0)
    pg.locator(f"{W} input.sbk-a").focus()
    pg.keyboard.press("ArrowRight")
    check(pg, 0.5, 0.0, 1.0)
    pg.keyboard.press("End")
    check(pg, SIMPLEX_DIFFS[-1], 0.0, 1.0)
    pg.keyboard.press("Tab")  # to the next slider: z2 - z3
    assert pg.evaluate("document.activeElement.id") == "sbk-simplex-b"
    pg.keyboard.press("Home")
    check(pg, SIMPLEX_DIFFS[-1], SIMPLEX_DIFFS[0], 1.0)
    pg.keyboard.press("Tab")  # the temperature
    pg.keyboard.press("ArrowLeft")
    pg.keyboard.press("ArrowLeft")
    T = SIMPLEX_TEMPERATURES[SIMPLEX_TEMPERATURES.index(1.0) - 2]
    rows = check(pg, SIMPLEX_DIFFS[-1], SIMPLEX_DIFFS[0], T)
    assert rows["sparsemax"] == [1.0, 0.0, 0.0]


def pad_point(pg, i: int, j: int) -> tuple[float, float]:
    """Page coordinates of the centre of grid cell (a = SIMPLEX_DIFFS[i], b = SIMPLEX_DIFFS[j]) on the pad."""
    return pg.evaluate("""([i, j]) => {
        const pad = document.querySelector('#sbk-simplex svg.sbk-pad');
        const n = JSON.parse(document.querySelector('#sbk-simplex script.sbk-data').textContent).diffs.length;
        const pt = pad.createSVGPoint(); pt.x = (i + 0.5) * 200 / n; pt.y = 200 - (j + 0.5) * 200 / n;
        const q = pt.matrixTransform(pad.getScreenCTM());
        return [q.x, q.y];
    }""", [i, j])


def test_pad_click_and_drag_set_the_logits(page):
    pg, _, _ = page
    set_sliders(pg, 0.0, 0.0, 2.0)
    pad = pg.locator(f"{W} svg.sbk-pad")
    pad.scroll_into_view_if_needed()
    n = len(SIMPLEX_DIFFS)
    for i, j in [(n - 1, 0), (3, 12), (n // 2, n // 2), (0, n - 1)]:
        x, y = pad_point(pg, i, j)
        pg.mouse.click(x, y)
        check(pg, SIMPLEX_DIFFS[i], SIMPLEX_DIFFS[j], 2.0)
        # The sliders follow the pad, so the keyboard continues from here.
        assert pg.locator(f"{W} input.sbk-a").input_value() == str(i)
    # Drag from one corner of the pad to the cell of (2, 2): values follow the pointer.
    x0, y0 = pad_point(pg, 0, 0)
    x1, y1 = pad_point(pg, SIMPLEX_DIFFS.index(2.0), SIMPLEX_DIFFS.index(2.0))
    pg.mouse.move(x0, y0)
    pg.mouse.down()
    check(pg, SIMPLEX_DIFFS[0], SIMPLEX_DIFFS[0], 2.0)
    pg.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=3)
    a_mid = setting(pg)[0]
    assert SIMPLEX_DIFFS[0] < a_mid < 2.0, "the values did not follow the drag"
    pg.mouse.move(x1, y1, steps=3)
    pg.mouse.up()
    rows = check(pg, 2.0, 2.0, 2.0)
    assert rows["sparsemax"] == [0.5, 0.5, 0.0]
    # The pad is a pointer shortcut, hidden from assistive technology and out of the tab order.
    assert pad.get_attribute("aria-hidden") == "true"
    assert pg.evaluate("document.querySelector('#sbk-simplex svg.sbk-pad').tabIndex") < 0


def test_markers_sit_at_the_printed_coordinates(page):
    pg, _, _ = page
    set_sliders(pg, 1.5, 1.0, 0.5)
    rows = displayed(pg)
    # Marker centres in the triangle's own coordinates:
    # class 1 at (40, 24 + H), class 2 at (300, 24 + H), class 3 at (170, 24).
    centres = pg.evaluate("""() => Array.from(
        document.querySelectorAll('#sbk-simplex svg.sbk-triangle .sbk-mark')).map(m => {
            const b = m.getBBox(); return [m.classList[1], b.x + b.width / 2, b.y + b.height / 2];
        })""")
    H = 260 * math.sqrt(3) / 2
    for cls, key in (("sbk-m-softmax", "softmax"), ("sbk-m-sparsemax", "sparsemax")):
        (_, x, y), = [c for c in centres if c[0] == cls]
        p = rows[key]
        assert x == pytest.approx(40 + 260 * (p[1] + p[2] / 2), abs=0.05)
        assert y == pytest.approx(24 + H - H * p[2], abs=0.05)
    assert sorted(c[0] for c in centres) == ["sbk-m-softmax", "sbk-m-sparsemax", "sbk-m-tempered"]


def test_static_figure_is_next_to_it(page, html_dir):
    pg, _, _ = page
    fig = pg.locator("figure#fig-interactive-simplex")
    assert fig.count() == 1
    img = fig.locator("img")
    alt = img.get_attribute("alt")
    assert "triangle" in alt and "sparsemax" in alt
    assert pg.evaluate("(img) => img.complete && img.naturalWidth > 1000", img.element_handle())
    assert "Fig" in fig.locator("figcaption").inner_text()
