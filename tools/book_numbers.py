"""What the book numbers, numbered as Jupyter Book numbers it: chapters, sections, equations, figures, exercises.

:func:`collect_refs` reads ``_toc.yml`` and every page once and returns a
:class:`Refs`: label -> :class:`Target` (kind, number, title, page), the
figure numbers by cell, the author-year citations of ``references.bib`` and
the glossary terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from myst_blocks import EQ_CLOSE, TARGET, split_blocks
from nbtools import ROOT, toc_files


@dataclass
class Target:
    kind: str  # chapter, section, equation, figure, exercise, theorem-like name
    number: str | None
    title: str
    doc: str


@dataclass
class Refs:
    """What the book numbers: chapters, equations, figures, exercises, sections."""

    docs: dict[str, Target] = field(default_factory=dict)  # "03_overflow" -> chapter
    labels: dict[str, Target] = field(default_factory=dict)
    figures: dict[tuple[str, int], str] = field(default_factory=dict)  # (doc, cell index) -> number
    citations: dict[str, str] = field(default_factory=dict)
    terms: set[str] = field(default_factory=set)


def chapter_numbers() -> dict[str, int | None]:
    """Chapter number of every page of ``_toc.yml`` (None when unnumbered), as Jupyter Book numbers them.

    Numbered parts count on from one part to the next.
    """
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    numbers: dict[str, int | None] = {str(Path(toc["root"]).with_suffix("")): None}
    n = 0
    for part in toc.get("parts", []):
        for entry in part.get("chapters", []):
            name = str(Path(entry["file"]).with_suffix(""))
            if part.get("numbered"):
                n += 1
                numbers[name] = n
            else:
                numbers[name] = None
    for name in toc_files():
        numbers.setdefault(name, None)
    return numbers


def page_title(path: Path) -> str:
    if path.suffix == ".ipynb":
        texts = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    else:
        texts = [path.read_text()]
    for text in texts:
        m = re.search(r"^# (.+)$", text, re.MULTILINE)
        if m:
            return m.group(1).strip()
    return path.stem


def _num(chapter: int | None, n: int) -> str:
    return f"{chapter}.{n}" if chapter is not None else str(n)


def collect_refs() -> Refs:
    """Number every chapter, equation, figure, exercise and theorem as the book does."""
    refs = Refs()
    numbers = chapter_numbers()
    # Sphinx numbers the figures, equations, ... of the unnumbered pages (the quick tour, the appendices) on one
    # count across those pages, in reading order; a numbered chapter counts its own from 1 (as "chapter.n").
    unnumbered: dict[str, int] = {}
    for name, chapter in numbers.items():
        for suffix in (".ipynb", ".md"):
            path = ROOT / f"{name}{suffix}"
            if path.is_file():
                break
        else:
            continue
        doc = Path(name).name
        refs.docs[doc] = Target("chapter", str(chapter) if chapter is not None else None, page_title(path), doc)
        if path.suffix != ".ipynb":
            for m in re.finditer(r"^\((?P<label>[\w.:-]+)\)=\s*\n#+ (?P<title>.+)$", path.read_text(), re.M):
                refs.labels[m["label"]] = Target("section", None, m["title"].strip(), doc)
            continue
        nb = nbformat.read(path, as_version=4)
        counters: dict[str, int] = unnumbered if chapter is None else {}

        def bump(kind: str) -> str:
            counters[kind] = counters.get(kind, 0) + 1
            return _num(chapter, counters[kind])

        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                fig = cell.metadata.get("mystnb", {}).get("figure", {})
                if fig.get("caption"):
                    number = bump("figure")
                    refs.figures[(doc, index)] = number
                    if fig.get("name"):
                        refs.labels[fig["name"]] = Target("figure", number, fig["caption"], doc)
                continue
            if cell.cell_type != "markdown":
                continue
            lines = cell.source.split("\n")
            for i, line in enumerate(lines):
                t = TARGET.match(line)
                if t:
                    heading = next((ln for ln in lines[i + 1:] if ln.strip()), "")
                    level = len(heading) - len(heading.lstrip("#"))
                    title = heading.lstrip("#").strip()
                    if level == 1:
                        refs.labels[t["label"]] = Target("chapter", refs.docs[doc].number, title, doc)
                    else:
                        refs.labels[t["label"]] = Target("section", None, title, doc)
                e = EQ_CLOSE.match(line)
                if e:
                    refs.labels[e["label"]] = Target("equation", bump("equation"), "", doc)
            for block in split_blocks(cell.source):
                label = block.options.get("label") or block.options.get("name")
                if block.name == "exercise":
                    number = bump("exercise")
                    if label:
                        refs.labels[label] = Target("exercise", number, block.arg, doc)
                elif block.name and block.name.startswith("prf:") and block.name != "prf:proof":
                    kind = block.name.split(":", 1)[1]
                    number = bump(kind)
                    if label:
                        refs.labels[label] = Target(kind, number, block.arg, doc)
                elif block.name == "math" and label:
                    refs.labels[label] = Target("equation", bump("equation"), "", doc)
                elif block.name == "glossary":
                    for ln in block.body:
                        if ln.strip() and not ln.startswith((" ", "\t")):
                            refs.terms.add(ln.strip())
    refs.citations = load_citations(ROOT / "references.bib")
    return refs


def load_citations(bib: Path) -> dict[str, str]:
    """``key -> "Lin et al., 2017"`` from a BibTeX file (author-year, as the book cites)."""
    if not bib.is_file():
        return {}
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(bib)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        if not names:
            who = entry.fields.get("organization", entry.fields.get("title", key)).strip("{}")
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        out[key] = f"{who}, {entry.fields.get('year', 'n.d.')}"
    return out
