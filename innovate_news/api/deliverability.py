"""The deliverability pre-flight: the sending domain's DNS as mailbox providers will read it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from innovate_news.errors import InnovateNewsError

if TYPE_CHECKING:
    from innovate_news.delivery.domain import Finding
    from innovate_news.settings import Settings


def check_deliverability(
    settings: Settings, *, provider: str | None = None, subscribers: Path | None = None
) -> list[Finding]:
    """What DNS says about mail from [email] from through `provider` (default: [email]
    provider): SPF, DKIM, DMARC and alignment, the unsubscribe host, and the Gmail and Yahoo
    rules that apply at the size of the list (`subscribers`, else the configured list).

    Asks [deliverability] dns_server, else the system's resolver; a failed lookup is a finding.
    """
    from innovate_news.delivery import deliverability

    size, note = eligible_count(settings, subscribers)
    name = provider or str(settings.email["provider"])
    return deliverability.check(settings, name, size, note)


def eligible_count(settings: Settings, path: Path | None) -> tuple[int | None, str | None]:
    """How many people an issue would go to; None, with the reason, when the list can't be read."""
    from innovate_news.api.subscribers import eligible, list_path, read_list
    from innovate_news.audience import listtable

    chosen = list_path(settings, path)
    if path is None and not chosen.exists() and not listtable.shared(settings):
        return None, f"the list's size is unknown (no subscriber list at {chosen})"
    try:
        return len(eligible(settings, read_list(settings, path))), None
    except InnovateNewsError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"the list's size is unknown (it could not be read: {first})"
