"""Shared fixtures: a throwaway copy of the example project, and a CLI runner bound to it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings as settings_profiles

from innovate_news import settings as settings_module
from innovate_news.cli.main import cli
from innovate_news.settings import Settings
from tests.support import EXAMPLE_PARTS, REPO

# Property tests: bounded and derandomised by default, so `make test` is the same on every
# run; `make test-long` (HYPOTHESIS_PROFILE=long) draws many more examples at random.
settings_profiles.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, database=None
)
settings_profiles.register_profile("long", deadline=None, print_blob=True, max_examples=400)
settings_profiles.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the repository's example project in a temporary folder."""
    root = tmp_path / "project"
    root.mkdir()
    for part in EXAMPLE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        elif source.is_file():
            shutil.copy2(source, root / part)
    return root


@pytest.fixture
def settings(project: Path) -> Settings:
    return settings_module.load(project / "innovate-news.toml")


@pytest.fixture
def run(project: Path) -> Callable[..., Result]:
    """Invoke the CLI against the example project, like a user in its folder would."""

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli,
            ["--config", str(project / "innovate-news.toml"), *args],
            input=input,
            env=env,
            catch_exceptions=False,
        )

    return invoke
