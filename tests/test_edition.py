"""The edition: licences, citation, version, releases, accessibility metadata, PDF.

- The licence files exist with their real texts and holders, and the README,
  the introduction and the footer of every page state them with a "how to
  attribute" note.
- ``CITATION.cff`` is valid (``cffconvert --validate``, from its own
  virtual environment made by ``make cffconvert``; skipped without it).
- One version everywhere: ``softmax_nb.__version__`` = ``pyproject.toml`` =
  ``CITATION.cff`` = what the book shows (``_ext/edition.py``).
- Pinning a fork to a tag is one setting (``repository.branch``): on a scratch
  copy, the Colab install cell and the Colab/Binder launch URLs follow it.
- Every figure output of every chapter has real alt text
  (``mystnb.image.alt``), and the plotting style separates series by line
  style and marker as well as colour.
- ``make pdf``: the PDF exists, has every chapter, and its log has no missing
  glyph (skipped unless the TeX tools exist or ``CI=true``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "_ext"))
import edition  # noqa: E402
import nbtools  # noqa: E402

import softmax_nb  # noqa: E402

VERSION = softmax_nb.__version__
CC_BY = "https://creativecommons.org/licenses/by/4.0/"



def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


# --------------------------------------------------------------------------- licences
def test_code_licence_is_mit_with_a_named_holder():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert re.search(r"Copyright \(c\) 20\d\d The Softmax Book contributors", text)
    assert "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lic = meta.get("license")
    lic = lic.get("text") if isinstance(lic, dict) else lic
    assert lic == "MIT", f"pyproject.toml declares {lic!r}, LICENSE is MIT"


def test_text_licence_is_the_full_cc_by_4_legal_code():
    text = (ROOT / "LICENSE-TEXT").read_text()
    assert re.search(r"Copyright \(c\) 20\d\d The Softmax Book contributors", text)
    assert "Creative Commons Attribution 4.0 International Public License" in text
    for n in range(1, 9):  # Sections 1 (Definitions) .. 8 (Interpretation)
        assert re.search(rf"^Section {n} -- ", text, flags=re.M), f"LICENSE-TEXT lacks Section {n}"
    assert "How to attribute" in text and CC_BY in text


def test_authors_names_the_holders():
    lines = [ln for ln in (ROOT / "AUTHORS").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert "The Softmax Book contributors" in "\n".join(lines)
    assert any("maintainers" in ln for ln in lines), "AUTHORS lists nobody"


@pytest.mark.parametrize("where", ["README.md", "book/intro.md", "book/licence.md"])
def test_licence_and_attribution_stated(where):
    text = re.sub(r"\s+", " ", (ROOT / where).read_text())
    assert "CC BY 4.0" in text and "MIT" in text, f"{where} does not state both licences"
    assert "Adapted from" in text and "The Softmax Book contributors" in text, \
        f"{where} has no 'how to attribute' example"


def test_footer_states_licence_and_version():
    footer = config()["html"]["extra_footer"]
    assert "{version}" in footer and "CC BY 4.0" in footer and "MIT" in footer and CC_BY in footer
    assert "attribute" in footer


def test_edition_pages_in_the_toc():
    pages = nbtools.toc_files()
    for page in ("book/licence", "book/errata"):
        assert page in pages, f"{page} missing from _toc.yml"


def test_contributing_and_releasing_cover_the_essentials():
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    assert "issues/new" in contributing and "upstream" in contributing
    for command in ("make test", "make notebooks", "make book", "--nbval"):
        assert command in contributing, f"CONTRIBUTING.md does not say how to run {command!r}"
    releasing = (ROOT / "RELEASING.md").read_text()
    assert "git tag -a v" in releasing and "repository.branch" in releasing and "make notebooks" in releasing


# --------------------------------------------------------------------------- citation and version
def cffconvert() -> str | None:
    for candidate in (ROOT / ".venv" / "cffconvert" / "bin" / "cffconvert", shutil.which("cffconvert")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def test_citation_cff_is_valid():
    exe = cffconvert()
    if exe is None:
        pytest.skip("cffconvert not installed: run `make cffconvert` (its own venv, .venv/cffconvert)")
    out = subprocess.run([exe, "--validate", "-i", str(ROOT / "CITATION.cff")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"CITATION.cff is invalid:\n{out.stdout}\n{out.stderr}"
    assert "valid" in out.stdout


def test_one_version_everywhere():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert edition.package_version() == VERSION
    assert pyproject == VERSION, f"pyproject.toml says {pyproject}, softmax_nb.__version__ is {VERSION}"
    assert str(cff["version"]) == VERSION, f"CITATION.cff says {cff['version']}, the package {VERSION}"
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert re.search(rf"^## \[{re.escape(VERSION)}\]", changelog, flags=re.M), \
        f"CHANGELOG.md has no section for {VERSION}"
    assert f"version = {{{VERSION}}}" in (ROOT / "book" / "licence.md").read_text(), \
        "the BibTeX entry on the licence page cites another version"


def test_extension_puts_the_version_in_config_substitutions_and_footer():
    cfg = SimpleNamespace(version="", release="", myst_substitutions={"other": "x"},
                          html_theme_options={"extra_footer": "<p>version {version}</p>", "keep": 1})
    edition._config_inited(None, cfg)
    assert cfg.version == cfg.release == VERSION
    assert cfg.myst_substitutions == {"other": "x", "version": VERSION}
    assert cfg.html_theme_options == {"extra_footer": f"<p>version {VERSION}</p>", "keep": 1}


def test_pages_use_the_version_substitution():
    for page in ("book/intro.md", "book/licence.md", "book/errata.md"):
        assert "{{ version }}" in (ROOT / page).read_text(), f"{page} does not show the version"


def built_html() -> Path:
    return Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))


def test_built_book_shows_the_version():
    html = built_html()
    intro = html / "book" / "intro.html"
    if not intro.is_file() or not (html / "book" / "licence.html").is_file():
        pytest.skip(f"no (current) built book in {html}: run `make book`")
    for page in sorted((html / "book").glob("*.html")):
        text = page.read_text()
        assert f"The Softmax Book, version {VERSION}." in text, f"{page.name}: footer without the version"
        assert "{version}" not in text and "{{ version }}" not in text, f"{page.name}: unsubstituted version"
    assert f"version {VERSION}" in re.sub(r"<[^>]+>", "", intro.read_text())


def test_built_book_links_to_the_pdf():
    intro = built_html() / "book" / "intro.html"
    if not intro.is_file():
        pytest.skip(f"no built book in {built_html()}: run `make book`")
    assert 'href="../the-softmax-book.pdf"' in intro.read_text(), "the introduction does not link to the PDF"
    pdf = built_html() / "the-softmax-book.pdf"
    if PDF.is_file() and not pdf.is_file():
        pytest.fail("_build/pdf has the PDF but the web site does not: run `make pdf` after `make book`")


# --------------------------------------------------------------------------- releases
def scratch_copy(tmp_path: Path, branch: str) -> Path:
    """tools/, _config.yml (with ``repository.branch`` set) and the chapters, in ``tmp_path``."""
    shutil.copytree(ROOT / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "_toc.yml", tmp_path / "_toc.yml")
    text = (ROOT / "_config.yml").read_text()
    new, n = re.subn(r"(?m)^(  branch:\s*)\S+", rf"\g<1>{branch}", text)
    assert n == 1, "_config.yml has no single `repository.branch` line"
    (tmp_path / "_config.yml").write_text(new)
    (tmp_path / "book").mkdir()
    for nb in nbtools.toc_notebooks():
        shutil.copy(nb, tmp_path / "book" / nb.name)
    return tmp_path


def test_branch_setting_pins_colab_cell_and_launch_buttons(tmp_path):
    import nbformat
    from jupyter_book.config import get_final_config
    from sphinx_book_theme.header_buttons.launch import add_launch_buttons

    tag = "v9.8.7"
    root = scratch_copy(tmp_path, tag)
    url = config()["repository"]["url"].rstrip("/")
    owner, repo = url.split("/")[-2:]
    notebooks = sorted((root / "book").glob("*.ipynb"))
    assert notebooks
    before = {p.name: nbformat.read(p, as_version=4) for p in notebooks}

    out = subprocess.run([sys.executable, str(root / "tools" / "sync_colab_cell.py"), *map(str, notebooks)],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr
    for p in notebooks:
        nb = nbformat.read(p, as_version=4)
        first = nb.cells[0]
        assert nbtools.COLAB_TAG in first.metadata["tags"]
        assert re.search(rf'"softmax-nb(\[[\w,]+\])? @ git\+{re.escape(url)}@{re.escape(tag)}"', first.source), \
            f"{p.name}: {first.source}"
        assert "@main" not in first.source
        # Only the install cell changed.
        assert [c.source for c in nb.cells[1:]] == \
            [c.source for c in before[p.name].cells if nbtools.COLAB_TAG not in c.metadata.get("tags", [])]

    # The launch buttons: Jupyter Book passes `branch` to the theme, which builds the URLs.
    final = get_final_config(user_yaml=yaml.safe_load((root / "_config.yml").read_text()),
                             cli_config={"latex_individualpages": False}, sourcedir=root, validate=False)[0]
    theme = final["html_theme_options"]
    assert theme["repository_branch"] == tag
    page = "book/" + notebooks[0].stem
    app = SimpleNamespace(
        env=SimpleNamespace(doc2path=lambda name: str(root / f"{name}.ipynb"), metadata={page: {"kernelspec": {}}}),
        config={"html_theme_options": theme}, outdir=str(tmp_path / "html"))
    context = {"pagename": page, "header_buttons": [], "sourcename": f"{page}.ipynb", "page_source_suffix": ".ipynb",
               "github_url": "https://github.com", "github_user": owner, "github_repo": repo}
    add_launch_buttons(app, page, "page.html", context, None)
    urls = [b["url"] for group in context["header_buttons"] for b in group.get("buttons", [])]
    assert f"https://colab.research.google.com/github/{owner}/{repo}/blob/{tag}/{page}.ipynb" in urls, urls
    assert f"https://mybinder.org/v2/gh/{owner}/{repo}/{tag}?urlpath=tree/{page}.ipynb" in urls, urls
    assert not any("/main" in u for u in urls), urls


def test_committed_notebooks_untouched_by_the_scratch_sync():
    # The scratch test above must never write into book/: the committed cells still track _config.yml.
    url, branch = nbtools.repository()
    for nb in nbtools.toc_notebooks():
        first = json.loads(nb.read_text())["cells"][0]
        assert f"@{branch}\"" in "".join(first["source"]), f"{nb.name}: Colab cell not on {branch}"


# --------------------------------------------------------------------------- accessibility
def figure_cells(path: Path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})
               for o in cell.get("outputs", [])):
            yield i, cell


def alt_problem(alt: object, caption: str) -> str | None:
    if not isinstance(alt, str) or not alt.strip():
        return "no mystnb.image.alt"
    alt = alt.strip()
    if re.search(r"\.(png|svg|jpe?g)\b|_images/|^[\w./-]+$", alt):
        return f"alt text looks like a path or a name: {alt!r}"
    if len(alt.split()) < 6:
        return f"alt text too short to say what the figure shows: {alt!r}"
    if caption and alt == caption.strip():
        return "alt text only repeats the caption"
    return None


@pytest.mark.parametrize("path", nbtools.toc_notebooks(), ids=lambda p: p.stem)
def test_every_figure_has_real_alt_text(path):
    problems = []
    for i, cell in figure_cells(path):
        mystnb = cell.get("metadata", {}).get("mystnb", {})
        caption = (mystnb.get("figure") or {}).get("caption", "")
        problem = alt_problem((mystnb.get("image") or {}).get("alt"), caption)
        if problem:
            problems.append(f"cell {i}: {problem}")
    assert not problems, f"{path.name}: figures without real alt text (cell metadata mystnb.image.alt): {problems}"


def test_alt_problem_rejects_paths_and_stubs():
    assert alt_problem(None, "") and alt_problem("", "") and alt_problem("../_images/64ab.png", "")
    assert alt_problem("fig-softmax", "") and alt_problem("A bar chart.", "")
    cap = "Softmax of the worked example at three temperatures, as bars."
    assert alt_problem(cap, cap)
    assert alt_problem("Bar chart of five probabilities; class A is highest at 0.36.", cap) is None


def test_style_separates_series_without_colour():
    import matplotlib

    matplotlib.use("Agg")
    from softmax_nb.plotting import PALETTE, new_figure

    fig, ax = new_figure()
    lines = [ax.plot([0, 1], [k, k + 1])[0] for k in range(len(PALETTE))]
    look = [(ln.get_linestyle(), ln._unscaled_dash_pattern, ln.get_marker()) for ln in lines]
    colours = [ln.get_color() for ln in lines]
    assert len(set(colours)) == len(lines), "series share a colour"
    assert len(set(look)) == len(lines), f"series differ by colour only: {look}"
    # An explicit colour still gets a new dash pattern.
    a, b = ax.plot([0, 1], color="C0")[0], ax.plot([0, 1], color="C0")[0]
    assert a._unscaled_dash_pattern != b._unscaled_dash_pattern
    import matplotlib.pyplot as plt

    plt.close(fig)


# --------------------------------------------------------------------------- PDF
PDF = ROOT / "_build" / "pdf" / "the-softmax-book.pdf"
PDF_LOG = ROOT / "_build" / "pdf" / "the-softmax-book.log"
PDF_TOC = ROOT / "_build" / "pdf" / "the-softmax-book.toc"


def pdf_or_skip() -> Path:
    """The built PDF; without it skip, unless ``PDF_REQUIRED=1`` (``make test-pdf``, which CI runs)."""
    if not PDF.is_file():
        if os.environ.get("PDF_REQUIRED") == "1":
            pytest.fail("no PDF in _build/pdf: `make pdf` failed or did not run", pytrace=False)
        tools = all(shutil.which(t) for t in ("xelatex", "latexmk", "pdftotext"))
        pytest.skip("no PDF: run `make pdf` or `make test-pdf`" + ("" if tools else
                    " (needs TeX: apt-get install texlive-xetex latexmk texlive-latex-extra "
                    "texlive-fonts-recommended fonts-dejavu-core fonts-dejavu-extra poppler-utils)"))
    return PDF


def pdf_text() -> str:
    out = subprocess.run(["pdftotext", "-layout", str(pdf_or_skip()), "-"], capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout


def toc_titles() -> list[tuple[str, str]]:
    """(page, title) of every chapter page, from the first heading of its source."""
    titles = []
    for page in nbtools.toc_files():
        path = ROOT / f"{page}.ipynb"
        if path.is_file():
            cells = json.loads(path.read_text())["cells"]
            src = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        else:
            src = (ROOT / f"{page}.md").read_text()
        m = re.search(r"^# (.+)$", src, flags=re.M)
        assert m, f"{page} has no title"
        titles.append((page, m[1].strip()))
    return titles


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).replace("\u2019", "'").lower()


def test_pdf_has_every_chapter_title():
    text = squash(pdf_text())
    missing = []
    for page, title in toc_titles():
        plain = squash(re.sub(r"[`*$\\{}]", "", title))
        if page.endswith(("bibliography", "api")):
            continue
        if plain not in text:
            missing.append(title)
    assert not missing, f"chapter titles not found in the PDF text: {missing}"


def test_pdf_title_and_metadata():
    info = subprocess.run(["pdfinfo", str(pdf_or_skip())], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Title:\s+The Softmax Book", info, flags=re.M), info
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.M)[1])
    assert pages >= 100, f"only {pages} pages"
    assert f"Release {VERSION}" in pdf_text() or f"version {VERSION}" in pdf_text().lower()


def test_pdf_log_has_no_missing_glyphs_and_code_fits():
    pdf_or_skip()
    log = PDF_LOG.read_text(errors="replace")
    missing = sorted(set(re.findall(r"Missing character: .*", log)))
    assert not missing, f"{len(missing)} missing glyphs in the PDF build: {missing[:10]}"
    # An overfull line set in the monospace font is code running into the margin.
    wide_code = [(float(w), line[:120]) for w, line in
                 re.findall(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)[^\n]*\n([^\n]*)", log)
                 if "Mono" in line or "mono" in line]
    assert not [c for c in wide_code if c[0] > 20], f"code runs off the page: {sorted(wide_code)[-5:]}"
    # A reference LaTeX cannot resolve prints "??" (a cross-page reference to an exercise did).
    undefined = sorted(set(re.findall(r"Reference `([^']+)' on page \d+ undefined", log)))
    assert not undefined, f"{len(undefined)} unresolved references in the PDF: {undefined[:10]}"


def test_pdf_numbers_chapters_like_the_site():
    """Numbered parts of _toc.yml number their chapters 1, 2, ... across parts; the others are unnumbered.

    Read from LaTeX's table of contents (``the-softmax-book.toc``, also the PDF's outline).
    """
    pdf_or_skip()
    entries = re.findall(r"\\contentsline \{chapter\}\{(\\numberline \{(\d+)\})?(.*)\}\{\d+\}\{[^}]*\}%", PDF_TOC.read_text())
    clean = [(num, squash(re.sub(r"\\[a-z]+ ?|[{}]", "", re.sub(r"\\sphinxhyphen \{\}", "-", title))))
             for _, num, title in entries]
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    titles = dict(toc_titles())
    expected, n = [], 0
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            page = str(Path(chapter["file"]).with_suffix(""))
            if part.get("numbered"):
                n += 1
            title = squash(re.sub(r"[`*$\\{}]", "", titles[page]))
            expected.append((str(n) if part.get("numbered") else "", title))
    got = {t: num for num, t in clean}
    wrong = [(t, num, got.get(t)) for num, t in expected if t in got and got[t] != num]
    missing = [t for _, t in expected if t not in got and not t.startswith("api reference")]
    assert not wrong, f"(chapter, number on the site, number in the PDF): {wrong}"
    assert not missing, f"chapters missing from the PDF's contents (stale PDF? run `make pdf`): {missing}"
