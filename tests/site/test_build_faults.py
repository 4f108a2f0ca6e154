"""Faults around a build: an unwritable cache, a cache from other code, two builds at once, and
a build killed at any point. Each ends with the output a cold build would give, or the site
exactly as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from innovate_news import api
from innovate_news.cli.main import cli
from innovate_news.errors import BuildLockedError, ExitCode
from innovate_news.site import build as build_module
from innovate_news.site import cache, keys
from innovate_news.store import locks
from tests.site.test_warm_equals_cold import (
    build,
    cold_output,
    differences,
    initial_model,
    new_project,
    snapshot,
)
from tests.support import NOW


@pytest.fixture
def small(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    new_project(root, initial_model())
    assert build(root) is None
    return root


def edit_post(root: Path) -> None:
    post = root / "posts" / "2021-04-11-a-blog-post.md"
    post.write_text(post.read_text("utf-8").replace("A blog post", "Renamed post"), "utf-8")


def test_an_unwritable_cache_is_a_clear_error_and_the_site_is_untouched(small: Path) -> None:
    before = snapshot(small / "site")
    folder = small / ".innovate-news" / "cache"
    shutil.rmtree(folder)
    folder.write_text("not a folder")  # unwritable even for root, unlike a chmod
    edit_post(small)
    result = CliRunner().invoke(
        cli, ["--config", str(small / "innovate-news.toml"), "build", "--now", NOW.isoformat()]
    )
    assert result.exit_code == ExitCode.ERROR, result.output
    assert f"cannot write the build cache in {folder}" in result.output
    assert snapshot(small / "site") == before


def test_a_cache_written_by_other_code_is_a_miss(
    small: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = api.load_settings(small / "innovate-news.toml")
    monkeypatch.setattr(keys, "code", lambda: "another version of the tool")
    report = api.build(settings, now=NOW, jobs=1)
    assert report.rendered == report.posts  # nothing from the old cache was read
    monkeypatch.undo()
    # And back again: the cache now holds the other version's entries, another miss.
    assert api.build(settings, now=NOW, jobs=1).rendered == report.posts
    error, cold = cold_output(small, tmp_path)
    assert error is None
    assert not differences(snapshot(small / "site"), cold)


def test_a_second_build_waits_for_the_first_then_refuses_naming_it(small: Path) -> None:
    settings = api.load_settings(small / "innovate-news.toml")
    lock = settings.folder("state") / "locks" / "build.lock"
    edit_post(small)
    before = snapshot(small / "site")
    with locks.exclusive(lock, RuntimeError):  # another build, as far as this one can tell
        with pytest.raises(BuildLockedError, match=rf"pid {os.getpid()} on .*waited 0 s"):
            build_module.build(settings, now=NOW, jobs=1, patience=0.2)
        assert snapshot(small / "site") == before
    report = build_module.build(settings, now=NOW, jobs=1, patience=0.2)
    assert report.rendered == 1


# A build in a child process that dies (no cleanup, no finally) at its Nth rename: every file
# the build writes (cache packs and index, staged pages, the move into the site, the manifest)
# ends in a rename, so this stops it at every stage in turn.
KILLED_BUILD = """
import os, sys
from pathlib import Path
from innovate_news import api
from tests.support import NOW

stop_at, renames = int(sys.argv[2]), [0]

def counted(real):
    def rename(*args, **kwargs):
        renames[0] += 1
        if renames[0] == stop_at:
            os._exit(9)
        return real(*args, **kwargs)
    return rename

os.replace, os.rename = counted(os.replace), counted(os.rename)  # Path.rename is os.rename
api.build(api.load_settings(Path(sys.argv[1])), now=NOW, jobs=1)
print(renames[0])
"""


def killed_build(root: Path, stop_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, str(root / "innovate-news.toml"), str(stop_at)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )


def changed_project(root: Path) -> None:
    """A built project, then edits that touch posts, lists, feeds and an issue page."""
    shutil.rmtree(root, ignore_errors=True)
    new_project(root, initial_model())
    assert build(root) is None
    edit_post(root)
    (root / "posts" / "2022-07-25-later-event.md").unlink()
    issue = root / "issues" / "2023-05-01-spring.md"
    issue.write_text(issue.read_text("utf-8").replace("Spring", "Late spring"), "utf-8")


def assert_repaired(root: Path, tmp_path: Path, stop_at: int, renames: int) -> None:
    """Kill a build of `root` at rename `stop_at`; the next build must give the cold output."""
    killed = killed_build(root, stop_at)
    assert killed.returncode == 9, killed.stderr
    assert build(root) is None, f"the build after one killed at rename {stop_at} failed"
    error, cold = cold_output(root, tmp_path)
    assert error is None
    found = differences(snapshot(root / "site"), cold)
    assert not found, f"killed at rename {stop_at} of {renames}: {found}"
    assert not list(root.glob(".site.building")), "the staging folder was left behind"


@pytest.mark.slow
def test_a_build_killed_at_any_stage_is_repaired_by_the_next(tmp_path: Path) -> None:
    root = tmp_path / "project"
    changed_project(root)
    finished = killed_build(root, 0)  # 0: never stops; counts the renames of a whole build
    assert finished.returncode == 0, finished.stderr
    renames = int(finished.stdout)
    assert renames > 10
    for stop_at in sorted({1, 2, 3, renames // 2, renames - 2, renames - 1, renames}):
        changed_project(root)
        assert_repaired(root, tmp_path, stop_at, renames)


@pytest.mark.slow
def test_a_first_build_killed_at_any_stage_is_repaired_by_the_next(tmp_path: Path) -> None:
    # A first build into an empty folder moves the whole staging folder in one rename.
    root = tmp_path / "project"
    new_project(root, initial_model())
    finished = killed_build(root, 0)
    assert finished.returncode == 0, finished.stderr
    renames = int(finished.stdout)
    for stop_at in range(1, renames + 1):
        shutil.rmtree(root)
        new_project(root, initial_model())
        assert_repaired(root, tmp_path, stop_at, renames)


def test_the_cache_folder_is_apart_from_durable_state(small: Path) -> None:
    settings = api.load_settings(small / "innovate-news.toml")
    assert cache.folder(settings) == settings.folder("state") / "cache"
    assert (settings.folder("state") / "cache" / "index.marshal").is_file()
