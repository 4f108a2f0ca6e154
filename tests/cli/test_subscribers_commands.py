"""`innovate-news subscribers import|export|unsubscribe|erase|show|sync` through the CLI."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from innovate_news.audience import subscribers
from innovate_news.audience.listfile import encode_row
from innovate_news.audience.signups import Signups
from innovate_news.settings import Settings
from innovate_news.store.ledger import Ledger
from tests.support.listservice import SECRET, configure, write_list
from tests.support.servers import free_port

Run = Callable[..., Result]
MAILCHIMP = "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LAST_CHANGED,LEID,EUID,NOTES,TAGS"  # noqa: E501


@pytest.fixture
def listed(project: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    settings = configure(project, free_port())
    write_list(
        project,
        [
            "amelia.hart@example.org,,subscribed,,2020-03-05T09:12:00Z,web form",
            "ed.marsh@example.net,Ed Marsh,unsubscribed,,,web form",
            "fatima@example.org,Fatima Rahman,subscribed,finding;blog,,web form",
        ],
    )
    return settings


def people(settings: Settings) -> dict[str, subscribers.Subscriber]:
    listing = subscribers.read(settings.root / "subscribers.csv")
    assert not listing.problems and not listing.duplicates
    return listing.by_address()


def suppressions(settings: Settings) -> dict[str, str]:
    with Ledger.open(settings) as ledger:
        return {s.address: s.reason for s in ledger.suppressions()}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_command_has_help(run: Run) -> None:
    for name in ("import", "export", "unsubscribe", "erase", "show", "sync"):
        result = run("subscribers", name, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "one-click" in run("serve", "--help").output


def test_mailchimp_exports_merge_and_their_leavers_become_suppressions(
    listed: Settings, run: Run, tmp_path: Path
) -> None:
    subscribed = write(tmp_path / "subscribed_members_export.csv", [
        MAILCHIMP,
        'amelia.hart@example.org,Amelia,Hart,2,"2019-01-01 10:00:00",,,,,1,a,,',
        'New.One@Example.ORG,New,One,2,"2021-05-01 10:00:00",,"2021-05-01 10:05:00",1.2.3.4,,2,b,,',
        "ed.marsh@example.net,Ed,Marsh,2,,,,,,3,c,,",
    ])  # fmt: skip
    unsubscribed = write(tmp_path / "unsubscribed_members_export.csv", [
        MAILCHIMP + ",UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON",
        "gone@example.org,Gone,Away,1,,,,,,4,d,,,2022-01-01 00:00:00,Spring,x,NORMAL",
        "fatima@example.org,Fatima,Rahman,1,,,,,,5,e,,,2022-01-01 00:00:00,Spring,x,NORMAL",
    ])  # fmt: skip
    cleaned = write(tmp_path / "cleaned_members_export.csv", [
        MAILCHIMP + ",CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID",
        "bounce@example.org,Bo,Unce,1,,,,,,6,f,,,2022-02-01 00:00:00,Spring,x",
    ])  # fmt: skip
    result = run("subscribers", "import", str(subscribed), str(unsubscribed), str(cleaned))
    assert result.exit_code == 0, result.output
    assert "1 added, 2 updated" in result.output and "1 kept out" in result.output
    found = people(listed)
    assert set(found) == {"amelia.hart@example.org", "ed.marsh@example.net",
                          "fatima@example.org", "New.One@example.org"}  # fmt: skip
    assert found["amelia.hart@example.org"].name == "Amelia Hart"  # a blank filled in
    assert found["amelia.hart@example.org"].consent_at == "2020-03-05T09:12:00Z"  # kept
    assert found["ed.marsh@example.net"].status == "unsubscribed"  # never resubscribed
    assert found["fatima@example.org"].status == "unsubscribed"
    new = found["New.One@example.org"]
    assert (new.name, new.consent_at) == ("New One", "2021-05-01T10:05:00Z")
    assert new.consent_source == "Mailchimp import (double opt-in)"
    assert suppressions(listed) == {"gone@example.org": "unsubscribed",
        "fatima@example.org": "unsubscribed", "bounce@example.org": "bounced"}  # fmt: skip
    # An older export that still lists the leavers as subscribed brings nobody back.
    stale = write(tmp_path / "old.csv", [MAILCHIMP, "gone@example.org,Gone,Away,1,,,,,,4,d,,"])
    again = run("subscribers", "import", str(stale))
    assert "0 added" in again.output and "1 kept out" in again.output
    assert "gone@example.org" not in people(listed)


def test_a_plain_csv_import_checks_rows_and_never_resubscribes(
    listed: Settings, run: Run, tmp_path: Path
) -> None:
    assert run("subscribers", "unsubscribe", "Left@Example.ORG").exit_code == 0
    source = write(tmp_path / "more.csv", [
        "email,name,topics",
        "left@example.org,Left Again,",
        "fresh@example.org,Fresh,event",
        "not-an-address,Broken,",
    ])  # fmt: skip
    refused = run("subscribers", "import", str(source))
    assert refused.exit_code == 1 and "more.csv:4: invalid email" in refused.output
    dry = run("subscribers", "import", str(source), "--skip-invalid", "--dry-run")
    assert dry.exit_code == 0 and "would have 1 added" in dry.output
    assert "fresh@example.org" not in people(listed)
    done = run("subscribers", "import", str(source), "--skip-invalid")
    assert done.exit_code == 0 and "1 added" in done.output and "1 kept out" in done.output
    found = people(listed)
    assert found["fresh@example.org"].topics == {"event"}
    assert "left@example.org" not in found


def test_erase_removes_the_person_and_a_later_import_cannot_bring_them_back(
    listed: Settings, run: Run, tmp_path: Path
) -> None:
    address = "fatima@example.org"
    with Ledger.open(listed) as ledger:
        ledger.add("2023-06-summer-update", [address, "amelia.hart@example.org"])
        ledger.suppress(address, "bounced", "test")
    with Signups.open(listed) as signups:
        signups.add(address, "Fatima", "", ("v1", "I agree."), dt.datetime.now(dt.UTC))
    copy = listed.folder("outbox") / "2023-06-summer-update" / f"{address}.eml"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"To: fatima@example.org\r\n\r\nHello\r\n")
    before = json.loads(run("subscribers", "show", address).output)
    assert before["subscriber_list"]["rows"][0]["name"] == "Fatima Rahman"
    assert len(before["deliveries"]) == 1 and len(before["signups"]) == 1
    assert before["outbox_files"] == ["outbox/2023-06-summer-update/fatima@example.org.eml"]

    assert run("subscribers", "erase", address).exit_code == 2  # asks first, --yes to skip
    result = run("subscribers", "erase", address, "--yes")
    assert result.exit_code == 0, result.output
    assert "1 list row(s), 1 sign-up(s), 2 ledger row(s)" in result.output
    after = json.loads(run("subscribers", "show", address).output)
    assert after["erased"] is True
    assert not any(after[k] for k in ("deliveries", "test_sends", "signups", "suppressions"))
    assert after["subscriber_list"]["rows"] == [] and after["outbox_files"] == []
    assert not copy.exists()
    with Ledger.open(listed) as ledger:
        assert address not in ledger.states("2023-06-summer-update")
        assert len(ledger.states("2023-06-summer-update")) == 2  # the row stays, pseudonymised
        assert not any(address in s.address for s in ledger.suppressions())
    assert address.encode() not in (listed.folder("state") / "ledger.sqlite3").read_bytes()

    comeback = write(tmp_path / "comeback.csv", ["email,name", f"{address},Fatima Rahman"])
    again = run("subscribers", "import", str(comeback))
    assert "0 added" in again.output and "1 kept out" in again.output
    assert address not in people(listed)


FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)", "\tTabbed", "\rReturn"]


def test_export_neutralises_formulas_and_quotes_every_field(
    listed: Settings, run: Run, tmp_path: Path
) -> None:
    cells = [
        [f"f{i}@example.org", name, "subscribed", "", "", ""] for i, name in enumerate(FORMULAS)
    ]
    rows = [encode_row(c).rstrip("\n") for c in cells]
    rows += ['quote@example.org,"Smith, ""Jo""",subscribed,,,', "amelia.hart@example.org,,,,,"]
    write_list(listed.root, rows)
    run("subscribers", "unsubscribe", "amelia.hart@example.org")
    out = tmp_path / "export.csv"
    result = run("subscribers", "export", "--out", str(out))
    assert result.exit_code == 0 and "Wrote 8 row(s)" in result.output
    data = out.read_bytes().decode("utf-8")
    assert data.count("\r\n") == 9 and "\n" not in data.replace("\r\n", "").replace("\r'", "")
    assert all(line.startswith('"') for line in data.split("\r\n") if line)
    records = list(csv.reader(io.StringIO(data, newline="")))
    assert records[0] == ["email", "name", "status", "topics", "consent_at", "consent_source"]
    names = [r[1] for r in records[1:]]
    assert names[: len(FORMULAS)] == ["'" + f for f in FORMULAS]
    assert names[len(FORMULAS)] == 'Smith, "Jo"'
    assert records[-1][2] == "unsubscribed"  # the suppression wins
    only = run("subscribers", "export", "--subscribed-only").stdout_bytes
    assert b"amelia.hart" not in only and only.count(b"\r\n") == 8


def test_sync_writes_suppressions_into_the_status_column(listed: Settings, run: Run) -> None:
    path = listed.root / "subscribers.csv"
    before = path.read_bytes()
    with Ledger.open(listed) as ledger:
        ledger.suppress("amelia.hart@example.org", "bounced", "test")
        ledger.suppress("fatima@example.org", "complained", "test")
        ledger.suppress("ed.marsh@example.net", "bounced", "test")  # already unsubscribed
    result = run("subscribers", "sync")
    assert result.exit_code == 0 and "2 row(s) updated" in result.output
    lines, old = path.read_bytes().splitlines(), before.splitlines()
    assert lines[1] == old[1].replace(b",subscribed,", b",bounced,")
    assert lines[2] == old[2]  # untouched rows are kept byte for byte
    assert lines[3] == old[3].replace(b",subscribed,", b",unsubscribed,")
    assert "0 row(s) updated" in run("subscribers", "sync").output


def test_unsubscribe_suppresses_once(listed: Settings, run: Run) -> None:
    first = run("subscribers", "unsubscribe", "fatima@example.org")
    assert first.exit_code == 0 and "is unsubscribed" in first.output
    assert "already" in run("subscribers", "unsubscribe", "fatima@example.org").output
    assert suppressions(listed) == {"fatima@example.org": "unsubscribed"}
    assert run("subscribers", "unsubscribe", "no-at-sign").exit_code == 2


def test_an_erased_person_typed_back_into_the_list_is_not_mailed(
    listed: Settings, run: Run
) -> None:
    address = "fatima@example.org"
    assert run("subscribers", "erase", address, "--yes").exit_code == 0
    csv_path = listed.root / "subscribers.csv"
    with csv_path.open("a", encoding="utf-8") as handle:  # an old copy of the list, pasted back
        handle.write(f"{address},Fatima Rahman,subscribed,,,hand edit\n")
    assert address in people(listed)
    result = run("send", "latest", "--provider", "outbox", "--yes")
    assert result.exit_code == 0, result.output
    outbox = listed.folder("outbox")
    sent = {p.name for p in outbox.rglob("*.eml")}
    assert sent and not any(address in name for name in sent)
    assert "amelia.hart@example.org.eml" in sent


def both_spellings(settings: Settings) -> None:
    write_list(
        settings.root,
        [
            "Fatima.R@Example.org,Fatima Rahman,subscribed,,,web form",
            "amelia.hart@example.org,,subscribed,,,web form",
            "fatima.r@example.ORG,Fatima again,subscribed,,,import",
        ],
    )


def test_unsubscribing_one_spelling_stops_every_spelling(listed: Settings, run: Run) -> None:
    both_spellings(listed)
    assert run("subscribers", "unsubscribe", "FATIMA.R@example.org").exit_code == 0
    result = run("send", "latest", "--provider", "outbox", "--yes")
    assert result.exit_code == 0, result.output
    assert "1 suppressed" in result.output and "1 duplicates" in result.output
    sent = {p.name for p in listed.folder("outbox").rglob("*.eml")}
    assert sent == {"amelia.hart@example.org.eml"}
    assert run("subscribers", "sync").exit_code == 0
    rows = csv.DictReader(io.StringIO((listed.root / "subscribers.csv").read_text()))
    assert [r["status"] for r in rows] == ["unsubscribed", "subscribed", "unsubscribed"]


def test_erasing_one_spelling_erases_every_spelling(listed: Settings, run: Run) -> None:
    both_spellings(listed)
    issue = "2023-06-summer-update"
    with Ledger.open(listed) as ledger:
        ledger.add(issue, ["Fatima.R@example.org", "amelia.hart@example.org"])
        ledger.suppress("FATIMA.R@example.org", "bounced", "test")
    outbox = listed.folder("outbox") / issue
    copies = [outbox / "Fatima.R@example.org.eml", outbox / "test" / "FATIMA.R@example.org.eml"]
    for copy in copies:
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(b"To: Fatima.R@example.org\r\n\r\nHello\r\n")
    before = json.loads(run("subscribers", "show", "fatima.r@EXAMPLE.org").output)
    assert [r["row"] for r in before["subscriber_list"]["rows"]] == [2, 4]
    assert len(before["outbox_files"]) == 2 and len(before["deliveries"]) == 1

    result = run("subscribers", "erase", "fatima.r@example.org", "--yes")
    assert result.exit_code == 0, result.output
    assert "2 list row(s)" in result.output and "2 outbox file(s)" in result.output
    assert not any(copy.exists() for copy in copies)
    assert list(people(listed)) == ["amelia.hart@example.org"]
    for spelling in ("Fatima.R@Example.org", "fatima.r@example.org"):
        after = json.loads(run("subscribers", "show", spelling).output)
        assert after["erased"] is True and after["subscriber_list"]["rows"] == []
        assert not any(after[k] for k in ("deliveries", "suppressions", "outbox_files"))
    data = (listed.folder("state") / "ledger.sqlite3").read_bytes().lower()
    assert b"fatima.r@example.org" not in data


def test_an_import_matches_any_spelling_and_keeps_the_address_as_written(
    listed: Settings, run: Run, tmp_path: Path
) -> None:
    source = write(
        tmp_path / "more.csv",
        ["email,name", "FATIMA@example.org,Fatima R", "New.Person@Example.ORG,New Person"],
    )
    result = run("subscribers", "import", str(source))
    assert result.exit_code == 0 and "1 added" in result.output, result.output
    found = subscribers.read(listed.root / "subscribers.csv").by_key()
    assert found["fatima@example.org"].email == "fatima@example.org"  # the list's own spelling
    assert found["new.person@example.org"].email == "New.Person@example.org"
