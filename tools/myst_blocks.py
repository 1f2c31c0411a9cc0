"""MyST Markdown as the chapters write it: fenced directives, targets, roles and the solution markup.

A markdown cell is a run of plain text and top-level fenced directives
(:func:`split_blocks`). An exercise is an ``{exercise}`` directive with a
``:label:``; its solution is gated, ``{solution-start} <label>`` ...
``{solution-end}``, with the solution code in code cells tagged
:data:`SOLUTION_TAG` in between (a plain ``{solution} <label>`` directive holds
a prose-only solution).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SOLUTION_TAG = "solution"
FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*?)\s*$")
TARGET = re.compile(r"^\((?P<label>[\w.:-]+)\)=\s*$")
EQ_CLOSE = re.compile(r"^\$\$\s*\((?P<label>[\w.:-]+)\)\s*$")
ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<content>[^`]*)`")


@dataclass
class Block:
    """A piece of a markdown cell: plain text, or one fenced MyST directive."""

    name: str | None  # directive name, None for plain text
    arg: str
    lines: list[str]  # all lines, fences included
    options: dict[str, str]
    body: list[str]  # content lines after the options, without the fences


def split_blocks(text: str) -> list[Block]:
    """Split markdown into plain-text runs and top-level fenced directives."""
    lines = text.split("\n")
    blocks: list[Block] = []
    plain: list[str] = []
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            plain.append(lines[i])
            i += 1
            continue
        if plain:
            blocks.append(Block(None, "", plain, {}, plain))
            plain = []
        fence = m["fence"]
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        inner = lines[i + 1:j]
        options: dict[str, str] = {}
        k = 0
        while k < len(inner) and re.match(r"^:[\w-]+:", inner[k]):
            key, _, value = inner[k][1:].partition(":")
            options[key] = value.strip()
            k += 1
        blocks.append(Block(m["name"], m["arg"], lines[i:j + 1], options, inner[k:]))
        i = j + 1
    if plain:
        blocks.append(Block(None, "", plain, {}, plain))
    return blocks


def solution_label(block: Block) -> str:
    return block.arg.split()[0] if block.arg.split() else ""


def trim(lines: list[str]) -> list[str]:
    lines = list(lines)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def split_target(content: str) -> tuple[str | None, str]:
    """``("text", "target")`` for a role's ``text <target>`` content, ``(None, "target")`` without text."""
    m = re.match(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", content.strip(), re.S)
    if m:
        return m["text"], m["target"]
    return None, content.strip()

