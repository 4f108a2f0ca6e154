"""How `check` prints problems: `path:line: message`, or GitHub workflow commands.

Paths are shown relative to the project's folder, as the team knows them and as a pull request
names them; a file outside the project keeps its full path.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from innovate_news.errors import Problem

FORMATS = ("text", "github")


def relative(path: Path | str | None, root: Path) -> Path | str | None:
    """`path` relative to `root` when it is inside it; anything else unchanged."""
    if path is None or not Path(path).is_absolute():
        return path
    for candidate in (Path(path), Path(path).resolve()):
        try:
            return candidate.relative_to(root)
        except ValueError:
            continue
    return path


def text(problem: Problem, root: Path) -> str:
    """`path:line: message`, the path relative to the project."""
    return str(dataclasses.replace(problem, path=relative(problem.path, root)))


def github(problem: Problem, root: Path) -> str:
    """A workflow command (`::error file=posts/a.md,line=3::message`) that GitHub Actions shows
    as an annotation on that line of the pull request.

    Escaped as GitHub's toolkit does: `%`, CR and LF in the message; also `:` and `,` in the
    properties, which would otherwise end them.
    """
    command = "warning" if problem.severity == "warning" else "error"
    properties = []
    path = relative(problem.path, root)
    if path is not None:
        properties.append(f"file={_property(Path(path).as_posix())}")
        if problem.line:
            properties.append(f"line={problem.line}")
    head = f"{command} {','.join(properties)}" if properties else command
    return f"::{head}::{_data(problem.message)}"


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")
