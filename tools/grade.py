"""Autograde student notebooks offline with otter-grader, into one CSV.

Usage::

    python tools/grade.py SUBMISSIONS_DIR [--out grades.csv]     (make grade SUBMISSIONS=dir/)
    python tools/grade.py --write-tests DIR [--hidden]            (the otter test files)

The tests come from ``book/course/exercises.yml`` (``tools/course_exercises.py``
writes them): for every exercise with ``tests``, an otter OK-format test file
``<label>.py`` whose cases are the ``public`` expressions (students run them
with ``grader.check("<label>")``) and, for grading, the ``hidden`` ones too. An
exercise scores its ``points`` when every case passes and 0 otherwise.

Each submission (any ``*.ipynb`` under SUBMISSIONS_DIR) is matched to its
chapter by the exercise labels it contains, executed once by
``otter.run`` (no container, in this Python environment, so the package and
the chapter's dependencies must be installed; stub cells that still raise are
fine), and graded against that chapter's tests. The CSV has one row per
submission: file, chapter, one column per exercise (points), total and possible.
Written answers are not graded here: ``book/course/exercises.yml`` has a
rubric for each of them, and ``--rubric`` prints it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from book_numbers import collect_refs  # noqa: E402
from course_exercises import graded_exercises, load_exercises, write_tests  # noqa: E402


def chapter_labels() -> dict[str, list[str]]:
    """Chapter file stem -> labels of its autograded exercises, in book order."""
    refs = collect_refs()
    out: dict[str, list[str]] = {}
    for label in graded_exercises():
        target = refs.labels.get(label)
        if target is not None:
            out.setdefault(target.doc, []).append(label)
    for labels in out.values():
        labels.sort(key=lambda lb: [int(x) for x in refs.labels[lb].number.split(".")])
    return out


def chapter_of(nb: nbformat.NotebookNode, by_chapter: dict[str, list[str]]) -> str | None:
    text = "\n".join(c.source for c in nb.cells)
    hits = {doc: sum(f"`{lb}`" in text or f":label: {lb}" in text for lb in labels)
            for doc, labels in by_chapter.items()}
    best = max(hits, key=hits.get, default=None)
    return best if best is not None and hits[best] else None


def autograder_zip(doc: str, labels: list[str], workdir: Path) -> Path:
    from otter.generate import main as generate

    tests = workdir / doc / "tests"
    write_tests(tests, labels, hidden=True)
    config = workdir / doc / "otter_config.json"
    config.write_text(json.dumps({"lang": "python"}))
    zip_path = workdir / doc / "autograder.zip"
    generate(tests_dir=str(tests), output_path=str(zip_path), config=str(config),
             no_requirements=True, no_environment=True)
    return zip_path


def grade(submissions: Path, out_csv: Path) -> list[dict]:
    """Grade every notebook under ``submissions``; write and return the rows."""
    from otter.run import main as otter_run

    by_chapter = chapter_labels()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        zips: dict[str, Path] = {}
        for path in sorted(submissions.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            nb = nbformat.read(path, as_version=4)
            doc = chapter_of(nb, by_chapter)
            row: dict = {"submission": str(path.relative_to(submissions)), "chapter": doc or ""}
            if doc is None:
                row.update(total=0, possible=0, error="no autograded exercise found")
                rows.append(row)
                continue
            if doc not in zips:
                zips[doc] = autograder_zip(doc, by_chapter[doc], work)
            results = otter_run(str(path), autograder=str(zips[doc]), output_dir=None, no_logo=True,
                                debug=bool(os.environ.get("GRADE_DEBUG")))
            total = possible = 0.0
            for label in by_chapter[doc]:
                result = results.results.get(label)
                score = float(result.score) if result is not None else 0.0
                row[label] = score
                total += score
                possible += float(graded_exercises()[label].get("points", 1))
            row.update(total=total, possible=possible)
            rows.append(row)
            print(f"{row['submission']}: {total:g} / {possible:g}", flush=True)
    columns = ["submission", "chapter"] + [lb for labels in by_chapter.values() for lb in labels] \
        + ["total", "possible", "error"]
    columns = [c for c in columns if any(c in r for r in rows) or c in ("submission", "chapter", "total", "possible")]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def rubric() -> str:
    lines = []
    for label, info in load_exercises().items():
        if info.get("rubric"):
            lines.append(f"{label}: {info['rubric']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("submissions", nargs="?", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "grades.csv")
    parser.add_argument("--write-tests", type=Path, metavar="DIR")
    parser.add_argument("--hidden", action="store_true", help="with --write-tests: include the hidden cases")
    parser.add_argument("--rubric", action="store_true", help="print the rubric for written answers")
    args = parser.parse_args(argv)
    if args.rubric:
        print(rubric())
        return 0
    if args.write_tests:
        for path in write_tests(args.write_tests, hidden=args.hidden):
            print(f"wrote {path}")
        return 0
    if args.submissions is None or not args.submissions.is_dir():
        parser.error("give a folder of submitted notebooks (make grade SUBMISSIONS=dir/)")
    rows = grade(args.submissions, args.out)
    print(f"wrote {args.out} ({len(rows)} submissions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
