"""Newsletter issue files: parsing, finding one, choosing its posts, and its web version."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from innovate_news.content import issues
from innovate_news.errors import ContentError
from innovate_news.settings import Settings
from innovate_news.site import build as build_module
from tests.support import NOW


def write_issue(project: Path, name: str, front: str, body: str = "Hello.\n") -> Path:
    path = project / "issues" / f"{name}.md"
    path.write_text(f"---\n{front.strip()}\n---\n\n{body}", encoding="utf-8")
    return path


def test_example_issues_load_oldest_first(settings: Settings) -> None:
    loaded = issues.load_issues(settings)
    assert [i.slug for i in loaded] == [
        "2021-01-winter-update",
        "2022-06-summer-update",
        "2023-03-spring-briefing",
        "2023-06-guidance-year",
    ]
    latest = loaded[-1]
    assert latest.subject == "The guidance year: from research to practice"
    assert latest.date == dt.datetime(2023, 6, 20, tzinfo=settings.timezone)
    assert latest.preheader and latest.preheader.startswith("Our final year")
    assert latest.post_slugs == (
        "how-the-case-studies-are-designed",
        "working-with-stakeholders",
        "guidance-launch-workshop",
    )
    assert "final year" in latest.body


def test_resolve_by_slug_path_and_latest(settings: Settings, project: Path) -> None:
    assert issues.resolve(settings, "latest").slug == "2023-06-guidance-year"
    assert issues.resolve(settings, "2021-01-winter-update").subject.startswith("Winter")
    path = project / "issues" / "2022-06-summer-update.md"
    assert issues.resolve(settings, str(path)).slug == "2022-06-summer-update"
    with pytest.raises(ContentError, match="known: 2021-01-winter-update"):
        issues.resolve(settings, "2099-nothing")


def test_missing_subject_names_file_and_line(settings: Settings, project: Path) -> None:
    path = write_issue(project, "2024-01-broken", "date: 2024-01-10\npreheader: x")
    with pytest.raises(ContentError) as caught:
        issues.load_issues(settings)
    (problem,) = caught.value.problems
    assert problem.path == path and problem.line == 1
    assert "subject" in problem.message
    assert str(problem).startswith(f"{path}:1: ")


def test_subject_with_a_line_break_is_refused(settings: Settings, project: Path) -> None:
    path = write_issue(project, "2024-01-inject", 'date: 2024-01-10\nsubject: "Hi\\nBcc: x@y.z"')
    with pytest.raises(ContentError) as caught:
        issues.parse_issue(path, path.read_bytes(), settings)
    assert caught.value.problems[0].line == 3
    assert "one line" in caught.value.problems[0].message


def test_unknown_field_and_bad_posts_list(settings: Settings, project: Path) -> None:
    path = write_issue(project, "2024-01-odd", "subject: S\ndate: 2024-01-10\ntitle: T\nposts: x")
    with pytest.raises(ContentError) as caught:
        issues.parse_issue(path, path.read_bytes(), settings)
    messages = {p.line: p.message for p in caught.value.problems}
    assert "unknown field 'title'" in messages[4]
    assert "list of post slugs" in messages[5]


def issue_with_posts(project: Path, *slugs: str, date: str = "2023-12-01") -> Path:
    listed = "\n".join(f"  - {slug}" for slug in slugs)
    return write_issue(project, "2023-12-extra", f"subject: S\ndate: {date}\nposts:\n{listed}")


def test_unknown_draft_and_future_posts_are_errors_on_their_lines(
    settings: Settings, project: Path
) -> None:
    (project / "posts" / "2030-01-01-later.md").write_text(
        "---\ntitle: Later\ndate: 2030-01-01\nkind: blog\n---\n\nSoon.\n", encoding="utf-8"
    )
    path = issue_with_posts(
        project,
        "working-with-stakeholders",
        "no-such-post",
        "towards-policy-recommendations",
        "later",
    )
    issue = issues.resolve(settings, str(path))
    every = issues.load_posts(settings)
    with pytest.raises(ContentError) as caught:
        issues.select_posts(settings, issue, every, NOW)
    found = {p.line: p.message for p in caught.value.problems}
    assert all(p.path == path for p in caught.value.problems)
    assert set(found) == {6, 7, 8}  # line 5 lists a good post
    assert "no post has slug 'no-such-post'" in found[6]
    assert "is a draft" in found[7]
    assert "after this issue" in found[8]


def test_a_post_not_yet_published_is_refused(settings: Settings, project: Path) -> None:
    path = issue_with_posts(project, "network-reunion-2027", date="2023-12-01")
    issue = issues.resolve(settings, str(path))
    every = issues.load_posts(settings)
    assert [p.slug for p in issues.select_posts(settings, issue, every, NOW)] == [
        "network-reunion-2027"
    ]
    early = dt.datetime(2023, 11, 1, tzinfo=dt.UTC)
    with pytest.raises(ContentError, match="not published yet"):
        issues.select_posts(settings, issue, every, early)


def test_listed_posts_keep_the_issue_order(settings: Settings) -> None:
    issue = issues.resolve(settings, "2023-06-guidance-year")
    chosen = issues.select_posts(settings, issue, issues.load_posts(settings), NOW)
    assert [p.slug for p in chosen] == list(issue.post_slugs or ())


def test_default_selection_is_everything_since_the_previous_issue(
    settings: Settings, project: Path
) -> None:
    write_issue(project, "2024-01-new-year", "subject: New year\ndate: 2024-01-15")
    issue = issues.resolve(settings, "2024-01-new-year")
    chosen = issues.select_posts(settings, issue, issues.load_posts(settings), NOW)
    # After 2023-06-20, up to 2024-01-15: the draft finding is left out, the event is in.
    assert [p.slug for p in chosen] == ["network-reunion-2027"]
    first = write_issue(project, "2020-08-first", "subject: First\ndate: 2020-08-01")
    issue = issues.parse_issue(first, first.read_bytes(), settings)
    chosen = issues.select_posts(settings, issue, issues.load_posts(settings), NOW)
    assert [p.slug for p in chosen] == [
        "mapping-the-field-three-reviews",
        "welcome-to-the-innovate-project",
    ]


def test_build_writes_each_published_issue_and_lists_them(
    settings: Settings, project: Path
) -> None:
    write_issue(project, "2030-01-future", "subject: Not yet\ndate: 2030-01-01")
    out = project / "site"
    build_module.build(settings, out=out, now=NOW, jobs=1)
    page = (out / "issues" / "2023-06-guidance-year" / "index.html").read_text(encoding="utf-8")
    assert "<h1>The guidance year: from research to practice</h1>" in page
    assert page.index("New findings") < page.index("From the blog") < page.index("Upcoming events")
    assert "https://example.org/innovate/posts/guidance-launch-workshop/" in page
    assert (
        'rel="canonical" href="https://example.org/innovate/issues/2023-06-guidance-year/"' in page
    )
    assert not (out / "issues" / "2030-01-future").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    links = [
        "issues/2023-06-guidance-year/",
        "issues/2022-06-summer-update/",
        "issues/2021-01-winter-update/",
    ]
    positions = [index.index(f'href="https://example.org/innovate/{link}"') for link in links]
    assert positions == sorted(positions)  # newest first
    assert 'datetime="2023-06-20T00:00:00+01:00"' in index
    assert "Not yet" not in index


def test_build_refuses_an_issue_listing_an_unknown_post_before_writing(
    settings: Settings, project: Path
) -> None:
    issue_with_posts(project, "no-such-post")
    out = project / "site"
    with pytest.raises(ContentError, match="no-such-post"):
        build_module.build(settings, out=out, now=NOW, jobs=1)
    assert not (out / "index.html").exists()


def test_check_reports_issue_problems(project: Path, run: Callable[..., Result]) -> None:
    long_subject = (
        "A subject that goes on and on about everything the project did this year, and more"
    )
    write_issue(project, "2023-12-long", f'subject: "{long_subject}"\ndate: 2023-12-01\nposts: []')
    result = run("check", "--now", "2026-11-25")
    assert result.exit_code == 0, result.output
    assert f"2023-12-long.md:2: warning: subject is {len(long_subject)} characters" in result.stderr
    assert "2023-12-long.md:1: warning: no preheader" in result.stderr
    issue_with_posts(project, "no-such-post")
    result = run("check", "--now", "2026-11-25")
    assert result.exit_code == 1
    assert "2023-12-extra.md:5: no post has slug 'no-such-post'" in result.stderr


def check_issue(project: Path, run: Callable[..., Result], body: str) -> Result:
    write_issue(
        project, "2023-12-check", "subject: S\ndate: 2023-12-01\npreheader: P\nposts: []", body
    )
    return run("check", "--now", "2026-11-25")


def test_check_flags_images_without_alt_and_links_to_missing_pages(
    project: Path, run: Callable[..., Result]
) -> None:
    body = (
        "Our poster:\n\n![](https://example.org/innovate/poster.png)\n\n"
        "See [the old page](posts/no-such-page/) and\n"
        "[the survey](posts/practice-survey-aims-and-methods/)"
        " and [a booking form](https://example.org/innovate/book-here).\n"
    )
    result = check_issue(project, run, body)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(
        line.startswith("issues/2023-12-check.md:10: image ") and "no alt text" in line
        for line in lines
    )
    assert any(
        "2023-12-check.md:12: link https://example.org/innovate/posts/no-such-page/ points into "
        "the site, but build writes no page there" in line
        for line in lines
    )
    assert "practice-survey-aims-and-methods" not in result.stderr  # a page build writes
    assert "book-here" not in result.stderr  # not a shape build writes: served by something else


def test_check_flags_relative_links_from_templates(
    project: Path, run: Callable[..., Result]
) -> None:
    own = project / "own" / "email"
    own.mkdir(parents=True)
    (own / "_card.mjml.j2").write_text(
        '<mj-section>\n<mj-column>\n<mj-text><a href="/about">{{ post.title }}</a></mj-text>\n'
        "</mj-column>\n</mj-section>\n",
        encoding="utf-8",
    )
    toml = project / "innovate-news.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[paths]\ntemplates = "own"\n', "utf-8")
    result = run("check", "--now", "2026-11-25")
    assert result.exit_code == 1
    assert "link '/about' is not absolute" in result.stderr


def test_check_flags_an_issue_gmail_would_clip(project: Path, run: Callable[..., Result]) -> None:
    paragraph = "A paragraph that says a great deal about the project, at length. " * 20
    result = check_issue(project, run, "\n\n".join([paragraph] * 90))
    assert result.exit_code == 1
    assert "Gmail clips email over 102,000" in result.stderr


def test_check_warns_about_a_light_brand_colour(project: Path, run: Callable[..., Result]) -> None:
    toml = project / "innovate-news.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("[email]\n", '[email]\nbrand_colour = "#f4d35e"\n'), "utf-8")
    result = run("check", "--now", "2026-11-25")
    assert result.exit_code == 0, result.output
    assert "warning: [email] brand_colour #f4d35e has a contrast of" in result.stderr


def test_check_skips_issues_whose_sending_has_started(
    project: Path, settings: Settings, run: Callable[..., Result]
) -> None:
    from innovate_news.store.ledger import Ledger

    issue_with_posts(project, "no-such-post")
    assert run("check", "--now", "2026-11-25").exit_code == 1
    with Ledger.open(settings) as book:
        book.add("2023-12-extra", ["a@example.org"])
    result = run("check", "--now", "2026-11-25")
    assert result.exit_code == 0, result.output
