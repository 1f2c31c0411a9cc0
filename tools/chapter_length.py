"""How long a chapter takes to read: main-text words, code lines and minutes, with the book's limits.

The one length rule of the book (issue 22), used by ``make test`` (tests/test_chapter_length.py),
by the chapters' "Estimated time" lines and by ``tools/make_course.py --plan``:

* **main text** is the Markdown outside exercises and solutions, and the code cells outside solutions (the
  ``{solution-start}``/``{solution-end}`` markers are read in order, also within one cell; the reviewers' tool
  ``../shared/tools/chapter_length.py`` reads only whether a cell holds a marker, and so counts the solution after a
  cell that closes one solution and opens the next, and drops that cell's own text);
* **words** are runs starting with a letter or digit (``[A-Za-z0-9][\\w'’-]*``); a formula (``$...$`` or
  ``$$...$$``) counts as one word;
* **code lines** are the non-blank lines of those code cells that are not comments;
* **reading minutes** = words / 120 + 6 s per code line;
* **exercise minutes** = the ``minutes`` of book/course/exercises.yml, else 10 / 20 / 40 for ★ / ★★ / ★★★.

A numbered chapter of ``_toc.yml`` may hold at most 2,800 words and 45 reading minutes; the quick tour at most
1,000 words. No code line of any chapter may be wider than 88 characters. Appendices are exempt from the limits.

Usage: ``python tools/chapter_length.py [--check] [NOTEBOOK ...]`` (default: every chapter of ``_toc.yml``).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_numbers import chapter_numbers  # noqa: E402
from nbtools import ROOT  # noqa: E402

MAX_WORDS = 2800
MAX_MINUTES = 45
MAX_TOUR_WORDS = 1000
MAX_CODE_WIDTH = 88
WORDS_PER_MINUTE = 120
SECONDS_PER_CODE_LINE = 6
STAR_MINUTES = {1: 10, 2: 20, 3: 40}
TOUR = "book/00_quick_tour"

_FENCED = re.compile(r"(?ms)^(`{3,}|:{3,})\{(exercise|solution)[^}]*\}.*?^\1\s*$")
_START_END = re.compile(r"(?ms)^(`{3,}|:{3,})\{(exercise|solution)-start\}.*?^\1\{\2-end\}.*?$")
_SOLUTION_SPAN = re.compile(r"(?ms)\{solution-start\}.*?\{solution-end\}")
_MARKER = re.compile(r"\{(?:solution|exercise)-(start|end)\}")
_FORMULA = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$", re.S)
_WORD = re.compile(r"[A-Za-z0-9][\w'’-]*")
_EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise\}\s*(★*)[^\n]*\n(?::[^\n]*\n)*?:label:\s*(\S+)", re.M)
_STATED = re.compile(r"\*\*Estimated time\.\*\* about (\d+) minutes of reading and (\d+) minutes of exercises")


@dataclass(frozen=True)
class Length:
    """Main-text words and code lines of one notebook, and what they cost a reader."""

    words: int
    code_lines: int

    @property
    def minutes(self) -> float:
        """Reading minutes: words / 120 plus 6 s per code line."""
        return self.words / WORDS_PER_MINUTE + self.code_lines * SECONDS_PER_CODE_LINE / 60


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def measure(path: Path) -> Length:
    """Main-text words and code lines of the notebook at ``path`` (see the module docstring)."""
    nb = nbformat.read(path, as_version=4)
    markdown: list[str] = []
    code_lines = 0
    inside = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # walk the cell's markers in order: a cell may close one solution and open the next exercise's
            start = 0
            for marker in _MARKER.finditer(cell.source):
                if not inside:
                    markdown.append(cell.source[start:marker.start()])
                inside, start = marker.group(1) == "start", marker.end()
            if not inside:
                markdown.append(cell.source[start:])
        elif cell.cell_type == "code" and not inside and not _is_solution(cell):
            code_lines += sum(1 for line in cell.source.splitlines()
                              if line.strip() and not line.strip().startswith("#"))
    text = "\n".join(markdown)
    for pattern in (_FENCED, _START_END, _SOLUTION_SPAN):
        text = pattern.sub(" ", text)
    text = _FORMULA.sub(" f ", text)
    return Length(len(_WORD.findall(text)), code_lines)


def exercise_minutes(path: Path) -> dict[str, int]:
    """Minutes per exercise label of the notebook: exercises.yml's ``minutes``, else by its stars."""
    course = yaml.safe_load((ROOT / "book" / "course" / "exercises.yml").read_text())["exercises"]
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return {label: course.get(label, {}).get("minutes", STAR_MINUTES.get(len(stars), 20))
            for _, stars, label in _EXERCISE.findall(text)}


def stated_minutes(path: Path) -> tuple[int, int] | None:
    """The (reading, exercises) minutes the chapter's "Estimated time" line states, or None."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (m := _STATED.search(cell.source)):
            return int(m.group(1)), int(m.group(2))
    return None


def wide_code_lines(path: Path) -> list[str]:
    """Code lines wider than 88 characters, as ``'cell i: line'`` (cells removed from the page are exempt)."""
    nb = nbformat.read(path, as_version=4)
    return [f"cell {i}: {line}" for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and "remove-cell" not in cell.metadata.get("tags", [])
            for line in cell.source.splitlines() if len(line) > MAX_CODE_WIDTH]


def numbered_chapters() -> list[str]:
    """The numbered chapters of ``_toc.yml``, in order, as ``book/<name>``."""
    return [name for name, number in chapter_numbers().items() if number is not None]


def problems(name: str) -> list[str]:
    """What breaks the book's length rules in chapter ``name`` (``book/<name>``); empty when none."""
    path = ROOT / f"{name}.ipynb"
    length = measure(path)
    found = []
    limit = MAX_TOUR_WORDS if name == TOUR else MAX_WORDS
    if length.words > limit:
        found.append(f"{length.words} words of main text (limit {limit})")
    if name != TOUR and length.minutes > MAX_MINUTES:
        found.append(f"{length.minutes:.0f} minutes of reading (limit {MAX_MINUTES})")
    stated = stated_minutes(path)
    reading, exercises = math.ceil(length.minutes), sum(exercise_minutes(path).values())
    if stated is None:
        found.append("no 'Estimated time' line")
    elif abs(stated[0] - length.minutes) >= 1 or stated[1] != exercises:
        found.append(f"states {stated[0]} + {stated[1]} minutes; the rule gives {reading} (from "
                     f"{length.minutes:.1f}) + {exercises}")
    found += [f"code line over {MAX_CODE_WIDTH} characters: {line}" for line in wide_code_lines(path)]
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if a chapter breaks a rule")
    args = parser.parse_args(argv)
    names = ([str(p.resolve().relative_to(ROOT).with_suffix("")) for p in args.notebooks]
             or [TOUR, *numbered_chapters()])
    bad = 0
    for name in names:
        length = measure(ROOT / f"{name}.ipynb")
        found = problems(name)
        bad += bool(found)
        print(f"{name}: {length.words} words, {length.code_lines} code lines, {length.minutes:.0f} min"
              + "".join(f"\n  {p}" for p in found))
    print(f"{bad} of {len(names)} chapters break a rule")
    return 1 if (args.check and bad) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
