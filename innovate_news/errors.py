"""The one exception tree of innovate-news; it imports nothing from the package.

InnovateNewsError
├── ProblemsError          one or more located problems (file:line: message)
│   ├── SettingsError      innovate-news.toml
│   ├── ContentError       posts and newsletter issues
│   ├── TemplateError      site or default templates
│   ├── SubscriberError    the subscriber CSV
│   ├── IssueChangedError  an issue edited after some of its copies went out
│   └── NotDueError        a scheduled issue sent by hand before its send_at
├── RenderError            a template or MJML failed while rendering
├── TokenError             a signed link token is malformed, tampered with or expired
├── RefusedError           the list service turns a web request away (with its status)
├── LedgerError            the send ledger (SQLite) or its lock
│   └── IssueLockedError   another process is sending this issue
├── BackupError            a state backup could not be written, or an archive is refused
├── ServeError             serve-site could not listen on its port
└── SendError              a provider could not hand a message over
    ├── AuthError          credentials refused (abort the run)
    ├── TransientError     retry later (4xx, 421, dropped connection, 429, 5xx)
    └── QuotaError         the account's sending quota is spent: stop now, resume later
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One located problem: where, what, and how serious."""

    path: Path | str | None
    line: int | None
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}{prefix}{self.message}"


class InnovateNewsError(Exception):
    """Base of every error innovate-news raises on purpose."""


class ProblemsError(InnovateNewsError):
    """One or more problems found while reading input; nothing was written."""

    def __init__(self, problems: list[Problem] | Problem | str, path: Path | str | None = None):
        if isinstance(problems, str):
            problems = [Problem(path, None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


class SettingsError(ProblemsError):
    """The settings file is missing, malformed or has a bad value."""


class ContentError(ProblemsError):
    """A post or newsletter issue is malformed."""


class TemplateError(ProblemsError):
    """A template is missing or does not compile."""


class SubscriberError(ProblemsError):
    """The subscriber list has bad rows or a missing column."""


class IssueChangedError(ProblemsError):
    """An issue differs from the version its first copies went out in; nothing was sent."""


class NotDueError(ProblemsError):
    """An issue with a send_at still to come was sent by hand without --force; nothing sent."""


class RenderError(InnovateNewsError):
    """Rendering failed (a template raised, or MJML did not compile)."""


class TokenError(InnovateNewsError):
    """A signed token (unsubscribe, preferences) is malformed, tampered with or expired."""


class RefusedError(InnovateNewsError):
    """A request to the list service that is turned away: bad form, bad signature, too many."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class LedgerError(InnovateNewsError):
    """The send ledger could not be read or written."""


class IssueLockedError(LedgerError):
    """Another process holds the send lock of this issue."""


class BuildLockedError(InnovateNewsError):
    """Another build of the same project is still running."""


class BackupError(InnovateNewsError):
    """A backup of the state folder could not be made, or an archive is not fit to restore."""


class ServeError(InnovateNewsError):
    """A local server could not start (its port is taken, or the address cannot be used)."""


class SendError(InnovateNewsError):
    """A provider could not hand a message over."""


class AuthError(SendError):
    """The provider refused the credentials; nothing more can be sent this run."""


class TransientError(SendError):
    """Worth retrying later: the server was busy, rate-limited or went away."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class QuotaError(SendError):
    """The relay says the account's quota (hourly, daily, credits) is spent, or it throttles
    the sender: nothing more can go out now, and no recipient is at fault."""

    def __init__(self, message: str, limit: str, resume_at: dt.datetime | None = None):
        super().__init__(message)
        self.limit = limit  # which quota, in words: "daily sending quota"
        self.resume_at = resume_at  # when it should have freed, if the relay says or we know


class ExitCode(enum.IntEnum):
    """What the command line's exit status means (scripts and schedulers rely on these)."""

    OK = 0
    ERROR = 1  # bad input, settings or state: nothing was sent
    USAGE = 2  # a bad option or argument (click's own code)
    FAILED_RECIPIENTS = 3  # the run finished, but some recipients failed, deferred or unknown
    QUOTA = 4  # stopped by a sending quota or cap; the rest stay pending: rerun after the time
    WINDOW = 5  # `send --due` stopped at the end of [email] window; the next --due run resumes
    INTERRUPTED = 130  # stopped by Ctrl-C (128 + SIGINT), everything handed over recorded
