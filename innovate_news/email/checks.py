"""`check` for unsent issues: size under Gmail's clip, short lines, alt text, links that work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from urllib.parse import urlsplit

from innovate_news import layout
from innovate_news.audience.tokens import Keyring
from innovate_news.content import editorial, markdown
from innovate_news.content.issues import Issue, load_issues
from innovate_news.content.posts import Post
from innovate_news.email import context as email_context
from innovate_news.email.newsletter import Newsletter, Recipient, Variant, prepare
from innovate_news.errors import ContentError, InnovateNewsError, Problem, ProblemsError
from innovate_news.settings import Settings
from innovate_news.store import ledger

GMAIL_CLIP_BYTES = 102 * 1000  # Gmail hides everything after ~102 KB of HTML behind a link
MAX_LINE = 998  # RFC 5322, octets excluding CRLF
LONG_SUBJECT = 80
_ABSOLUTE = ("http", "https", "mailto")
_OWNED = ("posts", "issues")  # every page under these folders is one build writes


class _Scan(HTMLParser):
    """Every link and image in an HTML document (conditional comments are not looked into)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href") is not None:
            self.links.append(found["href"] or "")
        elif tag == "img":
            self.images.append((found.get("src") or "", found.get("alt")))


def check_issues(
    settings: Settings,
    posts: Sequence[Post],
    now: dt.datetime,
    sent: Callable[[Issue], bool] | None = None,
) -> list[Problem]:
    """Problems of every issue not sent yet (each is what a subscriber would receive)."""
    problems = _palette(settings) + _postmark_unsubscribes(settings)
    try:
        issues = load_issues(settings)
    except ContentError as exc:
        return problems + exc.problems
    keyring = Keyring.random()  # links of the same length as real ones; never sent anywhere
    started = _sending_started(settings, issues) if sent is None else set()
    for issue in issues:
        if issue.slug in started or (sent is not None and sent(issue)):
            continue
        problems += _headers(issue)
        try:
            newsletter = prepare(settings, issue, keyring, now, posts)
            problems += _variants(settings, newsletter, posts, issues, now)
        except ProblemsError as exc:  # the issue's posts, or a template
            problems += exc.problems
        except InnovateNewsError as exc:
            problems.append(Problem(issue.path, None, str(exc)))
    return problems


def _sending_started(settings: Settings, issues: Sequence[Issue]) -> set[str]:
    """Issues the ledger has begun sending: what went out can no longer be fixed."""
    path = settings.folder("state") / ledger.FILE_NAME
    shared = settings["store"]["backend"] != "sqlite"  # the shared database is never created
    if not shared and not path.is_file():
        return set()  # no ledger, nothing sent; and checking must not create one
    with ledger.Ledger.open(settings) if shared else ledger.Ledger(path) as book:
        return {issue.slug for issue in issues if book.has_snapshot(issue.slug)}


def _headers(issue: Issue) -> list[Problem]:
    out = []
    text = issue.path.read_text(encoding="utf-8")
    if len(issue.subject) >= LONG_SUBJECT:
        out.append(
            Problem(
                issue.path,
                _line_of(text, "subject:"),
                f"subject is {len(issue.subject)} characters; under {LONG_SUBJECT} shows in "
                "full in most inboxes",
                "warning",
            )
        )
    if not issue.preheader:
        out.append(
            Problem(
                issue.path,
                1,
                "no preheader: inboxes will show the first words of the email instead; "
                "add preheader: a one-line summary",
                "warning",
            )
        )
    return out


def _variants(
    settings: Settings,
    newsletter: Newsletter,
    posts: Sequence[Post],
    issues: Sequence[Issue],
    now: dt.datetime,
) -> list[Problem]:
    issue = newsletter.issue
    email = settings.email
    sample = Recipient(
        email["sample_email"], email["sample_name"], first_name=email["sample_first_name"]
    )
    pages = site_pages(settings, posts, issues, max(now, issue.date))
    text = issue.path.read_text(encoding="utf-8")
    problems: list[Problem] = []
    largest: tuple[int, str] = (0, "")
    for variant in newsletter.variants():
        outgoing = variant.personalise(sample, newsletter.keyring)
        size = len(variant.fill_html(outgoing.fields).encode("utf-8"))
        largest = max(largest, (size, variant.key))
        problems += _long_lines(issue, variant, outgoing.data)
        problems += _links(settings, issue, variant, pages, text)
        problems += _missing_sections(settings, newsletter, variant, text)
    if largest[0] >= GMAIL_CLIP_BYTES:
        problems.append(
            Problem(
                issue.path,
                None,
                f"the HTML of the {largest[1]} variant is {largest[0]:,} bytes; Gmail clips "
                f"email over {GMAIL_CLIP_BYTES:,} (hiding the unsubscribe link): "
                "list fewer posts or shorten the editorial",
            )
        )
    return _unique(problems)


def _missing_sections(
    settings: Settings, newsletter: Newsletter, variant: Variant, text: str
) -> list[Problem]:
    """Editorial links to a post (or its booking page) whose section this copy leaves out.

    Only links count, never words: "the workshop" may mean anything, a link cannot."""
    if not variant.topics:
        return []  # an issue without posts: every copy is the same
    issue = newsletter.issue
    scan = _Scan()
    body = editorial.for_topics(issue.body, variant.topics)
    scan.feed(markdown.render(body, issue.url(settings), settings.base_url))
    scan.close()
    linked = {url.rstrip("/") for url in scan.links}
    problems = []
    for card in newsletter.cards:
        event = card["event"] or {}
        urls = {card["url"].rstrip("/"), (event.get("booking_url") or "").rstrip("/")} - {""}
        if card["kind"] in variant.topics or not urls & linked:
            continue
        url = min(urls & linked)
        section = email_context.SECTION_TITLES[card["kind"]]
        problems.append(
            Problem(
                issue.path,
                _line_of(text, url, settings.base_url) or _line_of(text, card["slug"]),
                f"the {variant.key} copy has no {section!r} section but its editorial links to "
                f"{card['title']!r}; put that text in a topic block (::: {card['kind']} … :::)",
                "warning",
            )
        )
    return problems


def _long_lines(issue: Issue, variant: Variant, data: bytes) -> list[Problem]:
    longest = max(len(line) for line in data.split(b"\r\n"))
    if longest <= MAX_LINE:
        return []
    return [
        Problem(
            issue.path,
            None,
            f"the {variant.key} message has a line of {longest} octets (the limit is "
            f"{MAX_LINE}); check the templates",
        )
    ]


def _links(
    settings: Settings, issue: Issue, variant: Variant, pages: set[str], text: str
) -> list[Problem]:
    scan = _Scan()
    scan.feed(variant.html)
    scan.close()
    problems = []
    for src, alt in scan.images:
        if alt is None or not alt.strip():
            problems.append(
                Problem(
                    issue.path,
                    _line_of(text, src, settings.base_url),
                    f"image {src} has no alt text; describe it for people who cannot see it",
                )
            )
    for url in scan.links + [src for src, _ in scan.images]:
        if any(token in url for token in variant.placeholders.values()):
            continue  # a recipient's own link, made from settings
        scheme = urlsplit(url).scheme.lower()
        if scheme not in _ABSOLUTE:
            problems.append(
                Problem(
                    issue.path,
                    _line_of(text, url),
                    f"link {url!r} is not absolute; email has no page to resolve it against",
                )
            )
        elif (page := internal(settings, url)) is not None and page not in pages:
            problems.append(
                Problem(
                    issue.path,
                    _line_of(text, url, settings.base_url),
                    f"link {url} points into the site, but build writes no page there",
                )
            )
    return problems


def internal(settings: Settings, url: str) -> str | None:
    """The site-relative path of a link to a page `build` would own, or None.

    Build writes folders (`posts/slug/`) and files with an extension (`events/slug.ics`); a path
    of neither shape outside posts/ and issues/ (a booking form, a stream) is served by
    something else on the same host, so only the shapes build produces are held to its pages.
    """
    parts = urlsplit(url)
    base = urlsplit(settings.base_url)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != base.netloc.lower():
        return None
    if not parts.path.startswith(base.path):
        return "" if parts.path + "/" == base.path else None
    path = parts.path[len(base.path) :]
    last = path.rpartition("/")[2]
    if path == "" or path.endswith("/") or "." in last:
        return path
    if path.split("/", 1)[0] in _OWNED:
        return path + "/"  # servers redirect posts/slug to posts/slug/
    return None


def site_pages(
    settings: Settings, posts: Sequence[Post], issues: Sequence[Issue], when: dt.datetime
) -> set[str]:
    """Every path `build` writes (as of `when`), folders as `name/` and `name/index.html`."""
    pages = layout.site_paths(
        [p.slug for p in posts if p.published(when)],
        [p.slug for p in posts if p.published(when) and p.event is not None],
        [i.slug for i in issues if i.published(when)],
    )
    static = settings.folder("static")
    if static.is_dir():
        pages |= {p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file()}
    return pages


def _palette(settings: Settings) -> list[Problem]:
    """Link and button colours come from settings: they must stay readable on white."""
    colours = email_context.palette(settings)
    ratio = contrast(colours.brand, colours.card)
    if ratio >= 4.5:
        return []
    return [
        Problem(
            settings.path,
            None,
            f"[email] brand_colour {colours.brand} has a contrast of {ratio:.1f}:1 on white; "
            "links need 4.5:1 (WCAG AA): choose a darker colour",
            "warning",
        )
    ]


def _postmark_unsubscribes(settings: Settings) -> list[Problem]:
    """On a broadcast stream Postmark puts its own List-Unsubscribe headers (and link) in
    place of ours, unless the account may manage unsubscribes itself (granted on request)."""
    if settings.email["provider"] != "postmark":
        return []
    stream = settings.provider("postmark")["message_stream"]
    return [
        Problem(
            settings.path,
            None,
            f"[providers.postmark] message_stream {stream!r}: on a broadcast stream Postmark "
            "replaces our List-Unsubscribe headers with its own unless the stream is set to "
            "'Manage unsubscribes on your own' (Postmark support enables it); otherwise point "
            "its SubscriptionChange webhook at /webhooks/postmark so its unsubscribes reach "
            "the ledger",
            "warning",
        )
    ]


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _line_of(text: str, needle: str, base_url: str = "") -> int | None:
    """The line of the issue file that holds `needle` (a URL may be written relative there)."""
    needles = [needle]
    if base_url and needle.startswith(base_url) and len(needle) > len(base_url):
        needles.append(needle[len(base_url) :])
    for candidate in needles:
        for number, line in enumerate(text.splitlines(), start=1):
            if candidate in line:
                return number
    return None


def _unique(problems: list[Problem]) -> list[Problem]:
    """The same bad link in several variants is one problem."""
    return list(dict.fromkeys(problems))
