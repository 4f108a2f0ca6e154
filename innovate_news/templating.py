"""The jinja2 environment: a site's own templates first, then the defaults shipped in the wheel."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from markupsafe import escape as escape  # re-exported: markupsafe lives behind this module

from innovate_news import layout
from innovate_news.errors import Problem, TemplateError
from innovate_news.settings import Settings

if TYPE_CHECKING:
    import jinja2

# jinja2 is imported by the functions that compile or render: a build with nothing to render
# (and --help) never pays for it.


@functools.cache
def default_folder() -> Path:
    """The default templates: inside the installed wheel, or at the top of a source checkout
    (asked for at every render, so looked for once)."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


def folders(settings: Settings) -> list[Path]:
    return list(_folders(settings.root, settings["paths"]["templates"]))


@functools.lru_cache(maxsize=8)
def _folders(root: Path, own: str) -> tuple[Path, ...]:
    return (*([root / own] if own else []), default_folder())


@functools.cache
def _environment(search: tuple[Path, ...], autoescape: bool) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        autoescape=autoescape,  # noqa: S701 - off only for plain-text parts, escaped by hand
        auto_reload=False,  # one build never sees a template change; skips a stat per render
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        day=format_day,
        time=format_time,
        iso=lambda d: d.isoformat(),
        jsonld=jsonld,
        isodate_day=isodate_day,
        isodate_time=lambda s: format_time(dt.datetime.fromisoformat(s)),
        groupby_year=groupby_year,
        tag_path=layout.tag_folder,  # a tag's page, from the site's root
    )
    return env


def reset() -> None:
    """Forget compiled templates, so the next render sees edits made since (one per build)."""
    _environment.cache_clear()


def environment(settings: Settings, autoescape: bool = True) -> jinja2.Environment:
    """HTML templates autoescape; plain-text and MJML templates say where escaping happens."""
    return _environment(_folders(settings.root, settings["paths"]["templates"]), autoescape)


def render(settings: Settings, name: str, **context: Any) -> str:
    import jinja2

    try:
        template = environment(settings, autoescape=not name.endswith(".txt.j2")).get_template(name)
        return template.render(**{"links": links(settings), **context})
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError([Problem(exc.filename or name, exc.lineno, exc.message or "")]) from exc
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {exc.name} not found in {folders(settings)}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {name}: {exc}") from exc


def links(settings: Settings) -> dict[str, str]:
    """The pages every site page links to (header and footer): sign-up, privacy, follow."""
    found = _links(
        settings.base_url, settings["serve"]["public_url"], settings.email["unsubscribe_url"]
    )
    return dict(found)


@functools.lru_cache(maxsize=8)
def _links(base: str, public_url: str | None, unsubscribe_url: str) -> tuple[tuple[str, str], ...]:
    return (
        ("signup", layout.signup_url(public_url, unsubscribe_url)),
        ("privacy", layout.folder_url(base, layout.PRIVACY)),
        ("follow", layout.folder_url(base, layout.FOLLOW)),
    )


def digest(settings: Settings, subfolder: str = "site") -> str:
    """A hash of every template in `subfolder`, so a template edit invalidates the caches.

    Post pages use only the site templates; an email template edit leaves them valid.
    """
    sha = hashlib.sha256()
    for folder in folders(settings):
        if not (folder / subfolder).is_dir():
            continue
        for path in sorted((folder / subfolder).rglob("*")):
            if path.is_file():
                sha.update(str(path.relative_to(folder)).encode())
                sha.update(path.read_bytes())
    return sha.hexdigest()


def check(settings: Settings) -> list[Problem]:
    """Compile every template; a syntax error is reported with its file and line."""
    import jinja2

    problems = []
    for folder in folders(settings):
        if not folder.is_dir():
            problems.append(Problem(folder, None, "templates folder does not exist"))
            continue
        for path in sorted(folder.rglob("*.j2")) + sorted(folder.rglob("*.html")):
            source = path.read_text(encoding="utf-8")
            env = environment(settings, autoescape=not path.name.endswith(".txt.j2"))
            try:
                env.parse(source, name=path.name, filename=str(path))
            except jinja2.TemplateSyntaxError as exc:
                problems.append(Problem(path, exc.lineno, f"template syntax error: {exc.message}"))
    return problems


def format_day(value: dt.datetime | dt.date) -> str:
    """'Thursday 4 March 2021': unambiguous in the UK and elsewhere."""
    return f"{value:%A} {value.day} {value:%B %Y}"


def isodate_day(value: str) -> str:
    """`format_day` of an ISO date or date and time (as posts' records hold them)."""
    return _day_of(value[:10])


@functools.lru_cache(maxsize=4096)
def _day_of(date: str) -> str:
    # The day is the date as written, whatever the time and offset: list pages ask for the
    # same few thousand days tens of thousands of times.
    return format_day(dt.date.fromisoformat(date))


def format_time(value: dt.datetime) -> str:
    return f"{value:%H:%M}"


def jsonld(value: Any) -> Markup:
    """JSON for a <script type="application/ld+json"> block: no '</script>' can close it early."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)  # compact: the C encoder
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for a script context


def groupby_year(items: list[dict[str, Any]]) -> list[tuple[int, list[dict[str, Any]]]]:
    """Posts (newest first) grouped by the year of their date, keeping their order."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(int(item["date"][:4]), []).append(item)
    return list(groups.items())
