"""What the tests share besides fixtures: the repository, the example project's parts, a clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PARTS = ("posts", "issues", "static", "innovate-news.toml", "subscribers.example.csv")
# A fixed clock for reproducible builds: after every example post, before the 2027 event.
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
