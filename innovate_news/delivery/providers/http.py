"""HTTP for the API providers, and the only module that uses requests: timeouts and errors."""

from __future__ import annotations

import datetime as dt
import email.utils
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import requests

from innovate_news import __version__
from innovate_news.errors import AuthError, SendError, TransientError
from innovate_news.mail import Message, Receipt
from innovate_news.secrecy import redact


class DeliveryUnknown(SendError):
    """The request went out whole but no answer came back: the batch may have been sent."""


@dataclass(frozen=True)
class Answer:
    """A response that was not an error the client handles itself (2xx, or a 4xx per request)."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    def text(self) -> str:
        return redact(self.body.decode("utf-8", "replace"))


SPOOL_BYTES = 4 * 1024 * 1024  # a body larger than this waits in a temp file, not in memory
_BLOCK = 256 * 1024


class Spool:
    """A request body being assembled: pieces written in, its length known at the end.

    Bodies are spooled, not streamed, so that each request carries a Content-Length, as the
    providers' own clients send (some proxies and API gateways refuse a chunked upload); a
    large one (Postmark's 500 full messages are ~30 MB) goes to a temp file, so the sending
    process never holds it.
    """

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed by _Body)
        self.size = 0

    def write(self, piece: bytes) -> None:
        self.file.write(piece)
        self.size += len(piece)


class _Body:
    """A request body of known length, read in blocks, which remembers whether all of it was
    read: the client then tells "never sent whole" (safe to retry) from "sent, no answer"
    (may have gone out)."""

    def __init__(self, chunks: bytes | Spool | Iterable[bytes]):
        if not isinstance(chunks, Spool):
            spool = Spool()
            for piece in [chunks] if isinstance(chunks, bytes) else chunks:
                spool.write(piece)
            chunks = spool
        self.file = chunks.file
        self.size = chunks.size
        self.complete = not self.size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        self.file.seek(0)
        while block := self.file.read(_BLOCK):
            yield block
        self.complete = True

    def close(self) -> None:
        self.file.close()


class Client:
    """One keep-alive session to one API, with its auth and timeouts."""

    def __init__(
        self,
        service: str,
        base_url: str,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ):
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"innovate-news/{__version__}"
        self.session.headers.update(headers or {})
        self.session.auth = auth
        # Proxies and .netrc from the environment never apply to a key-bearing API call.
        self.session.trust_env = False
        self.requests = 0

    def post(self, path: str, chunks: bytes | Spool | Iterable[bytes], content_type: str) -> Answer:
        """POST a body (with its Content-Length); translate the failures every API shares.

        Raises AuthError (401/403), TransientError (could not connect, the body was not sent
        whole, 429, 5xx) or DeliveryUnknown (the body was sent and the answer did not come).
        """
        url = f"{self.base_url}/{path.lstrip('/')}"
        body = _Body(chunks)
        self.requests += 1
        try:
            response = self.session.post(
                url,
                data=body,
                headers={"Content-Type": content_type, "Accept": "application/json"},
                timeout=(min(self.timeout, 10.0), self.timeout),
            )
        except requests.ConnectTimeout as exc:
            raise TransientError(f"{self.service}: could not connect to {self.base_url}") from exc
        except requests.RequestException as exc:
            what = redact(str(exc)) or type(exc).__name__
            if body.complete:
                raise DeliveryUnknown(f"{self.service}: no answer after sending: {what}") from exc
            raise TransientError(f"{self.service}: request failed: {what}") from exc
        finally:
            body.close()
        return self._answer(response)

    def get(self, path: str, params: Mapping[str, str]) -> Answer:
        """GET a lookup; the same translation of failures as `post`, but nothing is unknown."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        self.requests += 1
        try:
            response = self.session.get(
                url,
                params=params,
                headers={"Accept": "application/json"},
                timeout=(min(self.timeout, 10.0), self.timeout),
            )
        except requests.RequestException as exc:
            what = redact(str(exc)) or type(exc).__name__
            raise TransientError(f"{self.service}: request failed: {what}") from exc
        return self._answer(response)

    def _answer(self, response: requests.Response) -> Answer:
        status = response.status_code
        answer = Answer(status, response.content, dict(response.headers))
        if status in (401, 403):
            raise AuthError(
                f"{self.service} refused the credentials (HTTP {status}): {answer.text()[:200]}; "
                "check the API key in the environment and the account's permissions"
            )
        if status == 429:
            wait = retry_after(answer.headers)
            raise TransientError(f"{self.service} is rate limiting (HTTP 429)", retry_after=wait)
        if status >= 500 or status in (408, 425):
            raise TransientError(
                f"{self.service} answered HTTP {status}: {answer.text()[:200]}",
                retry_after=retry_after(answer.headers),
            )
        return answer

    def close(self) -> None:
        self.session.close()


def not_handed_over(batch: Sequence[Message], exc: SendError) -> list[Receipt]:
    """Receipts for the rest of a batch split into several requests, when a later request
    failed: part of the batch is already out, so the provider may no longer raise (the
    sender would put those back and send them twice). The rest waits for another try."""
    wait = exc.retry_after if isinstance(exc, TransientError) else None
    return [Receipt(m.address, "deferred", error=str(exc), retry_after=wait) for m in batch]


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date) or X-RateLimit-Reset."""
    now = time.time() if now is None else now
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value:
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return max(0.0, when.timestamp() - now)
    reset = lowered.get("x-ratelimit-reset")
    if reset:
        try:
            number = float(reset)
        except ValueError:
            return None
        if number > 1e12:  # epoch milliseconds
            return max(0.0, number / 1000 - now)
        if number > 1e9:  # epoch seconds (SendGrid)
            return max(0.0, number - now)
        return max(0.0, number)
    return None
