"""Settings: innovate-news.toml, found in the current folder or a parent, validated at load."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from innovate_news.errors import Problem, SettingsError
from innovate_news.settings_schema import PROVIDERS as PROVIDERS
from innovate_news.settings_schema import SCHEMA as SCHEMA
from innovate_news.settings_schema import Key, _Bad, ascii_address, ascii_domain, ascii_url

FILE_NAME = "innovate-news.toml"


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
    problems.extend(_header_problems(email, text, path))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}", email["list_id"]):
        problems.append(
            Problem(
                path,
                _line_of(text, "email", "list_id"),
                "[email] list_id must look like a domain, e.g. news.example.org",
            )
        )


def header_problems(settings: Settings) -> list[Problem]:
    """The [email] values every message carries in its headers that cannot be encoded there.

    `load` refuses them already; a sender checks again before building anything, so settings
    made in code are held to the same rule as the file.
    """
    try:
        text = settings.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    return _header_problems(settings.email, text, settings.path)


def _header_problems(email: Mapping[str, Any], text: str, path: Path) -> list[Problem]:
    """ASCII only (an internationalised domain in its IDNA form): SMTP without SMTPUTF8 and
    the List-Unsubscribe, Message-ID and From headers cannot carry anything else."""
    from email.utils import parseaddr

    checks: list[tuple[str, Callable[[str], object]]] = [
        ("unsubscribe_url", ascii_url),
        ("preferences_url", ascii_url),
        ("from", lambda value: ascii_address(parseaddr(value)[1])),
        ("reply_to", lambda value: ascii_address(parseaddr(value)[1])),
        ("unsubscribe_mailto", ascii_address),
        ("message_id_domain", _domain_only),
    ]
    problems = []
    for key, check in checks:
        value = email.get(key)
        if not isinstance(value, str) or value.isascii():
            continue
        try:
            check(value)
        except _Bad as exc:
            problems.append(Problem(path, _line_of(text, "email", key), f"[email] {key} {exc}"))
    return problems


def _domain_only(value: str) -> None:
    raise _Bad(f"must be ASCII; write it as {ascii_domain(value)!r}")


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
