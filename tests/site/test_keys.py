"""Cache keys cover the package's own code, the libraries that shape output, and exactly the
templates a page can reach."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest

from innovate_news import api
from innovate_news.settings import Settings
from innovate_news.site import keys
from tests.support import NOW


def test_an_edit_to_the_package_code_changes_the_build_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "innovate_news"
    shutil.copytree(keys.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(keys, "PACKAGE", package)
    before = keys.code()
    assert keys.code() == before  # the same code, the same fingerprint
    artefacts = package / "site" / "artefacts.py"
    artefacts.write_text(
        artefacts.read_text("utf-8").replace("<strong>When:</strong>", "<b>When:</b>"), "utf-8"
    )
    assert keys.code() != before


@pytest.mark.parametrize("library", keys.SHAPING)
def test_another_version_of_a_library_changes_the_build_fingerprint(
    monkeypatch: pytest.MonkeyPatch, library: str
) -> None:
    before = keys.code()
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "999.0" if name == library else real(name),
    )
    assert keys.code() != before


def test_a_code_change_renders_every_post_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = api.build(settings, now=NOW, jobs=1)
    assert api.build(settings, now=NOW, jobs=1).rendered == 0
    monkeypatch.setattr(keys, "code", lambda: "edited code")
    assert api.build(settings, now=NOW, jobs=1).rendered == first.posts


def test_a_page_key_covers_the_templates_it_reaches_and_no_others(
    settings: Settings, project: Path
) -> None:
    templates = project / "templates" / "site"
    shutil.copytree(keys.PACKAGE.parent / "templates" / "site", templates)
    toml = project / "innovate-news.toml"
    toml.write_text(toml.read_text("utf-8") + '\n[paths]\ntemplates = "templates"\n', "utf-8")
    settings = api.load_settings(toml)

    def digests() -> dict[str, str]:
        names = ("site/post.html", "site/archive.html", "site/index.html", "site/issue.html")
        return {name: keys.templates(settings, [name]) for name in names}

    before = digests()
    archive = templates / "archive.html"
    archive.write_text(archive.read_text("utf-8") + "\n{# a comment #}\n", "utf-8")
    after = digests()
    assert [before[n] != after[n] for n in before] == [False, True, False, False]
    base = templates / "base.html"  # every page extends it
    base.write_text(base.read_text("utf-8") + "\n{# a comment #}\n", "utf-8")
    assert all(after[n] != d for n, d in digests().items())


def test_a_computed_template_name_counts_every_template(settings: Settings, project: Path) -> None:
    templates = project / "templates" / "site"
    shutil.copytree(keys.PACKAGE.parent / "templates" / "site", templates)
    post = templates / "post.html"
    post.write_text(post.read_text("utf-8") + "\n{% include extra_template %}\n", "utf-8")
    toml = project / "innovate-news.toml"
    toml.write_text(toml.read_text("utf-8") + '\n[paths]\ntemplates = "templates"\n', "utf-8")
    settings = api.load_settings(toml)
    before = keys.templates(settings, ["site/post.html"])
    archive = templates / "archive.html"  # not named by post.html, but it could be reached
    archive.write_text(archive.read_text("utf-8") + "\n{# a comment #}\n", "utf-8")
    assert keys.templates(settings, ["site/post.html"]) != before
