"""The JupyterLite site in a real browser, with no network: layer 3 of the lite tests (README).

The built site (``_build/html``, or ``$BOOK_HTML``) is served on 127.0.0.1 and
Chromium may reach no other host (a Playwright route aborts every other
request, and ``--host-resolver-rules`` stops the kernel's worker too). Pyodide
comes from a local folder instead of its CDN: the server rewrites the site's
``lite/jupyter-lite.json`` (``pyodideUrl``) and the CDN addresses of the site's
lock file (``lite/static/softmax-book/pyodide-lock.json``) to that folder, as a
reader hosting Pyodide would. The folder is

- ``$PYODIDE_DIST``, a full Pyodide distribution of the kernel's release, when set;
- otherwise the npm ``pyodide`` core (``make lite-deps``) plus the pure-Python
  wheels the kernel loads at start, downloaded from the package index at the
  lock's versions (``tools/lite_pyodide.py offline``, cached in ``.venv/pyodide/offline``).

``test_chapter_runs_a_cell_offline`` opens the first chapter in JupyterLite's
notebook interface, waits for the kernel and runs a new pure-Python cell.
``test_every_chapter_runs_in_the_browser`` runs every code cell of every chapter
and compares with the stored outputs laxly (no error where the book has none,
output where the book has output); it needs numpy and the rest, so it runs only
with ``PYODIDE_DIST`` and otherwise skips, naming the variable.

These tests are slow (Pyodide boots in the browser), so they run in
``make test-lite`` (``SBK_LITE_BROWSER=1``), not in ``make test-browser``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from browser_support import CHROMIUM_ARGS, ROOT, find_chromium, skip_or_fail

sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "_ext"))
import lite  # noqa: E402  (_ext/lite.py)
import lite_pyodide  # noqa: E402
from nbtools import toc_files  # noqa: E402

PYODIDE_PREFIX = "/_pyodide/"
CHAPTERS = [f for f in toc_files() if (ROOT / f"{f}.ipynb").is_file()]
BOOT_TIMEOUT_MS = 300_000  # Pyodide, micropip and IPython load in the page
CHAPTER_TIMEOUT_MS = 1_800_000

pytestmark = pytest.mark.skipif(os.environ.get("SBK_LITE_BROWSER") != "1",
                                reason="slow: run by `make test-lite` (SBK_LITE_BROWSER=1)")


# --------------------------------------------------------------------------- the local server
def patched_config(text: str, origin: str) -> str:
    """``lite/jupyter-lite.json`` with Pyodide from this server and the app exposed to the test."""
    config = json.loads(text)
    data = config.setdefault("jupyter-config-data", {})
    data["exposeAppInBrowser"] = True
    kernel = data.setdefault("litePluginSettings", {}).setdefault(lite.KERNEL_PLUGIN, {})
    kernel["pyodideUrl"] = f"{origin}{PYODIDE_PREFIX}pyodide.mjs"
    return json.dumps(config)


def patched_lock(text: str, origin: str, local: dict) -> str:
    """The site's lock with Pyodide's CDN replaced by this server (and its wheels' sha256)."""
    data = json.loads(text)
    for name, pkg in data["packages"].items():
        fn = pkg["file_name"]
        if fn.startswith(("http://", "https://")):
            pkg["file_name"] = origin + PYODIDE_PREFIX + fn.rsplit("/", 1)[1]
            if name in local:
                pkg["file_name"] = origin + PYODIDE_PREFIX + local[name]["file_name"].rsplit("/", 1)[-1]
                pkg["sha256"] = local[name]["sha256"]
    return json.dumps(data)


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
                      ".whl": "application/octet-stream", ".zip": "application/zip"}

    def __init__(self, *args, site: Path, pyodide: Path, local_lock: dict, **kw):
        self.site, self.pyodide, self.local_lock = site, pyodide, local_lock
        super().__init__(*args, directory=str(site), **kw)

    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def translate_path(self, path: str) -> str:
        clean = urlparse(path).path
        if clean.startswith(PYODIDE_PREFIX):
            return str(self.pyodide / clean[len(PYODIDE_PREFIX):])
        return super().translate_path(path)

    def do_GET(self) -> None:  # noqa: N802
        clean = urlparse(self.path).path
        if clean == f"/{lite.LITE_DIR}/jupyter-lite.json":
            return self.send_text(patched_config((self.site / clean[1:]).read_text(), self.origin()))
        if clean == f"/{lite.LITE_DIR}/{lite.LOCK_DIR}/pyodide-lock.json":
            text = (self.site / clean[1:]).read_text()
            return self.send_text(patched_lock(text, self.origin(), self.local_lock["packages"]))
        return super().do_GET()

    def send_text(self, text: str) -> None:
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass

    def log_request(self, code="-", size="-") -> None:
        self.server.requests.append((urlparse(self.path).path, int(code) if str(code).isdigit() else 0))


@pytest.fixture(scope="module")
def pyodide_dir() -> Path:
    dist = os.environ.get("PYODIDE_DIST")
    if dist:
        path = Path(dist).expanduser().resolve()
        if not (path / "pyodide.mjs").is_file():
            pytest.fail(f"PYODIDE_DIST={path} holds no pyodide.mjs")
        return path
    try:
        data = lite_pyodide.lock()
    except (FileNotFoundError, RuntimeError) as exc:
        skip_or_fail(str(exc))
    cache = lite_pyodide.npm_dir().parents[1] / "offline"
    marker = cache / "pyodide-lock.json"
    if not marker.is_file() or json.loads(marker.read_text())["info"] != data["info"]:
        lite_pyodide.offline(cache, data)
    return cache


@pytest.fixture(scope="module")
def server(html_dir, pyodide_dir):
    site = html_dir / lite.LITE_DIR
    if not (site / "jupyter-lite.json").is_file():
        skip_or_fail(f"no JupyterLite site in {site}: run `make book`")
    if not (site / lite.LOCK_DIR / "pyodide-lock.json").is_file():
        pytest.fail(f"{site} has no lock file: the build found no npm pyodide package (make lite-deps)")
    local_lock = json.loads((pyodide_dir / "pyodide-lock.json").read_text())
    handler = partial(Handler, site=html_dir, pyodide=pyodide_dir, local_lock=local_lock)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []  # (path, status) of every request, for the tests
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def offline_browser():
    exe = find_chromium()
    if exe is None:
        skip_or_fail("Chromium not found (install it with `apt-get install chromium`, or set CHROMIUM=/path)")
    from playwright.sync_api import sync_playwright

    # Every host but 127.0.0.1 fails to resolve, for the page and for its workers.
    args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=args)
        yield b
        b.close()


class Session:
    """A chapter open in JupyterLite, with what left (or tried to leave) 127.0.0.1."""

    def __init__(self, browser, origin: str, chapter: str):
        self.blocked: list[str] = []
        self.console: list[str] = []
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        self.ctx.route("**/*", self._route)
        self.page = self.ctx.new_page()
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.url = f"{origin}/{lite.LITE_DIR}/{lite.APP}/index.html?path={lite.lite_path(chapter)}"
        self.page.goto(self.url, wait_until="load")
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=BOOT_TIMEOUT_MS)

    def _route(self, route) -> None:
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def context_note(self) -> str:
        return (f"\nURL: {self.url}\nblocked requests: {self.blocked[:10]}\n"
                f"console (last 15): {self.console[-15:]}")

    def close(self) -> None:
        self.ctx.close()


# Runs cells through the notebook's own commands, as a reader's Shift+Enter would.
RUN_CELLS_JS = r"""
async ([source, indices, timeout]) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  const deadline = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(what)), ms));
  await panel.context.ready;
  await Promise.race([panel.sessionContext.ready, deadline(timeout, 'no kernel session')]);
  const nb = panel.content;
  if (source !== null) {
    nb.activeCellIndex = 0;
    await app.commands.execute('notebook:insert-cell-above');
    nb.activeCell.model.sharedModel.setSource(source);
    indices = [nb.activeCellIndex];
  }
  const results = [];
  for (const i of indices) {
    nb.activeCellIndex = i;
    nb.deselectAll();
    const cell = nb.activeCell;
    if (cell.model.type !== 'code') { continue; }
    await Promise.race([app.commands.execute('notebook:run-cell'), deadline(timeout, 'cell ' + i + ' timed out')]);
    results.push({index: i, id: cell.model.id, count: cell.model.executionCount,
                  outputs: cell.model.outputs.toJSON()});
  }
  return {kernel: panel.sessionContext.session && panel.sessionContext.session.kernel.name, results};
}
"""


def outputs_text(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        else:
            plain = out.get("data", {}).get("text/plain", "")
            parts.append(plain if isinstance(plain, str) else "".join(plain))
    return "".join(parts)


def test_chapter_runs_a_cell_offline(offline_browser, server):
    """The kernel starts with nothing but 127.0.0.1, runs Python, and ``import softmax_nb`` uses the site's lock."""
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    s = Session(offline_browser, origin, CHAPTERS[0])
    try:
        res = s.page.evaluate(RUN_CELLS_JS, ["import sys\nprint(sys.platform, sum(range(10)))", [], BOOT_TIMEOUT_MS])
        (cell,) = res["results"]
        text = outputs_text(cell["outputs"])
        assert cell["count"], f"the cell did not run{s.context_note()}"
        assert "emscripten 45" in text, f"unexpected output {text!r}{s.context_note()}"
        assert res["kernel"] == "python", res

        # No %pip line: the import loads the package's wheel from the site, through the site's lock file,
        # and its dependencies from the Pyodide folder (which, without PYODIDE_DIST, has no numpy).
        del server.requests[:]
        res = s.page.evaluate(RUN_CELLS_JS, ["import softmax_nb\nprint(softmax_nb.softmax([0.0, 0.0]))",
                                             [], BOOT_TIMEOUT_MS])
        text = outputs_text(res["results"][0]["outputs"])
        served = dict(server.requests)
        wheel = [p for p, code in served.items() if re.fullmatch(r"/lite/pypi/softmax_nb-[^/]+\.whl", p)]
        assert wheel and served[wheel[0]] == 200, f"the softmax_nb wheel was not loaded: {served}{s.context_note()}"
        if os.environ.get("PYODIDE_DIST"):
            assert "[0.5 0.5]" in text, f"unexpected output {text!r}{s.context_note()}"
        else:
            wanted = {"numpy", "scipy", "matplotlib", "scikit_learn", "mpmath"}
            asked = {p.rsplit("/", 1)[1].split("-")[0] for p in served if p.startswith(PYODIDE_PREFIX)}
            assert wanted <= asked, f"dependencies not requested: {sorted(wanted - asked)}"
            assert "No module named 'numpy'" in text, f"unexpected output {text!r}{s.context_note()}"
        assert not s.blocked, f"requests to other hosts (blocked): {s.blocked}"
    finally:
        s.close()


# --------------------------------------------------------------------------- with a full Pyodide
def lax_mismatches(book: nbformat.NotebookNode, ran: list[dict], skipped: set[str]) -> list[str]:
    """What a reader would notice: an error where the book has none, no output where it has some."""
    by_id = {c.get("id"): c for c in book.cells if c.cell_type == "code"}
    problems = []
    for cell in ran:
        ref = by_id.get(cell["id"])
        if ref is None:
            continue
        tags = ref.metadata.get("tags", [])
        errors = [o for o in cell["outputs"] if o.get("output_type") == "error"]
        if errors and "raises-exception" not in tags:
            problems.append(f"cell {cell['id']}: {outputs_text(errors)[:300]}")
        elif ref.outputs and not cell["outputs"] and cell["id"] not in skipped:
            problems.append(f"cell {cell['id']}: no output (the book has {len(ref.outputs)})")
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_runs_in_the_browser(offline_browser, server, chapter):
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    if not os.environ.get("PYODIDE_DIST"):
        pytest.skip("needs a full Pyodide distribution (numpy, scipy, ...): set PYODIDE_DIST=/path/to/pyodide "
                    f"(release {lite_pyodide.kernel_pyodide_version()})")
    book = nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4)
    skipped = {book.cells[i].get("id") for i in lite.guarded_cells(lite.scan_notebook(book))}
    s = Session(offline_browser, origin, chapter)
    try:
        n = s.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
        res = s.page.evaluate(RUN_CELLS_JS, [None, list(range(n)), CHAPTER_TIMEOUT_MS])
        problems = lax_mismatches(book, res["results"], skipped)
        assert not problems, "\n".join(problems[:20]) + s.context_note()
        stored = {c.get("id"): " ".join(outputs_text(c.get("outputs", [])).split()) for c in book.cells}
        differ = [c["id"] for c in res["results"]
                  if c["id"] in stored and " ".join(outputs_text(c["outputs"]).split()) != stored[c["id"]]]
        print(f"{chapter}: {len(res['results'])} code cells ran; text differs from the book in {len(differ)}")
    finally:
        s.close()
