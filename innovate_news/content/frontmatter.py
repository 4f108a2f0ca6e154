"""YAML front matter: split a markdown file into its metadata and body, with line numbers."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from innovate_news.errors import ContentError, Problem


@functools.cache
def _loader() -> Any:
    """The safe loader, with dates that do not exist (2021-13-45) reported as YAML errors.

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
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a real date ({exc})", node.start_mark
            ) from exc

    loader: Any = type("Loader", (base,), {})
    loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    return loader


_FENCE = re.compile(r"^---[ \t]*$")


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
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and start.line != getattr(mark, "line", None):
            problem += f" ({context} on line {start.line + 2})"  # e.g. an unclosed [ further up
        raise ContentError([Problem(path, line, f"YAML syntax error: {problem}")]) from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ContentError([Problem(path, 2, "front matter must be a mapping of keys to values")])
    body = "\n".join(lines[end + 1 :])
    return Document(path, meta, body, end + 2, front)


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
            raise ValueError(
                f"is not a date or datetime: {value!r} (use 2021-03-04 10:00)"
            ) from exc
    else:
        raise ValueError(f"is not a date or datetime: {value!r}")
    if result.tzinfo is None:
        return result.replace(tzinfo=zone)
    return result
