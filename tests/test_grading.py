"""Autograding with otter-grader (tools/grade.py, ``make grade SUBMISSIONS=dir/``).

Kept fast by grading one chapter, the quick tour (3 autograded exercises, 1
point each), in one ``tools/grade.py`` run over four submissions (about 40 s
on an idle machine):

- the book's chapter itself (the answer key: the answer names are the ones
  its solutions define) gets full marks;
- the student handout with every stub replaced by the book's solution code
  (what a student who solved everything hands in, otter checks included) gets
  full marks;
- the handout as handed out (stubs) gets zero;
- the answer key with one deliberately wrong answer (ex-qt-1) loses exactly
  that exercise's point.

The other tests check the test files themselves, for every chapter, without
running otter: every autograded exercise exists in the book, names its answer
in the stub, and its public cases are a subset of the grading cases.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_numbers  # noqa: E402
import course_exercises  # noqa: E402
import grade  # noqa: E402
import myst_blocks  # noqa: E402
import student_convert  # noqa: E402

# One worker runs this module's expensive module-scoped build (make unit uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("test_grading")

CHAPTER = ROOT / "book" / "00_quick_tour.ipynb"


def solution_code(nb) -> dict[str, str]:
    """Exercise label -> the book's solution code (all its cells)."""
    code: dict[str, list[str]] = {}
    label = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for block in myst_blocks.split_blocks(cell.source):
                if block.name == "solution-start":
                    label = myst_blocks.solution_label(block)
                elif block.name == "solution-end":
                    label = None
        elif label is not None:
            code.setdefault(label, []).append(cell.source)
    return {k: "\n\n".join(v) for k, v in code.items()}


def test_graded_exercises_exist_and_have_interfaces():
    refs = book_numbers.collect_refs()
    graded = course_exercises.graded_exercises()
    assert len(graded) >= 15
    for label, info in graded.items():
        assert label in refs.labels, f"{label}: no such exercise in the book"
        assert info.get("answer"), f"{label}: autograded without an answer interface"
        assert info["tests"].get("hidden"), f"{label}: no hidden test"
        assert info.get("points", 1) > 0
        public = course_exercises.ok_test(label, info, hidden=False)
        full = course_exercises.ok_test(label, info, hidden=True)
        env: dict = {}
        exec(full, env)  # a valid OK-format file
        assert env["test"]["name"] == label and env["test"]["points"] == info.get("points", 1)
        pub: dict = {}
        exec(public, pub)
        n_public = len(info["tests"].get("public", []))
        assert len(pub["test"]["suites"][0]["cases"]) == n_public
        cases = env["test"]["suites"][0]["cases"]
        assert len(cases) == n_public + len(info["tests"]["hidden"])
        assert [c["hidden"] for c in cases] == [False] * n_public + [True] * len(info["tests"]["hidden"])


def test_every_prose_exercise_has_a_rubric_and_every_exercise_a_hint():
    data = yaml.safe_load((ROOT / "book" / "course" / "exercises.yml").read_text())["exercises"]
    refs = book_numbers.collect_refs()
    exercises = [lb for lb, t in refs.labels.items() if t.kind == "exercise"]
    missing = [lb for lb in exercises if not data.get(lb, {}).get("hint")]
    assert not missing, f"exercises without a hint: {missing}"
    for label, info in data.items():
        if info.get("rubric"):
            assert re.search(r"\d+ pts?", info["rubric"]), f"{label}: rubric without points"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    pytest.importorskip("otter")
    subs = tmp_path_factory.mktemp("submissions")
    key = nbformat.read(CHAPTER, as_version=4)
    nbformat.write(key, subs / "key.ipynb")

    handout_dir = tmp_path_factory.mktemp("handout")
    handout_path = student_convert.write_student(CHAPTER, handout_dir, "handout")
    handout = nbformat.read(handout_path, as_version=4)
    nbformat.write(handout, subs / "stub.ipynb")

    solutions = solution_code(key)
    solved = nbformat.read(handout_path, as_version=4)
    for cell in solved.cells:
        m = re.search(r'NotImplementedError\("Exercise ([\w-]+):', cell.source)
        if m:
            cell.source = solutions[m.group(1)]
    nbformat.write(solved, subs / "solved_handout.ipynb")

    wrong = nbformat.read(CHAPTER, as_version=4)
    changed = 0
    for cell in wrong.cells:
        if cell.cell_type == "code" and re.search(r"^mine = ", cell.source, re.M):
            cell.source = re.sub(r"^mine = (.*)$", r"mine = 0.9 * (\1)", cell.source, flags=re.M)
            changed += 1
    assert changed == 1
    nbformat.write(wrong, subs / "one_wrong.ipynb")

    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    grade.grade(subs, out)
    with out.open() as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


def test_answer_key_gets_full_marks(graded):
    for name in ("key.ipynb", "solved_handout.ipynb"):
        row = graded[name]
        assert row["chapter"] == "00_quick_tour"
        assert float(row["total"]) == float(row["possible"]) == 3.0, row


def test_stubs_get_zero(graded):
    row = graded["stub.ipynb"]
    assert float(row["total"]) == 0.0 and float(row["possible"]) == 3.0, row


def test_one_wrong_answer_loses_exactly_its_points(graded):
    row = graded["one_wrong.ipynb"]
    assert float(row["ex-qt-1"]) == 0.0
    assert float(row["ex-qt-2"]) == 1.0 and float(row["ex-qt-3"]) == 1.0
    assert float(row["total"]) == 2.0, row
