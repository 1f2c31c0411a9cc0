"""Turn each chapter into a short reveal.js deck (``make slides``), offline.

The deck is derived from the chapter, so it never drifts from it:

- the title and "What you will learn";
- one slide per section: its heading and first paragraph;
- every figure (the stored output, without its code);
- the summary. Exercises and solutions are left out.

MyST syntax that plain Markdown does not know is flattened: roles such as
``{doc}`03_overflow``` become their text, directive fences (theorems,
admonitions) become a bold title followed by their body, ``(label)=`` lines go.

nbconvert's slides exporter writes the decks; reveal.js, jQuery and RequireJS
come from npm (``make slides`` installs the pinned versions into
``.venv/slides``), MathJax 3 from the pinned sphinx-mathjax-offline package.
Everything is copied into the output folder, so the decks open from
``file://`` with no network.

Usage: ``python tools/make_slides.py --out _build/slides --node .venv/slides/node_modules [chapters...]``
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import COLAB_TAG, ROOT, toc_notebooks  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent / "slides_template"
ROLE = re.compile(r"\{([a-z]+:)?[a-z]+(:[a-z]+)?\}`([^`]*)`")
OPEN = re.compile(r"^(`{3,}|:{3,})\{([\w:-]+)\}\s*(.*)$")
OPTION = re.compile(r"^:[\w-]+:")
STOP = re.compile(r"^#{1,2}\s+(Exercises|Solutions)\b", re.M)


def role_text(match: re.Match) -> str:
    text = match[3]
    label = re.match(r"(.*?)\s*<[^>]*>$", text)  # {doc}`words <target>` -> words
    return label[1] if label else text


def flatten(markdown: str) -> str:
    """MyST -> plain Markdown: roles to text, directives to a bold title plus body, labels dropped."""
    out: list[str] = []
    fences: list[tuple[str, bool]] = []  # (fence, is_directive)
    for line in markdown.splitlines():
        if re.match(r"^\([\w-]+\)=\s*$", line):
            continue
        m = OPEN.match(line)
        if m:
            fences.append((m[1], True))
            title = m[3].strip() or m[2].split(":")[-1].replace("-", " ").capitalize()
            if m[2] not in {"math"}:
                out.append(f"**{ROLE.sub(role_text, title)}**")
                out.append("")
            else:
                out.append("$$")
                fences[-1] = (m[1], "math")  # type: ignore[assignment]
            continue
        if fences and fences[-1][1] and OPTION.match(line):
            continue
        if fences and line.strip() == fences[-1][0]:
            fence, kind = fences.pop()
            if kind == "math":
                out.append("$$")
            elif not kind:
                out.append(line)
            continue
        if re.match(r"^(`{3,})\w*\s*$", line) and not (fences and not fences[-1][1]):
            fences.append((re.match(r"^(`{3,})", line)[1], False))
            out.append(line)
            continue
        out.append(ROLE.sub(role_text, line))
    return "\n".join(out).strip()


def first_paragraph(markdown: str, limit: int = 700) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", markdown.strip()) if p.strip()]
    keep = paragraphs[:2] if paragraphs and paragraphs[0].lstrip().startswith("#") else paragraphs[:1]
    text = "\n\n".join(keep)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def has_figure(cell) -> bool:
    return cell.cell_type == "code" and any(
        "image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}) for o in cell.get("outputs", []))


def deck(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The slide notebook of one chapter."""
    cells = []
    in_summary = False

    def slide(source: str, kind: str = "slide") -> None:
        cell = nbformat.v4.new_markdown_cell(source)
        cell.metadata["slideshow"] = {"slide_type": kind}
        cells.append(cell)

    for cell in nb.cells:
        if COLAB_TAG in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "markdown":
            text = flatten(cell.source)
            if re.match(r"^#\s", text) and not cells:  # the title cell
                learn = re.search(r"\*\*What you will learn\.?\*\*.*?(?=\n\s*\n|\Z)", text, re.S)
                slide(text.splitlines()[0] + ("\n\n" + learn[0] if learn else ""))
                continue
            # A cell may end one section and start the next: split at each level-2 heading.
            chunks = re.split(r"(?m)^(?=##\s)", text)
            if chunks[0].strip() and not chunks[0].startswith("## ") and in_summary and cells:
                cells[-1].source += "\n\n" + chunks[0].strip()
            for chunk in chunks:
                heading = re.match(r"^##\s+(.*)", chunk)
                if not heading:
                    continue
                if STOP.match(chunk):
                    return finish(nb, cells)
                in_summary = heading[1].strip().lower().startswith("summary")
                slide(chunk.strip() if in_summary else first_paragraph(chunk))
        elif has_figure(cell):
            fig = nbformat.v4.new_code_cell(cell.source)
            fig.outputs = [o for o in cell.outputs if o.get("output_type") in {"display_data", "execute_result"}
                           and ("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}))]
            fig.metadata["slideshow"] = {"slide_type": "subslide"}
            fig.metadata["tags"] = ["remove-input"]
            caption = ((cell.metadata.get("mystnb") or {}).get("figure") or {}).get("caption")
            cells.append(fig)
            if caption:
                slide(flatten(caption), "fragment")
    return finish(nb, cells)


def finish(nb: nbformat.NotebookNode, cells: list) -> nbformat.NotebookNode:
    out = nbformat.v4.new_notebook()
    out.metadata = nb.metadata
    out.cells = cells
    return out


def copy_assets(out: Path, node_modules: Path) -> None:
    lib = out / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    reveal = node_modules / "reveal.js"
    for sub in ("dist", "plugin/notes"):
        shutil.copytree(reveal / sub, out / "reveal.js" / sub, dirs_exist_ok=True)
    shutil.copy(reveal / "LICENSE", out / "reveal.js" / "LICENSE")
    shutil.copy(node_modules / "jquery" / "dist" / "jquery.min.js", lib / "jquery.min.js")
    shutil.copy(node_modules / "requirejs" / "require.js", lib / "require.js")
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline") or importlib.util.find_spec("sphinx_mathjax_offline")
    if spec is None or spec.origin is None:
        raise SystemExit("sphinx-mathjax-offline is not installed (pip install -r requirements.txt)")
    mathjax = Path(spec.origin).parent / "static" / "mathjax"
    (lib / "mathjax").mkdir(exist_ok=True)
    shutil.copy(mathjax / "tex-chtml.js", lib / "mathjax" / "tex-chtml.js")
    shutil.copytree(mathjax / "output" / "chtml" / "fonts", lib / "mathjax" / "output" / "chtml" / "fonts",
                    dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "slides")
    parser.add_argument("--node", type=Path, default=ROOT / ".venv" / "slides" / "node_modules")
    parser.add_argument("chapters", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if not (args.node / "reveal.js" / "dist" / "reveal.js").is_file():
        raise SystemExit(f"reveal.js not found in {args.node}: run `make slides` (it installs it from npm)")
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    exporter = SlidesExporter(config=config, template_name="softmax_reveal",
                              extra_template_basedirs=[str(TEMPLATES)])
    exporter.reveal_url_prefix = "reveal.js"
    exporter.jquery_url = "lib/jquery.min.js"
    exporter.require_js_url = "lib/require.js"
    exporter.reveal_scroll = True
    exporter.reveal_theme = "white"  # its fonts ship with reveal.js ("simple" loads web fonts)
    args.out.mkdir(parents=True, exist_ok=True)
    copy_assets(args.out, args.node)
    chapters = args.chapters or toc_notebooks()
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(deck(nb))
        target = args.out / f"{Path(path).stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        print(f"wrote {target.relative_to(args.out.parent) if args.out.parent in target.parents else target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
