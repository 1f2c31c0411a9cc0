"""Sphinx extension: emit each <script> of a page once.

With Sphinx 7.4, scripts that extensions add after the HTML builder has
started (sphinx-thebe's THEBE_JS_URL snippet, sphinx-togglebutton's selector)
are listed twice, so the page declares ``const THEBE_JS_URL`` twice and the
browser reports a SyntaxError. This drops exact duplicates (same file or same
inline body, same attributes), keeping the first occurrence and the order.
"""

from __future__ import annotations

from typing import Any


def _key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    # An inline script's filename is None or "", depending on who added it.
    filename = str(getattr(script, "filename", script) or "")
    return filename, tuple(sorted((k, str(v)) for k, v in attributes.items()))


def dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
