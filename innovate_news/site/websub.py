"""WebSub publishing: tell the hub which of the built feeds changed since the last ping.

A feed's topic is its public URL. What each topic looked like when the hub last took a ping
is kept in the state folder (`websub.json`: the hub, and a SHA-256 of each feed file), not in
the cache, so clearing the cache or `make clean` never makes every feed look new. A topic is
recorded only once the hub has answered 2xx, so one it did not take is pinged again next time.

The HTTP request itself is the caller's (`Publish`): requests lives behind
`delivery.providers.http`, which the site does not import.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from innovate_news import layout, output
from innovate_news.errors import InnovateNewsError, TransientError
from innovate_news.settings import Settings

RECORD = "websub.json"
FORMAT = 1
MAX_RETRY_AFTER = 30.0  # seconds: a hub asking for longer is tried again on the next run

# Sends one publish ping for a topic URL and returns once the hub took it (2xx); raises
# TransientError when another try may do better, another InnovateNewsError when it would not.
Publish = Callable[[str], None]


@dataclass(frozen=True)
class Topic:
    """One feed: its public URL and the digest of the file in the output folder."""

    url: str
    path: Path
    digest: str


@dataclass
class PingReport:
    """What a ping did: the topics the hub took, those it did not (with why), the rest."""

    hub: str | None
    changed: list[str] = field(default_factory=list)  # since the last ping (dry run: would ping)
    unchanged: int = 0
    pinged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # topic → the hub's error
    skipped: list[str] = field(default_factory=list)  # not tried: the hub was unreachable
    dry_run: bool = False


def topics(settings: Settings) -> list[Topic]:
    """Every feed in the output folder by its public URL, the site's own first: each file
    named as a feed is (layout.FEED_FILES), so per-kind and per-tag feeds are topics too."""
    out = settings.folder("output")
    names = set(layout.FEED_FILES.values())
    # One walk of the folder (a site is thousands of files), not one glob per name.
    paths = [Path(top, n) for top, _, files in os.walk(out) for n in files if n in names]
    found = []
    for path in sorted(paths, key=lambda p: (len(p.parts), p)):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            url = settings.base_url + path.relative_to(out).as_posix()
            found.append(Topic(url, path, digest))
    if not found:
        raise InnovateNewsError(f"no feeds in {out}: run `innovate-news build` before `ping`")
    return found


def record_path(settings: Settings) -> Path:
    return settings.folder("state") / RECORD


def recorded(settings: Settings, hub: str) -> dict[str, str]:
    """Topic → digest as the hub last took it; empty for another hub or an unreadable record
    (every feed is then pinged again, which a hub takes as a harmless repeat)."""
    try:
        data = json.loads(record_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("hub") != hub:
        return {}
    known = data.get("topics")
    return {str(k): str(v) for k, v in known.items()} if isinstance(known, dict) else {}


def _save(settings: Settings, hub: str, known: dict[str, str]) -> None:
    path = record_path(settings)
    output.private_folder(path.parent)
    data = {"format": FORMAT, "hub": hub, "topics": dict(sorted(known.items()))}
    output.write_text(path, json.dumps(data, indent=2) + "\n", durable=True)


def plan(settings: Settings) -> tuple[PingReport, list[Topic]]:
    """The report so far and the topics whose feed changed since the hub last took them."""
    hub = settings.site["websub_hub"]
    report = PingReport(hub)
    if hub is None:
        return report, []
    known = recorded(settings, hub)
    every = topics(settings)
    changed = [t for t in every if known.get(t.url) != t.digest]
    report.changed = [t.url for t in changed]
    report.unchanged = len(every) - len(changed)
    return report, changed


def ping(
    settings: Settings,
    publish: Publish | None,
    *,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> PingReport:
    """Ping the hub once per changed topic (none without [site] websub_hub; a dry run only
    lists them). The hub's errors are the report's, never raised: the site is already out."""
    report, changed = plan(settings)
    report.dry_run = dry_run
    if report.hub is None or dry_run or publish is None:
        return report
    known = recorded(settings, report.hub)
    attempts = int(settings.site["websub_attempts"])
    backoff = float(settings.site["websub_backoff"])
    for index, topic in enumerate(changed):
        error, reachable = _publish(publish, topic.url, attempts, backoff, sleep)
        if error is None:
            report.pinged.append(topic.url)
            known[topic.url] = topic.digest
            _save(settings, report.hub, known)  # at once: a later crash keeps what is done
            continue
        report.failed[topic.url] = error
        if not reachable:  # every try failed to reach it: the others would only wait as long
            report.skipped = [t.url for t in changed[index + 1 :]]
            break
    return report


def _publish(
    publish: Publish, topic: str, attempts: int, backoff: float, sleep: Callable[[float], None]
) -> tuple[str | None, bool]:
    """(None, True) once the hub takes `topic`; else (why, whether the hub was reachable).

    A busy or unreachable hub (TransientError) is tried again after doubling waits, or as
    long as its Retry-After asks; a refusal (4xx, bad credentials) would be the same a second
    later, so it is not.
    """
    wait = backoff
    for attempt in range(1, attempts + 1):
        try:
            publish(topic)
        except TransientError as exc:
            if attempt == attempts:
                return f"{exc} (tried {attempts} times)", False
            asked = exc.retry_after
            sleep(min(asked, MAX_RETRY_AFTER) if asked is not None else wait)
            wait *= 2
        except InnovateNewsError as exc:
            return str(exc), True
        else:
            return None, True
    return "no attempt was made", False  # only with attempts < 1, which settings refuse
