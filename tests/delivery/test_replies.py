"""The SMTP reply classifier over the real replies of the relays and mailbox providers we meet.

EXAMPLES holds replies as Microsoft 365, Outlook.com, Gmail and its relay, Yahoo, Amazon SES,
SendGrid, Mailgun, Postfix, Exim, Sendmail and hosting relays word them (addresses and IPs
replaced by example ones), with the stage they came at and the reaction each must get.
tests/delivery/test_relay_limits.py sends one example of every reaction through a real server.
"""

from __future__ import annotations

import datetime as dt

import pytest

from innovate_news.delivery.replies import RULES, Reaction, classify, one_line
from innovate_news.errors import QuotaError, SendError

R = Reaction
IP = "192.0.2.1"

EXAMPLES: list[tuple[int, str, str, Reaction]] = [
    # Microsoft 365 submission (smtp.office365.com)
    (432, "4.3.2 Concurrent connections limit exceeded.", "connect", R.SLOW),
    (432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", "mail", R.SLOW),
    (554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
          "process message due to a permanent exception with message", "message", R.STOP_RUN),
    (550, "5.1.90 Your message can't be sent because you've reached your daily limit for "
          "message recipients", "rcpt", R.STOP_RUN),
    (554, "5.2.2 Submission quota exceeded", "message", R.STOP_RUN),
    (554, "5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException."
          "MapiExceptionShutoffQuotaExceeded", "message", R.FIX),
    (554, "5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; Failed to process "
          "message", "message", R.FIX),
    (554, "5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied;"
          " Failed to process message due to a permanent exception", "message", R.FIX),
    (550, "5.1.8 Access denied, bad outbound sender", "mail", R.FIX),
    # Outlook.com and Exchange Online as the recipient's server
    (451, f"4.7.650 The mail server [{IP}] has been temporarily rate limited due to IP "
          "reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)",
     "mail", R.PAUSE_DEST),
    (451, f"4.7.651 The mail server [{IP}] has been temporarily rate limited due to IP "
          "reputation. (S3114)", "rcpt", R.PAUSE_DEST),
    (421, f"RP-001 (BAY004-MC1F41) Unfortunately, some messages from {IP} weren't sent. Please "
          "try again. We have limits for how many messages can be sent per hour and per day.",
     "mail", R.PAUSE_DEST),
    (451, f"4.7.500 Server busy. Please try again later from [{IP}]. (AS761)", "rcpt",
     R.PAUSE_DEST),
    (550, f"5.7.1 Unfortunately, messages from [{IP}] weren't sent. Please contact your Internet"
          " service provider since part of their network is on our block list (S3150).",
     "mail", R.PAUSE_DEST),
    (554, "5.2.122 The recipient has exceeded their limit for the number of messages they can "
          "receive per hour.", "rcpt", R.RETRY_RCPT),
    (554, "5.2.121 The sender has exceeded the limit for the number of messages they can send "
          "to this recipient per hour.", "rcpt", R.RETRY_RCPT),
    (432, "4.3.2 STOREDRV.Deliver; recipient thread limit exceeded", "rcpt", R.RETRY_RCPT),
    (452, "4.5.3 Too many recipients", "rcpt", R.SPLIT),
    (450, "4.7.3 Organization queue quota exceeded.", "rcpt", R.RETRY_RCPT),
    (452, "4.3.1 Insufficient system resources (TSTE)", "rcpt", R.RETRY),
    (421, "4.3.2 Service not available", "mail", R.RETRY),
    (421, f"The mail server [{IP}] has exceeded maximum number of messages per connection",
     "mail", R.RECONNECT),
    (421, f"The mail server [{IP}] has exceeded the maximum number of connections", "connect",
     R.SLOW),
    (550, "5.5.0 Requested action not taken: mailbox unavailable", "rcpt", R.FAIL_MSG),
    # Gmail and Google Workspace submission and relay
    (550, "5.4.5 Daily user sending limit exceeded. For more information on Gmail sending "
          "limits go to\n5.4.5  https://support.google.com/a/answer/166852 d2si - gsmtp",
     "data", R.STOP_RUN),
    (550, "5.4.5 Daily user sending quota exceeded. a7sm - gsmtp", "data", R.STOP_RUN),
    (550, "5.4.5 Daily sending quota exceeded. g9sm - gsmtp", "message", R.STOP_RUN),
    (550, "5.4.5 Daily SMTP relay limit exceeded for user.", "rcpt", R.STOP_RUN),
    (550, "5.7.1 Daily SMTP relay limit exceeded for customer.", "mail", R.STOP_RUN),
    (450, "4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error.",
     "mail", R.SLOW),
    (452, "4.5.3 Your message has too many recipients.", "rcpt", R.SPLIT),
    (452, "4.5.3 Domain policy size per transaction exceeded, please try this recipient in a "
          "separate transaction.", "rcpt", R.SPLIT),
    (421, "4.7.0 Try again later, closing connection.", "connect", R.RETRY),
    (454, "4.7.0 Too many login attempts, please try again later.", "auth", R.SLOW),
    (550, f"5.7.1 Invalid credentials for relay [{IP}]. The IP address you've registered in "
          "your Workspace SMTP Relay service doesn't match the domain of the account this email"
          " is being sent from.", "mail", R.FIX),
    (550, f"5.7.0 Mail relay denied [{IP}]. Invalid credentials for relay for one of the "
          "domains in: example.org", "rcpt", R.FIX),
    (535, "5.7.8 Username and Password not accepted.", "auth", R.FIX),
    (530, "5.7.0 Authentication Required.", "mail", R.FIX),
    # Gmail as the recipient's server
    (421, f"4.7.0 [{IP}] Our system has detected that this message is suspicious due to the "
          "very low reputation of the sending IP address. To protect our users from spam, mail"
          " sent from your IP address has been temporarily rate limited.", "message",
     R.PAUSE_DEST),
    (421, "4.7.28 Gmail has detected an unusual rate of mail originating from your DKIM domain"
          " [example.org 12]. To protect our users from spam, mail sent from your DKIM domain "
          "has been temporarily rate limited. https://support.google.com/mail/"
          "?p=UnsolicitedRateLimitError", "message", R.PAUSE_DEST),
    (421, "4.7.28 Gmail has detected this message exceeded its quota for sending messages with"
          " the same Message-ID:<x@example.org>", "message", R.FIX),
    (421, "4.7.26 This mail has been rate limited because it is unauthenticated. Gmail "
          "requires all senders to authenticate with either SPF or DKIM.", "message", R.FIX),
    (550, f"5.7.28 [{IP}] Our system has detected an unusual rate of unsolicited mail "
          "originating from your IP address. To protect our users from spam, mail sent from "
          "your IP address has been blocked.", "message", R.PAUSE_DEST),
    (450, "4.2.1 The user you are trying to contact is receiving mail too quickly. Please "
          "resend your message at a later time.", "rcpt", R.RETRY_RCPT),
    (550, "5.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
          "additional messages from being delivered. https://support.google.com/mail/"
          "?p=ReceivingRatePerm", "rcpt", R.RETRY_RCPT),
    (452, "4.2.2 The email account that you tried to reach is over quota. "
          "https://support.google.com/mail/?p=OverQuotaTemp", "rcpt", R.RETRY_RCPT),
    (552, "5.2.2 The email account that you tried to reach is over quota. "
          "https://support.google.com/mail/?p=OverQuotaPerm", "message", R.SUPPRESS),
    (550, "5.7.1 Email quota exceeded.", "rcpt", R.FAIL_MSG),
    (550, "5.1.1 The email account that you tried to reach does not exist.", "rcpt",
     R.SUPPRESS),
    (550, "5.2.1 The email account that you tried to reach is disabled.", "rcpt", R.SUPPRESS),
    # Yahoo and AOL
    (421, f"4.7.0 [TSS04] Messages from {IP} temporarily deferred due to unexpected volume or "
          "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
     "mail", R.PAUSE_DEST),
    (421, f"4.7.0 [TS01] Messages from {IP} temporarily deferred due to user complaints",
     "connect", R.PAUSE_DEST),
    (421, f"4.7.1 [TS03] All messages from {IP} will be permanently deferred; Retrying will NOT"
          " succeed.", "connect", R.FIX),
    (553, f"5.7.2 [TSS09] All messages from {IP} will be permanently deferred; Retrying will "
          "NOT succeed.", "mail", R.FIX),
    (421, "Max message per connection reached, closing transmission channel", "mail",
     R.RECONNECT),
    (450, "User is receiving mail too quickly", "rcpt", R.RETRY_RCPT),
    (451, "Message temporarily deferred due to unresolvable RFC.5321 from domain.", "mail",
     R.FIX),
    (553, f"5.7.1 [BL21] Connections will not be accepted from {IP}, because the ip is in "
          "Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", "mail",
     R.PAUSE_DEST),
    (554, "5.7.9 Message not accepted for policy reasons. See "
          "https://postmaster.yahooinc.com/error-codes", "message", R.FAIL_MSG),
    (554, "delivery error: dd This user doesn't have a yahoo.com account (r@example.com) [0] - "
          "mta1", "message", R.SUPPRESS),
    (552, "1 Requested mail action aborted, mailbox not found", "message", R.SUPPRESS),
    (554, "30 Sorry, your message to r@example.com cannot be delivered. This mailbox is "
          "disabled (554.30).", "rcpt", R.SUPPRESS),
    # Amazon SES
    (454, "Throttling failure: Maximum sending rate exceeded.", "message", R.SLOW),
    (454, "Throttling failure: Daily message quota exceeded.", "message", R.STOP_RUN),
    (421, "Too many concurrent SMTP connections", "connect", R.SLOW),
    (421, "Connection closed by server. Maximum message count per session reached.", "mail",
     R.RECONNECT),
    (451, "Temporary service failure", "message", R.RETRY),
    # SendGrid and Mailgun over SMTP
    (451, "Authentication failed: Maximum credits exceeded", "auth", R.STOP_RUN),
    (550, "Unauthenticated senders not allowed", "mail", R.FIX),
    (452, "Too many recipients received this hour (throttled)", "rcpt", R.STOP_RUN),
    (450, f"too frequent connects from {IP}, please try again later.", "connect", R.SLOW),
    (421, "Domain mg.example.org is not allowed to send: recipient limit exceeded, try again "
          "after Tue, 02 Jan 2035 15:04:05 UTC", "data", R.STOP_RUN),
    (421, "Domain sandbox123.mailgun.org is not allowed to send: Please activate your Mailgun "
          "account. Check your inbox or spam folder for an email from Mailgun.", "data", R.FIX),
    # Postfix
    (450, f"4.7.1 Error: too much mail from {IP}", "mail", R.SLOW),
    (450, f"4.7.1 Error: too many recipients from {IP}", "rcpt", R.SLOW),
    (452, "4.5.3 Error: too many recipients", "rcpt", R.SPLIT),
    (421, f"4.7.0 mx.example.org Error: too many connections from {IP}", "connect", R.SLOW),
    (421, "4.7.0 mx.example.org Error: too many errors", "rcpt", R.RETRY),
    (450, f"4.7.1 Error: too many AUTH commands from {IP}", "auth", R.SLOW),
    (421, f"4.7.0 mx.example.org Error: too many new TLS sessions from {IP}", "connect", R.SLOW),
    (452, "4.3.1 Insufficient system storage", "mail", R.RETRY),
    # Exim, and cPanel's Exim rate limits
    (421, "too many messages in this connection", "mail", R.RECONNECT),
    (421, "Too many concurrent SMTP connections from this IP address; please try again later.",
     "connect", R.SLOW),
    (421, "mx.example.org: Too much load; please try again later", "connect", R.RETRY),
    (452, "too many recipients", "rcpt", R.SPLIT),
    (552, "too many recipients", "rcpt", R.SPLIT),
    (452, "Space shortage, please try later", "mail", R.RETRY),
    (451, "Domain example.org has exceeded the max emails per hour (101/100 (101%)) allowed. "
          "Message will be reattempted later", "rcpt", R.STOP_RUN),
    (550, "Domain example.org has exceeded the max emails per hour (501/500 (100%)) allowed. "
          "Message discarded.", "rcpt", R.STOP_RUN),
    # Sendmail
    (452, "4.3.2 Connection rate limit exceeded.", "mail", R.SLOW),
    (452, "4.3.2 Too many open connections.", "connect", R.SLOW),
    # Hosting relays and other receivers
    (550, "This IP has sent too many messages this hour. IB504", "mail", R.STOP_RUN),
    (550, "This message has exceeded the max number of messages per session. Open a new "
          "session and try again. IB510", "mail", R.RECONNECT),
    (550, f"5.1.1 <r@example.org> - {IP} has sent to too many recipients this hour. IB607",
     "rcpt", R.STOP_RUN),
    (421, "Connection refused, too many sessions from This IP. Lower the number of concurrent "
          "sessions. IB007", "connect", R.SLOW),
    (554, f"p3plsmtpa01-01.prod.phx3.secureserver.net You've reached your daily relay quota - "
          f"{IP}", "mail", R.STOP_RUN),
    (421, "4.7.1 Messages to r@example.com deferred due to excessive volume. Try again later - "
          "https://support.apple.com/en-us/HT204137", "rcpt", R.PAUSE_DEST),
    (452, "4.1.1 <r@example.com> too many recent messages; Try again later", "rcpt",
     R.RETRY_RCPT),
    (452, "4.1.1 <r@example.com> user over quota", "rcpt", R.RETRY_RCPT),
    (452, "4.5.3 rate limit exceeded", "rcpt", R.SLOW),
    (451, "4.5.1 The recipient <r@example.com> has exceeded their message rate limit. Try "
          "again later.", "rcpt", R.RETRY_RCPT),
    (421, "4.4.2 Message submission rate for this client has exceeded the configured limit",
     "mail", R.SLOW),
    (450, "4.7.0 Transmit rate limit exceeded, try again later (ACC)", "mail", R.SLOW),
    (450, "Too many requests. Try again later. #MS-ST-G", "mail", R.SLOW),
    (451, '4.7.1 Ratelimit "user" exceeded', "mail", R.SLOW),
    (450, "4.7.1 <news@example.org>: Sender address rejected: Deferring: Too many messages "
          "from sender in last 60", "rcpt", R.SLOW),
    (550, "5.4.5 <r@example.com>: Recipient address rejected: Domain Sending Quota Exceeded",
     "rcpt", R.STOP_RUN),
    (554, "5.7.1 <r@example.com>: Recipient address rejected: Quota exceeded", "rcpt",
     R.STOP_RUN),
    (554, "5.7.1 <r@example.com>: Recipient address rejected: You have exceeded your Outmail "
          "quota.", "rcpt", R.STOP_RUN),
    (450, "4.2.0 <r@example.com>: Recipient address rejected: Greylisted, see "
          "http://postgrey.schweikert.ch/help/example.com.html", "rcpt", R.RETRY_RCPT),
    # Generic replies: the class digit decides only when nothing more specific matched
    (451, "4.3.0 Temporary lookup failure", "rcpt", R.RETRY),
    (554, "5.7.1 Message rejected as spam", "message", R.FAIL_MSG),
    (550, "5.1.1 <r@example.com>: Recipient address rejected: User unknown", "rcpt",
     R.SUPPRESS),
    (553, "5.7.1 <news@example.org>: Sender address rejected: not owned by user", "mail", R.FIX),
    (451, "4.7.1 Too many messages, try again on a new connection", "mail", R.RECONNECT),
]  # fmt: skip


@pytest.mark.parametrize(("code", "text", "stage", "reaction"), EXAMPLES)
def test_each_known_reply_gets_its_reaction(
    code: int, text: str, stage: str, reaction: Reaction
) -> None:
    assert classify(code, text, stage).reaction is reaction


def test_every_rule_is_exercised_by_an_example() -> None:
    used = {classify(code, text, stage).rule for code, text, stage, _ in EXAMPLES}
    unused = {rule.name for rule in RULES} - used
    assert unused == set()


@pytest.mark.parametrize(
    ("code", "text", "stage", "reaction"),
    [e for e in EXAMPLES if e[3] in (R.FAIL_MSG, R.SUPPRESS)],
)
def test_only_a_reply_about_one_recipient_fails_or_suppresses_it(
    code: int, text: str, stage: str, reaction: Reaction
) -> None:
    for elsewhere in ("connect", "auth", "mail", "data"):
        verdict = classify(code, text, elsewhere)
        assert verdict.reaction not in (R.FAIL_MSG, R.SUPPRESS, R.RETRY_RCPT)


def test_yahoos_permanent_block_is_a_421_and_is_not_retried() -> None:
    text = f"4.7.1 [TS03] All messages from {IP} will be permanently deferred; Retrying will NOT"
    assert classify(421, text + " succeed.", "connect").reaction is R.FIX
    tss04 = f"4.7.0 [TSS04] Messages from {IP} temporarily deferred due to user complaints"
    assert classify(421, tss04, "mail").reaction is R.PAUSE_DEST
    assert classify(421, "4.3.2 Service shutting down", "mail").reaction is R.RETRY


def test_gmails_daily_quota_is_a_550_that_stops_the_run_not_a_failure() -> None:
    verdict = classify(550, "5.4.5 Daily user sending limit exceeded.", "message")
    assert verdict.reaction is R.STOP_RUN and verdict.limit == "daily sending quota"
    assert classify(550, "5.4.5 Message refused", "message").reaction is R.FAIL_MSG


def test_452_means_recipient_cap_storage_rate_or_hourly_quota_by_its_words() -> None:
    assert classify(452, "4.5.3 Error: too many recipients", "rcpt").reaction is R.SPLIT
    assert classify(452, "4.3.1 Insufficient system storage", "rcpt").reaction is R.RETRY
    assert classify(452, "4.2.2 user over quota", "rcpt").reaction is R.RETRY_RCPT
    assert classify(452, "4.5.3 rate limit exceeded", "rcpt").reaction is R.SLOW
    hourly = classify(452, "Too many recipients received this hour (throttled)", "rcpt")
    assert hourly.reaction is R.STOP_RUN and hourly.limit == "hourly sending quota"
    assert classify(452, "4.5.3 Too many messages in this connection", "mail").reaction is (
        R.RECONNECT
    )


def test_a_5_1_1_that_names_an_hourly_cap_suppresses_nobody() -> None:
    ib607 = f"5.1.1 <r@example.org> - {IP} has sent to too many recipients this hour. IB607"
    assert classify(550, ib607, "rcpt").reaction is R.STOP_RUN
    assert classify(550, "5.1.1 <r@example.org>: user unknown", "rcpt").reaction is R.SUPPRESS


def test_quota_exceeded_from_the_relay_is_not_a_full_mailbox() -> None:
    relay = "5.7.1 <r@example.com>: Recipient address rejected: Quota exceeded"
    assert classify(554, relay, "rcpt").reaction is R.STOP_RUN
    assert classify(550, "5.2.2 user quota exceeded", "rcpt").reaction is R.FAIL_MSG
    assert classify(452, "4.2.2 mailbox full", "rcpt").reaction is R.RETRY_RCPT


def test_microsofts_554_5_2_0_is_told_apart_by_the_exception_name() -> None:
    def reaction(name: str) -> Reaction:
        return classify(554, f"5.2.0 STOREDRV.Submission.Exception:{name}", "message").reaction

    assert reaction("SubmissionQuotaExceededException") is R.STOP_RUN
    assert reaction("SendAsDeniedException.MapiExceptionSendAsDenied") is R.FIX
    assert reaction("OutboundSpamException") is R.FIX


def test_454_rate_daily_quota_and_login_throttle() -> None:
    assert (
        classify(454, "Throttling failure: Maximum sending rate exceeded", "message").reaction
        is R.SLOW
    )
    assert (
        classify(454, "Throttling failure: Daily message quota exceeded", "message").reaction
        is R.STOP_RUN
    )
    assert classify(454, "4.7.0 Too many login attempts", "auth").reaction is R.SLOW


def test_a_quota_reply_names_its_limit_and_when_to_resume() -> None:
    now = dt.datetime(2031, 1, 5, 9, 30, tzinfo=dt.UTC)
    mailgun = (
        "Domain mg.example.org is not allowed to send: recipient limit exceeded, try again "
        "after Sun, 05 Jan 2031 10:04:05 UTC"
    )
    verdict = classify(421, mailgun, "data", now=now)
    assert verdict.reaction is R.STOP_RUN
    assert verdict.resume_at == dt.datetime(2031, 1, 5, 10, 4, 5, tzinfo=dt.UTC)
    daily = classify(454, "Throttling failure: Daily message quota exceeded", "message", now=now)
    assert daily.resume_at == now + dt.timedelta(days=1)
    error = daily.error("email-smtp.example.com:587")
    assert isinstance(error, QuotaError) and error.limit == "daily sending quota"
    assert "Daily message quota exceeded" in str(error)
    block = classify(421, "4.7.1 [TS03] Retrying will NOT succeed.", "connect").error("mx:25")
    assert isinstance(block, SendError) and not isinstance(block, QuotaError)
    assert "Nobody was marked failed" in str(block)


def test_multi_line_replies_are_joined_and_a_named_wait_is_read() -> None:
    raw = b"5.4.5 Daily user sending limit exceeded.\n5.4.5  https://support.google.com - gsmtp"
    assert one_line(550, raw) == (
        "550 5.4.5 Daily user sending limit exceeded. https://support.google.com - gsmtp"
    )
    greylisted = classify(450, "4.2.0 Greylisted for 300 seconds", "rcpt")
    assert greylisted.reaction is R.RETRY_RCPT and greylisted.wait == 300
    assert classify(451, "try again in 5 minutes", "rcpt").wait == 300


def test_a_reply_outside_4xx_and_5xx_is_retried() -> None:
    assert classify(-1, b"", "message").reaction is R.RETRY
    with pytest.raises(ValueError, match="stage"):
        classify(550, "x", "quit")
