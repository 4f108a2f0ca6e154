"""Topic blocks in the email: each copy promises only its own sections; `check` says when not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.email.test_reader_copy import part, sent

LIST = (
    "email,name,topics\nall@example.org,All Topics,\nfindings@example.org,Findings Only,finding\n"
)
ISSUE = Path("issues") / "2023-06-guidance-year.md"
BOOKING = "https://example.org/innovate/events/guidance-launch-booking"


def test_a_findings_only_copy_is_not_promised_the_blog_or_the_workshop(
    project: Path, run: Callable[..., Result]
) -> None:
    copies = sent(project, run, LIST)
    for kind in ("plain", "html"):
        everything = part(copies["all@example.org"], kind)
        findings = part(copies["findings@example.org"], kind)
        assert "six case studies were designed" in everything and "book early" in everything
        assert "guidance launch workshop on 5 July" in everything
        assert "six case studies were designed" in findings
        assert "book early" not in findings and "workshop on 5 July" not in findings
        assert "a blog post on how we are working" not in findings
        assert ":::" not in everything and ":::" not in findings


def test_the_web_version_shows_every_block(project: Path, run: Callable[..., Result]) -> None:
    assert run("build").exit_code == 0
    page = (project / "site" / "issues" / "2023-06-guidance-year" / "index.html").read_text(
        encoding="utf-8"
    )
    assert "six case studies were designed" in page and "book early" in page
    assert "a blog post on how we are working" in page and ":::" not in page


def test_check_warns_when_a_copy_links_to_a_section_it_lacks(
    project: Path, run: Callable[..., Result]
) -> None:
    clean = run("check")
    assert clean.exit_code == 0 and "topic block" not in clean.output, clean.output
    path = project / ISSUE
    text = path.read_text(encoding="utf-8")
    # The booking link taken out of its block: now every copy without events has it.
    moved = text.replace("::: event\nPlaces", "Places", 1)
    moved = moved.replace(f"book early]({BOOKING}).\n:::\n", f"book early]({BOOKING}).\n", 1)
    assert moved.count(":::") == text.count(":::") - 2
    path.write_text(moved, encoding="utf-8")
    warned = run("check")
    assert warned.exit_code == 0, warned.output
    line = next(n for n, s in enumerate(path.read_text("utf-8").splitlines(), 1) if BOOKING in s)
    lines = [s for s in warned.output.splitlines() if "topic block" in s]
    assert lines and all(s.startswith(f"{ISSUE}:{line}: warning: ") for s in lines), lines
    assert {s.split("the ", 1)[1].split(" copy")[0] for s in lines} == {
        "finding",
        "blog",
        "blog+finding",
    }
    assert all("'Upcoming events'" in s and "::: event" in s for s in lines)
