"""Accessibility of the rendered book.

- Every ``<img>`` of every page has alt text that says something: not empty,
  not a file path or name (MyST-NB falls back to the image's path when a
  figure cell has no ``mystnb.image.alt``).
- axe-core (vendored from npm, ``vendor/axe-core``) is injected into every page
  of ``_toc.yml`` in light and in dark mode: no violation of impact "serious" or
  "critical" (WCAG 2 A/AA rules and axe's best practices). It runs on the one
  visit per page of ``page_visits.py``; dark mode is switched on with the
  theme's button, and since the structure of a page does not depend on the
  theme, dark mode reruns only the colour rules.
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
from page_visits import AXE, AXE_DIR, visit  # noqa: E402

PAGES = toc_files()
AXE_VERSION = "4.14.1"  # keep equal to AXE_VERSION in the Makefile (`make axe`)
BLOCKING = {"serious", "critical"}


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


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("page", PAGES)
def test_axe_finds_no_serious_violation(browser, html_dir, page, mode):
    result = visit(browser, html_dir, page).axe[mode]
    assert result["version"] == AXE_VERSION
    assert result["theme"] == mode, f"{page} did not switch to {mode} mode ({result['theme']})"
    blocking = [v for v in result["violations"] if v["impact"] in BLOCKING]
    report = "\n".join(f"  [{v['impact']}] {v['id']} ({v['count']} nodes): {v['help']}\n    " + "\n    ".join(v["nodes"])
                       for v in blocking)
    assert not blocking, f"axe-core on {page} ({mode} mode):\n{report}"
