"""Markdown to safe HTML: markdown-it-py (CommonMark, tables, footnotes), then nh3's allow-list."""

from __future__ import annotations

import functools
import re
from urllib.parse import urljoin, urlsplit

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.footnote import footnote_plugin

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details",
    "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "section", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "title", "lang", "dir"},
    "a": {"href", "rel", "hreflang"},
    "img": {"src", "alt", "width", "height", "loading"},
    "ol": {"start", "reversed"},
    "td": {"colspan", "rowspan", "align", "style"},
    "th": {"colspan", "rowspan", "align", "scope", "style"},
    "time": {"datetime"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# markdown-it writes table alignment as style="text-align:…"; nothing else may style content.
_TEXT_ALIGN = re.compile(r"^text-align:\s*(left|right|center)$")
_URL_ATTRIBUTES = {("a", "href"), ("img", "src")}


@functools.cache
def _parser(extended: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "typographer": False})
    if extended:
        md.enable("table").enable("strikethrough")
        md.use(footnote_plugin)
    return md


# Without these the table, strikethrough and footnote rules cannot match, so plain CommonMark
# gives the same HTML and skips trying them at every line and character (most posts).
_EXTENSION_MARKS = ("|", "~~", "[^", "^[")


def to_html(markdown: str) -> str:
    """Render markdown to HTML, not yet sanitised."""
    extended = any(mark in markdown for mark in _EXTENSION_MARKS)
    html: str = _parser(extended).render(markdown)
    return html


def sanitise(html: str, page_url: str, base_url: str) -> str:
    """Keep only the allow-list; make every link and image absolute.

    Fragment links (footnotes) resolve against the page; other relative links against the
    site's base URL, so the HTML works unchanged in feeds, emails and the archive.
    """

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if (tag, attribute) in _URL_ATTRIBUTES:
            return absolute(value, page_url, base_url)
        if attribute == "style":
            return value if _TEXT_ALIGN.match(value.strip().rstrip(";")) else None
        return value

    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,  # keep the writer's own rel
        attribute_filter=attribute_filter,
        strip_comments=True,
        filter_style_properties={"text-align"},
    )


def absolute(url: str, page_url: str, base_url: str) -> str | None:
    """An absolute URL for an href/src, or None for a scheme outside the allow-list."""
    url = url.strip()
    if url.startswith("#"):
        return page_url + url
    parts = urlsplit(url)
    if parts.scheme:
        return url if parts.scheme.lower() in URL_SCHEMES else None
    if url.startswith("//"):
        return "https:" + url
    return urljoin(base_url, url)


def render(markdown: str, page_url: str, base_url: str) -> str:
    """Markdown to sanitised HTML with absolute links."""
    return sanitise(to_html(markdown), page_url, base_url)


_BLOCKQUOTE = re.compile(r"<blockquote>.*?</blockquote>", re.S)
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def plain_text(html: str) -> str:
    """Text of an HTML fragment, entities decoded, whitespace collapsed (for summaries)."""
    import html as html_module

    return _SPACE.sub(" ", html_module.unescape(_TAG.sub(" ", html))).strip()


def first_paragraph(html: str) -> str:
    """Plain text of the first <p> that is not a blockquote's, or of the whole fragment."""
    without_quotes = _BLOCKQUOTE.sub("", html) if "<blockquote" in html else html
    match = _PARAGRAPH.search(without_quotes)
    return plain_text(match.group(1) if match else without_quotes)
