"""Every page of ``_toc.yml``, rendered, loaded from ``file://`` in Chromium.

One visit per page and viewport (desktop, phone, dark) is cached and the
individual tests assert on what it recorded, so a failure names the page and
the property: offline loading, JavaScript errors, typeset math, figures,
tracebacks, the sidebar order, collapsed solutions, launch/download buttons,
no horizontal scrolling on a phone, dark-mode figures. Screenshots of every
page go to ``$BOOK_SCREENSHOTS`` for a human to look at.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from PIL import Image

from browser_support import ROOT, screenshot_dir

sys.path.insert(0, str(ROOT / "tools"))
from nbtools import toc_files  # noqa: E402

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}



def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


PAGES = toc_files()
NOTEBOOK_PAGES = [f for f in PAGES if (ROOT / f"{f}.ipynb").is_file()]


@dataclass
class Visit:
    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    non_file_requests: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    screenshot: Path | None = None


COLLECT_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  // Images: force lazy ones to load, then wait for every one to settle.
  const imgs = [...document.querySelectorAll('img')];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r);
                          setTimeout(r, 5000); })));
  const main = document.querySelector('main') || document.body;
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, mjx-container, script, style, .cell_input').forEach(e => e.remove());
  const cells = [...document.querySelectorAll('div.cell')].map(c => ({
    classes: c.className,
    output: [...c.querySelectorAll('.cell_output, .output')].map(o => o.innerText).join('\n'),
  }));
  const sol = [...document.querySelectorAll('.solution')].map(s => {
    const body = s.querySelector('section, .admonition-body, details > :not(summary)');
    const r = body ? body.getBoundingClientRect() : null;
    return {tag: s.tagName, classes: s.className, open: s.tagName === 'DETAILS' ? s.open : null,
            bodyHeight: r ? r.height : null,
            bodyVisible: body ? body.checkVisibility() : null};
  });
  const links = sel => [...document.querySelectorAll(sel)].map(a => ({
      href: a.getAttribute('href'), abs: a.href, text: a.innerText.trim(),
      title: a.getAttribute('title') || a.getAttribute('data-bs-original-title') || ''}));
  const se = document.scrollingElement;
  // Elements sticking out to the right that no scroll container clips: the culprits.
  const clipped = e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
  const wide = se.scrollWidth <= se.clientWidth + 1 ? [] : [...document.querySelectorAll('body *')].filter(e => {
      const r = e.getBoundingClientRect(); return r.right > se.clientWidth + 1 && r.width > 0 && !clipped(e);
  }).slice(0, 4).map(e => e.outerHTML.slice(0, 160));
  return {
    text: clone.innerText,
    mathElements: document.querySelectorAll('.math').length,
    mathUntypeset: [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container')).map(m => m.innerText.slice(0, 80)),
    mjx: document.querySelectorAll('mjx-container').length,
    mjxErrors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
    images: imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth,
                            inCell: !!i.closest('.cell_output, figure, .figure'),
                            bg: getComputedStyle(i).backgroundColor})),
    cells, solutions: sol,
    sidebar: links('.bd-sidenav a'),
    buttons: links('.article-header-buttons a, .dropdown-launch-buttons a, .dropdown-download-buttons a'),
    scrollWidth: se.scrollWidth, clientWidth: se.clientWidth, wide,
    theme: document.documentElement.dataset.theme,
  };
}
"""

_CACHE: dict[tuple[str, str], Visit] = {}


def page_url(html: Path, page: str) -> str:
    return (html / f"{page}.html").as_uri()


def visit(browser, html: Path, page: str, mode: str) -> Visit:
    key = (page, mode)
    if key in _CACHE:
        return _CACHE[key]
    viewport = PHONE if mode == "phone" else DESKTOP
    ctx = browser.new_context(viewport=viewport, color_scheme="dark" if mode == "dark" else "light",
                              device_scale_factor=1)
    if mode == "dark":
        ctx.add_init_script("localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
    else:
        ctx.add_init_script("localStorage.setItem('mode', 'light'); localStorage.setItem('theme', 'light');")
    pg = ctx.new_page()
    v = Visit(url=page_url(html, page))
    pg.on("console", lambda m: v.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: v.page_errors.append(str(e)))
    pg.on("requestfailed", lambda r: v.failed_requests.append(f"{r.url}: {r.failure}"))
    pg.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:", "about:"))
          else v.non_file_requests.append(r.url))
    pg.goto(v.url, wait_until="load")
    v.data = pg.evaluate(COLLECT_JS)
    pg.wait_for_timeout(200)  # let late console messages arrive
    shots = screenshot_dir()
    shots.mkdir(parents=True, exist_ok=True)
    v.screenshot = shots / f"{page.replace('/', '__')}-{mode}.png"
    pg.screenshot(path=str(v.screenshot), full_page=True)
    ctx.close()
    _CACHE[key] = v
    return v


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
    v = visit(browser, html_dir, page, "desktop")
    assert not v.failed_requests, f"failed requests on {page}: {v.failed_requests}"
    assert not v.non_file_requests, f"{page} fetched from the network: {v.non_file_requests}"


@pytest.mark.parametrize("page", PAGES)
def test_no_javascript_errors(browser, html_dir, page):
    v = visit(browser, html_dir, page, "desktop")
    errors = v.console_errors + v.page_errors
    assert not errors, f"JavaScript errors on {page}: {errors}"
    # sphinx-thebe + Sphinx 7.4 used to emit the inline THEBE_JS_URL script
    # twice (a SyntaxError); _ext/dedupe_scripts.py removes the duplicate.
    html = (html_dir / f"{page}.html").read_text()
    assert html.count("const THEBE_JS_URL") <= 1, f"{page} declares THEBE_JS_URL twice"


@pytest.mark.parametrize("page", PAGES)
def test_math_is_typeset(browser, html_dir, page):
    d = visit(browser, html_dir, page, "desktop").data
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
    d = visit(browser, html_dir, page, "desktop").data
    broken = [i["src"] for i in d["images"] if not i["complete"] or i["w"] == 0]
    assert not broken, f"images that did not load on {page}: {broken}"
    src = source_text(page)
    if page in NOTEBOOK_PAGES and '"image/png"' in (ROOT / f"{page}.ipynb").read_text():
        assert any(i["inCell"] for i in d["images"]), f"{page} has figure outputs but none rendered"
    del src


@pytest.mark.parametrize("page", PAGES)
def test_no_traceback_outside_raises_exception_cells(browser, html_dir, page):
    d = visit(browser, html_dir, page, "desktop").data
    bad = [c["output"][:300] for c in d["cells"]
           if "Traceback" in c["output"] and "tag_raises-exception" not in c["classes"].split()]
    assert not bad, f"tracebacks in cells of {page} not tagged raises-exception: {bad}"
    assert "Traceback (most recent call last)" not in d["text"], f"traceback in the prose of {page}"


@pytest.mark.parametrize("page", PAGES)
def test_sidebar_lists_chapters_in_toc_order(browser, html_dir, page):
    d = visit(browser, html_dir, page, "desktop").data
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
    d = visit(browser, html_dir, page, "desktop").data
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
    d = visit(browser, html_dir, page, "desktop").data
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
    d = visit(browser, html_dir, page, "phone").data
    assert d["scrollWidth"] <= d["clientWidth"] + 1, \
        f"{page} scrolls sideways at {PHONE['width']} px ({d['scrollWidth']} > {d['clientWidth']}); wide: {d['wide']}"


@pytest.mark.parametrize("page", [p for p in PAGES if p in NOTEBOOK_PAGES] or PAGES[:1])
def test_dark_mode_figures_have_an_opaque_light_background(browser, html_dir, page):
    v = visit(browser, html_dir, page, "dark")
    d = v.data
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
    for mode in ("desktop", "phone"):
        v = visit(browser, html_dir, page, mode)
        assert v.screenshot and v.screenshot.stat().st_size > 0
