"""What a subscriber reads: the greeting, the text part's links, the preheader, dark mode."""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from click.testing import Result

from innovate_news.email import context as email_context

ENV = {"INNOVATE_NEWS_SECRET": "reader-copy-test-secret-0123456789"}
ISSUE = "2023-06-guidance-year"
LIST = (
    "email,name,first_name,topics\n"
    'chidi.okafor@example.org,"Okafor, Chidi",Chidi,\n'
    'ada.obi@example.org,"Obi, Ada",,\n'
)


def sent(project: Path, run: Callable[..., Result], listing: str = LIST) -> dict[str, EmailMessage]:
    """Each copy of the latest issue, through the outbox, parsed; by address."""
    path = project / "readers.csv"
    path.write_text(listing, encoding="utf-8")
    args = ("send", "latest", "--provider", "outbox", "--subscribers", str(path), "--yes")
    result = run(*args, "--now", "2026-11-25T12:00", env=ENV)
    assert result.exit_code == 0, result.output
    parser = email.parser.BytesParser(policy=email.policy.default)
    return {
        eml.stem: parser.parsebytes(eml.read_bytes())
        for eml in (project / "outbox" / ISSUE).glob("*.eml")
    }


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_the_greeting_uses_first_name_or_stays_neutral(
    project: Path, run: Callable[..., Result]
) -> None:
    copies = sent(project, run)
    chidi, ada = copies["chidi.okafor@example.org"], copies["ada.obi@example.org"]
    for kind in ("plain", "html"):
        assert "Hello Chidi," in part(chidi, kind)
        assert re.search(r"Hello,\s*(</p>|\n)", part(ada, kind))
        assert "Okafor" not in part(chidi, kind) and "Obi" not in part(ada, kind)
    assert chidi["To"].addresses[0].display_name == "Okafor, Chidi"  # the name stays in To


def test_the_text_part_sends_events_to_their_page_not_a_calendar_url(
    project: Path, run: Callable[..., Result]
) -> None:
    text = part(sent(project, run)["chidi.okafor@example.org"], "plain")
    assert "calendar.google.com" not in text
    links = dict(re.findall(r"^\[(\d+)\] (\S+)$", text, re.M))
    (line,) = [line for line in text.splitlines() if line.startswith("Add to calendar:")]
    refs = [links[n] for n in re.findall(r"\[(\d+)\]", line)]
    assert refs[0].endswith(".ics") and refs[1].endswith("/guidance-launch-workshop/")
    assert max(len(url) for url in links.values()) < 200


def test_the_preheader_is_hidden_without_colour_matched_text(
    project: Path, run: Callable[..., Result]
) -> None:
    html = part(sent(project, run)["chidi.okafor@example.org"], "html")
    (style,) = re.findall(r'<div class="in-preheader" style="([^"]*)"', html)
    assert "display:none" in style and "mso-hide:all" in style and "overflow:hidden" in style
    assert "color" not in style and "font-size" not in style
    assert "Our final year is about" in html.split('class="in-preheader"', 1)[1][:400]


def _luminance(colour: str) -> float:
    def linear(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_dark_mode_header_band_stands_out_from_the_body() -> None:
    colours = email_context.Palette(brand="#1d3557", accent="#e76f51")
    assert _contrast(colours.dark_brand, colours.dark_card) >= 2.0
    assert _contrast(colours.dark_brand, colours.dark_page) >= 2.0
    assert _contrast(colours.dark_brand, "#ffffff") >= 4.5  # the title on it stays readable
