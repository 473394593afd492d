"""Admin pages: the users (add, change role, remove) and the audit log. Every handler checks the
role on the server first; every change is audited."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dotsync.console.passwords import hash_password
from dotsync.console.users import Role, UserInputError, check_name, check_password, parse_role
from dotsync.console.web import audit, console_state, flash, gettext, render, require_role
from dotsync.state.accounts import UserError

AUDIT_PAGE_SIZE = 200


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _users_page(
    request: Request, error: str | None = None, values: dict[str, str] | None = None
) -> Response:
    context: dict[str, Any] = {
        "accounts": console_state(request).accounts.all(),
        "roles": list(Role),
        "error": error,
        "values": values or {},
    }
    return render(request, "users.html", context, 400 if error else 200)


def _users(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    return _users_page(request)


async def users(request: Request) -> Response:
    return await run_in_threadpool(_users, request)


async def add_user(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_add_user, request, form)


def _add_user(request: Request, form: FormData) -> Response:
    admin = require_role(request, Role.ADMIN)
    name, role_text = _text(form, "name").strip(), _text(form, "role")
    values = {"name": name, "role": role_text}
    try:
        check_name(name)
        role = parse_role(role_text)
        password = check_password(_text(form, "password"), confirmation=_text(form, "confirm"))
        console_state(request).accounts.add(
            name, role, hash_password(password), created_by=admin.name
        )
    except UserInputError as exc:
        return _users_page(request, str(exc), values)
    except UserError as exc:
        return _users_page(request, exc.message, values)
    audit(request, "user.add", name, "ok", {"role": role.value})
    flash(request, gettext(request, "User %(name)s added.", name=name))
    return RedirectResponse("/users", status_code=303)


async def set_role(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_set_role, request, form)


def _set_role(request: Request, form: FormData) -> Response:
    require_role(request, Role.ADMIN)
    name = request.path_params["name"]
    accounts = console_state(request).accounts
    try:
        role = parse_role(_text(form, "role"))
        before = accounts.require(name).role
        accounts.set_role(name, role)
    except UserInputError as exc:
        return _users_page(request, str(exc))
    except UserError as exc:
        audit(request, "user.role", name, "refused")
        return _users_page(request, exc.message)
    audit(request, "user.role", name, "ok", {"from": before.value, "to": role.value})
    flash(
        request,
        gettext(request, "%(name)s is now %(role)s.", name=name, role=gettext(request, role.value)),
    )
    return RedirectResponse("/users", status_code=303)


async def remove_user(request: Request) -> Response:
    return await run_in_threadpool(_remove_user, request)


def _remove_user(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    name = request.path_params["name"]
    try:
        console_state(request).accounts.remove(name)
    except UserError as exc:
        audit(request, "user.remove", name, "refused")
        return _users_page(request, exc.message)
    audit(request, "user.remove", name)
    flash(request, gettext(request, "User %(name)s removed.", name=name))
    return RedirectResponse("/users", status_code=303)


def _audit_page(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    target = request.query_params.get("target") or None
    entries = console_state(request).audit_entries(target=target, limit=AUDIT_PAGE_SIZE)
    return render(request, "audit.html", {"entries": entries, "target": target or ""})


async def audit_page(request: Request) -> Response:
    return await run_in_threadpool(_audit_page, request)


ROUTES = [
    Route("/users", users, methods=["GET"]),
    Route("/users", add_user, methods=["POST"]),
    Route("/users/{name}/role", set_role, methods=["POST"]),
    Route("/users/{name}/remove", remove_user, methods=["POST"]),
    Route("/audit", audit_page, methods=["GET"]),
]
