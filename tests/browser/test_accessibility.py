"""Accessibility of the rendered book.

- Every ``<img>`` of every page has alt text that says something: not empty,
  not a file path or name (MyST-NB falls back to the image's path when a
  figure cell has no ``mystnb.image.alt``).
- axe-core (vendored from npm, ``vendor/axe-core``) is injected into every page
  of ``_toc.yml`` in light and in dark mode: no violation of impact "serious" or
  "critical" (WCAG 2 A/AA rules and axe's best practices). The structure of a
  page does not depend on the theme, so dark mode reruns only the colour rules
  (half the time).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from browser_support import ROOT

import sys

sys.path.insert(0, str(ROOT / "tools"))
from nbtools import toc_files  # noqa: E402

PAGES = toc_files()
AXE_DIR = Path(__file__).parent / "vendor" / "axe-core"
AXE = AXE_DIR / "axe.min.js"
AXE_VERSION = "4.14.1"  # keep equal to AXE_VERSION in the Makefile (`make axe`)
BLOCKING = {"serious", "critical"}
VIEWPORT = {"width": 1280, "height": 900}


def alt_problem(img) -> str | None:
    if img.get("role") == "presentation" or img.get("aria-hidden") == "true":
        return None
    alt = img.get("alt")
    if alt is None or not alt.strip():
        return "no alt text"
    alt = alt.strip()
    src = img.get("src", "")
    if alt == src or Path(alt).name == Path(src).name or re.search(r"\.(png|svg|jpe?g|gif)$|_images/", alt):
        return f"alt text is a path: {alt!r}"
    return None


def test_vendored_axe_is_the_pinned_release():
    head = AXE.read_text(encoding="utf-8")[:200]
    assert head.startswith(f"/*! axe v{AXE_VERSION}"), f"vendored axe-core is not {AXE_VERSION}: {head[:40]!r}"
    assert "Mozilla Public" in (AXE_DIR / "LICENSE").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert f"AXE_VERSION := {AXE_VERSION}" in makefile, "Makefile's AXE_VERSION differs from the test's"


@pytest.mark.parametrize("page", PAGES)
def test_every_image_has_real_alt_text(html_dir, page):
    soup = BeautifulSoup((html_dir / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
    bad = []
    for img in soup.find_all("img"):
        problem = alt_problem(img)
        if problem:
            bad.append(f"{img.get('src')}: {problem}")
    assert not bad, f"images on {page} without real alt text (set mystnb.image.alt in the cell metadata): {bad}"


COLOUR_RULES = ["color-contrast", "link-in-text-block", "non-text-contrast"]

RUN_AXE = r"""
async (rules) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const known = new Set(axe.getRules().map(r => r.ruleId));
  const options = {resultTypes: ['violations']};
  if (rules) { options.runOnly = {type: 'rule', values: rules.filter(r => known.has(r))}; }
  const r = await axe.run(document, options);
  return {
    version: axe.version,
    theme: document.documentElement.dataset.theme,
    violations: r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' -- ' + (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 240)),
      count: v.nodes.length,
    })),
  };
}
"""

_RESULTS: dict[tuple[str, str], dict] = {}


def run_axe(browser, html: Path, page: str, mode: str) -> dict:
    key = (page, mode)
    if key not in _RESULTS:
        ctx = browser.new_context(viewport=VIEWPORT, color_scheme=mode, device_scale_factor=1)
        ctx.add_init_script(f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');")
        pg = ctx.new_page()
        pg.goto((html / f"{page}.html").as_uri(), wait_until="load")
        pg.add_script_tag(path=str(AXE))
        _RESULTS[key] = pg.evaluate(RUN_AXE, COLOUR_RULES if mode == "dark" else None)
        ctx.close()
    return _RESULTS[key]


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("page", PAGES)
def test_axe_finds_no_serious_violation(browser, html_dir, page, mode):
    result = run_axe(browser, html_dir, page, mode)
    assert result["version"] == AXE_VERSION
    assert result["theme"] == mode, f"{page} did not switch to {mode} mode ({result['theme']})"
    blocking = [v for v in result["violations"] if v["impact"] in BLOCKING]
    report = "\n".join(f"  [{v['impact']}] {v['id']} ({v['count']} nodes): {v['help']}\n    " + "\n    ".join(v["nodes"])
                       for v in blocking)
    assert not blocking, f"axe-core on {page} ({mode} mode):\n{report}"
