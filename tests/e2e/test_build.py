"""End to end: the installed `innovate-news` command in a subprocess, on a copy of the examples."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import feedparser
import icalendar
import pytest
from lxml import html as lxml_html  # type: ignore[import-untyped]

NOW = "2026-11-25T12:00"
BASE = "https://example.org/innovate/"


def command() -> str:
    """The console script installed beside the running interpreter (the project's venv)."""
    found = shutil.which("innovate-news", path=str(Path(sys.executable).parent))
    assert found, "the innovate-news console script is not installed in this environment"
    return found


def innovate_news(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNOVATE_NEWS_")}
    return subprocess.run(
        [command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_build_then_read_everything_back(project: Path) -> None:
    result = innovate_news("build", "--now", NOW, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "12 of 13 posts published" in result.stdout
    site = project / "site"

    for folder, count in {"": 12, "findings/": 3, "blog/": 4, "events/": 5}.items():
        for name in ("feed.xml", "atom.xml"):
            feed = feedparser.parse((site / folder / name).read_bytes())
            assert feed.bozo == 0, folder + name
            assert len(feed.entries) == count, folder + name
        data = json.loads((site / folder / "feed.json").read_text(encoding="utf-8"))
        assert data["version"] == "https://jsonfeed.org/version/1.1"
        assert len(data["items"]) == count

    index = lxml_html.fromstring((site / "index.html").read_bytes())
    assert index.get("lang") == "en-GB"
    assert index.xpath(f'//link[@rel="alternate"][@href="{BASE}feed.xml"]')

    page = lxml_html.fromstring(
        (site / "posts" / "network-reunion-2027" / "index.html").read_bytes()
    )
    [script] = page.xpath('//script[@type="application/ld+json"]')
    assert json.loads(script.text)["@type"] == "Event"

    calendar = icalendar.Calendar.from_ical((site / "events.ics").read_bytes())
    assert [str(e["UID"]) for e in calendar.walk("VEVENT")] == ["network-reunion-2027@example.org"]

    first = snapshot(site)
    again = innovate_news("build", "--now", NOW, cwd=project)
    assert again.returncode == 0
    assert "0 rendered" in again.stdout
    assert snapshot(site) == first

    checked = innovate_news("check", cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert "All good" in checked.stdout


def test_settings_are_found_from_a_subfolder(project: Path) -> None:
    result = innovate_news("build", "--now", NOW, cwd=project / "posts")
    assert result.returncode == 0, result.stderr
    assert (project / "site" / "feed.xml").is_file()


def test_a_bad_post_exits_1_with_file_and_line_and_no_traceback(project: Path) -> None:
    bad = project.resolve() / "posts" / "2024-01-01-bad.md"
    bad.write_text("---\ntitle: Bad\ndate: 2024-01-01\nkind: event\n---\nNo start.\n", "utf-8")
    for args in (("build", "--now", NOW), ("check",)):
        result = innovate_news(*args, cwd=project)
        assert result.returncode == 1, args
        assert f"posts/{bad.name}:1: an event needs event:" in result.stderr  # check: relative
        assert "Traceback" not in result.stderr
    assert not (project / "site").exists()


def test_outside_a_project_says_how_to_fix_it(tmp_path: Path) -> None:
    result = innovate_news("build", cwd=tmp_path)
    assert result.returncode == 1
    assert "no innovate-news.toml" in result.stderr
    assert "--config" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(project: Path) -> None:
    result = innovate_news("build", "--jobs", "0", cwd=project)
    assert result.returncode == 2
    assert not (project / "site").exists()


@pytest.fixture
def big_project(project: Path) -> Path:
    """Enough posts (over one chunk per worker) for the build to use a process pool."""
    source = (project / "posts" / "2021-02-18-why-extra-familial-harm.md").read_text("utf-8")
    for number in range(150):
        text = source.replace("Why we focus", f"Copy {number}: why we focus")
        path = project / "posts" / f"2019-01-01-copy-{number:03}.md"
        path.write_text(text, encoding="utf-8")
    return project


def test_a_parallel_build_matches_a_serial_one(big_project: Path, tmp_path: Path) -> None:
    serial = innovate_news("build", "--jobs", "1", "--now", NOW, cwd=big_project)
    assert serial.returncode == 0, serial.stderr
    first = snapshot(big_project / "site")
    shutil.rmtree(big_project / ".innovate-news")
    out = tmp_path / "parallel"
    parallel = innovate_news(
        "build", "--jobs", "2", "--out", str(out), "--now", NOW, cwd=big_project
    )
    assert parallel.returncode == 0, parallel.stderr
    assert "163 rendered" in parallel.stdout
    assert snapshot(out) == first
    assert len(feedparser.parse((out / "feed.xml").read_bytes()).entries) == 50  # feed_items


def test_a_parallel_build_reports_bad_posts_from_workers(big_project: Path) -> None:
    bad = big_project.resolve() / "posts" / "2019-01-01-copy-120.md"
    text = bad.read_text(encoding="utf-8").replace("kind: blog", "kind: blag")
    bad.write_text(text, encoding="utf-8")
    result = innovate_news("build", "--jobs", "2", "--now", NOW, cwd=big_project)
    assert result.returncode == 1
    assert f"{bad}:4: kind 'blag' is not a kind" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (big_project / "site").exists()


def test_python_dash_m_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "innovate_news", "--help"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    for name in ("build", "check"):
        assert f"  {name} " in result.stdout


def test_version() -> None:
    from innovate_news import __version__

    result = subprocess.run(
        [command(), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert __version__ in result.stdout
