"""YAML front matter: split a markdown file into its metadata and body, with line numbers."""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from innovate_news.errors import ContentError, Problem


class _NoSuchDate(Exception):
    """A YAML date that is well formed but not in the calendar (2024-02-31), and its line."""

    def __init__(self, text: str, line: int, reason: str):
        super().__init__(reason)
        self.text, self.line, self.reason = text, line, reason


@functools.cache
def _loader() -> Any:
    """The safe loader, with dates that do not exist (2024-02-31) reported with their line.

    Made on first use: a build or a command that reads no front matter never imports YAML.
    """
    import yaml

    # libyaml's loader is several times faster; PyYAML's wheels ship it, but stay correct
    # without.
    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        try:
            return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
        except ValueError as exc:  # PyYAML lets datetime's ValueError escape, without a line
            reason = no_such_date(node.value) or f"{node.value} is not a real date or time ({exc})"
            raise _NoSuchDate(node.value, node.start_mark.line, reason) from exc

    loader: Any = type("Loader", (base,), {})
    loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    return loader


_FENCE = re.compile(r"^---[ \t]*$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
# `key: value` on one line, for saying which value to put in quotes.
_KEY_VALUE = re.compile(r"^\s*(?:-\s+)?([\w.-]+)\s*:\s+(.*?)\s*$")


def no_such_date(text: str) -> str | None:
    """Why a date written as YYYY-MM-DD is not in the calendar, or None if it is (or is no date).

    The month is named in English whatever the locale, like the rest of the messages.
    """
    match = _YMD.match(text.strip())
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12:
        return f"{match.group(0)} does not exist: there is no month {month}"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"{match.group(0)} does not exist: {_MONTHS[month - 1]} {year} has {days} days"
    return None


@dataclass(frozen=True)
class Document:
    """A file split into front matter and body."""

    path: Path
    meta: dict[str, Any]
    body: str
    body_line: int  # 1-based line where the body starts
    front_matter: str

    def line_of(self, key: str) -> int:
        """Line of a top-level (or `parent.child`) key in the front matter; 1 if not found."""
        parts = key.split(".")
        pattern = re.compile(rf"^\s*{re.escape(parts[-1])}\s*:")
        start = 0
        lines = self.front_matter.splitlines()
        if len(parts) > 1:
            parent = re.compile(rf"^{re.escape(parts[0])}\s*:")
            start = next((i for i, line in enumerate(lines) if parent.match(line)), 0)
        for index in range(start, len(lines)):
            if pattern.match(lines[index]):
                return index + 2  # +1 for 1-based, +1 for the opening fence
        return start + 2 if start else 1

    def error(self, key: str | None, message: str) -> Problem:
        return Problem(self.path, self.line_of(key) if key else 1, message)

    def unknown(self, key: str, known: set[str], prefix: str = "") -> Problem:
        """An unknown field, with the known one it was probably meant to be (`sumary`)."""
        close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.7)
        name = prefix + key
        if close:
            return self.error(name, f"unknown field {name!r}: did you mean {prefix + close[0]!r}?")
        return self.error(name, f"unknown field {name!r} (known: {', '.join(sorted(known))})")

    def text(self, key: str, problems: list[Problem], required: bool, hint: str = "") -> str | None:
        """A field's non-empty text, stripped (numbers read as text); else a problem and None."""
        value = self.meta.get(key)
        if value is None:
            if required:
                problems.append(self.error(None, f"missing required field {key!r}{hint}"))
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            problems.append(self.error(key, f"{key} must be non-empty text"))
            return None
        return value.strip()


def decode(path: Path, data: bytes) -> str:
    """UTF-8 text (a BOM tolerated), or a ContentError naming the line of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ContentError(
            [Problem(path, line, "is not UTF-8 text; save the file as UTF-8")]
        ) from exc
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def split(path: Path, data: bytes) -> Document:
    """Parse the front matter of a file (`---` fences); the body is left as markdown."""
    text = decode(path, data)
    lines = text.split("\n")
    if not lines or not _FENCE.match(lines[0]):
        raise ContentError([Problem(path, 1, "must start with front matter between '---' lines")])
    end = next((i for i in range(1, len(lines)) if _FENCE.match(lines[i])), None)
    if end is None:
        raise ContentError([Problem(path, 1, "front matter is not closed by a '---' line")])
    front = "\n".join(lines[1:end])
    import yaml

    try:
        meta = yaml.load(front, Loader=_loader())  # noqa: S506 - a SafeLoader (C or Python)
    except _NoSuchDate as exc:
        key = _KEY_VALUE.match(front.split("\n")[exc.line])
        what = f"{key.group(1)} " if key else ""
        raise ContentError([Problem(path, exc.line + 2, what + exc.reason)]) from exc
    except yaml.YAMLError as exc:
        raise ContentError([_syntax_problem(path, front, exc)]) from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ContentError([Problem(path, 2, "front matter must be a mapping of keys to values")])
    body = "\n".join(lines[end + 1 :])
    return Document(path, meta, body, end + 2, front)


def _syntax_problem(path: Path, front: str, exc: Any) -> Problem:
    """A YAML error at its line, in words a writer can act on where we can say more."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 2 if mark is not None else 1
    problem = getattr(exc, "problem", None) or str(exc)
    # PyYAML says "... here", libyaml "... in this context": a second ": " in a plain value.
    if problem.startswith("mapping values are not allowed") and mark is not None:
        pair = _KEY_VALUE.match(front.split("\n")[mark.line])
        if pair and pair.group(2)[:1] not in ("'", '"'):
            key, value = pair.groups()
            quoted = json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML string
            return Problem(
                path,
                line,
                f'the {key} has ": " in it, which YAML reads as the start of another field; '
                f"put it in quotes: {key}: {quoted}",
            )
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and start.line != getattr(mark, "line", None):
        problem += f" ({context} on line {start.line + 2})"  # e.g. an unclosed [ further up
    return Problem(path, line, f"YAML syntax error: {problem}")


def to_datetime(value: Any, zone: ZoneInfo) -> dt.datetime:
    """A timezone-aware datetime from a YAML date, datetime or ISO string; naive means `zone`."""
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, dt.date):
        result = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            result = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            if why := no_such_date(value):
                raise ValueError(why) from exc
            raise ValueError(
                f"is not a date or datetime: {value!r} (use 2021-03-04 10:00)"
            ) from exc
    else:
        raise ValueError(f"is not a date or datetime: {value!r}")
    if result.tzinfo is None:
        return result.replace(tzinfo=zone)
    return result
