"""Signing in and out, the first admin's setup link, the language switch, and ``/``."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dotsync.console.i18n import LANGUAGE_COOKIE, LANGUAGES
from dotsync.console.passwords import hash_password, needs_rehash, verify_password
from dotsync.console.security import safe_next
from dotsync.console.sessions import sign_in, sign_out
from dotsync.console.throttle import LoginThrottle
from dotsync.console.users import UserInputError, check_name, check_password
from dotsync.console.web import NAV, audit, console_state, current_user, gettext, render
from dotsync.state.accounts import UserError

LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _client(request: Request) -> str:
    # Behind --behind-proxy, uvicorn has put the proxy's X-Forwarded-For here.
    return request.client.host if request.client else "unknown"


async def home(request: Request) -> Response:
    return RedirectResponse(NAV[0].path if NAV else "/users", status_code=303)


async def login_page(request: Request) -> Response:
    if current_user(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return render(
        request, "login.html", {"next": request.query_params.get("next", ""), "error": None}
    )


async def login(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: FormData) -> Response:
    name, password, target = (
        _text(form, "name").strip(),
        _text(form, "password"),
        _text(form, "next"),
    )
    throttle: LoginThrottle = request.app.state.throttle
    address = _client(request)
    wait = throttle.retry_after(name, address)
    if wait is not None:
        audit(request, "login.throttled", name or "-", "refused")
        message = gettext(
            request, "Too many failed sign-ins. Try again in %(seconds)s seconds.", seconds=wait
        )
        response = render(request, "login.html", {"next": target, "error": message}, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    accounts = console_state(request).accounts
    account = accounts.get(name)
    if not verify_password(account.password_hash if account else None, password):
        throttle.failed(name, address)
        audit(request, "login.failed", name or "-", "refused")
        message = gettext(request, "Wrong user name or password.")
        return render(request, "login.html", {"next": target, "error": message}, 401)
    assert account is not None
    throttle.succeeded(name)
    if needs_rehash(account.password_hash):
        accounts.set_password(name, hash_password(password), end_sessions=False)
    sign_in(request, account)
    request.scope["dotsync.user"] = account.user
    audit(request, "login", name)
    return RedirectResponse(safe_next(target), status_code=303)


async def logout(request: Request) -> Response:
    user = current_user(request)
    if user is not None:
        await run_in_threadpool(audit, request, "logout", user.name)
    sign_out(request)
    return RedirectResponse("/login", status_code=303)


async def setup_page(request: Request) -> Response:
    token = request.query_params.get("token", "")
    return await run_in_threadpool(_setup_form, request, token, None, {})


def _setup_form(
    request: Request, token: str, error: str | None, values: dict[str, str], status: int = 200
) -> Response:
    accounts = console_state(request).accounts
    if accounts.has_admin():
        message = gettext(request, "The console is set up already: sign in.")
        return render(request, "setup_done.html", {"message": message}, 410)
    if not accounts.setup_token_valid(token):
        message = gettext(
            request,
            "This setup link is not valid: it was used, replaced by a newer one, or it expired. "
            "Restart dotsync serve for a new link, or run: dotsync users add NAME --role admin",
        )
        return render(request, "setup_done.html", {"message": message}, 403)
    context: dict[str, Any] = {"token": token, "error": error, "values": values}
    return render(request, "setup.html", context, status)


async def setup(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_setup, request, form)


def _setup(request: Request, form: FormData) -> Response:
    token, name = _text(form, "token"), _text(form, "name").strip()
    try:
        check_name(name)
        password = check_password(_text(form, "password"), confirmation=_text(form, "confirm"))
        state = console_state(request)
        account = state.accounts.create_first_admin(token, name, hash_password(password))
    except UserInputError as exc:
        return _setup_form(request, token, str(exc), {"name": name}, 400)
    except UserError as exc:
        return _setup_form(request, token, exc.message, {"name": name}, 400)
    sign_in(request, account)
    request.scope["dotsync.user"] = account.user
    audit(request, "setup", name, "ok", {"role": "admin"})
    return RedirectResponse("/users", status_code=303)


async def switch_language(request: Request) -> Response:
    form = await request.form()
    code = _text(form, "lang")
    response = RedirectResponse(safe_next(_text(form, "next")), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.app.state.secure_cookies,
        )
    return response


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/setup", setup_page, methods=["GET"]),
    Route("/setup", setup, methods=["POST"]),
    Route("/language", switch_language, methods=["POST"]),
]
