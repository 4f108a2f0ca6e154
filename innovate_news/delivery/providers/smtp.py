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

from innovate_news.delivery.providers.base import Limits
from innovate_news.delivery.providers.pacing import RateLimiter
from innovate_news.errors import AuthError, SendError, TransientError
from innovate_news.mail import Message, Receipt
from innovate_news.secrecy import redact

# What may not appear inside <...> in MAIL FROM / RCPT TO.
_UNSAFE_ADDRESS = re.compile(r"[\s<>\x00-\x1f\x7f]")
# Replies to a message that mean "this mailbox does not exist": the address is suppressed.
_NO_MAILBOX = re.compile(r"\b5\.1\.[0-9]\b|unknown|no such|does not exist|not found", re.I)


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

    def open(self) -> None:
        self._idle.put(self._connect())

    def send(self, batch: Sequence[Message]) -> list[Receipt]:
        receipts: list[Receipt] = []
        connection: _Connection | None = None
        try:
            for message in batch:
                if connection is None:
                    connection = self._checkout(handed=bool(receipts))
                    if connection is None:
                        receipts.append(Receipt(message.address, "deferred", error="no connection"))
                        continue
                try:
                    receipts.append(self._deliver(connection, message))
                except _Broken as broken:
                    receipts.append(broken.receipt)
                    connection.smtp.close()
                    connection = None
                    continue
                if connection.used >= self.config.max_per_connection:
                    connection.close()
                    connection = None
        finally:
            if connection is not None:
                self._idle.put(connection)
        return receipts

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
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            return self._connect()
        except SendError as exc:
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
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"{config.where} is busy: {text}") from exc
            raise SendError(f"{config.where} refused the session: {text}") from exc
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
            smtp.ehlo()
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
        self._limiter.wait()
        smtp = connection.smtp
        connection.used += 1
        # MAIL and RCPT by hand: smtplib's versions re-parse both addresses for every message.
        smtp.command_encoding = "utf-8" if "SMTPUTF8" in mail_options else "ascii"
        options = "".join(f" {option}" for option in mail_options)
        try:
            code, text = smtp.docmd("mail", f"FROM:<{self.config.sender}>{options}")
            if code == 250:
                code, text = smtp.docmd("rcpt", f"TO:<{address}>")
            if code in (250, 251):
                code, text = self._data(smtp, data)
        except (OSError, smtplib.SMTPException) as exc:
            detail = f"connection lost: {redact(str(exc)) or type(exc).__name__}"
            if isinstance(exc, _BodySent):
                # The message reached the server but its answer did not reach us.
                raise _Broken(Receipt(address, "unknown", error=detail)) from exc
            raise _Broken(Receipt(address, "deferred", error=detail)) from exc
        receipt = _classify(address, code, text)
        if code == 421:
            raise _Broken(receipt)
        if receipt.status != "sent":
            self._reset(smtp)
        return receipt

    def _data(self, smtp: smtplib.SMTP, data: bytes) -> tuple[int, bytes]:
        """smtplib's DATA, split so a failure after the final dot is told apart."""
        smtp.putcmd("data")
        code, text = smtp.getreply()
        if code != 354:
            return code, text
        # Dot-stuffing (RFC 5321 4.5.2) as one C-speed replace; smtplib's multiline regex costs
        # ~0.4 ms on a 70 KB message, most of what sending it costs us.
        body = (b"." + data if data.startswith(b".") else data).replace(b"\n.", b"\n..")
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        try:
            return smtp.getreply()
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


def _classify(address: str, code: int, text: bytes) -> Receipt:
    """Sort a reply by its code: 2xx sent, 4xx (and 421) try later, 5xx failed for good."""
    reply = _reply(code, text)
    if 200 <= code < 300:
        # The reply usually carries the relay's queue id ("250 2.0.0 Ok: queued as 4F2A1").
        return Receipt(address, "sent", provider_id=reply[:200])
    if 400 <= code < 500 or code < 0:
        return Receipt(address, "deferred", error=reply)
    suppress = "bounced" if code == 550 and _NO_MAILBOX.search(reply) else ""
    return Receipt(address, "failed", error=reply, suppress=suppress)
