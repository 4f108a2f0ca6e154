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
    assert chidi.first_name == "Chidi"  # the greeting's, not guessed from "Okafor, Chidi"
    assert all(s.first_name for s in listing.subscribers)
    assert listing.by_address()["amelia.hart@example.org"].topics == subscribers.ALL_TOPICS


@pytest.mark.parametrize("bom", [False, True])
def test_utf8_with_or_without_bom(tmp_path: Path, bom: bool) -> None:
    listing = subscribers.read(
        write(tmp_path, "email,name\nzoe@example.com,Zoë Brightwater\n", bom)
    )
    (zoe,) = listing.subscribers
    assert zoe.email == "zoe@example.com" and zoe.name == "Zoë Brightwater"


def test_a_row_that_is_not_utf8_is_an_error_for_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(
        b"email,name\na@example.org,Ann\nb@example.org,Zo\xeb\n"
        b'c@example.org,"Two\r\nlines \xff"\r\nd@example.org,Dee\r\n'
    )
    listing = subscribers.read(path)
    assert [s.email for s in listing.subscribers] == ["a@example.org", "d@example.org"]
    assert [str(p) for p in listing.problems] == [
        f"{path}:3: not UTF-8; save the list as UTF-8 CSV",
        f"{path}:4: not UTF-8; save the list as UTF-8 CSV",
    ]
    assert listing.subscribers[1].row == 6  # rows keep counting lines after a multi-line row


def test_a_header_that_is_not_utf8_is_an_error_for_the_file(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"email,n\xe4me\na@example.org,Ann\n")
    with pytest.raises(SubscriberError, match=r"list.csv:1: the header row is not UTF-8"):
        subscribers.read(path)


def test_lines_may_end_in_a_lone_cr(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"email,name\ra@example.org,Ann\rb@example.org,Ben")
    listing = subscribers.read(path)
    assert [(s.email, s.row) for s in listing.subscribers] == [
        ("a@example.org", 2),
        ("b@example.org", 3),
    ]


def test_a_stray_quote_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    text = 'email,name\na@example.org,"open\n' + "x" * 140_000 + "\n"
    with pytest.raises(SubscriberError, match=r"not readable as CSV .*check the quotes"):
        subscribers.read(write(tmp_path, text))


def test_normalisation_strips_and_lowercases_the_whole_address() -> None:
    assert subscribers.normalise("  Ann.Lee@Example.ORG ") == "ann.lee@example.org"
    assert subscribers.tidy("  Ann.Lee@Example.ORG ") == "Ann.Lee@example.org"


def test_the_ledger_files_addresses_by_the_same_rule() -> None:
    from innovate_news.store.casefold import key

    for address in (" Ann.Lee@Example.ORG", "A@EXAMPLE.org", "x@example.org"):
        assert key(address) == subscribers.normalise(address)


def test_duplicates_in_any_case_are_sent_once_and_reported_with_both_rows(
    tmp_path: Path,
) -> None:
    text = (
        "email,name\nAnn@Example.org,Ann\n ann@EXAMPLE.org ,Ann again\n"
        "ANN@example.org,Other\nben@example.org,Ben\n"
    )
    listing = subscribers.read(write(tmp_path, text))
    (ann, ben) = listing.subscribers
    assert (ann.email, ann.normalised, ann.key) == (
        "Ann@Example.org",
        "Ann@example.org",  # the copy goes to the address as written (domain tidied)
        "ann@example.org",
    )
    assert listing.by_key()["ann@example.org"] is listing.by_address()["Ann@example.org"] is ann
    assert ben.row == 5
    assert [(d.line, d.severity) for d in listing.duplicates] == [(3, "warning"), (4, "warning")]
    assert str(listing.duplicates[1]).endswith(
        "list.csv:4: warning: ANN@example.org repeats row 2 (Ann@Example.org): one mailbox, so "
        "it is sent once, to row 2"
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


@pytest.mark.parametrize(
    ("cell", "code"),
    [("V\x0bT", "000B"), ("F\x0cF", "000C"), ("\x1b[31mRed", "001B"), ("D\x7fL", "007F"),
     ("N\x85L", "0085"), ("C\x9bI", "009B"), ("Ann\x01", "0001"), ("Ann\x0b", "000B")],
)  # fmt: skip
def test_a_control_character_in_a_name_is_an_error_for_its_row(
    tmp_path: Path, cell: str, code: str
) -> None:
    text = f"email,name\na@example.org,Ann\nb@example.org,{cell}\nc@example.org,Cy\tCo\n"
    listing = subscribers.read(write(tmp_path, text))
    assert [s.email for s in listing.subscribers] == ["a@example.org", "c@example.org"]
    (problem,) = listing.problems
    assert str(problem).endswith(
        f"list.csv:3: the name of b@example.org contains the control character U+{code}; remove it"
    )


def test_a_control_character_in_any_column_is_an_error(tmp_path: Path) -> None:
    text = (
        "email,name,status,topics,consent_at,consent_source\n"
        "a@example.org\x0c,A,,,,\n"
        "b@example.org,B,subscribed\x1b,,,\n"
        "c@example.org,C,,event\x0b,,\n"
        "d@example.org,D,,,,web form\x7f\n"
    )
    listing = subscribers.read(write(tmp_path, text))
    assert listing.subscribers == ()
    found = {p.line: p.message for p in listing.problems}
    assert "the email of a@example.org contains the control character U+000C" in found[2]
    assert "the status of b@example.org contains the control character U+001B" in found[3]
    assert "the topics of c@example.org contains the control character U+000B" in found[4]
    assert "the consent_source of d@example.org" in found[5]


def test_only_addresses_the_newsletter_can_write_pass(tmp_path: Path) -> None:
    text = "email\nzoë@example.org\na@bücher.example\nok@xn--bcher-kva.example\n"
    listing = subscribers.read(write(tmp_path, text))
    assert [s.email for s in listing.subscribers] == ["ok@xn--bcher-kva.example"]
    found = {p.line: p.message for p in listing.problems}
    assert "Internationalized characters before the @-sign are not supported" in found[2]
    assert "write the domain in its ASCII form: xn--bcher-kva.example" in found[3]
