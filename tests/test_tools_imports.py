"""The modules of ``tools/`` import each other without a cycle (issue 21: grade.py and make_student.py did).

The graph counts every import of a ``tools/`` module anywhere in a file,
function-level imports included (the old cycle was one: make_student imported
grade inside ``write_student``).
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))

# The student edition, the grader and the course builder, stage by stage: each imports only earlier ones.
EDITION = ["myst_blocks", "book_numbers", "course_exercises", "myst_to_markdown", "solution_names",
           "student_cells", "student_convert", "student_tree", "make_student", "grade", "make_course"]


def local_imports(path: Path, local: set[str]) -> set[str]:
    """The ``tools/`` modules a file imports (absolute imports, at any depth)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & local - {path.stem}


def import_graph(folder: Path = TOOLS) -> dict[str, set[str]]:
    files = {p.stem: p for p in folder.glob("*.py")}
    return {name: local_imports(path, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_find_cycle_finds_a_function_level_cycle(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import g\n")
    (tmp_path / "c.py").write_text("import a\nimport os\n")
    graph = import_graph(tmp_path)
    assert graph == {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert find_cycle(graph) in (["a", "b", "a"], ["b", "a", "b"])
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_tools_import_graph_has_no_cycle():
    graph = import_graph()
    assert set(EDITION) <= set(graph), set(EDITION) - set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_grader_and_student_edition_do_not_import_each_other():
    graph = import_graph()
    assert "make_student" not in reachable(graph, "grade")
    assert "grade" not in reachable(graph, "make_student")
    # What both need lives in modules that import neither.
    for shared in ("myst_blocks", "book_numbers", "course_exercises"):
        assert not reachable(graph, shared) & {"grade", "make_student"}, shared


def test_edition_modules_are_layered():
    graph = import_graph()
    for i, name in enumerate(EDITION):
        later = graph[name] & set(EDITION[i:])
        assert not later, f"{name} imports {sorted(later)}, which come after it in EDITION"


@pytest.mark.parametrize("name", EDITION)
def test_each_module_imports_on_its_own(name):
    """Each module imports cleanly, in a fresh interpreter state for it and its tools/ dependencies."""
    graph = import_graph()
    saved = {n: sys.modules.pop(n) for n in [name, *reachable(graph, name)] if n in sys.modules}
    try:
        module = importlib.import_module(name)
        assert module.__file__ == str(TOOLS / f"{name}.py")
    finally:
        sys.modules.update(saved)
