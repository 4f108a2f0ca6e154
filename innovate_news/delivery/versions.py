"""An issue edited after part of the list has it: what changed, said before anyone else gets it.

The ledger keeps the version (store.versions.Version) each copy went out in. A run whose
rendering of a variant differs from the version its last copies went out in is refused unless
the sender accepts the change (`--accept-changes`); these are the words that explain why.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from innovate_news.store.versions import Version

SHOWN_LINES = 8  # changed lines of the text part shown; the rest are counted


@dataclass(frozen=True)
class Change:
    """A variant whose rendering now differs from the one its copies went out in."""

    before: Version
    after: Version

    def lines(self) -> list[str]:
        before, after = self.before, self.after
        since = before.first_at[:16].replace("T", " ")
        out = [
            f"Variant {after.variant}: went out as {before.digest[:10]} from {since} UTC; "
            f"it is now {after.digest[:10]}."
        ]
        out.append("  subject:   " + _compare(before.subject, after.subject))
        out.append("  preheader: " + _compare(before.preheader, after.preheader))
        if before.text != after.text:
            out.extend(_text_changes(before.text, after.text))
        elif (before.subject, before.preheader) != (after.subject, after.preheader):
            out.append("  body:      unchanged")
        else:  # the digest covers the HTML part too: a template or style change alters it alone
            out.append("  body:      the HTML part changed (the text part did not)")
        return out


def changes(recorded: Mapping[str, Version], current: Mapping[str, Version]) -> tuple[Change, ...]:
    """The variants of this run whose rendering differs from the one recorded for them."""
    return tuple(
        Change(recorded[key], version)
        for key, version in sorted(current.items())
        if key in recorded and recorded[key].digest != version.digest
    )


def refusal(issue: str, found: tuple[Change, ...]) -> str:
    """Why a run stops before sending anything, and what to do."""
    lines = [f"{issue} changed after copies of it went out:"]
    for change in found:
        lines.extend("  " + line for line in change.lines())
    lines.append(
        "Sending now would give the rest of the list a different version. Put the issue back "
        "as it was, or send the new version with --accept-changes (`innovate-news status` "
        "then shows how many got which version)."
    )
    return "\n".join(lines)


def _compare(before: str, after: str) -> str:
    return "unchanged" if before == after else f"{before!r} -> {after!r}"


def _text_changes(before: str, after: str) -> list[str]:
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]
    out = [f"  body:      {len(changed)} line(s) of the text part changed:"]
    out += [f"    {line[0]} {line[1:]}" for line in changed[:SHOWN_LINES]]
    if len(changed) > SHOWN_LINES:
        out.append(f"    ... and {len(changed) - SHOWN_LINES} more")
    return out
