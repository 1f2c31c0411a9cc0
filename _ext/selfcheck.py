"""Sphinx extension: self-check questions (``{selfcheck}`` and ``{selfcheck-answers}`` directives).

Work in progress: the directives are registered and render nothing yet.
"""

from __future__ import annotations

from typing import Any

from sphinx.util.docutils import SphinxDirective


class _Placeholder(SphinxDirective):
    required_arguments = 0
    optional_arguments = 1
    has_content = False

    def run(self):
        return []


def setup(app) -> dict[str, Any]:
    app.add_directive("selfcheck", _Placeholder)
    app.add_directive("selfcheck-answers", _Placeholder)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
