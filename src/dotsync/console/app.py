"""The one ASGI app of ``dotsync serve``: ``/healthz`` and ``/metrics`` always; the console's
pages (the core's and ``dotsync.console.pages.ROUTES``) unless ``--no-console``.

Middleware, outermost first: security headers; the signed session cookie; the CSRF check of
unsafe requests; sign-in (see ``dotsync.console.security``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from dotsync.console import admin_routes, auth_routes, pages
from dotsync.console.context import ConsoleState
from dotsync.console.ops import HealthCheck, not_found, ops_routes
from dotsync.console.security import (
    AuthMiddleware,
    CsrfMiddleware,
    SecurityHeadersMiddleware,
    _to_login,
)
from dotsync.console.sessions import SESSION_COOKIE, SESSION_MAX_AGE, session_secret
from dotsync.console.templating import Templates
from dotsync.console.throttle import LoginThrottle
from dotsync.console.web import USER_SCOPE_KEY, LoginRequiredError, gettext, render
from dotsync.serve.metrics import MetricsRegistry

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Transport:
    """How the console is reached: over TLS itself, or behind a reverse proxy that terminates
    TLS (cookies are then marked Secure either way)."""

    tls: bool = False
    behind_proxy: bool = False

    @property
    def secure_cookies(self) -> bool:
        return self.tls or self.behind_proxy


def build_app(
    metrics: MetricsRegistry,
    health: HealthCheck,
    console: ConsoleState | None,
    transport: Transport | None = None,
) -> Starlette:
    transport = transport or Transport()
    if console is None:
        return Starlette(
            routes=ops_routes(metrics, health),
            middleware=[Middleware(SecurityHeadersMiddleware, tls=transport.tls)],
            exception_handlers={404: not_found},
        )
    routes: list[BaseRoute] = [
        *ops_routes(metrics, health),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        *pages.ROUTES,
        *auth_routes.ROUTES,
        *admin_routes.ROUTES,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeadersMiddleware, tls=transport.tls),
            Middleware(
                SessionMiddleware,
                secret_key=session_secret(console.work_dir),
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE,
                same_site="lax",
                https_only=transport.secure_cookies,
            ),
            Middleware(CsrfMiddleware, refuse=_refuse),
            Middleware(AuthMiddleware, state=lambda: console, user_key=USER_SCOPE_KEY),
        ],
        exception_handlers={
            HTTPException: _http_error,
            LoginRequiredError: _login_required,
        },
    )
    app.state.console = console
    app.state.templates = Templates()
    app.state.throttle = LoginThrottle()
    app.state.secure_cookies = transport.secure_cookies
    return app


def _refuse(request: Request, status: int, reason: str) -> Response:
    message = gettext(
        request,
        "This form has expired or did not come from this console, so it was refused. "
        "Go back, reload the page and try again.",
    )
    return render(request, "error.html", {"status": status, "message": message}, status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = gettext(request, "There is no page at this address.")
    elif exc.status_code == 405:
        message = gettext(request, "This page does not accept this kind of request.")
    else:
        message = str(exc.detail)
    return render(
        request, "error.html", {"status": exc.status_code, "message": message}, exc.status_code
    )


async def _login_required(request: Request, _exc: Exception) -> Response:
    return _to_login(request)
