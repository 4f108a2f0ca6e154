"""`make clean` in a project removes what can be made again and keeps who got what and who left."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from click.testing import Result

from innovate_news import api
from innovate_news.settings import Settings
from innovate_news.site import cache
from tests.support import NOW, REPO

Run = Callable[..., Result]
FIRST = "2023-06-guidance-year"
LEFT = "amelia.hart@example.org"
NEXT_ISSUE = """---
subject: "Winter news"
date: 2026-11-20
posts:
  - how-the-case-studies-are-designed
  - working-with-stakeholders
  - guidance-launch-workshop
---

What the project did this year.
"""


def recipients(folder: Path) -> set[str]:
    parse = BytesParser(policy=policy.default).parsebytes
    return {
        str(parse(eml.read_bytes())["To"].addresses[0].addr_spec) for eml in folder.glob("*.eml")
    }


def send(run: Run, project: Path) -> Result:
    csv = str(project / "subscribers.example.csv")
    result = run("send", "latest", "--provider", "outbox", "--subscribers", csv, "--yes",
                 "--now", NOW.isoformat())  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_keeps_the_ledger_and_suppressions(
    project: Path, settings: Settings, run: Run
) -> None:
    shutil.copy2(REPO / "Makefile", project / "Makefile")
    api.build(settings, now=NOW, jobs=1)
    send(run, project)
    first = recipients(project / "outbox" / FIRST)
    assert LEFT in first and len(first) > 1
    assert run("subscribers", "unsubscribe", LEFT).exit_code == 0
    state = settings.folder("state")
    assert (state / "manifests").is_dir() and cache.folder(settings).is_dir()

    subprocess.run(["make", "-C", str(project), "clean"], check=True, capture_output=True)

    for gone in ("site", "outbox", "preview"):
        assert not (project / gone).exists(), gone
    assert not cache.folder(settings).exists()
    assert (state / "ledger.sqlite3").is_file() and (state / "secret").is_file()
    assert (state / "manifests").is_dir()

    (project / "issues" / "2026-11-winter-news.md").write_text(NEXT_ISSUE, encoding="utf-8")
    send(run, project)
    assert recipients(project / "outbox" / "2026-11-winter-news") == first - {LEFT}
    assert api.status(settings, FIRST)["counts"]["sent"] == len(first)
    again = run("send", FIRST, "--provider", "outbox", "--yes", "--now", NOW.isoformat(),
                "--subscribers", str(project / "subscribers.example.csv"))  # fmt: skip
    assert again.exit_code == 0 and not (project / "outbox" / FIRST).exists()
