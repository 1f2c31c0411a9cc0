"""Every page of ``_toc.yml``, rendered, loaded from ``file://`` in Chromium.

One visit per page (``page_visits.py``: desktop, then dark mode, then a
phone's width) is cached and the individual tests assert on what it recorded, so a failure names the page and
the property: offline loading, JavaScript errors, typeset math, figures,
tracebacks, the sidebar order, collapsed solutions, launch/download buttons,
no horizontal scrolling on a phone, dark-mode figures. Screenshots of every
page go to ``$BOOK_SCREENSHOTS`` for a human to look at.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from PIL import Image

from browser_support import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from nbtools import toc_files  # noqa: E402
from page_visits import PHONE, visit  # noqa: E402



def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


PAGES = toc_files()
NOTEBOOK_PAGES = [f for f in PAGES if (ROOT / f"{f}.ipynb").is_file()]


def source_notebook(page: str) -> dict:
    return json.loads((ROOT / f"{page}.ipynb").read_text())


def source_text(page: str) -> str:
    path = ROOT / f"{page}.ipynb"
    if path.is_file():
        return "\n".join("".join(c["source"]) for c in source_notebook(page)["cells"])
    return (ROOT / f"{page}.md").read_text()


# ----------------------------------------------------------------------------
def test_toc_pages_are_built(html_dir):
    missing = [p for p in PAGES if not (html_dir / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml without HTML in {html_dir} (stale build?): {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_loads_offline(browser, html_dir, page):
    v = visit(browser, html_dir, page)
    assert not v.failed_requests, f"failed requests on {page}: {v.failed_requests}"
    assert not v.non_file_requests, f"{page} fetched from the network: {v.non_file_requests}"


@pytest.mark.parametrize("page", PAGES)
def test_no_javascript_errors(browser, html_dir, page):
    v = visit(browser, html_dir, page)
    errors = v.console_errors + v.page_errors
    assert not errors, f"JavaScript errors on {page}: {errors}"
    # sphinx-thebe + Sphinx 7.4 used to emit the inline THEBE_JS_URL script
    # twice (a SyntaxError); _ext/dedupe_scripts.py removes the duplicate.
    html = (html_dir / f"{page}.html").read_text()
    assert html.count("const THEBE_JS_URL") <= 1, f"{page} declares THEBE_JS_URL twice"


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset(browser, html_dir, page):
    d = visit(browser, html_dir, page).data["desktop"]
    src = source_text(page)
    if "$" in src or "{math}" in src or "\\begin{" in src:
        assert d["mathElements"] > 0, f"{page} has math in its source but none in the HTML"
    if d["mathElements"]:
        assert d["mjx"] > 0, f"MathJax did not run on {page}"
    assert not d["mathUntypeset"], f"math left untypeset on {page}: {d['mathUntypeset'][:5]}"
    assert not d["mjxErrors"], f"MathJax errors on {page}: {d['mjxErrors'][:5]}"
    raw = re.findall(r"\$\$|\\(?:frac|sum|sqrt|operatorname|mathbf|mathrm|left|right|begin|end|log|exp)\b"
                     r"|\\\(|\\\[", d["text"])
    assert not raw, f"raw TeX in the text of {page}: {sorted(set(raw))}"


@pytest.mark.parametrize("page", PAGES)
def test_images_load(browser, html_dir, page):
    d = visit(browser, html_dir, page).data["desktop"]
    broken = [i["src"] for i in d["images"] if not i["complete"] or i["w"] == 0]
    assert not broken, f"images that did not load on {page}: {broken}"
    src = source_text(page)
    if page in NOTEBOOK_PAGES and '"image/png"' in (ROOT / f"{page}.ipynb").read_text():
        assert any(i["inCell"] for i in d["images"]), f"{page} has figure outputs but none rendered"
    del src


@pytest.mark.parametrize("page", PAGES)
def test_no_traceback_outside_raises_exception_cells(browser, html_dir, page):
    d = visit(browser, html_dir, page).data["desktop"]
    bad = [c["output"][:300] for c in d["cells"]
           if "Traceback" in c["output"] and "tag_raises-exception" not in c["classes"].split()]
    assert not bad, f"tracebacks in cells of {page} not tagged raises-exception: {bad}"
    assert "Traceback (most recent call last)" not in d["text"], f"traceback in the prose of {page}"


@pytest.mark.parametrize("page", PAGES)
def test_sidebar_lists_chapters_in_toc_order(browser, html_dir, page):
    d = visit(browser, html_dir, page).data["desktop"]
    here = html_dir / f"{page}.html"
    listed = []
    for link in d["sidebar"]:
        target = here if link["href"] in ("#", "") else Path(unquote(urlparse(link["abs"]).path))
        try:
            rel = target.resolve().relative_to(html_dir)
        except ValueError:
            continue
        name = str(rel.with_suffix(""))
        if name not in listed:
            listed.append(name)
    expected = PAGES[1:]  # the root page is the home link, not a chapter entry
    assert [p for p in listed if p in expected] == expected, \
        f"sidebar of {page} lists {listed}, _toc.yml has {expected}"
    assert set(listed) <= set(PAGES), f"sidebar of {page} lists pages not in _toc.yml: {set(listed) - set(PAGES)}"


@pytest.mark.parametrize("page", PAGES)
def test_solutions_are_collapsed(browser, html_dir, page):
    d = visit(browser, html_dir, page).data["desktop"]
    src = source_text(page)
    n_solutions = len(re.findall(r"^```\{solution(?:-start)?\}", src, flags=re.M))
    assert len(d["solutions"]) == n_solutions, \
        f"{page}: {n_solutions} solutions in the source, {len(d['solutions'])} rendered"
    for s in d["solutions"]:
        collapsed = (s["open"] is False) or ("toggle-hidden" in s["classes"].split())
        assert collapsed, f"a solution on {page} is not collapsed: {s}"
        assert s["bodyVisible"] is False or s["bodyHeight"] == 0, f"a solution body on {page} is visible: {s}"


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_launch_and_download_buttons(browser, html_dir, page):
    d = visit(browser, html_dir, page).data["desktop"]
    cfg = config()
    repo_url = cfg["repository"]["url"].rstrip("/")
    owner_repo = urlparse(repo_url).path.strip("/")
    branch = cfg["repository"].get("branch", "main")
    prefix = (cfg["repository"].get("path_to_book") or "").strip("/")
    nb_path = f"{prefix}/{page}.ipynb" if prefix else f"{page}.ipynb"
    assert (ROOT / nb_path).is_file()
    launch = cfg.get("launch_buttons", {})
    ui = "lab/tree" if launch.get("notebook_interface") == "jupyterlab" else "tree"
    expected = {
        "Colab": f"{launch['colab_url'].rstrip('/')}/github/{owner_repo}/blob/{branch}/{nb_path}",
        "Binder": f"{launch['binderhub_url'].rstrip('/')}/v2/gh/{owner_repo}/{branch}?urlpath={ui}/{nb_path}",
    }
    hrefs = {b["text"]: b["href"] for b in d["buttons"]}
    for name, url in expected.items():
        assert hrefs.get(name) == url, f"{name} button of {page}: {hrefs.get(name)!r}, expected {url!r}"
    downloads = [b for b in d["buttons"] if b["text"] == ".ipynb"]
    assert len(downloads) == 1, f"{page}: .ipynb download buttons {downloads}"
    target = Path(unquote(urlparse(downloads[0]["abs"]).path))
    assert target == html_dir / "_sources" / f"{page}.ipynb", f"download of {page} points at {target}"
    assert json.loads(target.read_text())["cells"] == source_notebook(page)["cells"], \
        f"the downloadable {page}.ipynb differs from the source (stale build?)"


@pytest.mark.parametrize("page", PAGES)
def test_no_horizontal_scroll_on_a_phone(browser, html_dir, page):
    d = visit(browser, html_dir, page).data["phone"]
    assert d["scrollWidth"] <= d["clientWidth"] + 1, \
        f"{page} scrolls sideways at {PHONE['width']} px ({d['scrollWidth']} > {d['clientWidth']}); wide: {d['wide']}"


@pytest.mark.parametrize("page", [p for p in PAGES if p in NOTEBOOK_PAGES] or PAGES[:1])
def test_dark_mode_figures_have_an_opaque_light_background(browser, html_dir, page):
    d = visit(browser, html_dir, page).data["dark"]
    assert d["theme"] == "dark", f"dark mode did not switch on for {page}: {d['theme']}"
    for img in d["images"]:
        if not img["inCell"] or not img["src"].startswith("file:"):
            continue
        path = Path(unquote(urlparse(img["src"]).path))
        with Image.open(path) as im:
            rgba = im.convert("RGBA")
            corners = [rgba.getpixel((x, y)) for x in (0, rgba.width - 1) for y in (0, rgba.height - 1)]
        opaque_light = all(a == 255 and min(r, g, b) >= 200 for r, g, b, a in corners)
        css_bg = re.findall(r"\d+(?:\.\d+)?", img["bg"])
        css_light = len(css_bg) >= 3 and min(float(c) for c in css_bg[:3]) >= 200 and \
            (len(css_bg) == 3 or float(css_bg[3]) == 1)
        assert opaque_light or css_light, \
            f"figure {path.name} on {page} is transparent on a dark page (corners {corners}, CSS bg {img['bg']})"


@pytest.mark.parametrize("page", PAGES)
def test_screenshots_saved(browser, html_dir, page):
    shots = visit(browser, html_dir, page).screenshots
    for view in ("desktop", "phone"):
        assert shots[view].stat().st_size > 0, f"empty {view} screenshot of {page}"
