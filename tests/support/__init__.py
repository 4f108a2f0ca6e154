"""What the tests share besides fixtures: the repository, the example project's parts, a clock."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PARTS = ("posts", "issues", "static", "innovate-news.toml", "subscribers.example.csv")
# A fixed clock for reproducible builds: after every example post, before the 2027 event.
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def mode(path: Path) -> int:
    """A file's permission bits, e.g. 0o600."""
    return stat.S_IMODE(path.stat().st_mode)
