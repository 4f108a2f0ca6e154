"""List service benchmark: one-click unsubscribes against a 100,000-row list.

Starts `innovate-news serve` (waitress, its own process) on loopback, then 16 clients POST
RFC 8058 one-click unsubscribes, each for a different subscriber, for 10 seconds. Prints
requests per second, latency percentiles and lost updates: answers of 200 whose suppression
is not in the ledger afterwards. Goal: at least 300 a second, p99 under 50 ms, none lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench/email.py must not shadow the standard library's email package (http.client needs it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import contextlib  # noqa: E402
import http.client  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

WORK = HERE / ".work" / "serve"
ROWS = 100_000
CLIENTS = 16
SECONDS = 10.0
SECRET = "bench-secret-0123456789abcdefghijkl"  # noqa: S105 (a throwaway bench key)
LIST_ID = "news.bench.example.org"
SETTINGS = """[site]
title = "Benchmark site"
base_url = "https://example.org/bench/"
author = "Bench team"

[email]
from = "Bench <news@example.org>"
list_id = "{list_id}"
subscribers = "subscribers.csv"
unsubscribe_url = "http://127.0.0.1:{port}/unsubscribe"
unsubscribe_mailto = "unsubscribe@example.org"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_project(port: int) -> list[str]:
    """The bench project: settings and a 100,000-row list; returns the addresses."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    settings = SETTINGS.format(list_id=LIST_ID, port=port)
    (WORK / "innovate-news.toml").write_text(settings, encoding="utf-8")
    addresses = [f"reader{i:06d}@example.org" for i in range(ROWS)]
    lines = ["email,name,status,topics,consent_at,consent_source"]
    lines += [f"{a},Reader {i},subscribed,,2024-01-01T00:00:00Z,bench" for i, a in
              enumerate(addresses)]  # fmt: skip
    (WORK / "subscribers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return addresses


def start_server(
    port: int, folder: Path = WORK, environ: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`innovate-news serve` on `port` for the project in `folder`, once it answers /healthz;
    `environ` adds to the environment (bench/store.py: the database URL)."""
    config = str(folder / "innovate-news.toml")
    command = [sys.executable, "-m", "innovate_news", "--config", config,
               "serve", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = {**os.environ, "INNOVATE_NEWS_SECRET": SECRET, **(environ or {})}
    # waitress notes each time every thread is busy ("Task queue depth"): kept in a log file.
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        time.sleep(0.05)
    server.kill()
    server.wait()
    raise SystemExit(f"serve did not start; see {folder / 'server.log'}")


class Load:
    """Clients that each keep one connection open and unsubscribe the next address."""

    def __init__(self, port: int, links: list[tuple[str, str]]):
        self.port = port
        self.links = iter(links)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.done: list[str] = []
        self.errors = 0

    def client(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        body = b"List-Unsubscribe=One-Click"
        while not self.stop.is_set():
            with self.lock:
                address, path = next(self.links, ("", ""))
            if not address:
                break
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, headers)
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                with self.lock:
                    self.errors += 1
                continue
            elapsed = time.perf_counter() - started
            with self.lock:
                self.latencies.append(elapsed)
                if answer.status == 200:
                    self.done.append(address)
                else:
                    self.errors += 1
        connection.close()

    def run(self, seconds: float) -> float:
        threads = [threading.Thread(target=self.client) for _ in range(CLIENTS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        self.stop.set()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started


def suppressed() -> set[str]:
    """The ledger's suppressions, read straight from its file after the server has stopped."""
    with contextlib.closing(sqlite3.connect(WORK / ".innovate-news" / "ledger.sqlite3")) as db:
        return {row[0] for row in db.execute("SELECT address FROM suppressions")}


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000)[int(share * 1000) - 1] if len(values) > 1 else 0.0


def main() -> None:
    from innovate_news.audience.tokens import Keyring
    from innovate_news.settings import SCHEMA

    port = free_port()
    addresses = make_project(port)
    keys = Keyring.parse(SECRET)
    links = [(a, f"/unsubscribe?t={keys.sign('unsubscribe', LIST_ID, a)}") for a in addresses]
    server = start_server(port)
    try:
        Load(port, links[-200:]).run(0.5)  # warm-up on addresses the measurement never uses
        load = Load(port, links[:-200])
        seconds = load.run(SECONDS)
    finally:
        server.terminate()
        _, _, usage = os.wait4(server.pid, 0)
        server.returncode = 0
    client_cpu = time.process_time()
    held = suppressed()
    lost = [a for a in load.done if a not in held]
    rate = len(load.done) / seconds
    p50 = percentile(load.latencies, 0.50) * 1000
    p99 = percentile(load.latencies, 0.99) * 1000
    print(
        f"list of {ROWS:,} rows, {CLIENTS} clients, {seconds:.1f} s on loopback, "
        f"server with the default [serve] threads = {SCHEMA['serve']['threads'].default}"
    )
    print(f"one-click unsubscribes: {len(load.done):,} answered 200, {load.errors} errors")
    print(f"  {rate:,.0f} requests/s (goal >= 300: {rate / 300:.1f}x the goal)")
    print(f"  latency p50 {p50:.1f} ms, p99 {p99:.1f} ms (goal < 50 ms)")
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"  CPU per request: server {cpu / len(load.latencies) * 1000:.2f} ms (whole run, "
        f"start-up included), clients {client_cpu / len(load.latencies) * 1000:.2f} ms"
    )
    print(f"  lost updates: {len(lost)} (200 answered, suppression missing from the ledger)")
    duplicates = len(load.done) - len(set(load.done))
    print(f"  distinct addresses: {len(set(load.done)):,} ({duplicates} repeated)")
    verdict = rate >= 300 and p99 < 50 and not lost and not load.errors
    print("  verdict: " + ("goal met" if verdict else "GOAL MISSED"))


if __name__ == "__main__":
    main()
