"""A chapter notebook -> its student version (handout or site page), and writing it with its otter tests.

:func:`student_notebook` walks the cells once: solution blocks go (fences,
prose, code), the first solution code cell of each exercise becomes a hint
and a stub (and a ``grader.check`` cell when graded), "why" questions get an
answer cell, and in handout mode the MyST becomes plain Markdown. See
``tools/make_student.py`` for the full list.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from book_numbers import Refs, collect_refs
from course_exercises import load_exercises, write_tests
from myst_blocks import SOLUTION_TAG, solution_label, split_blocks
from myst_to_markdown import render_blocks, render_roles
from solution_names import earlier_variables
from student_cells import (GRADER_SETUP, SETUP_CALL, STUB_TAGS, XMODE, answer_cell, caption_cell, check_cell,
                           hint_cell, stub_source)

PROSE_QUESTION = re.compile(
    r"\b(why|when is|when does|which|what does|what happens|explain|show that|is the|does either|"
    r"how large|interpret)\b", re.IGNORECASE)


def student_notebook(nb: nbformat.NotebookNode, mode: str = "handout", doc: str | None = None,
                     refs: Refs | None = None, exercises: dict[str, dict] | None = None,
                     graded: bool = False) -> nbformat.NotebookNode:
    """Return the student version of a chapter notebook (see ``tools/make_student.py``).

    ``mode`` is ``"handout"`` (plain Markdown, no outputs) or ``"site"`` (MyST
    kept, non-solution outputs kept). ``doc`` is the chapter's file stem (for
    its numbers); ``graded`` adds otter ``grader.check`` cells.
    """
    assert mode in ("handout", "site")
    refs = refs if refs is not None else collect_refs()
    exercises = load_exercises() if exercises is None else exercises
    out = copy.deepcopy(nb)
    uses = earlier_variables(nb)
    ex_numbers = {label: t.number or "?" for label, t in refs.labels.items()
                  if t.kind == "exercise" and (doc is None or t.doc == doc)}
    prose = {}
    cells: list[nbformat.NotebookNode] = []
    buffer: list[str] = []
    template: dict = {}

    def flush() -> None:
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(buffer).strip("\n"))
        buffer.clear()
        if text.strip():
            if mode == "handout":
                text = render_roles(text, refs)
            cell = nbformat.v4.new_markdown_cell(text)
            cell.metadata.update(copy.deepcopy(template))
            cells.append(cell)

    in_solution: str | None = None
    stubbed: set[str] = set()
    setup_done = False
    for index, cell in enumerate(out.cells):
        if cell.cell_type == "markdown":
            template = {k: v for k, v in cell.metadata.items() if k != "tags"}
            for block in split_blocks(cell.source):
                if block.name in ("solution-start", "solution"):
                    label = solution_label(block)
                    flush()
                    info = exercises.get(label, {})
                    if info.get("hint"):
                        cells.append(hint_cell(label, ex_numbers.get(label, "?"), info["hint"], mode))
                    if block.name == "solution":
                        if prose.get(label):
                            cells.append(answer_cell(label, ex_numbers.get(label, "?")))
                    else:
                        in_solution = label
                elif block.name == "solution-end":
                    flush()
                    if in_solution and prose.get(in_solution):
                        cells.append(answer_cell(in_solution, ex_numbers.get(in_solution, "?")))
                    in_solution = None
                elif in_solution is not None:
                    pass  # solution prose
                elif block.name == "exercise":
                    label = block.options.get("label", "")
                    info = exercises.get(label, {})
                    prose[label] = info.get("prose", bool(PROSE_QUESTION.search(" ".join(block.body))))
                    if mode == "handout":
                        buffer.extend(render_blocks("\n".join(block.lines), refs, ex_numbers))
                    else:
                        buffer.extend(block.lines)
                elif mode == "handout":
                    buffer.extend(render_blocks("\n".join(block.lines), refs, ex_numbers))
                else:
                    buffer.extend(block.lines)
            flush()
            continue
        flush()
        if cell.cell_type == "code":
            tags = list(cell.metadata.get("tags", []))
            if in_solution is not None or SOLUTION_TAG in tags:
                label = in_solution or "?"
                if label in stubbed:
                    continue
                stubbed.add(label)
                info = exercises.get(label, {})
                cell.source = stub_source(label, ex_numbers.get(label, ""), uses.get(label), info, graded)
                cell.metadata["tags"] = [t for t in tags if t not in (SOLUTION_TAG, "hide-input", "remove-input")] \
                    + STUB_TAGS
                cell.metadata.pop("mystnb", None)
                cell.outputs = []
                cell.execution_count = None
                cells.append(cell)
                if graded and info.get("tests"):
                    cells.append(check_cell(label))
                continue
            if not setup_done and SETUP_CALL.search(cell.source):
                cell.source = SETUP_CALL.sub(lambda m: m.group(0) + XMODE, cell.source, count=1)
                if graded:
                    cell.source += GRADER_SETUP.format(doc=doc)
                setup_done = True
            if mode == "handout":
                cell.outputs = []
                cell.execution_count = None
                cell.metadata.pop("execution", None)
            cells.append(cell)
            if mode == "handout" and doc is not None and (doc, index) in refs.figures:
                caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption", "")
                cells.append(caption_cell(refs.figures[(doc, index)], caption, refs))
            continue
        cells.append(cell)
    out.cells = cells
    out.metadata["softmax_book"] = {"student": True, "mode": mode}
    out.nbformat_minor = max(out.nbformat_minor, 5)
    for i, c in enumerate(out.cells):  # fresh, deterministic, unique ids
        c["id"] = f"student-{i:03d}"
    return out


def write_student(path: Path, out_dir: Path, mode: str = "handout", refs: Refs | None = None,
                  exercises: dict[str, dict] | None = None, graded: bool | None = None) -> Path:
    """Write the student notebook of ``path`` into ``out_dir``.

    ``graded=None`` (the default) adds otter checks to a handout when the
    chapter has autograded exercises, and writes their public tests to
    ``out_dir/tests/<chapter>/``.
    """
    nb = nbformat.read(path, as_version=4)
    exercises = load_exercises() if exercises is None else exercises
    if graded is None:
        text = "\n".join(c.source for c in nb.cells)
        labels = [lb for lb, info in exercises.items() if info.get("tests") and f":label: {lb}" in text]
        graded = mode == "handout" and bool(labels)
        if graded:
            write_tests(out_dir / "tests" / path.stem, labels, hidden=False)
    student = student_notebook(nb, mode=mode, doc=path.stem, refs=refs, exercises=exercises, graded=graded)
    nbformat.validate(student)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    target.write_text(nbformat.writes(student) + "\n")
    return target
