"""Topic blocks in an issue's editorial: paragraphs only some subscribers' copies carry.

    ::: event
    Places at the workshop are free but limited, so please book early.
    :::

A block opens with `:::` and one or more topics (finding, blog, event) and closes with a line
of `:::` alone. A copy keeps the block when it has a section of one of those topics; the web
version keeps every block. Outside innovate-news the markers read as plain lines (Pandoc and
markdown-it's container plugin take them as fenced divs), so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from innovate_news.content.posts import KINDS
from innovate_news.errors import Problem

_OPEN = re.compile(r"^ {0,3}:::[ \t]*([^\s:].*?)[ \t]*$")
_CLOSE = re.compile(r"^ {0,3}:::[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _lines(body: str) -> Iterator[tuple[int, str, str | None]]:
    """Each line with its offset, and its role: "open", "close", or None (text, code)."""
    fence = ""
    for number, line in enumerate(body.splitlines(keepends=True)):
        found = _FENCE.match(line)
        if fence:
            if found and found.group(1)[0] == fence[0] and len(found.group(1)) >= len(fence):
                fence = ""
            yield number, line, None
        elif found:
            fence = found.group(1)
            yield number, line, None
        elif _CLOSE.match(line):
            yield number, line, "close"
        elif _OPEN.match(line):
            yield number, line, "open"
        else:
            yield number, line, None


def topics_of(line: str) -> frozenset[str]:
    found = _OPEN.match(line)
    return frozenset(found.group(1).lower().split()) if found else frozenset()


def for_topics(body: str, topics: frozenset[str] | None) -> str:
    """The editorial as a copy with these sections reads it (None: every block, the web's)."""
    out: list[str] = []
    keep = True
    for _, line, role in _lines(body):
        if role == "open":
            keep = topics is None or bool(topics_of(line) & topics)
        elif role == "close":
            keep = True
        elif keep:
            out.append(line)
    return "".join(out)


def problems(path: Path, body: str, first_line: int) -> list[Problem]:
    """Unknown topics, blocks inside blocks, blocks never closed; each on its own line."""
    found: list[Problem] = []
    opened: int | None = None
    for number, line, role in _lines(body):
        where = first_line + number
        if role == "open":
            if opened is not None:
                why = f"topic block inside the one opened on line {opened}; close that first"
                found.append(Problem(path, where, why))
            opened = where
            unknown = sorted(topics_of(line) - set(KINDS))
            if unknown:
                why = f"unknown topic(s) {', '.join(unknown)}; use some of: {' '.join(KINDS)}"
                found.append(Problem(path, where, why))
        elif role == "close":
            if opened is None:
                found.append(Problem(path, where, "::: closes no topic block; remove it"))
            opened = None
    if opened is not None:
        found.append(Problem(path, opened, "topic block never closed; end it with a line of :::"))
    return found
