"""The student site: built from the solution-free chapters, it holds no solution anywhere.

One module fixture runs ``tools/make_student.py`` into a temporary folder and
builds the site with ``jupyter-book build -W -n --keep-going`` (about 45 s on
an idle machine; set ``STUDENT_SITE=<the --out folder of make_student>`` to
test an existing build, e.g. ``STUDENT_SITE=_build/student`` after ``make
student``). Then:

- the build has no warning (the book's gate);
- no page, no ``_sources`` download and no other file of the site contains a
  line of solution code or a line of solution prose from the chapters, nor a
  sphinx-exercise solution node;
- every Colab and Binder button opens ``book/NN_x.ipynb`` on the ``student``
  branch, that file exists in the branch tree make_student writes and it is a
  handout (no solutions), and the workflow force-pushes that tree to the
  ``student`` branch;
- the numbers the handouts print (tools/make_student.py's own numbering) are
  the ones the site shows: every equation, figure, exercise and theorem-like
  statement (one counter per kind, as sphinx-proof numbers them).
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_numbers  # noqa: E402
import course_exercises  # noqa: E402
import myst_blocks  # noqa: E402
import nbtools  # noqa: E402
import student_tree  # noqa: E402

# One worker runs this module's expensive module-scoped build (make unit uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("test_student_site")

CHAPTERS = nbtools.toc_notebooks()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    given = os.environ.get("STUDENT_SITE")
    if given:
        out = Path(given).resolve()
        log = ""
        rc = 0
    elif os.environ.get("RUN_STUDENT_BUILDS") != "1":
        pytest.skip("slow (builds the student site): make test-student, or STUDENT_SITE=<dir of make student>")
    else:
        out = tmp_path_factory.mktemp("student")
        student_tree.build(out)
        run = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(out / "site"),
                              "-W", "-n", "--keep-going"], capture_output=True, text=True, timeout=1800)
        rc, log = run.returncode, run.stdout + run.stderr
    html_dir = out / "site" / "_build" / "html"
    assert html_dir.is_dir(), f"the student site was not built:\n{log[-3000:]}"
    return {"out": out, "html": html_dir, "rc": rc, "log": log}


def page_text(path: Path) -> str:
    raw = path.read_text(errors="replace")
    if path.suffix == ".html":
        raw = re.sub(r"<[^>]+>", "", raw)
        raw = html.unescape(raw)
    return re.sub(r"\s+", " ", raw)


def solution_material(path: Path) -> tuple[list[str], list[str]]:
    """(solution code lines, solution prose lines) of a chapter that appear nowhere else in it."""
    nb = nbformat.read(path, as_version=4)
    other = "\n".join(c.source for c in nb.cells if "solution" not in c.metadata.get("tags", []))
    code: list[str] = []
    prose: list[str] = []
    open_label = None
    for cell in nb.cells:
        if cell.cell_type == "code":
            if "solution" in cell.metadata.get("tags", []):
                for ln in cell.source.splitlines():
                    s = ln.strip()
                    if len(s) >= 12 and not s.startswith("#") and s not in other:
                        code.append(s)
            continue
        if cell.cell_type != "markdown":
            continue
        for block in myst_blocks.split_blocks(cell.source):
            if block.name == "solution-start":
                open_label = myst_blocks.solution_label(block)
            elif block.name == "solution-end":
                open_label = None
            elif block.name == "solution" or (open_label and block.name is None):
                for ln in block.body:
                    s = ln.strip()
                    if len(s) >= 30 and not re.search(r"[{}$\\|*_<>]|^[-#>]", s):
                        prose.append(s.replace("`", ""))
    return code, prose


def test_student_site_builds_without_warnings(site):
    assert site["rc"] == 0, "the student site build has warnings or errors:\n" + "\n".join(
        ln for ln in site["log"].splitlines() if "WARNING" in ln or "ERROR" in ln)[:5000]


def test_no_solution_anywhere_in_the_site(site):
    files = [p for p in site["html"].rglob("*") if p.is_file()
             and p.suffix in {".html", ".ipynb", ".md", ".txt", ".py", ".js", ".json"}
             and "_static" not in p.parts]
    assert any(p.suffix == ".ipynb" for p in files), "no downloadable notebook in the site"
    texts = {p: page_text(p) for p in files}
    public = " ".join(re.sub(r"\s+", " ", c.source) for ch in CHAPTERS
                      for c in nbformat.read(ch, as_version=4).cells
                      if "solution" not in c.metadata.get("tags", []))
    # the answer interfaces the stubs give on purpose (book/course/exercises.yml), e.g. "def f(z):"
    interfaces = {a.rstrip(":") + ":" for info in course_exercises.load_exercises().values()
                  for a in (info.get("answer") or []) if a.startswith("def ")}
    leaks = []
    for chapter in CHAPTERS:
        code, prose = solution_material(chapter)
        has_exercises = any("```{exercise}" in c.source for c in nbformat.read(chapter, as_version=4).cells
                            if c.cell_type == "markdown")
        assert code or not has_exercises, f"{chapter.name}: no solution code found (is the chapter still gated?)"
        for needle in code + prose:
            n = re.sub(r"\s+", " ", needle)
            if n in public or n in interfaces:  # also in the main text of some chapter, or the interface
                continue
            for p, text in texts.items():
                if n in text:
                    leaks.append(f"{p.relative_to(site['html'])}: {needle[:100]}")
    assert not leaks, "solution material in the student site:\n" + "\n".join(leaks[:40])
    for p, text in texts.items():
        raw = p.read_text(errors="replace")
        assert "solution-start" not in raw and "solution-end" not in raw, p
        assert 'class="solution' not in raw, f"{p}: a solution node"
        if p.suffix == ".ipynb":
            nb = nbformat.reads(raw, as_version=4)
            assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells), p


def test_launch_buttons_open_the_student_branch(site):
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = cfg["repository"]["url"].rstrip("/")
    owner_repo = url.split("github.com/")[1]
    branch_tree = site["out"] / "branch"
    pages = {p.stem: p for p in (site["html"] / "book").glob("*.html")}
    for chapter in CHAPTERS:
        page = pages[chapter.stem].read_text()
        colab = re.findall(r'https://colab\.research\.google\.com/github/[^"]+', page)
        binder = re.findall(r'https://mybinder\.org/v2/gh/[^"]+', page)
        assert colab and binder, f"{chapter.stem}: no launch buttons"
        for link in colab:
            assert link == f"https://colab.research.google.com/github/{owner_repo}/blob/" \
                f"{student_tree.STUDENT_BRANCH}/book/{chapter.name}", link
        for link in binder:
            assert html.unescape(link) == f"https://mybinder.org/v2/gh/{owner_repo}/" \
                f"{student_tree.STUDENT_BRANCH}?urlpath=tree/book/{chapter.name}", link
        target = branch_tree / "book" / chapter.name
        assert target.is_file(), f"the student branch has no {target}"
        nb = nbformat.read(target, as_version=4)
        assert nb.metadata["softmax_book"]["mode"] == "handout"
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        assert not re.search(r"/blob/main/|/gh/[^\"]+/main\?", page), f"{chapter.stem}: a link to main"
    assert (branch_tree / "binder" / "requirements.txt").is_file()


def test_workflow_publishes_the_student_branch_and_site():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    test = wf["jobs"]["test"]
    runs = [s.get("run", "") for s in test["steps"]]
    assert any(r.strip() == "make student" for r in runs)
    upload = next(s for s in test["steps"] if s.get("name", "").startswith("Keep the student branch"))
    assert upload["with"]["path"] == "_build/student/branch"
    assert any("_build/student/site/_build/html _build/html/student" in r for r in runs)
    job = wf["jobs"]["student-branch"]
    assert job["permissions"] == {"contents": "write"} and job["needs"] == "test"
    script = "\n".join(s.get("run", "") for s in job["steps"])
    assert f"HEAD:{student_tree.STUDENT_BRANCH}" in script and "git push --force" in script


def test_handout_numbers_match_the_site(site):
    refs = book_numbers.collect_refs()
    problems = []
    for label, target in refs.labels.items():
        page = site["html"] / "book" / f"{target.doc}.html"
        if target.kind in ("chapter", "section") or not page.is_file():
            continue
        text = page.read_text()
        if target.kind == "equation":
            m = re.search(rf'id="equation-{re.escape(label)}">\s*<span class="eqno">\(([\d.]+)\)', text)
        elif target.kind == "figure":
            m = re.search(rf'id="{re.escape(label)}">.*?<span class="caption-number">Fig\. ([\d.]+) ', text, re.S)
        else:  # exercises and sphinx-proof theorems, propositions, ...: one counter per kind
            word = "Exercise" if target.kind == "exercise" else target.kind.capitalize()
            m = re.search(rf'id="{re.escape(label)}">\s*<p class="admonition-title"><span class="caption-number">'
                          rf'{word} ([\d.]+) ', text)
        if not m or m.group(1) != target.number:
            problems.append(f"{target.kind} {label}: handout {target.number}, site {m.group(1) if m else None}")
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(not os.environ.get("STUDENT_PDF"), reason="set STUDENT_PDF=<pdf> after `make student-pdf`")
def test_student_pdf_has_no_solutions():
    """The PDF of the student site (``make student-pdf``, needs TeX) holds no solution either."""
    import shutil

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    run = subprocess.run(["pdftotext", os.environ["STUDENT_PDF"], "-"], capture_output=True, text=True, check=True)
    text = re.sub(r"\s+", " ", run.stdout)
    public = " ".join(re.sub(r"\s+", " ", c.source) for ch in CHAPTERS
                      for c in nbformat.read(ch, as_version=4).cells if "solution" not in c.metadata.get("tags", []))
    interfaces = {a.rstrip(":") + ":" for info in course_exercises.load_exercises().values()
                  for a in (info.get("answer") or []) if a.startswith("def ")}
    leaks = []
    for chapter in CHAPTERS:
        code, prose = solution_material(chapter)
        for needle in code + prose:
            n = re.sub(r"\s+", " ", needle)
            if n not in public and n not in interfaces and n in text:
                leaks.append(f"{chapter.name}: {needle[:100]}")
    assert not leaks, "solution material in the student PDF:\n" + "\n".join(leaks[:40])
    assert "Hint for Exercise" in text
