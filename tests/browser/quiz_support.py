"""The self-check questions, answered during a page's one visit (``page_visits.py``).

A chapter page with questions is answered in each colour mode *before* axe-core runs on it, so the
accessibility test sees the quiz markup with its feedback shown; what the page showed is recorded,
and ``test_selfcheck.py`` asserts on the record. In light mode the first question is answered right
with the keyboard (Space on the option, Enter to check; for a number, typed and Enter) and the
second wrong with the mouse and the Check button; in dark mode the two swap roles.
"""

from __future__ import annotations

import sys

from browser_support import ROOT, screenshot_dir

sys.path.insert(0, str(ROOT / "_ext"))
import selfcheck  # noqa: E402

BANK = selfcheck.load_bank(ROOT)

READ_FEEDBACK = r"""
(box) => {
  const region = box.querySelector('.sbk-sc-feedback');
  const hrefs = Array.from(region.querySelectorAll('a')).map(a => a.getAttribute('href'));
  return {
    live: region.getAttribute('aria-live'),
    text: region.innerText,
    hrefs: hrefs,
    targets: hrefs.map(h => h && h.startsWith('#') && document.getElementById(h.slice(1)) !== null),
  };
}
"""


def answer(pg, box, q: selfcheck.Question, right: bool, keyboard: bool) -> bool:
    """Answer ``q`` in ``box``; return whether the chosen option was checked before the check (True for numbers)."""
    if q.kind == "numeric":
        value = q.value if right else q.value + 10 * q.tolerance + 1.0
        field = box.locator("input.sbk-sc-input")
        field.fill(selfcheck.format_value(value, q.tolerance))
        if keyboard:
            field.press("Enter")
        else:
            box.locator("button.sbk-sc-check").click()
        return True
    index = q.correct_index if right else next(i for i, o in enumerate(q.options) if not o.correct)
    radio = box.locator("input[type=radio]").nth(index)
    if keyboard:
        radio.focus()
        pg.keyboard.press("Space")
        checked = radio.is_checked()
        pg.keyboard.press("Enter")
    else:
        box.locator("label").nth(index).click()
        checked = radio.is_checked()
        box.locator("button.sbk-sc-check").click()
    return checked


def quiz_round(pg, page: str, mode: str) -> dict:
    """Answer two questions of ``page`` in ``mode`` (see the module docstring) and record what the page shows."""
    questions = BANK[page]
    boxes = pg.locator(".sbk-selfcheck")
    try:
        pg.wait_for_selector('.sbk-selfcheck[data-ready="true"]', timeout=10_000)
    except Exception as e:  # noqa: BLE001 - recorded; test_selfcheck.py reports it
        return {"error": f"no self-check question became ready: {type(e).__name__}: {e}"}
    record = {"theme": pg.evaluate("document.documentElement.dataset.theme"), "boxes": boxes.count(),
              "ready": pg.locator('.sbk-selfcheck[data-ready="true"]').count(), "answers": [], "error": None}
    first, second = (0, 1) if mode == "light" else (1, 0)
    try:
        for k, right in ((first, True), (second, False)):
            box = boxes.nth(k)
            box.scroll_into_view_if_needed()
            checked = answer(pg, box, questions[k], right, keyboard=right)
            record["answers"].append({"index": k, "right": right, "checked": checked,
                                      **box.evaluate(READ_FEEDBACK)})
        shots = screenshot_dir()
        shots.mkdir(parents=True, exist_ok=True)
        boxes.nth(first).screenshot(path=str(shots / f"selfcheck-{page.replace('/', '__')}-{mode}.png"))
    except Exception as e:  # noqa: BLE001 - recorded; test_selfcheck.py reports it
        record["error"] = f"{type(e).__name__}: {e}"
    return record
