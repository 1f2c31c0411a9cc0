"""Run every chapter notebook top to bottom in the current environment ("lax": only errors count).

Usage: python tools/check_student_install.py [book/NN_x.ipynb ...]

``make test-student-install`` creates a fresh virtual environment from
``requirements-student.txt`` alone and runs this script with it, so it uses
nothing but the student requirements (nbclient comes with JupyterLab). A cell
may fail only if the chapter tags it ``raises-exception``; outputs are not
compared with the stored ones (versions may differ in the last digits).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def chapters() -> list[Path]:
    files = re.findall(r"^\s*- file: (\S+)\s*$", (ROOT / "_toc.yml").read_text(), re.MULTILINE)
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()]


def run(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"{path.name} cell {i}: {out.ename}: {out.evalue}")
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or chapters()
    failed = []
    for path in paths:
        start = time.perf_counter()
        problems = run(path)
        print(f"{path.name}: {'ok' if not problems else 'FAILED'} ({time.perf_counter() - start:.1f} s)", flush=True)
        failed += problems
    for p in failed:
        print(p)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
