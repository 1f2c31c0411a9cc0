"""Hygiene of the chapter notebooks: what strict nbval cannot see on its own.

nbval skips code cells that were never executed, so these tests insist every
cell ran, in order, in a fresh kernel; that every notebook is in the table of
contents; and that stored outputs hold nothing machine-specific.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from chapter_length import TOUR, numbered_chapters  # noqa: E402
from nbtools import toc_files  # noqa: E402
BOOK = ROOT / "book"
NOTEBOOKS = sorted(p for p in BOOK.glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
# The quick tour and the numbered chapters follow the chapter skeleton; appendices (unnumbered notebooks such as
# floating_point or the research notes) only the hygiene rules.
CHAPTERS = [ROOT / f"{name}.ipynb" for name in [TOUR, *numbered_chapters()]]
CHAPTER_IDS = [p.stem for p in CHAPTERS]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_listed_in_toc(path):
    assert f"book/{path.stem}" in toc_files(), f"{path.name} is not in _toc.yml"


def test_toc_entries_exist():
    for entry in toc_files():
        matches = list(ROOT.glob(entry + ".*"))
        assert matches, f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_code_cell_executed_in_order(path):
    cells = [c for c in code_cells(load(path)) if source(c).strip()]
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path.name}: {counts.count(None)} code cell(s) never executed"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not run top to bottom in a fresh kernel"


FORBIDDEN = [
    (re.compile(r"(?<![\w.])/(?:tmp|root|home|work|Users|private|var/folders)/"), "an absolute path"),
    (re.compile(r"\bat 0x[0-9a-fA-F]{6,}"), "a memory address"),
    (re.compile(r"ipykernel_\d+"), "a kernel PID path"),
    (re.compile(r"\b20\d\d-\d\d-\d\d[T ]\d\d:\d\d"), "a timestamp"),
    (re.compile(r"<(?:matplotlib|Figure)\b[^>]*object"), "an object repr"),
    (re.compile(r"\[<matplotlib\.|<Line2D|<BarContainer"), "a matplotlib artist repr"),
]


def output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/"):
                parts.append("".join(value))
        parts.extend(out.get("traceback", []))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_outputs_hold_nothing_machine_specific(path):
    for i, cell in enumerate(code_cells(load(path))):
        text = output_text(cell)
        for pattern, what in FORBIDDEN:
            assert not pattern.search(text), f"{path.name} code cell {i}: output contains {what}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_errors_only_in_cells_tagged_raises_exception(path):
    for i, cell in enumerate(code_cells(load(path))):
        tagged = "raises-exception" in cell["metadata"].get("tags", [])
        has_error = any(o["output_type"] == "error" for o in cell.get("outputs", []))
        assert has_error == tagged, (
            f"{path.name} code cell {i}: " + ("error output without the raises-exception tag" if has_error
                                            else "tagged raises-exception but raised nothing"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_imports_softmax_nb_and_calls_setup(path):
    cells = [source(c) for c in code_cells(load(path))]
    assert any("softmax_nb" in s for s in cells), f"{path.name} never imports softmax_nb"
    assert any(re.search(r"^setup\(", s, re.M) for s in cells), f"{path.name} never calls setup()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_figures_are_captioned_and_named(path):
    nb = load(path)
    figures = 0
    for i, cell in enumerate(code_cells(nb)):
        if any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            figures += 1
            fig = cell["metadata"].get("mystnb", {}).get("figure", {})
            assert fig.get("caption") and fig.get("name"), f"{path.name} code cell {i}: figure without caption/name"
        assert not any("image/svg+xml" in o.get("data", {}) for o in cell.get("outputs", [])), "keep figures PNG"
    assert figures >= 1 or path not in CHAPTERS, f"{path.name} has no figure"


@pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
def test_chapter_skeleton(path):
    text = "\n".join(source(c) for c in load(path)["cells"] if c["cell_type"] == "markdown")
    assert re.search(r"\*\*What you will learn", text), f"{path.name}: no 'What you will learn' paragraph"
    assert re.search(r"\*\*Prerequisites", text), f"{path.name}: no prerequisites"
    assert re.search(r"\*\*Estimated time\.\*\* about \d+ minutes of reading and \d+ minutes of exercises", text), \
        f"{path.name}: no estimated time"
    assert re.search(r"^## Summary", text, re.M), f"{path.name}: no summary"
    assert re.search(r"^## Exercises", text, re.M), f"{path.name}: no exercises section"
    assert len(re.findall(r"```\{exercise\}", text)) >= 3, f"{path.name}: fewer than 3 exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_solutions_are_checked(path):
    for i, cell in enumerate(code_cells(load(path))):
        if "solution" in cell["metadata"].get("tags", []):
            assert "assert" in source(cell), f"{path.name} code cell {i}: solution without an assert"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_size(path):
    assert path.stat().st_size < 2_000_000, f"{path.name} is {path.stat().st_size // 1000} kB (limit 2 MB)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_streams_are_coalesced(path):
    # tools/run_notebooks.py merges consecutive prints; a split stream means the
    # notebook was saved by something else, and reruns would not be byte-identical.
    for i, cell in enumerate(code_cells(load(path))):
        outs = cell.get("outputs", [])
        for a, b in zip(outs, outs[1:]):
            same = a["output_type"] == b["output_type"] == "stream" and a["name"] == b["name"]
            assert not same, f"{path.name} code cell {i}: consecutive {a['name']} outputs (run make notebooks)"


@pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
def test_exercises_are_labelled_by_difficulty(path):
    text = "\n".join(source(c) for c in load(path)["cells"] if c["cell_type"] == "markdown")
    titles = re.findall(r"```\{exercise\}(.*)", text)
    unlabelled = [t.strip() for t in titles if not re.match(r"\s*★{1,3}(?!★)\s", t)]
    assert not unlabelled, f"{path.name}: exercises without a ★/★★/★★★ label: {unlabelled}"
    if path != ROOT / f"{TOUR}.ipynb":  # the quick tour's exercises are warm-ups
        assert any(re.match(r"\s*★★★\s", t) for t in titles), f"{path.name}: no ★★★ exercise"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_stderr_and_no_version_dependent_reprs(path):
    # setup() sends warnings to stdout, so prints and warnings keep their order;
    # numpy 2.0 and 2.4 print float16 arrays differently, and Python versions word
    # some errors differently, so neither may be stored.
    for i, cell in enumerate(code_cells(load(path))):
        for out in cell.get("outputs", []):
            where = f"{path.name} code cell {i}"
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), f"{where}: stderr output"
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert "dtype=float16" not in text, f"{where}: a float16 array repr (differs across numpy versions)"


def test_results_page_lists_every_theorem_and_proposition():
    labels = set()
    for path in NOTEBOOKS:
        for cell in load(path)["cells"]:
            if cell["cell_type"] == "markdown":
                labels |= set(re.findall(r"```\{prf:(?:theorem|proposition)\}[^\n]*\n:label: ([\w-]+)", source(cell)))
    listed = set(re.findall(r"\{prf:ref\}`([\w-]+)`", (BOOK / "results.md").read_text()))
    assert labels, "no labelled theorem or proposition found"
    assert not labels - listed, f"book/results.md lacks {sorted(labels - listed)}"
    assert not listed - labels, f"book/results.md lists unknown results {sorted(listed - labels)}"
