"""Reading the subscriber CSV: encodings, validation by row, normalisation and duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from innovate_news.audience import subscribers
from innovate_news.errors import SubscriberError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, bom: bool = False) -> Path:
    path = tmp_path / "list.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_the_example_list_reads_cleanly() -> None:
    listing = subscribers.read(REPO / "subscribers.example.csv")
    assert listing.problems == () and listing.duplicates == ()
    assert len(listing.subscribers) == listing.rows == 20
    assert sum(1 for _ in listing.subscribed()) == 17
    chidi = listing.by_address()["chidi.okafor@example.org"]
    assert (chidi.name, chidi.topics, chidi.row) == ("Okafor, Chidi", frozenset({"finding"}), 5)
    assert listing.by_address()["amelia.hart@example.org"].topics == subscribers.ALL_TOPICS


@pytest.mark.parametrize("bom", [False, True])
def test_utf8_with_or_without_bom(tmp_path: Path, bom: bool) -> None:
    listing = subscribers.read(
        write(tmp_path, "email,name\nzoe@example.com,Zoë Brightwater\n", bom)
    )
    (zoe,) = listing.subscribers
    assert zoe.email == "zoe@example.com" and zoe.name == "Zoë Brightwater"


def test_not_utf8_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"email,name\na@example.org,Ann\nb@example.org,Zo\xeb\n")
    with pytest.raises(SubscriberError, match=r"list.csv:3: not UTF-8"):
        subscribers.read(path)


def test_normalisation_strips_and_lowercases_the_domain_only() -> None:
    assert subscribers.normalise("  Ann.Lee@Example.ORG ") == "Ann.Lee@example.org"


def test_duplicates_after_normalisation_are_sent_once_and_reported(tmp_path: Path) -> None:
    text = "email,name\nann@example.org,Ann\n ann@EXAMPLE.org ,Ann again\nAnn@example.org,Other\n"
    listing = subscribers.read(write(tmp_path, text))
    assert [s.normalised for s in listing.subscribers] == ["ann@example.org", "Ann@example.org"]
    (duplicate,) = listing.duplicates
    assert (
        duplicate.line == 3
        and duplicate.severity == "warning"
        and "repeats row 2" in str(duplicate)
    )


def test_bad_rows_are_reported_with_their_row_numbers(tmp_path: Path) -> None:
    text = (
        "email,name,status,topics,consent_at\n"
        "good@example.org,Good,subscribed,event,2021-01-01T00:00:00Z\n"
        "not an address,Bad,subscribed,,\n"
        "s@example.org,S,paused,,\n"
        "t@example.org,T,subscribed,podcasts,\n"
        '"n@example.org","Line\nbreak",subscribed,,\n'
        "c@example.org,C,subscribed,,yesterday\n"
        ",Nobody,subscribed,,\n"
    )
    listing = subscribers.read(write(tmp_path, text))
    assert [s.email for s in listing.subscribers] == ["good@example.org"]
    found = {p.line: p.message for p in listing.problems}
    assert "invalid email 'not an address'" in found[3]
    assert "unknown status 'paused'" in found[4]
    assert "unknown topic(s) podcasts" in found[5]
    assert "line break" in found[6]
    assert "consent_at 'yesterday'" in found[8]
    assert "empty email" in found[9]


def test_a_missing_email_column_aborts(tmp_path: Path) -> None:
    with pytest.raises(SubscriberError, match=r"list.csv:1: no 'email' column"):
        subscribers.read(write(tmp_path, "mail,name\na@example.org,A\n"))


def test_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SubscriberError, match="--subscribers"):
        subscribers.read(tmp_path / "nope.csv")


def test_unknown_columns_are_a_warning_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    listing = subscribers.read(write(tmp_path, "email,shoe_size\n\na@example.org,9\n"))
    assert len(listing.subscribers) == 1
    (warning,) = listing.problems
    assert warning.severity == "warning" and "shoe_size" in warning.message
