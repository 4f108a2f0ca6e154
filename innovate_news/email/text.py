"""Plain text for the email's text part: sanitised HTML to wrapped prose with numbered links."""

from __future__ import annotations

import textwrap
from html.parser import HTMLParser

WIDTH = 72
_BLOCKS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "tr", "dt", "dd", "figure",
    "figcaption", "table", "section", "details", "summary",
}  # fmt: skip
_SKIP = {"style", "script", "head", "title"}


class Links:
    """Numbered link references: `[3]` in the text, `[3] https://…` in the list at the end."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}

    def ref(self, url: str) -> str:
        number = self._numbers.setdefault(url, len(self._numbers) + 1)
        return f"[{number}]"

    def items(self) -> list[tuple[int, str]]:
        return [(number, url) for url, number in self._numbers.items()]


def wrap(text: str, width: int = WIDTH, prefix: str = "", hanging: str | None = None) -> str:
    """Fill a paragraph; URLs and long words are never broken (they would stop working)."""
    return textwrap.fill(
        " ".join(text.split()),
        width=width,
        initial_indent=prefix,
        subsequent_indent=prefix if hanging is None else hanging,
        break_long_words=False,
        break_on_hyphens=False,
    )


class _Converter(HTMLParser):
    """Walks sanitised HTML (markup.py's allow-list) and writes readable paragraphs."""

    def __init__(self, links: Links, width: int):
        super().__init__(convert_charrefs=True)
        self.links = links
        self.width = width
        self.blocks: list[str] = []
        self.inline: list[str] = []
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.marker = ""  # the bullet or number of the list item whose text comes next
        self.previous_in_item = False
        self.quote = 0
        self.pre = 0
        self.skip = 0
        self.href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in _SKIP:
            self.skip += 1
        elif tag in ("ul", "ol"):
            self.flush()
            start = found.get("start")
            self.lists.append(
                [int(start) if start and start.isdigit() else 1] if tag == "ol" else []
            )
        elif tag == "blockquote":
            self.flush()
            self.quote += 1
        elif tag == "pre":
            self.flush()
            self.pre += 1
        elif tag == "li":
            self.flush()
            counter = self.lists[-1] if self.lists else []
            self.marker = f"{counter[0]}. " if counter else "- "
            if counter:
                counter[0] += 1
        elif tag in _BLOCKS:
            self.flush()
        elif tag == "hr":
            self.flush()
            self.add("* * *", False)
        elif tag == "br":
            self.inline.append("\n")
        elif tag == "a":
            self.href.append(found.get("href"))
        elif tag == "img":
            alt = (found.get("alt") or "").strip()
            if alt:
                self.inline.append(f"[{alt}]")
        elif tag in ("strong", "b"):
            self.inline.append("*")
        elif tag in ("td", "th"):
            self.inline.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in ("ul", "ol"):
            self.flush()
            if self.lists:
                self.lists.pop()
        elif tag == "blockquote":
            self.flush()
            self.quote = max(0, self.quote - 1)
        elif tag == "pre":
            self.flush()
            self.pre = max(0, self.pre - 1)
        elif tag in _BLOCKS:
            self.flush()
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and not href.startswith("#"):
                self.inline.append(" " + self.links.ref(href))
        elif tag in ("strong", "b"):
            self.inline.append("*")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.inline.append(data)

    def flush(self) -> None:
        text = "".join(self.inline)
        self.inline = []
        if not text.strip():
            return
        quote = "> " * self.quote
        if self.pre:
            lines = text.strip("\n").split("\n")
            self.add("\n".join((quote + "    " + line).rstrip() for line in lines), False)
            return
        width = 3 if self.lists and self.lists[-1] else 2
        indent = " " * (width * max(0, len(self.lists) - 1))
        hang = quote + indent + (" " * width if self.lists else "")
        first = quote + indent + self.marker if self.marker else hang
        in_item = bool(self.lists)
        self.marker = ""
        lines = [part for part in text.split("\n") if part.strip()]
        wrapped = [wrap(lines[0], self.width, first, hang)]
        wrapped += [wrap(line, self.width, hang) for line in lines[1:]]
        self.add("\n".join(wrapped), in_item)

    def add(self, block: str, in_item: bool) -> None:
        """List items follow each other line by line; other blocks get a blank line between."""
        if in_item and self.previous_in_item and self.blocks:
            self.blocks[-1] += "\n" + block
        else:
            self.blocks.append(block)
        self.previous_in_item = in_item


def html_to_text(fragment: str, links: Links, width: int = WIDTH) -> str:
    """Readable text of an HTML fragment: one blank line between paragraphs, links numbered."""
    converter = _Converter(links, width)
    converter.feed(fragment)
    converter.close()
    converter.flush()
    return "\n\n".join(converter.blocks)
