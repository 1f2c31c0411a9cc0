"""Make the first code cell of every notebook the Colab install cell.

The cell's text comes from :func:`nbtools.colab_cell_source` (repository URL
and branch from ``_config.yml``). An existing install cell is replaced, so
changing the URL and running ``make notebooks`` updates every chapter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import COLAB_TAG, colab_cell  # noqa: E402


def sync(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    fresh = colab_cell()
    cells = [c for c in nb.cells if COLAB_TAG not in c.metadata.get("tags", [])]
    old = [c for c in nb.cells if COLAB_TAG in c.metadata.get("tags", [])]
    if (len(old) == 1 and nb.cells[0] is old[0] and old[0].source == fresh.source
            and old[0].get("id") == fresh.id):
        return False
    nb.cells = [fresh, *cells]
    nbformat.write(nb, path)
    return True


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        if sync(Path(arg)):
            print(f"updated the Colab cell of {arg}")
