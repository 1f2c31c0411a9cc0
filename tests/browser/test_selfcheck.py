"""The self-check questions in Chromium, on every numbered chapter page that has them, in light and dark mode.

The questions are answered during the page's one visit (``page_visits.py``, ``quiz_support.py``):
in light mode, then after switching to dark mode with the theme's own button, one question right
(with the keyboard: Space on the option, Enter to check; for a number, typed and Enter) and one
wrong (with the mouse and the Check button), the two swapping roles in dark mode. Here: every
question of the chapter's data file is on the page and ready; the feedback region is polite and
says "Correct." with the reason, or "Not quite." with the explanation of that wrong answer, whose
link points to an element of the page; the page raised no error. axe-core runs on each page right
after its questions were answered (the full rules in light mode, the colour rules in dark mode), so
``test_accessibility.py``'s axe test covers the quiz markup with its feedback shown; the test below
also reports any violation on a quiz node by itself.

The chapters whose directive cells are not inserted yet are the ``NOT_INSERTED`` of
tests/test_selfcheck.py (read from its source, so that there is one list).
"""

from __future__ import annotations

import ast
import re
import sys

import pytest

from browser_support import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from chapter_length import numbered_chapters  # noqa: E402
from page_visits import visit  # noqa: E402
from quiz_support import BANK  # noqa: E402

BLOCKING = {"serious", "critical"}


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


def check_feedback(q, shown: dict, right: bool) -> None:
    assert shown["checked"], f"{q.id}: the chosen option was not checked"
    assert shown["live"] == "polite"
    text = normalise(shown["text"])
    if right:
        assert text.startswith("correct."), f"{q.id}: {text[:120]!r}"
        source = q.why
    else:
        assert text.startswith("not quite."), f"{q.id}: {text[:120]!r}"
        source = q.explain if q.kind == "numeric" else next(o.explain for o in q.options if not o.correct)
        assert shown["hrefs"], f"{q.id}: the explanation of a wrong answer links nowhere"
        for href, exists in zip(shown["hrefs"], shown["targets"]):
            assert href.startswith("#"), f"{q.id}: the explanation links off the chapter page: {href}"
            assert exists, f"{q.id}: no element {href} on the page"
    fragment = plain_fragment(source)
    if fragment:
        assert fragment in text, f"{q.id}: {fragment!r} not in the feedback {text[:300]!r}"


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("page", PAGES)  # "page": grouped with the page's other browser tests (conftest.py)
def test_questions_answer_right_and_wrong(browser, html_dir, page, mode):
    questions = BANK[page]
    v = visit(browser, html_dir, page)
    record = v.quiz[mode]
    assert record["error"] is None, f"{page} ({mode} mode): {record['error']}"
    assert record["theme"] == mode
    assert record["boxes"] == len(questions), f"{page}: {record['boxes']} quizzes, {len(questions)} questions"
    assert record["ready"] == len(questions)
    assert [a["right"] for a in record["answers"]] == [True, False]
    for shown in record["answers"]:
        check_feedback(questions[shown["index"]], shown, shown["right"])
    assert not v.page_errors, v.page_errors
    on_quizzes = [viol for viol in v.axe[mode]["violations"] if viol["impact"] in BLOCKING
                  and any("sbk-" in node for node in viol["nodes"])]
    assert not on_quizzes, f"axe-core on the quizzes of {page} ({mode} mode): {on_quizzes}"


def test_every_finished_chapter_is_tested():
    assert PAGES, "no chapter with inserted self-check questions"
    assert len(PAGES) >= 10
