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


@pytest.mark.skipif(not SHARED_TOOL.is_file(), reason="the reviewers' ../shared/tools/chapter_length.py is absent")
def test_measure_agrees_with_the_reviewers_tool():
    paths = [str(ROOT / f"{name}.ipynb") for name in CHAPTERS]
    out = subprocess.run([sys.executable, str(SHARED_TOOL), *paths], capture_output=True, text=True).stdout
    for name, line in zip(CHAPTERS, out.splitlines()):
        length = chapter_length.measure(ROOT / f"{name}.ipynb")
        assert f": {length.words} words, {length.code_lines} code lines" in line, line
