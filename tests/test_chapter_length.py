"""The book's length rule (tools/chapter_length.py): one sitting per chapter, stated times that follow the rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import chapter_length  # noqa: E402

CHAPTERS = [chapter_length.TOUR, *chapter_length.numbered_chapters()]
SHARED_TOOL = ROOT.parent / "shared" / "tools" / "chapter_length.py"


@pytest.mark.parametrize("name", CHAPTERS, ids=[Path(c).name for c in CHAPTERS])
def test_chapter_fits_one_sitting_and_states_its_time(name):
    found = chapter_length.problems(name)
    assert not found, f"{name}:\n  " + "\n  ".join(found)


def test_measure_counts_only_the_main_text(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("One two three, with $e^{z_i} / \\sum_j e^{z_j}$ and\n$$\na + b\n$$\n"),
        nbformat.v4.new_markdown_cell("```{exercise} ★ Title words\n:label: ex-t-1\n\nNot counted at all.\n```"),
        nbformat.v4.new_markdown_cell("````{solution-start} ex-t-1\n````\nHidden words here."),
        nbformat.v4.new_code_cell("x = 1  # counted\ny = 2"),
        nbformat.v4.new_markdown_cell("````{solution-end}\n````"),
        nbformat.v4.new_code_cell("# a comment\n\nz = 3\n"),
        nbformat.v4.new_code_cell("w = 4", metadata={"tags": ["solution"]}),
    ]
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    length = chapter_length.measure(path)
    assert (length.words, length.code_lines) == (7, 1)   # One two three with $.$ and $$.$$; z = 3
    assert length.minutes == pytest.approx(7 / 120 + 0.1)
    assert chapter_length.exercise_minutes(path) == {"ex-t-1": 10}


def _notebook(tmp_path: Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_cell_that_closes_one_solution_and_opens_the_next_is_read_in_order(tmp_path):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    path = _notebook(tmp_path, [
        md("Main one."),
        md("## Summary\n\nMain two three.\n\n````{solution-start} ex-1\n````\nSolution words."),
        md("More solution words here."),
        md("````{solution-end}\n````\n```{exercise} ★ Next\n:label: ex-2\n\nText.\n```\n"
           "````{solution-start} ex-2\n````"),
        md("Hidden solution text of the second exercise."),
        md("````{solution-end}\n````\nClosing main words."),
    ])
    assert chapter_length.measure(path).words == 9  # Main one, ## Summary Main two three, Closing main words


@pytest.mark.skipif(not SHARED_TOOL.is_file(), reason="the reviewers' ../shared/tools/chapter_length.py is absent")
def test_measure_agrees_with_the_reviewers_tool_where_no_cell_mixes_markers(tmp_path):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    path = _notebook(tmp_path, [
        md("# Title\n\nSome words, with $x^2$ and a [link](https://example.org) and `code`."),
        code("x = 1\n# comment\ny = 2"),
        md("```{exercise} ★ Ex\n:label: ex-1\n\nExercise words.\n```"),
        md("````{solution-start} ex-1\n````"),
        md("Solution words."),
        code("z = 3", metadata={"tags": ["solution"]}),
        md("````{solution-end}\n````"),
        md("Closing words, 2,800 of them."),
    ])
    out = subprocess.run([sys.executable, str(SHARED_TOOL), str(path)], capture_output=True, text=True).stdout
    length = chapter_length.measure(path)
    assert f": {length.words} words, {length.code_lines} code lines" in out.splitlines()[0], out
