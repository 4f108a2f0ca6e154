"""A citable post's "How to cite" block and its citation files, made with its other artefacts.

Computed in the build's workers from the post alone (site.artefacts), cached with its page,
and written beside the page by site.outputs: `citation.bib`, `citation.ris`, `citation.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from innovate_news import layout, spdx
from innovate_news.content.posts import Post
from innovate_news.content.record import PostRecord
from innovate_news.settings import Settings
from innovate_news.site import bibformats, citation, scholar


@dataclass(frozen=True)
class Cited:
    """What the page shows (`context`, None when the post is not citable) and the files."""

    context: dict[str, Any] | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # format (bib, ris, csl): bytes


def items(settings: Settings, post: Post, meta: PostRecord) -> list[citation.CSL]:
    """The post's CSL-JSON item, then one for each of its outputs."""
    found = [citation.item(settings, post, meta["url"], meta["summary"])]
    for number in range(1, len(meta["outputs"]) + 1):
        found.append(citation.output_item(settings, meta, number))
    return found


def for_post(settings: Settings, post: Post, meta: PostRecord) -> Cited:
    """The citation block's context and the three files, for a citable post."""
    licence = scholar.licence_of(settings, post)
    context: dict[str, Any] = {
        "licence": licence,
        "licence_url": spdx.url(licence) if licence else None,
        "funder": post.scholarly.funder,
    }
    if not meta["cites"]:
        return Cited({**context, "cites": False})
    found = items(settings, post, meta)
    references = citation.apa(found)
    context |= {
        "cites": True,
        "apa": references[0],
        "outputs": list(zip(meta["outputs"], references[1:], strict=True)),
        "highwire": scholar.highwire(settings, post, found),
        "downloads": [
            # Beside the page, so the links also work in a local copy of the site.
            {"label": label, "href": layout.CITATION_FILES[fmt]}
            for fmt, label in (("bib", "BibTeX"), ("ris", "RIS"), ("csl", "CSL-JSON"))
        ],
    }
    files = {
        "bib": bibformats.bibtex(found),
        "ris": bibformats.ris(found),
        "csl": bibformats.csl_json(found),
    }
    return Cited(context, files)
