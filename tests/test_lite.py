"""JupyterLite (issue 24): ``_ext/lite.py``'s lite copies, browser-support scan and lock file.

Tested on small notebooks and on every chapter, with no build; the built site
itself is tested by ``tests/test_lite_site.py`` (layer 1 of the lite tests).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import sys
import types
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
sys.path.insert(0, str(ROOT / "tools"))
import lite  # noqa: E402  (_ext/lite.py)
from nbtools import COLAB_TAG, colab_cell, toc_files  # noqa: E402

CHAPTERS = [f for f in toc_files() if (ROOT / f"{f}.ipynb").is_file()]


def notebook(*sources: str, tags: dict[int, list[str]] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [colab_cell(), nbformat.v4.new_markdown_cell("# Title")]
    for i, src in enumerate(sources):
        cell = nbformat.v4.new_code_cell(src)
        cell.outputs = [nbformat.v4.new_output("stream", text="stored\n")]
        cell.execution_count = i + 1
        if tags and i in tags:
            cell.metadata["tags"] = tags[i]
        nb.cells.append(cell)
    return nb


def run(source: str, platform: str, monkeypatch) -> tuple[str, dict, list]:
    """Execute ``source`` as plain Python with ``sys.platform`` = ``platform``: (stdout, namespace, displayed)."""
    shown: list = []
    ns: dict = {"display": shown.append}
    monkeypatch.setattr(sys, "platform", platform)
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(source, "<cell>", "exec"), ns)
    return out.getvalue(), ns, shown


# --------------------------------------------------------------------------- the scan
@pytest.mark.parametrize("source, expected", [
    ("import torch\nx = torch.ones(2)", [("torch", False)]),
    ("import numpy as np\nimport threading\nlock = threading.Lock()", []),
    ("from concurrent.futures import ThreadPoolExecutor\nwith ThreadPoolExecutor(2) as ex:\n    pass",
     [("threads", False)]),
    ("import concurrent.futures as cf\ncf.ProcessPoolExecutor()", [("processes", False)]),
    ("import threading\nthreading.Thread(target=print).start()", [("threads", False)]),
    ("import subprocess as sp\nsp.run(['ls'])", [("processes", False)]),
    ("!ls -l", [("processes", False)]),
    ("import os\nos.fork()", [("processes", False)]),
    ("import os\nos.path.join('a', 'b')", []),
    ("import socket\nsocket.create_connection(('example.org', 80))", [("sockets", False)]),
    ("import softmax_nb as snb\nsnb.sharded_cross_entropy(h, w, y)", [("dask", False)]),
    ("import dask.array as da", [("dask", False)]),
    ("try:\n    import torch\nexcept ImportError:\n    torch = None", [("torch", True)]),
    ("try:\n    import torch\nexcept (ModuleNotFoundError, RuntimeError):\n    pass", [("torch", True)]),
    ("try:\n    import torch\nexcept RuntimeError:\n    pass", [("torch", False)]),
    ("%time x = 1\nprint(x)", []),
    ("def f(:\n", []),  # not Python: nothing found, nothing guarded
])
def test_scan_source(source, expected):
    assert lite.scan_source(source) == expected


def test_scan_notebook_skips_the_colab_cell_and_names_the_cells():
    nb = notebook("import numpy as np", "import torch", "try:\n    import torch\nexcept ImportError:\n    pass")
    assert lite.scan_notebook(nb) == [lite.Finding(3, "torch", False), lite.Finding(4, "torch", True)]
    assert lite.guarded_cells(lite.scan_notebook(nb)) == {3: ["torch"]}


def test_status_sentences():
    assert lite.status_sentence([]) == "Every cell runs in the browser."
    optional = [lite.Finding(3, "torch", True)]
    assert lite.status_sentence(optional).startswith("Every cell runs in the browser (the optional PyTorch check "
                                                     "in 1 cell skips itself there")
    one = [lite.Finding(3, "dask", False)]
    assert lite.status_sentence(one).startswith("In 1 cell, the lines that need dask are skipped in the browser")
    two = [lite.Finding(3, "dask", False), lite.Finding(5, "threads", False), lite.Finding(5, "torch", False)]
    assert lite.status_sentence(two).startswith("In 2 cells, the lines that need PyTorch, dask and threads are")


def test_functions_of_the_package_that_pyodide_cannot_run_are_listed():
    """Every function of softmax_nb that imports dask or starts threads/processes is in lite.CALLS."""
    needs = {}
    for path in sorted((ROOT / "softmax_nb").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                found = lite.scan_source(ast.get_source_segment(path.read_text(), node) or "", ipython=False)
                if found:
                    needs[node.name] = sorted({w for w, _ in found})
    assert needs, "the scan found nothing in softmax_nb: is sharded_cross_entropy gone?"
    for name, what in needs.items():
        assert lite.CALLS.get(name) in what, f"softmax_nb.{name} needs {what}: add it to CALLS in _ext/lite.py"


# --------------------------------------------------------------------------- the lite copies
@pytest.fixture
def fake_torch(monkeypatch):
    """A stand-in for PyTorch, so the guarded lines can run outside the browser in these tests."""
    module = types.ModuleType("torch")
    module.ones = lambda n: [1.0] * n
    module.tensor = lambda x: x
    monkeypatch.setitem(sys.modules, "torch", module)
    return module


def test_guard_skips_only_what_pyodide_lacks(monkeypatch, fake_torch):
    src = "import math\nx = math.sqrt(16)\nimport torch\ny = [v * x for v in torch.ones(2)]\nz = 3\nprint(y)\ny"
    guarded = lite.guard_source(src, "PyTorch has no Pyodide build")
    assert guarded.splitlines()[0] == ("# In the browser (JupyterLite), the lines below that Pyodide cannot run "
                                       "are skipped: PyTorch has no Pyodide build.")
    out, ns, shown = run(guarded, "linux", monkeypatch)
    assert out == "[4.0, 4.0]\n" and ns["z"] == 3 and shown == [[4.0, 4.0]]  # all ran; the last value shown
    out, ns, shown = run(guarded, "emscripten", monkeypatch)
    assert out == "Skipped in the browser: PyTorch has no Pyodide build.\n"  # once
    assert ns["x"] == 4.0 and ns["z"] == 3 and "y" not in ns and shown == []


def test_guard_leaves_a_trailing_semicolon_and_none_undisplayed(monkeypatch, fake_torch):
    for src in ("import torch\ny = torch.ones(2)\nlen(y) * 3;", "import torch\ny = torch.ones(2)\nprint(len(y))"):
        out, ns, shown = run(lite.guard_source(src, "why"), "linux", monkeypatch)
        assert shown == [] and ns["y"] == [1.0, 1.0]


def test_guard_of_a_multiline_string_keeps_its_text(monkeypatch, fake_torch):
    src = 'import torch\ns = torch.tensor("""first\nsecond""")\nn = len(s)'
    guarded = lite.guard_source(src, "why")
    assert "exec(" in guarded
    out, ns, _ = run(guarded, "linux", monkeypatch)
    assert ns["s"] == "first\nsecond" and ns["n"] == 12


def test_guard_transforms_ipython_syntax_and_leaves_other_cells_alone():
    guarded = lite.guard_source("%time y = 1\nimport torch", "why")
    assert "run_line_magic('time'" in guarded
    ast.parse(guarded)
    assert lite.guard_source("%time y = 1", "why") == "%time y = 1"


def test_strip_grading_removes_the_otter_setup():
    from student_cells import GRADER_SETUP

    setup = "import numpy as np\nfrom softmax_nb.notebook import setup\n\nsetup()"
    stripped = lite.strip_grading(setup + GRADER_SETUP.format(doc="03_overflow") + "\nprint('after')")
    assert stripped == setup + "\nprint('after')"
    assert lite.strip_grading(setup) == setup
    stub = '# Exercise 1.\n# Check it with grader.check("ex-1") in the next cell.\n\nd = ...  # your value'
    assert lite.strip_grading(stub) == '# Exercise 1.\n\nd = ...  # your value'


def test_lite_notebook_drops_colab_and_grading_cells_and_clears_outputs():
    nb = notebook("x = 1", 'grader.check("ex-1")', "import torch\ntorch.ones(1)",
                  tags={1: ["student-check", "raises-exception"]})
    before = json.dumps(nb, sort_keys=True)
    out = lite.lite_notebook(nb)
    assert json.dumps(nb, sort_keys=True) == before, "the committed notebook was modified"
    nbformat.validate(out)
    sources = [c.source for c in out.cells]
    assert not any(COLAB_TAG in c.metadata.get("tags", []) for c in out.cells)
    assert not any("grader.check" in s for s in sources)
    assert out.cells[0].cell_type == "markdown" and "in your browser" in out.cells[0].source
    assert out.cells[1].source == "# Title" and sources[2] == "x = 1"
    assert sources[3].startswith("# In the browser (JupyterLite), the lines below that Pyodide cannot run")
    assert all(c.outputs == [] and c.execution_count is None for c in out.cells if c.cell_type == "code")
    assert out.metadata.kernelspec.name == "python"
    assert [c.id for c in out.cells[1:]] == [c.id for c in nb.cells[1:] if "student-check" not in
                                             c.metadata.get("tags", [])]


def test_myst_roles_and_targets_become_plain_text():
    src = ("(ch-x)=\n# Title\n\nThe {term}`softmax` of {term}`logits <logit>` ({doc}`09_softmax_at_scale`, "
           "{eq}`eq-x`, {cite}`lin2017`, {math}`e^z`).\n\n$$\nz = 1\n$$ (eq-x)\n")
    assert lite.plain_roles(src) == ("# Title\n\nThe softmax of logits (09_softmax_at_scale, (eq-x), (lin2017), "
                                     "$e^z$).\n\n$$\nz = 1\n$$\n")
    nb = notebook("x = 1")
    nb.cells[1].source = "(ch-x)=\n# A {term}`softmax` title"
    assert lite.lite_notebook(nb).cells[1].source == "# A softmax title"


def test_myst_directives_become_markdown_jupyterlite_renders():
    src = ("Before.\n\n```{prf:proposition} Shift invariance\n:label: prop-x\n\nBody $z$.\n```\n\n"
           "```{prf:proof}\nIt is.\n```\n\n````{admonition} Common claim\n:class: tip\n\nLine one.\n\n"
           "```{exercise} ★ Inner\n:label: ex-y\n\nDo it.\n```\n````\n\n```{selfcheck} q-1\n```\n\n"
           "```{solution-start} ex-y\n:class: dropdown\n```\n\n```python\nx = 1\n```\n\n```{unknown} a\nb\n```")
    assert lite.plain_directives(src) == (
        "Before.\n\n**Proposition (Shift invariance).**\n\nBody $z$.\n\n*Proof.* It is. ∎\n\n"
        "> **Common claim**\n>\n> Line one.\n>\n> **Exercise: ★ Inner**\n>\n> Do it.\n\n"
        "*Self-check questions for this section are on the chapter's page in the book.*\n\n**Solution.**\n\n"
        "```python\nx = 1\n```\n\n```{unknown} a\nb\n```")
    nb = notebook("x = 1")
    nb.cells[1].source = src.split("\n\n```{prf:proof}")[0]
    nb.cells.append(nbformat.v4.new_markdown_cell("As {prf:ref}`prop-x` says; see {ref}`ex-other`."))
    nb.cells.append(nbformat.v4.new_markdown_cell("```{solution-end}\n```"))
    out = lite.lite_notebook(nb)
    assert out.cells[-1].source == "As Proposition “Shift invariance” says; see ex-other."  # the empty cell is gone
    assert lite.label_titles(nb) == {"prop-x": "Proposition “Shift invariance”"}


def test_lite_notebook_without_a_lock_installs_the_package_first():
    out = lite.lite_notebook(notebook("x = 1"), install=True)
    assert out.cells[1].cell_type == "code" and out.cells[1].source == '%pip install -q "softmax-nb[ref,data]"'


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_chapter_has_a_valid_lite_copy(page):
    nb = nbformat.read(ROOT / f"{page}.ipynb", as_version=4)
    findings = lite.scan_notebook(nb)
    out = lite.lite_notebook(nb, findings)
    nbformat.validate(out)
    code = [c for c in out.cells if c.cell_type == "code"]
    assert code and not any(c.outputs for c in code)
    assert not any(COLAB_TAG in c.metadata.get("tags", []) or "google.colab" in c.source for c in out.cells)
    left = [c.source[:80] for c in out.cells if c.cell_type == "markdown"
            and re.search(r"^(`{3,}|:{3,})\{|^:label:|\{(prf:)?ref\}`", c.source, re.M)]
    assert not left, f"MyST syntax JupyterLite would show as text: {left}"
    for i in lite.guarded_cells(findings):  # a guarded cell is still valid Python
        (cell,) = [c for c in out.cells if c.get("id") == nb.cells[i].get("id")]
        ast.parse(cell.source)


def test_lite_paths_and_links():
    assert lite.lite_path("book/03_overflow") == "03_overflow.ipynb"
    assert lite.lite_path("book/appendix/x") == "appendix/x.ipynb"
    assert lite.lite_url("book/03_overflow") == "../lite/notebooks/index.html?path=03_overflow.ipynb"
    assert lite.lite_url("book/appendix/x") == "../../lite/notebooks/index.html?path=appendix/x.ipynb"


# --------------------------------------------------------------------------- the package and the lock
def test_package_requirements_follow_pyproject():
    names = lite.package_requirements(ROOT / "pyproject.toml")
    assert {"numpy", "matplotlib", "scipy", "scikit-learn", "mpmath"} <= set(names)


def test_site_lock_points_at_the_cdn_and_adds_the_package(tmp_path):
    wheel = tmp_path / "softmax_nb-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    base = {"info": {"python": "3.14.2"}, "packages": {
        "numpy": {"name": "numpy", "version": "2", "file_name": "numpy-2-cp314.whl", "depends": []},
        "far": {"name": "far", "version": "1", "file_name": "https://example.org/far.whl", "depends": []}}}
    out = lite.site_lock(base, wheel, "../../pypi/" + wheel.name, "https://cdn.example/full/", ["numpy", "dask"])
    assert base["packages"]["numpy"]["file_name"] == "numpy-2-cp314.whl"  # not modified
    assert out["packages"]["numpy"]["file_name"] == "https://cdn.example/full/numpy-2-cp314.whl"
    assert out["packages"]["far"]["file_name"] == "https://example.org/far.whl"
    entry = out["packages"]["softmax-nb"]
    assert entry["file_name"] == "../../pypi/softmax_nb-9.9.9-py3-none-any.whl" and entry["version"] == "9.9.9"
    assert entry["sha256"] == hashlib.sha256(b"wheel").hexdigest()
    assert entry["depends"] == ["numpy"] and entry["imports"] == ["softmax_nb"]


def test_the_kernel_pins_and_the_makefile_agree_on_pyodide():
    from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION

    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^PYODIDE_VERSION := {re.escape(PYODIDE_VERSION)}$", makefile, re.M), \
        f"Makefile's PYODIDE_VERSION is not the kernel's {PYODIDE_VERSION}"
    reqs = (ROOT / "requirements.txt").read_text()
    for name in ("jupyterlite-sphinx", "jupyterlite-core", "jupyterlite-pyodide-kernel"):
        assert re.search(rf"^{name}==\S+$", reqs, re.M), f"{name} is not pinned in requirements.txt"
    assert "jupyterlite_bind_ipynb_suffix: false" in (ROOT / "_config.yml").read_text()
