"""`innovate-news preview`: one recipient's copy of an issue as .html, .txt and .eml files."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from innovate_news import output
from innovate_news.audience.tokens import keyring
from innovate_news.content.issues import resolve
from innovate_news.content.posts import KINDS
from innovate_news.email.newsletter import Recipient, prepare
from innovate_news.errors import ContentError, SubscriberError
from innovate_news.settings import Settings


@dataclass(frozen=True)
class Preview:
    """What was written, for whom, and anything the user should know."""

    html: Path
    text: Path
    eml: Path
    recipient: Recipient
    variant: str
    notice: str | None


def recipient_for(settings: Settings, address: str | None) -> Recipient:
    """The sample subscriber from settings, or `address` as the subscriber list has them."""
    email = settings.email
    if address is None:
        return Recipient(
            email["sample_email"], email["sample_name"], first_name=email["sample_first_name"]
        )
    path = settings.root / email["subscribers"]
    if path.is_file():
        found = _lookup(path, address)
        if found is not None:
            return found
    return Recipient(address.strip())


def _lookup(path: Path, address: str) -> Recipient | None:
    wanted = address.strip().lower()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row, record in enumerate(csv.DictReader(handle), start=2):
            if (record.get("email") or "").strip().lower() != wanted:
                continue
            topics = frozenset(
                t.strip() for t in (record.get("topics") or "").split(";") if t.strip()
            )
            unknown = topics - set(KINDS)
            if unknown:
                raise SubscriberError(
                    f"{path}: row {row}: unknown topics {', '.join(sorted(unknown))}; "
                    f"use {';'.join(KINDS)}"
                )
            return Recipient(
                (record.get("email") or "").strip(),
                (record.get("name") or "").strip(),
                topics,
                row,
                (record.get("first_name") or "").strip(),
            )
    return None


@dataclass(frozen=True)
class Copy:
    """One recipient's copy of an issue, rendered exactly as `send` would, not yet written."""

    slug: str
    html: str
    text: str
    eml: bytes
    recipient: Recipient
    variant: str
    notice: str | None


def write_preview(
    settings: Settings,
    ref: str,
    out: Path | None = None,
    address: str | None = None,
    topics: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> Preview:
    """Render one copy exactly as `send` would, and write it beside the other previews."""
    copy = render(settings, ref, address, topics, now)
    folder = out or settings.folder("preview")
    base = folder / copy.slug
    paths = (base.with_suffix(".html"), base.with_suffix(".txt"), base.with_suffix(".eml"))
    output.write_text(paths[0], copy.html, private=True)  # the same links as the .eml
    output.write_text(paths[1], copy.text, private=True)
    output.write_bytes(paths[2], copy.eml, private=True)  # a working unsubscribe link
    return Preview(*paths, recipient=copy.recipient, variant=copy.variant, notice=copy.notice)


def render(
    settings: Settings,
    ref: str,
    address: str | None = None,
    topics: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> Copy:
    """One recipient's copy of the issue `ref` (the sample subscriber unless `address`)."""
    now = now or dt.datetime.now(dt.UTC)
    issue = resolve(settings, ref)
    recipient = recipient_for(settings, address)
    if topics is not None:
        recipient = Recipient(recipient.address, recipient.name, frozenset(topics), recipient.row)
    keys = keyring(settings, allow_generated=True)
    newsletter = prepare(settings, issue, keys, now)
    variant = newsletter.variant_for(recipient.topics)
    if variant is None:
        chosen = ", ".join(sorted(recipient.topics))
        present = ", ".join(sorted(newsletter.kinds))
        raise ContentError(
            f"{recipient.address} chose {chosen}, but {issue.slug} has only {present}: "
            "they would not get this issue; preview with --topics"
        )
    outgoing = variant.personalise(recipient, keys)
    html, text = variant.fill_html(outgoing.fields), variant.fill_text(outgoing.fields)
    return Copy(issue.slug, html, text, outgoing.data, recipient, variant.key, keys.notice)


def show(path: Path) -> bool:
    """Open `path` in a web browser; False when there is none to open it with.

    Python's own lookup, not xdg-open: on a machine without a display (a server, a container,
    ssh) it finds no browser and says so, where xdg-open tries a row of console browsers and
    prints an error for each.
    """
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    return browser.open(path.resolve().as_uri())
