"""Sphinx extension: self-check questions at the end of a chapter's sections (issue 24).

The questions live in one YAML file per numbered chapter, ``book/selfcheck/<chapter>.yml``::

    chapter: book/03_overflow
    questions:
      - id: ovf-shift                 # unique in the book: the directive's argument
        section: Shift invariance     # the section whose end holds the question (tools/insert_selfcheck.py)
        before: ...                   # (optional) a heading inside it to go before instead of its end
        type: choice                  # choice | numeric | line
        question: |                   # MyST
          ...
        options:                      # choice: exactly one is correct
          - text: ...
            correct: true
          - text: ...
            explain: ... re-read {eq}`eq-ovf-shift`.   # one line, points to the paragraph
        why: ...                      # shown with "Correct", and on the answers page

      - id: ovf-lse-value
        section: The log-sum-exp trick   # every question has one
        type: numeric
        question: ...
        answer: snb.logsumexp(np.array([1000.0, 1000.0]))   # evaluated at build time
        tolerance: 0.001              # absolute
        explain: ...                  # for any wrong number
        why: ...

      - id: ovf-naive-line
        section: The log-sum-exp trick
        type: line                    # which line of ``code`` is wrong?
        code: |
          ...
        answer: 3                     # the wrong line, counted from 1
        explain: {1: ..., 2: ...}     # why each other line is right
        otherwise: ...                # (optional) for the lines explain does not list
        why: ...

Numeric answers are Python expressions evaluated with ``np`` (numpy), ``snb``
(softmax_nb) and ``math``, never typed numbers. Explanations point to the
paragraph to re-read with a role to a label of the chapter (``{eq}``,
``{numref}``, ``{ref}``, ``{prf:ref}``) or with ``{section}`Heading```, a link
to the section of the chapter with that heading (matched on its words).

```{selfcheck} ovf-shift
```

in a markdown cell of the chapter renders the question. In HTML it is a small
form that ``_static/selfcheck.js`` makes interactive with no kernel: radio
buttons or a number field, a Check button (Enter works too) and a feedback
region (``aria-live="polite"``) that says "Correct." with the reason, or "Not
quite." with the explanation of the chosen answer and its link. Without
JavaScript the question and its options stay readable. In LaTeX it is the
question, its options (or its numbered code) and a pointer to the answers.

```{selfcheck-answers}
```

prints every question of the chapters in the build with its answer and the
explanations, one section per chapter, in the order of ``_toc.yml``: the
answers at the end of the PDF and the instructors' question bank on the web.
Each title links to the question on its page; a question that has no directive
cell in its chapter yet is printed without the link.

:func:`load_bank` and :func:`question_markdown` are also used by
``tools/myst_to_markdown.py`` (handouts) and the tests.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path("book") / "selfcheck"
KINDS = ("choice", "numeric", "line")
MARK = "sbk-selfcheck"
ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<content>[^`]*)`")
SECTION_LABEL = "selfcheck-section:{doc}:{slug}"
LETTERS = "ABCDEFGHIJ"


class SelfCheckError(ValueError):
    """A data file of book/selfcheck is malformed."""


@dataclass
class Option:
    text: str
    correct: bool = False
    explain: str | None = None


@dataclass
class Question:
    id: str
    chapter: str  # "book/03_overflow"
    kind: str
    question: str
    why: str
    section: str | None = None  # the section whose end holds the question
    before: str | None = None  # or: the (sub)heading of that section the question goes before
    options: list[Option] = field(default_factory=list)  # choice and line
    code: str | None = None  # line
    answer: str | None = None  # numeric: the expression
    value: float | None = None  # numeric: its value
    tolerance: float | None = None
    explain: str | None = None  # numeric: for a wrong number

    @property
    def correct_index(self) -> int | None:
        found = [i for i, o in enumerate(self.options) if o.correct]
        return found[0] if len(found) == 1 else None

    def texts(self) -> list[str]:
        """Every MyST text of the question (question, options, explanations, why)."""
        out = [self.question, self.why]
        out += [t for o in self.options for t in (o.text, o.explain) if t]
        return out + ([self.explain] if self.explain else [])

    def explanations(self) -> list[str]:
        """The explanations shown for wrong answers."""
        if self.kind == "numeric":
            return [self.explain or ""]
        return [o.explain or "" for o in self.options if not o.correct]


# --------------------------------------------------------------------------- data
def slug(text: str) -> str:
    """The words of a heading, lower case, joined by hyphens (math and code marks dropped)."""
    text = re.sub(r"[$`*\\{}^_]", " ", text)
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def evaluate(expression: str) -> float:
    """The value of a numeric answer: ``expression`` with ``np``, ``snb`` and ``math``."""
    import numpy as np

    import softmax_nb as snb

    value = eval(compile(expression, "<selfcheck answer>", "eval"),  # noqa: S307 - our own data files
                 {"__builtins__": {}, "np": np, "snb": snb, "math": math,
                  "float": float, "int": int, "abs": abs, "min": min, "max": max, "sum": sum, "len": len})
    value = float(np.asarray(value))
    if not math.isfinite(value):
        raise SelfCheckError(f"answer {expression!r} evaluates to {value}")
    return value


def strip_comment(line: str) -> str:
    """A line of a snippet without its indentation and its trailing ``  # comment`` (the option's label)."""
    return re.sub(r"\s+#[^'\"]*$", "", line).strip() or line.strip()


def code_lines(code: str) -> list[tuple[int, str]]:
    """(line number from 1, text) of the non-blank lines of a code snippet: the options of a line question."""
    return [(i, line) for i, line in enumerate(code.rstrip("\n").split("\n"), start=1) if line.strip()]


def _need(raw: dict, key: str, where: str, kind: type = str) -> Any:
    value = raw.get(key)
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise SelfCheckError(f"{where}: '{key}' must be a non-empty {kind.__name__}")
    return value.strip() if isinstance(value, str) else value


def parse_question(raw: dict, chapter: str, where: str) -> Question:
    qid = _need(raw, "id", where)
    where = f"{where}, question {qid}"
    kind = _need(raw, "type", where)
    if kind not in KINDS:
        raise SelfCheckError(f"{where}: type {kind!r} is not one of {KINDS}")
    known = {"id", "type", "section", "before", "question", "why", "options", "answer", "tolerance", "explain",
             "code", "otherwise"}
    if set(raw) - known:
        raise SelfCheckError(f"{where}: unknown keys {sorted(set(raw) - known)}")
    q = Question(id=qid, chapter=chapter, kind=kind, question=_need(raw, "question", where),
                 why=_need(raw, "why", where), section=_need(raw, "section", where), before=raw.get("before"))
    if kind == "choice":
        options = raw.get("options")
        if not isinstance(options, list) or len(options) < 2:
            raise SelfCheckError(f"{where}: a choice question needs a list of at least 2 options")
        for k, o in enumerate(options):
            if not isinstance(o, dict) or set(o) - {"text", "correct", "explain"}:
                raise SelfCheckError(f"{where}: option {k + 1} must have text, and correct or explain")
            text = _need(o, "text", f"{where}, option {k + 1}")
            correct = o.get("correct", False) is True
            explain = None if correct else _need(o, "explain", f"{where}, option {k + 1}")
            q.options.append(Option(text, correct, explain))
    elif kind == "line":
        q.code = _need(raw, "code", where).rstrip("\n")
        lines = dict(code_lines(q.code))
        answer = raw.get("answer")
        if not isinstance(answer, int) or answer not in lines:
            raise SelfCheckError(f"{where}: answer must be the number of a non-blank line, 1 to {max(lines)}")
        explain = raw.get("explain") or {}
        if not isinstance(explain, dict) or set(explain) - set(lines):
            raise SelfCheckError(f"{where}: explain must map line numbers of the code to explanations")
        for n, line in lines.items():
            if n == answer:
                q.options.append(Option(f"Line {n}", True))
            else:
                text = explain.get(n) or raw.get("otherwise")
                if not isinstance(text, str) or not text.strip():
                    raise SelfCheckError(f"{where}: no explanation for line {n} (explain or otherwise)")
                q.options.append(Option(f"Line {n}", False, text.strip()))
    else:
        q.answer = _need(raw, "answer", where)
        q.tolerance = raw.get("tolerance")
        if isinstance(q.tolerance, bool) or not isinstance(q.tolerance, (int, float)) or not q.tolerance > 0:
            raise SelfCheckError(f"{where}: tolerance must be a positive number")
        q.tolerance = float(q.tolerance)
        q.explain = _need(raw, "explain", where)
        try:
            q.value = evaluate(q.answer)
        except SelfCheckError:
            raise
        except Exception as exc:
            raise SelfCheckError(f"{where}: the answer {q.answer!r} fails: {type(exc).__name__}: {exc}") from exc
    return q


def load_chapter(path: Path) -> tuple[str, list[Question]]:
    """(chapter, questions) of one data file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SelfCheckError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("questions"), list):
        raise SelfCheckError(f"{path}: expected 'chapter' and a list of 'questions'")
    chapter = raw.get("chapter") or f"book/{path.stem}"
    if Path(chapter).name != path.stem:
        raise SelfCheckError(f"{path}: chapter {chapter!r} does not match the file name")
    return chapter, [parse_question(q, chapter, str(path)) for q in raw["questions"]]


_CACHE: dict[Path, tuple[float, tuple[str, list[Question]]]] = {}


def load_bank(root: Path = ROOT, chapters: set[str] | None = None) -> dict[str, list[Question]]:
    """Chapter (``book/<name>``) -> its questions, for every data file under ``root``.

    With ``chapters``, only their files are read (the build reads only the chapters it renders,
    so that the data file of a chapter outside the build cannot break it).
    """
    bank: dict[str, list[Question]] = {}
    seen: dict[str, str] = {}
    for path in sorted((root / DATA_DIR).glob("*.yml")):
        if chapters is not None and f"book/{path.stem}" not in chapters:
            continue
        mtime = path.stat().st_mtime
        if path not in _CACHE or _CACHE[path][0] != mtime:
            _CACHE[path] = (mtime, load_chapter(path))
        chapter, questions = _CACHE[path][1]
        for q in questions:
            if q.id in seen:
                raise SelfCheckError(f"question id {q.id!r} is used in {seen[q.id]} and {chapter}")
            seen[q.id] = chapter
        bank[chapter] = questions
    return bank


def find(bank: dict[str, list[Question]], qid: str) -> tuple[Question, int]:
    """The question ``qid`` and its position (from 1) in its chapter."""
    for questions in bank.values():
        for k, q in enumerate(questions, start=1):
            if q.id == qid:
                return q, k
    raise SelfCheckError(f"no self-check question {qid!r} in {DATA_DIR}/*.yml")


def chapter_numbers(root: Path) -> dict[str, int | None]:
    """``book/<name>`` -> its chapter number in ``root/_toc.yml`` (numbered parts count on), else None."""
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        return {}
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    numbers: dict[str, int | None] = {}
    n = 0
    for part in toc.get("parts", []):
        for entry in part.get("chapters", []):
            name = str(Path(entry["file"]).with_suffix(""))
            if part.get("numbered"):
                n += 1
                numbers[name] = n
            else:
                numbers[name] = None
    return numbers


def label(number: int | None, k: int) -> str:
    """"Self-check 4.2" (chapter 4, question 2), or "Self-check 2" in an unnumbered chapter."""
    return f"Self-check {number}.{k}" if number else f"Self-check {k}"


def format_value(value: float, tolerance: float) -> str:
    """The answer with the digits its tolerance makes meaningful (one more than the tolerance's)."""
    digits = min(10, max(0, math.ceil(-math.log10(tolerance)) + 1))
    return f"{value:.{digits}f}"


def format_tolerance(tolerance: float) -> str:
    return f"{tolerance:g}"


# --------------------------------------------------------------------------- plain Markdown (handouts)
def _plain_sections(text: str) -> str:
    return ROLE.sub(lambda m: f"*{m['content']}*" if m["role"] == "section" else m.group(0), text)


def question_markdown(q: Question, number: int | None, k: int) -> list[str]:
    """Plain Markdown lines for a handout: the question, its options, the answer in a collapsed ``<details>``.

    Roles other than ``{section}`` are left for ``myst_to_markdown.render_roles`` (the book's numbers).
    """
    head = label(number, k)
    out = [f"**{head}.** {_plain_sections(q.question)}", ""]
    if q.kind == "line":
        width = len(str(len(q.code.split(chr(10)))))
        out += ["```", *[f"{i:>{width}}  {ln}" for i, ln in enumerate(q.code.split("\n"), start=1)], "```", "",
                "Your answer (a line number): ...", ""]
    elif q.kind == "choice":
        out += [f"- **{LETTERS[i]}.** {_plain_sections(o.text)}" for i, o in enumerate(q.options)] + [""]
    else:
        out += ["Your answer (a number): ...", ""]
    out += ["<details>", f"<summary>Answer to {head}</summary>", ""]
    if q.kind == "numeric":
        out += [f"**{format_value(q.value, q.tolerance)}** (accepted within ±{format_tolerance(q.tolerance)}). "
                + _plain_sections(q.why), "",
                f"If your number differs: {_plain_sections(q.explain)}", ""]
    else:
        i = q.correct_index
        name = q.options[i].text if q.kind == "line" else LETTERS[i]
        out += [f"**{name}.** {_plain_sections(q.why)}", ""]
        for j, o in enumerate(q.options):
            if not o.correct:
                name = o.text if q.kind == "line" else LETTERS[j]
                out.append(f"- Not {name}: {_plain_sections(o.explain)}")
        out.append("")
    out += ["</details>", ""]
    return out


# --------------------------------------------------------------------------- docutils
def _section_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{section}`Heading``` -> a link to the section of the chapter with that heading."""
    env = inliner.document.settings.env
    chapter = env.temp_data.get("selfcheck_chapter", env.docname)
    target = SECTION_LABEL.format(doc=chapter, slug=slug(text))
    ref = addnodes.pending_xref(rawtext, refdomain="std", reftype="ref", reftarget=target, refexplicit=False,
                                refwarn=True, refdoc=env.docname)
    ref += nodes.inline(text, text, classes=["xref", "std", "std-ref"])
    return [ref], []


def plain_title(title: nodes.Element) -> str:
    """A section title as link text: its math made readable ("e^{z}" -> "e^z", "\\sqrt{d_k}" -> "sqrt(d_k)").

    The math becomes ASCII (no √ or other symbol the PDF's fonts might lack).
    """
    out = []
    for node in title.findall(nodes.Text):
        text = str(node)
        if isinstance(node.parent, nodes.math):
            text = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", text).replace("\\", "")
            text = re.sub(r"[{}]", "", text)
        out.append(text)
    return "".join(out).strip()


def _register_sections(app, doctree) -> None:
    """Give every section of a chapter with self-check questions a label the ``{section}`` role can find."""
    env = app.env
    if not (Path(env.srcdir) / DATA_DIR / f"{Path(env.docname).name}.yml").is_file():
        return
    std = env.get_domain("std")
    for section in doctree.findall(nodes.section):
        if not section["ids"] or not section.children or not isinstance(section[0], nodes.title):
            continue
        title = plain_title(section[0])  # the link text; the label is made from the source's words
        name = SECTION_LABEL.format(doc=env.docname, slug=slug(section[0].astext()))
        if name not in std.labels:
            std.labels[name] = (env.docname, section["ids"][0], title)
            std.anonlabels[name] = (env.docname, section["ids"][0])


class _Base(SphinxDirective):
    def bank(self, chapters: set[str]) -> dict[str, list[Question]]:
        """The questions of ``chapters``; the page is read again when one of their files changes."""
        root = Path(self.env.srcdir)
        for chapter in chapters:
            path = root / DATA_DIR / f"{Path(chapter).name}.yml"
            if path.is_file():
                self.env.note_dependency(str(path))
        return load_bank(root, chapters)

    def markdown(self, text: str, chapter: str, classes: list[str] | None = None) -> nodes.container:
        """``text`` (MyST) parsed into a container, with ``{section}`` roles pointing into ``chapter``."""
        box = nodes.container(classes=classes or [])
        self.env.temp_data["selfcheck_chapter"] = chapter
        try:
            self.state.nested_parse(StringList(text.split("\n")), self.content_offset, box)
        finally:
            self.env.temp_data.pop("selfcheck_chapter", None)
        return box

    def inline(self, text: str, chapter: str) -> list[nodes.Node]:
        self.env.temp_data["selfcheck_chapter"] = chapter
        try:
            parsed, messages = self.state.inline_text(text, self.lineno)
        finally:
            self.env.temp_data.pop("selfcheck_chapter", None)
        return [*parsed, *messages]

    def options_list(self, q: Question, answers: bool) -> nodes.Element:
        """The options as a lettered list ("Line 3: code" for a line question); with answers, marked."""
        items = nodes.enumerated_list(enumtype="upperalpha", prefix="", suffix=".", classes=["sbk-sc-options"])
        lines = dict(code_lines(q.code)) if q.kind == "line" else {}
        for i, o in enumerate(q.options):
            para = nodes.paragraph()
            if q.kind == "line":
                code = strip_comment(lines[int(o.text.split()[1])])
                para += nodes.Text(f"{o.text}: ")
                para += nodes.literal(code, code)
            else:
                para.extend(self.inline(o.text, q.chapter))
            item = nodes.list_item("", para)
            if answers:
                note = nodes.paragraph()
                if o.correct:
                    note += nodes.strong("", "Correct.")
                else:
                    note += nodes.emphasis("", "Wrong: ")
                    note.extend(self.inline(o.explain, q.chapter))
                item += note
            items += item
        return items

    def code_block(self, q: Question) -> nodes.literal_block:
        block = nodes.literal_block(q.code, q.code, language="python", linenos=True, classes=["sbk-sc-code"])
        block["highlight_args"] = {}
        return block


class SelfCheckDirective(_Base):
    """``{selfcheck} <question-id>``: one question, interactive in HTML, question only in LaTeX."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        qid = self.arguments[0].strip()
        try:
            q, k = find(self.bank({self.env.docname}), qid)
        except SelfCheckError as exc:
            raise self.error(f"{exc} (the questions of {self.env.docname})") from exc
        number = chapter_numbers(Path(self.env.srcdir)).get(q.chapter)
        title = label(number, k)
        anchor = f"selfcheck-{qid}"
        std = self.env.get_domain("std")
        std.labels[anchor] = (self.env.docname, anchor, title)
        std.anonlabels[anchor] = (self.env.docname, anchor)
        target = nodes.target("", "", ids=[anchor])
        return [target, self.html(q, title), self.latex(q, title)]

    def html(self, q: Question, title: str) -> nodes.Node:
        box = nodes.container(classes=[MARK, f"sbk-sc-{q.kind}"])
        box += nodes.paragraph("", "", nodes.strong("", title), classes=["sbk-sc-title"])
        box += self.markdown(q.question, q.chapter, ["sbk-sc-question"])
        if q.kind == "line":
            box += self.code_block(q)
        if q.kind in ("choice", "line"):
            box += self.options_list(q, answers=False)
        feedback = nodes.container(classes=["sbk-sc-explanations"])
        feedback += self.markdown(q.why, q.chapter, ["sbk-sc-why"])
        for text in q.explanations() if q.kind == "numeric" else [o.explain or "" for o in q.options]:
            feedback += self.markdown(text, q.chapter, ["sbk-sc-explain"])
        box += feedback
        data = {"id": q.id, "kind": "numeric" if q.kind == "numeric" else "choice", "title": title}
        if q.kind == "numeric":
            data.update(answer=q.value, tolerance=q.tolerance, display=format_value(q.value, q.tolerance))
        else:
            data["correct"] = q.correct_index
        payload = html.escape(json.dumps(data, separators=(",", ":")), quote=False)
        box += nodes.raw("", f'<script type="application/json" class="sbk-sc-data">{payload}</script>'
                             '<noscript><p>This self-check needs JavaScript to check your answer; the answers '
                             'are on the page "Self-check answers".</p></noscript>', format="html")
        only = addnodes.only(expr="html")
        only += box
        return only

    def latex(self, q: Question, title: str) -> nodes.Node:
        only = addnodes.only(expr="latex")
        head = nodes.paragraph()
        head += nodes.strong("", f"{title}.")
        only += head
        only.extend(self.markdown(q.question, q.chapter).children)
        if q.kind == "line":
            only += self.code_block(q)
        elif q.kind == "choice":
            only += self.options_list(q, answers=False)
        only += nodes.paragraph("", "", nodes.emphasis("", "Answer: see \u201cSelf-check answers\u201d "
                                                          "at the end of the book."))
        return only


class SelfCheckAnswersDirective(_Base):
    """``{selfcheck-answers}``: every question of the chapters in this build, with answer and explanations."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        numbers = chapter_numbers(Path(self.env.srcdir))
        try:
            bank = self.bank({c for c in numbers if c in self.env.found_docs})
        except SelfCheckError as exc:
            raise self.error(str(exc)) from exc
        out: list[nodes.Node] = []
        for chapter in numbers:
            if chapter not in bank:
                continue
            number = numbers[chapter]
            name = f"Chapter {number}: " if number else ""
            heading = f"{name}{chapter_title(Path(self.env.srcdir), chapter)}"
            section = nodes.section(ids=[f"selfcheck-answers-{Path(chapter).name}"])
            section += nodes.title(heading, heading)
            section["names"].append(nodes.fully_normalize_name(heading))
            self.state.document.note_implicit_target(section, section)
            intro = nodes.paragraph()
            intro += nodes.Text("The questions of ")
            ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget="/" + chapter,
                                        refexplicit=False, refwarn=True, refdoc=self.env.docname)
            ref += nodes.inline("", chapter, classes=["xref", "std", "std-doc"])
            intro += ref
            intro += nodes.Text(", in the order of the chapter.")
            section += intro
            placed = placed_ids(Path(self.env.srcdir), chapter)
            for source in chapter_sources(Path(self.env.srcdir), chapter):
                self.env.note_dependency(str(source))
            for k, q in enumerate(bank[chapter], start=1):
                section.extend(self.entry(q, label(number, k), q.id in placed))
            out.append(section)
        return out

    def entry(self, q: Question, title: str, placed: bool) -> list[nodes.Node]:
        """One question with its answer; its title links to the question on the chapter's page if it is there."""
        head = nodes.paragraph(classes=["sbk-sc-answer-title"])
        if placed:
            ref = addnodes.pending_xref("", refdomain="std", reftype="ref", reftarget=f"selfcheck-{q.id}",
                                        refexplicit=True, refwarn=True, refdoc=self.env.docname)
            ref += nodes.inline("", title, classes=["xref", "std", "std-ref"])
            head += nodes.strong("", "", ref)
            head += nodes.Text(f" ({q.id})")
        else:
            head += nodes.strong("", title)
            head += nodes.Text(f" ({q.id}; not on the chapter's page yet)")
        box = nodes.container(classes=["sbk-sc-answer"])
        box += head
        box.extend(self.markdown(q.question, q.chapter).children)
        if q.kind == "line":
            box += self.code_block(q)
            answer = nodes.paragraph()
            answer += nodes.strong("", f"Answer: {q.options[q.correct_index].text}. ")
            answer.extend(self.inline(q.why, q.chapter))
            box += answer
            box += self.options_list(q, answers=True)
        elif q.kind == "choice":
            box += self.options_list(q, answers=True)
            answer = nodes.paragraph()
            answer += nodes.strong("", f"Answer: {LETTERS[q.correct_index]}. ")
            answer.extend(self.inline(q.why, q.chapter))
            box += answer
        else:
            answer = nodes.paragraph()
            answer += nodes.strong("", f"Answer: {format_value(q.value, q.tolerance)}")
            answer += nodes.Text(f" (accepted within \u00b1{format_tolerance(q.tolerance)}; computed as ")
            answer += nodes.literal(q.answer, q.answer)
            answer += nodes.Text("). ")
            answer.extend(self.inline(q.why, q.chapter))
            box += answer
            wrong = nodes.paragraph()
            wrong += nodes.emphasis("", "A different number: ")
            wrong.extend(self.inline(q.explain, q.chapter))
            box += wrong
        return [box]


FENCE = re.compile(r"^(`{3,}|:{3,})\{selfcheck\}[ \t]+(?P<id>\S+)[ \t]*$", re.M)


def chapter_sources(root: Path, chapter: str) -> list[Path]:
    return [p for p in (root / f"{chapter}.ipynb", root / f"{chapter}.md") if p.is_file()]


def placed_ids(root: Path, chapter: str) -> set[str]:
    """The question ids that a ``{selfcheck}`` directive of the chapter's source uses."""
    found: set[str] = set()
    for path in chapter_sources(root, chapter):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "markdown")
        found |= {m["id"] for m in FENCE.finditer(text)}
    return found


def chapter_title(root: Path, chapter: str) -> str:
    """The first ``# `` heading of the chapter's notebook (or Markdown page), math and roles made plain."""
    for suffix in (".ipynb", ".md"):
        path = root / f"{chapter}{suffix}"
        if not path.is_file():
            continue
        if suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        else:
            text = path.read_text(encoding="utf-8")
        m = re.search(r"^# (.+)$", text, re.M)
        if m:
            return ROLE.sub(lambda r: r["content"], m[1]).replace("$", "").strip()
    return Path(chapter).name


def setup(app) -> dict[str, Any]:
    app.add_role("section", _section_role)
    app.add_directive("selfcheck", SelfCheckDirective)
    app.add_directive("selfcheck-answers", SelfCheckAnswersDirective)
    app.connect("doctree-read", _register_sections)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
