"""Posts: front matter validated per kind; every problem names its file and line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from innovate_news import checks
from innovate_news.content import posts
from innovate_news.content.posts import Post
from innovate_news.errors import ContentError
from innovate_news.settings import Settings
from tests.support import NOW

LONDON = ZoneInfo("Europe/London")
GOOD = "---\ntitle: A post\ndate: 2021-03-04\nkind: blog\n---\nHello.\n"


def parse(path: Path, text: str | bytes) -> Post:
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes(data)
    return posts.parse(path, data, LONDON, "The team")


def problems(path: Path, text: str | bytes) -> list[str]:
    with pytest.raises(ContentError) as caught:
        parse(path, text)
    return [str(problem) for problem in caught.value.problems]


def only_problem(path: Path, text: str | bytes) -> str:
    found = problems(path, text)
    assert len(found) == 1, found
    return found[0]


def test_every_example_post_parses(settings: Settings) -> None:
    loaded, found = checks.check_posts(settings)
    assert found == []
    assert len(loaded) == 13
    kinds = [post.kind for post in loaded]
    assert {kind: kinds.count(kind) for kind in posts.KINDS} == {
        "finding": 4,
        "blog": 4,
        "event": 5,
    }
    assert sum(post.draft for post in loaded) == 1
    assert all(post.event is not None for post in loaded if post.kind == "event")


def test_a_good_post_gets_defaults(tmp_path: Path) -> None:
    post = parse(tmp_path / "2021-03-04-a-post.md", GOOD)
    assert post.slug == "a-post"  # the file name without its date prefix
    assert post.title == "A post"
    assert post.date == dt.datetime(2021, 3, 4, tzinfo=LONDON)
    assert post.authors == (posts.Author("The team"),)
    assert post.summary is None
    assert post.body == "Hello.\n"
    assert post.body_line == 6


def test_a_naive_datetime_is_in_the_site_time_zone(tmp_path: Path) -> None:
    text = GOOD.replace("2021-03-04", "2021-07-01 09:30")
    post = parse(tmp_path / "summer.md", text)
    assert post.date.utcoffset() == dt.timedelta(hours=1)  # BST in July
    assert post.date.astimezone(dt.UTC).hour == 8


def test_bom_and_crlf_are_tolerated(tmp_path: Path) -> None:
    post = parse(tmp_path / "windows.md", b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    assert post.title == "A post"
    assert post.body == "Hello.\n"


def test_missing_title(tmp_path: Path) -> None:
    path = tmp_path / "untitled.md"
    problem = only_problem(path, GOOD.replace("title: A post\n", ""))
    assert problem == f"{path}:1: missing required field 'title'"


def test_unknown_kind_names_its_line_and_the_kinds(tmp_path: Path) -> None:
    path = tmp_path / "news.md"
    problem = only_problem(path, GOOD.replace("kind: blog", "kind: news"))
    assert problem.startswith(f"{path}:4: kind 'news' is not a kind")
    assert "finding, blog, event" in problem


def test_missing_kind(tmp_path: Path) -> None:
    path = tmp_path / "kindless.md"
    assert "kind missing" in only_problem(path, GOOD.replace("kind: blog\n", ""))


def test_bad_date_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "when.md"
    problem = only_problem(path, GOOD.replace("date: 2021-03-04", "date: last Tuesday"))
    assert problem.startswith(f"{path}:3: date is not a date or datetime: 'last Tuesday'")


def test_a_date_that_does_not_exist_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "impossible.md"
    problem = only_problem(path, GOOD.replace("date: 2021-03-04", "date: 2021-13-45"))
    assert problem == f"{path}:3: date 2021-13-45 does not exist: there is no month 13"


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("2024-02-31", "2024-02-31 does not exist: February 2024 has 29 days"),
        ("2023-02-29", "2023-02-29 does not exist: February 2023 has 28 days"),
        ("2024-04-31 10:00", "2024-04-31 does not exist: April 2024 has 30 days"),
        ("2024-06-31T09:30:00", "2024-06-31 does not exist: June 2024 has 30 days"),
    ],
)
def test_a_day_not_in_the_calendar_is_named_not_a_yaml_error(
    tmp_path: Path, written: str, why: str
) -> None:
    path = tmp_path / "impossible.md"
    problem = only_problem(path, GOOD.replace("date: 2021-03-04", f"date: {written}"))
    assert problem == f"{path}:3: date {why}"
    assert "YAML" not in problem


def test_an_event_start_not_in_the_calendar_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "meeting.md"
    text = GOOD.replace("kind: blog", "kind: event\nevent:\n  start: 2025-09-31 10:00:00")
    problem = only_problem(path, text)
    assert problem == f"{path}:6: start 2025-09-31 does not exist: September 2025 has 30 days"


def test_missing_date(tmp_path: Path) -> None:
    path = tmp_path / "undated.md"
    assert only_problem(path, GOOD.replace("date: 2021-03-04\n", "")).endswith(
        "missing required field 'date'"
    )


def test_event_without_event_block(tmp_path: Path) -> None:
    path = tmp_path / "meeting.md"
    problem = only_problem(path, GOOD.replace("kind: blog", "kind: event"))
    assert problem.startswith(f"{path}:1: an event needs event:")


def test_event_without_start(tmp_path: Path) -> None:
    path = tmp_path / "meeting.md"
    text = GOOD.replace("kind: blog", "kind: event\nevent:\n  location: Online")
    problem = only_problem(path, text)
    assert problem == f"{path}:5: event.start is required (a date and time)"


def test_event_with_a_bad_end_names_the_end(tmp_path: Path) -> None:
    path = tmp_path / "meeting.md"
    text = GOOD.replace(
        "kind: blog", "kind: event\nevent:\n  start: 2021-05-01 10:00\n  end: soon after"
    )
    problem = only_problem(path, text)
    assert problem.startswith(f"{path}:7: event.end is not a date or datetime")


def test_event_ending_before_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "meeting.md"
    text = GOOD.replace(
        "kind: blog", "kind: event\nevent:\n  start: 2021-05-01 10:00\n  end: 2021-05-01 09:00"
    )
    assert only_problem(path, text) == f"{path}:7: event.end is before event.start"


def test_image_without_alt(tmp_path: Path) -> None:
    path = tmp_path / "pictured.md"
    text = GOOD.replace("kind: blog", "kind: blog\nimage:\n  src: images/a.png")
    problem = only_problem(path, text)
    assert problem.startswith(f"{path}:5: image needs alt text")


def test_image_with_blank_alt(tmp_path: Path) -> None:
    path = tmp_path / "pictured.md"
    text = GOOD.replace("kind: blog", "kind: blog\nimage: {src: a.png, alt: '  '}")
    assert "image needs alt text" in only_problem(path, text)


def test_yaml_syntax_error_has_the_line_of_the_mistake(tmp_path: Path) -> None:
    path = tmp_path / "broken.md"
    text = '---\ntitle: A post\ndate: 2021-03-04\nsummary: "one" two\nkind: blog\n---\nHi\n'
    problem = only_problem(path, text)
    assert problem.startswith(f"{path}:4: YAML syntax error")


def test_a_title_with_a_colon_says_to_put_it_in_quotes(tmp_path: Path) -> None:
    path = tmp_path / "colon.md"
    text = GOOD.replace("title: A post", 'title: Networks: how "they" work')
    problem = only_problem(path, text)
    assert problem == (
        f'{path}:2: the title has ": " in it, which YAML reads as the start of another field; '
        'put it in quotes: title: "Networks: how \\"they\\" work"'
    )
    fixed = GOOD.replace("title: A post", 'title: "Networks: how \\"they\\" work"')
    assert parse(path, fixed).title == 'Networks: how "they" work'  # the suggestion parses


def test_unclosed_yaml_list_points_at_where_it_opened(tmp_path: Path) -> None:
    path = tmp_path / "broken.md"
    text = "---\ntitle: A post\ntags: [one, two\ndate: 2021-03-04\nkind: blog\n---\nHi\n"
    problem = only_problem(path, text)
    assert problem.startswith(f"{path}:4: YAML syntax error")
    assert "on line 3" in problem  # where the [ was opened


def test_front_matter_must_open_and_close(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    assert "must start with front matter" in only_problem(path, "Just text\n")
    assert "not closed" in only_problem(path, "---\ntitle: x\n")


def test_front_matter_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.md"
    assert "must be a mapping" in only_problem(path, "---\n- a\n- b\n---\nHi\n")


def test_a_non_utf8_file_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    data = GOOD.encode() + "Café society\n".encode("latin-1")
    assert only_problem(path, data) == f"{path}:7: is not UTF-8 text; save the file as UTF-8"


def test_unknown_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "typo.md"
    problem = only_problem(path, GOOD.replace("kind: blog", "kind: blog\nsumary: Oops"))
    assert problem == f"{path}:5: unknown field 'sumary': did you mean 'summary'?"


@pytest.mark.parametrize(
    ("typo", "meant"), [("Title", "title"), ("tag", "tags"), ("author", "authors")]
)
def test_a_close_miss_of_a_field_suggests_it(tmp_path: Path, typo: str, meant: str) -> None:
    path = tmp_path / "typo.md"
    text = GOOD.replace("kind: blog", f"kind: blog\n{typo}: x")
    problem = only_problem(path, text)
    assert problem == f"{path}:5: unknown field {typo!r}: did you mean {meant!r}?"


def test_an_unknown_field_far_from_any_lists_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "typo.md"
    problem = only_problem(path, GOOD.replace("kind: blog", "kind: blog\ncolour: red"))
    assert problem.startswith(f"{path}:5: unknown field 'colour' (known: authors, date, ")


def test_a_close_miss_of_an_event_field_suggests_it(tmp_path: Path) -> None:
    path = tmp_path / "meeting.md"
    text = GOOD.replace(
        "kind: blog", "kind: event\nevent:\n  start: 2021-05-01 10:00\n  locaton: Online"
    )
    problem = only_problem(path, text)
    assert problem == f"{path}:7: unknown field 'event.locaton': did you mean 'event.location'?"


def test_all_problems_of_one_file_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "many.md"
    found = problems(path, "---\nkind: news\ndate: soon\n---\nHi\n")
    assert len(found) == 3
    assert [p.split(":")[1] for p in found] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("slug", "why"),
    [
        ("../x", "may only contain a-z, 0-9"),
        ("/abs", "may only contain a-z, 0-9"),
        ("a/b", "may only contain a-z, 0-9"),
        ("CON", "may only contain a-z, 0-9"),
        ("con", "reserved file name on Windows"),
        ("lpt1", "reserved file name on Windows"),
        ("Upper-Case", "may only contain a-z, 0-9"),
        ("double--hyphen", "single hyphens"),
        ("-leading", "single hyphens"),
        ("x" * 121, "longer than 120"),
    ],
)
def test_unsafe_slug_in_front_matter(tmp_path: Path, slug: str, why: str) -> None:
    path = tmp_path / "post.md"
    text = GOOD.replace("kind: blog", f"kind: blog\nslug: {slug!r}")
    problem = only_problem(path, text)
    assert problem.startswith(f"{path}:5: slug {slug!r}")
    assert why in problem


def test_a_slug_must_be_text(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    assert "slug must be text" in only_problem(
        path, GOOD.replace("kind: blog", "kind: blog\nslug: 7")
    )


def test_a_reserved_file_name_is_refused_as_a_default_slug(tmp_path: Path) -> None:
    path = tmp_path / "CON.md"
    assert only_problem(path, GOOD) == f"{path}:1: slug 'con' is a reserved file name on Windows"


def test_a_file_name_with_spaces_needs_a_slug(tmp_path: Path) -> None:
    path = tmp_path / "My First Post.md"
    assert "slug 'my first post' may only contain" in only_problem(path, GOOD)
    post = parse(path, GOOD.replace("kind: blog", "kind: blog\nslug: my-first-post"))
    assert post.slug == "my-first-post"


def test_duplicate_slugs_name_both_files(tmp_path: Path) -> None:
    first = parse(tmp_path / "2021-01-01-same.md", GOOD)
    second = parse(tmp_path / "2022-01-01-same.md", GOOD)
    [problem] = posts.check_unique([first, second])
    assert problem.path == second.path
    assert str(first.path) in problem.message
    assert "give one a different slug" in problem.message


def test_authors_with_orcid_and_tags(tmp_path: Path) -> None:
    text = GOOD.replace(
        "kind: blog",
        "kind: blog\nauthors:\n  - {name: Ada, orcid: 0000-0002-1825-0097}\n  - Bo\n"
        "tags: [a, b, a]",
    )
    post = parse(tmp_path / "people.md", text)
    assert post.authors == (posts.Author("Ada", "0000-0002-1825-0097"), posts.Author("Bo"))
    assert post.tags == ("a", "b")


def test_a_bad_orcid_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("kind: blog", "kind: blog\nauthors: [{name: Ada, orcid: '1234'}]")
    assert "bad ORCID '1234'" in only_problem(tmp_path / "orcid.md", text)


def test_draft_and_future_posts_are_not_published(tmp_path: Path) -> None:
    post = parse(tmp_path / "p.md", GOOD)
    draft = parse(tmp_path / "d.md", GOOD.replace("kind: blog", "kind: blog\ndraft: true"))
    future = parse(tmp_path / "f.md", GOOD.replace("2021-03-04", "2030-01-01"))
    assert post.published(NOW)
    assert not draft.published(NOW)
    assert not future.published(NOW)
    assert future.published(dt.datetime(2030, 1, 1, tzinfo=LONDON))


def test_draft_must_be_a_boolean(tmp_path: Path) -> None:
    text = GOOD.replace("kind: blog", "kind: blog\ndraft: maybe")
    assert "draft must be true or false" in only_problem(tmp_path / "d.md", text)


def test_missing_posts_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="does not exist; create it"):
        posts.sources(tmp_path / "posts")
