"""MyST -> plain Markdown with the book's numbers, for the handouts (Jupyter and Colab render no MyST).

- roles (``{eq}``, ``{numref}``, ``{doc}``, ``{ref}``, ``{cite}``, ``{term}``...)
  become text with the book's numbers: "Equation (3.2)", "Figure 6.3",
  "Chapter 5", "(Lin et al., 2017)" (:func:`render_roles`);
- equation labels become ``\\tag{3.2}``; target lines ``(label)=`` go;
- admonitions become block quotes with a bold title; ``{exercise}`` becomes
  ``**Exercise 3.2.** (`ex-ovf-2`)``; theorems and proofs become bold/italic
  paragraphs (:func:`render_blocks`);
- a ``{selfcheck}`` question becomes its text and options, with the answer and the
  explanations in a collapsed ``<details>`` (``_ext/selfcheck.py``'s
  ``question_markdown``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from book_numbers import Refs
from myst_blocks import EQ_CLOSE, ROLE, TARGET, Block, split_blocks, split_target, trim
from nbtools import ROOT

sys.path.insert(0, str(ROOT / "_ext"))
import selfcheck  # noqa: E402  (the self-check questions' data and their plain Markdown)

ADMONITIONS = {"admonition", "note", "tip", "warning", "important", "caution", "attention", "danger",
               "error", "hint", "seealso", "dropdown", "margin", "sidebar"}


def render_role(role: str, content: str, refs: Refs, before: str = "") -> str:
    """Plain-Markdown text for one MyST role, with the book's numbers."""
    text, target = split_target(content)
    role = role.split(":")[-1] if role.startswith(("prf:", "std:")) else role
    if role == "eq":
        t = refs.labels.get(target)
        num = f"({t.number})" if t else f"({target})"
        return num if re.search(r"(equations?|eqs?\.|and|,)\s*$", before, re.I) else f"Equation {num}"
    if role == "doc":
        t = refs.docs.get(Path(target).name)
        if t is None:
            return text or target
        name = f"Chapter {t.number}" if t.number else f"*{t.title}*"
        if text:
            return f"{text} ({name})" if t.number else text
        return f"{name}, *{t.title}*" if t.number else name
    if role in ("cite", "t", "ts"):
        keys = [k.strip() for k in target.split(",")]
        cites = [refs.citations.get(k, k) for k in keys]
        if role in ("t", "ts"):
            return "; ".join(re.sub(r", (\S+)$", r" (\1)", c) for c in cites)
        return "(" + "; ".join(cites) + ")"
    if role in ("numref", "ref"):
        t = refs.labels.get(target)
        if t is None:
            return text or target
        word = {"figure": "Figure", "equation": "Equation", "exercise": "Exercise", "chapter": "Chapter"}.get(
            t.kind, t.kind.capitalize())
        if role == "numref" and t.number:
            if text:
                return text.replace("%s", t.number).replace("{number}", t.number)
            return f"{word} {t.number}"
        if text:
            return text
        if t.kind == "chapter" and t.number:
            return f"Chapter {t.number}, *{t.title}*"
        if t.number:
            return f"{word} {t.number}"
        return f"*{t.title}*" if t.title else target
    if role == "math":
        return f"${content}$"
    if role == "term":
        return text or target
    return text or target


def render_roles(text: str, refs: Refs) -> str:
    out = []
    pos = 0
    for m in ROLE.finditer(text):
        out.append(text[pos:m.start()])
        role = m["role"]
        if role.startswith("cite"):
            role = "cite:" + role.split(":", 1)[1] if ":" in role else "cite"
            kind = role.split(":", 1)[1] if ":" in role else "p"
            out.append(render_role(kind if kind in ("t", "ts") else "cite", m["content"], refs))
        else:
            out.append(render_role(role, m["content"], refs, before="".join(out)[-30:]))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def render_blocks(text: str, refs: Refs, exercise_numbers: dict[str, str]) -> list[str]:
    """Markdown lines for MyST text: directives made plain, equation labels made ``\\tag``."""
    out: list[str] = []
    for block in split_blocks(text):
        name = block.name
        if name is None:
            for line in block.lines:
                if TARGET.match(line):
                    continue
                e = EQ_CLOSE.match(line)
                if e:
                    t = refs.labels.get(e["label"])
                    out += [f"\\tag{{{t.number}}}" if t else "", "$$"]
                    continue
                out.append(line)
            continue
        body = render_blocks("\n".join(block.body), refs, exercise_numbers)
        if name == "exercise":
            out += exercise_markdown(block, exercise_numbers.get(block.options.get("label", ""), "?"),
                                     body=body)
        elif name in ADMONITIONS:
            title = block.arg or name.capitalize()
            quoted = [f"> {ln}" if ln.strip() else ">" for ln in trim(body)]
            out += [f"> **{title}**", ">", *quoted, ""]
        elif name.startswith("prf:"):
            kind = name.split(":", 1)[1]
            if kind == "proof":
                out += ["*Proof.*", *trim(body), "", "∎", ""]
            else:
                t = refs.labels.get(block.options.get("label", ""))
                head = f"**{kind.capitalize()}" + (f" {t.number}" if t else "") + "**"
                if block.arg:
                    head += f" ({block.arg})"
                out += [head + ".", "", *trim(body), ""]
        elif name == "math":
            t = refs.labels.get(block.options.get("label", ""))
            out += ["$$", *trim(block.body)] + ([f"\\tag{{{t.number}}}"] if t else []) + ["$$", ""]
        elif name in ("code-block", "code", "code-cell"):
            out += [f"```{block.arg.split()[0] if block.arg else ''}", *block.body, "```"]
        elif name == "selfcheck":
            out += selfcheck_markdown(block.arg, refs)
        elif name == "glossary":
            for ln in block.body:
                out.append(f"**{ln.strip()}**" if ln.strip() and not ln.startswith((" ", "\t")) else ln.strip())
        else:
            out += block.lines
    return out


def exercise_markdown(block: Block, number: str, body: list[str] | None = None) -> list[str]:
    label = block.options.get("label", "")
    title = f"**Exercise {number}" + (f": {block.arg}" if block.arg else "") + ".**"
    if label:
        title += f" (`{label}`)"
    return [title, "", *trim(block.body if body is None else body)]


def selfcheck_markdown(qid: str, refs: Refs) -> list[str]:
    """A ``{selfcheck}`` question as plain Markdown, numbered as in the book ("Self-check 4.2")."""
    question, k = selfcheck.find(selfcheck.load_bank(ROOT), qid.strip())
    chapter = refs.docs.get(Path(question.chapter).name)
    number = int(chapter.number) if chapter and chapter.number and chapter.number.isdigit() else None
    return selfcheck.question_markdown(question, number, k)
