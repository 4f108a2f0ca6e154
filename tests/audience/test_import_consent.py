"""`subscribers import` names the rows it adds with no evidence of consent."""

from __future__ import annotations

from pathlib import Path

import pytest

from innovate_news import api
from innovate_news.audience.imports import NAMED
from innovate_news.settings import Settings
from tests.support.listservice import SECRET, configure, write_list
from tests.support.servers import free_port

MAILCHIMP = "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LAST_CHANGED,LEID,EUID,NOTES,TAGS"  # noqa: E501
PLAIN = "email,name,status,topics,consent_at,consent_source"


@pytest.fixture
def listed(project: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("INNOVATE_NEWS_SECRET", SECRET)
    settings = configure(project, free_port())
    write_list(
        project,
        [
            "amelia.hart@example.org,Amelia Hart,subscribed,,2020-03-05T09:12:00Z,web form",
            "ben.okoro@example.com,Ben Okoro,subscribed,,,sheet",
        ],
    )
    return settings


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_mailchimp_rows_without_optin_or_confirm_time_are_named(
    listed: Settings, tmp_path: Path
) -> None:
    export = write(tmp_path / "subscribed_members_export.csv", [
        MAILCHIMP,
        'opted@example.org,Opt,In,2,"2021-05-01 10:00:00",,,,,1,a,,',
        'confirmed@example.org,Con,Firmed,2,,,"2021-05-01 10:05:00",1.2.3.4,,2,b,,',
        "bare@example.org,Bare,Row,2,,,,,,3,c,,",
        "amelia.hart@example.org,Amelia,Hart,2,,,,,,4,d,,",  # the list has her consent
    ])  # fmt: skip
    report = api.import_subscribers(listed, [export])
    assert report.added == 3
    assert report.no_consent == [f"{export}:4 bare@example.org"]
    assert f"1 row(s) without consent evidence (no consent time): {export}:4 bare@example.org" in (
        report.line()
    )


def test_plain_rows_without_consent_at_are_named_on_a_dry_run_too(
    listed: Settings, tmp_path: Path
) -> None:
    plain = write(tmp_path / "sheet.csv", [
        PLAIN,
        "with@example.org,With,subscribed,,2022-01-01T00:00:00Z,paper form",
        "without@example.org,Without,subscribed,,,paper form",
        "ben.okoro@example.com,Ben Okoro,subscribed,,,sheet",  # none on the list either
        "left@example.org,Left,unsubscribed,,,",  # leavers need no consent
    ])  # fmt: skip
    dry = api.import_subscribers(listed, [plain], dry_run=True)
    assert dry.no_consent == [f"{plain}:3 without@example.org", f"{plain}:4 ben.okoro@example.com"]
    assert "2 row(s) without consent evidence" in dry.line()
    done = api.import_subscribers(listed, [plain])
    assert done.no_consent == dry.no_consent


def test_a_long_list_of_rows_is_counted_past_the_first_few(
    listed: Settings, tmp_path: Path
) -> None:
    rows = [f"p{i:03d}@example.org,P,subscribed,,," for i in range(NAMED + 5)]
    report = api.import_subscribers(listed, [write(tmp_path / "many.csv", [PLAIN, *rows])])
    assert len(report.no_consent) == NAMED + 5
    line = report.line()
    assert f"{NAMED + 5} row(s) without consent evidence" in line and "and 5 more" in line
    assert "p019@example.org" in line and "p020@example.org" not in line
