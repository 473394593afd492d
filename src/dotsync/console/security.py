"""The console's guards, as ASGI middleware so that no page can forget them:

- security headers on every response (a CSP that allows no inline script, style or eval, no
  framing; HSTS under TLS);
- the CSRF check of every state-changing request (POST, PUT, PATCH, DELETE): the session's token
  as the form field ``csrf_token`` or the ``X-CSRF-Token`` header, else 403;
- sign-in: the session's user is resolved once per request (an ended session is cleared), and
  every path but the public ones redirects to the login page when nobody is signed in.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import quote

import anyio
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dotsync.console.context import ConsoleState
from dotsync.console.sessions import CSRF_KEY, session_user
from dotsync.console.templating import CSRF_FIELD

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PREFIXES = ("/login", "/setup", "/language", "/static/", "/healthz", "/metrics")
MAX_FORM_BYTES = 16 * 1024 * 1024  # a configuration or a CSV sample, never more

Renderer = Callable[[Request, int, str], Response]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Cache-Control"] = "no-store"  # pages hold names and settings
                if self.tls:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CsrfMiddleware:
    """Reads the body of an unsafe request (up to MAX_FORM_BYTES), checks the token, then hands the
    same body on to the app."""

    def __init__(self, app: ASGIApp, *, refuse: Renderer) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_FORM_BYTES:
                response = PlainTextResponse("request too large", status_code=413)
                await response(scope, receive, send)
                return
        replay = _replayer(bytes(body))
        request = Request(scope, replay())
        expected = request.session.get(CSRF_KEY)
        sent = request.headers.get("x-csrf-token")
        if sent is None and body:
            form = await request.form()
            field = form.get(CSRF_FIELD)
            sent = field if isinstance(field, str) else None
            await form.close()
        valid = isinstance(expected, str) and isinstance(sent, str)
        if not (valid and hmac.compare_digest(str(expected).encode(), str(sent).encode())):
            await self.refuse(request, 403, "csrf")(scope, receive, send)
            return
        await self.app(scope, replay(), send)


def _replayer(body: bytes) -> Callable[[], Receive]:
    def make() -> Receive:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await anyio.sleep_forever()  # the body was read: wait for the disconnect
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return receive

    return make


class AuthMiddleware:
    """Resolves the session's user (kept in the scope for ``web.current_user``) and sends
    anonymous requests of non-public paths to the login page."""

    def __init__(self, app: ASGIApp, *, state: Callable[[], ConsoleState], user_key: str) -> None:
        self.app = app
        self.state = state
        self.user_key = user_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        accounts = self.state().accounts
        user = await anyio.to_thread.run_sync(session_user, connection, accounts)
        scope[self.user_key] = user
        path: str = scope["path"]
        if user is None and not _public(path):
            await _to_login(connection)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES) or path == "/favicon.ico"


def _to_login(connection: HTTPConnection) -> Response:
    target = connection.url.path
    if connection.url.query:
        target += "?" + connection.url.query
    location = "/login?next=" + quote(target, safe="/")
    if connection.headers.get("hx-request"):
        # htmx would swap the login page into a fragment: ask it to load the page instead.
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def safe_next(value: str | None) -> str:
    """A redirect target after login: a path of this site only (never //host or a URL)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"
