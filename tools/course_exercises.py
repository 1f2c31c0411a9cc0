"""The course data of the exercises (``book/course/exercises.yml``) and the otter test files made from it.

Both the student edition (``make_student.py``: public tests next to each
handout) and the grader (``grade.py``: public and hidden tests) write the test
files, so they live here rather than in either tool.

For every exercise with ``tests``, :func:`ok_test` writes an otter OK-format
test file ``<label>.py`` whose cases are the ``public`` expressions (students
run them with ``grader.check("<label>")``) and, for grading, the ``hidden``
ones too. An exercise scores its ``points`` when every case passes and 0
otherwise.
"""

from __future__ import annotations

import pprint
from pathlib import Path

import yaml

from nbtools import ROOT

EXERCISES_YML = ROOT / "book" / "course" / "exercises.yml"
SETUP = "import numpy as np\nimport softmax_nb as snb"


def load_exercises() -> dict[str, dict]:
    """Per-exercise course data (hint, answer interface, points, tests, time) keyed by label."""
    if not EXERCISES_YML.is_file():
        return {}
    data = yaml.safe_load(EXERCISES_YML.read_text()) or {}
    return data.get("exercises", {}) or {}


def graded_exercises(exercises: dict[str, dict] | None = None) -> dict[str, dict]:
    """The autograded exercises: those with ``tests``."""
    exercises = load_exercises() if exercises is None else exercises
    return {label: info for label, info in exercises.items() if info.get("tests")}


def ok_test(label: str, info: dict, hidden: bool) -> str:
    """An otter OK-format test file for one exercise (all-or-nothing ``points``)."""
    cases = []
    for kind in ("public", "hidden") if hidden else ("public",):
        for expr in info["tests"].get(kind, []):
            code = ">>> " + SETUP.replace("\n", "\n>>> ") + f"\n>>> bool({expr})\nTrue"
            cases.append({"code": code, "hidden": kind == "hidden", "locked": False})
    test = {"name": label, "points": info.get("points", 1), "all_or_nothing": True,
            "suites": [{"cases": cases, "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}
    return "OK_FORMAT = True\n\ntest = " + pprint.pformat(test, width=100, sort_dicts=False) + "\n"


def write_tests(directory: Path, labels: list[str] | None = None, hidden: bool = False) -> list[Path]:
    """Write the test files of ``labels`` (default: every graded exercise) into ``directory``."""
    graded = graded_exercises()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for label in labels if labels is not None else list(graded):
        path = directory / f"{label}.py"
        path.write_text(ok_test(label, graded[label], hidden))
        written.append(path)
    return written
