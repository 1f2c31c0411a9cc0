"""Layer 1 of the lite tests (README, "Running the book in the browser"): the built JupyterLite site.

In ``_build/html/lite`` (or ``$BOOK_HTML/lite``): the site exists and its
``jupyter-lite.json`` files are valid against the site's own schema; the
``softmax_nb`` wheel is in piplite's index with the right hash and installs in a
fresh venv with ``--no-deps``; the site's Pyodide lock file makes the package
importable (its wheel, hash, dependencies, and every other package on
Pyodide's CDN or the local Pyodide); every chapter notebook is in the lite
contents, as a lite copy; every chapter page links to it and states what runs
in the browser; no page loads jupyterlite-sphinx's Google Fonts stylesheet.

``make test`` runs this file in the unit stage and again after ``make book``
(the browser stage). Before a build, or when a chapter, ``_toc.yml`` or
``_ext/lite.py`` is newer than the build, it skips with the reason; a fresh
book without its lite site fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
sys.path.insert(0, str(ROOT / "tools"))
import lite  # noqa: E402  (_ext/lite.py)
import lite_pyodide  # noqa: E402
from edition import package_version  # noqa: E402  (_ext/edition.py)
from nbtools import COLAB_TAG, toc_files, toc_notebooks  # noqa: E402

CHAPTERS = [f for f in toc_files() if (ROOT / f"{f}.ipynb").is_file()]
VERSION = package_version()


def built_site() -> Path:
    """The built lite site; skip before a build or when sources are newer, fail when a fresh book has none."""
    html = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
    site = html / lite.LITE_DIR
    table = site / lite.SUPPORT_JSON
    reference = table if table.is_file() else html / "index.html"
    if not reference.is_file():
        pytest.skip(f"no built book in {html}: run `make book`")
    sources = [ROOT / "_toc.yml", ROOT / "_ext" / "lite.py", *toc_notebooks()]
    newer = [p.name for p in sources if p.stat().st_mtime > reference.stat().st_mtime]
    if newer:
        pytest.skip(f"the build in {html} is older than {', '.join(newer[:3])}: run `make book`")
    assert table.is_file(), f"the book in {html} was built without its JupyterLite site ({site})"
    return site


@pytest.fixture(scope="module")
def site() -> Path:
    return built_site()


@pytest.fixture(scope="module")
def config(site) -> dict:
    return json.loads((site / "jupyter-lite.json").read_text())


@pytest.fixture(scope="module")
def kernel_settings(config) -> dict:
    return config["jupyter-config-data"]["litePluginSettings"][lite.KERNEL_PLUGIN]


def test_site_config_is_valid(site, config):
    import jsonschema

    assert (site / "index.html").is_file() and (site / lite.APP / "index.html").is_file()
    schema = json.loads((site / "jupyterlite.schema.v0.json").read_text())
    jsonschema.validate(config, schema)
    for app_config in site.glob("*/jupyter-lite.json"):
        jsonschema.validate(json.loads(app_config.read_text()), schema)


def piplite_index(site: Path) -> dict:
    return json.loads((site / "pypi" / "all.json").read_text())


def test_the_package_wheel_is_listed(site, kernel_settings):
    assert any(u.startswith("./pypi/all.json") for u in kernel_settings["pipliteUrls"])
    index = piplite_index(site)
    assert set(index) >= {"softmax-nb", "comm"}, f"piplite index: {sorted(index)}"
    (release,) = index["softmax-nb"]["releases"][VERSION]
    wheel = site / "pypi" / release["url"]
    assert wheel.is_file() and hashlib.sha256(wheel.read_bytes()).hexdigest() == release["digests"]["sha256"]
    names = zipfile.ZipFile(wheel).namelist()
    assert "softmax_nb/__init__.py" in names and any(n.startswith("softmax_nb/data/") for n in names)


def test_the_package_wheel_installs_with_no_deps(site, tmp_path):
    (wheel,) = (site / "pypi").glob("softmax_nb-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
                    "--no-index", "--disable-pip-version-check", str(wheel)], check=True)
    probe = ("import importlib.metadata as m, importlib.util as u; "
             "print(m.version('softmax-nb'), u.find_spec('softmax_nb').origin)")
    out = subprocess.run([str(py), "-I", "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == VERSION and out[1].startswith(str(venv)), out


def test_the_lock_makes_the_package_importable(site, kernel_settings):
    from jupyterlite_pyodide_kernel.constants import PYODIDE_CDN_URL

    url = kernel_settings["loadPyodideOptions"]["lockFileURL"]
    assert url == f"./{lite.LOCK_DIR}/pyodide-lock.json"
    lock_path = site / url
    data = json.loads(lock_path.read_text())
    entry = data["packages"]["softmax-nb"]
    wheel = (lock_path.parent / entry["file_name"]).resolve()
    assert wheel.parent == (site / "pypi").resolve() and wheel.is_file()
    assert entry["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert entry["imports"] == ["softmax_nb"]
    assert set(entry["depends"]) == {"numpy", "matplotlib", "scipy", "scikit-learn", "mpmath"}
    assert set(entry["depends"]) <= set(data["packages"])
    local = (site / "static" / "pyodide").is_dir()  # built with PYODIDE_DIST
    base = "../pyodide/" if local else PYODIDE_CDN_URL.rstrip("/") + "/"
    others = [p["file_name"] for n, p in data["packages"].items() if n != "softmax-nb"]
    assert all(f.startswith(base) for f in others), [f for f in others if not f.startswith(base)][:5]
    if local:
        assert kernel_settings["pyodideUrl"] == "./static/pyodide/pyodide.mjs"
    else:
        assert "pyodideUrl" not in kernel_settings  # the kernel's default: Pyodide's CDN
        assert data["info"] == lite_pyodide.lock()["info"]


def test_every_chapter_is_in_the_lite_contents(site):
    listed = {item["path"] for item in json.loads((site / "api" / "contents" / "all.json").read_text())["content"]}
    for page in CHAPTERS:
        path = lite.lite_path(page)
        assert path in listed, f"{path} is not in the lite contents"
        copy = nbformat.read(site / "files" / path, as_version=4)
        assert copy.metadata.kernelspec.name == "python"
        assert not any(COLAB_TAG in c.metadata.get("tags", []) for c in copy.cells)
        assert not any(c.get("outputs") for c in copy.cells if c.cell_type == "code")


def test_every_chapter_page_links_to_its_lite_notebook(site):
    table = json.loads((site / lite.SUPPORT_JSON).read_text())
    assert sorted(table) == sorted(CHAPTERS)
    for page in CHAPTERS:
        html = (site.parent / f"{page}.html").read_text()
        href = lite.lite_url(page)
        assert f'href="{href}"' in html, f"{page}.html does not link to {href}"
        assert (site.parent / Path(page).parent / href.split("?")[0]).resolve().is_file()
        assert table[page]["status"] in html.replace("&#x27;", "'"), f"{page}.html lacks its browser status"
        assert "fonts.googleapis.com" not in html and "jupyterlite_sphinx.js" not in html


def test_no_page_loads_jupyterlite_sphinx_assets(site):
    pages = [p for p in site.parent.rglob("*.html") if lite.LITE_DIR not in p.relative_to(site.parent).parts]
    offenders = [p.name for p in pages if "fonts.googleapis.com" in p.read_text(errors="replace")]
    assert not offenders, f"pages loading Google Fonts: {offenders[:5]}"
