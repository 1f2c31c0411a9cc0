"""Exercises, solutions and the student notebooks made from them.

For every notebook chapter in ``_toc.yml`` (read at test time):

- each ``{exercise}`` has a label and exactly one solution, every solution
  names an existing exercise, and solution blocks open and close in order;
- every cell tagged ``solution`` sits inside a solution block and every code
  cell inside one is tagged ``solution``;
- ``tools/make_student.py`` removes all solution code and prose, keeps every
  exercise, and the student notebook runs top to bottom in a fresh kernel with
  the ONLY errors being the stubs' ``NotImplementedError`` and those of cells
  the chapter itself tags ``raises-exception`` (so no cell after a stub
  depends on a solution's variables).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_student  # noqa: E402

CHAPTERS = make_student.toc_notebooks()
IDS = [p.stem for p in CHAPTERS]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def walk(nb):
    """Yield (cell, block-or-None, open solution label) in document order."""
    open_label = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for block in make_student.split_blocks(cell.source):
                if block.name == "solution-start":
                    yield cell, block, open_label
                    open_label = make_student.solution_label(block)
                elif block.name == "solution-end":
                    yield cell, block, open_label
                    open_label = None
                else:
                    yield cell, block, open_label
        else:
            yield cell, None, open_label


def test_there_are_chapters():
    assert CHAPTERS, "no notebook chapters in _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_every_exercise_has_exactly_one_solution(path):
    exercises: list[str] = []
    solutions: list[str] = []
    still_open = None
    for cell, block, open_label in walk(read(path)):
        if block is None or block.name is None:
            continue
        if block.name == "exercise":
            label = block.options.get("label")
            assert label, f"{path.name}: an exercise without :label: ({block.lines[:3]})"
            assert open_label is None, f"{path.name}: exercise {label} inside the solution of {open_label}"
            exercises.append(label)
        elif block.name in ("solution-start", "solution"):
            label = make_student.solution_label(block)
            assert label, f"{path.name}: a solution that names no exercise ({block.lines[:2]})"
            assert open_label is None, f"{path.name}: solution {label} opened inside solution {open_label}"
            assert label in exercises, f"{path.name}: solution for {label!r} before/without its exercise"
            solutions.append(label)
            still_open = label if block.name == "solution-start" else None
        elif block.name == "solution-end":
            assert open_label is not None, f"{path.name}: {{solution-end}} without {{solution-start}}"
            still_open = None
    assert len(set(exercises)) == len(exercises), f"{path.name}: duplicate exercise labels {exercises}"
    missing = [e for e in exercises if solutions.count(e) != 1]
    assert not missing, f"{path.name}: exercises without exactly one solution: " \
        f"{[(e, solutions.count(e)) for e in missing]}"
    assert still_open is None, f"{path.name}: solution {still_open} is never closed"


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_solution_cells_sit_inside_solution_blocks(path):
    for cell, block, open_label in walk(read(path)):
        if block is not None:
            continue
        tags = cell.metadata.get("tags", [])
        if "solution" in tags:
            assert open_label is not None, \
                f"{path.name}: a cell tagged 'solution' outside any solution block:\n{cell.source[:200]}"
        if open_label is not None and cell.cell_type == "code":
            assert "solution" in tags, \
                f"{path.name}: a code cell in the solution of {open_label} is not tagged 'solution'"


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    for path in CHAPTERS:
        make_student.write_student(path, out)
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_student_notebook_has_no_solutions(path, student_dir):
    original = read(path)
    student = read(student_dir / path.name)
    nbformat.validate(student)
    text = "\n".join(c.source for c in student.cells)
    assert not re.search(r"\{solution(-start|-end)?\}", text), f"{path.name}: solution directives left"
    for cell in original.cells:
        if "solution" in cell.metadata.get("tags", []):
            code = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            leaked = [ln for ln in code if any(ln in c.source for c in student.cells
                                               if c.cell_type == "code")
                      and not any(ln in c.source for c in original.cells
                                  if c.cell_type == "code" and "solution" not in c.metadata.get("tags", []))]
            assert not leaked, f"{path.name}: solution code in the student notebook: {leaked}"
    labels = [b.options.get("label") for _, b, _ in walk(original) if b is not None and b.name == "exercise"]
    for label in labels:
        assert f"(`{label}`)" in text, f"{path.name}: exercise {label} lost"
        assert f'NotImplementedError("Exercise {label}: write your solution")' in text, \
            f"{path.name}: no stub for exercise {label}"
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    first = student.cells[0]
    assert "colab-install" in first.metadata.get("tags", []), f"{path.name}: Colab cell not first"
    assert "solution" not in {t for c in student.cells for t in c.metadata.get("tags", [])}


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_student_notebook_runs(path, student_dir):
    nb = read(student_dir / path.name)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            record_timing=False, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stub = "student-stub" in cell.metadata.get("tags", [])
        if stub:
            if [e.ename for e in errors] != ["NotImplementedError"]:
                problems.append(f"cell {i} (stub) raised {[e.ename for e in errors]}, not NotImplementedError")
        elif errors and "raises-exception" not in cell.metadata.get("tags", []):
            problems.append(f"cell {i} raised {errors[0].ename}: {errors[0].evalue}\n{cell.source[:300]}")
    assert not problems, f"{path.name} (student version) does not run top to bottom:\n" + "\n".join(problems)
