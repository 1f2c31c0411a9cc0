"""Which variables of a chapter's earlier cells each exercise's solution uses (the stubs name them).

Names are found with :mod:`ast` (IPython magics blanked out): the names a
solution reads before binding them (:func:`free_names`) that earlier
non-solution cells bound, imports and builtins excepted
(:func:`earlier_variables`).
"""

from __future__ import annotations

import ast
import builtins

import nbformat

from myst_blocks import SOLUTION_TAG, solution_label, split_blocks


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
