"""Sphinx extension: kernel-free interactive figures (``{sbk-interactive}`` directive).

```{sbk-interactive} temperature
```

embeds the data of :func:`softmax_nb.interactive.temperature_widget` (or
``online-softmax``: :func:`~softmax_nb.interactive.online_softmax_widget`,
``calibration``: :func:`~softmax_nb.interactive.calibration_widget`),
computed at build time, as JSON in an HTML fragment with native controls
(a range input, checkboxes, buttons: keyboard accessible). The page gets
``sbk-interactive.js``/``.css`` from ``_ext/static`` (only pages that use the
directive load them), which draw the values as a table with bars. Nothing is
fetched from the network. In the PDF the directive prints a pointer to the
web edition and to the static figure.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

STATIC = Path(__file__).resolve().parent / "static"
MARK = "sbk-widget"


def _data(kind: str) -> dict[str, Any]:
    from softmax_nb import interactive

    makers = {"temperature": interactive.temperature_widget, "online-softmax": interactive.online_softmax_widget,
              "calibration": interactive.calibration_widget}
    if kind not in makers:
        raise ValueError(f"unknown interactive figure {kind!r}; expected one of {sorted(makers)}")
    return makers[kind]()


def widget_html(kind: str, data: dict[str, Any]) -> str:
    payload = html.escape(json.dumps(data, separators=(",", ":")), quote=False)
    return (f'<div class="{MARK} sbk-{kind}" data-kind="{kind}" id="sbk-{kind}">'
            f'<script type="application/json" class="sbk-data">{payload}</script>'
            '<noscript>This interactive figure needs JavaScript; the static figure is in the chapter linked above.</noscript>'
            '</div>')


class InteractiveDirective(SphinxDirective):
    required_arguments = 1
    has_content = False
    option_spec = {"static": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0].strip()
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
    app.connect("config-inited", _static_path)
    app.connect("html-page-context", _add_assets, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
