"""The SMTP provider, and the only module that uses smtplib: TLS always verified, pooled, paced."""

from __future__ import annotations

import ipaddress
import queue
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from innovate_news.delivery import replies
from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.pacing import ConnectionCap, RateLimiter
from innovate_news.delivery.replies import RECIPIENT_STAGES, Reaction, Verdict
from innovate_news.errors import AuthError, QuotaError, SendError, TransientError
from innovate_news.mail import Message, Receipt
from innovate_news.secrecy import redact

# What may not appear inside <...> in MAIL FROM / RCPT TO.
_UNSAFE_ADDRESS = re.compile(r"[\s<>\x00-\x1f\x7f]")
# Connections one message may be tried on when each says its per-connection cap is reached.
_RECONNECTS = 3


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # starttls | tls | none
    sender: str  # the envelope sender (MAIL FROM)
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    rate: float = 10.0
    max_per_connection: int = 100
    timeout: float = 30.0

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses, where plain SMTP cannot be overheard."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Connection:
    """One open SMTP session and how many messages it has carried."""

    def __init__(self, smtp: smtplib.SMTP):
        self.smtp = smtp
        self.used = 0
        self.utf8 = smtp.has_extn("smtputf8")
        self.eightbit = smtp.has_extn("8bitmime")

    def close(self) -> None:
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()


class _Broken(Exception):
    """The connection died mid-message; `receipt` says whether the message may have arrived."""

    def __init__(self, receipt: Receipt):
        self.receipt = receipt


class _Reconnect(Exception):
    """The connection reached the server's per-connection cap; the message was not taken."""


class _Halt(Exception):
    """A reply about the account or the session (a spent quota, a block): stop the run."""

    def __init__(self, error: SendError):
        self.error = error


class SmtpProvider:
    """Sends through an SMTP relay over a pool of reused, verified connections."""

    name = "smtp"

    def __init__(
        self,
        config: SmtpConfig,
        limits: Limits,
        signer: Callable[[bytes], bytes] | None = None,
    ):
        if config.security == "none" and not is_loopback(config.host):
            raise SendError(
                f'[providers.smtp] security = "none" is only allowed to a loopback host, not '
                f"{config.host}; use starttls or tls"
            )
        self.config = config
        self.limits = limits
        self.signer = signer
        self._context = ssl.create_default_context(
            cafile=str(config.ca_file) if config.ca_file else None
        )
        self._idle: queue.LifoQueue[_Connection] = queue.LifoQueue()
        self._limiter = RateLimiter(config.rate)
        self._error: SendError | None = None
        self._halted: SendError | None = None  # a quota or block: every later send raises it
        self.cap = ConnectionCap(config.max_per_connection)
        self._paused: dict[str, Verdict] = {}  # recipient domains resting for this run

    def open(self) -> None:
        self._idle.put(self._connect())

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        """Each message on a pooled connection. A spent quota or a block raises QuotaError or
        SendError, now and on every later call; mid-batch, the rest come back deferred."""
        if self._halted is not None:
            raise self._halted
        receipts: list[Receipt] = []
        connection: _Connection | None = None
        try:
            for index, message in enumerate(batch):
                try:
                    receipt, connection = self._hand_over(connection, message, bool(receipts))
                except _Halt as halt:
                    connection, self._halted = None, halt.error  # _hand_over closed it
                    if not receipts:
                        raise halt.error from None
                    return receipts + [
                        Receipt(m.address, "deferred", error=f"not handed over: {halt.error}",
                                retry_after=0.0)
                        for m in batch[index:]
                    ]  # fmt: skip
                receipts.append(receipt)
        finally:
            if connection is not None:
                self._idle.put(connection)
        return receipts

    def notes(self) -> list[str]:
        """What the run learnt about the server, for the send summary."""
        notes = []
        if self.cap.learnt is not None:
            notes.append(
                f"{self.config.where} takes at most {self.cap.learnt} messages per connection; "
                f"set [providers.smtp] max_per_connection = {self.cap.learnt} to start there"
            )
        for domain, verdict in sorted(self._paused.items()):
            notes.append(f"{domain} was left for a later run after: {redact(verdict.reply)}")
        return notes

    def _hand_over(
        self, connection: _Connection | None, message: Message, handed: bool
    ) -> tuple[Receipt, _Connection | None]:
        """One message, and the connection to go on with; a per-connection cap moves the
        message to a new connection at once."""
        for _ in range(_RECONNECTS):
            connection = connection or self._checkout(handed)
            if connection is None:
                return Receipt(message.address, "deferred", error="no connection"), None
            try:
                receipt = self._deliver(connection, message)
            except _Broken as broken:
                connection.smtp.close()
                return broken.receipt, None
            except (_Reconnect, _Halt) as stop:
                connection.close()
                connection = None
                if isinstance(stop, _Halt):
                    raise
                continue
            if connection.used >= self.cap.most:
                connection.close()
                connection = None
            return receipt, connection
        error = f"{self.config.where} refused it on {_RECONNECTS} new connections"
        return Receipt(message.address, "deferred", error=error), None

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def _checkout(self, handed: bool) -> _Connection | None:
        """An idle connection or a new one; None when connecting fails after a hand-over.

        The batch then ends with the rest deferred, and the error is raised by the next call,
        when nothing has been handed over yet.
        """
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        while True:
            try:
                idle = self._idle.get_nowait()
            except queue.Empty:
                break
            if idle.used < self.cap.most:
                return idle
            idle.close()  # carried as many as the server has since been found to take
        try:
            return self._connect()
        except SendError as exc:
            if isinstance(exc, QuotaError):
                self._halted = exc
            if handed:
                self._error = exc
                return None
            raise

    def _connect(self) -> _Connection:
        config = self.config
        try:
            smtp = self._session()
        except smtplib.SMTPAuthenticationError as exc:
            text = _reply(exc.smtp_code, exc.smtp_error)
            verdict = replies.classify(exc.smtp_code, exc.smtp_error, "auth")
            if verdict.reaction in (Reaction.STOP_RUN, Reaction.PAUSE_DEST):
                raise verdict.error(config.where) from exc
            if 400 <= exc.smtp_code < 500:
                raise TransientError(
                    f"{config.where} could not check the login now: {text}"
                ) from exc
            raise AuthError(
                f"{config.where} refused the login of {config.username!r}: {text}; check "
                "[providers.smtp] username and INNOVATE_NEWS_SMTP_PASSWORD"
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise SendError(
                f"the certificate of {config.where} is not trusted ({exc.verify_message}); "
                "nothing was sent. If the server uses a private CA, set [providers.smtp] ca_file"
            ) from exc
        except ssl.SSLError as exc:
            raise SendError(
                f"TLS with {config.where} failed ({exc.reason}); check [providers.smtp] port and "
                "security (tls is usually port 465, starttls 587)"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            text = _reply(exc.smtp_code, exc.smtp_error)
            verdict = replies.classify(exc.smtp_code, exc.smtp_error, "connect")
            if verdict.reaction in (Reaction.STOP_RUN, Reaction.PAUSE_DEST, Reaction.FIX):
                raise verdict.error(config.where) from exc
            raise TransientError(f"{config.where} is busy: {text}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(
                f"could not talk to {config.where}: {redact(str(exc)) or type(exc).__name__}"
            ) from exc
        return _Connection(smtp)

    def _session(self) -> smtplib.SMTP:
        config = self.config
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=self._context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        try:
            code, text = smtp.ehlo()
            if code != 250:  # smtplib lets a refused EHLO pass; a relay's limit may say it here
                raise smtplib.SMTPHeloError(code, text)
            if config.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise SendError(
                        f"{config.where} does not offer STARTTLS; refusing to send in plain text. "
                        'Use security = "tls" if it expects TLS from the start'
                    )
                smtp.starttls(context=self._context)
                smtp.ehlo()
            if config.username:
                if not config.password:
                    raise AuthError(
                        "[providers.smtp] username is set but INNOVATE_NEWS_SMTP_PASSWORD is not"
                    )
                smtp.login(config.username, config.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _deliver(self, connection: _Connection, message: Message) -> Receipt:
        """One MAIL/RCPT/DATA transaction; a dead connection raises _Broken."""
        data = self.signer(message.data) if self.signer else message.data
        address = message.address
        if _UNSAFE_ADDRESS.search(address) or "@" not in address:
            return Receipt(address, "failed", error=f"unusable address {address!r}")
        mail_options = []
        if not address.isascii():
            if not connection.utf8:
                return Receipt(
                    address, "failed", error="the server does not accept UTF-8 addresses"
                )
            mail_options.append("SMTPUTF8")
        if connection.eightbit and not data.isascii():
            mail_options.append("BODY=8BITMIME")
        paused = self._paused.get(address.rpartition("@")[2].lower()) if self._paused else None
        if paused is not None:
            error = f"not tried: its domain rests for this run after {redact(paused.reply)}"
            return Receipt(address, "deferred", error=error, retry_after=paused.wait)
        self._limiter.wait()
        smtp = connection.smtp
        connection.used += 1
        # MAIL and RCPT by hand: smtplib's versions re-parse both addresses for every message.
        smtp.command_encoding = "utf-8" if "SMTPUTF8" in mail_options else "ascii"
        options = "".join(f" {option}" for option in mail_options)
        stage = "mail"
        try:
            code, text = smtp.docmd("mail", f"FROM:<{self.config.sender}>{options}")
            if code == 250:
                stage = "rcpt"
                code, text = smtp.docmd("rcpt", f"TO:<{address}>")
            if code in (250, 251):
                stage, code, text = self._data(smtp, data)
        except (OSError, smtplib.SMTPException) as exc:
            detail = f"connection lost: {redact(str(exc)) or type(exc).__name__}"
            if isinstance(exc, _BodySent):
                # The message reached the server but its answer did not reach us.
                raise _Broken(Receipt(address, "unknown", error=detail)) from exc
            raise _Broken(Receipt(address, "deferred", error=detail)) from exc
        if 200 <= code < 300:
            # The reply usually carries the relay's queue id ("250 2.0.0 Ok: queued as 4F2A1").
            return Receipt(address, "sent", provider_id=_reply(code, text)[:200])
        return self._refused(connection, address, replies.classify(code, text, stage), stage)

    def _refused(
        self, connection: _Connection, address: str, verdict: Verdict, stage: str
    ) -> Receipt:
        """Act on a refusal as its rule says (delivery.replies); the receipt if the run goes on."""
        reaction, reply = verdict.reaction, redact(verdict.reply)
        if reaction is Reaction.RECONNECT and connection.used > 1:
            self.cap.refused_after(connection.used - 1)
            raise _Reconnect
        if reaction in (Reaction.STOP_RUN, Reaction.FIX) or (
            reaction is Reaction.PAUSE_DEST and stage not in RECIPIENT_STAGES
        ):
            raise _Halt(verdict.error(self.config.where))
        if reaction is Reaction.PAUSE_DEST:
            self._paused.setdefault(address.rpartition("@")[2].lower(), verdict)
        if reaction is Reaction.SLOW:
            self._limiter.slow_down()
        if verdict.about_recipient:
            suppress = "bounced" if reaction is Reaction.SUPPRESS else ""
            receipt = Receipt(address, "failed", error=reply, suppress=suppress)
        else:
            receipt = Receipt(address, "deferred", error=reply, retry_after=verdict.wait)
        if verdict.reply.startswith("421") or verdict.rule == "connections":
            raise _Broken(receipt)  # the server is closing it, or wants fewer of them
        self._reset(connection.smtp)
        return receipt

    def _data(self, smtp: smtplib.SMTP, data: bytes) -> tuple[str, int, bytes]:
        """smtplib's DATA, split so a failure after the final dot is told apart; the stage
        ("data" for the DATA command, "message" after the final dot), code and text."""
        smtp.putcmd("data")
        code, text = smtp.getreply()
        if code != 354:
            return "data", code, text
        # Dot-stuffing (RFC 5321 4.5.2) as one C-speed replace; smtplib's multiline regex costs
        # ~0.4 ms on a 70 KB message, most of what sending it costs us.
        body = (b"." + data if data.startswith(b".") else data).replace(b"\n.", b"\n..")
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        try:
            return ("message", *smtp.getreply())
        except (OSError, smtplib.SMTPException) as exc:
            raise _BodySent(str(exc)) from exc

    @staticmethod
    def _reset(smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (OSError, smtplib.SMTPException):
            smtp.close()


class _BodySent(OSError):
    """The whole message was written but no reply came back."""


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return redact(f"{code} {' '.join(text.split())}")
