"""BibTeX and RIS files from CSL-JSON items (site.citation), for reference managers.

Both are written here rather than through a library: each is a few fields of plain text. BibTeX
escapes LaTeX's special characters and keeps titles' capitals (double braces); the file is
UTF-8, which biber and current BibTeX read. RIS has one `TAG  - value` line per field, ended
by CR LF as its specification asks.
"""

from __future__ import annotations

import json
import re
from typing import Any

CSL = dict[str, Any]

_BIBTEX_TYPES = {"report": "techreport", "article-journal": "article"}
_RIS_TYPES = {
    "report": "RPRT",
    "article-journal": "JOUR",
    "dataset": "DATA",
    "post-weblog": "BLOG",
    "webpage": "ELEC",
}
_LATEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_SPECIAL = re.compile("|".join(re.escape(c) for c in _LATEX))
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_:-]")


def latex(text: str) -> str:
    """Text with LaTeX's special characters escaped, on one line."""
    return _SPECIAL.sub(lambda m: _LATEX[m.group(0)], " ".join(text.split()))


def _verbatim(text: str) -> str:
    """A URL or DOI: kept as it is, but a brace would end the field, so it is encoded."""
    return text.replace("{", "%7B").replace("}", "%7D")


def _author(name: dict[str, str]) -> str:
    if "literal" in name:
        return "{" + latex(name["literal"]) + "}"  # one name, never split into parts
    return f"{latex(name['family'])}, {latex(name['given'])}"


def bibtex_entry(item: CSL) -> str:
    """One @techreport, @article or @misc entry."""
    kind = _BIBTEX_TYPES.get(item["type"], "misc")
    date = item["issued"]["date-parts"][0]
    fields = [
        ("title", "{" + latex(item["title"]) + "}"),
        ("author", " and ".join(_author(n) for n in item.get("author", []))),
        ("year", str(date[0])),
    ]
    if len(date) > 1:
        fields.append(("month", str(date[1])))
    publisher = item.get("publisher")
    if publisher:
        where = "institution" if kind == "techreport" else "publisher"
        fields.append((where, latex(publisher)))
    if item.get("container-title"):
        fields.append(("journal" if kind == "article" else "howpublished",
                       latex(item["container-title"])))  # fmt: skip
    if item.get("genre"):
        fields.append(("type", latex(item["genre"])))
    if item.get("DOI"):
        fields.append(("doi", _verbatim(item["DOI"])))
    fields.append(("url", _verbatim(item["URL"])))
    licence = item.get("custom", {}).get("licence")
    if licence:
        fields.append(("copyright", latex(licence)))
    key = _KEY_UNSAFE.sub("-", item["id"])
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def bibtex(items: list[CSL]) -> bytes:
    return "\n".join(bibtex_entry(item) for item in items).encode("utf-8")


def _ris_value(text: str) -> str:
    return " ".join(str(text).split())


def ris_entry(item: CSL) -> str:
    """One RIS record, from TY to ER."""
    date = item["issued"]["date-parts"][0]
    rows = [("TY", _RIS_TYPES.get(item["type"], "GEN")), ("TI", item["title"])]
    for name in item.get("author", []):
        rows.append(("AU", name.get("literal") or f"{name['family']}, {name['given']}"))
    rows.append(("PY", str(date[0])))
    if len(date) == 3:
        rows.append(("DA", f"{date[0]:04d}/{date[1]:02d}/{date[2]:02d}"))
    for tag, variable in (("PB", "publisher"), ("T2", "container-title"), ("M3", "genre")):
        if item.get(variable):
            rows.append((tag, item[variable]))
    if item.get("DOI"):
        rows.append(("DO", item["DOI"]))
    rows.append(("UR", item["URL"]))
    if item.get("abstract"):
        rows.append(("AB", item["abstract"]))
    licence = item.get("custom", {}).get("licence")
    if licence:
        rows.append(("C1", f"Licence: {licence}"))
    lines = [f"{tag}  - {_ris_value(value)}" for tag, value in rows] + ["ER  - "]
    return "\r\n".join(lines) + "\r\n"


def ris(items: list[CSL]) -> bytes:
    return "\r\n".join(ris_entry(item) for item in items).encode("utf-8")


def csl_json(items: list[CSL]) -> bytes:
    """The items as a CSL-JSON array (the format's file is a list of items)."""
    return (json.dumps(items, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")
