"""The contract the console's pages are written against (``dotsync.console.pages`` uses only
this module, ``dotsync.console.users`` and ``dotsync.console.context``).

- ``render(request, template, context=None, status_code=200) -> HTMLResponse``: renders
  ``templates/<template>`` in the request's language. Every template gets ``request``, ``user``
  (a :class:`User` or None), ``nav`` (the :data:`NAV` items the user may see), ``lang``,
  ``languages``, ``flashes``, and the globals ``csrf_input()`` (the hidden CSRF field every form
  that posts must hold), ``csrf_token()``, ``static(path)`` and ``_()``/``gettext``/``ngettext``
  (newstyle: ``_("%(n)s rows", n=3)``). Templates extend ``base.html`` and fill the blocks
  ``title`` and ``content``. Undefined variables fail (StrictUndefined).
- ``require_role(request, role) -> User``: the signed-in user if their role allows ``role``;
  otherwise a 403 page (and an ``access.denied`` audit entry), or a redirect to the login page when
  nobody is signed in. Call it first in every handler, for reads (``Role.VIEWER``) and for every
  action: a hidden button is not a check.
- ``current_user(request) -> User | None``.
- ``audit(request, action, target, outcome="ok", detail=None)``: one audit-log entry by the
  signed-in user (details are strings; e-mail addresses in them are redacted).
- ``console_state(request) -> ConsoleState``: ``config_path``, ``project_dir``, ``work_dir``,
  ``load_config()``, ``config_changed()``, ``store()``, ``request_run(export, user)``,
  ``request_cancel(export, user)``, ``run_request(id)``, ``run_requests(export)``,
  ``audit_entries(target, actions)``, ``changes(export)`` (see dotsync.console.context).
- ``gettext(request, message, **variables) -> str``: a message of Python code, translated.
- ``flash(request, message)``: a message shown once, on the next page rendered (after a redirect).
- ``NAV``: the navigation, in order; pages may add items (``NavItem(path, label, role)``); labels
  are message ids, translated when shown.

Every POST, PUT, PATCH and DELETE is refused (403) without the session's CSRF token, as the form
field ``csrf_token`` or the ``X-CSRF-Token`` header, before any handler runs; every path but
``/login``, ``/setup``, ``/language``, ``/static/``, ``/healthz`` and ``/metrics`` needs a signed-in
user. Pages cannot opt out of either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse

from dotsync.console.context import ConsoleState
from dotsync.console.i18n import LANGUAGE_COOKIE, LANGUAGES, language, negotiate
from dotsync.console.templating import Templates
from dotsync.console.users import Role, User

__all__ = [
    "NAV",
    "ConsoleState",
    "LoginRequiredError",
    "NavItem",
    "Role",
    "User",
    "audit",
    "console_state",
    "current_user",
    "flash",
    "gettext",
    "render",
    "request_language",
    "require_role",
]

USER_SCOPE_KEY = "dotsync.user"
_LANGUAGE_SCOPE_KEY = "dotsync.language"
_FLASH_KEY = "flash"


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # a message id
    role: Role = Role.VIEWER


NAV: list[NavItem] = [
    NavItem("/destinations", "Export destinations"),
    NavItem("/source", "Source"),
    NavItem("/segments", "Segments"),
    NavItem("/users", "Users", Role.ADMIN),
    NavItem("/audit", "Audit log", Role.ADMIN),
]


class LoginRequiredError(Exception):
    """Nobody is signed in: answered with a redirect to the login page."""


def console_state(request: HTTPConnection) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def current_user(request: HTTPConnection) -> User | None:
    user: User | None = request.scope.get(USER_SCOPE_KEY)
    return user


def require_role(request: HTTPConnection, role: Role) -> User:
    user = current_user(request)
    if user is None:
        raise LoginRequiredError
    if not user.can(role):
        audit(request, "access.denied", request.url.path, "refused", {"needed": role.value})
        raise HTTPException(
            403,
            detail=gettext(
                request,
                "Your role (%(role)s) does not allow this; it needs %(needed)s.",
                role=gettext(request, user.role.value),
                needed=gettext(request, role.value),
            ),
        )
    return user


def audit(
    request: HTTPConnection,
    action: str,
    target: str,
    outcome: str = "ok",
    detail: dict[str, str] | None = None,
) -> None:
    user = current_user(request)
    actor = user.name if user is not None else "anonymous"
    console_state(request).audit_log.record(actor, action, target, outcome, detail)


def request_language(request: HTTPConnection) -> str:
    code: str | None = request.scope.get(_LANGUAGE_SCOPE_KEY)
    if code is None:
        code = negotiate(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        request.scope[_LANGUAGE_SCOPE_KEY] = code
    return code


def gettext(request: HTTPConnection, message: str, **variables: Any) -> str:
    translated = language(request_language(request)).gettext(message)
    return translated % variables if variables else translated


def flash(request: HTTPConnection, message: str) -> None:
    request.session[_FLASH_KEY] = [*request.session.get(_FLASH_KEY, []), message]


def _pop_flashes(request: HTTPConnection) -> list[str]:
    if "session" not in request.scope:
        return []
    flashes: list[str] = request.session.pop(_FLASH_KEY, [])
    return flashes


def render(
    request: Request | HTTPConnection,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    templates: Templates = request.app.state.templates
    code = request_language(request)
    user = current_user(request)
    full: dict[str, Any] = {
        "request": request,
        "user": user,
        "nav": [item for item in NAV if user is not None and user.can(item.role)],
        "lang": code,
        "languages": LANGUAGES,
        "flashes": _pop_flashes(request),
        **(context or {}),
    }
    html = templates.environment(code).get_template(template).render(full)
    return HTMLResponse(html, status_code=status_code)
