"""What a citable post's page tells indexes: Highwire Press `citation_*` meta tags (read by
Google Scholar and Zotero), and the schema.org facts added to its JSON-LD (DOI, licence,
funder, ORCID iDs, its outputs as ScholarlyArticle, Report or Dataset).
"""

from __future__ import annotations

from typing import Any

from innovate_news import spdx
from innovate_news.content.posts import Post
from innovate_news.content.record import PostRecord
from innovate_news.content.scholarly import OUTPUT_TYPES
from innovate_news.settings import Settings
from innovate_news.site.citation import CSL

Tags = list[tuple[str, str]]  # (name, content) of each <meta>, in order


def licence_of(settings: Settings, post: Post) -> str | None:
    """The post's licence, or the site's (`[site] licence`) when the post names none."""
    return post.scholarly.licence or settings.site.get("licence") or None


def highwire(settings: Settings, post: Post, items: list[CSL]) -> Tags:
    """The citation_* tags of a post, from its CSL-JSON item (and its outputs' items)."""
    own = items[0]
    date = own["issued"]["date-parts"][0]
    tags: Tags = [("citation_title", own["title"])]
    for name, author in zip(own["author"], post.authors, strict=True):
        written = name.get("literal") or f"{name['family']}, {name['given']}"
        tags.append(("citation_author", written))
        if author.orcid:
            tags.append(("citation_author_orcid", f"https://orcid.org/{author.orcid}"))
    tags.append(("citation_publication_date", f"{date[0]:04d}/{date[1]:02d}/{date[2]:02d}"))
    if own["type"] == "report":
        tags.append(("citation_technical_report_institution", own["publisher"]))
    tags.append(("citation_publisher", own["publisher"]))
    if own.get("DOI"):
        tags.append(("citation_doi", own["DOI"]))
    tags.append(("citation_abstract_html_url", own["URL"]))
    tags.append(("citation_language", settings.site["language"]))
    if post.tags:
        tags.append(("citation_keywords", "; ".join(post.tags)))
    pdf = next((i["URL"] for i in items[1:] if i["URL"].lower().endswith(".pdf")), None)
    if pdf:
        tags.append(("citation_pdf_url", pdf))
    return tags


def jsonld(settings: Settings, post: Post, meta: PostRecord) -> dict[str, Any]:
    """What a citable post adds to (or changes in) its schema.org JSON-LD."""
    facts = post.scholarly
    extra: dict[str, Any] = {}
    if post.kind == "finding":
        extra["@type"] = "Report"
    if facts.doi:
        extra["identifier"] = _doi(facts.doi)
        extra["sameAs"] = f"https://doi.org/{facts.doi}"
    licence = licence_of(settings, post)
    if licence:
        extra["license"] = spdx.url(licence)
    if facts.funder:
        funder = {"@type": "Organization", "name": facts.funder.name}
        extra["funder"] = funder
        if facts.funder.award:
            extra["funding"] = {
                "@type": "Grant",
                "identifier": facts.funder.award,
                "funder": funder,
            }
    if meta["outputs"]:
        extra["citation"] = [_work(output) for output in meta["outputs"]]
    return extra


def _doi(number: str) -> dict[str, str]:
    return {"@type": "PropertyValue", "propertyID": "DOI", "value": number}


def _work(output: Any) -> dict[str, Any]:
    work: dict[str, Any] = {
        "@type": OUTPUT_TYPES[output["type"]][3],
        "name": output["title"],
        "url": output["url"],
    }
    if output["year"]:
        work["datePublished"] = str(output["year"])
    if output["doi"]:
        work["identifier"] = _doi(output["doi"])
        work["sameAs"] = f"https://doi.org/{output['doi']}"
    return work
