"""Sending benchmarks, ratios measured in one run against servers in other processes on loopback.

SMTP: 10,000 recipients to a counting SMTP sink (asyncio, in its own process). The ceiling is
what a bare smtplib client with as many reused connections reaches through it; `innovate-news
send --provider smtp` must reach 90% of it, and 15 times mailmerge on the same list and message.

HTTP: 100,000 recipients through `postmark` and `mailgun` against a local server speaking their
batch APIs: at most 200 and 100 requests, and the sending process peaks under 100 MiB.

Run: `python bench/send.py` (or `make bench`); `--quick` for a smaller run while developing.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    # This folder holds bench/email.py, which would shadow the standard library's email package.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import smtplib  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import Any, ClassVar  # noqa: E402

REPO = HERE.parent
WORK = HERE / ".work" / "send"
AT = "2026-11-25T12:00"
SENDER = "news@example.org"
ENV = {
    "INNOVATE_NEWS_SECRET": "bench-secret-0123456789abcdef",
    "INNOVATE_NEWS_POSTMARK_TOKEN": "bench-postmark-token",
    "INNOVATE_NEWS_MAILGUN_API_KEY": "bench-mailgun-key",
}
LIMITS = {"postmark": (500, 200), "mailgun": (1000, 100)}  # per request, requests for 100k
MIB = 1024 * 1024


# Servers (each runs in its own process: `python bench/send.py sink|api PORT`) -------------------


class _Sink(asyncio.Protocol):
    """Just enough SMTP to accept mail as fast as loopback allows, counting what arrives.

    RCPT TO:<stats@bench> answers "250 count first last"; RCPT TO:<reset@bench> zeroes them.
    """

    count, first, last = 0, 0.0, 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()
        self.scanned = 0
        self.in_data = False
        self.recipients = 0
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n", self.scanned)
                if end < 0:
                    self.scanned = max(0, len(self.buffer) - 4)
                    return
                del self.buffer[: end + 5]
                self._message()
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            line = bytes(self.buffer[:line_end])
            del self.buffer[: line_end + 2]
            self._command(line)

    def _message(self) -> None:
        now = time.perf_counter()
        cls = type(self)
        cls.count += self.recipients
        cls.first = cls.first or now
        cls.last = now
        self.in_data, self.scanned, self.recipients = False, 0, 0
        self.transport.write(b"250 2.0.0 Ok: queued\r\n")

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        cls = type(self)
        if verb == b"EHLO":
            self.transport.write(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 0\r\n")
        elif verb == b"RCPT" and b"<stats@bench>" in line:
            self.transport.write(f"250 {cls.count} {cls.first:.6f} {cls.last:.6f}\r\n".encode())
        elif verb == b"RCPT" and b"<reset@bench>" in line:
            cls.count, cls.first, cls.last = 0, 0.0, 0.0
            self.transport.write(b"250 reset\r\n")
        elif verb == b"RCPT":
            self.recipients += 1
            self.transport.write(b"250 OK\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.transport.write(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 bye\r\n")
            self.transport.close()
        else:  # HELO, MAIL, RSET, NOOP
            self.recipients = 0 if verb in (b"MAIL", b"RSET") else self.recipients
            self.transport.write(b"250 OK\r\n")


def serve_sink(port: int) -> None:
    """The counting sink, until the benchmark closes our stdin."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Sink, "127.0.0.1", port)
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(run())


class _Api(BaseHTTPRequestHandler):
    """Postmark's /email/batch and Mailgun's /v3/<domain>/messages, counting and checking limits."""

    protocol_version = "HTTP/1.1"
    stats: ClassVar[dict[str, int]] = {"requests": 0, "messages": 0, "largest": 0, "refused": 0}
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        with self.lock:
            data = json.dumps(self.stats).encode()
            if self.path == "/reset":
                self.stats.update(requests=0, messages=0, largest=0, refused=0)
        self._reply(200, data)

    def do_POST(self) -> None:
        body = self._body()
        answer: object  # Postmark answers a list, Mailgun an object
        if self.path == "/email/batch":
            count, limit = body.count(b'"MessageStream"'), 500
            answer = [
                {"ErrorCode": 0, "Message": "OK", "MessageID": f"pm-{i}"} for i in range(count)
            ]
        else:
            count, limit = body.count(b'name="to"'), 1000
            answer = {"id": "<bench@mg.example.org>", "message": "Queued. Thank you."}
        with self.lock:
            self.stats["requests"] += 1
            if count > limit:
                self.stats["refused"] += 1
            else:
                self.stats["messages"] += count
                self.stats["largest"] = max(self.stats["largest"], count)
        if count > limit:
            self._reply(422, b'{"ErrorCode": 300, "Message": "too many messages"}')
        else:
            self._reply(200, json.dumps(answer).encode())

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = []
        while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(parts)

    def _reply(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_api(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()
    server.shutdown()


def _start(kind: str, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), kind, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The project, the lists and the message ------------------------------------------------------


def make_project(recipients: int, api_recipients: int) -> dict[str, Path]:
    """A copy of the example project with lists of the sizes wanted, in bench/.work/send."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    for part in ("posts", "issues", "static"):
        shutil.copytree(REPO / part, WORK / part)
    shutil.copy2(REPO / "innovate-news.toml", WORK / "innovate-news.toml")
    # The targets were set for a ~68 KB newsletter: an issue of every example post is ~70 KB.
    slugs = [_slug(path) for path in sorted((WORK / "posts").glob("*.md"))]
    (WORK / "issues" / "2026-11-every-post.md").write_text(
        '---\nsubject: "Every post so far"\ndate: 2026-11-20\nposts:\n'
        + "".join(f"  - {slug}\n" for slug in slugs if slug)
        + "---\n\nA look back at everything the project has published.\n",
        encoding="utf-8",
    )
    lists = {}
    for name, count in (("smtp", recipients), ("api", api_recipients)):
        path = WORK / f"{name}-{count}.csv"
        with path.open("w", encoding="utf-8") as out:
            out.write("email,name,status,topics\n")
            for i in range(count):
                out.write(f"reader{i:06d}@example.org,Reader {i},subscribed,\n")
        lists[name] = path
    return lists


def _slug(path: Path) -> str:
    """A post's slug, or "" for a draft (an issue may not list one)."""
    text = path.read_text(encoding="utf-8")
    if re.search(r"^draft:\s*true", text, re.M):
        return ""
    found = re.search(r"^slug:\s*(\S+)", text, re.M)
    return found.group(1) if found else re.sub(r"^\d{4}-\d{2}-\d{2}-", "", path.stem)


def configure(table: str, **values: object) -> None:
    path = WORK / "innovate-news.toml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(rf"(?ms)^\[{re.escape(table)}\]\n.*?(?=^\[|\Z)", "", text)
    lines = [f"\n[{table}]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def one_message() -> bytes:
    """The latest example issue as one reader's copy, exactly as `send` builds it."""
    import datetime as dt

    from innovate_news import settings
    from innovate_news.audience import tokens
    from innovate_news.content import issues
    from innovate_news.email import newsletter

    os.environ.update(ENV)
    loaded = settings.load(WORK / "innovate-news.toml")
    issue = issues.resolve(loaded, "latest")
    keys = tokens.keyring(loaded, allow_generated=False)
    now = dt.datetime.fromisoformat(AT).replace(tzinfo=dt.UTC)
    letter = newsletter.prepare(loaded, issue, keys, now)
    variant = letter.variant_for({"finding", "blog", "event"})
    assert variant is not None
    return variant.personalise(newsletter.Recipient("reader@example.org", "Reader"), keys).data


# Measurements ----------------------------------------------------------------------------------


def sink_stats(port: int, reset: bool = False) -> tuple[int, float]:
    """(messages, seconds between the first and the last) as the sink saw them."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail(SENDER)
        _, reply = smtp.rcpt("reset@bench" if reset else "stats@bench")
    if reset:
        return 0, 0.0
    count, first, last = reply.decode().split()[-3:]
    return int(count), float(last) - float(first)


def sink_rate(port: int) -> float:
    count, seconds = sink_stats(port)
    return (count - 1) / seconds if seconds > 0 else 0.0


def bare_client(port: int, data: bytes, count: int, threads: int) -> float:
    """The ceiling: smtplib, `threads` reused connections, one prepared message, no bookkeeping."""
    sink_stats(port, reset=True)

    def work(start: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for i in range(start, count, threads):
                smtp.sendmail(SENDER, [f"reader{i:06d}@example.org"], data)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sink_rate(port)


def run_send(provider: str, csv: Path) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """`innovate-news send` in a child process: (result, wall seconds, peak RSS in MiB)."""
    args = [sys.executable, "-m", "innovate_news", "--config", str(WORK / "innovate-news.toml"),
            "send", "latest", "--provider", provider, "--subscribers", str(csv), "--yes",
            "--now", AT]  # fmt: skip
    shutil.rmtree(WORK / ".innovate-news", ignore_errors=True)
    started = time.perf_counter()
    log = WORK / f"{provider}.log"
    with log.open("w", encoding="utf-8") as out:
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=WORK,
                                 env={**os.environ, **ENV})  # fmt: skip
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    text = log.read_text(encoding="utf-8")
    code = os.waitstatus_to_exitcode(status)
    result = subprocess.CompletedProcess(args, code, text, "")
    return result, seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def run_mailmerge(port: int, data: bytes, count: int) -> float | None:
    """mailmerge (bench environment only) on the first `count` readers, same HTML message."""
    mailmerge = Path(sys.executable).with_name("mailmerge")
    if not mailmerge.exists():
        print("   mailmerge is not installed here (it lives in the bench environment): skipped")
        return None
    import email
    import email.policy

    parsed = email.message_from_bytes(data, policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    folder = WORK / "mailmerge"
    folder.mkdir(exist_ok=True)
    (folder / "config.conf").write_text(
        f"[smtp_server]\nhost = 127.0.0.1\nport = {port}\nratelimit = 0\n", encoding="utf-8"
    )
    # The same multipart/alternative message: the issue's text and HTML, each reader's name.
    part = (
        '--MAILMERGE\nContent-Type: text/{}; charset="utf-8"\n\n'
        "Hello {{{{name}}}},\n{{% raw %}}{}{{% endraw %}}\n"
    )
    (folder / "template.txt").write_text(
        "TO: {{email}}\nFROM: The Innovate Project <news@example.org>\n"
        f"SUBJECT: {parsed['Subject']}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="MAILMERGE"\n\n'
        + part.format("plain", text)
        + part.format("html", html)
        + "--MAILMERGE--\n",
        encoding="utf-8",
    )
    with (folder / "database.csv").open("w", encoding="utf-8") as out:
        out.write("email,name\n")
        for i in range(count):
            out.write(f"reader{i:06d}@example.org,Reader {i}\n")
    sink_stats(port, reset=True)
    subprocess.run(
        [str(mailmerge), "--template", "template.txt", "--database", "database.csv", "--config",
         "config.conf", "--no-limit", "--no-dry-run", "--output-format", "raw"],
        cwd=folder, stdout=subprocess.DEVNULL, check=True, timeout=3600,
    )  # fmt: skip
    return sink_rate(port)


def api_stats(base: str, reset: bool = False) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/{'reset' if reset else 'stats'}", timeout=30) as answer:  # noqa: S310 (loopback)
        return dict(json.loads(answer.read()))


# The benchmark ---------------------------------------------------------------------------------


def bench_smtp(csv: Path, count: int, mailmerge_count: int, threads: int) -> list[str]:
    failures = []
    port = _free_port()
    sink = _start("sink", port)
    try:
        data = one_message()
        print(f"-- smtp: {count:,} recipients, {len(data):,}-byte message, {threads} connections")
        ceiling = bare_client(port, data, count, threads)
        print(f"   bare smtplib client (the sink's ceiling): {ceiling:7.0f} messages/s")
        configure(
            "providers.smtp", host="127.0.0.1", port=port, security="none", concurrency=threads,
            rate=100_000, max_per_connection=100_000, timeout=60,
        )  # fmt: skip
        sink_stats(port, reset=True)
        result, seconds, peak = run_send("smtp", csv)
        ours = sink_rate(port)
        sent = sink_stats(port)[0]
        print(f"   innovate-news send --provider smtp:       {ours:7.0f} messages/s")
        print(f"   ({sent:,} received; {seconds:.1f} s for the whole command; peak {peak:.0f} MiB)")
        if result.returncode != 0 or sent != count:
            failures.append(f"smtp send exited {result.returncode} with {sent} of {count} received")
        ratio = ours / ceiling if ceiling else 0.0
        print(f"   ratio to the ceiling: {ratio:.2f} (must be >= 0.90)")
        if ratio < 0.90:
            failures.append(f"smtp reached {ratio:.2f} of the sink's ceiling, below 0.90")
        if mailmerge_count:
            theirs = run_mailmerge(port, data, mailmerge_count)
            if theirs:
                label = f"mailmerge ({mailmerge_count:,} recipients):"
                print(f"   {label:42} {theirs:7.1f} messages/s")
                print(f"   ratio to mailmerge: {ours / theirs:.1f}x (must be >= 15)")
                if ours / theirs < 15:
                    failures.append(f"only {ours / theirs:.1f}x mailmerge, below 15x")
    finally:
        _stop(sink)
    return failures


def bench_api(csv: Path, count: int) -> list[str]:
    failures = []
    port = _free_port()
    server = _start("api", port)
    base = f"http://127.0.0.1:{port}"
    try:
        for provider, (per_request, most) in LIMITS.items():
            configure(f"providers.{provider}", base_url=base, timeout=120)
            api_stats(base, reset=True)
            result, seconds, peak = run_send(provider, csv)
            stats = api_stats(base)
            allowed = most * count // 100_000
            print(f"-- {provider}: {count:,} recipients in {stats['requests']} requests (at most "
                  f"{allowed}), largest {stats['largest']} (limit {per_request}), "
                  f"{seconds:.1f} s, peak {peak:.0f} MiB (at most 100)")  # fmt: skip
            if result.returncode != 0 or stats["messages"] != count or stats["refused"]:
                failures.append(f"{provider}: exit {result.returncode}, {stats}")
            if stats["requests"] > allowed:
                failures.append(f"{provider}: {stats['requests']} requests, more than {allowed}")
            if peak > 100:
                failures.append(f"{provider}: peak memory {peak:.0f} MiB, above 100")
    finally:
        _stop(server)
    return failures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1,000 SMTP and 10,000 API recipients")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--api-recipients", type=int, default=100_000)
    parser.add_argument("--mailmerge", type=int, default=1_000, help="mailmerge's share (0: skip)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--only", choices=("smtp", "api"), help="Run one half of the benchmark.")
    args = parser.parse_args([] if argv is None and __name__ != "__main__" else argv)
    if args.quick:
        args.recipients, args.api_recipients, args.mailmerge = 1_000, 10_000, 100
    lists = make_project(args.recipients, args.api_recipients)
    failures = []
    if args.only != "api":
        failures += bench_smtp(lists["smtp"], args.recipients, args.mailmerge, args.connections)
    if args.only != "smtp":
        failures += bench_api(lists["api"], args.api_recipients)
    for failure in failures:
        print(f"FAILED: {failure}")
    print("send: all targets met" if not failures else f"send: {len(failures)} target(s) missed")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("sink", "api"):
        (serve_sink if sys.argv[1] == "sink" else serve_api)(int(sys.argv[2]))
    else:
        main()
