"""An issue's email body: MJML template → HTML (mjml-python) → inlined CSS, plus the text part."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mjml

from innovate_news import templating
from innovate_news.email import inline
from innovate_news.email.text import Links, html_to_text, wrap
from innovate_news.errors import RenderError
from innovate_news.settings import Settings

MJML_TEMPLATE = "email/issue.mjml.j2"
TEXT_TEMPLATE = "email/issue.txt.j2"


@dataclass(frozen=True)
class Rendered:
    """One compiled email body: the HTML and the plain text, placeholders still in them."""

    html: str
    text: str


def compile_mjml(source: str, name: str = MJML_TEMPLATE) -> str:
    """MJML to HTML; no web fonts (no request leaves the reader's client for them)."""
    try:
        return str(mjml.mjml2html(source, disable_comments=False, fonts={}))
    except ValueError as exc:
        raise RenderError(f"{name} did not compile as MJML: {exc}{_where(source, exc)}") from exc


def _where(source: str, exc: ValueError) -> str:
    """The rendered line the error points at: mjml-python gives only a character offset."""
    match = re.search(r"position (\d+)", str(exc))
    if match is None:
        return ""
    offset = int(match.group(1))
    number = source.count("\n", 0, offset) + 1
    line = source.splitlines()[number - 1].strip() if source.strip() else ""
    return (
        f" (rendered line {number}: {line[:100]!r}; mjml-python also rejects a space "
        "between two tags on one line)"
    )


def render_html(settings: Settings, context: Mapping[str, Any]) -> str:
    """The HTML part: the MJML template rendered, compiled and its inline styles applied."""
    source = templating.render(settings, MJML_TEMPLATE, **context)
    return inline.inline(compile_mjml(source))


def render_text(settings: Settings, context: Mapping[str, Any]) -> str:
    """The text part, written for reading: wrapped paragraphs and numbered link references."""
    links = Links()
    text = templating.render(
        settings,
        TEXT_TEMPLATE,
        **context,
        ref=links.ref,
        links=links,
        text_of=lambda html: html_to_text(html, links),
        wrap=wrap,
    )
    return _tidy(text)


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def render(settings: Settings, context: Mapping[str, Any]) -> Rendered:
    return Rendered(html=render_html(settings, context), text=render_text(settings, context))
