"""Pyodide for the book's JupyterLite site: the release's lock file, and wheels from the package index.

The pinned kernel (jupyterlite-pyodide-kernel, ``requirements.txt``) expects one
Pyodide release (``PYODIDE_VERSION`` in its ``constants``). ``make lite-deps``
installs the npm ``pyodide`` package of that release into ``.venv/pyodide``: its
core (``pyodide.mjs``, ``pyodide.asm.wasm``, ``python_stdlib.zip``) and its
``pyodide-lock.json``, which names every package of the release and its version.
It holds no package wheels, and no registry here has Pyodide's compiled ones
(numpy, scipy, ...); the pure-Python ones are on the package index.

Commands::

    python tools/lite_pyodide.py versions                # the lock's numpy, scipy, ... versions
    python tools/lite_pyodide.py kernel-wheels DEST      # wheels the site ships for its kernel
    python tools/lite_pyodide.py offline DEST            # a Pyodide folder for the offline browser test

``kernel-wheels``: the kernel installs ``comm`` at start, which Pyodide does not
have, so without it in the site's ``pypi/`` folder it would come from PyPI; the
site ships it at the book's pin (``requirements.txt``).

``offline``: the npm core plus the pure-Python wheels the kernel loads at start
(micropip, packaging, IPython with its dependencies, jedi, parso), downloaded
at the lock's versions, and a copy of the lock whose ``sha256`` entries are
those of the downloaded files (Pyodide checks them; the package index's
wheels are not byte-identical to Pyodide's copies).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the kernel loads from the lock before the first cell runs (its worker:
# micropip, then piplite.install of ipykernel, comm, pyodide-kernel, jedi and ipython).
KERNEL_START = ("micropip", "packaging", "ipython", "jedi")
# Shipped in the site's pypi/ folder: installed by the kernel at start, absent from Pyodide.
KERNEL_EXTRA = ("comm",)
# The numeric stack whose versions the Pyodide emulation (tools/lite_emulate.py) pins.
STACK = ("numpy", "scipy", "matplotlib", "scikit-learn", "mpmath")


def venv_prefix() -> Path:
    return Path(sys.prefix)


def npm_dir() -> Path:
    return venv_prefix() / "pyodide" / "node_modules" / "pyodide"


def kernel_pyodide_version() -> str:
    from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION

    return PYODIDE_VERSION


def lock(path: Path | None = None) -> dict:
    """The release's ``pyodide-lock.json`` (default: the npm package, checked against the kernel's version)."""
    if path is None:
        pkg = npm_dir() / "package.json"
        if not pkg.is_file():
            raise FileNotFoundError(f"no npm pyodide package in {npm_dir()}: run `make lite-deps` (needs npm)")
        version = json.loads(pkg.read_text())["version"]
        if version != kernel_pyodide_version():
            raise RuntimeError(f"{npm_dir()} is pyodide {version}; the pinned kernel expects "
                               f"{kernel_pyodide_version()}: run `make lite-deps`")
        path = npm_dir() / "pyodide-lock.json"
    return json.loads(path.read_text())


def versions(names: tuple[str, ...] = STACK, data: dict | None = None) -> dict[str, str]:
    packages = (data or lock())["packages"]
    return {n: packages[n]["version"] for n in names}


def closure(names: tuple[str, ...], data: dict) -> list[str]:
    """``names`` and everything they depend on in the lock, in a stable order."""
    packages = {canonical(k): v for k, v in data["packages"].items()}
    seen: list[str] = []
    todo = [canonical(n) for n in names]
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.append(name)
        todo += [canonical(d) for d in packages[name]["depends"]]
    return seen


def canonical(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


def pinned(name: str, requirements: Path = ROOT / "requirements.txt") -> str:
    for line in requirements.read_text().splitlines():
        if "==" in line and canonical(line.split("==")[0].strip()) == canonical(name):
            return line.split("==")[1].strip()
    raise KeyError(f"{name} is not pinned in {requirements}")


def download(specs: list[str], dest: Path) -> None:
    """Pure-Python wheels (``name==version``) from the package index, for any Python 3."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--implementation", "py", "--abi", "none", "--platform", "any",
           "--python-version", "3.14", "--retries", "1", "--timeout", "30", "--dest", str(dest), *specs]
    subprocess.run(cmd, check=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_for(name: str, version: str, folder: Path) -> Path:
    stem = canonical(name).replace("-", "_")
    for wheel in folder.glob("*.whl"):
        parts = wheel.name.split("-")
        if canonical(parts[0]).replace("-", "_") == stem and parts[1] == version:
            return wheel
    raise FileNotFoundError(f"no wheel of {name} {version} in {folder}")


def kernel_wheels(dest: Path) -> list[Path]:
    specs = [f"{n}=={pinned(n)}" for n in KERNEL_EXTRA]
    download(specs, dest)
    return [wheel_for(n, pinned(n), dest) for n in KERNEL_EXTRA]


def offline(dest: Path, data: dict | None = None, core: Path | None = None) -> Path:
    """A Pyodide folder that starts the JupyterLite kernel with no network (see the module docstring)."""
    data = data or lock()
    core = core or npm_dir()
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide.js",
                 "package.json"):
        if (core / name).is_file():
            shutil.copy(core / name, tmp / name)
    packages = data["packages"]
    by_name = {canonical(k): k for k in packages}
    names = closure(KERNEL_START, data)
    download([f"{by_name[n]}=={packages[by_name[n]]['version']}" for n in names], tmp)
    out = json.loads(json.dumps(data))
    for n in names:
        entry = out["packages"][by_name[n]]
        wheel = wheel_for(n, entry["version"], tmp)
        entry["file_name"], entry["sha256"] = wheel.name, sha256(wheel)
    (tmp / "pyodide-lock.json").write_text(json.dumps(out, indent=1) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("versions")
    for name in ("kernel-wheels", "offline"):
        sub.add_parser(name).add_argument("dest", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "versions":
        data = lock()
        print(f"Pyodide {kernel_pyodide_version()} (Python {data['info']['python']}):",
              ", ".join(f"{k} {v}" for k, v in versions(data=data).items()))
    elif args.cmd == "kernel-wheels":
        for wheel in kernel_wheels(args.dest):
            print(wheel)
    else:
        print(offline(args.dest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
