"""The ledger's statements for one batch of hand-overs: marking its rows `sending` before, and
recording what the provider said after.

One statement per batch, not one per address: on PostgreSQL each statement is a round trip.
The addresses come as a VALUES list joined to the rows, whose columns both backends name
column1, column2...
"""

from __future__ import annotations

from collections.abc import Sequence


def marking(
    issue: str, rows: dict[str, str], provider: str, now: str, allowed: Sequence[str]
) -> tuple[str, tuple[str, ...]]:
    """`begin`'s UPDATE of `rows` (key -> version digest) and its parameters."""
    sql = (
        "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, provider = ?, "  # noqa: S608 (placeholders only)
        "updated_at = ?, version = COALESCE(NULLIF(v.column2, ''), version) FROM (VALUES "
        f"{','.join(['(?, ?)'] * len(rows))}) AS v WHERE deliveries.issue = ? AND "
        f"deliveries.address = v.column1 AND deliveries.state IN ({','.join('?' * len(allowed))})"
        " AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.address = deliveries.address "
        "COLLATE NOCASE) RETURNING address"
    )
    return sql, (provider, now, *(cell for row in rows.items() for cell in row), issue, *allowed)


def recording(
    issue: str, rows: Sequence[tuple[str, str, str, str]], now: str
) -> tuple[str, tuple[str, ...]]:
    """`finish`'s UPDATE of `rows` (key, state, provider id, error) and its parameters."""
    sql = (
        "UPDATE deliveries SET state = v.column2, provider_id = v.column3, "  # noqa: S608 (placeholders only)
        "last_error = v.column4, updated_at = ?, sent_at = CASE WHEN v.column2 = 'sent' THEN ? "
        f"ELSE sent_at END FROM (VALUES {','.join(['(?, ?, ?, ?)'] * len(rows))}) AS v "
        "WHERE deliveries.issue = ? AND deliveries.address = v.column1 AND "
        "(deliveries.state = 'sending') IS TRUE"
    )
    # "IS TRUE" is for PostgreSQL's planner: its statistics say almost no row is "sending"
    # (a snapshot's rows were counted while all pending), so it would find the issue's rows
    # first and compare each with every VALUES row; unsure of the filter, it looks up each
    # VALUES row in the primary key instead (a third of the time at 50 rows).
    cells = (cell for row in rows for cell in row)
    return sql, (now, now, *cells, issue)
