"""What an SMTP server's refusal asks of the sender: a table of rules, the first match wins.

Relays reuse the same codes for different things: Gmail's spent daily quota is a `550 5.4.5`,
GoDaddy's hourly cap a `550 5.1.1`, Yahoo's permanent block a `421`, and a `452` may mean too
many recipients, a full disk or a rate limit. So the text and the enhanced code are read first
and the class digit last. A reply to the connection, EHLO, AUTH, MAIL or the DATA command is
about the session or the account, never about one person: only a reply to RCPT or to the end of
the message may fail or suppress its recipient.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import re
from dataclasses import dataclass

from innovate_news.errors import QuotaError, SendError
from innovate_news.secrecy import redact

# The stages of a session, in order; "message" is the reply after the final dot.
STAGES = ("connect", "auth", "mail", "rcpt", "data", "message")
RECIPIENT_STAGES = frozenset({"rcpt", "message"})
HOUR = 3600.0


class Reaction(enum.Enum):
    RECONNECT = "reconnect"  # a per-connection cap: a new connection, the message again at once
    SLOW = "slow"  # a rate or concurrency limit: retry later, hand over more slowly
    PAUSE_DEST = "pause-dest"  # reputation throttling: leave that destination for this run
    STOP_RUN = "stop-run"  # the account's quota is spent: stop, resume when it frees
    RETRY_RCPT = "retry-rcpt"  # this recipient is busy, full or greylisted: retry later
    SPLIT = "split"  # too many recipients in one transaction: retry in a new one
    RETRY = "retry"  # anything else temporary: back off and retry
    FAIL_MSG = "fail-msg"  # refused for good, but the address is not proven bad
    SUPPRESS = "suppress"  # the mailbox does not exist or is disabled
    FIX = "fix"  # the operator's problem (login, sender, account): stop the run


@dataclass(frozen=True)
class Rule:
    """One row of the table: a pattern over the reply line "CODE [ENHANCED] text", lower-cased.

    `classes` limits the rule to replies whose code starts with one of those digits; `stages`
    to replies at those stages. `limit` names a spent quota and `window` how long it usually
    takes to free (STOP_RUN), or how long a destination rests (PAUSE_DEST).
    """

    name: str
    reaction: Reaction
    pattern: str
    classes: str = "45"
    stages: frozenset[str] = frozenset(STAGES)
    limit: str = ""
    window: float | None = None

    def matches(self, line: str, code: int, stage: str) -> bool:
        return (
            str(code)[:1] in self.classes
            and stage in self.stages
            and re.search(self.pattern, line) is not None
        )


R = Reaction
_AT_RECIPIENT = RECIPIENT_STAGES
# A recipient's full mailbox, in the words of the sender-quota replies' look-alikes; only
# reached after every sender-quota rule, so "quota exceeded" from a relay never lands here.
_FULL = (
    r"mailbox (is )?full|over ?quota|out of storage space|exceeded storage allocation"
    r"|user quota exceeded|email quota exceeded|disk quota"
)

RULES: tuple[Rule, ...] = (
    Rule("per-connection limit", R.RECONNECT,
         r"max(imum)?( number of)? messages? (count )?per (connection|session)"
         r"|too many messages in (this|one) (connection|session)|open a new session"),
    Rule("permanent block", R.FIX, r"permanently deferred|retrying will not succeed"),
    Rule("sender mailbox full", R.FIX,
         r"storedrv\.submission\.exception:quotaexceededexception"
         r"|mapiexceptionshutoffquotaexceeded"),
    Rule("daily sending quota", R.STOP_RUN,
         r"daily (user )?sending (quota|limit) exceeded|daily smtp relay (sending )?limit exceeded"
         r"|submissionquotaexceeded|submission quota (was )?exceeded"
         r"|reached your daily limit for message recipients|daily message quota exceeded"
         r"|daily relay quota|sending quota exceeded|outmail quota",
         limit="daily sending quota", window=24 * HOUR),
    Rule("hourly sending quota", R.STOP_RUN,
         r"sent too many messages this hour|too many recipients (received )?this hour"
         r"|has sent to too many recipients this hour|max(imum)? emails per hour",
         limit="hourly sending quota", window=HOUR),
    Rule("plan credits", R.STOP_RUN, r"maximum credits exceeded", limit="plan's sending credits"),
    Rule("account sending window", R.STOP_RUN, r"is not allowed to send: .*limit exceeded",
         limit="account's sending limit", window=HOUR),
    Rule("relay quota as recipient reject", R.STOP_RUN,
         r"recipient address rejected: (quota exceeded|domain sending quota)",
         limit="relay's sending quota", window=HOUR),
    Rule("account or authentication", R.FIX,
         r"^535 |^530 5\.(5\.1|7\.0)|unauthenticated senders not allowed"
         r"|invalid credentials for relay|mail relay denied|mail sending denied|sendasdenied"
         r"|outboundspamexception|bad outbound sender|not verified"
         r"|is not allowed to send: please activate|account terminated|5\.7\.57"
         r"|senders to authenticate|rate limited because|aligned with either the authenticated"
         r"|does not have a ptr record|dmarc policy|with the same message-id"
         r"|unresolvable rfc\.5321 from domain"),
    Rule("sending rate", R.SLOW,
         r"maximum sending rate exceeded|too much mail from|too many (messages|recipients) from"
         r"|message submission rate|peak smtp relay limit|transmit rate limit|\bratelimit\b"
         r"|rate limit exceeded|too many requests|too frequent connects"),
    Rule("connections", R.SLOW,
         r"concurrent connections?|sender thread limit|too many (open|concurrent) (smtp )?"
         r"connections|too many connections|too many sessions|connection rate limit exceeded"
         r"|exceeded the maximum number of connections|too many new tls sessions"
         r"|too many auth commands|too many login attempts"),
    Rule("yahoo reputation", R.PAUSE_DEST, r"\[ts?s?0[1-5]\]|\[bl2[13]\]", window=4 * HOUR),
    Rule("reputation", R.PAUSE_DEST,
         r"temporarily deferred due to|rate limited due to ip reputation|rp-00[1-3]"
         r"|unusual rate of (unsolicited )?mail|very low reputation"
         r"|access denied, please try again later|server busy\. please try again later"
         r"|deferred due to excessive volume|part of their network is on our block list",
         window=HOUR),
    Rule("recipient receiving too fast", R.RETRY_RCPT,
         r"receiving mail (too quickly|at a rate)|receivingrateperm|message receive limit"
         r"|exceeded their limit for the number of messages they can receive"
         r"|limit for the number of messages they can send to this recipient"
         r"|recipient thread limit|exceeded (their )?message rate limit|too many recent messages"
         r"|organization queue quota"),
    Rule("too many recipients", R.SPLIT,
         r"^\d{3} [245]\.5\.3\b|too many recipients|policy size per transaction"),
    Rule("greylisted", R.RETRY_RCPT, r"greylist", classes="4"),
    Rule("server resources", R.RETRY,
         r"insufficient system (storage|resources)|space shortage|mail system full"
         r"|too much load|temporary (server|system) (error|problem)|service not available"
         r"|resources temporarily unavailable"),
    Rule("full and inactive mailbox", R.SUPPRESS, r"overquotaperm|storage space and inactive",
         classes="5", stages=_AT_RECIPIENT),
    Rule("mailbox full", R.RETRY_RCPT, _FULL, classes="4", stages=_AT_RECIPIENT),
    Rule("mailbox full for good", R.FAIL_MSG, _FULL, classes="5", stages=_AT_RECIPIENT),
    Rule("no such mailbox", R.SUPPRESS,
         r"^5\d\d 5\.1\.(1|2|3|10)\b|does not exist|no such user|user unknown"
         r"|mailbox not found|doesn't have a .* account|not found by smtp address lookup",
         classes="5", stages=_AT_RECIPIENT),
    Rule("mailbox disabled", R.SUPPRESS,
         r"disabled|inactive|no longer valid|account is not active",
         classes="5", stages=_AT_RECIPIENT),
    # Not in any published table, but what a per-connection cap often says in its own words.
    Rule("too many messages", R.RECONNECT, r"too many (messages|mail transactions)\b",
         classes="4", stages=frozenset({"mail", "rcpt", "data"})),
    Rule("temporary", R.RETRY, r"", classes="4"),
    Rule("refused for this recipient", R.FAIL_MSG, r"", classes="5", stages=_AT_RECIPIENT),
    Rule("refused for the session", R.FIX, r"", classes="5"),
)  # fmt: skip


# A reply that is neither 4xx nor 5xx where one of them was due: the session is not sound.
_UNEXPECTED = Rule("unexpected reply", Reaction.RETRY, r"", classes="0123456789-")


@dataclass(frozen=True)
class Verdict:
    """The rule that matched a reply, and what it means for this run."""

    reaction: Reaction
    rule: str
    reply: str  # the reply as one line, e.g. "550 5.4.5 Daily user sending limit exceeded."
    limit: str = ""  # STOP_RUN: which quota is spent
    resume_at: dt.datetime | None = None  # STOP_RUN / PAUSE_DEST: when to try again
    wait: float | None = None  # seconds the reply itself asks to wait, if it says

    @property
    def about_recipient(self) -> bool:
        return self.reaction in (Reaction.FAIL_MSG, Reaction.SUPPRESS)

    def error(self, where: str) -> SendError:
        """The error that ends a run on this reply from `where`: QuotaError when waiting frees
        it (a quota, a throttled sender), SendError when someone must fix something first."""
        reply = redact(self.reply)
        if self.reaction is Reaction.FIX:
            return SendError(
                f"{where} refused to go on ({self.rule}): {reply}. Nobody was marked failed; "
                "fix the account or the sending settings, then run send again"
            )
        limit = self.limit or "sending rate allowed to this sender (throttled)"
        return QuotaError(f"{where} says the {limit} is reached: {reply}", limit, self.resume_at)


def one_line(code: int, text: bytes | str) -> str:
    """Join a multi-line reply ("550-5.4.5 ...", "550 5.4.5 ...") into "550 5.4.5 ..."."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [re.sub(rf"^{code}[ -]", "", line.strip()) for line in text.splitlines()]
    words = " ".join(" ".join(lines).split())
    # Continuation lines repeat the enhanced code; keep its first appearance only.
    enhanced = re.match(r"[245]\.\d{1,3}\.\d{1,3}\b", words)
    if enhanced:
        words = enhanced.group(0) + re.sub(rf"\s*\b{re.escape(enhanced.group(0))}\b", "", words)
    return f"{code} {words}".strip()


def classify(code: int, text: bytes | str, stage: str, now: dt.datetime | None = None) -> Verdict:
    """The first rule that matches the reply `code text` given at `stage`."""
    if stage not in STAGES:
        raise ValueError(f"unknown SMTP stage {stage!r}")
    line = one_line(code, text)
    lowered = line.lower()
    rule = next((r for r in RULES if r.matches(lowered, code, stage)), _UNEXPECTED)
    now = now or dt.datetime.now(dt.UTC)
    resume_at = _resume_at(lowered, now)
    if resume_at is None and rule.window is not None:
        resume_at = now + dt.timedelta(seconds=rule.window)
    wait = _wait(lowered)
    if rule.reaction is Reaction.PAUSE_DEST and rule.window is not None:
        wait = rule.window
    return Verdict(rule.reaction, rule.name, line, rule.limit, resume_at, wait)


def _resume_at(line: str, now: dt.datetime) -> dt.datetime | None:
    """Mailgun's "try again after Mon, 02 Jan 2023 15:04:05 UTC", as a time."""
    found = re.search(r"try again after ([^;]+? (utc|gmt))", line)
    if not found:
        return None
    try:
        when = email.utils.parsedate_to_datetime(found.group(1).title().replace("Utc", "UTC"))
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when if when > now else None


def _wait(line: str) -> float | None:
    """A wait the reply names itself: "Greylisted for 300 seconds", "try in 5 minutes"."""
    found = re.search(r"\b(\d{1,5}) ?(seconds?|secs?|s|minutes?|mins?)\b", line)
    if not found:
        return None
    number = float(found.group(1))
    return number * 60 if found.group(2).startswith("m") else number
