"""A rewrite of the subscriber CSV keeps the file's mode, whatever the umask."""

from __future__ import annotations

from pathlib import Path

import pytest

from innovate_news.audience.listfile import ListFile
from tests.support import mode

HEADER = "email,name,status,topics,consent_at,consent_source\n"
ROW = "amelia.hart@example.org,Amelia Hart,subscribed,,2020-03-05T09:12:00Z,web form\n"


@pytest.mark.parametrize("before", [0o640, 0o600, 0o660, 0o644])
def test_a_rewrite_keeps_the_lists_mode(tmp_path: Path, umask: int, before: int) -> None:
    path = tmp_path / "subscribers.csv"
    path.write_text(HEADER + ROW, encoding="utf-8")
    path.chmod(before)
    listfile = ListFile(path, tmp_path / "state" / "locks")
    table = listfile.read()
    listfile.write(table.with_columns(("first_name",)))  # a real rewrite: a new column
    assert path.read_text(encoding="utf-8").startswith(HEADER.rstrip("\n") + ",first_name")
    assert mode(path) == before
    assert not list(tmp_path.glob(".subscribers.csv.*.tmp"))


def test_a_list_created_by_the_service_is_owner_only(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "subscribers.csv"
    listfile = ListFile(path, tmp_path / "state" / "locks")
    listfile.append([{"email": "new@example.org", "status": "subscribed"}])
    assert mode(path) == 0o600
    assert mode(tmp_path / "state") == mode(tmp_path / "state" / "locks") == 0o700
