"""Shared fixtures: a throwaway copy of the example project, and a CLI runner bound to it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings as settings_profiles

from innovate_news import settings as settings_module
from innovate_news.cli.main import cli
from innovate_news.settings import Settings
from tests.support import EXAMPLE_PARTS, REPO, stores
from tests.support.postgres import PostgresServer, PostgresUnavailable
from tests.support.stores import StoreBackend

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


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The test runs under this umask (the usual one, and none at all), restored after."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole run, stopped at the end even on failure."""
    # Not pytest's tmp_path: its root is private to root, and the server may run as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="innovate-news-pg-"))
    try:
        server = PostgresServer.start(folder)
    except PostgresUnavailable as error:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database for one test: its connection URL."""
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def store_databases(postgres_server: PostgresServer) -> stores.Databases:
    """Databases with the store's schema for the tests that run on PostgreSQL."""
    return stores.Databases.start(postgres_server)


@pytest.fixture(params=stores.BACKENDS)
def store_backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StoreBackend]:
    """Run the test once per store backend. On PostgreSQL: a fresh database with the schema,
    its URL in INNOVATE_NEWS_DATABASE_URL, and the test's `project` (if it uses one) set to
    `[store] backend = "postgresql"`; request this before `settings`, which reads the file."""
    if request.param == "sqlite":
        backend = StoreBackend("sqlite")
    else:
        databases: stores.Databases = request.getfixturevalue("store_databases")
        url = databases.take()
        request.addfinalizer(lambda: databases.give_back(url))  # after the stores are closed
        monkeypatch.setenv(stores.URL_VARIABLE, url)
        backend = StoreBackend("postgresql", url)
        if "project" in request.fixturenames:
            backend.use_in(request.getfixturevalue("project"))
    yield backend
    backend.close()
