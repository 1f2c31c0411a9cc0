"""Sphinx extension: kernel-free interactive figures (``{sbk-interactive}`` directive).

```{sbk-interactive} temperature
```

embeds the data of :func:`softmax_nb.interactive.temperature_widget` (or
``online-softmax``: :func:`~softmax_nb.interactive.online_softmax_widget`,
``calibration``: :func:`~softmax_nb.interactive.calibration_widget`,
``simplex``: :func:`~softmax_nb.interactive.simplex_widget`),
computed at build time, as JSON in an HTML fragment with native controls
(a range input, checkboxes, buttons: keyboard accessible). The page gets
``sbk-interactive.js``/``.css`` from ``_ext/static`` (only pages that use the
directive load them), which draw the values as a table with bars. Nothing is
fetched from the network. In the PDF the directive prints a pointer to the
web edition and to the static figure.

```{sbk-static-figure} simplex
:alt: What the figure shows.
:name: fig-simplex

The caption.
```

draws :func:`softmax_nb.interactive.simplex_figure` with matplotlib when the
page is read (PNG at 200 dpi for the web, PDF for LaTeX, under
``_build/sbk-figures``) and inserts it as a numbered figure with caption
and alt text: the static counterpart of an interactive figure, for print and
for readers without JavaScript.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.directives.patches import Figure
from sphinx.util.docutils import SphinxDirective

STATIC = Path(__file__).resolve().parent / "static"
MARK = "sbk-widget"


def _data(kind: str) -> dict[str, Any]:
    from softmax_nb import interactive

    makers = {"temperature": interactive.temperature_widget, "online-softmax": interactive.online_softmax_widget,
              "calibration": interactive.calibration_widget, "simplex": interactive.simplex_widget}
    if kind not in makers:
        raise ValueError(f"unknown interactive figure {kind!r}; expected one of {sorted(makers)}")
    return makers[kind]()


NOSCRIPT = {"simplex": "This interactive figure needs JavaScript; the static figure below shows the same ideas."}


def widget_html(kind: str, data: dict[str, Any]) -> str:
    payload = html.escape(json.dumps(data, separators=(",", ":")), quote=False)
    note = NOSCRIPT.get(kind, "This interactive figure needs JavaScript; "
                              "the static figure is in the chapter linked above.")
    return (f'<div class="{MARK} sbk-{kind}" data-kind="{kind}" id="sbk-{kind}">'
            f'<script type="application/json" class="sbk-data">{payload}</script>'
            f'<noscript>{note}</noscript>'
            '</div>')


def _static_maker(kind: str):
    from softmax_nb import interactive

    makers = {"simplex": interactive.simplex_figure}
    if kind not in makers:
        raise ValueError(f"unknown static figure {kind!r}; expected one of {sorted(makers)}")
    return makers[kind]


def render_static(kind: str, out_dir: Path) -> list[Path]:
    """Draw the static figure ``kind`` into ``out_dir`` as ``<kind>.png`` (200 dpi) and ``<kind>.pdf``."""
    fig = _static_maker(kind)()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, extra in (("png", {"dpi": 200}), ("pdf", {"metadata": {"CreationDate": None}})):
        path = out_dir / f"{kind}.{ext}"
        fig.savefig(path, bbox_inches="tight", pad_inches=0.1, facecolor="white", transparent=False, **extra)
        paths.append(path)
    return paths


class StaticFigureDirective(Figure):
    """A numbered figure whose image is drawn by softmax_nb when the page is read."""

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0].strip()
        env = self.state.document.settings.env
        srcdir = Path(env.srcdir).resolve()
        out_dir = Path(env.app.doctreedir).resolve().parent / "sbk-figures"
        if not out_dir.is_relative_to(srcdir):
            out_dir = srcdir / "_build" / "sbk-figures"
        _note_package(env)
        if "alt" not in self.options:
            raise self.error("sbk-static-figure needs an :alt: text that says what the figure shows")
        try:
            render_static(kind, out_dir)
        except ValueError as exc:
            raise self.error(str(exc)) from exc
        self.arguments = ["/" + (out_dir / f"{kind}.*").relative_to(srcdir).as_posix()]
        return super().run()


def _note_package(env) -> None:
    """Re-read the page when softmax_nb.interactive changes (the data and figures come from it)."""
    from softmax_nb import interactive

    env.note_dependency(str(Path(interactive.__file__).resolve()))


class InteractiveDirective(SphinxDirective):
    required_arguments = 1
    has_content = False
    option_spec = {"static": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0].strip()
        _note_package(self.env)
        try:
            data = _data(kind)
        except ValueError as exc:
            raise self.error(str(exc)) from exc
        latex = r"\begin{quote}\emph{Interactive figure: see the web edition of this page.}\end{quote}"
        return [nodes.raw("", widget_html(kind, data), format="html"), nodes.raw("", latex, format="latex")]


def _add_assets(app, pagename, templatename, context, doctree) -> None:
    if MARK in (context.get("body") or ""):
        app.add_js_file("sbk-interactive.js")
        app.add_css_file("sbk-interactive.css")


def _static_path(app, config) -> None:
    paths = list(config.html_static_path or [])
    if str(STATIC) not in paths:
        paths.append(str(STATIC))
    config.html_static_path = paths


def setup(app) -> dict[str, Any]:
    app.add_directive("sbk-interactive", InteractiveDirective)
    app.add_directive("sbk-static-figure", StaticFigureDirective)
    app.connect("config-inited", _static_path)
    app.connect("html-page-context", _add_assets, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
