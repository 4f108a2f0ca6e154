"""Relays as they really behave, against a real aiosmtpd server and a local HTTP API on loopback:
per-connection caps, quotas, hourly and daily caps, every reaction of delivery.replies, and one
failing API batch among good ones."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from innovate_news.audience import subscribers
from innovate_news.delivery.plan import Options, plan
from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.http import Client
from innovate_news.delivery.providers.mailgun import MailgunProvider
from innovate_news.delivery.providers.postmark import PostmarkProvider
from innovate_news.delivery.providers.sendgrid import SendGridProvider
from innovate_news.delivery.providers.smtp import SmtpConfig, SmtpProvider
from innovate_news.delivery.replies import Reaction, classify
from innovate_news.delivery.sender import SYSTEMIC, Sender, SendSummary
from innovate_news.errors import ExitCode, SendError
from innovate_news.store.ledger import Ledger
from tests.support.servers import (
    ISSUE,
    MAILGUN_KEY,
    PASSWORD,
    POSTMARK_TOKEN,
    SENDGRID_KEY,
    USER,
    Api,
    Certificates,
    SimpleComposer,
    SmtpHandler,
    api_server,
    deliver,
    numbered,
    smtp_server,
    write_list,
)
from tests.support.stores import StoreBackend

R = Reaction
IP = "192.0.2.1"


def make_provider(
    port: int, security: str = "none", concurrency: int = 1, backoff: float = 1.0, **config: Any
) -> SmtpProvider:
    """A provider with the default backoff (1 s), so any backoff taken would show in the time."""
    values: dict[str, Any] = {"timeout": 2.0, "rate": 100_000.0, "max_per_connection": 100}
    values.update(config)
    limits = Limits(batch_size=1, concurrency=concurrency, max_attempts=3, backoff=backoff,
                    max_wait=5)  # fmt: skip
    settings = SmtpConfig(host="127.0.0.1", port=port, security=security, sender=USER, **values)
    return SmtpProvider(settings, limits)


@pytest.fixture
def ledger(store_backend: StoreBackend, tmp_path: Path) -> Ledger:
    """The ledger on each store backend in turn."""
    return store_backend.ledger(tmp_path / "state" / "ledger.sqlite3")


def listing(tmp_path: Path, count: int) -> subscribers.SubscriberList:
    return subscribers.read(write_list(tmp_path, count))


# 1. Per-connection caps ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "stage"),
    [
        ("452 4.5.3 Too many messages in this connection", "mail"),
        ("421 4.7.0 Max message per connection reached, closing transmission channel", "mail"),
        ("451 4.7.1 Too many messages, try again on a new connection", "rcpt"),
    ],
)
def test_a_per_connection_cap_moves_to_a_new_connection_at_once_and_is_learnt(
    ledger: Ledger, tmp_path: Path, reply: str, stage: str
) -> None:
    handler = SmtpHandler(per_connection=20, limit_reply=reply, limit_stage=stage, keep=False)
    with smtp_server(handler) as port:
        provider = make_provider(port, concurrency=4)
        started = time.monotonic()
        summary = deliver(ledger, provider, listing(tmp_path, 300))
        elapsed = time.monotonic() - started
    assert (summary.sent, summary.deferred, summary.failed) == (300, 0, 0)
    assert summary.exit_code == ExitCode.OK and not summary.stopped
    assert numbered(handler.received()) == list(range(1, 301))
    assert elapsed < 5  # no backoff: the recipient was not at fault
    assert provider.cap.learnt == 20
    assert any("at most 20 messages per connection" in note for note in summary.notes)
    assert handler.refused <= 5  # learnt once per open connection at most, then never again
    assert {d.attempts for d in ledger.deliveries(ISSUE)} == {1}


# 2. Quotas -------------------------------------------------------------------------------------

QUOTA_REPLIES = [
    ("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
     "process message due to a permanent exception", "message"),
    ("550 5.4.5 Daily user sending limit exceeded. For more information on Gmail sending "
     "limits go to https://support.google.com/a/answer/166852 - gsmtp", "message"),
    ("454 Throttling failure: Daily message quota exceeded.", "message"),
    (f"550 5.1.1 <r011@example.org> - {IP} has sent to too many recipients this hour. IB607",
     "rcpt"),
    ("550 5.4.5 <r011@example.org>: Recipient address rejected: Domain Sending Quota Exceeded",
     "rcpt"),
    ("421 Domain example.org is not allowed to send: recipient limit exceeded, try again after "
     "Tue, 02 Jan 2035 15:04:05 UTC", "mail"),
    ("451 Domain example.org has exceeded the max emails per hour (101/100 (101%)) allowed. "
     "Message will be reattempted later", "rcpt"),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "stage"), QUOTA_REPLIES)
def test_a_quota_reply_stops_the_run_at_once_and_leaves_the_rest_pending(
    ledger: Ledger, tmp_path: Path, reply: str, stage: str
) -> None:
    handler = SmtpHandler(quota_after=10, quota_reply=reply, quota_stage=stage)
    people = listing(tmp_path, 40)
    with smtp_server(handler) as port:
        started = time.monotonic()
        first = deliver(ledger, make_provider(port, concurrency=2), people)
        elapsed = time.monotonic() - started
        assert elapsed < 3
        # Two connections: one may pass MAIL or RCPT just before the other's 10th is accepted.
        sent = first.sent
        assert sent in (10, 11) and (first.failed, first.deferred, first.unknown) == (0, 0, 0)
        assert first.exit_code == ExitCode.QUOTA and first.quota and first.resume_at
        assert "resume after" in first.stopped and reply.split(" ")[0] in first.stopped
        counts = ledger.counts(ISSUE)
        assert (counts["sent"], counts["pending"]) == (sent, 40 - sent)
        assert ledger.suppressions() == []
        handler.quota_after = None  # the quota frees
        second = deliver(ledger, make_provider(port), people)
    assert second.sent == 40 - sent and second.exit_code == ExitCode.OK
    assert numbered(handler.received()) == list(range(1, 41))


def test_a_quota_at_login_stops_before_the_first_message(ledger: Ledger, tmp_path: Path) -> None:
    certificates = Certificates(tmp_path)
    credits = "451 Authentication failed: Maximum credits exceeded"
    handler = SmtpHandler(quota_after=0, quota_reply=credits, quota_stage="auth")
    with smtp_server(handler, "starttls", certificates, auth=True) as port:
        provider = make_provider(port, "starttls", username=USER, password=PASSWORD,
                                 ca_file=certificates.ca_file)  # fmt: skip
        summary = deliver(ledger, provider, listing(tmp_path, 5))
    assert summary.exit_code == ExitCode.QUOTA and summary.quota == "plan's sending credits"
    assert summary.sent == 0 and ledger.counts(ISSUE)["pending"] == 5
    assert handler.messages == []


def test_a_throttled_sender_at_ehlo_stops_with_a_resume_time(
    ledger: Ledger, tmp_path: Path
) -> None:
    ts01 = f"421 4.7.0 [TS01] Messages from {IP} temporarily deferred due to user complaints"
    handler = SmtpHandler(quota_after=3, quota_reply=ts01, quota_stage="ehlo")
    with smtp_server(handler) as port:
        summary = deliver(ledger, make_provider(port, max_per_connection=3), listing(tmp_path, 8))
    assert (summary.sent, summary.deferred, summary.failed) == (3, 0, 0)
    assert summary.exit_code == ExitCode.QUOTA and summary.resume_at is not None
    assert ledger.counts(ISSUE)["pending"] == 5


def run_with_caps(ledger: Ledger, provider: SmtpProvider, people: Any, **caps: int) -> SendSummary:
    composer = SimpleComposer()
    with ledger.lock(ISSUE):
        the_plan = plan(ledger, ISSUE, "s", people, composer, Options("smtp"))
        summary = Sender(ledger, provider, composer, **caps).run(the_plan)  # type: ignore[arg-type]
    provider.close()
    return summary


def test_the_hourly_cap_counts_across_runs_and_says_when_to_resume(
    ledger: Ledger, tmp_path: Path
) -> None:
    handler = SmtpHandler()
    people = listing(tmp_path, 5)
    with smtp_server(handler) as port:
        first = run_with_caps(ledger, make_provider(port), people, hourly_cap=3, daily_cap=100)
        second = run_with_caps(ledger, make_provider(port), people, hourly_cap=3, daily_cap=100)
    assert first.sent == 3 and second.sent == 0
    for summary in (first, second):
        assert summary.quota == "hourly cap" and summary.exit_code == ExitCode.QUOTA
        assert "hourly cap of 3" in summary.stopped and "resume after" in summary.stopped
    oldest = ledger.nth_sent_since(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "smtp", 0)
    assert oldest is not None and second.resume_at == oldest + dt.timedelta(hours=1)
    assert len(handler.messages) == 3 and ledger.counts(ISSUE)["pending"] == 2


# Every reaction of the rule table, through the server --------------------------------------

# The third message meets the reply once, at its stage; example.com is a second destination.
RULE_EXAMPLES = [
    ("421 Max message per connection reached, closing transmission channel", "mail",
     R.RECONNECT),
    ("452 4.5.3 Too many messages in this connection", "rcpt", R.RECONNECT),
    ("421 Connection closed by server. Maximum message count per session reached.", "message",
     R.RECONNECT),
    ("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException", "message",
     R.STOP_RUN),
    ("550 5.4.5 Daily user sending limit exceeded.", "mail", R.STOP_RUN),
    ("454 Throttling failure: Daily message quota exceeded.", "message", R.STOP_RUN),
    (f"550 5.1.1 <r003@example.com> - {IP} has sent to too many recipients this hour. IB607",
     "rcpt", R.STOP_RUN),
    ("554 5.7.1 <r003@example.com>: Recipient address rejected: Quota exceeded", "rcpt",
     R.STOP_RUN),
    (f"421 4.7.1 [TS03] All messages from {IP} will be permanently deferred; Retrying will NOT "
     "succeed.", "mail", R.FIX),
    ("554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
     "message", R.FIX),
    ("550 Unauthenticated senders not allowed", "mail", R.FIX),
    ("550 5.1.1 user unknown", "mail", R.FIX),  # at MAIL it is about the sender
    (f"451 4.7.650 The mail server [{IP}] has been temporarily rate limited due to IP "
     "reputation. (S775)", "rcpt", R.PAUSE_DEST),
    ("421 4.7.28 Gmail has detected an unusual rate of mail originating from your DKIM domain "
     "[example.org 12]. https://support.google.com/mail/?p=UnsolicitedRateLimitError",
     "message", R.PAUSE_DEST),
    (f"421 4.7.0 [TSS04] Messages from {IP} temporarily deferred due to unexpected volume or "
     "user complaints", "mail", R.PAUSE_DEST),
    ("454 Throttling failure: Maximum sending rate exceeded.", "message", R.SLOW),
    (f"450 4.7.1 Error: too much mail from {IP}", "mail", R.SLOW),
    ("421 Too many concurrent SMTP connections", "mail", R.SLOW),
    ("450 4.2.1 The user you are trying to contact is receiving mail too quickly.", "rcpt",
     R.RETRY_RCPT),
    ("554 5.2.122 The recipient has exceeded their limit for the number of messages they can "
     "receive per hour.", "rcpt", R.RETRY_RCPT),
    ("450 4.2.0 <r003@example.com>: Recipient address rejected: Greylisted, see "
     "http://postgrey.schweikert.ch/help/example.com.html", "rcpt", R.RETRY_RCPT),
    ("452 4.5.3 Your message has too many recipients.", "rcpt", R.SPLIT),
    ("452 4.3.1 Insufficient system storage", "rcpt", R.RETRY),
    ("451 4.3.0 Temporary lookup failure", "message", R.RETRY),
    ("554 5.7.1 Message rejected as spam", "message", R.FAIL_MSG),
    ("550 5.7.1 Email quota exceeded.", "rcpt", R.FAIL_MSG),
    ("550 5.1.1 The email account that you tried to reach does not exist.", "rcpt", R.SUPPRESS),
    ("552 5.2.2 The email account that you tried to reach is over quota. "
     "https://support.google.com/mail/?p=OverQuotaPerm", "message", R.SUPPRESS),
]  # fmt: skip

FIVE = ["r001@example.org", "r002@example.org", "r003@example.com", "r004@example.org",
        "r005@example.com"]  # fmt: skip


def five(tmp_path: Path) -> subscribers.SubscriberList:
    path = tmp_path / "five.csv"
    rows = [f"{a},Reader {i},subscribed," for i, a in enumerate(FIVE, 1)]
    path.write_text("email,name,status,topics\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return subscribers.read(path)


def scripted(reply: str, stage: str) -> SmtpHandler:
    def script(at: str, address: str, attempt: int) -> str | None:
        wanted = "data" if stage == "message" else stage
        return reply if (at, address, attempt) == (wanted, FIVE[2], 1) else None

    if stage == "mail":
        return SmtpHandler(mail_script=lambda n: reply if n == 3 else None)
    return SmtpHandler(script=script)


@pytest.mark.parametrize(("reply", "stage", "reaction"), RULE_EXAMPLES)
def test_each_reaction_of_the_rule_table_through_a_real_server(
    ledger: Ledger, tmp_path: Path, reply: str, stage: str, reaction: Reaction
) -> None:
    code, _, text = reply.partition(" ")
    assert classify(int(code), text, stage).reaction is reaction
    handler = scripted(reply, stage)
    summary: SendSummary | None = None
    with smtp_server(handler) as port:
        provider = make_provider(port, backoff=0.01)
        try:
            summary = deliver(ledger, provider, five(tmp_path))
        except SendError as exc:
            raised = exc
    states = {d.address: d for d in ledger.deliveries(ISSUE)}
    state = {a: states[a].state for a in FIVE}
    got = sorted(handler.received())
    assert ledger.counts(ISSUE)["failed"] == (1 if reaction in (R.FAIL_MSG, R.SUPPRESS) else 0)
    assert ledger.is_suppressed(FIVE[2]) is (reaction is R.SUPPRESS)
    stops = reaction in (R.STOP_RUN, R.FIX) or (reaction is R.PAUSE_DEST and stage == "mail")
    if stops:
        assert got == FIVE[:2]
        assert [state[a] for a in FIVE[2:]] == ["pending"] * 3
        if reaction is R.FIX:
            assert summary is None and "Nobody was marked failed" in str(raised)
        else:
            assert summary is not None and summary.exit_code == ExitCode.QUOTA
        return
    assert summary is not None
    if reaction is R.PAUSE_DEST:  # example.com rests for the run; example.org goes on
        assert got == [FIVE[0], FIVE[1], FIVE[3]]
        assert (state[FIVE[2]], state[FIVE[4]]) == ("deferred", "deferred")
        assert handler.tries["rcpt", FIVE[4]] == 0 and summary.deferred == 2
        assert any(note.startswith("example.com was left") for note in summary.notes)
    elif reaction in (R.FAIL_MSG, R.SUPPRESS):
        assert got == [FIVE[0], FIVE[1], FIVE[3], FIVE[4]] and state[FIVE[2]] == "failed"
    else:  # reconnect, slow down, retry: everyone gets it, the third on its second try
        assert got == FIVE and summary.deferred == 0
        expected = 1 if reaction is R.RECONNECT else 2
        assert states[FIVE[2]].attempts == expected
        assert (provider.cap.learnt == 2) is (reaction is R.RECONNECT)


# 3. One failing API batch is not the whole run -----------------------------------------------

API_NAMES = ("postmark", "mailgun", "sendgrid")


def api_provider(name: str, url: str) -> Any:
    limits = Limits(batch_size=20, max_attempts=3, backoff=0.01, max_wait=5)
    if name == "postmark":
        client = Client(name, url, 2.0, headers={"X-Postmark-Server-Token": POSTMARK_TOKEN})
        return PostmarkProvider(client, "broadcast", limits)
    if name == "mailgun":
        return MailgunProvider(Client(name, url, 2.0, auth=("api", MAILGUN_KEY)),
                               "mg.example.org", limits)  # fmt: skip
    client = Client(name, url, 2.0, headers={"Authorization": f"Bearer {SENDGRID_KEY}"})
    return SendGridProvider(client, limits)


@pytest.mark.parametrize("name", API_NAMES)
def test_a_batch_refused_after_its_retries_is_deferred_and_the_rest_go_on(
    ledger: Ledger, tmp_path: Path, name: str
) -> None:
    api = Api(keep=False, poisoned={"r050@example.org"})  # in the third batch of 20
    people = listing(tmp_path, 100)
    with api_server(api) as server:
        first = deliver(ledger, api_provider(name, server.url), people)
        assert (first.sent, first.deferred, first.failed) == (80, 20, 0)
        assert not first.stopped and first.exit_code == ExitCode.FAILED_RECIPIENTS
        assert api.refusals == 3  # the batch's three attempts, then the run went on
        deferred = {d.address for d in ledger.deliveries(ISSUE, ("deferred",))}
        assert deferred == {f"r{i:03d}@example.org" for i in range(41, 61)}
        api.poisoned.clear()
        second = deliver(ledger, api_provider(name, server.url), people)
    assert second.sent == 20
    assert numbered(api.received()) == list(range(1, 101))


def test_failures_in_a_row_are_systemic_and_stop_the_run(ledger: Ledger, tmp_path: Path) -> None:
    poisoned = {f"r{i:03d}@example.org" for i in (30, 50, 70, 90)}  # batches 2 to 5 of 20
    api = Api(keep=False, poisoned=poisoned)
    with api_server(api) as server:
        summary = deliver(ledger, api_provider("postmark", server.url), listing(tmp_path, 120))
    assert summary.sent == 20 and summary.deferred == 20 * SYSTEMIC
    assert f"{SYSTEMIC} batches in a row" in summary.stopped
    assert ledger.counts(ISSUE)["pending"] == 120 - 20 - 20 * SYSTEMIC
