"""What makes a post citable: its DOI, research outputs, licence and funder, checked.

ORCID iDs carry a check digit (ISO 7064 MOD 11-2), so a mistyped digit is caught here rather
than by a reader whose link goes to somebody else; a DOI must look like one (`10.NNNN/...`),
and a licence must be an SPDX id (innovate_news.spdx).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from innovate_news import spdx
from innovate_news.content.frontmatter import Document
from innovate_news.errors import Problem

FIELDS = {"doi", "outputs", "licence", "funder"}
# An output's type: its CSL type, BibTeX entry type, RIS type and schema.org type.
OUTPUT_TYPES = {
    "report": ("report", "techreport", "RPRT", "Report"),
    "paper": ("article-journal", "article", "JOUR", "ScholarlyArticle"),
    "dataset": ("dataset", "misc", "DATA", "Dataset"),
    "protocol": ("report", "techreport", "RPRT", "Report"),
    "other": ("document", "misc", "GEN", "CreativeWork"),
}
OUTPUT_FIELDS = {"title", "type", "url", "doi", "year"}
FUNDER_FIELDS = {"name", "award"}
_ORCID = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
# A DOI: the 10. directory, a registrant code, a slash, any suffix without spaces.
_DOI = re.compile(r"^10\.\d{4,9}(?:\.\d+)*/\S+$")
_DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:")
_URL = re.compile(r"^https?://[^\s<>\"]+$")


@dataclass(frozen=True)
class Output:
    """A report, paper, dataset or protocol the post is about, published elsewhere."""

    title: str
    type: str
    url: str
    year: int | None = None
    doi: str | None = None


@dataclass(frozen=True)
class Funder:
    name: str
    award: str | None = None


@dataclass(frozen=True)
class Scholarly:
    """A post's citation facts; each None or empty when its front matter leaves it out."""

    doi: str | None = None
    outputs: tuple[Output, ...] = ()
    licence: str | None = None
    funder: Funder | None = None


NONE = Scholarly()  # a post that names none of them


def orcid_problem(orcid: Any) -> str | None:
    """Why `orcid` is not an ORCID iD (shape or check digit), or None when it is one."""
    if not isinstance(orcid, str) or not _ORCID.match(orcid):
        return f"bad ORCID {orcid!r}: write it as 0000-0002-1825-0097"
    digits = orcid.replace("-", "")
    total = 0
    for digit in digits[:-1]:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    expected = "X" if check == 10 else str(check)
    if digits[-1] != expected:
        return f"bad ORCID {orcid!r}: its check digit is wrong (a digit mistyped?)"
    return None


def doi(value: Any) -> str:
    """A DOI without its resolver prefix (https://doi.org/ or doi:); ValueError if not one."""
    if not isinstance(value, str):
        raise ValueError(f"is not a DOI: {value!r} (write it as 10.5555/12345678)")
    text = value.strip()
    for prefix in _DOI_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    if not _DOI.match(text):
        raise ValueError(f"is not a DOI: {value!r} (write it as 10.5555/12345678)")
    return text


def parse(doc: Document, problems: list[Problem]) -> Scholarly:
    """The citation fields of a post's front matter; each mistake becomes a problem."""
    meta = doc.meta
    found = None
    if meta.get("doi") is not None:
        try:
            found = doi(meta["doi"])
        except ValueError as exc:
            problems.append(doc.error("doi", f"doi {exc}"))
    licence = None
    if meta.get("licence") is not None:
        try:
            licence = spdx.canonical(str(meta["licence"]))
        except ValueError as exc:
            problems.append(doc.error("licence", f"licence {exc}"))
    return Scholarly(found, _outputs(doc, problems), licence, _funder(doc, problems))


def _outputs(doc: Document, problems: list[Problem]) -> tuple[Output, ...]:
    value = doc.meta.get("outputs")
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(doc.error("outputs", "outputs must be a list of {title, type, url}"))
        return ()
    found = []
    for number, item in enumerate(value, 1):
        output = _output(doc, item, number, problems)
        if output is not None:
            found.append(output)
    return tuple(found)


def _output(doc: Document, item: Any, number: int, problems: list[Problem]) -> Output | None:
    line, where = item_line(doc, "outputs", number), f"outputs[{number}]"
    if not isinstance(item, dict):
        problems.append(Problem(doc.path, line, f"{where} must be {{title, type, url}}"))
        return None
    said = len(problems)
    for key in item:
        if key not in OUTPUT_FIELDS:
            known = ", ".join(sorted(OUTPUT_FIELDS))
            problems.append(Problem(doc.path, line, f"{where} has unknown field {key!r} ({known})"))
    title, kind, url = item.get("title"), item.get("type"), item.get("url")
    if not isinstance(title, str) or not title.strip():
        problems.append(Problem(doc.path, line, f"{where} needs a title"))
    if kind not in OUTPUT_TYPES:
        types = ", ".join(OUTPUT_TYPES)
        problems.append(Problem(doc.path, line, f"{where} type {kind!r} is not one of: {types}"))
    if not isinstance(url, str) or not _URL.match(url.strip()):
        problems.append(Problem(doc.path, line, f"{where} url must be an http(s) URL"))
    year = item.get("year")
    if year is not None and not (isinstance(year, int) and 1000 <= year <= 9999):
        problems.append(Problem(doc.path, line, f"{where} year must be a year such as 2023"))
    found_doi = None
    if item.get("doi") is not None:
        try:
            found_doi = doi(item["doi"])
        except ValueError as exc:
            problems.append(Problem(doc.path, line, f"{where} doi {exc}"))
    if len(problems) > said:
        return None
    return Output(" ".join(str(title).split()), str(kind), str(url).strip(), year, found_doi)


def item_line(doc: Document, key: str, number: int) -> int:
    """The line of the `number`th item of a block list under `key` (else of `key` itself)."""
    start = doc.line_of(key)
    if start < 2:
        return start  # not found: the front matter's first line
    lines = doc.front_matter.splitlines()[start - 2 :]  # from the key's line (1-based, after ---)
    indent, seen = None, 0
    for index, text in enumerate(lines[1:], 1):
        if re.match(r"^[^\s#-]", text):
            break  # the next top-level field
        if not re.match(r"^\s*-\s", text):
            continue
        depth = len(text) - len(text.lstrip())
        indent = depth if indent is None else indent
        if depth == indent:
            seen += 1
            if seen == number:
                return start + index
    return start


def _funder(doc: Document, problems: list[Problem]) -> Funder | None:
    value = doc.meta.get("funder")
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return Funder(value.strip())
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        problems.append(doc.error("funder", "funder must be {name, award}"))
        return None
    for key in value:
        if key not in FUNDER_FIELDS:
            problems.append(doc.unknown(str(key), FUNDER_FIELDS, prefix="funder."))
    award = value.get("award")
    if award is not None and not isinstance(award, str | int):
        problems.append(doc.error("funder.award", "funder.award must be text (ES/P001234/1)"))
        award = None
    return Funder(value["name"].strip(), str(award).strip() if award is not None else None)
