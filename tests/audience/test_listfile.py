"""The subscriber CSV as a file: untouched rows kept byte for byte, locked appends, crash safety."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from innovate_news.audience import subscribers
from innovate_news.audience.listfile import ListFile, encode_row, parse
from innovate_news.errors import SubscriberError
from tests.support import crashes

ORIGINAL = (
    "\ufeffEmail,Name,status,topics,consent_at,consent_source,notes\r\n"
    'amelia@example.org,"Hart, Amelia",subscribed,,2020-03-05T09:12:00Z,web form,"two\r\nlines"\r\n'
    "ben@example.com,Ben,subscribed,event,,sheet,\r\n"
)


def listfile(tmp_path: Path, text: str = ORIGINAL) -> ListFile:
    path = tmp_path / "subscribers.csv"
    path.write_bytes(text.encode("utf-8"))
    return ListFile(path, tmp_path / "locks")


def test_a_rewrite_keeps_untouched_rows_byte_for_byte(tmp_path: Path) -> None:
    lf = listfile(tmp_path)
    table = lf.read()
    assert table.bom and table.newline == "\r\n"
    assert [table.address(r) for r in table.rows] == ["amelia@example.org", "ben@example.com"]
    rows = list(table.rows)
    rows[1] = table.changed(rows[1], {"status": "unsubscribed"})
    assert table.changed(rows[0], {"status": "subscribed"}) is rows[0]  # no change, same row
    lf.write(table.replace_rows(rows))
    data = lf.path.read_bytes().decode("utf-8")  # no newline translation
    assert data == ORIGINAL.replace("event,,sheet", "X").replace(
        "ben@example.com,Ben,subscribed,X", "ben@example.com,Ben,unsubscribed,event,,sheet"
    )


def test_an_append_adds_one_whole_row_after_a_last_line_without_its_end(tmp_path: Path) -> None:
    lf = listfile(tmp_path, "email,name\nfirst@example.org,First")
    lf.append([{"email": "second@example.org", "name": "Second, Jr"}])
    assert lf.path.read_text(encoding="utf-8") == (
        'email,name\nfirst@example.org,First\nsecond@example.org,"Second, Jr"\n'
    )


def test_an_append_that_needs_a_new_column_rewrites_with_it(tmp_path: Path) -> None:
    lf = listfile(tmp_path, "email\nfirst@example.org\n")
    lf.append([{"email": "new@example.org", "consent_at": "2024-01-01T00:00:00Z"}])
    listing = subscribers.read(lf.path)
    assert not listing.problems
    assert listing.by_address()["new@example.org"].consent_at == "2024-01-01T00:00:00Z"
    assert lf.path.read_text(encoding="utf-8").splitlines()[0] == "email,consent_at"


def test_a_missing_list_is_created_with_the_standard_columns(tmp_path: Path) -> None:
    lf = ListFile(tmp_path / "new.csv", tmp_path / "locks")
    lf.append([{"email": "first@example.org", "status": "subscribed"}])
    assert lf.path.read_text(encoding="utf-8") == (
        "email,name,status,topics,consent_at,consent_source\nfirst@example.org,,subscribed,,,\n"
    )
    assert not lf.path.stat().st_mode & 0o077  # personal data: the owner's only


def test_a_list_without_an_email_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SubscriberError, match="no 'email' column"):
        listfile(tmp_path, "name,status\nA,subscribed\n").read()


def test_encode_row_quotes_as_rfc_4180_says() -> None:
    assert encode_row(["a", 'say "hi"', "x,y", "two\nlines"], "\r\n") == (
        'a,"say ""hi""","x,y","two\nlines"\r\n'
    )


WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from innovate_news.audience.listfile import ListFile

    path, locks, name, count, mode = sys.argv[1:6]
    lf = ListFile(Path(path), Path(locks))
    for i in range(int(count)):
        if mode == "append":
            lf.append([{"email": f"{name}-{i}@example.org", "name": name}])
        else:
            with lf.locked() as editor:
                table = editor.read()
                row = table.make({"email": f"{name}-{i}@example.org", "name": name})
                editor.write(table.replace_rows([*table.rows, row]))
    """
)


def run_worker(
    lf: ListFile, name: str, count: int, mode: str, crash: str | None = None
) -> subprocess.Popen[bytes]:
    """A process running WORKER; with `crash`, it dies there (see tests.support.crashes)."""
    args = ["-c", WORKER, str(lf.path), str(lf.lock_path.parent), name, str(count), mode]
    return subprocess.Popen(crashes.command(crash, *args) if crash else [sys.executable, *args])


def test_processes_appending_and_rewriting_at_once_lose_no_row(tmp_path: Path) -> None:
    lf = listfile(tmp_path, "email,name\n")
    workers = [run_worker(lf, f"a{n}", 40, "append") for n in range(4)]
    workers += [run_worker(lf, f"w{n}", 15, "rewrite") for n in range(2)]
    assert [w.wait(timeout=120) for w in workers] == [0] * 6
    listing = subscribers.read(lf.path)
    assert not listing.problems and not listing.duplicates
    assert len(listing.subscribers) == 4 * 40 + 2 * 15


def test_a_crash_in_the_middle_of_a_rewrite_leaves_the_old_list(tmp_path: Path) -> None:
    lf = listfile(tmp_path, "email,name\n" + "".join(f"r{i}@example.org,R\n" for i in range(500)))
    before = lf.path.read_bytes()
    worker = run_worker(lf, "crash", 1, "rewrite", crash="mid_rewrite")
    assert worker.wait(timeout=60) == crashes.CRASH_EXIT
    assert lf.path.read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers  # the half-written temp file is there, proving the crash came mid-write
    lf.append([{"email": "after@example.org"}])  # the next writer clears it away
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    listing = subscribers.read(lf.path)
    assert not listing.problems and len(listing.subscribers) == 501


def test_a_crash_after_an_append_leaves_a_valid_list(tmp_path: Path) -> None:
    lf = listfile(tmp_path, "email,name\nfirst@example.org,First\n")
    worker = run_worker(lf, "crash", 3, "append", crash="after_append")
    assert worker.wait(timeout=60) == crashes.CRASH_EXIT
    listing = subscribers.read(lf.path)
    assert not listing.problems
    assert [s.email for s in listing.subscribers] == ["first@example.org", "crash-0@example.org"]


def test_lookup_follows_changes_on_disk(tmp_path: Path) -> None:
    lf = listfile(tmp_path)
    found = lf.lookup("ben@example.com")
    assert found is not None and found[0].get(found[1], "topics") == "event"
    assert lf.lookup("new@example.org") is None
    lf.append([{"email": "new@example.org", "name": "New"}])
    found = lf.lookup("new@example.org")
    assert found is not None and found[0].get(found[1], "name") == "New"


def test_a_control_character_in_a_cell_does_not_split_its_row(tmp_path: Path) -> None:
    path = tmp_path / "subscribers.csv"
    text = (
        "email,name,status\r\nv@example.org,Vee\x0bTab\x0cFeed,subscribed\r\nw@example.org,W,\r\n"
    )
    path.write_bytes(text.encode("utf-8"))
    table = parse(path, path.read_bytes())
    assert [row.cells[:2] for row in table.rows] == [
        ("v@example.org", "Vee\x0bTab\x0cFeed"),
        ("w@example.org", "W"),
    ]
