"""Run every chapter's JupyterLite copy under CPython, set up the way Pyodide is (layer 2 of the lite tests).

Pyodide's numpy, scipy, ... wheels are on no registry here, so the browser itself
cannot be CI's only check. This runs what a reader runs in JupyterLite -- each
chapter's lite copy (``_ext/lite.py``: Colab and grading cells dropped, cells
that Pyodide cannot run guarded) -- under CPython with

- exactly the versions of numpy, scipy, matplotlib, scikit-learn and mpmath (and
  of their dependencies that Pyodide also ships) named by the ``pyodide-lock.json``
  of the Pyodide release the pinned kernel expects (the npm ``pyodide`` package,
  ``make lite-deps``);
- the newest Python pyenv has (3.13; Pyodide's is 3.14, named in the lock);
- the built wheel of ``softmax_nb`` with its ``[ref,data]`` extras, and no
  torch and no dask (neither is in Pyodide; the ``[book]`` extra's dask is left out);
- in the kernel, after it has started (an IPython startup file,
  ``tools/lite_startup.py``): ``sys.platform == "emscripten"`` (so guarded cells
  take their browser branch), and starting a thread, a subprocess, a fork or a
  socket raises, as it does in Pyodide; BLAS on one thread.

Each notebook runs alone in an empty folder with ``pytest --nbval-lax``
(``tools/run_standalone.run_alone``): every cell must run and every assertion
hold; outputs are not compared. What it cannot emulate: WebAssembly's 32-bit
integers and pointers (``np.intp`` is int32 in Pyodide), its memory limit, its
``long double``, and Python 3.14 itself.

Usage::

    python tools/lite_emulate.py --python python3.13 --venv .venv/lite-emulation [--jobs 2] [book/x.ipynb ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "_ext"))
import lite  # noqa: E402  (_ext/lite.py)
import lite_pyodide  # noqa: E402
from nbtools import toc_notebooks  # noqa: E402
from run_standalone import RUNNER, build_wheel, run_alone, sh  # noqa: E402

STARTUP = ROOT / "tools" / "lite_startup.py"
# Not in Pyodide: must not be importable in the emulation.
ABSENT = ("torch", "dask")


def constraints(data: dict) -> list[str]:
    """``name==version`` for every package of Pyodide's lock (pip applies those that get installed)."""
    skip = {"softmax-nb"}
    out = []
    for name, pkg in sorted(data["packages"].items()):
        if pkg.get("package_type", "package") == "package" and lite_pyodide.canonical(name) not in skip:
            out.append(f"{name}=={pkg['version']}")
    return out


def make_venv(python: str, venv: Path, wheel: Path, data: dict, reuse: bool = False) -> Path:
    """A fresh venv: the wheel with [ref,data] at Pyodide's versions, and the notebook runner.

    ``reuse`` keeps an existing venv and only reinstalls the wheel (for development).
    """
    py = venv / "bin" / "python"
    stack = lite_pyodide.versions(lite_pyodide.STACK, data)
    pins = [f"{name}=={version}" for name, version in stack.items()]
    if reuse and py.is_file():
        sh(py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--force-reinstall",
           wheel)
        return check_venv(py, stack, data)
    if venv.exists():
        shutil.rmtree(venv)
    sh(python, "-m", "venv", venv)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(constraints(data)) + "\n")
        lock_constraints = f.name
    try:
        base = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        sh(*base, *pins, f"softmax-nb[ref,data] @ {wheel.as_uri()}", *RUNNER)
        # Pyodide's versions of the stack's dependencies too, where pip can have them.
        res = subprocess.run([str(a) for a in [*base, "-c", lock_constraints, *pins,
                                                f"softmax-nb[ref,data] @ {wheel.as_uri()}"]])
        if res.returncode:
            print("note: some dependencies of the stack could not take Pyodide's versions; the stack itself did")
    finally:
        os.unlink(lock_constraints)
    return check_venv(py, stack, data)


def check_venv(py: Path, stack: dict[str, str], data: dict) -> Path:
    """Pyodide's versions of the stack, and neither torch nor dask."""
    probe = ("import json, sys, importlib.metadata as m, importlib.util as u; "
             f"print(json.dumps({{'python': sys.version.split()[0], "
             f"'versions': {{n: m.version(n) for n in {list(stack)!r}}}, "
             f"'absent': [n for n in {list(ABSENT)!r} if u.find_spec(n) is None]}}))")
    got = json.loads(subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True).stdout)
    print(f"Python {got['python']} (Pyodide's: {data['info']['python']});",
          ", ".join(f"{k} {v}" for k, v in got["versions"].items()))
    if got["versions"] != stack:
        raise SystemExit(f"the emulation's versions {got['versions']} are not Pyodide's {stack}")
    if sorted(got["absent"]) != sorted(ABSENT):
        raise SystemExit(f"{set(ABSENT) - set(got['absent'])} must not be installed in the emulation")
    # matplotlib builds its font cache on first use, warning from a timer thread if that is slow:
    # build it now (in $MPLCONFIGDIR), while threads are allowed.
    subprocess.run([str(py), "-c", "import matplotlib.font_manager"], check=True)
    return py


def ipython_dir(where: Path) -> Path:
    """An IPython directory whose default profile runs the Pyodide restrictions at kernel start."""
    startup = where / "profile_default" / "startup"
    startup.mkdir(parents=True)
    shutil.copy(STARTUP, startup / "00-pyodide-emulation.py")
    return where


PROBE = """\
import subprocess, socket, sys, threading
from concurrent.futures import ThreadPoolExecutor

assert sys.platform == "emscripten", sys.platform
for what, call, error in [("a thread", lambda: threading.Thread(target=print).start(), RuntimeError),
                          ("a thread pool", lambda: ThreadPoolExecutor(2).submit(print, 1).result(), RuntimeError),
                          ("a subprocess", lambda: subprocess.run(["true"]), OSError),
                          ("a socket", lambda: socket.socket(), OSError)]:
    try:
        call()
    except error:
        print(what, "refused")
    else:
        raise AssertionError(f"the emulation let {what} start")
"""


def probe_notebook(out: Path) -> Path:
    """A notebook that fails unless the kernel refuses threads, subprocesses and sockets like Pyodide."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PROBE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = out / "pyodide_emulation_probe.ipynb"
    nbformat.write(nb, path)
    return path


def lite_copies(notebooks: list[Path], out: Path) -> list[Path]:
    paths = []
    for nb_path in notebooks:
        nb = nbformat.read(nb_path, as_version=4)
        path = out / nb_path.name
        nbformat.write(lite.lite_notebook(nb, lite.scan_notebook(nb)), path)
        paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter for the fresh venv (the newest: 3.13)")
    ap.add_argument("--venv", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--reuse", action="store_true", help="keep an existing venv (reinstall only the wheel)")
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook of _toc.yml")
    args = ap.parse_args(argv)
    data = lite_pyodide.lock()
    notebooks = [p.resolve() for p in args.notebooks] or toc_notebooks()
    with tempfile.TemporaryDirectory(prefix="lite-emulation-") as tmp:
        tmp_path = Path(tmp)
        os.environ["MPLCONFIGDIR"] = str(tmp_path / "matplotlib")  # the same for any sys.platform
        wheel = build_wheel(tmp_path)
        py = make_venv(args.python, args.venv.resolve(), wheel, data, args.reuse)
        os.environ.update({"IPYTHONDIR": str(ipython_dir(tmp_path / "ipython")), "OPENBLAS_NUM_THREADS": "1",
                           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SBK_PYODIDE_EMULATION": "1"})
        (tmp_path / "lite").mkdir()
        if not run_alone(py, probe_notebook(tmp_path)):
            raise SystemExit("the Pyodide emulation is not in effect in the kernel (tools/lite_startup.py)")
        copies = lite_copies(notebooks, tmp_path / "lite")
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            ok = list(pool.map(lambda p: run_alone(py, p), copies))
    failed = [nb for nb, good in zip(notebooks, ok) if not good]
    if failed:
        print(f"{len(failed)} lite notebook(s) failed under the Pyodide emulation: {', '.join(map(str, failed))}")
    else:
        print(f"{len(notebooks)} lite notebooks ran under the Pyodide emulation")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
