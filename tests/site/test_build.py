"""The build as a library call: what it writes, reproducibility, the cache, atomic writes."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from innovate_news import output
from innovate_news import settings as settings_module
from innovate_news.errors import ContentError
from innovate_news.output import UnsafePathError
from innovate_news.settings import Settings
from innovate_news.site import build as build_module
from innovate_news.site import staging
from innovate_news.site.report import BuildReport
from tests.support import NOW, REPO

PUBLISHED = 12  # the examples: 13 posts, one of them a draft
FUTURE_POST = """---
title: "Zeppelin timetable"
date: 2027-01-10
kind: event
summary: "An event announced in the future."
event:
  start: 2027-06-01 10:00
  end: 2027-06-01 12:00
  location: "Hangar 9"
---

Not yet.
"""


def run_build(project: Path, now: dt.datetime = NOW, out: Path | None = None) -> BuildReport:
    """Reload the settings each time, as a new `innovate-news build` would."""
    settings = settings_module.load(project / "innovate-news.toml")
    return build_module.build(settings, out=out, now=now, jobs=1)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_build_writes_the_whole_site(project: Path) -> None:
    report = run_build(project)
    site = project / "site"
    files = set(snapshot(site))
    feeds_here = {"feed.xml", "atom.xml", "feed.json"}
    for folder in ("", "findings/", "blog/", "events/"):
        assert {folder + name for name in feeds_here} <= files
        assert f"{folder}index.html" in files or folder == ""
    assert {"index.html", "posts/index.html", "events.ics", "style.css"} <= files
    assert "images/networks.svg" in files  # the static folder is copied
    pages = {f for f in files if f.startswith("posts/") and f.endswith("/index.html")} - {
        "posts/index.html"
    }
    assert len(pages) == PUBLISHED
    assert len([f for f in files if f.startswith("events/") and f.endswith(".ics")]) == 5
    assert report.posts == 13
    assert report.published == PUBLISHED
    assert report.rendered == 13
    assert temp_files(site) == []


def test_drafts_and_future_posts_appear_nowhere(project: Path) -> None:
    (project / "posts" / "2027-01-10-zeppelin-timetable.md").write_text(
        FUTURE_POST, encoding="utf-8"
    )
    run_build(project)
    site = project / "site"
    hidden = [
        b"towards-policy-recommendations",  # the example draft
        b"Towards policy recommendations",
        b"zeppelin-timetable",  # dated after NOW
        b"Zeppelin",
    ]
    for name, data in snapshot(site).items():
        for needle in hidden:
            assert needle not in data, f"{needle!r} leaked into {name}"
    assert not (site / "posts" / "zeppelin-timetable").exists()


def test_now_moves_the_clock(project: Path) -> None:
    (project / "posts" / "2027-01-10-zeppelin-timetable.md").write_text(
        FUTURE_POST, encoding="utf-8"
    )
    later = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)
    report = run_build(project, now=later)
    site = project / "site"
    assert report.published == PUBLISHED + 1
    assert (site / "posts" / "zeppelin-timetable" / "index.html").is_file()
    for name in ("feed.xml", "atom.xml", "feed.json", "events/feed.xml", "index.html"):
        assert b"Zeppelin timetable" in (site / name).read_bytes(), name
    assert b"zeppelin-timetable@example.org" in (site / "events.ics").read_bytes()
    assert (site / "events" / "zeppelin-timetable.ics").is_file()
    # the draft stays out whatever the clock says
    assert b"towards-policy-recommendations" not in (site / "feed.xml").read_bytes()

    # Back to the earlier clock: the future post's page is removed again.
    run_build(project)
    assert not (site / "posts" / "zeppelin-timetable").exists()
    assert not (site / "events" / "zeppelin-timetable.ics").exists()
    assert b"Zeppelin" not in (site / "feed.xml").read_bytes()


def test_same_inputs_and_now_give_byte_identical_output(project: Path, tmp_path: Path) -> None:
    run_build(project)
    first = snapshot(project / "site")

    run_build(project)  # warm: every post comes from the cache
    assert snapshot(project / "site") == first

    other = tmp_path / "elsewhere"
    run_build(project, out=other)  # another folder: everything written afresh
    assert snapshot(other) == first

    shutil.rmtree(project / ".innovate-news")  # cold again, no cache at all
    shutil.rmtree(project / "site")
    report = run_build(project)
    assert report.rendered == 13
    assert snapshot(project / "site") == first


def test_a_different_now_changes_only_what_depends_on_it(project: Path) -> None:
    run_build(project)
    first = snapshot(project / "site")
    run_build(project, now=dt.datetime(2027, 12, 1, tzinfo=dt.UTC))  # the 2027 event is over
    second = snapshot(project / "site")
    changed = {name for name in first if first[name] != second[name]}
    # The event's own page now says it has ended.
    assert changed == {"events.ics", "index.html", "posts/network-reunion-2027/index.html"}


def test_warm_rebuild_renders_only_what_changed(project: Path) -> None:
    assert run_build(project).rendered == 13
    again = run_build(project)
    assert again.rendered == 0
    assert again.published == PUBLISHED

    post = project / "posts" / "2021-02-18-why-extra-familial-harm.md"
    edit(post, "Innovation can only be studied in context.", "Context matters.")
    edited = run_build(project)
    assert edited.rendered == 1
    page = project / "site" / "posts" / "why-extra-familial-harm" / "index.html"
    assert b"Context matters." in page.read_bytes()
    assert b"Context matters." in (project / "site" / "feed.xml").read_bytes()


def test_lists_are_written_again_only_when_a_post_they_list_changes(project: Path) -> None:
    run_build(project)
    site = project / "site"
    post = project / "posts" / "2023-02-14-working-with-stakeholders.md"
    lists = ("index.html", "posts/index.html", "blog/index.html", "findings/index.html")

    def rewritten(inodes: dict[str, int]) -> list[bool]:  # a rewrite makes a new inode
        return [(site / name).stat().st_ino != inodes[name] for name in lists]

    inodes = {name: (site / name).stat().st_ino for name in lists}
    edit(post, "## ", "## Edited ")  # the body only: the post has a summary of its own
    assert run_build(project).rendered == 1
    assert rewritten(inodes) == [False, False, False, False]

    # A list template may show any field of a post's record, so every field is in its key.
    edit(post, 'summary: "', 'summary: "A new summary. ')
    run_build(project)
    assert b"A new summary." in (site / "index.html").read_bytes()  # its home page card shows it
    assert rewritten(inodes) == [True, True, True, False]  # findings do not list a blog post

    edit(post, 'title: "', 'title: "Retitled: ')
    run_build(project)
    retitled = snapshot(site)
    assert b"Retitled: " in retitled["blog/index.html"]
    assert b"Retitled: " not in retitled["findings/index.html"]
    assert b"Retitled: " in retitled["posts/index.html"]
    assert b"Retitled: " in retitled["index.html"]


def test_files_removed_by_hand_are_written_again(project: Path) -> None:
    run_build(project)
    site = project / "site"
    before = snapshot(site)
    shutil.rmtree(site / "posts" / "why-extra-familial-harm")
    for name in ("feed.xml", "blog/atom.xml", "events.ics", "posts/index.html", "style.css"):
        (site / name).unlink()
    shutil.rmtree(site / "events")
    report = run_build(project)
    assert report.rendered == 0
    assert snapshot(site) == before
    assert run_build(project).files_written == 0


LIBRARIES_LOADED = """
import datetime as dt, sys
from pathlib import Path
from innovate_news.site import build
from innovate_news import settings
now = dt.datetime.fromisoformat(sys.argv[2])
build.build(settings.load(Path(sys.argv[1])), now=now, jobs=1)
print(" ".join(name for name in ("feedgen", "icalendar") if name in sys.modules))
"""


def test_feed_and_calendar_frames_are_kept_between_builds(project: Path) -> None:
    def libraries_loaded() -> list[str]:
        command = [sys.executable, "-c", LIBRARIES_LOADED, str(project / "innovate-news.toml")]
        done = subprocess.run(
            [*command, NOW.isoformat()], capture_output=True, text=True, check=True, timeout=60
        )
        return done.stdout.split()

    assert libraries_loaded() == ["feedgen", "icalendar"]  # a cold build makes every frame
    edit(project / "posts" / "2021-02-18-why-extra-familial-harm.md", "context.", "its context.")
    assert libraries_loaded() == []  # its feeds are written again, from the kept frames
    edit(project / "posts" / "2020-09-22-advisory-forum-first-meeting.md", "\n\n", "\n\nNew.\n\n")
    assert libraries_loaded() == []  # an event's page and .ics too


def test_a_settings_change_renders_every_post(project: Path) -> None:
    run_build(project)
    edit(project / "innovate-news.toml", 'title = "The Innovate Project"', 'title = "Innovate"')
    report = run_build(project)
    assert report.rendered == 13
    page = project / "site" / "posts" / "why-extra-familial-harm" / "index.html"
    assert (
        b"<title>Why we focus on extra-familial harm \xc2\xb7 Innovate</title>" in page.read_bytes()
    )


def test_a_template_change_renders_every_post(project: Path) -> None:
    theme = project / "theme" / "site"
    theme.mkdir(parents=True)
    shutil.copy2(REPO / "templates" / "site" / "post.html", theme / "post.html")
    with (project / "innovate-news.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[paths]\ntemplates = "theme"\n')
    assert run_build(project).rendered == 13
    assert run_build(project).rendered == 0

    edit(theme / "post.html", '<div class="content">', '<div class="content" data-theme="mine">')
    report = run_build(project)
    assert report.rendered == 13
    page = project / "site" / "posts" / "why-extra-familial-harm" / "index.html"
    assert b'data-theme="mine"' in page.read_bytes()


def test_deleting_a_post_removes_its_page(project: Path) -> None:
    run_build(project)
    site = project / "site"
    slug = "network-reunion-2027"  # no other post or newsletter issue refers to it
    assert (site / "posts" / slug / "index.html").is_file()
    (project / "posts" / f"2023-11-20-{slug}.md").unlink()
    report = run_build(project)
    assert report.removed >= 2  # the page and the event's .ics
    assert not (site / "posts" / slug).exists()
    assert not (site / "events" / f"{slug}.ics").exists()
    assert report.published == PUBLISHED - 1
    for name in ("feed.xml", "atom.xml", "feed.json", "events/atom.xml", "posts/index.html"):
        assert slug.encode() not in (site / name).read_bytes(), name
    assert b"UID:" not in (site / "events.ics").read_bytes()  # it was the one upcoming event


def test_a_failed_build_writes_nothing(project: Path) -> None:
    run_build(project)
    before = snapshot(project / "site")
    edit(
        project / "posts" / "2021-02-18-why-extra-familial-harm.md",
        "kind: blog",
        "kind: opinion",
    )
    with pytest.raises(ContentError, match="'opinion' is not a kind"):
        run_build(project)
    assert snapshot(project / "site") == before


def test_a_failed_first_build_creates_no_output_folder(project: Path) -> None:
    (project / "posts" / "broken.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    with pytest.raises(ContentError, match="YAML syntax error"):
        run_build(project)
    assert not (project / "site").exists()


def test_an_empty_posts_folder_is_a_clear_error(project: Path) -> None:
    for path in (project / "posts").glob("*.md"):
        path.unlink()
    with pytest.raises(ContentError) as caught:
        run_build(project)
    assert "no posts in" in str(caught.value)
    assert "add a markdown file" in str(caught.value)
    assert not (project / "site").exists()


class DiskFull:
    """A file handle that takes `room` bytes, writes part of the next chunk, then fails."""

    def __init__(self, handle: IO[bytes], room: int):
        self.handle = handle
        self.room = room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.handle.write(data[: self.room])
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


@pytest.mark.parametrize(
    "victim",
    [
        "feed.xml",
        "blog/atom.xml",
        "blog/feed.json",
        "posts/working-with-stakeholders/index.html",
        "posts/index.html",
    ],
)
def test_a_crash_mid_write_leaves_the_old_site_and_no_temp_files(
    project: Path, monkeypatch: pytest.MonkeyPatch, victim: str
) -> None:
    run_build(project)
    site = project / "site"
    before = snapshot(site)
    staged = staging.stage_folder(site.resolve()) / victim  # files are written there first
    edit(
        project / "posts" / "2023-02-14-working-with-stakeholders.md",
        'title: "',
        'title: "Renamed: ',
    )
    real_atomic = output.atomic
    crashed: list[Path] = []

    @contextlib.contextmanager
    def failing_atomic(path: Path, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with real_atomic(path, *args, **kwargs) as handle:
            if path == staged:
                crashed.append(path)
                yield DiskFull(handle, room=len(before[victim]) // 2)
            else:
                yield handle

    real_write_all = output.write_all

    def failing_write_all(fd: int, data: bytes, path: Path) -> None:
        if path == staged:
            crashed.append(path)
            real_write_all(fd, data[: len(before[victim]) // 2], path)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(fd, data, path)

    monkeypatch.setattr(output, "atomic", failing_atomic)
    monkeypatch.setattr(output, "write_all", failing_write_all)
    with pytest.raises(OSError, match="No space left"):
        run_build(project)
    assert crashed, f"the build did not write {victim}"
    assert snapshot(site) == before, "a failed build changed the site"
    assert temp_files(site) == []
    assert not staged.parent.exists()

    monkeypatch.undo()
    run_build(project)  # the next build finishes the job
    assert b"Renamed: " in (site / victim).read_bytes()
    assert temp_files(site) == []


def test_atomic_write_keeps_the_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "feed.xml"
    target.write_bytes(b"<old/>")
    with pytest.raises(RuntimeError), output.atomic(target) as handle:
        handle.write(b"<new>half")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"<old/>"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_replaces_and_creates_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "feed.xml"
    output.write_text(target, "<new/>")
    assert target.read_text(encoding="utf-8") == "<new/>"
    output.write_bytes(target, b"<newer/>", durable=True)
    assert target.read_bytes() == b"<newer/>"
    assert list(target.parent.iterdir()) == [target]


@pytest.mark.parametrize(
    "relative",
    [
        "../x",
        "posts/../../x",
        "/abs",
        "/etc/passwd",
        "\\windows",
        "a\\b",
        "C:/x",
        "",
        "a\x00b",
        "..",
        "posts/./a",
        "posts//a",
    ],
)
def test_no_output_path_can_leave_the_output_folder(tmp_path: Path, relative: str) -> None:
    with pytest.raises(UnsafePathError):
        output.inside(tmp_path / "site", relative)


def test_safe_output_paths_stay_inside(tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert output.inside(site, "posts/a/index.html") == site / "posts" / "a" / "index.html"
    assert output.inside(site, "feed.xml") == site / "feed.xml"


def test_settings_fixture_builds_too(settings: Settings, tmp_path: Path) -> None:
    report = build_module.build(settings, out=tmp_path / "out", now=NOW, jobs=1)
    assert report.out == (tmp_path / "out").resolve()
    assert (tmp_path / "out" / "feed.xml").is_file()


def test_two_files_with_the_same_bytes_are_two_posts(project: Path) -> None:
    original = project / "posts" / "2021-02-18-why-extra-familial-harm.md"
    shutil.copy2(original, project / "posts" / "2021-02-18-extra-familial-harm-again.md")
    report = run_build(project)
    assert report.published == PUBLISHED + 1
    site = project / "site"
    assert (site / "posts" / "why-extra-familial-harm" / "index.html").is_file()
    assert (site / "posts" / "extra-familial-harm-again" / "index.html").is_file()
    assert run_build(project).rendered == 0
