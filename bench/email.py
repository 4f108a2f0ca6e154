"""Email benchmark: a ready-to-send message per recipient, against EmailMessage per recipient.

Prints, from one run: compile time per variant, microseconds per message for the prepared-MIME
fast path and for the naive loop (EmailMessage, set_content + add_alternative + as_bytes), their
ratio, a check that both parse to the same content, and the peak memory of streaming 100,000
recipients' messages (measured in a fresh process).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file is named email.py: its folder must not shadow the standard library's email package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE.parent))  # for the tests' EmailMessage reference

import datetime as dt  # noqa: E402 - after the path fix above
import importlib.util  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from email import policy  # noqa: E402
from email.parser import BytesParser  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

from innovate_news import settings as settings_module  # noqa: E402
from innovate_news.audience.tokens import Keyring  # noqa: E402
from innovate_news.content import issues  # noqa: E402
from innovate_news.email.newsletter import (  # noqa: E402
    Newsletter,
    Recipient,
    prepare,
)
from tests.support.email_reference import email_message  # noqa: E402

WORK = HERE / ".work" / "email"
POSTS = 12  # a third of each kind: about 60 KB of HTML, as in the issue's measurement
FAST = 20_000
SLOW = 300
SAMPLE = 50
STREAM = 100_000
KEYS = Keyring.parse("bench-email-secret-0123456789abcdef")
NOW = dt.datetime(2015, 1, 9, 9, 0, tzinfo=dt.UTC)
SELECTIONS: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"event"}),
    frozenset({"finding", "blog"}),
)
FIRST = ("Amelia", "Ben", "Siân", "Chidi", "Zoë", "Fatima", "George", "Łukasz", "Hannah", "Ed")
LAST = ("Hart", "Okoro", "Pritchard", "Okafor, Jr.", "Fenwick", "Rahman", "Quill", "Lowe")
ISSUE = """---
subject: "Benchmark issue: everything from the first week"
date: 2015-01-09
preheader: "Findings, blog posts and events, all in one place."
---

Welcome to the benchmark issue. It carries every post of the synthetic corpus, so that the
email is about as large as a real newsletter with a long editorial and two dozen cards.

- findings from the reviews and the survey;
- blog posts from the team and guests;
- events to book, in person and online.

Thank you for reading. [The archive](https://example.org/bench/posts/) has everything else.
"""


def load_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_corpus", HERE / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project() -> Path:
    """The synthetic project: posts from corpus.py, one issue carrying all of them."""
    shutil.rmtree(WORK, ignore_errors=True)
    corpus = load_corpus()
    corpus.make(WORK, POSTS)
    settings_path: Path = corpus.write_settings(WORK, 50)
    (WORK / "issues").mkdir()
    (WORK / "issues" / "2015-01-bench.md").write_text(ISSUE, encoding="utf-8")
    return settings_path


def newsletter(fresh: bool = True) -> Newsletter:
    settings = settings_module.load(project() if fresh else WORK / "innovate-news.toml")
    issue = issues.resolve(settings, "2015-01-bench")
    return prepare(settings, issue, KEYS, NOW)


def recipients(count: int, seed: int = 11) -> Iterator[Recipient]:
    """Names of every kind: plain, accented (RFC 2047), with commas (quoted), none at all."""
    rng = random.Random(seed)
    for index in range(count):
        name = "" if index % 17 == 0 else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        yield Recipient(
            f"reader{index:06d}@example.org", name, SELECTIONS[index % len(SELECTIONS)], index + 2
        )


def per_message(letter: Newsletter, people: list[Recipient], slow: bool) -> float:
    """Seconds per ready-to-send message (bytes in hand) over `people`."""
    variants = [letter.variant_for(person.topics) for person in people]
    started = time.perf_counter()
    if slow:
        for person, variant in zip(people, variants, strict=True):
            assert variant is not None
            email_message(variant, person, KEYS)
    else:
        for person, variant in zip(people, variants, strict=True):
            assert variant is not None
            variant.personalise(person, KEYS)
    return (time.perf_counter() - started) / len(people)


def same_content(letter: Newsletter, people: list[Recipient]) -> int:
    """How many sampled recipients' two messages parse to identical headers and parts."""
    parser = BytesParser(policy=policy.default)
    same = 0
    for person in people:
        variant = letter.variant_for(person.topics)
        assert variant is not None
        fast = parser.parsebytes(variant.personalise(person, KEYS).data)
        slow = parser.parsebytes(email_message(variant, person, KEYS))
        headers = all(str(fast[h]) == str(slow[h]) for h in slow if h != "Content-Type")
        same += headers and parts(fast) == parts(slow)
    return same


def parts(parsed: Any) -> list[tuple[str, str]]:
    return [(part.get_content_type(), part.get_content()) for part in parsed.iter_parts()]


def stream(count: int) -> None:
    """In a fresh process: produce `count` messages one at a time and report peak memory."""
    letter = newsletter(fresh=False)  # the parent made the project
    for selection in SELECTIONS:
        letter.variant_for(selection)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    total = 0
    for outgoing in letter.messages(recipients(count)):
        total += len(outgoing.data)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.3f} {before:.1f} {peak:.1f} {total}")


def main() -> None:
    started = time.perf_counter()
    letter = newsletter()
    compile_ms = []
    keys: set[str] = set()  # one per variant compiled (selections may share one)
    for selection in SELECTIONS:
        began = time.perf_counter()
        variant = letter.variant_for(selection)
        compile_ms.append((time.perf_counter() - began) * 1000)
        if variant is not None:
            keys.add(variant.key)
    compiled = len(keys)
    largest = max(len(v.html.encode("utf-8")) for v in letter.variants())
    print(
        f"issue: {POSTS} posts, {compiled} variants compiled "
        f"({', '.join(f'{ms:.0f}' for ms in compile_ms)} ms), largest HTML {largest / 1024:.1f} KiB"
        f" (ready in {time.perf_counter() - started:.2f} s)"
    )
    people = list(recipients(FAST))
    per_message(letter, people[:1000], slow=False)  # warm up
    fast = per_message(letter, people, slow=False)
    slow = per_message(letter, people[:SLOW], slow=True)
    ratio = slow / fast
    print(f"prepared MIME, filled per recipient: {fast * 1e6:8.1f} µs per message ({FAST:,})")
    print(f"EmailMessage per recipient:         {slow * 1e6:8.1f} µs per message ({SLOW:,})")
    print(
        f"ratio: {ratio:.0f}x faster (target >= 30x: {'met' if ratio >= 30 else 'MISSED'}); "
        f"per message <= 100 µs: {'met' if fast <= 100e-6 else 'MISSED'}"
    )
    same = same_content(letter, people[:SAMPLE])
    print(f"parsed content identical to EmailMessage's: {same} of {SAMPLE} sampled recipients")
    result = subprocess.run(
        [sys.executable, __file__, "--stream", str(STREAM)],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, before, peak, total = result.stdout.split()
    print(
        f"stream of {STREAM:,} messages ({int(total) / 2**30:.2f} GiB): {float(seconds):.1f} s, "
        f"{STREAM / float(seconds):,.0f} messages/s; peak RSS {float(peak):.0f} MiB "
        f"({float(before):.0f} MiB before streaming; target <= 100 MiB: "
        f"{'met' if float(peak) <= 100 else 'MISSED'})"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--stream":
        stream(int(sys.argv[2]))
    else:
        main()
