"""Markdown to safe HTML: markdown-it-py (CommonMark, tables, footnotes), then nh3's allow-list."""

from __future__ import annotations

import functools
import html as html_module
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

from innovate_news import layout

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details",
    "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "section", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "title", "lang", "dir"},
    "a": {"href", "rel", "hreflang", "aria-label"},
    "img": {"src", "alt", "width", "height", "loading"},
    "ol": {"start", "reversed"},
    "td": {"colspan", "rowspan", "align", "style"},
    "th": {"colspan", "rowspan", "align", "scope", "style"},
    "time": {"datetime"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# `post:slug` and `issue:slug` name a post or an issue wherever the site lives: the build
# writes the page's URL, so the link survives a new base_url or a local build.
SHORT_FORMS: dict[str, Callable[[str], str]] = {
    "post": layout.post_folder,
    "issue": layout.issue_folder,
}
# markdown-it writes table alignment as style="text-align:…"; nothing else may style content.
_TEXT_ALIGN = re.compile(r"^text-align:\s*(left|right|center)$")
_URL_ATTRIBUTES = {("a", "href"), ("img", "src")}


@functools.cache
def _parser(extended: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "typographer": False})
    if extended:
        md.enable("table").enable("strikethrough")
        md.use(footnote_plugin)
        md.add_render_rule("footnote_block_open", _footnotes_open)
        md.add_render_rule("footnote_anchor", _footnote_backref)
    return md


def _footnotes_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """The footnotes section under a heading, so it is found and named like any section."""
    return '<hr>\n<section class="footnotes">\n<h2>Notes</h2>\n<ol class="footnotes-list">\n'


def _footnote_backref(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """The back-link with a name a screen reader can say (the arrow alone reads as nothing)."""
    number = str(tokens[idx].meta["id"] + 1)
    ident = self.rules["footnote_anchor_name"](tokens, idx, options, env)
    label = f"Back to reference {number}"
    if tokens[idx].meta["subId"] > 0:
        ident += ":" + str(tokens[idx].meta["subId"])
        label += f" ({tokens[idx].meta['subId'] + 1})"
    return (
        f' <a href="#fnref{ident}" class="footnote-backref" aria-label="{label}">\u21a9\ufe0e</a>'
    )


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
        url_schemes=URL_SCHEMES | set(SHORT_FORMS),  # the filter rewrites the short forms
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
    scheme = parts.scheme.lower()
    if scheme in SHORT_FORMS:
        return short_form(parts, base_url)
    if scheme:
        return url if scheme in URL_SCHEMES else None
    if url.startswith("//"):
        return "https:" + url
    if url.startswith("/"):
        return _site_rooted(url, base_url)
    return urljoin(base_url, url)


def short_form(parts: SplitResult, base_url: str) -> str:
    """`post:slug#part` as the post's URL (the slug is not checked here: `check` does that)."""
    url = base_url + SHORT_FORMS[parts.scheme.lower()](parts.path.strip("/"))
    if parts.query:
        url += "?" + parts.query
    return url + "#" + parts.fragment if parts.fragment else url


def _site_rooted(url: str, base_url: str) -> str:
    """`/posts/slug/` is a path on this site, which may live below the host's root.

    A path that already starts with base_url's path (`/innovate/posts/slug/`) is kept as the
    host would read it, so both spellings lead to the same page.
    """
    base_path = urlsplit(base_url).path or "/"
    if url.startswith(base_path) or url.split("?")[0].split("#")[0] + "/" == base_path:
        return urljoin(base_url, url)
    return base_url + url.lstrip("/")


def render(markdown: str, page_url: str, base_url: str) -> str:
    """Markdown to sanitised HTML with absolute links."""
    return sanitise(to_html(markdown), page_url, base_url)


@dataclass(frozen=True)
class Link:
    """A link or image as written in markdown, and the line it is on (1-based)."""

    url: str
    line: int
    image: bool


# Raw HTML in markdown: the href of <a> and the src of <img>, quoted or not.
_HTML_URL = re.compile(
    r"""<(a|img)\b[^>]*?\s(href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""", re.I
)


def links(markdown: str) -> list[Link]:
    """Every link and image in a markdown text, with its line, for `check` to follow."""
    found: list[Link] = []
    for token in _parser(True).parse(markdown):
        if token.map is None:
            continue
        if token.type == "html_block":
            found += _html_links(token.content, token.map[0] + 1)
        elif token.children:
            found += _inline_links(token.children, token.map[0] + 1)
    return found


def _inline_links(children: Sequence[Token], line: int) -> list[Link]:
    found: list[Link] = []
    for child in children:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type == "link_open":
            found.append(Link(str(child.attrs.get("href", "")), line, image=False))
        elif child.type == "image":
            found.append(Link(str(child.attrs.get("src", "")), line, image=True))
        elif child.type == "html_inline":
            found += _html_links(child.content, line)
    return found


def _html_links(html: str, line: int) -> list[Link]:
    found = []
    for match in _HTML_URL.finditer(html):
        tag, attribute = match.group(1).lower(), match.group(2).lower()
        if (tag, attribute) not in _URL_ATTRIBUTES:
            continue
        value = match.group(3) or match.group(4) or match.group(5) or ""
        where = line + html.count("\n", 0, match.start())
        found.append(Link(html_module.unescape(value), where, image=tag == "img"))
    return found


_BLOCKQUOTE = re.compile(r"<blockquote>.*?</blockquote>", re.S)
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def plain_text(html: str) -> str:
    """Text of an HTML fragment, entities decoded, whitespace collapsed (for summaries)."""
    return _SPACE.sub(" ", html_module.unescape(_TAG.sub(" ", html))).strip()


def first_paragraph(html: str) -> str:
    """Plain text of the first <p> that is not a blockquote's, or of the whole fragment."""
    without_quotes = _BLOCKQUOTE.sub("", html) if "<blockquote" in html else html
    match = _PARAGRAPH.search(without_quotes)
    return plain_text(match.group(1) if match else without_quotes)
