"""Sphinx extension: every chapter notebook in JupyterLite, with ``softmax_nb`` importable.

jupyterlite-sphinx (``_config.yml``) builds a JupyterLite site into ``_build/html/lite``
at the end of every HTML build (``jupyter lite build``). This extension prepares what
that build reads and links the chapters to it:

- **Lite copies.** Every notebook page of the build (every ``.ipynb`` page of
  ``_toc.yml``) is copied into the lite contents by :func:`lite_notebook`, a
  source transformation: the Colab install cell and the student edition's
  grading cells (``grader.check``, the otter set-up) are dropped, MyST roles
  and targets become plain text (:func:`plain_roles`), directives (exercises,
  results, proofs, admonitions) Markdown (:func:`plain_directives`), outputs are cleared, the kernel is Pyodide's (``python``), a first Markdown cell says where
  the reader is, and a cell that cannot run in Pyodide (:func:`scan_source`:
  PyTorch, dask, threads, processes, sockets, used without an ``ImportError``
  fallback) is wrapped by :func:`guard_source` so that in the browser
  (``sys.platform == "emscripten"``) it prints one line saying why it is skipped
  and elsewhere runs unchanged. The committed notebooks are never modified.
- **The package.** The wheel of ``softmax_nb`` is built from the source tree
  (``pip wheel --no-deps``, cached by the hash of its sources) into the lite
  ``pypi/`` folder, which piplite indexes. A Pyodide lock file
  (``lite/static/softmax-book/pyodide-lock.json``, :func:`site_lock`) is the
  lock of the Pyodide release the pinned kernel expects (from the npm
  ``pyodide`` package in ``.venv/pyodide``, ``make lite-deps``) plus an entry
  for ``softmax-nb`` whose dependencies are the package's and its ``[book]``
  extra's that Pyodide has; the kernel's ``loadPyodideOptions.lockFileURL``
  points at it, so ``import softmax_nb`` loads the package, numpy, scipy,
  matplotlib, scikit-learn and mpmath with no ``%pip`` line (the kernel loads
  lock packages from a cell's imports). Without that npm package the lite
  copies get a first ``%pip install`` cell instead.
- **Pyodide.** By default Pyodide and its packages come from its CDN (the
  kernel's default ``pyodideUrl``). ``PYODIDE_DIST=/path/to/pyodide`` (a
  directory holding ``pyodide.mjs`` and ``pyodide-lock.json``) copies that
  distribution into the site (``lite/static/pyodide``) and points the kernel
  and the lock at it. Pure-Python wheels the kernel needs that Pyodide lacks
  (``comm``) are shipped from ``.venv/lite-wheels`` (``make lite-deps``).
- **Incremental.** When nothing the lite build reads has changed (the staged
  files, ``PYODIDE_DIST``, the JupyterLite packages' versions) and the site is
  there, jupyterlite-sphinx's ``jupyter lite build`` is skipped.
- **Pages.** Every notebook page gets, under its title, a "Run this chapter in
  your browser" link to its lite copy and a sentence, from the same scan, saying
  whether every cell runs there. The scan of every page is written to
  ``lite/browser-support.json``.

jupyterlite-sphinx also adds a Google Fonts stylesheet and its own script to
every page; this extension removes them (the pages load nothing from the
network and use none of its directives).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat

LITE_DIR = "lite"  # jupyterlite_sphinx.JUPYTERLITE_DIR: the site under the HTML output
APP = "notebooks"  # the JupyterLite app the chapter links open (Jupyter Notebook's interface)
LOCK_DIR = "static/softmax-book"  # the site's lock file, relative to the lite root
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
PACKAGE = "softmax-nb"
IMPORT_NAME = "softmax_nb"
COLAB_TAG = "colab-install"
CHECK_TAG = "student-check"
SUPPORT_JSON = "browser-support.json"
MARK = "sbk-lite"

# What Pyodide cannot do. Importing these modules is what needs them:
MODULES = {"torch": "torch", "torchvision": "torch", "dask": "dask", "distributed": "dask"}
# ... while from these only the calls that start threads, processes or connections do.
RISKY_CALLS = {
    "threading": {"Thread": "threads", "Timer": "threads"},
    "_thread": {"start_new_thread": "threads", "start_new": "threads"},
    "concurrent": {"ThreadPoolExecutor": "threads", "ProcessPoolExecutor": "processes"},
    "multiprocessing": {"Pool": "processes", "Process": "processes", "ThreadPool": "threads"},
    "subprocess": {n: "processes" for n in ("run", "Popen", "call", "check_call", "check_output",
                                            "getoutput", "getstatusoutput")},
    "os": {n: "processes" for n in ("fork", "forkpty", "system", "popen", "posix_spawn", "posix_spawnp",
                                    "execv", "execve", "spawnv", "spawnl")},
    "socket": {n: "sockets" for n in ("socket", "create_connection", "create_server", "socketpair")},
    "urllib": {"urlopen": "sockets", "urlretrieve": "sockets"},
}
# Functions of softmax_nb that need one of them (tests/test_lite.py checks the package against this list).
CALLS = {"sharded_cross_entropy": "dask"}
REASONS = {
    "torch": "PyTorch has no Pyodide build",
    "dask": "dask is not part of Pyodide, and its schedulers need threads",
    "threads": "Pyodide cannot start threads",
    "processes": "Pyodide cannot start processes",
    "sockets": "Pyodide has no network sockets",
}
NAMES = {"torch": "PyTorch", "dask": "dask", "threads": "threads", "processes": "subprocesses",
         "sockets": "network access"}
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


# --------------------------------------------------------------------------- scanning
@dataclass(frozen=True)
class Finding:
    """A code cell (index in the committed notebook) that uses ``what`` (a key of :data:`REASONS`)."""

    cell: int
    what: str
    optional: bool  # inside ``try: ... except ImportError``: the cell skips it by itself

    @property
    def reason(self) -> str:
        return REASONS[self.what]


def python_source(source: str) -> str:
    """A cell's source as plain Python (IPython's magics and ``!`` commands become calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(t, ast.Name) and t.id in IMPORT_ERRORS for t in types):
            return True
    return False


def _root_and_attr(func: ast.expr) -> tuple[str | None, str | None]:
    """``a.b.c(...)`` -> ("a", "c"); ``c(...)`` -> (None, "c")."""
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        node = func.value
        while isinstance(node, ast.Attribute):
            node = node.value
        return (node.id if isinstance(node, ast.Name) else None), func.attr
    return None, None


def scan_source(source: str, ipython: bool = True) -> list[tuple[str, bool]]:
    """``(what, optional)`` for each use in ``source`` of something Pyodide lacks.

    ``what`` is a key of :data:`REASONS`: importing PyTorch or dask, calling a
    function of :data:`CALLS`, or calling what starts a thread, a process or a
    connection (:data:`RISKY_CALLS`, through the module or a name imported from
    it; a ``!command`` line counts as a process). ``optional`` is true when the
    use sits in the body of a ``try`` whose handler catches ``ImportError``: the
    cell then runs in the browser, skipping that part. ``ipython=False`` reads
    ``source`` as plain Python (a module of the package).
    """
    try:
        tree = ast.parse(python_source(source) if ipython else source)
    except SyntaxError:
        return []
    return [(what, optional) for what, optional, _ in _uses(tree)]


def _uses(tree: ast.Module) -> list[tuple[str, bool, int]]:
    """``(what, optional, index of the top-level statement)`` for each use (see :func:`scan_source`)."""
    modules: dict[str, str] = {}  # local name -> top-level module
    names: dict[str, tuple[str, str]] = {}  # local name -> (top-level module, name in it)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                modules[alias.asname or top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            for alias in node.names:
                names[alias.asname or alias.name] = (top, alias.name)
                modules.setdefault(alias.asname or alias.name, top)  # from concurrent import futures
    found: list[tuple[str, bool, int]] = []

    def call_needs(func: ast.expr) -> str | None:
        root, attr = _root_and_attr(func)
        if attr in CALLS:
            return CALLS[attr]
        if root is None and attr in names:
            top, real = names[attr]
            return RISKY_CALLS.get(top, {}).get(real)
        if root is not None and root in modules:
            return RISKY_CALLS.get(modules[root], {}).get(attr or "")
        if (attr in {"system", "getoutput"} and isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Call) and getattr(func.value.func, "id", None) == "get_ipython"):
            return "processes"  # a `!command` line
        return None

    def visit(node: ast.AST, guarded: bool, top: int) -> None:
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            inner = guarded or _catches_import_error(node)  # type: ignore[arg-type]
            for child in node.body:  # type: ignore[attr-defined]
                visit(child, inner, top)
            for part in (node.handlers, node.orelse, node.finalbody):  # type: ignore[attr-defined]
                for child in part:
                    visit(child, guarded, top)
            return
        what = None
        if isinstance(node, ast.Import):
            what = next((MODULES[a.name.split(".")[0]] for a in node.names if a.name.split(".")[0] in MODULES), None)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            what = MODULES.get(node.module.split(".")[0])
        elif isinstance(node, ast.Call):
            what = call_needs(node.func)
        if what:
            found.append((what, guarded, top))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded, top)

    for index, stmt in enumerate(tree.body):
        visit(stmt, False, index)
    return found


def scan_notebook(nb: nbformat.NotebookNode) -> list[Finding]:
    """Every use of something Pyodide lacks, cell by cell (the Colab install cell excluded)."""
    out: list[Finding] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or COLAB_TAG in cell.metadata.get("tags", []):
            continue
        seen = set()
        for what, optional in scan_source(cell.source):
            if (what, optional) not in seen:
                seen.add((what, optional))
                out.append(Finding(i, what, optional))
    return out


def guarded_cells(findings: list[Finding]) -> dict[int, list[str]]:
    """Cell index -> what it needs, for the cells the lite copy skips in the browser."""
    cells: dict[int, list[str]] = {}
    for f in findings:
        if not f.optional and f.what not in cells.setdefault(f.cell, []):
            cells[f.cell].append(f.what)
    return cells


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def status_sentence(findings: list[Finding]) -> str:
    """What a reader can expect in the browser, in one sentence."""
    skipped = guarded_cells(findings)
    optional = [f for f in findings if f.optional and f.cell not in skipped]
    if skipped:
        needs = _join(sorted({NAMES[w] for ws in skipped.values() for w in ws}))
        n = len(skipped)
        head = (f"In {n} cell{'s' if n > 1 else ''}, the lines that need {needs} are skipped in the browser "
                "with a note saying why; everything else runs there")
    else:
        head = "Every cell runs in the browser"
    if not optional:
        return head + "."
    what = _join(sorted({NAMES[f.what] for f in optional}))
    n = len({f.cell for f in optional})
    return (f"{head} (the optional {what} check{'s' if n > 1 else ''} in {n} cell{'s' if n > 1 else ''} "
            f"skip{'' if n > 1 else 's'} {'themselves' if n > 1 else 'itself'} there, as anywhere {what} "
            "is not installed).")


# --------------------------------------------------------------------------- the lite copies
def _bound(stmt: ast.stmt) -> set[str]:
    names = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _loaded(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def skipped_statements(tree: ast.Module) -> set[int]:
    """Top-level statements the browser must skip: those using what Pyodide lacks, and those using their results."""
    skip = {top for _, optional, top in _uses(tree) if not optional}
    bound: set[str] = set()
    for i, stmt in enumerate(tree.body):
        if i in skip:
            bound |= _bound(stmt)
        elif _loaded(stmt) & bound:
            skip.add(i)
            bound |= _bound(stmt)
    return skip


def guard_source(source: str, reason: str) -> str:
    """``source`` with the statements Pyodide cannot run skipped in the browser, with a one-line note.

    The cell becomes plain Python (IPython syntax transformed first). Each run
    of top-level statements that needs what Pyodide lacks (or uses what such a
    statement defined) is indented under ``if sys.platform == "emscripten":
    print(note) else:``; everything else runs in the browser too, so the
    variables later cells need still exist. The note is printed once. A skipped
    last expression is still displayed elsewhere. A block whose text would
    change when indented (a multi-line string) runs through ``exec`` instead.
    ``reason`` is one line.
    """
    code = python_source(source).rstrip("\n")
    tree = ast.parse(code)
    skip = skipped_statements(tree)
    if not skip:
        return source
    lines = code.split("\n")
    chunks: list[tuple[list[str], bool]] = []  # (lines, skipped), whole statements with their leading comments
    end = 0
    for i, stmt in enumerate(tree.body):
        last = stmt.end_lineno or stmt.lineno
        if chunks and stmt.lineno <= end:  # shares a line with the previous statement
            chunks[-1] = (chunks[-1][0] + lines[end:last], chunks[-1][1] or i in skip)
        else:
            chunks.append((lines[end:last], i in skip))
        end = max(end, last)
    if chunks:
        chunks[-1] = (chunks[-1][0] + lines[end:], chunks[-1][1])
    final = tree.body[-1]
    if (chunks[-1][1] and isinstance(final, ast.Expr) and final.lineno == final.end_lineno
            and not code.rstrip().endswith(";") and chunks[-1][0] and chunks[-1][0][-1].strip()):
        expr = lines[final.lineno - 1]
        if chunks[-1][0][-1] == expr and not expr.startswith((" ", "\t")):
            chunks[-1][0][-1] = f"_sbk_value = {expr}\nif _sbk_value is not None:\n    display(_sbk_value)"
    merged: list[tuple[list[str], bool]] = []
    for chunk, skipped in chunks:
        if merged and merged[-1][1] == skipped:
            merged[-1] = (merged[-1][0] + chunk, skipped)
        else:
            merged.append((chunk, skipped))
    out = [f"# In the browser (JupyterLite), the lines below that Pyodide cannot run are skipped: {reason}.",
           "import sys"]
    noted = False
    for chunk, skipped in merged:
        body = "\n".join(chunk)
        if not skipped:
            out.append(body)
            continue
        note = f"    print({('Skipped in the browser: ' + reason + '.')!r})" if not noted else "    pass"
        noted = True
        head = f'if sys.platform == "emscripten":\n{note}\nelse:\n'
        block = head + textwrap.indent(body, "    ", lambda line: True)
        test = ast.parse(block).body[-1]
        original = [ast.dump(n) for n in ast.parse(body).body]
        if not isinstance(test, ast.If) or [ast.dump(n) for n in test.orelse] != original:
            block = head + f"    exec({body!r})"
        out.append(block)
    return "\n".join(out)


def strip_grading(source: str) -> str:
    """``source`` without the student edition's grading: the otter set-up (the ``try: import otter``
    block and its comment) and a stub's "Check it with grader.check(...)" line."""
    lines = [line for line in source.split("\n") if not line.startswith("# Check it with grader.check(")]
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("try:") and i + 1 < len(lines) and "import otter" in lines[i + 1]:
            while out and (out[-1].startswith("# Check your answers with grader.check") or not out[-1].strip()):
                out.pop()
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i][0] in " \t"
                                      or lines[i].startswith(("except", "else:", "finally:"))):
                i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out).rstrip("\n")


ROLE = re.compile(r"\{([a-z][\w:-]*)\}`([^`]+)`")
TARGET_LINE = re.compile(r"^\([\w:.-]+\)=[ \t]*\n?", re.M)
EQ_LABEL = re.compile(r"(\$\$)[ \t]*\([\w:.-]+\)[ \t]*$", re.M)


def plain_roles(text: str, titles: dict[str, str] | None = None) -> str:
    """MyST's inline syntax as text JupyterLite can show: roles as their text, no target lines or equation labels.

    ``{term}`logits <logit>``` -> ``logits``, ``{doc}`09_softmax_at_scale``` ->
    ``09_softmax_at_scale``, ``{eq}`eq-x``` -> ``(eq-x)``, ``{cite}`a2020``` ->
    ``(a2020)``, ``{math}`x``` -> ``$x$``; a ``{ref}`` or ``{prf:ref}`` to a label of ``titles``
    (:func:`label_titles`) -> its title. Directives (fenced blocks) stay as they are.
    """
    def role(m: re.Match) -> str:
        name, content = m[1].split(":")[-1], m[2]
        text = re.sub(r"\s*<[^<>]+>$", "", content).strip() or content
        if name == "ref" and titles and content in titles:
            return titles[content]
        if name == "math":
            return f"${content}$"
        if name in ("eq", "cite", "cite:p", "p", "t"):
            return f"({text})"
        return text

    return EQ_LABEL.sub(r"\1", TARGET_LINE.sub("", ROLE.sub(role, text)))


def label_titles(nb: nbformat.NotebookNode) -> dict[str, str]:
    """What a reference to each label of the notebook's results and exercises reads as in a lite copy.

    ``prop-x`` -> ``Proposition “Title”``, ``ex-x`` -> ``Exercise “★ Title”`` (labels of other pages
    stay as they are).
    """
    titles = {}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            m = DIRECTIVE.match(line)
            kind = m and (PRF_NAMES.get(m["name"]) or ("Exercise" if m["name"] == "exercise" else None))
            if not m or not kind:
                continue
            j = i + 1
            while j < len(lines) and OPTION.match(lines[j]):
                label = re.match(r"^:label:\s*(\S+)", lines[j])
                if label:
                    titles[label[1]] = f"{kind} “{m['args']}”" if m["args"] else kind
                j += 1
    return titles


DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<args>.*?)[ \t]*$")
OPTION = re.compile(r"^:[\w-]+:")
PRF_NAMES = {"prf:theorem": "Theorem", "prf:proposition": "Proposition", "prf:lemma": "Lemma",
             "prf:corollary": "Corollary", "prf:definition": "Definition"}


def plain_directives(text: str) -> str:
    """MyST directives as Markdown that JupyterLite renders (the book's page shows the real thing).

    An exercise or a result becomes a bold heading over its body (``**Exercise: ★ Title**``,
    ``**Proposition (Title).**``); a proof is *Proof.* ... ∎; an admonition a quote with its title in
    bold; ``{solution-start}`` becomes **Solution.**, ``{solution-end}`` nothing; a ``{selfcheck}``
    says that its questions are on the chapter's page. Options (``:label:``, ``:class:``) are
    dropped, nested directives converted too; code fences and other directives stay as they are.
    """
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        m = DIRECTIVE.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence, name, args = m["fence"], m["name"], m["args"]
        j = i + 1
        while j < len(lines) and OPTION.match(lines[j]):
            j += 1
        k = j
        while k < len(lines) and lines[k].strip() != fence:
            k += 1
        body = plain_directives("\n".join(lines[j:k]).strip("\n"))
        out.extend(_directive_markdown(name, args, body, "\n".join(lines[i:k + 1])).split("\n"))
        i = k + 1
    return "\n".join(out)


def _directive_markdown(name: str, args: str, body: str, original: str) -> str:
    """One directive as Markdown (see :func:`plain_directives`)."""
    def join(head: str) -> str:
        return f"{head}\n\n{body}" if body else head

    if name == "exercise":
        return join(f"**Exercise: {args}**" if args else "**Exercise**")
    if name == "solution-start":
        return "**Solution.**"
    if name == "solution-end":
        return ""
    if name == "selfcheck":
        return "*Self-check questions for this section are on the chapter's page in the book.*"
    if name in PRF_NAMES:
        return join(f"**{PRF_NAMES[name]} ({args}).**" if args else f"**{PRF_NAMES[name]}.**")
    if name == "prf:proof":
        return f"*Proof.* {body} ∎" if body else "*Proof.* ∎"
    if name in ("admonition", "note", "tip", "warning", "important", "hint", "seealso"):
        title = args if name == "admonition" else (args or name.capitalize())
        quoted = [f"> **{title}**" if title else ">"] + ([">"] + [f"> {line}".rstrip() for line in
                                                               body.split("\n")] if body else [])
        return "\n".join(quoted)
    return original


def intro_cell(install: bool) -> nbformat.NotebookNode:
    """The lite copy's first cell: where the reader is and what the first import does."""
    from jupyterlite_pyodide_kernel.constants import PYODIDE_PYTHON_VERSION, PYODIDE_VERSION

    how = ("the first `import softmax_nb` loads the book's package with numpy, scipy, matplotlib, "
           "scikit-learn and mpmath (tens of megabytes, once)" if not install else
           "the next cell installs the book's package from this site")
    return nbformat.v4.new_markdown_cell(
        f"*You are running this chapter in your browser* (JupyterLite, Pyodide {PYODIDE_VERSION}, "
        f"Python {PYODIDE_PYTHON_VERSION}): {how}. Run the cells from the top. Your changes stay in "
        "this browser; the book's pages show the stored results.")


def install_cell() -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(f'%pip install -q "{PACKAGE}[ref,data]"')


def lite_notebook(nb: nbformat.NotebookNode, findings: list[Finding] | None = None,
                  install: bool = False) -> nbformat.NotebookNode:
    """The copy of a chapter that JupyterLite opens (see the module docstring)."""
    findings = scan_notebook(nb) if findings is None else findings
    skipped = guarded_cells(findings)
    out = copy.deepcopy(nb)
    titles = label_titles(nb)
    cells = []
    for i, cell in enumerate(out.cells):
        tags = cell.metadata.get("tags", [])
        if COLAB_TAG in tags or CHECK_TAG in tags:
            continue
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\n{3,}", "\n\n", plain_directives(plain_roles(cell.source, titles))).strip("\n")
            if not cell.source:
                continue  # a solution's closing marker
        if cell.cell_type == "code":
            if "import otter" in cell.source or "grader.check(" in cell.source:
                cell.source = strip_grading(cell.source)
            if i in skipped:
                cell.source = guard_source(cell.source, "; ".join(REASONS[w] for w in skipped[i]))
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        cells.append(cell)
    intro = intro_cell(install)
    intro["id"] = "lite-intro"
    extra = [install_cell()] if install else []
    for cell in extra:
        cell["id"] = "lite-install"
    out.cells = [intro, *extra, *cells]
    out.metadata["kernelspec"] = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
    out.metadata["language_info"] = {"name": "python"}
    return out


def lite_path(docname: str) -> str:
    """Where a page's notebook lives in the lite file system: ``book/03_overflow`` -> ``03_overflow.ipynb``."""
    return (docname[len("book/"):] if docname.startswith("book/") else docname) + ".ipynb"


def lite_url(docname: str) -> str:
    """The page's link to its notebook in JupyterLite, relative to the page."""
    up = "../" * docname.count("/")
    return f"{up}{LITE_DIR}/{APP}/index.html?path={quote(lite_path(docname))}"


# --------------------------------------------------------------------------- the package and the lock
WHEEL_FILES = ("pyproject.toml", "README.md", "LICENSE", "LICENSE-TEXT", "AUTHORS")


def source_hash(root: Path) -> str:
    h = hashlib.sha256()
    files = [root / f for f in WHEEL_FILES if (root / f).is_file()]
    files += sorted(p for p in (root / IMPORT_NAME).rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build_wheel(root: Path, cache: Path) -> Path:
    """The wheel of ``root``'s package (``pip wheel --no-deps``), rebuilt only when its sources change.

    It is built from a copy of the package's files, so the source tree gets no
    ``build/`` or ``*.egg-info``.
    """
    out = cache / source_hash(root)
    wheels = sorted(out.glob("softmax_nb-*.whl"))
    if wheels:
        return wheels[-1]
    with tempfile.TemporaryDirectory(prefix="sbk-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / IMPORT_NAME, src / IMPORT_NAME,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in WHEEL_FILES:
            if (root / name).is_file():
                shutil.copy(root / name, src / name)
        if not (src / "README.md").is_file():  # the student site's copy has no README
            (src / "README.md").write_text("The shared, tested code behind The Softmax Book.\n")
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "-w", str(Path(tmp) / "dist"), str(src)],
                       check=True, capture_output=True, text=True)
        (wheel,) = (Path(tmp) / "dist").glob("softmax_nb-*.whl")
        shutil.rmtree(cache, ignore_errors=True)  # keep one wheel
        out.mkdir(parents=True)
        return Path(shutil.copy(wheel, out / wheel.name))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_requirements(pyproject: Path, extras: tuple[str, ...] = ("book",)) -> list[str]:
    """Canonical names of the package's dependencies and those of ``extras`` (markers ignored)."""
    import tomllib

    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        reqs += project.get("optional-dependencies", {}).get(extra, [])
    names = [canonical(re.split(r"[\s<>=!~;\[(@]", r.strip(), maxsplit=1)[0]) for r in reqs]
    return list(dict.fromkeys(names))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def site_lock(base: dict, wheel: Path, wheel_url: str, package_base: str, depends: list[str]) -> dict:
    """Pyodide's lock with relative ``file_name`` resolved against ``package_base``, plus ``softmax-nb``.

    Pyodide reads a relative ``file_name`` against the lock file's folder, so
    every package of the base lock gets ``package_base`` (the CDN, or the local
    distribution relative to the lock); ``softmax-nb`` keeps ``wheel_url``
    (relative to the lock). ``depends`` names absent from the lock are dropped.
    """
    lock = copy.deepcopy(base)
    packages = lock["packages"]
    for pkg in packages.values():
        if not re.match(r"^[a-z][a-z0-9+.-]*://", pkg["file_name"]):
            pkg["file_name"] = package_base + pkg["file_name"]
    version = wheel.name.split("-")[1]
    packages[PACKAGE] = {
        "name": PACKAGE, "version": version, "file_name": wheel_url, "install_dir": "site",
        "package_type": "package", "sha256": sha256(wheel), "imports": [IMPORT_NAME],
        "depends": [d for d in depends if d in packages], "unvendored_tests": False,
    }
    return lock


def npm_pyodide() -> Path:
    """The npm ``pyodide`` package of ``make lite-deps`` (core files and the release's lock file)."""
    return Path(sys.prefix) / "pyodide" / "node_modules" / "pyodide"


def pyodide_dist() -> Path | None:
    value = os.environ.get("PYODIDE_DIST", "").strip()
    return Path(value).expanduser().resolve() if value else None


def base_lock() -> tuple[dict | None, str]:
    """(Pyodide's lock, the base for its relative file names) for this build, or (None, why not)."""
    from jupyterlite_pyodide_kernel.constants import PYODIDE_CDN_URL, PYODIDE_VERSION

    dist = pyodide_dist()
    if dist is not None:
        lock = dist / "pyodide-lock.json"
        if not (dist / "pyodide.mjs").is_file() or not lock.is_file():
            raise FileNotFoundError(f"PYODIDE_DIST={dist} holds no pyodide.mjs and pyodide-lock.json")
        return json.loads(lock.read_text()), "../pyodide/"
    npm = npm_pyodide()
    try:
        version = json.loads((npm / "package.json").read_text())["version"]
        lock = json.loads((npm / "pyodide-lock.json").read_text())
    except (OSError, ValueError, KeyError):
        return None, f"no npm pyodide package in {npm} (make lite-deps)"
    if version != PYODIDE_VERSION:
        return None, f"{npm} is pyodide {version}, the kernel expects {PYODIDE_VERSION} (make lite-deps)"
    return lock, PYODIDE_CDN_URL.rstrip("/") + "/"


# --------------------------------------------------------------------------- Sphinx
def _logger():
    from sphinx.util import logging

    return logging.getLogger(__name__)


def _work_dir(app) -> Path:
    return Path(app.doctreedir).resolve().parent / "lite-src"


def _config_inited(app, config) -> None:
    """Before jupyterlite-sphinx's own handler (500): where the lite sources are staged."""
    work = _work_dir(app)
    config.jupyterlite_dir = str(work)
    config.jupyterlite_content_dir = str(work / "files")  # emptied by jupyterlite-sphinx at start
    config.jupyterlite_config = str(work / "jupyter_lite_config.json")


def _notebook_docs(app) -> list[str]:
    return sorted(d for d in app.env.found_docs if str(app.env.doc2path(d)).endswith(".ipynb"))


def _read_notebook(app, docname: str) -> nbformat.NotebookNode:
    return nbformat.read(str(app.env.doc2path(docname)), as_version=4)


def _stage(app, exception) -> None:
    """Before jupyterlite-sphinx builds the site (priority 500): contents, wheel, config."""
    if exception is not None or app.builder.format != "html":
        return
    work = _work_dir(app)
    for stale in ("pypi", "static", "jupyter-lite.json"):
        target = work / stale
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
    (work / "pypi").mkdir(parents=True)
    root = Path(app.srcdir)
    wheel = build_wheel(root, Path(app.doctreedir).resolve().parent / "lite-wheel")
    shutil.copy(wheel, work / "pypi" / wheel.name)
    extra = Path(sys.prefix) / "lite-wheels"
    for whl in sorted(extra.glob("*.whl")):
        shutil.copy(whl, work / "pypi" / whl.name)
    lock, why = base_lock()
    if lock is None:
        _logger().info(f"[lite] {why}: the lite notebooks install softmax_nb with a %pip cell")
    dist = pyodide_dist()
    if dist is not None:
        (work / "static").mkdir()
        (work / "static" / "pyodide").symlink_to(dist, target_is_directory=True)
    settings: dict[str, Any] = {}
    if lock is not None:
        settings["loadPyodideOptions"] = {"lockFileURL": f"./{LOCK_DIR}/pyodide-lock.json"}
    (work / "jupyter-lite.json").write_text(json.dumps(
        {"jupyter-lite-schema-version": 0,
         "jupyter-config-data": {"litePluginSettings": {KERNEL_PLUGIN: settings}}}, indent=2))
    (work / "jupyter_lite_config.json").write_text(json.dumps(
        {"LiteBuildConfig": {"no_sourcemaps": True, "no_unused_shared_packages": True}}, indent=2))
    contents = Path(app.config.jupyterlite_content_dir)
    contents.mkdir(parents=True, exist_ok=True)
    table = {}
    for docname in _notebook_docs(app):
        nb = _read_notebook(app, docname)
        findings = scan_notebook(nb)
        target = contents / lite_path(docname)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(lite_notebook(nb, findings, install=lock is None), str(target))
        table[docname] = {"notebook": lite_path(docname), "status": status_sentence(findings),
                          "skipped_cells": sorted(guarded_cells(findings)),
                          "findings": [asdict(f) for f in findings]}
    digest = inputs_digest(work, contents)
    site = Path(app.outdir) / LITE_DIR
    unchanged = (site / "index.html").is_file() and _read(site / INPUTS) == digest
    app._sbk_lite = {"table": table, "wheel": wheel, "lock": lock, "digest": digest, "skip": unchanged}
    _logger().info(f"[lite] {len(table)} notebooks and {wheel.name} staged in {work}"
                   + ("; the site is up to date, so JupyterLite's build is skipped" if unchanged else ""))


INPUTS = ".sbk-lite-inputs"  # in the lite site: the digest of what built it


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def inputs_digest(work: Path, contents: Path) -> str:
    """What the lite build reads: the staged files, PYODIDE_DIST and the JupyterLite packages' versions."""
    from importlib.metadata import version

    h = hashlib.sha256()
    for name in ("jupyterlite-core", "jupyterlite-pyodide-kernel", "jupyterlite-sphinx"):
        h.update(f"{name}=={version(name)}\n".encode())
    h.update(f"PYODIDE_DIST={pyodide_dist()}\n".encode())
    dist = pyodide_dist()
    if dist is not None:
        h.update(json.dumps(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                                   for p in dist.iterdir() if p.is_file())).encode())
    for root in (work, contents):
        files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                 and not p.relative_to(root).parts[0].startswith(".")]  # not jupyterlite's .cache
        for path in sorted(files):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _skip_unchanged(app) -> None:
    """Wrap jupyterlite-sphinx's build so that it does not run when its inputs have not changed."""
    listeners = app.events.listeners["build-finished"]
    for i, listener in enumerate(listeners):
        original = listener.handler
        if getattr(original, "__name__", "") == "jupyterlite_build" and not getattr(original, "_sbk", False):
            def build(app, exception, original=original):
                state = getattr(app, "_sbk_lite", None)
                if exception is None and state is not None and state.get("skip"):
                    return
                original(app, exception)

            build._sbk = True  # type: ignore[attr-defined]
            listeners[i] = listener._replace(handler=build)


def _finish(app, exception) -> None:
    """After jupyterlite-sphinx built the site: the lock file and the support table."""
    if exception is not None or app.builder.format != "html":
        return
    site = Path(app.outdir) / LITE_DIR
    state = getattr(app, "_sbk_lite", None)
    if state is None or not site.is_dir():
        return
    (site / SUPPORT_JSON).write_text(json.dumps(state["table"], indent=1, ensure_ascii=False) + "\n")
    (site / INPUTS).write_text(state["digest"])
    lock, wheel = state["lock"], state["wheel"]
    if lock is None:
        return
    _, package_base = base_lock()
    depends = package_requirements(Path(app.srcdir) / "pyproject.toml")
    out = site / LOCK_DIR / "pyodide-lock.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(site / "pypi" / wheel.name, out.parent).replace(os.sep, "/")
    out.write_text(json.dumps(site_lock(lock, wheel, rel, package_base, depends), indent=1) + "\n")


def page_html(docname: str, status: str) -> str:
    return (f'<p class="{MARK}"><a class="reference external {MARK}-link" href="{escape(lite_url(docname))}">'
            "Run this chapter in your browser</a> (JupyterLite: Python runs in the page, nothing to install; "
            f'the first start downloads Pyodide). <span class="{MARK}-status">{escape(status)}</span></p>')


def _add_link(app, doctree) -> None:
    """Under the title of every notebook page: the JupyterLite link and what runs there."""
    from docutils import nodes

    docname = app.env.docname
    path = str(app.env.doc2path(docname))
    if not path.endswith(".ipynb"):
        return
    app.env.note_dependency(str(Path(__file__).resolve()))
    status = status_sentence(scan_notebook(nbformat.read(path, as_version=4)))
    section = next(iter(doctree.findall(nodes.section)), None)
    node = nodes.raw("", page_html(docname, status), format="html")
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, node)
    else:
        doctree.insert(0, node)


DROP_ASSETS = ("fonts.googleapis.com/", "jupyterlite_sphinx.css", "jupyterlite_sphinx.js")


def _page_assets(app, pagename, templatename, context, doctree) -> None:
    for key in ("css_files", "script_files"):
        files = context.get(key)
        if files:  # in place: Sphinx adds a page's own assets to this list
            files[:] = [f for f in files if not any(d in str(getattr(f, "filename", f) or "") for d in DROP_ASSETS)]
    if f'class="{MARK}"' in (context.get("body") or ""):
        app.add_css_file("sbk-lite.css")


def setup(app) -> dict[str, Any]:
    app.connect("config-inited", _config_inited, priority=450)
    app.connect("builder-inited", _skip_unchanged)
    app.connect("doctree-read", _add_link)
    app.connect("build-finished", _stage, priority=400)
    app.connect("build-finished", _finish, priority=600)
    app.connect("html-page-context", _page_assets, priority=800)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
