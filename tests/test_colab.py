"""Launching the chapters: the Colab install cell and the Binder environment.

- Every notebook chapter in ``_toc.yml`` starts with exactly one Colab install
  cell whose source is ``nbtools.colab_cell_source()`` for the repository in
  ``_config.yml`` (``make notebooks`` re-syncs it), so the snippet lives in
  one place.
- ``binder/requirements.txt`` pins exactly the versions of requirements.txt,
  covers the package's own dependencies and every third-party module the
  chapters import (except optional imports guarded by ``except ImportError``); ``binder/postBuild`` installs the package itself;
  ``binder/runtime.txt`` asks for the Python CI tests with (test_workflow).
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nbtools  # noqa: E402

CHAPTERS = nbtools.toc_notebooks()
IDS = [p.stem for p in CHAPTERS]


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"{path.relative_to(ROOT)}: not an exact pin: {line!r}"
        out[md_name(m[1])] = m[2]
    return out


def md_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("path", CHAPTERS, ids=IDS)
def test_colab_cell_is_first_and_current(path):
    nb = nbformat.read(path, as_version=4)
    install = [i for i, c in enumerate(nb.cells) if nbtools.COLAB_TAG in c.metadata.get("tags", [])]
    assert install == [0], f"{path.name}: Colab install cells at {install}, expected exactly one, first"
    cell = nb.cells[0]
    assert cell.cell_type == "code"
    assert cell.source == nbtools.colab_cell_source(), \
        f"{path.name}: stale Colab cell; run `make notebooks` to re-sync it"
    assert set(cell.metadata.get("tags", [])) == {nbtools.COLAB_TAG, "remove-cell"}
    assert cell.get("id") == nbtools.COLAB_TAG, f"{path.name}: the Colab cell's id must be fixed"
    assert "softmax-nb[book] @" in cell.source, "the Colab cell must install the [book] extra"


def test_binder_pins_match_requirements():
    project = pins(ROOT / "requirements.txt")
    binder = pins(ROOT / "binder" / "requirements.txt")
    assert binder, "binder/requirements.txt pins nothing"
    differ = {k: (v, project.get(k)) for k, v in binder.items() if project.get(k) != v}
    assert not differ, f"binder pins that differ from requirements.txt (binder, project): {differ}"


def test_binder_covers_the_package_dependencies():
    binder = pins(ROOT / "binder" / "requirements.txt")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        reqs += extra
    names = {md_name(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in reqs}
    missing = sorted(names - set(binder))
    assert not missing, f"binder/requirements.txt lacks the package dependencies {missing}"


def test_binder_covers_the_chapter_imports():
    binder = set(pins(ROOT / "binder" / "requirements.txt"))
    dists = md.packages_distributions()
    missing = {}
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            src = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
            try:
                tree = ast.parse(src)
            except SyntaxError:
                continue
            optional = set()  # imports guarded by `try: ... except ImportError`
            for node in ast.walk(tree):
                if isinstance(node, ast.Try) and any(
                        h.type is None or any(isinstance(n, ast.Name) and n.id in
                                              {"ImportError", "ModuleNotFoundError", "Exception"}
                                              for n in ast.walk(h.type)) for h in node.handlers):
                    optional |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
            for node in ast.walk(tree):
                if id(node) in optional:
                    continue
                mods = []
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                for mod in mods:
                    top = mod.split(".")[0]
                    if top in sys.stdlib_module_names or top == "softmax_nb" or top == "google":
                        continue
                    for dist in dists.get(top, [top]):
                        if md_name(dist) not in binder:
                            missing.setdefault(md_name(dist), set()).add(path.name)
    assert not missing, f"chapters import modules Binder would not install: {missing}"


def test_binder_installs_the_package():
    post = ROOT / "binder" / "postBuild"
    assert post.is_file() and post.stat().st_mode & 0o111, "binder/postBuild missing or not executable"
    assert re.search(r"pip install[^\n]*--no-deps[^\n]* -e \.", post.read_text()), post.read_text()
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), f"binder/runtime.txt: {runtime!r}"
    # tests/test_workflow.py checks that CI tests this same Python version.
