"""Build the student edition: handout notebooks, a publishable branch and a student site.

Usage::

    python tools/make_student.py [--out _build/student] [--no-site-src] [book/01_x.ipynb ...]

(``make student`` runs this, then builds the student site with Jupyter Book.)
Without notebook arguments every notebook chapter in ``_toc.yml`` is converted.
It writes, under ``--out``:

``handouts/``
    one student notebook per chapter (``student_convert.student_notebook``, ``mode="handout"``):
    what students open in Jupyter or Colab.
``branch/``
    the tree that CI force-pushes to the ``student`` branch (see
    ``.github/workflows/book.yml``): ``book/NN_x.ipynb`` (the handouts),
    ``binder/``, ``benchmarks/results/`` and a README. The Colab and Binder
    buttons of the student site open these notebooks.
``site/``
    the source of the student site: the chapters with every solution removed
    (``mode="site"``: MyST kept, so cross-references and numbering still
    work), the other pages, ``_toc.yml`` and a generated ``_config.yml`` whose
    launch buttons point at the ``student`` branch. ``make student`` renders
    it to ``site/_build/html`` with the same ``-W -n`` gate as the book. The
    gated ``{solution-start}``/``{solution-end}`` form that makes
    sphinx-exercise's ``hide_solutions`` crash never reaches this build:
    there are no solutions left to hide.

How a chapter's solutions are written (tests/test_student.py enforces it):
each exercise is a ``{exercise}`` directive with a ``:label:``; its solution is
gated, ``{solution-start} <label>`` ... ``{solution-end}``, with the solution
code in code cells tagged ``solution`` in between (a plain
``{solution} <label>`` directive holds a prose-only solution).

In both modes:

- every solution block is removed (fences, prose, code);
- before the first solution cell come a **hint** (from
  ``book/course/exercises.yml``; a collapsed dropdown in the site, a
  collapsed ``<details>`` cell in the handout) and then a **stub**: a code
  cell that names the exercise, says which variables of earlier cells the
  book's solution uses, gives the answer interface (``def my_log_softmax(z):``
  or ``T_half = ...``) and raises ``NotImplementedError`` (tags
  ``student-stub`` and ``raises-exception``). If the exercise is graded, a
  ``grader.check("<label>")`` cell follows;
- questions that ask why, when or which, and "show that" proofs, get a
  Markdown answer cell;
- the set-up cell switches IPython back to full tracebacks (``%xmode
  Context``), which the book's one-line error mode would hide.

In handout mode only (Jupyter and Colab render no MyST):

- ``{eq}``, ``{numref}``, ``{doc}``, ``{ref}``, ``{cite}``, ``{term}`` and
  other roles become plain text with the book's numbers ("Equation (3.2)",
  "Figure 6.3", "Chapter 5", "(Lin et al., 2017)");
- equation labels become ``\\tag{3.2}``; target lines ``(label)=`` go;
- admonitions become block quotes with a bold title; ``{exercise}`` becomes
  ``**Exercise 3.2.** (`ex-ovf-2`)`` numbered as in the book; theorems and
  proofs become bold/italic paragraphs;
- every captioned figure gets a caption cell under it (``**Figure 3.4.** ...``);
- all outputs and execution counts are cleared.

In site mode the non-solution outputs are kept (the site shows the figures).

This file is the command line; the work is done stage by stage in
``tools/``, each module importing only the ones above it:

- ``myst_blocks``: MyST as the chapters write it (directives, targets, roles,
  the solution markup);
- ``book_numbers``: the book's numbering of chapters, equations, figures,
  exercises and theorems, and the citations;
- ``course_exercises``: ``book/course/exercises.yml`` and the otter test
  files made from it (shared with ``tools/grade.py``);
- ``myst_to_markdown``: MyST -> plain Markdown with those numbers (handouts);
- ``solution_names``: the earlier variables each solution uses;
- ``student_cells``: the stub, hint, answer, check and caption cells;
- ``student_convert``: a chapter -> its handout or site page;
- ``student_tree``: the ``handouts/``, ``branch/`` and ``site/`` folders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from student_tree import build  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    parser.add_argument("--no-site-src", action="store_true", help="only the handouts and the branch")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    build(args.out, [p.resolve() for p in args.notebooks] or None, site_src=not args.no_site_src)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
