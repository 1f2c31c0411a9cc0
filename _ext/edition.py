"""Sphinx extension: the book's edition (version, licence) from one source.

The version is ``softmax_nb.__version__`` (read from the package's source, so
the build does not need the package importable). This extension

- sets Sphinx's ``version`` and ``release`` (used by the LaTeX/PDF title page);
- defines the MyST substitution ``{{ version }}`` for the pages (the
  introduction and the licence page use it);
- replaces ``{version}`` in the theme's ``extra_footer`` (``html.extra_footer``
  in ``_config.yml``), so the footer of every page names the version and the
  licences.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


def setup(app) -> dict[str, Any]:
    # Before myst-parser and sphinx-book-theme read these values (priority < 500).
    app.connect("config-inited", _config_inited, priority=400)
    return {"version": package_version(), "parallel_read_safe": True, "parallel_write_safe": True}
