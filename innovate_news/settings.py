"""Settings: innovate-news.toml, found in the current folder or a parent, validated at load."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from innovate_news.errors import Problem, SettingsError

FILE_NAME = "innovate-news.toml"
PROVIDERS = ("outbox", "smtp", "postmark", "mailgun", "sendgrid")

Converter = Callable[[Any], Any]


class _Bad(ValueError):
    """A value that does not fit its key; the message says what would."""


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"must be a string, not {type(value).__name__}")
    if any(c in value for c in "\r\n\x00"):
        raise _Bad("must not contain a line break or NUL")
    return value


def _nonempty(value: Any) -> str:
    text = _str(value).strip()
    if not text:
        raise _Bad("must not be empty")
    return text


def _url(value: Any) -> str:
    text = _nonempty(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _Bad(f"must be an absolute http(s) URL, not {text!r}")
    return text


def _base_url(value: Any) -> str:
    text = _url(value)
    return text if text.endswith("/") else text + "/"


def _int(low: int, high: int) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"must be a whole number, not {value!r}")
        if not low <= value <= high:
            raise _Bad(f"must be between {low} and {high}, not {value}")
        return value

    return convert


def _number(low: float, high: float) -> Converter:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(f"must be a number, not {value!r}")
        if not low <= value <= high:
            raise _Bad(f"must be between {low} and {high}, not {value}")
        return float(value)

    return convert


def _choice(*options: str) -> Converter:
    def convert(value: Any) -> str:
        text = _str(value)
        if text not in options:
            raise _Bad(f"must be one of {', '.join(options)}, not {text!r}")
        return text

    return convert


def _timezone(value: Any) -> str:
    text = _nonempty(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _Bad(f"is not a known time zone: {text!r}") from exc
    return text


def _colour(value: Any) -> str:
    text = _str(value)
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        raise _Bad(f"must be a colour like #1d3557, not {text!r}")
    return text.lower()


def _lines(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Bad("must be a list of strings")
    return tuple(_str(v) for v in value)


def _language(value: Any) -> str:
    text = _nonempty(value)
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", text):
        raise _Bad(f"must be a language tag like en-GB, not {text!r}")
    return text


@dataclass(frozen=True)
class Key:
    """One allowed key: how to convert it, and its default (None and not required: optional)."""

    convert: Converter
    default: Any = None
    required: bool = False


SCHEMA: dict[str, dict[str, Key]] = {
    "site": {
        "title": Key(_nonempty, required=True),
        "base_url": Key(_base_url, required=True),
        "description": Key(_str, ""),
        "language": Key(_language, "en-GB"),
        "author": Key(_nonempty, required=True),
        "timezone": Key(_timezone, "Europe/London"),
        "feed_items": Key(_int(1, 1_000_000), 50),
        "websub_hub": Key(_url),
        "funder": Key(_str, ""),
    },
    "paths": {
        "posts": Key(_nonempty, "posts"),
        "issues": Key(_nonempty, "issues"),
        "templates": Key(_nonempty),
        "output": Key(_nonempty, "site"),
        "state": Key(_nonempty, ".innovate-news"),
        "outbox": Key(_nonempty, "outbox"),
        "preview": Key(_nonempty, "preview"),
        "static": Key(_nonempty, "static"),
    },
    "email": {
        "from": Key(_nonempty, required=True),
        "reply_to": Key(_nonempty),
        "list_id": Key(_nonempty, required=True),
        "provider": Key(_choice(*PROVIDERS), "outbox"),
        "subscribers": Key(_nonempty, "subscribers.csv"),
        "unsubscribe_url": Key(_url, required=True),
        "unsubscribe_mailto": Key(_nonempty, required=True),
        "preferences_url": Key(_url),
        "footer": Key(_lines, ()),
        "postal_address": Key(_str, ""),
        "logo_url": Key(_url),
        "logo_alt": Key(_str, ""),
        "brand_colour": Key(_colour, "#1d3557"),
        "accent_colour": Key(_colour, "#e76f51"),
        "message_id_domain": Key(_nonempty),
        "consent_version": Key(_nonempty, "v1"),
        "consent_text": Key(_nonempty, "I agree to receive the newsletter by email."),
        "sample_name": Key(_str, "Sam Example"),
        "sample_email": Key(_nonempty, "sam@example.org"),
    },
    "providers.outbox": {},
    "providers.smtp": {
        "host": Key(_nonempty, "localhost"),
        "port": Key(_int(1, 65535), 587),
        "security": Key(_choice("starttls", "tls", "none"), "starttls"),
        "username": Key(_str),
        "ca_file": Key(_nonempty),
        "concurrency": Key(_int(1, 64), 4),
        "rate": Key(_number(0.01, 100_000), 10.0),
        "daily_cap": Key(_int(1, 100_000_000)),
        "max_per_connection": Key(_int(1, 1_000_000), 100),
        "timeout": Key(_number(0.1, 600), 30.0),
        "max_attempts": Key(_int(1, 20), 4),
        "backoff": Key(_number(0, 600), 1.0),  # seconds before the first retry, then doubled
        "dkim_selector": Key(_nonempty),
        "dkim_domain": Key(_nonempty),
        "dkim_key_file": Key(_nonempty),
    },
    "providers.postmark": {
        "base_url": Key(_url, "https://api.postmarkapp.com"),
        "message_stream": Key(_nonempty, "broadcast"),
        "batch_size": Key(_int(1, 500), 500),
        "timeout": Key(_number(0.1, 600), 30.0),
        "max_attempts": Key(_int(1, 20), 4),
        "backoff": Key(_number(0, 600), 1.0),  # seconds before the first retry, then doubled
        "max_wait": Key(_number(0, 3600), 120.0),
    },
    "providers.mailgun": {
        "base_url": Key(_url, "https://api.mailgun.net"),
        "domain": Key(_nonempty, "mg.example.org"),
        "batch_size": Key(_int(1, 1000), 1000),
        "timeout": Key(_number(0.1, 600), 30.0),
        "max_attempts": Key(_int(1, 20), 4),
        "backoff": Key(_number(0, 600), 1.0),  # seconds before the first retry, then doubled
        "max_wait": Key(_number(0, 3600), 120.0),
    },
    "providers.sendgrid": {
        "base_url": Key(_url, "https://api.sendgrid.com"),
        "batch_size": Key(_int(1, 1000), 1000),
        "timeout": Key(_number(0.1, 600), 30.0),
        "max_attempts": Key(_int(1, 20), 4),
        "backoff": Key(_number(0, 600), 1.0),  # seconds before the first retry, then doubled
        "max_wait": Key(_number(0, 3600), 120.0),
    },
    "serve": {
        "host": Key(_nonempty, "127.0.0.1"),
        "port": Key(_int(1, 65535), 8080),
        "signup_rate": Key(_int(1, 10_000), 5),  # sign-up requests per client address an hour
        "public_url": Key(_base_url),  # where the service is reached (default: unsubscribe_url's)
        "threads": Key(_int(1, 256), 4),  # few: the GIL serves a short FIFO queue fairest
        "trusted_proxy": Key(_nonempty),  # a reverse proxy whose X-Forwarded-For is believed
        "postmark_webhook_user": Key(_nonempty, "postmark"),
    },
}


@dataclass(frozen=True)
class Settings:
    """Validated settings, with every relative path resolved against the settings file's folder."""

    path: Path
    root: Path
    values: Mapping[str, Mapping[str, Any]] = field(repr=False)
    fingerprint: str = ""

    def __getitem__(self, table: str) -> Mapping[str, Any]:
        return self.values[table]

    @property
    def site(self) -> Mapping[str, Any]:
        return self.values["site"]

    @property
    def email(self) -> Mapping[str, Any]:
        return self.values["email"]

    def provider(self, name: str) -> Mapping[str, Any]:
        return self.values[f"providers.{name}"]

    def folder(self, name: str) -> Path:
        """A folder from [paths], resolved against the project root."""
        value = self.values["paths"][name]
        return (self.root / value) if value is not None else self.root / name

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.site["timezone"])

    @property
    def base_url(self) -> str:
        return str(self.site["base_url"])


def find(start: Path | None = None) -> Path:
    """The nearest innovate-news.toml in `start` or a parent folder."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
    raise SettingsError(
        f"no {FILE_NAME} in {here} or any parent folder; "
        "run innovate-news from your project folder or pass --config"
    )


def load(path: Path | None = None) -> Settings:
    """Read and validate a settings file; every problem is reported at once."""
    path = find() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SettingsError(f"settings file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"not UTF-8 (byte {exc.start}); save it as UTF-8", path) from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise SettingsError([Problem(path, line, f"TOML syntax error: {exc}")]) from exc
    values, problems = _validate(raw, text, path)
    if problems:
        raise SettingsError(problems)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Settings(path=path, root=path.parent.resolve(), values=values, fingerprint=digest)


def _tables(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten [providers.NAME] into 'providers.NAME' so every table is one level deep."""
    flat: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "providers" and isinstance(value, dict):
            for provider, table in value.items():
                flat[f"providers.{provider}"] = table
        else:
            flat[name] = value
    return flat


def _validate(
    raw: Mapping[str, Any], text: str, path: Path
) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    problems: list[Problem] = []
    values: dict[str, dict[str, Any]] = {}
    tables = _tables(raw)
    for name, table in tables.items():
        if name not in SCHEMA:
            known = ", ".join(f"[{t}]" for t in SCHEMA)
            problems.append(
                Problem(path, _line_of(text, name, None), f"unknown table [{name}]; known: {known}")
            )
        elif not isinstance(table, dict):
            problems.append(Problem(path, _line_of(text, None, name), f"{name} must be a table"))
    for name, keys in SCHEMA.items():
        table = tables.get(name, {})
        if not isinstance(table, dict):
            continue
        values[name] = _validate_table(name, keys, table, text, path, problems)
    if not problems:
        _check_email(values, text, path, problems)
    return values, problems


def _validate_table(
    name: str,
    keys: Mapping[str, Key],
    table: Mapping[str, Any],
    text: str,
    path: Path,
    problems: list[Problem],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    required_table = name in ("site", "email")
    for key in table:
        if key not in keys:
            known = ", ".join(keys) or "none"
            problems.append(
                Problem(
                    path,
                    _line_of(text, name, key),
                    f"unknown key {key!r} in [{name}] (known keys: {known})",
                )
            )
    for key, spec in keys.items():
        if key in table:
            try:
                out[key] = spec.convert(table[key])
            except _Bad as exc:
                problems.append(Problem(path, _line_of(text, name, key), f"[{name}] {key} {exc}"))
        elif spec.required and required_table:
            problems.append(
                Problem(path, _line_of(text, name, None), f"[{name}] is missing required {key!r}")
            )
        else:
            out[key] = spec.default
    return out


def _check_email(
    values: dict[str, dict[str, Any]], text: str, path: Path, problems: list[Problem]
) -> None:
    """Cross-key checks on [email] that need more than one value."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    email = values["email"]
    for key in ("from", "reply_to"):
        value = email.get(key)
        if value is None:
            continue
        _, address = parseaddr(value)
        if "@" not in address:
            problems.append(
                Problem(path, _line_of(text, "email", key), f"[email] {key} is not an address")
            )
            continue
        try:
            Address(addr_spec=address)
        except (ValueError, IndexError) as exc:
            problems.append(Problem(path, _line_of(text, "email", key), f"[email] {key}: {exc}"))
    mailto = email["unsubscribe_mailto"]
    if "@" not in mailto or any(c in mailto for c in " <>\"'"):
        problems.append(
            Problem(
                path,
                _line_of(text, "email", "unsubscribe_mailto"),
                "[email] unsubscribe_mailto must be a bare address like unsubscribe@example.org",
            )
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}", email["list_id"]):
        problems.append(
            Problem(
                path,
                _line_of(text, "email", "list_id"),
                "[email] list_id must look like a domain, e.g. news.example.org",
            )
        )


def _line_of(text: str, table: str | None, key: str | None) -> int | None:
    """Best-effort line number of `key` in `[table]` (tomllib keeps no positions)."""
    lines = text.splitlines()
    in_table = table is None
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    for number, line in enumerate(lines, start=1):
        match = header.match(line)
        if match:
            in_table = table is not None and match.group(1).replace(" ", "") == table
            if in_table and key is None:
                return number
            continue
        if in_table and key is not None and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
            return number
    return None
