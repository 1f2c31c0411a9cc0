"""One Chromium visit per page of the book, shared by the browser tests.

Loading a chapter (MathJax typesetting, images) and running axe-core on it
are the slow parts of the browser tests, so each page is loaded **once** per
test process and everything the tests assert on is recorded from that load:

1. desktop (1280 x 900, light mode): what :data:`COLLECT_JS` gathers, a
   screenshot, two self-check questions answered on a chapter that has them
   (``quiz_support.py``), and a full axe-core run, which so sees the quiz
   feedback too;
2. dark mode, switched with the theme's own button as a reader would: the
   same data again, two questions answered again, and axe-core's colour rules
   (the structure of a page does not depend on its theme);
3. phone (390 x 844, light mode again): the same data, for the sideways-scroll
   check, and a screenshot.

Screenshots show the first screen of each page (cheap); set
``BOOK_SCREENSHOTS_FULL=1`` for full-page ones (slow: about 10 s for the API
page alone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from browser_support import screenshot_dir
from quiz_support import BANK, quiz_round

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
AXE_DIR = Path(__file__).parent / "vendor" / "axe-core"
AXE = AXE_DIR / "axe.min.js"
COLOUR_RULES = ["color-contrast", "link-in-text-block", "non-text-contrast"]

COLLECT_JS = (Path(__file__).parent / "collect.js").read_text(encoding="utf-8")

RUN_AXE = r"""
async (rules) => {
  const known = new Set(axe.getRules().map(r => r.ruleId));
  // preload: false: axe would fetch the stylesheets with XHR, which file:// pages refuse (CORS).
  const options = {resultTypes: ['violations'], preload: false};
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

# Click the theme's colour-mode button until the page is in `mode` (it cycles
# light -> auto -> dark or similar, depending on the system preference).
SWITCH_MODE_JS = r"""
async (mode) => {
  const button = document.querySelector('.theme-switch-button');
  if (!button) { return 'no theme-switch-button'; }
  // The theme fades its colours: switch the fades off, so that the new colours are final at once
  // (the end state is the same; only the waiting goes).
  if (!document.getElementById('sbk-no-transitions')) {
    const style = document.createElement('style');
    style.id = 'sbk-no-transitions';
    style.textContent = '*, *::before, *::after { transition: none !important; animation: none !important; }';
    document.head.appendChild(style);
  }
  for (let i = 0; i < 3 && document.documentElement.dataset.theme !== mode; i++) { button.click(); }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  // The theme fades colours: wait for its CSS transitions to finish.
  // (At most 2 s, in case an animation never ends.)
  await Promise.race([Promise.all(document.getAnimations().map(a => a.finished.catch(() => null))),
                      new Promise(r => setTimeout(r, 2000))]);
  return document.documentElement.dataset.theme;
}
"""


@dataclass
class Visit:
    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    non_file_requests: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # by view: "desktop", "dark", "phone"
    axe: dict = field(default_factory=dict)  # by mode: "light", "dark"
    quiz: dict = field(default_factory=dict)  # by mode, on pages with self-check questions
    screenshots: dict = field(default_factory=dict)  # by view


_CACHE: dict[str, Visit] = {}


def _shoot(pg, page: str, view: str) -> Path:
    shots = screenshot_dir()
    shots.mkdir(parents=True, exist_ok=True)
    path = shots / f"{page.replace('/', '__')}-{view}.png"
    pg.screenshot(path=str(path), full_page=os.environ.get("BOOK_SCREENSHOTS_FULL") == "1")
    return path


def visit(browser, html: Path, page: str) -> Visit:
    """Load ``page`` once (cached) and record the desktop, dark and phone views."""
    if page in _CACHE:
        return _CACHE[page]
    ctx = browser.new_context(viewport=DESKTOP, color_scheme="light", device_scale_factor=1)
    ctx.add_init_script("localStorage.setItem('mode', 'light'); localStorage.setItem('theme', 'light');")
    pg = ctx.new_page()
    v = Visit(url=(html / f"{page}.html").as_uri())
    pg.on("console", lambda m: v.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: v.page_errors.append(str(e)))
    pg.on("requestfailed", lambda r: v.failed_requests.append(f"{r.url}: {r.failure}"))
    pg.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:", "about:"))
          else v.non_file_requests.append(r.url))
    pg.goto(v.url, wait_until="load")
    v.data["desktop"] = pg.evaluate(COLLECT_JS, None)
    v.screenshots["desktop"] = _shoot(pg, page, "desktop")
    if page in BANK:
        v.quiz["light"] = quiz_round(pg, page, "light")
    pg.add_script_tag(path=str(AXE))
    v.axe["light"] = pg.evaluate(RUN_AXE, None)

    pg.evaluate(SWITCH_MODE_JS, "dark")
    v.data["dark"] = pg.evaluate(COLLECT_JS, ["images"])  # what the dark-mode test reads
    if page in BANK:
        v.quiz["dark"] = quiz_round(pg, page, "dark")
    v.axe["dark"] = pg.evaluate(RUN_AXE, COLOUR_RULES)

    pg.evaluate(SWITCH_MODE_JS, "light")
    pg.set_viewport_size(PHONE)
    pg.wait_for_timeout(100)  # let resize handlers and media queries settle
    v.data["phone"] = pg.evaluate(COLLECT_JS, ["width"])  # what the phone test reads
    v.screenshots["phone"] = _shoot(pg, page, "phone")
    pg.wait_for_timeout(100)  # let late console messages arrive
    ctx.close()
    _CACHE[page] = v
    return v
