"""Build the student edition: handout notebooks, a publishable branch and a student site.

Usage::

    python tools/make_student.py [--out _build/student] [--no-site-src] [book/01_x.ipynb ...]

(``make student`` runs this, then builds the student site with Jupyter Book.)
Without notebook arguments every notebook chapter in ``_toc.yml`` is converted.
It writes, under ``--out``:

``handouts/``
    one student notebook per chapter (:func:`student_notebook`, ``mode="handout"``):
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
"""

from __future__ import annotations

import argparse
import ast
import builtins
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_numbers import Refs, collect_refs  # noqa: E402
from course_exercises import load_exercises, write_tests  # noqa: E402
from myst_blocks import (  # noqa: E402
    EQ_CLOSE, ROLE, SOLUTION_TAG, TARGET, Block, solution_label, split_blocks, split_target, trim)
from nbtools import toc_files, toc_notebooks  # noqa: E402

STUB_TAGS = ["student-stub", "raises-exception"]
STUDENT_BRANCH = "student"
PROSE_QUESTION = re.compile(
    r"\b(why|when is|when does|which|what does|what happens|explain|show that|is the|does either|"
    r"how large|interpret)\b", re.IGNORECASE)
ADMONITIONS = {"admonition", "note", "tip", "warning", "important", "caution", "attention", "danger",
               "error", "hint", "seealso", "dropdown", "margin", "sidebar"}


# --------------------------------------------------------------------------- MyST -> Markdown

def render_role(role: str, content: str, refs: Refs, before: str = "") -> str:
    """Plain-Markdown text for one MyST role, with the book's numbers."""
    text, target = split_target(content)
    role = role.split(":")[-1] if role.startswith(("prf:", "std:")) else role
    if role == "eq":
        t = refs.labels.get(target)
        num = f"({t.number})" if t else f"({target})"
        return num if re.search(r"(equations?|eqs?\.|and|,)\s*$", before, re.I) else f"Equation {num}"
    if role == "doc":
        t = refs.docs.get(Path(target).name)
        if t is None:
            return text or target
        name = f"Chapter {t.number}" if t.number else f"*{t.title}*"
        if text:
            return f"{text} ({name})" if t.number else text
        return f"{name}, *{t.title}*" if t.number else name
    if role in ("cite", "t", "ts"):
        keys = [k.strip() for k in target.split(",")]
        cites = [refs.citations.get(k, k) for k in keys]
        if role in ("t", "ts"):
            return "; ".join(re.sub(r", (\S+)$", r" (\1)", c) for c in cites)
        return "(" + "; ".join(cites) + ")"
    if role in ("numref", "ref"):
        t = refs.labels.get(target)
        if t is None:
            return text or target
        word = {"figure": "Figure", "equation": "Equation", "exercise": "Exercise", "chapter": "Chapter"}.get(
            t.kind, t.kind.capitalize())
        if role == "numref" and t.number:
            if text:
                return text.replace("%s", t.number).replace("{number}", t.number)
            return f"{word} {t.number}"
        if text:
            return text
        if t.kind == "chapter" and t.number:
            return f"Chapter {t.number}, *{t.title}*"
        if t.number:
            return f"{word} {t.number}"
        return f"*{t.title}*" if t.title else target
    if role == "math":
        return f"${content}$"
    if role == "term":
        return text or target
    return text or target


def render_roles(text: str, refs: Refs) -> str:
    out = []
    pos = 0
    for m in ROLE.finditer(text):
        out.append(text[pos:m.start()])
        role = m["role"]
        if role.startswith("cite"):
            role = "cite:" + role.split(":", 1)[1] if ":" in role else "cite"
            kind = role.split(":", 1)[1] if ":" in role else "p"
            out.append(render_role(kind if kind in ("t", "ts") else "cite", m["content"], refs))
        else:
            out.append(render_role(role, m["content"], refs, before="".join(out)[-30:]))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def render_blocks(text: str, refs: Refs, exercise_numbers: dict[str, str]) -> list[str]:
    """Markdown lines for MyST text: directives made plain, equation labels made ``\\tag``."""
    out: list[str] = []
    for block in split_blocks(text):
        name = block.name
        if name is None:
            for line in block.lines:
                if TARGET.match(line):
                    continue
                e = EQ_CLOSE.match(line)
                if e:
                    t = refs.labels.get(e["label"])
                    out += [f"\\tag{{{t.number}}}" if t else "", "$$"]
                    continue
                out.append(line)
            continue
        body = render_blocks("\n".join(block.body), refs, exercise_numbers)
        if name == "exercise":
            out += exercise_markdown(block, exercise_numbers.get(block.options.get("label", ""), "?"),
                                     body=body)
        elif name in ADMONITIONS:
            title = block.arg or name.capitalize()
            quoted = [f"> {ln}" if ln.strip() else ">" for ln in trim(body)]
            out += [f"> **{title}**", ">", *quoted, ""]
        elif name.startswith("prf:"):
            kind = name.split(":", 1)[1]
            if kind == "proof":
                out += ["*Proof.*", *trim(body), "", "∎", ""]
            else:
                t = refs.labels.get(block.options.get("label", ""))
                head = f"**{kind.capitalize()}" + (f" {t.number}" if t else "") + "**"
                if block.arg:
                    head += f" ({block.arg})"
                out += [head + ".", "", *trim(body), ""]
        elif name == "math":
            t = refs.labels.get(block.options.get("label", ""))
            out += ["$$", *trim(block.body)] + ([f"\\tag{{{t.number}}}"] if t else []) + ["$$", ""]
        elif name in ("code-block", "code", "code-cell"):
            out += [f"```{block.arg.split()[0] if block.arg else ''}", *block.body, "```"]
        elif name == "glossary":
            for ln in block.body:
                out.append(f"**{ln.strip()}**" if ln.strip() and not ln.startswith((" ", "\t")) else ln.strip())
        else:
            out += block.lines
    return out


def exercise_markdown(block: Block, number: str, body: list[str] | None = None) -> list[str]:
    label = block.options.get("label", "")
    title = f"**Exercise {number}" + (f": {block.arg}" if block.arg else "") + ".**"
    if label:
        title += f" (`{label}`)"
    return [title, "", *trim(block.body if body is None else body)]


def _strip_magics(src: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.split("\n"))


def assigned_names(src: str) -> tuple[set[str], set[str]]:
    """(names bound by imports, other names bound) in a code cell."""
    try:
        tree = ast.parse(_strip_magics(src))
    except SyntaxError:
        return set(), set()
    imports: set[str] = set()
    other: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                imports.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            other.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            other.add(node.id)
    return imports, other


def _stmt_names(stmt: ast.stmt) -> tuple[list[str], set[str]]:
    """(names a statement reads before binding them, names it binds)."""
    bound: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and stmt.value is not None:
        inner = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        reads = [n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                 and n.id not in inner]
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            reads.append(stmt.target.id)
        reads += [n.id for t in getattr(stmt, "targets", [getattr(stmt, "target", None)]) if t is not None
                  for n in ast.walk(t) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    else:
        reads = [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                 and n.id not in bound]
    return list(dict.fromkeys(reads)), bound


def free_names(sources: list[str]) -> list[str]:
    """Names the cells read before (or without) binding them, in order of first use."""
    local: set[str] = set()
    free: list[str] = []
    for src in sources:
        try:
            tree = ast.parse(_strip_magics(src))
        except SyntaxError:
            continue
        for stmt in tree.body:
            reads, bound = _stmt_names(stmt)
            free += [n for n in reads if n not in local and n not in free]
            local |= bound
    return free


def earlier_variables(nb: nbformat.NotebookNode) -> dict[str, list[str]]:
    """For each exercise label: the variables of earlier (non-solution) cells its solution uses."""
    imports: set[str] = set()
    defined: set[str] = set()
    uses: dict[str, list[str]] = {}
    open_label: str | None = None
    sol_src: dict[str, list[str]] = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for block in split_blocks(cell.source):
                if block.name == "solution-start":
                    open_label = solution_label(block)
                elif block.name == "solution-end":
                    open_label = None
            continue
        if cell.cell_type != "code":
            continue
        if open_label is not None or SOLUTION_TAG in cell.metadata.get("tags", []):
            if open_label is not None:
                sol_src.setdefault(open_label, []).append(cell.source)
                if open_label not in uses:
                    uses[open_label] = []
                    uses[open_label + "\0defined"] = sorted(defined)  # snapshot
            continue
        i, o = assigned_names(cell.source)
        imports |= i
        defined |= o - i
    result = {}
    for label, sources in sol_src.items():
        before = set(uses[label + "\0defined"])
        result[label] = [n for n in free_names(sources)
                         if n in before and n not in imports and not hasattr(builtins, n)]
    return result


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
        lines.append("# Your answer must define: " + ", ".join(f"`{a}`" for a in _answer_names(answer)) + ".")
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


def _answer_names(answer) -> list[str]:
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


# --------------------------------------------------------------------------- the conversion

def student_notebook(nb: nbformat.NotebookNode, mode: str = "handout", doc: str | None = None,
                     refs: Refs | None = None, exercises: dict[str, dict] | None = None,
                     graded: bool = False) -> nbformat.NotebookNode:
    """Return the student version of a chapter notebook (see the module docstring).

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


# --------------------------------------------------------------------------- site and branch

def site_config(branch: str = STUDENT_BRANCH) -> dict:
    """The book's ``_config.yml`` for the student site: launch buttons open the student branch."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg["title"] = f"{cfg.get('title', 'Book')} (student edition)"
    cfg.setdefault("repository", {})["branch"] = branch
    cfg["repository"]["path_to_book"] = ""
    latex = cfg.get("latex", {}).get("latex_documents")
    if isinstance(latex, dict) and latex.get("targetname"):  # the student PDF: its own file name
        latex["targetname"] = latex["targetname"].replace(".tex", "-student.tex")
    return cfg


BRANCH_README = """# Student notebooks of The Softmax Book

This branch is generated by `make student` and pushed by the book's CI
(`.github/workflows/book.yml`, job `student-branch`) on every push to `main`.
Do not edit it: change the chapters on `main` instead.

`book/NN_*.ipynb` are the chapters with the exercises' solutions removed: each
exercise has a hint, a stub to complete and, for "why" questions, a Markdown
answer cell. Open one in Colab:

    https://colab.research.google.com/github/<owner>/<repo>/blob/student/book/03_overflow.ipynb

or on your own machine (see the README on `main`, "For students").
"""


def build(out: Path, notebooks: list[Path] | None = None, site_src: bool = True) -> None:
    refs = collect_refs()
    exercises = load_exercises()
    notebooks = notebooks or toc_notebooks()
    handouts = out / "handouts"
    branch = out / "branch"
    for path in notebooks:
        print(f"wrote {write_student(path, handouts, 'handout', refs, exercises)}")
    # The publishable branch: handouts where the launch buttons look for them.
    if branch.exists():
        shutil.rmtree(branch)
    (branch / "book").mkdir(parents=True)
    for nb in handouts.glob("*.ipynb"):
        shutil.copy2(nb, branch / "book" / nb.name)
    if (handouts / "tests").is_dir():  # public otter tests, next to the notebooks
        shutil.copytree(handouts / "tests", branch / "book" / "tests")
    for extra in ("binder", "benchmarks/results"):
        if (ROOT / extra).is_dir():
            shutil.copytree(ROOT / extra, branch / extra)
    for extra in ("pyproject.toml", "requirements-student.txt"):
        if (ROOT / extra).is_file():
            shutil.copy2(ROOT / extra, branch / extra)
    if (ROOT / "softmax_nb").is_dir():  # Binder's postBuild installs the package from the branch
        shutil.copytree(ROOT / "softmax_nb", branch / "softmax_nb",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (branch / "README.md").write_text(BRANCH_README)
    print(f"wrote {branch} (the '{STUDENT_BRANCH}' branch)")
    if not site_src:
        return
    site = out / "site"
    if site.exists():
        shutil.rmtree(site, ignore_errors=True)
    (site / "book").mkdir(parents=True)
    for path in notebooks:
        write_student(path, site / "book", "site", refs, exercises)
    for name in toc_files():
        for suffix in (".md",):
            if (ROOT / f"{name}{suffix}").is_file():
                (site / f"{name}{suffix}").parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / f"{name}{suffix}", site / f"{name}{suffix}")
    for extra in ("_ext", "_static", "softmax_nb"):  # the extensions read softmax_nb (version)
        if (ROOT / extra).is_dir():
            shutil.copytree(ROOT / extra, site / extra, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for extra in ("references.bib", "_toc.yml", "pyproject.toml"):
        if (ROOT / extra).is_file():
            shutil.copy2(ROOT / extra, site / extra)
    (site / "_config.yml").write_text(yaml.safe_dump(site_config(), sort_keys=False, allow_unicode=True))
    print(f"wrote {site} (build it with: jupyter-book build {site} -W -n --keep-going)")


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
