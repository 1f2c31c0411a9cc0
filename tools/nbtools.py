"""Small helpers for writing chapter notebooks from Python and keeping them uniform.

- :func:`md`, :func:`code`, :func:`notebook` build cells/notebooks (for drafting).
- :func:`colab_cell_source` is the ONE definition of the Colab install cell;
  ``tools/sync_colab_cell.py`` (run by ``make notebooks``) puts it first in
  every chapter, using the repository URL and branch from ``_config.yml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
COLAB_TAG = "colab-install"


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(src: str, tags: list[str] | None = None, caption: str | None = None, name: str | None = None,
         **meta: Any) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(src.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    if caption or name:
        fig: dict[str, str] = {}
        if caption:
            fig["caption"] = caption
        if name:
            fig["name"] = name
        cell.metadata["mystnb"] = {"figure": fig}
    cell.metadata.update(meta)
    return cell


def notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [colab_cell(), *cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


def toc_files() -> list[str]:
    """Every page of ``_toc.yml`` in reading order (root first, nested sections too), without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries: list | None) -> None:
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    return [str(Path(f).with_suffix("")) if Path(f).suffix in {".md", ".ipynb"} else f for f in files]


def toc_notebooks() -> list[Path]:
    """The notebook chapters of ``_toc.yml``, in reading order."""
    paths = [ROOT / f"{f}.ipynb" for f in toc_files()]
    return [p for p in paths if p.is_file()]


def repository() -> tuple[str, str]:
    """(url, branch) of the book's repository, from ``_config.yml``."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = cfg["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def colab_cell_source() -> str:
    url, branch = repository()
    return (
        "# In Colab, install the book's package first; elsewhere this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "softmax-nb[book] @ git+{url}@{branch}"'
    )


def colab_cell() -> nbformat.NotebookNode:
    cell = code(colab_cell_source(), tags=[COLAB_TAG, "remove-cell"])
    cell.id = COLAB_TAG  # a fixed id, so re-syncing never changes the file by itself
    return cell
