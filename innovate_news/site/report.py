"""What a build did, for the command line (or a script) to show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class BuildReport:
    """What a build did, for the CLI to print."""

    out: Path
    posts: int = 0
    published: int = 0
    rendered: int = 0
    files_written: int = 0
    removed: int = 0
    seconds: float = 0.0
