"""Shared-store benchmarks: the state on PostgreSQL (a throwaway server on loopback) against SQLite.

Send: 10,000 recipients through the outbox provider, once with the ledger and list on SQLite
(the default) and once on PostgreSQL; the PostgreSQL send may take at most 1.5 times as long.

Serve: `innovate-news serve` with its store on PostgreSQL and a 100,000-person list there; 16
clients POST one-click unsubscribes for 10 seconds (bench/serve.py's load). Goal: at least 300
a second, p99 under 50 ms, and no lost update (a 200 whose suppression is not in the store).

The PostgreSQL server is the tests' (tests/support/postgres.py: Debian's binaries, run as the
`postgres` user when we are root), started here and stopped at the end. Until the PostgreSQL
backend works (psycopg, `innovate-news store init`), this prints "skipped" and passes.

Run: `python bench/store.py` (or `make bench`); `--quick` for a smaller run while developing.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench/email.py must not shadow the standard library's email package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE.parent))  # for the tests' PostgreSQL server

import argparse  # noqa: E402 - after the path fix above
import importlib.util  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from types import ModuleType  # noqa: E402

from tests.support.postgres import PostgresServer, PostgresUnavailable  # noqa: E402

REPO = HERE.parent
WORK = HERE / ".work" / "store"
AT = "2026-11-25T12:00"
SECRET = "bench-secret-0123456789abcdefghijkl"  # noqa: S105 (a throwaway bench key)
ENV = {"INNOVATE_NEWS_SECRET": SECRET}
SEND_RATIO = 1.5
BACKEND = '\n[store]\nbackend = "{backend}"\n'


class Skipped(Exception):
    """The PostgreSQL backend cannot run here yet: the benchmark says why and passes."""


def _serve_bench() -> ModuleType:
    """bench/serve.py, for its load generator and percentiles (loaded by path, as run.py does)."""
    spec = importlib.util.spec_from_file_location("bench_serve", HERE / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli(
    project: Path, *args: str, url: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`innovate-news ARGS` in `project`, with the database URL in the environment if given."""
    env = {**os.environ, **ENV}
    if url:
        env["INNOVATE_NEWS_DATABASE_URL"] = url
    command = [
        sys.executable,
        "-m",
        "innovate_news",
        "--config",
        str(project / "innovate-news.toml"),
    ]
    result = subprocess.run(
        [*command, *args], cwd=project, env=env, capture_output=True, text=True, check=False,
        timeout=3600,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise SystemExit(f"innovate-news {' '.join(args)} failed ({result.returncode}):\n"
                         f"{(result.stdout + result.stderr)[-2000:]}")  # fmt: skip
    return result


def use_backend(project: Path, backend: str) -> None:
    with (project / "innovate-news.toml").open("a", encoding="utf-8") as settings:
        settings.write(BACKEND.format(backend=backend))


def prepare_database(project: Path, server: PostgresServer, csv: Path) -> str:
    """A fresh database with the schema and the list in it; its URL. Skipped if unsupported."""
    try:
        import psycopg  # noqa: F401 - only whether it is installed
    except ImportError:
        raise Skipped("psycopg is not installed") from None
    url = server.create_database()
    init = cli(project, "store", "init", url=url, check=False)
    if init.returncode != 0:
        first = (init.stderr or init.stdout).strip().splitlines()
        raise Skipped(f"`innovate-news store init` failed: {first[-1] if first else '?'}")
    cli(project, "subscribers", "import", str(csv), url=url)
    return url


def probe(server: PostgresServer) -> None:
    """Raise Skipped unless `store init` works on PostgreSQL: before anything is timed."""
    project = WORK / "probe"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    shutil.copy2(REPO / "innovate-news.toml", project / "innovate-news.toml")
    use_backend(project, "postgresql")
    csv = project / "people.csv"
    csv.write_text("email,name,status,topics\nreader@example.org,Reader,subscribed,\n")
    prepare_database(project, server, csv)


def start_postgres() -> tuple[PostgresServer, Path]:
    folder = Path(tempfile.mkdtemp(prefix="innovate-news-bench-pg-"))
    try:
        return PostgresServer.start(folder), folder
    except PostgresUnavailable as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise Skipped(str(error)) from None


# Send --------------------------------------------------------------------------------------------


def make_send_project(recipients: int, name: str) -> tuple[Path, Path]:
    """A copy of the example project in WORK/`name` and a list of `recipients` readers;
    (project, list)."""
    project = WORK / name
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    for part in ("posts", "issues", "static"):
        shutil.copytree(REPO / part, project / part)
    shutil.copy2(REPO / "innovate-news.toml", project / "innovate-news.toml")
    csv = WORK / f"list-{recipients}.csv"
    with csv.open("w", encoding="utf-8") as out:
        out.write("email,name,status,topics\n")
        for i in range(recipients):
            out.write(f"reader{i:06d}@example.org,Reader {i},subscribed,\n")
    shutil.copy2(csv, project / "subscribers.csv")
    return project, csv


def timed_send(project: Path, url: str | None) -> tuple[float, int]:
    """One `send latest` through the outbox from a clean state: (seconds, copies written)."""
    # Each send writes ~300 MB of .eml files, which the kernel writes back for seconds after:
    # flushed before each timed send, so that no send pays for the one before it.
    os.sync()
    started = time.perf_counter()
    cli(project, "send", "latest", "--provider", "outbox", "--yes", "--now", AT, url=url)
    seconds = time.perf_counter() - started
    return seconds, sum(1 for _ in (project / "outbox").rglob("*.eml"))


def bench_send(server: PostgresServer, recipients: int, repeat: int) -> list[str]:
    """`repeat` sends per backend, taking turns, each in a project folder of its own: deleting
    10,000 files leaves the file system work that slows the next send in that place, so every
    folder is removed only after all the sends."""
    times: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    failures: list[str] = []
    for run in range(repeat):
        for backend, found in times.items():
            project, csv = make_send_project(recipients, f"send-{backend}-{run}")
            url = None
            if backend == "postgresql":
                use_backend(project, backend)
                url = prepare_database(project, server, csv)
            seconds, copies = timed_send(project, url)
            found.append(seconds)
            if copies != recipients:
                failures.append(f"{backend} send wrote {copies} of {recipients} copies")
    for run in range(repeat):
        for backend in times:
            shutil.rmtree(WORK / f"send-{backend}-{run}", ignore_errors=True)
    ratio = min(times["postgresql"]) / min(times["sqlite"])
    print(f"-- send: {recipients:,} recipients through the outbox, best of {repeat}")
    for backend, found in times.items():
        print(f"   ledger and list on {backend + ':':12} {min(found):6.1f} s (runs: "
              f"{', '.join(f'{t:.1f}' for t in found)})")  # fmt: skip
    print(f"   ratio: {ratio:.2f} (must be <= {SEND_RATIO}; PostgreSQL on loopback)")
    if ratio > SEND_RATIO:
        failures.append(f"send on PostgreSQL took {ratio:.2f}x SQLite's, above {SEND_RATIO}")
    return failures


# Serve -------------------------------------------------------------------------------------------


def make_serve_project(rows: int, port: int) -> tuple[Path, Path, list[str]]:
    """bench/serve.py's project and list, the store on PostgreSQL; (project, list, addresses)."""
    serve = _serve_bench()
    project = WORK / "serve"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    settings = serve.SETTINGS.format(list_id=serve.LIST_ID, port=port)
    (project / "innovate-news.toml").write_text(settings, encoding="utf-8")
    use_backend(project, "postgresql")
    addresses = [f"reader{i:06d}@example.org" for i in range(rows)]
    csv = WORK / f"people-{rows}.csv"
    lines = ["email,name,status,topics,consent_at,consent_source"]
    lines += [f"{a},Reader {i},subscribed,,2024-01-01T00:00:00Z,bench" for i, a in
              enumerate(addresses)]  # fmt: skip
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return project, csv, addresses


def suppressed(project: Path, url: str) -> set[str]:
    """The store's suppressions, read through the library after the server has stopped."""
    from innovate_news import settings as settings_module
    from innovate_news.store.ledger import Ledger

    os.environ["INNOVATE_NEWS_DATABASE_URL"] = url
    try:
        loaded = settings_module.load(project / "innovate-news.toml")
        with Ledger.open(loaded) as ledger:
            return ledger.suppressed()
    finally:
        del os.environ["INNOVATE_NEWS_DATABASE_URL"]


def bench_serve(server: PostgresServer, rows: int, seconds: float) -> list[str]:
    from innovate_news.audience.tokens import Keyring

    serve = _serve_bench()
    port = serve.free_port()
    project, csv, addresses = make_serve_project(rows, port)
    url = prepare_database(project, server, csv)
    keys = Keyring.parse(SECRET)
    links = [(a, f"/unsubscribe?t={keys.sign('unsubscribe', serve.LIST_ID, a)}") for a in addresses]
    process = serve.start_server(port, project, {**ENV, "INNOVATE_NEWS_DATABASE_URL": url})
    try:
        serve.Load(port, links[-200:]).run(0.5)  # warm-up on addresses never measured
        load = serve.Load(port, links[:-200])
        elapsed = load.run(seconds)
    finally:
        process.terminate()
        process.wait(timeout=30)
    lost = set(load.done) - suppressed(project, url)
    rate = len(load.done) / elapsed
    p50 = serve.percentile(load.latencies, 0.50) * 1000
    p99 = serve.percentile(load.latencies, 0.99) * 1000
    print(f"-- serve: {rows:,}-person list on PostgreSQL, {serve.CLIENTS} clients, {elapsed:.1f} s")
    print(f"   one-click unsubscribes: {len(load.done):,} answered 200, {load.errors} errors")
    print(
        f"   {rate:,.0f} requests/s (goal >= 300), p50 {p50:.1f} ms, p99 {p99:.1f} ms (goal < 50)"
    )
    print(f"   lost updates: {len(lost)} (200 answered, suppression missing from the store)")
    failures = []
    if rate < 300 or p99 >= 50:
        failures.append(f"serve on PostgreSQL: {rate:.0f}/s and p99 {p99:.1f} ms")
    if lost or load.errors:
        failures.append(f"serve on PostgreSQL: {len(lost)} lost updates, {load.errors} errors")
    return failures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1,000 recipients, 10,000 people")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=2, help="sends per backend (best counts)")
    parser.add_argument("--only", choices=("send", "serve"), help="Run one half of the benchmark.")
    args = parser.parse_args([] if argv is None and __name__ != "__main__" else argv)
    if args.quick:
        args.recipients, args.people, args.seconds, args.repeat = 1_000, 10_000, 3.0, 1
    failures: list[str] = []
    try:
        server, folder = start_postgres()
    except Skipped as why:
        print(f"store: skipped: backend not available ({why})")
        return
    try:
        probe(server)
        if args.only != "serve":
            failures += bench_send(server, args.recipients, args.repeat)
        if args.only != "send":
            failures += bench_serve(server, args.people, args.seconds)
    except Skipped as why:
        print(f"store: skipped: backend not available ({why})")
        return
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    for failure in failures:
        print(f"FAILED: {failure}")
    print("store: all targets met" if not failures else f"store: {len(failures)} target(s) missed")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
