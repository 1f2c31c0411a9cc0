"""Build the source of a trimmed book for one course path: a subset of chapters, the -W -n gate still green.

Usage::

    python tools/make_course.py book/course/paths/two_weeks.yml [--out _build/course]

(``make course TOC=book/course/paths/two_weeks.yml`` runs this, then builds
the result with ``jupyter-book build -W -n --keep-going``.)

A path file names the chapters to keep (and, optionally, a title)::

    title: "Softmax, losses and calibration (two weeks)"
    chapters: [book/00_quick_tour, book/03_overflow, ...]   # or: all
    exercises: [ex-qt-1, ex-ovf-3, ...]                       # optional: the assigned ones

``--plan`` prints the path's reading and exercise hours instead (a Markdown table).

The pages that are not chapters (the introduction, the instructor page, the
summary sheet, the glossary, the API and the bibliography) are always kept.
The tool writes ``<out>/<path name>/``: the kept pages, a ``_toc.yml`` with the
same parts minus the dropped chapters (an emptied part goes), a copy of
``_config.yml`` titled after the path, and what the build needs
(``_ext``, ``_static``, ``references.bib``, ``softmax_nb``, the self-check questions of
``book/selfcheck``; the answers page prints those of the kept chapters). Every reference to
a dropped chapter (``{doc}``) or to an equation, figure, exercise, theorem or
section in one (``{eq}``, ``{numref}``, ``{ref}``, ``{prf:ref}``) becomes plain
text naming it in the full book, e.g. "*Softmax at scale* (full book)" or
"Equation (9.2) of the full book", so no "unknown document" warning is left.
"""

from __future__ import annotations

import argparse
import math
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import chapter_length  # noqa: E402
from book_numbers import Refs, collect_refs  # noqa: E402
from myst_blocks import ROLE, split_target  # noqa: E402
from nbtools import toc_files  # noqa: E402

XREF_ROLES = {"eq", "numref", "ref", "prf:ref", "doc"}


def chapter_files() -> list[str]:
    """The numbered and unnumbered chapters of ``_toc.yml`` (not the root)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out = []

    def walk(entries: list) -> None:
        for entry in entries:
            out.append(str(Path(entry["file"]).with_suffix("")))
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return out


def trimmed_toc(keep: set[str]) -> dict:
    """``_toc.yml`` without the chapters not in ``keep``; parts left empty are dropped."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out = copy.deepcopy(toc)
    parts = []

    def kept(entries: list) -> list:
        res = []
        for e in entries:
            if str(Path(e["file"]).with_suffix("")) not in keep:
                continue
            if "sections" in e:
                e["sections"] = kept(e["sections"])
                if not e["sections"]:
                    del e["sections"]
            res.append(e)
        return res

    for part in out.get("parts", []):
        chapters = kept(part.get("chapters", []))
        if chapters:
            part["chapters"] = chapters
            parts.append(part)
    out["parts"] = parts
    return out


def is_reference_page(name: str) -> bool:
    """Pages kept in every course: everything that is not a numbered chapter notebook."""
    return not (ROOT / f"{name}.ipynb").is_file()


def plain_reference(role: str, content: str, refs: Refs) -> str:
    """The text a reference to a dropped page becomes."""
    text, target = split_target(content)
    if role == "doc":
        t = refs.docs.get(Path(target).name)
        title = t.title if t else target
        return f"{text} (*{title}*, full book)" if text else f"*{title}* (full book)"
    t = refs.labels.get(target)
    if t is None:
        return text or target
    chapter = refs.docs.get(t.doc)
    where = f"*{chapter.title}*" if chapter else t.doc
    if text and "%s" not in text and "{number}" not in text:
        return f"{text} ({where}, full book)"
    word = {"equation": "Equation", "figure": "Figure", "exercise": "Exercise", "chapter": "Chapter",
            "section": "Section"}.get(t.kind, t.kind.capitalize())
    if t.kind == "chapter":
        return f"{where} (full book)"
    if t.kind == "section":
        return f"the section *{t.title}* of {where} (full book)"
    number = f"({t.number})" if t.kind == "equation" else t.number
    if text:
        return text.replace("%s", t.number or "").replace("{number}", t.number or "") + " (full book)"
    return f"{word} {number} of the full book"


def rewrite(text: str, dropped: set[str], refs: Refs) -> str:
    """Turn every cross-reference into ``dropped`` pages (file stems) into plain text."""

    def repl(m: re.Match) -> str:
        role = m["role"]
        if role not in XREF_ROLES:
            return m.group(0)
        _, target = split_target(m["content"])
        if role == "doc":
            doc = Path(target).name
        else:
            t = refs.labels.get(target)
            doc = t.doc if t else None
        if doc in dropped:
            return plain_reference(role, m["content"], refs)
        return m.group(0)

    return ROLE.sub(repl, text)


def load_path(path: Path) -> dict:
    spec = yaml.safe_load(path.read_text())
    chapters = spec.get("chapters", [])
    if chapters == "all":
        chapters = [c for c in chapter_files() if not is_reference_page(c)]
    chapters = [str(Path(c).with_suffix("")) for c in chapters]
    known = set(chapter_files())
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise ValueError(f"{path}: chapters not in _toc.yml: {unknown}")
    spec["chapters"] = chapters
    return spec


def build(path_file: Path, out: Path) -> Path:
    spec = load_path(path_file)
    refs = collect_refs()
    keep = set(spec["chapters"]) | {c for c in chapter_files() if is_reference_page(c)}
    dropped = {Path(c).name for c in chapter_files() if c not in keep}
    site = out / path_file.stem
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    root = yaml.safe_load((ROOT / "_toc.yml").read_text())["root"]
    for name in [root, *sorted(keep)]:
        for suffix in (".ipynb", ".md"):
            src = ROOT / f"{name}{suffix}"
            if not src.is_file():
                continue
            dst = site / f"{name}{suffix}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            if suffix == ".ipynb":
                nb = nbformat.read(src, as_version=4)
                for cell in nb.cells:
                    if cell.cell_type == "markdown":
                        cell.source = rewrite(cell.source, dropped, refs)
                nbformat.write(nb, dst)
            else:
                dst.write_text(rewrite(src.read_text(), dropped, refs))
    for extra in ("_ext", "_static", "softmax_nb", "book/course", "book/selfcheck"):  # selfcheck: the questions
        if (ROOT / extra).is_dir():
            shutil.copytree(ROOT / extra, site / extra, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for extra in ("references.bib", "pyproject.toml"):
        if (ROOT / extra).is_file():
            shutil.copy2(ROOT / extra, site / extra)
    (site / "_toc.yml").write_text(yaml.safe_dump(trimmed_toc(keep), sort_keys=False, allow_unicode=True))
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    if spec.get("title"):
        cfg["title"] = spec["title"]
    (site / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return site


def chapter_plan(path: Path) -> dict:
    """Time estimates of one chapter, by the book's one length rule (tools/chapter_length.py): reading
    minutes (words / 120 + 6 s per code line, rounded up) and minutes per exercise."""
    return {"reading": math.ceil(chapter_length.measure(path).minutes),
            "exercises": chapter_length.exercise_minutes(path)}


def plan(path_file: Path) -> str:
    """A Markdown table of the path's chapters with reading and exercise hours."""
    spec = load_path(path_file)
    rows = ["| chapter | reading (h) | exercises | exercise time (h) |", "| --- | --- | --- | --- |"]
    total_r = total_e = 0.0
    chosen = spec.get("exercises")
    for name in spec["chapters"]:
        p = plan_ = chapter_plan(ROOT / f"{name}.ipynb")
        if chosen:
            plan_["exercises"] = {lb: m for lb, m in plan_["exercises"].items() if lb in chosen}
        total_r += p["reading"] / 60
        total_e += sum(plan_["exercises"].values()) / 60
        names = ", ".join(p["exercises"]) if chosen else str(len(p["exercises"]))
        rows.append(f"| {Path(name).name} | {p['reading'] / 60:.1f} | {names} | "
                    f"{sum(p['exercises'].values()) / 60:.1f} |")
    rows.append(f"| **total** | **{total_r:.1f}** | | **{total_e:.1f}** |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="a course path, e.g. book/course/paths/two_weeks.yml")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "course")
    parser.add_argument("--plan", action="store_true", help="print the time estimates instead of building")
    args = parser.parse_args(argv)
    if args.plan:
        print(plan(args.path))
        return 0
    site = build(args.path, args.out)
    print(site)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
