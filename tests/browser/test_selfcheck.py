"""The self-check questions in Chromium, on every numbered chapter page that has them, in light and dark mode.

Each page is loaded once, in light mode (the theme's own ``localStorage`` setting, as a reader's
choice is stored): every question of the chapter's data file is on the page and ready; one
question is answered right (with the keyboard: Space on the option, Enter to check; for a number,
typed and Enter) and one wrong (with the mouse and the Check button). The feedback region is
polite and says "Correct." with the reason, or "Not quite." with the explanation of that wrong
answer, whose link points to an element of the page. axe-core (vendored, as in
test_accessibility.py) then checks the quiz markup, with the feedback shown: no violation of
impact "serious" or "critical". The page is switched to dark mode with the theme's own button, as
a reader would, and the same is done with the two questions' roles swapped.

The chapters whose directive cells are not inserted yet are the ``NOT_INSERTED`` of
tests/test_selfcheck.py (read from its source, so that there is one list).
"""

from __future__ import annotations

import ast
import re
import sys

import pytest

from browser_support import ROOT, screenshot_dir

sys.path.insert(0, str(ROOT / "_ext"))
sys.path.insert(0, str(ROOT / "tools"))
import selfcheck  # noqa: E402
from chapter_length import numbered_chapters  # noqa: E402
from page_visits import AXE, SWITCH_MODE_JS  # noqa: E402

BLOCKING = {"serious", "critical"}
BANK = selfcheck.load_bank(ROOT)


def _not_inserted() -> set[str]:
    tree = ast.parse((ROOT / "tests" / "test_selfcheck.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        if any(getattr(t, "id", "") == "NOT_INSERTED" for t in targets) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "set" and not value.args:
                return set()  # every chapter has its cells
            return set(ast.literal_eval(value))
    raise AssertionError("tests/test_selfcheck.py has no NOT_INSERTED")


PAGES = [c for c in numbered_chapters() if c in BANK and c not in _not_inserted()]

RUN_AXE_ON_QUIZZES = r"""
async () => {
  const options = {resultTypes: ['violations'], preload: false};
  const r = await axe.run(document.querySelectorAll('.sbk-selfcheck'), options);
  return {
    theme: document.documentElement.dataset.theme,
    violations: r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
      nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' -- ' + (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 240)),
    })),
  };
}
"""

ELEMENT_EXISTS = "(id) => document.getElementById(id) !== null"


def normalise(text: str) -> str:
    """Text as the page shows it, for comparison: straight quotes and hyphens, one space, lower case."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("--", "-").replace("\u2212", "-")
    return re.sub(r"\s+", " ", text).strip().lower()


def plain_fragment(myst: str) -> str:
    """The longest run of plain words of a MyST text (roles, math and code left out), or ''."""
    pieces = re.split(r"\{[\w:-]+\}`[^`]*`|\$[^$]*\$|`[^`]*`", myst)
    best = max((normalise(p.replace("*", "")).strip(" .,;:()") for p in pieces), key=len, default="")
    return best if len(best) >= 12 else ""


def open_page(browser, html_dir, chapter: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    ctx.add_init_script("localStorage.setItem('mode', 'light'); localStorage.setItem('theme', 'light');")
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto((html_dir / f"{chapter}.html").as_uri(), wait_until="load")
    return ctx, pg, errors


def answer(pg, box, q: selfcheck.Question, right: bool, keyboard: bool) -> None:
    if q.kind == "numeric":
        value = q.value if right else q.value + 10 * q.tolerance + 1.0
        field = box.locator("input.sbk-sc-input")
        field.fill(selfcheck.format_value(value, q.tolerance))
        if keyboard:
            field.press("Enter")
        else:
            box.locator("button.sbk-sc-check").click()
        return
    index = q.correct_index if right else next(i for i, o in enumerate(q.options) if not o.correct)
    radio = box.locator("input[type=radio]").nth(index)
    if keyboard:
        radio.focus()
        pg.keyboard.press("Space")
        assert radio.is_checked()
        pg.keyboard.press("Enter")
    else:
        box.locator("label").nth(index).click()
        assert radio.is_checked()
        box.locator("button.sbk-sc-check").click()


def check_feedback(pg, box, q: selfcheck.Question, right: bool) -> None:
    region = box.locator(".sbk-sc-feedback")
    assert region.get_attribute("aria-live") == "polite"
    shown = normalise(region.inner_text())
    if right:
        assert shown.startswith("correct."), f"{q.id}: {shown[:120]!r}"
        source = q.why
    else:
        assert shown.startswith("not quite."), f"{q.id}: {shown[:120]!r}"
        source = q.explain if q.kind == "numeric" else next(o.explain for o in q.options if not o.correct)
        hrefs = region.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert hrefs, f"{q.id}: the explanation of a wrong answer links nowhere"
        for href in hrefs:
            assert href.startswith("#"), f"{q.id}: the explanation links off the chapter page: {href}"
            assert pg.evaluate(ELEMENT_EXISTS, href[1:]), f"{q.id}: no element #{href[1:]} on the page"
    fragment = plain_fragment(source)
    if fragment:
        assert fragment in shown, f"{q.id}: {fragment!r} not in the feedback {shown[:300]!r}"


def answer_two_and_check(pg, chapter: str, mode: str) -> None:
    """In ``mode``: one question right by keyboard, one wrong by mouse, the feedback, then axe on the quizzes."""
    questions = BANK[chapter]
    assert pg.evaluate("document.documentElement.dataset.theme") == mode
    boxes = pg.locator(".sbk-selfcheck")
    first, second = (0, 1) if mode == "light" else (1, 0)
    for k, right in ((first, True), (second, False)):
        q, box = questions[k], boxes.nth(k)
        box.scroll_into_view_if_needed()
        answer(pg, box, q, right, keyboard=right)
        check_feedback(pg, box, q, right)
    shots = screenshot_dir()
    shots.mkdir(parents=True, exist_ok=True)
    boxes.nth(first).screenshot(path=str(shots / f"selfcheck-{chapter.replace('/', '__')}-{mode}.png"))
    result = pg.evaluate(RUN_AXE_ON_QUIZZES)
    assert result["theme"] == mode
    blocking = [v for v in result["violations"] if v["impact"] in BLOCKING]
    report = "\n".join(f"  [{v['impact']}] {v['id']} ({v['count']} nodes): {v['help']}\n    "
                       + "\n    ".join(v["nodes"]) for v in blocking)
    assert not blocking, f"axe-core on the quizzes of {chapter} ({mode} mode):\n{report}"


@pytest.mark.parametrize("page", PAGES)  # "page": grouped with the page's other browser tests (conftest.py)
def test_questions_answer_right_and_wrong(browser, html_dir, page):
    chapter = page
    questions = BANK[chapter]
    ctx, pg, errors = open_page(browser, html_dir, chapter)
    try:
        pg.wait_for_selector('.sbk-selfcheck[data-ready="true"]')
        boxes = pg.locator(".sbk-selfcheck")
        assert boxes.count() == len(questions), f"{chapter}: {boxes.count()} quizzes, {len(questions)} questions"
        assert pg.locator('.sbk-selfcheck[data-ready="true"]').count() == len(questions)
        pg.add_script_tag(path=str(AXE))
        answer_two_and_check(pg, chapter, "light")
        assert pg.evaluate(SWITCH_MODE_JS, "dark") == "dark", f"{chapter}: the theme button did not switch to dark"
        answer_two_and_check(pg, chapter, "dark")
        assert not errors, errors
    finally:
        ctx.close()


def test_every_finished_chapter_is_tested():
    assert PAGES, "no chapter with inserted self-check questions"
    assert len(PAGES) >= 10
