"""Insert the self-check directive cells of ``book/selfcheck/<chapter>.yml`` into the chapter notebooks.

Usage::

    python tools/insert_selfcheck.py [--check] [--root DIR] [CHAPTER ...]

``CHAPTER`` is a file stem (``03_overflow``) or ``book/03_overflow``; without one, every
chapter with a data file. Each question becomes one markdown cell

    ```{selfcheck} <question id>
    ```

with the cell id ``selfcheck-<question id>`` and the tag ``selfcheck``, placed at the end
of the section named by the question's ``section`` key: just before the next heading of
the same or a higher level (``##`` ends a ``##`` section, not a ``###`` one), or at the
end of the notebook. When that heading does not open its cell (the section's last
paragraph shares a cell with it, as a chapter's last section often shares one with
"## Summary"), the question goes before that cell, so the paragraph follows it. With a
``before`` key, it goes just before that heading of the section instead. Questions of one
place follow the data file's order. Nothing else changes: no code cell, output or other
cell is touched.

It is idempotent: a question whose cell is already in the notebook (anywhere) is left
where it is. ``--check`` writes nothing and exits 1 when a question has no cell yet.
A section or heading that does not exist, a ``before`` heading that does not open its cell,
or a section that begins and ends in one cell is an error.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
import selfcheck  # noqa: E402

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
TAG = "selfcheck"


def directive_source(qid: str) -> str:
    return f"```{{selfcheck}} {qid}\n```"


def cell_id(qid: str) -> str:
    return f"selfcheck-{qid}"


def headings(cell: nbformat.NotebookNode) -> list[tuple[int, int, str]]:
    """(line index, level, text) of the Markdown headings of a cell (outside code fences)."""
    out = []
    fence = None
    for i, line in enumerate(cell.source.split("\n")):
        m = re.match(r"^(`{3,}|~{3,})", line)
        if m:
            fence = None if fence and line.startswith(fence) else (fence or m[1])
            continue
        h = HEADING.match(line) if fence is None else None
        if h:
            out.append((i, len(h[1]), h[2]))
    return out


def present(nb: nbformat.NotebookNode, qid: str) -> bool:
    pattern = re.compile(rf"^(`{{3,}}|:{{3,}})\{{selfcheck\}}\s+{re.escape(qid)}\s*$", re.M)
    return any(c.get("id") == cell_id(qid) or (c.cell_type == "markdown" and pattern.search(c.source))
               for c in nb.cells)


def _at_top(cell: nbformat.NotebookNode, line: int) -> bool:
    """Whether line ``line`` of a markdown cell has only target lines ``(label)=`` or blanks above it."""
    return not any(ln.strip() and not re.match(r"^\([\w.:-]+\)=\s*$", ln) for ln in cell.source.split("\n")[:line])


def section_span(nb: nbformat.NotebookNode, section: str) -> tuple[int, int, bool]:
    """(heading cell, end cell, exact) of the section whose heading has the words of ``section``.

    The end cell holds the next heading of the same or a higher level (``len(nb.cells)`` when there
    is none); ``exact`` says whether that heading opens its cell, so that a cell inserted before it
    ends the section.
    """
    want = selfcheck.slug(section)
    start = level = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for line, lev, text in headings(cell):
            if start is None:
                if selfcheck.slug(text) == want:
                    start, level = index, lev
            elif lev <= level:
                return start, index, index != start and _at_top(cell, line)
    if start is None:
        raise ValueError(f"no heading {section!r} in the notebook")
    return start, len(nb.cells), True


def heading_cell(nb: nbformat.NotebookNode, heading: str, lo: int, hi: int) -> int:
    """Index of the cell in ``(lo, hi]`` that opens with the heading ``heading``."""
    want = selfcheck.slug(heading)
    for index in range(lo + 1, min(hi, len(nb.cells) - 1) + 1):
        cell = nb.cells[index]
        if cell.cell_type == "markdown":
            for line, _, text in headings(cell):
                if selfcheck.slug(text) == want:
                    if not _at_top(cell, line):
                        raise ValueError(f"the heading {heading!r} does not open its cell")
                    return index
    raise ValueError(f"no heading {heading!r} inside the section")


def position(nb: nbformat.NotebookNode, q: selfcheck.Question) -> int:
    """Where the directive cell of ``q`` goes: before ``q.before``, else at the end of ``q.section``."""
    start, end, _ = section_span(nb, q.section)
    if q.before:
        return heading_cell(nb, q.before, start, end)
    if end == start:
        raise ValueError(f"the section {q.section!r} begins and ends in one markdown cell")
    return end


def insert(nb: nbformat.NotebookNode, questions: list[selfcheck.Question]) -> list[str]:
    """Insert the missing directive cells into ``nb`` in place; return the ids inserted.

    The end of a section is found again after each insertion; the cells inserted hold no
    heading, so a second question of the same section lands after the first.
    """
    done = []
    for q in questions:
        if present(nb, q.id):
            continue
        try:
            at = position(nb, q)
        except ValueError as exc:
            raise ValueError(f"question {q.id}: {exc}") from exc
        cell = nbformat.v4.new_markdown_cell(directive_source(q.id))
        cell["id"] = cell_id(q.id)
        cell.metadata["tags"] = [TAG]
        nb.cells.insert(at, cell)
        done.append(q.id)
    ids = [c.get("id") for c in nb.cells]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate cell ids after inserting: {sorted(duplicates)}")
    return done


def run(chapters: list[str], root: Path = ROOT, check: bool = False) -> int:
    bank = selfcheck.load_bank(ROOT)
    names = [c if c.startswith("book/") else f"book/{c}" for c in chapters] or sorted(bank)
    missing = 0
    for name in names:
        if name not in bank:
            raise SystemExit(f"no data file for {name} in {selfcheck.DATA_DIR}")
        path = root / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        if check:
            lacking = [q.id for q in bank[name] if not present(nb, q.id)]
            missing += len(lacking)
            print(f"{name}: " + (f"no cell yet for {', '.join(lacking)}" if lacking else "every question has its cell"))
            continue
        done = insert(nb, bank[name])
        if done:
            nbformat.validate(nb)
            path.write_text(nbformat.writes(nb) + "\n")
        print(f"{name}: inserted {', '.join(done) if done else 'nothing (all present)'}")
    return 1 if check and missing else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a cell is missing")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's folder (default: this repository)")
    args = parser.parse_args(argv)
    return run(args.chapters, args.root, args.check)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
