"""Markdown to safe HTML: CommonMark with tables and footnotes, an allow-list, absolute links."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html  # type: ignore[import-untyped]

from innovate_news.content import markdown
from tests.support import REPO

BASE = "https://example.org/innovate/"
PAGE = f"{BASE}posts/a-post/"


def render(source: str) -> str:
    return markdown.render(source, PAGE, BASE)


def hrefs(fragment: str) -> list[str | None]:
    tree = lxml_html.fragment_fromstring(fragment, create_parent="div")
    return [a.get("href") for a in tree.iter("a")]


def test_commonmark_tables_footnotes_and_strikethrough() -> None:
    out = render("| a | b |\n|:-:|--:|\n| 1 | 2 |\n\nSee this[^n]. ~~old~~\n\n[^n]: The note.\n")
    assert '<th style="text-align:center">a</th>' in out
    assert '<td style="text-align:right">2</td>' in out
    assert "<s>old</s>" in out
    assert f'<a href="{PAGE}#fn1" id="fnref1">' in out  # footnote links point into the page
    assert 'id="fn1"' in out
    assert "The note." in out


def test_script_blocks_are_removed() -> None:
    out = render("Before\n\n<script>alert('x')</script>\n\nAfter\n")
    assert "<script" not in out.lower()
    assert "alert" not in out
    assert "Before" in out
    assert "After" in out


def test_event_handlers_are_removed_and_alt_kept() -> None:
    out = render('<img src="pic.png" onerror="alert(1)" alt="A picture">\n')
    assert "onerror" not in out
    assert "alert" not in out
    assert f'<img src="{BASE}pic.png" alt="A picture">' in out


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "data:text/html,<b>hi</b>",
        "vbscript:msgbox(1)",
    ],
)
def test_dangerous_link_schemes_are_dropped(href: str) -> None:
    out = render(f'<a href="{href}">click</a>\n')
    assert hrefs(out) == [None]
    assert "click" in out


def test_markdown_javascript_links_do_not_become_links() -> None:
    out = render("[click](javascript:alert(1))\n")
    assert "href" not in out


def test_data_images_are_dropped_but_keep_their_alt() -> None:
    out = render('<img src="data:image/png;base64,AAAA" alt="tracking pixel">\n')
    assert "data:" not in out
    assert 'alt="tracking pixel"' in out


@pytest.mark.parametrize(
    "snippet",
    [
        '<iframe src="https://evil.test/"></iframe>',
        '<object data="https://evil.test/x.swf"></object>',
        '<svg onload="alert(1)"><circle r="1"/></svg>',
        '<form action="https://evil.test/"><input name="q"></form>',
        "<style>body { display: none }</style>",
        '<link rel="stylesheet" href="https://evil.test/x.css">',
    ],
)
def test_embedding_and_active_elements_are_removed(snippet: str) -> None:
    out = render(f"Text\n\n{snippet}\n")
    assert "evil.test" not in out
    for word in ("<iframe", "<object", "<svg", "<form", "<input", "<style", "<link", "onload"):
        assert word not in out


def test_inline_styles_and_classes_are_removed() -> None:
    out = render('<p style="position:fixed" class="x" onclick="go()">styled</p>\n')
    assert out.strip() == "<p>styled</p>"


def test_writer_rel_is_kept() -> None:
    out = render('<a href="https://other.test/" rel="nofollow">elsewhere</a>\n')
    assert 'rel="nofollow"' in out


def test_relative_links_and_images_become_absolute() -> None:
    out = render(
        "[root](/innovate/posts/other/) [rel](images/a.png) ![pic](images/p.png) "
        "[proto](//cdn.test/x) [mail](mailto:team@example.org) [top](#top)\n"
    )
    assert hrefs(out) == [
        f"{BASE}posts/other/",
        f"{BASE}images/a.png",
        "https://cdn.test/x",
        "mailto:team@example.org",
        f"{PAGE}#top",
    ]
    assert f'<img src="{BASE}images/p.png" alt="pic">' in out


def test_absolute_helper() -> None:
    assert markdown.absolute("https://x.test/a", PAGE, BASE) == "https://x.test/a"
    assert markdown.absolute("ftp://x.test/a", PAGE, BASE) is None
    assert markdown.absolute("#n", PAGE, BASE) == f"{PAGE}#n"
    assert markdown.absolute("a/b", PAGE, BASE) == f"{BASE}a/b"


def test_first_paragraph_skips_blockquotes_and_markup() -> None:
    html = render("> *Example post.*\n\nThe **first** real paragraph &amp; more.\n\nSecond.\n")
    assert markdown.first_paragraph(html) == "The first real paragraph & more."


def test_plain_text_collapses_whitespace_and_entities() -> None:
    assert markdown.plain_text("<p>a&amp;b\n  <em>c</em></p>") == "a&b c"


def test_plain_commonmark_is_used_only_where_it_gives_the_same_html() -> None:
    samples = [path.read_text(encoding="utf-8") for path in sorted((REPO / "posts").glob("*.md"))]
    samples += [
        "# Title\n\nA paragraph with *emphasis*, `code` and a [link](https://example.org).\n",
        "- a list\n- of items\n\n> a quote\n\n    indented code\n",
        "Text with a caret^ and a tilde~ and brackets [like this].\n",
    ]
    plain = [s for s in samples if not any(m in s for m in markdown._EXTENSION_MARKS)]
    assert len(plain) >= 3
    for sample in plain:
        assert markdown._parser(True).render(sample) == markdown._parser(False).render(sample)
    extended = "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~ and a note[^1]\n\n[^1]: The note.\n"
    html = markdown.to_html(extended)
    assert "<table>" in html and "<s>gone</s>" in html and "footnote" in html


def test_short_forms_link_to_a_post_or_an_issue_wherever_the_site_lives() -> None:
    out = render(
        "[a](post:other) [b](post:other#method) [c](issue:2021-01-winter-update) "
        '[d](<post:other/>) ![e](post:other)\n\n<a href="issue:spring">raw</a>\n'
    )
    assert hrefs(out) == [
        f"{BASE}posts/other/",
        f"{BASE}posts/other/#method",
        f"{BASE}issues/2021-01-winter-update/",
        f"{BASE}posts/other/",
        f"{BASE}issues/spring/",
    ]
    local = "http://127.0.0.1:8000/"
    assert markdown.absolute("post:other", local, local) == f"{local}posts/other/"


def test_a_site_rooted_path_is_on_the_site_even_below_the_hosts_root() -> None:
    # Both spellings lead to the post; before, /posts/other/ left the site for the host's root.
    assert markdown.absolute("/posts/other/", PAGE, BASE) == f"{BASE}posts/other/"
    assert markdown.absolute("/innovate/posts/other/", PAGE, BASE) == f"{BASE}posts/other/"
    assert markdown.absolute("/images/p.png", PAGE, BASE) == f"{BASE}images/p.png"
    assert markdown.absolute("/innovate", PAGE, BASE) == "https://example.org/innovate"
    root = "https://example.org/"
    assert markdown.absolute("/posts/other/", root, root) == f"{root}posts/other/"


def test_links_are_found_with_their_lines() -> None:
    source = (
        "Intro with [a](post:a) and\n"  # 1
        "a second line ![b](images/b.png).\n"  # 2
        "\n"
        "| x | y |\n"  # 4
        "|---|---|\n"
        "| [c](issue:c) | 1 |\n"  # 6
        "\n"
        "<div>\n"  # 8
        '<img src="images/d.png" alt="d">\n'  # 9
        "</div>\n"
        "\n"
        "```\n[not a link](post:code)\n```\n"  # 12-14
        "\n"
        "- item\n"  # 16
        '  and <a href="post:e">e</a>[^1]\n'  # 17
        "\n"
        "[^1]: A note on [f](post:f).\n"  # 19
    )
    found = [(link.url, link.line, link.image) for link in markdown.links(source)]
    assert sorted(found, key=lambda item: item[1]) == [
        ("post:a", 1, False),
        ("images/b.png", 2, True),
        ("issue:c", 6, False),
        ("images/d.png", 9, True),
        ("post:e", 17, False),
        ("post:f", 19, False),
    ]
