"""Write student versions of the chapters: exercises kept, solutions removed.

Usage: python tools/make_student.py [--out _build/student] [book/01_x.ipynb ...]
(``make student``; without notebook arguments, every notebook chapter listed
in ``_toc.yml`` is converted, in table-of-contents order).

How a chapter's solutions are written (the tests in tests/test_student.py
enforce it): each exercise is a ``{exercise}`` directive with a ``:label:``;
its solution is gated, ``{solution-start} <label>`` ... ``{solution-end}``,
with the solution code in code cells tagged ``solution`` in between (a plain
``{solution} <label>`` directive holds a prose-only solution).

The student notebook is the chapter with:

- every solution block removed: the ``{solution-start}``/``{solution-end}``
  fences, the prose between them and any ``{solution}`` directive. Markdown
  cells left empty are dropped, so the notebook keeps a valid structure;
- the FIRST code cell of each solution replaced by a stub that raises
  ``NotImplementedError("Exercise <label>: write your solution")`` (tags
  ``student-stub`` and ``raises-exception``, so nbval and JupyterLab's Run All
  carry on past the expected error); further code cells of the same solution
  are dropped;
- each ``{exercise}`` directive rewritten as plain Markdown,
  ``**Exercise <n>.** (`<label>`)`` and its text, numbered per chapter as in
  the book, because Jupyter and Colab do not render MyST directives; other
  directives are left as they are;
- all outputs and execution counts cleared, so nothing in the handout gives a
  solution away and students run it themselves. The Colab install cell stays
  first, so the handout also works in Colab.

Exercises come at the end of every chapter and no exercise may use a variable
defined by another exercise's solution: then every non-stub cell of a student
notebook still runs, which tests/test_student.py checks by executing them.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import toc_notebooks  # noqa: E402
SOLUTION_TAG = "solution"
STUB_TAGS = ["student-stub", "raises-exception"]
FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<arg>.*?)\s*$")


@dataclass
class Block:
    """A piece of a markdown cell: plain text, or one fenced MyST directive."""

    name: str | None  # directive name, None for plain text
    arg: str
    lines: list[str]  # all lines, fences included
    options: dict[str, str]
    body: list[str]  # content lines after the options, without the fences


def split_blocks(text: str) -> list[Block]:
    """Split markdown into plain-text runs and top-level fenced directives."""
    lines = text.split("\n")
    blocks: list[Block] = []
    plain: list[str] = []
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            plain.append(lines[i])
            i += 1
            continue
        if plain:
            blocks.append(Block(None, "", plain, {}, plain))
            plain = []
        fence = m["fence"]
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        inner = lines[i + 1:j]
        options: dict[str, str] = {}
        k = 0
        while k < len(inner) and re.match(r"^:[\w-]+:", inner[k]):
            key, _, value = inner[k][1:].partition(":")
            options[key] = value.strip()
            k += 1
        blocks.append(Block(m["name"], m["arg"], lines[i:j + 1], options, inner[k:]))
        i = j + 1
    if plain:
        blocks.append(Block(None, "", plain, {}, plain))
    return blocks


def solution_label(block: Block) -> str:
    return block.arg.split()[0] if block.arg.split() else ""


def exercise_markdown(block: Block, number: int) -> list[str]:
    label = block.options.get("label", "")
    title = f"**Exercise {number}" + (f": {block.arg}" if block.arg else "") + ".**"
    if label:
        title += f" (`{label}`)"
    body = list(block.body)
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return [title, "", *body]


def stub_source(label: str) -> str:
    return ("# Your code here.\n"
            f'raise NotImplementedError("Exercise {label}: write your solution")')


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return the student version of a chapter notebook (see the module docstring)."""
    out = copy.deepcopy(nb)
    cells = []
    in_solution: str | None = None  # label of the open {solution-start}
    stubbed: set[str] = set()
    n_exercises = 0
    for cell in out.cells:
        if cell.cell_type == "markdown":
            kept: list[str] = []
            for block in split_blocks(cell.source):
                if block.name == "solution-start":
                    in_solution = solution_label(block)
                elif block.name == "solution-end":
                    in_solution = None
                elif block.name == "solution" or in_solution is not None:
                    pass  # solution prose
                elif block.name == "exercise":
                    n_exercises += 1
                    kept += exercise_markdown(block, n_exercises)
                else:
                    kept += block.lines
            text = "\n".join(kept).strip("\n")
            text = re.sub(r"\n{3,}", "\n\n", text)
            if text.strip():
                cell.source = text
                cells.append(cell)
            continue
        if cell.cell_type == "code":
            tags = list(cell.metadata.get("tags", []))
            if in_solution is not None or SOLUTION_TAG in tags:
                label = in_solution or "?"
                if label in stubbed:
                    continue
                stubbed.add(label)
                cell.source = stub_source(label)
                cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG] + STUB_TAGS
                cell.metadata.pop("mystnb", None)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        cells.append(cell)
    out.cells = cells
    out.metadata["softmax_book"] = {"student": True}
    return out


def write_student(path: Path, out_dir: Path) -> Path:
    nb = nbformat.read(path, as_version=4)
    student = student_notebook(nb)
    nbformat.validate(student)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    target.write_text(nbformat.writes(student) + "\n")
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks or toc_notebooks():
        print(f"wrote {write_student(path, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
