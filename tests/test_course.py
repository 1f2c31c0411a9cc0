"""Course paths and the trimmable table of contents (tools/make_course.py, ``make course TOC=...``).

Fast checks (always run): every path in ``book/course/paths/`` names chapters
of ``_toc.yml`` and exercises of those chapters; the trimmed ``_toc.yml`` keeps
the reference pages and drops emptied parts; after trimming, no page of the
trimmed book refers to a dropped chapter or to a label inside one.

The builds (``jupyter-book build -W -n --keep-going`` of each path, about
1 min each on an idle machine) run only with ``RUN_COURSE_BUILDS=1``, as
``make test-course`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_numbers  # noqa: E402
import make_course  # noqa: E402
import myst_blocks  # noqa: E402

PATHS = sorted((ROOT / "book" / "course" / "paths").glob("*.yml"))
IDS = [p.stem for p in PATHS]
REFS = book_numbers.collect_refs()


def test_there_are_three_paths():
    assert {"two_weeks", "one_week_numerics", "full_book"} <= set(IDS)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_path_names_real_chapters_and_exercises(path):
    spec = make_course.load_path(path)
    assert spec["chapters"] and spec.get("title")
    for label in spec.get("exercises", []):
        assert label in REFS.labels and REFS.labels[label].kind == "exercise", label
        assert f"book/{REFS.labels[label].doc}" in spec["chapters"], f"{label} is not in a chapter of the path"
    table = make_course.plan(path)
    assert table.count("\n") == len(spec["chapters"]) + 2


def text_of(site: Path) -> dict[Path, str]:
    out = {}
    for p in site.joinpath("book").rglob("*"):
        if p.suffix == ".md":
            out[p] = p.read_text()
        elif p.suffix == ".ipynb":
            out[p] = "\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "markdown")
    return out


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_trimmed_book_has_no_reference_to_dropped_chapters(path, tmp_path):
    site = make_course.build(path, tmp_path)
    spec = make_course.load_path(path)
    toc = yaml.safe_load((site / "_toc.yml").read_text())
    listed = []

    def walk(entries):
        for e in entries:
            listed.append(e["file"])
            walk(e.get("sections", []))

    for part in toc["parts"]:
        walk(part["chapters"])
    chapters = [c for c in listed if not make_course.is_reference_page(c)]
    assert chapters == [c for c in make_course.chapter_files() if c in spec["chapters"]]
    assert all(part["chapters"] for part in toc["parts"])
    assert "book/api" in listed and "book/glossary" in listed
    dropped = {Path(c).name for c in make_course.chapter_files() if c not in listed}
    for page, text in text_of(site).items():
        for m in myst_blocks.ROLE.finditer(text):
            if m["role"] not in make_course.XREF_ROLES:
                continue
            _, target = myst_blocks.split_target(m["content"])
            doc = Path(target).name if m["role"] == "doc" else getattr(REFS.labels.get(target), "doc", None)
            assert doc not in dropped, f"{page.name}: {m.group(0)} refers to a dropped chapter"


def test_rewrite_examples():
    dropped = {"09_softmax_at_scale", "01_exponentiation"}
    out = make_course.rewrite("see {doc}`09_softmax_at_scale` and {doc}`03_overflow`", dropped, REFS)
    assert out.startswith("see *Softmax at scale") and "(full book) and {doc}`03_overflow`" in out
    eq = next(lb for lb, t in REFS.labels.items() if t.kind == "equation" and t.doc == "09_softmax_at_scale")
    assert make_course.rewrite(f"by {{eq}}`{eq}`", dropped, REFS) == \
        f"by Equation ({REFS.labels[eq].number}) of the full book"


@pytest.mark.skipif(os.environ.get("RUN_COURSE_BUILDS") != "1", reason="slow: make test-course")
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_course_builds_with_the_gate(path, tmp_path):
    site = make_course.build(path, tmp_path)
    jb = Path(sys.executable).with_name("jupyter-book")
    run = subprocess.run([str(jb), "build", str(site), "-W", "-n", "--keep-going"], capture_output=True,
                         text=True, timeout=1800)
    warnings = [ln for ln in (run.stdout + run.stderr).splitlines() if "WARNING" in ln or "ERROR" in ln]
    assert run.returncode == 0, f"{path.stem}: the trimmed book does not build cleanly:\n" + "\n".join(warnings[:40])
