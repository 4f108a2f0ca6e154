"""Ready-to-send messages: parsed back, headers, tokens, escaping, compile counts, fast = slow."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from innovate_news.audience.tokens import Keyring
from innovate_news.content import issues
from innovate_news.email import render
from innovate_news.email.newsletter import Newsletter, Recipient, Variant, prepare
from innovate_news.errors import SubscriberError
from innovate_news.settings import Settings
from tests.support import NOW
from tests.support.email_reference import email_message

KEYS = Keyring.parse("message-tests-secret-0123456789")
HEADERS = (
    "Date", "Message-ID", "From", "Reply-To", "To", "Subject", "List-Id", "List-Unsubscribe",
    "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
)  # fmt: skip
NAMES = [
    "Amelia Hart",
    "Siân Pritchard",
    "Okafor, Chidi",
    'Bob "the builder" O\'Brien \\ Jr.',
    "",
    "Zoë Çelik-Þórsdóttir Øster Ångström Ñúñez Łukasiewicz Große",  # several encoded words
    "<b>Ben & Co</b>",
    "李小龙",
    "  Spaced \t Out  ",
]
TITLES = (
    "Inside the fieldwork: how the six case studies are designed",
    "The final year: working with stakeholders",
    "Guidance launch workshop",
)


def parse(data: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.fixture
def newsletter(settings: Settings) -> Newsletter:
    issue = issues.resolve(settings, "2023-06-guidance-year")
    return prepare(settings, issue, KEYS, NOW)


@pytest.fixture
def variant(newsletter: Newsletter) -> Variant:
    chosen = newsletter.variant_for(frozenset())
    assert chosen is not None
    return chosen


def test_structure_headers_and_a_working_token(variant: Variant) -> None:
    out = variant.personalise(Recipient("amelia.hart@example.org", "Amelia Hart", row=2), KEYS)
    parsed = parse(out.data)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parsed["From"] == "The Innovate Project <news@example.org>"
    assert parsed["Reply-To"] == "innovate@example.org"
    assert parsed["To"] == "Amelia Hart <amelia.hart@example.org>"
    assert parsed["Subject"] == "The guidance year: from research to practice"
    assert parsed["Date"] == "Wed, 25 Nov 2026 12:00:00 +0000"
    assert parsed["List-Id"] == "The Innovate Project <news.innovate.example.org>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Message-ID"] == out.message_id
    assert out.message_id.startswith("<2023-06-guidance-year.")
    assert out.message_id.endswith("@example.org>") and "amelia" not in out.message_id
    https, mailto = (v.strip() for v in str(parsed["List-Unsubscribe"]).split(","))
    assert mailto == "<mailto:unsubscribe@example.org?subject=unsubscribe>"
    url = https.strip("<>")
    assert url.startswith("https://example.org/innovate/unsubscribe?t=")
    token = parse_qs(urlsplit(url).query)["t"][0]
    assert KEYS.verify("unsubscribe", token, NOW) == (
        "news.innovate.example.org",
        "amelia.hart@example.org",
    )
    text = parts[0].get_content()
    html = parts[1].get_content()
    assert text.startswith("THE INNOVATE PROJECT\r\n") and "Hello,\r\n" in text  # no first_name
    for title in TITLES:
        assert title in text and title in html
    assert url in text and url.replace("&", "&amp;") in html
    assert out.fields["unsubscribe_url"] == url
    assert (
        out.template is not None
        and out.template.key == variant.key
        and out.address == "amelia.hart@example.org"
    )


def test_lines_are_short_and_crlf(variant: Variant) -> None:
    out = variant.personalise(Recipient("a@example.org", "Zoë " * 60), KEYS)
    assert b"\n" not in out.data.replace(b"\r\n", b"")
    lines = out.data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    body = out.data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # quoted-printable's limit
    assert max(len(line) for line in variant.html.splitlines()) > 998  # what mjml-python gave


@pytest.mark.parametrize("name", NAMES)
def test_fast_path_parses_to_exactly_what_email_message_builds(variant: Variant, name: str) -> None:
    recipient = Recipient("someone@example.org", name, row=5)
    fast = parse(variant.personalise(recipient, KEYS).data)
    slow = parse(email_message(variant, recipient, KEYS))
    for header in HEADERS[:-1]:
        assert str(fast[header]) == str(slow[header]), header
    assert [str(a) for a in fast["To"].addresses] == [str(a) for a in slow["To"].addresses]
    for kind in ("plain", "html"):
        mine, reference = fast.get_body((kind,)), slow.get_body((kind,))
        assert mine is not None and reference is not None
        assert mine.get_content_type() == reference.get_content_type()
        assert mine.get_content() == reference.get_content()
    assert [p.get_content_type() for p in fast.iter_parts()] == [
        p.get_content_type() for p in slow.iter_parts()
    ]


def test_names_are_escaped_where_they_land(variant: Variant) -> None:
    name = "<b>Ben & Co</b>"
    out = variant.personalise(Recipient("ben@example.com", name, first_name=name), KEYS)
    parsed = parse(out.data)
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    assert html is not None and text is not None
    assert "Hello &lt;b&gt;Ben &amp; Co&lt;/b&gt;," in html.get_content()
    assert "<b>Ben" not in html.get_content()
    assert "Hello <b>Ben & Co</b>," in text.get_content()
    assert parsed["To"].addresses[0].display_name == "<b>Ben & Co</b>"
    raw_headers = out.data.split(b"\r\n\r\n", 1)[0]
    assert b'To: "<b>Ben & Co</b>" <ben@example.com>' in raw_headers


@pytest.mark.parametrize("bad", ["Eve\r\nBcc: all@example.org", "Eve\nX", "Eve\x00", "Eve\x07"])
def test_a_header_breaking_name_is_refused_naming_field_and_row(variant: Variant, bad: str) -> None:
    with pytest.raises(SubscriberError, match=r"row 7: name contains"):
        variant.personalise(Recipient("eve@example.org", bad, row=7), KEYS)


def test_a_bad_address_is_refused(variant: Variant) -> None:
    with pytest.raises(SubscriberError, match=r"row 3: email 'eve@example.org\\r\\nBcc: x'"):
        variant.personalise(Recipient("eve@example.org\r\nBcc: x", "Eve", row=3), KEYS)
    with pytest.raises(SubscriberError, match="plain ASCII address"):
        variant.personalise(Recipient("not an address", "Eve", row=4), KEYS)


def test_message_ids_are_deterministic_and_per_address(
    settings: Settings, newsletter: Newsletter, variant: Variant
) -> None:
    first = variant.personalise(Recipient("a@example.org", "A"), KEYS).message_id
    again = variant.personalise(Recipient("a@example.org", "Another name"), KEYS).message_id
    other = variant.personalise(Recipient("b@example.org", "A"), KEYS).message_id
    test = variant.personalise(Recipient("a@example.org", "A"), KEYS, test=True)
    assert first == again and first != other and test.message_id != first
    assert parse(test.data)["Subject"] == "[TEST] The guidance year: from research to practice"


def test_message_id_domain_setting(settings: Settings, project: Path) -> None:
    from innovate_news import settings as settings_module

    toml = project / "innovate-news.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace("[email]\n", '[email]\nmessage_id_domain = "mail.example.net"\n'),
        encoding="utf-8",
    )
    changed = settings_module.load(toml)
    issue = issues.resolve(changed, "latest")
    chosen = prepare(changed, issue, KEYS, NOW).variant_for(())
    assert chosen is not None
    out = chosen.personalise(Recipient("a@example.org"), KEYS)
    assert out.message_id.endswith("@mail.example.net>")


def test_compiled_once_per_topic_selection(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[Mapping[str, Any]] = []
    real = render.render

    def counting(settings: Settings, context: Mapping[str, Any]) -> render.Rendered:
        compiled.append(context)
        return real(settings, context)

    monkeypatch.setattr(render, "render", counting)
    issue = issues.resolve(settings, "2023-06-guidance-year")
    newsletter = prepare(settings, issue, KEYS, NOW)
    selections = [frozenset({"event"}), frozenset({"finding", "blog"}), frozenset()]
    recipients = (
        Recipient(f"person{i}@example.org", f"Person {i}", selections[i % 3], row=i + 2)
        for i in range(1000)
    )
    stream = newsletter.messages(recipients)
    assert not compiled  # nothing is rendered before it is needed
    sent = Counter(out.template.key for out in stream if out.template)
    assert len(compiled) == 3
    assert sent == {"event": 334, "blog+finding": 333, "blog+event+finding": 333}


def test_topics_matching_nothing_get_nothing(settings: Settings) -> None:
    issue = issues.resolve(settings, "2022-06-summer-update")  # blog posts and events only
    letter = prepare(settings, issue, KEYS, NOW)
    assert letter.variant_for({"finding"}) is None
    recipients = [Recipient("f@example.org", "F", frozenset({"finding"})), Recipient("a@x.org")]
    assert [out.address for out in letter.messages(recipients)] == ["a@x.org"]
    assert {v.key for v in letter.variants()} == {"blog", "event", "blog+event"}


def test_fill_helpers_match_the_message(variant: Variant) -> None:
    out = variant.personalise(Recipient("sian@example.net", "Siân <S>"), KEYS)
    parsed = parse(out.data)
    html, text = parsed.get_body(("html",)), parsed.get_body(("plain",))
    assert html is not None and text is not None
    # Parsed CRLF messages keep CRLF line ends; the helpers give the LF text that was encoded.
    assert variant.fill_html(out.fields) == html.get_content().replace("\r\n", "\n")
    assert variant.fill_text(out.fields) == text.get_content().replace("\r\n", "\n")


def test_a_name_that_looks_encoded_stays_literal(variant: Variant) -> None:
    """EmailMessage writes such a name raw, so it decodes to "Hack"; it is encoded here."""
    name = "=?utf-8?b?SGFjaw==?="
    parsed = parse(variant.personalise(Recipient("h@example.org", name), KEYS).data)
    assert parsed["To"].addresses[0].display_name == name


def test_fast_path_is_much_faster_than_email_message(variant: Variant) -> None:
    """The benchmark measures the real ratio; this only guards against losing the fast path."""
    recipients = [Recipient(f"p{i}@example.org", f"Pérson {i}") for i in range(300)]
    started = time.perf_counter()
    for recipient in recipients:
        variant.personalise(recipient, KEYS)
    fast = time.perf_counter() - started
    started = time.perf_counter()
    for recipient in recipients[:60]:
        email_message(variant, recipient, KEYS)
    slow = (time.perf_counter() - started) * 5
    assert slow / fast > 8
