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

Handouts (``mode="handout"``, what students open in Jupyter and Colab), checked
on the notebook JSON: no MyST role, directive fence, target line or equation
label left; the book's numbers ("Exercise 3.2", "Equation (3.1)", a
"**Figure 3.1.**" caption cell under every captioned figure); every stub names
the earlier variables the solution uses; a hint before the stub where
``book/course/exercises.yml`` has one; a Markdown answer cell for "why" and
"when" questions; full tracebacks (``%xmode Context``) after ``setup()``.

The student site (tests/test_student_site.py) is built and grepped separately.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_numbers  # noqa: E402
import course_exercises  # noqa: E402
import myst_blocks  # noqa: E402
import myst_to_markdown  # noqa: E402
import nbtools  # noqa: E402
import solution_names  # noqa: E402
import student_cells  # noqa: E402
import student_convert  # noqa: E402

CHAPTERS = nbtools.toc_notebooks()
IDS = [p.stem for p in CHAPTERS]


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def walk(nb):
    """Yield (cell, block-or-None, open solution label) in document order."""
    open_label = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for block in myst_blocks.split_blocks(cell.source):
                if block.name == "solution-start":
                    yield cell, block, open_label
                    open_label = myst_blocks.solution_label(block)
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
            label = myst_blocks.solution_label(block)
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


def _interfaces() -> set[str]:
    """The answer interfaces the stubs give on purpose ("def f(z):", a name), from exercises.yml."""
    out = set()
    for info in course_exercises.load_exercises().values():
        for a in info.get("answer") or []:
            out |= {a, a.rstrip(":") + ":", student_cells.answer_names([a])[0]}
    return out


EXERCISES_BY_LINE = _interfaces()


def visible_code(cell) -> str:
    """A cell's code; for a stub, without the comments and the answer interface it gives on purpose."""
    if "student-stub" not in cell.metadata.get("tags", []):
        return cell.source
    skip = re.compile(r"^\s*(#.*|\.\.\.|\w+ = \.\.\.  # your value|raise NotImplementedError\(.*\))?$")
    return "\n".join(ln for ln in cell.source.splitlines()
                     if not skip.match(ln) and ln.strip() not in EXERCISES_BY_LINE)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    refs = book_numbers.collect_refs()
    exercises = course_exercises.load_exercises()
    for path in CHAPTERS:
        student_convert.write_student(path, out, "handout", refs, exercises)
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
            leaked = [ln for ln in code if ln.strip() not in EXERCISES_BY_LINE
                      and any(ln in visible_code(c) for c in student.cells if c.cell_type == "code")
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


@pytest.mark.skipif(os.environ.get("RUN_STUDENT_BUILDS") != "1",
                    reason="slow (every chapter runs again): make test-student")
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


REFS = book_numbers.collect_refs()
EXERCISES = course_exercises.load_exercises()


def markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_handout_has_no_raw_myst(path, student_dir):
    student = read(student_dir / path.name)
    text = markdown(student)
    roles = myst_blocks.ROLE.findall(text)
    assert not roles, f"{path.name}: raw MyST roles in the handout: {roles[:5]}"
    fences = re.findall(r"^(?:`{3,}|:{3,})\{[\w:-]+\}.*$", text, re.MULTILINE)
    assert not fences, f"{path.name}: raw MyST directives in the handout: {fences[:5]}"
    targets = re.findall(r"^\([\w.:-]+\)=\s*$", text, re.MULTILINE)
    assert not targets, f"{path.name}: target lines left: {targets}"
    labels = re.findall(r"^\$\$\s*\([\w.:-]+\)\s*$", text, re.MULTILINE)
    assert not labels, f"{path.name}: equation labels left: {labels}"
    original = markdown(read(path))
    if "{eq}`" in original:
        assert re.search(r"Equation \(\d+(\.\d+)?\)|\(\d+(\.\d+)?\)", text)
    if re.search(r"^\$\$\s*\([\w.:-]+\)\s*$", original, re.MULTILINE):  # its own labelled equations
        assert "\\tag{" in text
    assert "{admonition}" not in text


def test_render_roles_examples():
    assert myst_to_markdown.render_roles("by {eq}`eq-ovf-lse`", REFS) == "by Equation (4.4)"
    assert myst_to_markdown.render_roles("see {doc}`05_cross_entropy`", REFS).startswith("see Chapter 7, *")
    assert myst_to_markdown.render_roles("{numref}`fig-ovf-accuracy`", REFS) == "Figure 5.1"
    assert myst_to_markdown.render_roles("{numref}`Fig. %s shows <fig-ovf-accuracy>`", REFS) == "Fig. 5.1 shows"
    assert myst_to_markdown.render_roles("{doc}`the next chapter <04_sigmoid_vs_softmax>`", REFS) == \
        "the next chapter (Chapter 6)"
    cite = myst_to_markdown.render_roles("{cite}`" + next(iter(REFS.citations)) + "`", REFS)
    assert re.fullmatch(r"\(.+, (\d{4}|n\.d\.)\)", cite), cite
    assert myst_to_markdown.render_roles("{math}`x^2`", REFS) == "$x^2$"
    lines = myst_to_markdown.render_blocks("```{admonition} Pitfall\n:class: warning\nNever {eq}`eq-ovf-lse`.\n```",
                                       REFS, {})
    assert lines[:3] == ["> **Pitfall**", ">", "> Never {eq}`eq-ovf-lse`."]


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_handout_numbers_captions_hints_tracebacks(path, student_dir):
    original = read(path)
    student = read(student_dir / path.name)
    cells = student.cells
    # exercise numbers as in the book: chapter.n
    labels = [b.options.get("label") for _, b, _ in walk(original) if b is not None and b.name == "exercise"]
    for label in labels:
        number = REFS.labels[label].number
        assert re.search(rf"\*\*Exercise {re.escape(number)}(: [^\n]*?)?\.\*\* \(`{label}`\)", markdown(student)), \
            f"{path.name}: {label} not numbered {number}"
    if REFS.docs[path.stem].number:
        assert all(REFS.labels[lb].number.startswith(REFS.docs[path.stem].number + ".") for lb in labels)
    # a caption cell under every captioned figure
    captioned = [c for c in cells if c.cell_type == "code" and c.metadata.get("mystnb", {}).get("figure", {})
                 .get("caption")]
    for c in captioned:
        nxt = cells[cells.index(c) + 1]
        assert "student-caption" in nxt.metadata.get("tags", []) and nxt.source.startswith("**Figure "), \
            f"{path.name}: no caption cell under a figure"
    assert len(captioned) == sum("student-caption" in c.metadata.get("tags", []) for c in cells)
    # full tracebacks: %xmode Context right after setup()
    setup = [c for c in cells if c.cell_type == "code" and re.search(r"^setup\(", c.source, re.M)]
    assert setup and "%xmode Context" in setup[0].source, f"{path.name}: the handout keeps one-line errors"
    # stubs name their earlier variables; hints before stubs; answer cells for prose questions
    uses = solution_names.earlier_variables(original)
    for i, c in enumerate(cells):
        if "student-stub" not in c.metadata.get("tags", []):
            continue
        label = re.search(r'NotImplementedError\("Exercise ([\w-]+):', c.source).group(1)
        if uses.get(label):
            assert "Uses from earlier cells of this chapter: " + ", ".join(uses[label]) in c.source
        else:
            assert "Uses only the imports" in c.source
        if EXERCISES.get(label, {}).get("hint"):
            assert "student-hint" in cells[i - 1].metadata.get("tags", []), f"{path.name}: no hint before {label}"
        answer = EXERCISES.get(label, {}).get("answer")
        for name in student_cells.answer_names(answer) if answer else []:
            assert re.search(rf"^(def )?{name}\b", c.source, re.M), f"{path.name}: {label} stub lacks {name}"


def test_earlier_variables_known_cases():
    """The reviewer's hidden-state cases: stubs that rely on earlier variables say so."""
    found = {}
    for path in CHAPTERS:
        found.update(solution_names.earlier_variables(read(path)))
    for label, names in {"ex-sig-4": {"X"}, "ex-temp-2": {"z_val"}, "ex-temp-4": {"z_s", "v", "K_d"}}.items():
        if label in found:
            assert names <= set(found[label]), (label, found[label])
    assert solution_names.free_names(["x = 1\nprint(x, y)", "def f(z):\n    return z + w"]) == ["print", "y", "w"]


def test_prose_questions_get_an_answer_cell(student_dir):
    asked = {"ex-qt-2": True, "ex-temp-3": True, "ex-ce-2": True, "ex-qt-1": False, "ex-norm-1": False}
    text = {p.stem: read(student_dir / p.name) for p in CHAPTERS}
    for label, expected in asked.items():
        doc = REFS.labels[label].doc if label in REFS.labels else None
        if doc is None:
            continue
        has = any("student-answer" in c.metadata.get("tags", []) and f"(`{label}`" in c.source
                  for c in text[doc].cells)
        assert has == expected, f"{label}: answer cell {has}, expected {expected}"
