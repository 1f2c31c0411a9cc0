# The Softmax Book: every task goes through the project's own virtual environment.
# Quick start on a fresh clone:  make book   (renders _build/html)
#                                make test   (unit tests + strict nbval + -W book build)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
JOBS ?= 2

.PHONY: install book test unit nbval notebooks lab bench clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

book: install
	$(BIN)/jupyter-book build . -W -n --keep-going

unit: install
	$(BIN)/python -m pytest -q tests

nbval: install
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --nbval --nbval-current-env $(NOTEBOOKS)

test: unit nbval book

notebooks: install
	$(BIN)/python tools/sync_colab_cell.py $(NOTEBOOKS)
	$(BIN)/python tools/run_notebooks.py $(NOTEBOOKS)

lab: install
	$(BIN)/jupyter lab book/

bench: install
	$(BIN)/python benchmarks/bench_softmax.py

clean:
	rm -rf _build
