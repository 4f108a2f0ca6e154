"""The list's web service as a WSGI app (Flask is used here only): pages and webhooks.

No cookies, no sessions, no redirects: each request carries its signed token, and each
change is on disk before the answer. Pages use the site's templates, so they look like the
archive.
"""

from __future__ import annotations

import html
import os
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request

from innovate_news import layout, templating
from innovate_news.audience.lifecycle import ListService, SignupForm
from innovate_news.content.posts import KIND_TITLES, KINDS
from innovate_news.delivery import providers
from innovate_news.errors import InnovateNewsError, RefusedError, TokenError
from innovate_news.secrecy import redact
from innovate_news.settings import Settings
from innovate_news.web import webhooks

# The most a request body may carry, per route. The pages' forms post a few hundred bytes.
# Webhooks carry more: SendGrid batches events until a POST reaches 768 KB; Mailgun and
# Postmark post one event each (a few KB; Postmark's optional bounce dump adds the bounced
# message). waitress refuses anything over MAX_BODY before reading it (web.server).
PAGE_BODY = 64 * 1024
WEBHOOK_BODY = 2 * 1024 * 1024
MAX_BODY = max(PAGE_BODY, WEBHOOK_BODY)
EXTENSION = "innovate_news"


class Pages:
    """Renders the list_*.html templates with what the site's base template needs."""

    def __init__(self, settings: Settings, public_url: str):
        self.settings = settings
        self.public_url = public_url
        self.feeds = layout.feed_links(settings.base_url)
        self._unsubscribed: tuple[str, str] | None = None

    def render(self, name: str, status: int = 200, **context: Any) -> Response:
        # The canonical URL never carries the token: it would leak into the page's links.
        url = self.public_url + request.path.lstrip("/")
        html = templating.render(
            self.settings, f"site/{name}.html", site=self.settings.site, url=url,
            feeds=self.feeds, **context,
        )  # fmt: skip
        return Response(html, status=status, mimetype="text/html")

    def message(
        self,
        heading: str,
        message: str,
        status: int = 200,
        next_url: str = "",
        next_label: str = "",
    ) -> Response:
        return self.render(
            "list_message", status, heading=heading, message=message, problem=status >= 400,
            next_url=next_url, next_label=next_label,
        )  # fmt: skip

    def unsubscribed(self, address: str) -> Response:
        """The one-click answer: rendered once, the address dropped in (the hot path)."""
        if self._unsubscribed is None:
            marker = "ZQXADDRESS" + secrets.token_hex(8)
            title = self.settings.site["title"]
            page = self.message(
                "You are unsubscribed",
                f"{marker} will get no more {title} emails. Changed your mind? Sign up again.",
                next_url=self.public_url + "subscribe", next_label="Sign up again",
            ).get_data(as_text=True)  # fmt: skip
            before, _, after = page.partition(marker)
            self._unsubscribed = (before, after)
        before, after = self._unsubscribed
        return Response(before + html.escape(address) + after, mimetype="text/html")


def _topics(chosen: frozenset[str]) -> list[dict[str, Any]]:
    return [{"value": k, "label": KIND_TITLES[k], "chosen": k in chosen} for k in KINDS]


def _security_headers(response: Response, style_origin: str) -> Response:
    headers = response.headers
    headers["Cache-Control"] = "no-store"
    headers["Referrer-Policy"] = "no-referrer"  # page URLs carry tokens
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {style_origin} 'unsafe-inline'; img-src {style_origin}; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    headers["X-Robots-Tag"] = "noindex"
    return response


def create_app(
    settings: Settings,
    service: ListService | None = None,
    environ: Mapping[str, str] | None = None,
) -> Flask:
    """The WSGI app; `environ` holds the webhook secrets (default: the process environment)."""
    # Long because Flask routes are closures over the service and pages made here: each
    # route is a few lines, and the whole list of endpoints reads best in one place.
    service = service or ListService.open(settings, providers.mailer(settings))
    secrets = os.environ if environ is None else environ
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = PAGE_BODY
    app.extensions[EXTENSION] = service
    pages = Pages(settings, service.public_url)
    base = urlsplit(settings.base_url)
    style_origin = f"{base.scheme}://{base.netloc}"
    title = settings.site["title"]

    def token() -> str:
        value = request.args.get("t", "")
        if not value:
            raise TokenError("the link has no token; use the whole link from the email")
        if not value.isascii():  # a token never holds one; the MAC check would choke on it
            raise TokenError("the link is damaged; use the whole link from the email")
        return value

    @app.before_request
    def bounded() -> None:
        # Refused by its Content-Length before anything reads it: a route that never looks at
        # the body (the one-click unsubscribe) would otherwise accept any size.
        webhook = request.path.startswith("/webhooks/")
        limit = WEBHOOK_BODY if webhook else PAGE_BODY
        request.max_content_length = limit  # bounds a chunked body too, as it is read
        if (request.content_length or 0) > limit:
            abort(413)

    @app.after_request
    def secure(response: Response) -> Response:
        return _security_headers(response, style_origin)

    @app.errorhandler(TokenError)
    def bad_token(exc: TokenError) -> Response:
        return pages.message(
            "This link does not work", f"Sorry: {exc}.", 400, service.public_url + "subscribe",
            "Sign up again",
        )  # fmt: skip

    @app.errorhandler(RefusedError)
    def refused(exc: RefusedError) -> Response:
        response = pages.message("Sorry", str(exc), exc.status)
        if exc.status == 429:
            response.headers["Retry-After"] = "3600"
        return response

    @app.errorhandler(413)
    def too_large(exc: Exception) -> Response | tuple[dict[str, str], int]:
        if request.path.startswith("/webhooks/"):
            return {"error": f"the body is over {WEBHOOK_BODY} bytes"}, 413
        return pages.message("Sorry", "That request is too large.", 413)

    @app.errorhandler(InnovateNewsError)
    def failed(exc: InnovateNewsError) -> Response:
        app.logger.error("%s: %s", type(exc).__name__, redact(str(exc)))
        return pages.message("Sorry", "Something went wrong here; please try again later.", 503)

    @app.get("/unsubscribe")
    def unsubscribe_page() -> Response:
        value = token()
        address = service.address_of("unsubscribe", value)
        return pages.render(
            "list_unsubscribe", heading="Unsubscribe", address=address,
            action=f"{service.public_url}unsubscribe?t={value}",
            preferences_url=service.link("preferences", "preferences", address),
        )  # fmt: skip

    @app.post("/unsubscribe")
    def unsubscribe() -> Response:
        # RFC 8058: the POST itself unsubscribes; answer 200 at once, no redirect.
        return pages.unsubscribed(service.unsubscribe(token()))

    @app.route("/preferences", methods=["GET", "POST"])
    def preferences() -> Response:
        value = token()
        address = service.address_of("preferences", value)
        action = f"{service.public_url}preferences?t={value}"
        if request.method == "POST" and request.form.get("action") == "leave":
            service.unsubscribe(value, "preferences", "preferences page")
            return pages.message(
                "You are unsubscribed", f"{address} will get no more {title} emails."
            )
        person = service.person(address)
        if person is None or not person.subscribed:
            return pages.message(
                "Not on the list", f"{address} is not subscribed at the moment.", 404,
                service.public_url + "subscribe", "Sign up",
            )  # fmt: skip
        saved = ""
        if request.method == "POST":
            chosen = frozenset(request.form.getlist("topics"))
            person = service.save_topics(value, chosen & set(KINDS))
            saved = ", ".join(KIND_TITLES[k].lower() for k in KINDS if k in person.topics)
        return pages.render(
            "list_preferences", heading="Your email preferences", address=address,
            action=action, topics=_topics(person.topics), saved=saved, problem="",
        )  # fmt: skip

    def signup_page(problem: str = "", status: int = 200, **form: str) -> Response:
        email = settings.email
        return pages.render(
            "list_subscribe", status, heading=f"Sign up for {title} news",
            action=service.public_url + "subscribe", problem=problem,
            form={"email": form.get("email", ""), "name": form.get("name", "")},
            topics=_topics(frozenset(KINDS)), consent_text=email["consent_text"],
            consent_version=email["consent_version"],
        )  # fmt: skip

    @app.get("/")
    @app.get("/subscribe")
    def subscribe_page() -> Response:
        return signup_page()

    @app.post("/subscribe")
    def subscribe() -> Response:
        form = request.form
        signup = SignupForm(
            email=form.get("email", ""),
            name=form.get("name", ""),
            topics=frozenset(form.getlist("topics")),
            consent=bool(form.get("consent")),
            honeypot=form.get("website", ""),
        )
        try:
            service.subscribe(signup, request.remote_addr or "unknown")
        except RefusedError as exc:
            if exc.status != 400:
                raise
            return signup_page(str(exc), 400, email=signup.email, name=signup.name)
        return pages.message(
            "Check your inbox",
            "If the address can get our emails, a message with a confirmation link is on its "
            "way. Open the link within 7 days to start getting the newsletter.",
        )

    @app.get("/confirm")
    def confirm_page() -> Response:
        # One button, as for unsubscribing: a mail scanner that fetches (GET or HEAD) every
        # link in the email must not complete the double opt-in nobody asked for.
        value = token()
        signup = service.pending(value)
        return pages.render(
            "list_confirm", heading="Confirm your subscription", address=signup.address,
            action=f"{service.public_url}confirm?t={value}", consent_text=signup.consent_text,
            consent_version=signup.consent_version,
        )  # fmt: skip

    @app.post("/confirm")
    def confirm() -> Response:
        signup = service.confirm(token())  # the consent is recorded at this moment
        return pages.message(
            "You are subscribed",
            f"Thank you: {signup.address} will get {title} news from the next issue on.",
        )

    @app.post("/webhooks/<provider>")
    def webhook(provider: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        if provider not in webhooks.PROVIDERS:
            return {"error": "no such webhook"}, 404, {}
        try:
            headers = {name.lower(): value for name, value in request.headers.items()}
            read, added = _webhook(service, provider, headers, request.get_data(), secrets)
        except RefusedError as exc:
            headers = {"WWW-Authenticate": 'Basic realm="webhooks"'} if exc.status == 401 else {}
            return {"error": str(exc)}, exc.status, headers
        return {"events": read, "suppressed": added}, 200, {}

    @app.get("/healthz")
    def health() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app


def _webhook(
    service: ListService,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    environ: Mapping[str, str],
) -> tuple[int, int]:
    """Verify and apply a provider's events; (events read, new suppressions)."""
    secret = environ.get(webhooks.VARIABLES[provider], "")
    user = service.settings["serve"]["postmark_webhook_user"]
    # Verified, checked for a replay and applied to the ledger in one step (web.webhooks).
    return webhooks.receive(service.ledger, provider, headers, body, secret, service.clock(), user)
