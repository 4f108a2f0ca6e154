"""Citation front matter: DOI, outputs, licence, funder, ORCID check digits; errors name the
file and the line."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from innovate_news import settings as settings_module
from innovate_news import spdx
from innovate_news.content import posts, scholarly
from innovate_news.content.scholarly import Funder, Output
from innovate_news.errors import ContentError, SettingsError

LONDON = ZoneInfo("Europe/London")
HEAD = "---\ntitle: A finding\ndate: 2021-03-04\nkind: finding\n"
CITABLE = (
    HEAD
    + """authors:
  - {name: Sam Example, orcid: 0000-0002-1825-0097}
doi: https://doi.org/10.5555/example.1
licence: cc-by-4.0
funder:
  name: Economic and Social Research Council
  award: ES/X000000/1
outputs:
  - title: The protocol
    type: protocol
    url: https://example.org/protocol.pdf
    year: 2020
  - title: The report
    type: report
    url: https://example.org/report
    doi: 10.5555/example.2
---
Body.
"""
)


def parse(tmp_path: Path, text: str) -> posts.Post:
    path = tmp_path / "finding.md"
    path.write_text(text, encoding="utf-8")
    return posts.parse(path, text.encode(), LONDON, "The team")


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ContentError) as caught:
        parse(tmp_path, text)
    return [str(problem) for problem in caught.value.problems]


def test_citation_fields_are_read_and_normalised(tmp_path: Path) -> None:
    facts = parse(tmp_path, CITABLE).scholarly
    assert facts.doi == "10.5555/example.1"  # the resolver's prefix is dropped
    assert facts.licence == "CC-BY-4.0"  # as SPDX spells it
    assert facts.funder == Funder("Economic and Social Research Council", "ES/X000000/1")
    assert facts.outputs == (
        Output("The protocol", "protocol", "https://example.org/protocol.pdf", 2020, None),
        Output("The report", "report", "https://example.org/report", None, "10.5555/example.2"),
    )


def test_a_post_without_them_has_none(tmp_path: Path) -> None:
    assert parse(tmp_path, HEAD + "---\nBody.\n").scholarly == scholarly.NONE


@pytest.mark.parametrize(
    "orcid", ["0000-0002-1825-0097", "0000-0001-5109-3700", "0000-0002-1694-233X"]
)
def test_real_orcid_check_digits_pass(orcid: str) -> None:
    assert scholarly.orcid_problem(orcid) is None


def test_an_orcid_with_a_wrong_check_digit_names_file_and_line(tmp_path: Path) -> None:
    text = CITABLE.replace("0000-0002-1825-0097", "0000-0002-1825-0098")
    [found] = problems(tmp_path, text)
    assert found.startswith(f"{tmp_path / 'finding.md'}:6: ")  # the author's own line
    assert "check digit is wrong" in found


def test_a_bad_doi_names_file_and_line(tmp_path: Path) -> None:
    [found] = problems(tmp_path, CITABLE.replace("https://doi.org/10.5555/example.1", "11.5/x"))
    assert found.startswith(f"{tmp_path / 'finding.md'}:7: doi is not a DOI: '11.5/x'")


def test_a_bad_spdx_id_names_file_and_line(tmp_path: Path) -> None:
    [found] = problems(tmp_path, CITABLE.replace("cc-by-4.0", "CC-BY-5.0"))
    assert found.startswith(f"{tmp_path / 'finding.md'}:8: licence 'CC-BY-5.0' is not an SPDX")


def test_a_deprecated_spdx_id_says_so(tmp_path: Path) -> None:
    [found] = problems(tmp_path, CITABLE.replace("cc-by-4.0", "GPL-2.0"))
    assert "deprecated SPDX licence id" in found


def test_a_bad_output_names_its_own_line(tmp_path: Path) -> None:
    text = CITABLE.replace("type: report", "type: novel").replace(
        "doi: 10.5555/example.2", "doi: x"
    )
    found = problems(tmp_path, text)
    where = f"{tmp_path / 'finding.md'}:17: "  # the second output's first line
    assert found == [
        where + "outputs[2] type 'novel' is not one of: report, paper, dataset, protocol, other",
        where + "outputs[2] doi is not a DOI: 'x' (write it as 10.5555/12345678)",
    ]


def test_an_output_needs_title_and_http_url(tmp_path: Path) -> None:
    text = HEAD + "outputs:\n  - {type: dataset, url: 'ftp://example.org/x'}\n---\nBody.\n"
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'finding.md'}:6: outputs[1] needs a title",
        f"{tmp_path / 'finding.md'}:6: outputs[1] url must be an http(s) URL",
    ]


def test_funder_may_be_just_a_name_and_unknown_keys_are_named(tmp_path: Path) -> None:
    facts = parse(tmp_path, HEAD + "funder: ESRC\n---\nBody.\n").scholarly
    assert facts.funder == Funder("ESRC")
    [found] = problems(tmp_path, HEAD + "funder: {name: ESRC, awrd: 1}\n---\nBody.\n")
    assert "unknown field 'funder.awrd': did you mean 'funder.award'?" in found


def test_the_site_licence_setting_is_checked(tmp_path: Path) -> None:
    config = tmp_path / "innovate-news.toml"
    base = (Path(__file__).parents[2] / "innovate-news.toml").read_text(encoding="utf-8")
    config.write_text(base.replace("[site]\n", '[site]\nlicence = "cc0-1.0"\n'), "utf-8")
    assert settings_module.load(config).site["licence"] == "CC0-1.0"
    config.write_text(base.replace("[site]\n", '[site]\nlicence = "Nope-1.0"\n'), "utf-8")
    with pytest.raises(SettingsError, match=r"licence.*'Nope-1.0' is not an SPDX"):
        settings_module.load(config)


def test_the_bundled_spdx_list_is_a_recent_one() -> None:
    assert spdx.version() >= "3.20"
    assert spdx.canonical("mit") == "MIT"
    assert spdx.url("CC-BY-4.0") == "https://spdx.org/licenses/CC-BY-4.0.html"
