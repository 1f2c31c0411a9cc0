"""The reveal.js decks of ``make slides`` (tools/make_slides.py) in Chromium.

One deck per chapter exists; the quick tour's deck opens from ``file://``
with no network request and no JavaScript error, typesets its math, and can be
stepped through to the last slide with the keyboard. Skipped when the decks
are not built, except under ``SLIDES_REQUIRED=1`` (``make test-slides``).
"""

from __future__ import annotations

import os
import re
import sys

import pytest

from browser_support import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from nbtools import toc_notebooks  # noqa: E402

SLIDES = ROOT / "_build" / "slides"


@pytest.fixture(scope="module")
def slides_dir():
    if not (SLIDES / "00_quick_tour.slides.html").is_file():
        if os.environ.get("SLIDES_REQUIRED") == "1":
            pytest.fail("no decks in _build/slides: `make slides` failed", pytrace=False)
        pytest.skip("no decks in _build/slides: run `make slides`")
    return SLIDES


def test_one_deck_per_chapter(slides_dir):
    missing = [p.stem for p in toc_notebooks() if not (slides_dir / f"{p.stem}.slides.html").is_file()]
    assert not missing, f"chapters without a deck: {missing}"
    for deck in slides_dir.glob("*.slides.html"):
        html = deck.read_text(encoding="utf-8")
        remote = re.findall(r"""(?:src|href)=["']https?://[^"']+|@import url\(["']?https?://[^)]+|from ['"]https?://[^'"]+""", html)
        assert not remote, f"{deck.name} loads from the network: {remote[:3]}"


def test_step_through_the_quick_tour_deck(browser, slides_dir):
    ctx = browser.new_context(viewport={"width": 1024, "height": 768})
    pg = ctx.new_page()
    errors, remote = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:", "about:")) else remote.append(r.url))
    pg.goto((slides_dir / "00_quick_tour.slides.html").as_uri(), wait_until="load")
    pg.wait_for_selector(".reveal.ready", timeout=30_000)
    n = pg.locator(".reveal .slides > section").count()
    assert n >= 4, f"only {n} slides"
    assert "softmax in ten minutes" in pg.locator("section.present").first.inner_text().lower()
    seen = [pg.evaluate("location.hash")]
    for _ in range(60):
        pg.keyboard.press("ArrowRight")
        pg.wait_for_timeout(150)
        seen.append(pg.evaluate("location.hash"))
        if seen[-1] == seen[-2] and len(seen) > n:
            break
    assert len(set(seen)) >= n, f"stepping visited {sorted(set(seen))}"
    last = pg.locator("section.present").last.inner_text()
    assert "summary" in last.lower(), f"the last slide is not the summary: {last[:200]!r}"
    pg.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
    assert not errors, errors
    assert not remote, f"the deck fetched {remote}"
    ctx.close()
