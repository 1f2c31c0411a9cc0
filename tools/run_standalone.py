"""Run every chapter notebook on its own, as a reader on Colab would.

For each notebook: a fresh virtual environment (made once per run) with the
*built wheel* of softmax_nb and its ``[book]`` extra, an empty folder holding
only that notebook, and ``pytest --nbval-lax`` (every cell must run, every
assertion must hold; outputs are not compared, since they may differ across
library versions).

Usage::

    python tools/run_standalone.py --python python3.10 --venv .venv-oldest \
        --constraints .ci/oldest.txt book/*.ipynb

``--constraints`` pins versions (the supported floors); without it pip takes
the newest releases.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What runs a notebook under pytest; not part of what the book needs.
RUNNER = ["pytest", "nbval", "ipykernel"]


def sh(*args: str | Path, **kw) -> None:
    print("+", " ".join(map(str, args)), flush=True)
    subprocess.run([str(a) for a in args], check=True, **kw)


def build_wheel(out: Path) -> Path:
    sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", out, ROOT)
    (wheel,) = out.glob("softmax_nb-*.whl")
    return wheel


def make_venv(python: str, venv: Path, wheel: Path, constraints: Path | None) -> Path:
    if venv.exists():
        shutil.rmtree(venv)
    sh(python, "-m", "venv", venv)
    py = venv / "bin" / "python"
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    extra = ["-c", constraints] if constraints else []
    sh(*pip, *extra, f"softmax-nb[book] @ {wheel.as_uri()}", *RUNNER)
    sh(py, "-c", "import sys, numpy, scipy, matplotlib, sklearn; "
       "print(sys.version.split()[0], 'numpy', numpy.__version__, 'scipy', scipy.__version__, "
       "'matplotlib', matplotlib.__version__, 'scikit-learn', sklearn.__version__)")
    return py


def run_alone(py: Path, notebook: Path) -> bool:
    with tempfile.TemporaryDirectory(prefix="standalone-") as tmp:
        copy = Path(tmp) / notebook.name
        shutil.copy(notebook, copy)
        start = time.perf_counter()
        res = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                              "--nbval-current-env", copy.name], cwd=tmp, capture_output=True, text=True)
        status = "ok" if res.returncode == 0 else "FAILED"
        print(f"{status:6} {notebook} ({time.perf_counter() - start:.0f} s)", flush=True)
        if res.returncode:
            print(res.stdout[-6000:], res.stderr[-2000:], sep="\n")
        return res.returncode == 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter for the fresh venv")
    ap.add_argument("--venv", type=Path, required=True)
    ap.add_argument("--constraints", type=Path)
    ap.add_argument("notebooks", nargs="+", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wheel-") as tmp:
        wheel = build_wheel(Path(tmp))
        py = make_venv(args.python, args.venv.resolve(), wheel, args.constraints)
    failed = [nb for nb in args.notebooks if not run_alone(py, nb.resolve())]
    if failed:
        print(f"{len(failed)} notebook(s) failed on their own: {', '.join(map(str, failed))}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
