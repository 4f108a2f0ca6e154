"""What every command shares: the settings (loaded on first use) and option types."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from innovate_news import api

if TYPE_CHECKING:
    from innovate_news.settings import Settings


class State:
    """Shared by every command: where the settings are, loaded on first use."""

    def __init__(self, config: Path | None):
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = api.load_settings(self.config)
        return self._settings


pass_state = click.make_pass_decorator(State)


class DateTimeParam(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """An ISO date or datetime; a naive one is read in the site's time zone later."""

    name = "datetime"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.datetime):
            return value
        try:
            return dt.datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date or datetime like 2023-06-20 or 2023-06-20T09:00")


def resolve_now(settings: Settings, now: dt.datetime | None) -> dt.datetime | None:
    if now is None:
        return None
    from innovate_news.content import frontmatter  # YAML, which --help and build need not load

    return frontmatter.to_datetime(now, settings.timezone)
