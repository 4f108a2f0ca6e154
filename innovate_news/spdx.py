"""SPDX licence ids: which are real, in their proper spelling, from a bundled list.

`spdx_licences.json` beside this module holds the ids of the SPDX License List (its version
and source are in the file), so checking a licence needs no network and no extra library.
A licence is one id (`CC-BY-4.0`), not an expression (`MIT OR Apache-2.0`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

_FILE = Path(__file__).with_name("spdx_licences.json")


@functools.cache
def _ids() -> tuple[dict[str, str], dict[str, str]]:
    """Current and deprecated ids, by their lower-case spelling."""
    data = json.loads(_FILE.read_text(encoding="utf-8"))
    return (
        {name.lower(): name for name in data["licenses"]},
        {name.lower(): name for name in data["deprecated"]},
    )


def version() -> str:
    """The version of the SPDX License List the bundled ids come from."""
    return str(json.loads(_FILE.read_text(encoding="utf-8"))["version"])


def canonical(text: str) -> str:
    """The id as SPDX spells it (ids match whatever the case); ValueError says why not."""
    current, deprecated = _ids()
    name = text.strip()
    found = current.get(name.lower())
    if found is not None:
        return found
    if name.lower() in deprecated:
        raise ValueError(
            f"{name!r} is a deprecated SPDX licence id; use its current form "
            f"(e.g. GPL-2.0-only), see https://spdx.org/licenses/"
        )
    raise ValueError(
        f"{name!r} is not an SPDX licence id (e.g. CC-BY-4.0, CC0-1.0, MIT; "
        "the list is at https://spdx.org/licenses/)"
    )


def url(licence: str) -> str:
    """The licence's page on spdx.org."""
    return f"https://spdx.org/licenses/{licence}.html"
