"""The cells the student edition adds to a chapter: stub, hint, answer, otter check and figure caption cells.

A **stub** replaces an exercise's solution code: it names the exercise, says
which variables of earlier cells the book's solution uses, gives the answer
interface (``def my_log_softmax(z):`` or ``T_half = ...``) and raises
``NotImplementedError`` (tags :data:`STUB_TAGS`). The set-up cell gets
:data:`XMODE` (full tracebacks) and, in a graded handout,
:data:`GRADER_SETUP` (an otter ``grader``).
"""

from __future__ import annotations

import re

import nbformat

from book_numbers import Refs
from myst_to_markdown import render_roles

STUB_TAGS = ["student-stub", "raises-exception"]


def stub_source(label: str, number: str = "", uses: list[str] | None = None, info: dict | None = None,
                graded: bool = False) -> str:
    info = info or {}
    lines = [f"# Exercise {number} ({label})." if number else f"# Exercise {label}."]
    if uses:
        lines.append("# Uses from earlier cells of this chapter: " + ", ".join(uses)
                     + " (after a restart, run the cells above first).")
    else:
        lines.append("# Uses only the imports at the top of the chapter (run the first code cells).")
    answer = info.get("answer")
    if answer:
        lines.append("# Your answer must define: " + ", ".join(f"`{a}`" for a in answer_names(answer)) + ".")
        if info.get("doc"):
            lines.append("# " + info["doc"])
        if info.get("tests") and graded:
            lines.append(f'# Check it with grader.check("{label}") in the next cell.')
        lines.append("")
        for a in answer if isinstance(answer, list) else [answer]:
            if a.startswith("def "):
                lines += [a.rstrip(":") + ":", "    # Your code here.", "    ..."]
            else:
                lines.append(f"{a} = ...  # your value")
        lines.append("")
    lines += ["# Your code here.", f'raise NotImplementedError("Exercise {label}: write your solution")']
    return "\n".join(lines)


def answer_names(answer) -> list[str]:
    names = []
    for a in answer if isinstance(answer, list) else [answer]:
        m = re.match(r"def\s+(\w+)", a)
        names.append(m.group(1) if m else a.strip())
    return names


def hint_cell(label: str, number: str, hint: str, mode: str) -> nbformat.NotebookNode:
    if mode == "site":
        src = f"```{{admonition}} Hint for Exercise {number}\n:class: dropdown hint\n{hint.strip()}\n```"
    else:
        src = (f"<details><summary><b>Hint for Exercise {number}</b> (click to open)</summary>\n\n"
               f"{hint.strip()}\n\n</details>")
    cell = nbformat.v4.new_markdown_cell(src)
    cell.metadata["tags"] = ["student-hint"]
    return cell


def answer_cell(label: str, number: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(
        f"**Your answer to Exercise {number}** (`{label}`, in words): *double-click to write here.*")
    cell.metadata["tags"] = ["student-answer"]
    return cell


def check_cell(label: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(f'grader.check("{label}")')
    cell.metadata["tags"] = ["student-check", "raises-exception"]
    return cell


def caption_cell(number: str, caption: str, refs: Refs) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(f"**Figure {number}.** {render_roles(caption, refs)}")
    cell.metadata["tags"] = ["student-caption"]
    return cell


GRADER_SETUP = """

# Check your answers with grader.check("<label>"); it needs otter-grader (pip install otter-grader).
try:
    import otter
    grader = otter.Notebook(tests_dir="tests/{doc}")
except ImportError:
    class grader:  # noqa: N801 - stands in for otter.Notebook
        @staticmethod
        def check(label):
            print(f"To check {{label}}, install otter-grader (pip install otter-grader) and restart.")"""
SETUP_CALL = re.compile(r"^setup\(.*\)\s*$", re.MULTILINE)
XMODE = ("\n# Full tracebacks while you work on the exercises (the book itself prints errors on one line).\n"
         "%xmode Context")
