"""Re-execute chapter notebooks in place, top to bottom, in a fresh kernel each.

Usage: python tools/run_notebooks.py book/01_x.ipynb [book/02_y.ipynb ...]

Outputs are reproducible: no timing metadata is recorded, so running twice
gives byte-identical files. Each notebook runs with its own folder as the
working directory, as it does under nbval and in JupyterLab.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL = "python3"


def coalesce_streams(outputs: list) -> list:
    """Merge consecutive stdout (or stderr) outputs into one.

    How a cell's prints are split into stream messages depends on when the
    kernel flushes, i.e. on timing; merging them makes the stored notebook
    independent of it.
    """
    merged: list = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] += out["text"]
        else:
            merged.append(out)
    return merged


def run(path: Path, timeout: int = 600) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata.pop("widgets", None)
    # nbclient records the kernel's language_info; keep only the stable fields.
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    nbformat.validate(nb)
    text = nbformat.writes(nb) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main(argv: list[str]) -> int:
    for arg in argv:
        print(f"executing {arg}", flush=True)
        run(Path(arg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
