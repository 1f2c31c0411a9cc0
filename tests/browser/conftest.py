"""Browser tests of the rendered book: Debian's Chromium driven by Playwright.

Run them with ``make test-browser`` (``make test`` and ``.ci/run`` run them
after the strict book build, on ``$(JOBS)`` workers; ``make unit`` leaves them
out). They read the
HTML from ``$BOOK_HTML`` (default ``_build/html``) and write screenshots to
``$BOOK_SCREENSHOTS`` (default: ``screenshots/`` next to the HTML directory).

Without Chromium (or without a built book) they are skipped with the reason,
except under CI (``CI=true``), where that is a failure. Playwright's own
browser download (``playwright install``) is never used: the tests launch the
system Chromium (``$CHROMIUM``, else ``/usr/bin/chromium``, else the first
``chromium`` on the PATH).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import CHROMIUM_ARGS, book_html, find_chromium, skip_or_fail


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: needs Chromium and the built book (make test-browser)")


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Mark the browser tests, and group them for ``pytest -n N --dist loadgroup``.

    Each page is loaded once per worker (``page_visits.py``), so every test of
    one page goes to one worker; other tests stay with their module, whose
    fixtures (one open page) are module-scoped.
    """
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)
            params = getattr(getattr(item, "callspec", None), "params", {})
            group = f"page:{params['page']}" if "page" in params else f"module:{item.module.__name__}"
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def html_dir() -> Path:
    html = book_html()
    if not (html / "index.html").is_file():
        skip_or_fail(f"no built book in {html}: run `make book` first (or set BOOK_HTML)")
    return html


@pytest.fixture(scope="session")
def browser():
    exe = find_chromium()
    if exe is None:
        skip_or_fail("Chromium not found (install it with `apt-get install chromium`, or set CHROMIUM=/path)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is pinned in requirements.txt
        skip_or_fail("the playwright package is not installed (pip install -r requirements.txt)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()
