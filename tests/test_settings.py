"""Settings: the example file loads; every bad key or value is named with its file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from innovate_news import settings as settings_module
from innovate_news.errors import SettingsError
from innovate_news.settings import Settings


def edit(project: Path, old: str, new: str) -> Path:
    """Replace one exact piece of the example settings file and return its path."""
    path = project / "innovate-news.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should appear once in the example settings"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if needle in line)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings_module.load(path)
    return [str(problem) for problem in caught.value.problems]


def test_the_example_settings_load_with_their_defaults(settings: Settings, project: Path) -> None:
    assert settings.site["title"] == "The Innovate Project"
    assert settings.base_url == "https://example.org/innovate/"
    assert settings.site["language"] == "en-GB"
    assert settings.site["timezone"] == "Europe/London"
    assert settings.site["feed_items"] == 50
    assert settings.site["websub_hub"] is None
    assert settings.folder("output") == project.resolve() / "site"
    assert settings.folder("posts") == project.resolve() / "posts"
    assert len(settings.fingerprint) == 64


def test_base_url_gains_a_trailing_slash(project: Path) -> None:
    path = edit(
        project, 'base_url = "https://example.org/innovate/"', 'base_url = "https://a.test/x"'
    )
    assert settings_module.load(path).base_url == "https://a.test/x/"


def test_unknown_key_is_named_with_file_and_line(project: Path) -> None:
    path = edit(project, "feed_items = 50\n", "feed_items = 50\nfeed_itmes = 20\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'feed_itmes')}: ")
    assert "unknown key 'feed_itmes' in [site]" in problem
    assert "feed_items" in problem  # the known keys are listed, so the typo is easy to spot


def test_unknown_table_is_named_with_its_line(project: Path) -> None:
    path = project / "innovate-news.toml"
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n[sitee]\ntitle = 'x'\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, '[sitee]')}: ")
    assert "unknown table [sitee]" in problem


def test_missing_required_key_names_the_key_and_its_table(project: Path) -> None:
    path = edit(project, 'author = "The Innovate Project team"\n', "")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, '[site]')}: ")
    assert "[site] is missing required 'author'" in problem


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("feed_items = 50", 'feed_items = "many"', "[site] feed_items must be a whole number"),
        ("feed_items = 50", "feed_items = 0", "[site] feed_items must be between 1 and"),
        ('timezone = "Europe/London"', 'timezone = "Mars/Olympus"', "not a known time zone"),
        ('language = "en-GB"', 'language = "English (UK)"', "[site] language must be"),
        (
            'base_url = "https://example.org/innovate/"',
            'base_url = "ftp://example.org/"',
            "[site] base_url must be an absolute http(s) URL",
        ),
        ('title = "The Innovate Project"', 'title = "  "', "[site] title must not be empty"),
    ],
)
def test_bad_value_names_key_file_and_line(
    project: Path, old: str, new: str, expected: str
) -> None:
    path = edit(project, old, new)
    [problem] = problems_of(path)
    key = new.split(" =")[0]
    assert problem.startswith(f"{path}:{line_of(path, key + ' =')}: ")
    assert expected in problem


def test_websub_hub_must_be_a_url(project: Path) -> None:
    path = edit(project, "feed_items = 50\n", 'feed_items = 50\nwebsub_hub = "not a url"\n')
    [problem] = problems_of(path)
    assert f":{line_of(path, 'websub_hub')}: [site] websub_hub must be an absolute" in problem


def test_every_problem_is_reported_at_once(project: Path) -> None:
    edit(project, "feed_items = 50", "feed_items = -1")
    path = edit(project, 'language = "en-GB"', 'language = 7\ncolour = "red"')
    problems = problems_of(path)
    assert len(problems) == 3
    assert any("feed_items" in p for p in problems)
    assert any("language must be a string" in p for p in problems)
    assert any("unknown key 'colour'" in p for p in problems)


def test_toml_syntax_error_has_its_line(project: Path) -> None:
    path = edit(project, "feed_items = 50", "feed_items = = 50")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'feed_items = =')}: TOML syntax error")


def test_settings_that_are_not_utf8_are_refused(project: Path) -> None:
    path = project / "innovate-news.toml"
    path.write_bytes(path.read_bytes().replace(b"children's", b"children\x92s"))
    [problem] = problems_of(path)
    assert str(path) in problem
    assert "not UTF-8" in problem


def test_settings_are_found_from_a_subfolder(project: Path) -> None:
    deeper = project / "posts" / "drafts"
    deeper.mkdir()
    assert settings_module.find(deeper) == project.resolve() / "innovate-news.toml"


def test_no_settings_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="--config"):
        settings_module.find(tmp_path)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="settings file not found"):
        settings_module.load(tmp_path / "nowhere.toml")


def test_cli_reports_a_bad_setting_and_writes_nothing(
    project: Path, run: Callable[..., Result]
) -> None:
    path = edit(project, "feed_items = 50", 'feed_items = "lots"')
    for command in (["check"], ["build", "--now", "2026-11-25"]):
        result = run(*command)
        assert result.exit_code == 1
        assert f"{path.name}:{line_of(path, 'feed_items')}: [site] feed_items" in result.stderr
        assert "Traceback" not in result.output
    assert not (project / "site").exists()
    assert not (project / ".innovate-news").exists()
