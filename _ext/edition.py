"""Sphinx extension: the book's edition (version, licence) from one source.

The version is ``softmax_nb.__version__`` (read from the package's source, so
the build does not need the package importable). This extension

- sets Sphinx's ``version`` and ``release`` (used by the LaTeX/PDF title page);
- defines the MyST substitution ``{{ version }}`` for the pages (the
  introduction and the licence page use it);
- replaces ``{version}`` in the theme's ``extra_footer`` (``html.extra_footer``
  in ``_config.yml``), so the footer of every page names the version and the
  licences;
- makes the PDF's numbering match the web site's. sphinx-jupyterbook-latex
  numbers theorems and exercises per section ("Proposition 3.3.1") where the
  site numbers them per chapter ("Proposition 3.1"), and LaTeX numbers every
  chapter, where the site leaves the parts without ``numbered: true`` in
  ``_toc.yml`` (the quick tour, the reference pages) unnumbered. The first is
  fixed by computing the numbers with ``numfig_secnum_depth = 1``; the second
  by switching LaTeX's ``secnumdepth`` off for those parts and printing their
  figure and equation numbers without a chapter prefix ("Figure 1", as on the
  site);
- links a reference to an exercise of *another* page in the PDF: sphinx-exercise
  labels an exercise ``exercise:<label>`` in LaTeX and rewrites only the
  references within a page, so a cross-page ``{ref}`` became "Exercise ??".
  :class:`CrossPageExerciseRefs` makes those local references (in the PDF the
  book is one document) before sphinx-exercise rewrites them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

ROOT = Path(__file__).resolve().parents[1]


def package_version(root: Path = ROOT) -> str:
    """``__version__`` of ``softmax_nb/__init__.py`` under ``root``."""
    text = (root / "softmax_nb" / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, flags=re.M)
    if not m:
        raise ValueError(f"no __version__ in {root / 'softmax_nb' / '__init__.py'}")
    return m[1]


def _config_inited(app, config) -> None:
    version = package_version()
    config.version = version
    config.release = version
    subs = dict(getattr(config, "myst_substitutions", None) or {})
    subs.setdefault("version", version)
    config.myst_substitutions = subs
    options = dict(config.html_theme_options or {})
    footer = options.get("extra_footer")
    if isinstance(footer, str) and "{version}" in footer:
        options["extra_footer"] = footer.replace("{version}", version)
        config.html_theme_options = options


# --------------------------------------------------------------------------- PDF numbering
#: Appended to the LaTeX preamble: outside a numbered chapter (chapter counter
#: 0, e.g. the quick tour) figures, tables and equations are numbered 1, 2, ...
LATEX_PREAMBLE = r"""
% _ext/edition.py: numbers without a chapter prefix in unnumbered chapters, as on the web site.
\makeatletter
\renewcommand{\thefigure}{\ifnum\c@chapter>\z@\thechapter.\fi\arabic{figure}}
\renewcommand{\thetable}{\ifnum\c@chapter>\z@\thechapter.\fi\arabic{table}}
\renewcommand{\theequation}{\ifnum\c@chapter>\z@\thechapter.\fi\arabic{equation}}
\makeatother
% Exercise levels (U+2605) are not in DejaVu Serif: take the star from DejaVu Sans.
\usepackage{newunicodechar}
\newfontfamily\sbkstarfont{DejaVu Sans}
\newunicodechar{★}{{\sbkstarfont★}}
"""


def _is_latex(app) -> bool:
    return getattr(app.builder, "format", "") == "latex"


def _latex_preamble(app, config) -> None:
    elements = dict(config.latex_elements or {})
    elements["preamble"] = elements.get("preamble", "") + LATEX_PREAMBLE
    config.latex_elements = elements


def _chapter_level_numbers(app) -> None:
    """After sphinx-jupyterbook-latex set ``numfig_secnum_depth = 2``: compute numbers per chapter."""
    if _is_latex(app):
        app.env._edition_secnum_depth = app.config.numfig_secnum_depth
        app.config.numfig_secnum_depth = 1


def _restore_secnum_depth(app, env) -> list:
    """Once the numbers are assigned, give the LaTeX writer back its depth (figures reset per chapter)."""
    depth = getattr(env, "_edition_secnum_depth", None)
    if _is_latex(app) and depth is not None:
        app.config.numfig_secnum_depth = depth
    return []


def numbered_parts(root: Path = ROOT) -> dict[str, bool]:
    """Caption -> ``numbered`` of each part of ``_toc.yml``."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    return {part["caption"]: bool(part.get("numbered")) for part in toc.get("parts", []) if "caption" in part}


def number_parts_like_the_site(tex: str, parts: dict[str, bool]) -> str:
    r"""Before each ``\part{caption}``, switch section numbering off (unnumbered part) or back on."""
    m = re.search(r"\\setcounter\{secnumdepth\}\{(-?\d+)\}", tex)
    depth = m[1] if m else "2"

    def switch(match: re.Match) -> str:
        caption = match[1]
        on = parts.get(caption, True)
        return rf"\setcounter{{secnumdepth}}{{{depth if on else -2}}}" + "\n" + match[0]

    return re.sub(r"^\\part\{([^{}]*)\}", switch, tex, flags=re.M)


def _postprocess_tex(app, exception) -> None:
    if exception is not None or not _is_latex(app):
        return
    parts = numbered_parts()
    for tex_path in Path(app.outdir).glob("*.tex"):
        tex = tex_path.read_text(encoding="utf-8")
        if "\\part{" in tex and "secnumdepth}{-2}" not in tex:
            tex_path.write_text(number_parts_like_the_site(tex, parts), encoding="utf-8")


def _in_title(node: nodes.Node) -> bool:
    """Whether ``node`` is inside a title (a solution's "Solution to Exercise 1.1" is one; LaTeX sets titles as
    macro arguments, where sphinx-exercise's unescaped reference text breaks)."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.title):
            return True
        parent = parent.parent
    return False


class CrossPageExerciseRefs(SphinxPostTransform):
    """LaTeX only: a reference to an exercise on another page points at the exercise itself (see the module
    docstring). Runs just before sphinx-exercise's ``ResolveLinkTextToSolutions`` (priority 22)."""

    default_priority = 21
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        registry = getattr(self.env, "sphinx_exercise_registry", {})
        for node in self.document.findall(nodes.reference):
            uri = node.get("refuri", "")
            label = uri.partition("#")[2]
            if uri.startswith("%") and label in registry and not node.get("refid") and not _in_title(node):
                node["refid"] = label
                del node["refuri"]


def setup(app) -> dict[str, Any]:
    # Before myst-parser and sphinx-book-theme read these values (priority < 500).
    app.connect("config-inited", _config_inited, priority=400)
    app.connect("config-inited", _latex_preamble, priority=600)
    # After sphinx-jupyterbook-latex's builder-inited (500), before the numbers are assigned.
    app.connect("builder-inited", _chapter_level_numbers, priority=700)
    # After the toctree collector (500) assigned the figure and theorem numbers.
    app.connect("env-get-updated", _restore_secnum_depth, priority=900)
    app.connect("build-finished", _postprocess_tex, priority=400)
    app.add_post_transform(CrossPageExerciseRefs)
    return {"version": package_version(), "parallel_read_safe": True, "parallel_write_safe": True}
