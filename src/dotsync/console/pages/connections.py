"""Connections: the list, and the form an admin fills to connect an account (display name, API
user, a write-only password, the address book picked from the account's live list or typed, the
privacy notice, who may use it). *Connect* runs the CLI's checks one by one, with its messages,
and saves only when every check passed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import tomlkit
from pydantic import SecretStr
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dotsync.config import Config
from dotsync.connect import CHECKS, Check, explain_refusal, open_client
from dotsync.connection_check import ConnectOutcome, connect
from dotsync.console.pages._support import (
    FormState,
    errors_by_field,
    load_config_or_none,
    project_file,
    save_edit,
    text,
)
from dotsync.console.project import (
    SECRETS_DIR,
    Edit,
    InvalidEditError,
    table_at,
    update_table,
    validate_text,
    write_password,
)
from dotsync.console.web import Role, User, console_state, gettext, render, require_role
from dotsync.dotdigital import AddressBook
from dotsync.errors import DotsyncError
from dotsync.redaction import redact_emails

DEFAULT_API_URL = "https://r1-api.dotdigital.com"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
TEXT_FIELDS = ("display_name", "api_user", "api_url", "region", "address_book_id")


@dataclass(frozen=True)
class CheckLine:
    check: Check
    state: str  # passed | failed | not_run
    message: str = ""


def check_lines(passed: list[Check], error: str | None) -> list[CheckLine]:
    """Each check of Connect: passed, the one that failed (with the CLI's message), not run."""
    lines = []
    failed = False
    for check in CHECKS:
        if check in passed:
            lines.append(CheckLine(check, "passed"))
        elif error is not None and not failed:
            failed = True
            lines.append(CheckLine(check, "failed", error))
        else:
            lines.append(CheckLine(check, "not_run"))
    return lines


def _contributors(request: Request) -> list[str]:
    accounts = console_state(request).accounts.all()
    return sorted(a.name for a in accounts if a.role == Role.CONTRIBUTOR)


def _stored_user_domain(config: Config | None, name: str) -> str:
    """Where the stored API user is, never the address itself (a page shows no e-mail)."""
    if config is None or name not in config.connections:
        return ""
    return config.connections[name].api_user.rpartition("@")[2]


def _page(
    request: Request,
    user: User,
    form: FormState,
    *,
    checks: list[CheckLine] | None = None,
    books: list[AddressBook] | None = None,
    books_error: str | None = None,
    connected: ConnectOutcome | None = None,
    status: int = 200,
) -> Response:
    config, error = load_config_or_none(request)
    existing = form.values.get("existing", "")
    context: dict[str, Any] = {
        **form.context(),
        "config_error": error,
        "revision": form.values.get("revision") or project_file(request).read().revision,
        "checks": checks,
        "books": books,
        "books_error": books_error,
        "connected": connected,
        "contributors": _contributors(request),
        "stored_user_domain": _stored_user_domain(config, existing),
        "may_edit": user.can(Role.ADMIN),
        "connections": _rows(config),
    }
    return render(request, "pages/connections.html", context, status)


def _rows(config: Config | None) -> list[dict[str, Any]]:
    if config is None:
        return []
    return [
        {
            "name": name,
            "display_name": c.display_name or name,
            "address_book_id": c.address_book_id,
            "shared_with": c.shared_with,
            "exports": sorted(e for e, x in config.exports.items() if x.connection == name),
        }
        for name, c in config.connections.items()
    ]


def _values_of(config: Config | None, name: str) -> dict[str, Any]:
    if config is None or name not in config.connections:
        return {"api_url": DEFAULT_API_URL, "shared_with": []}
    c = config.connections[name]
    return {
        "name": name,
        "existing": name,
        "display_name": c.display_name or "",
        "api_url": c.api_url,
        "region": c.region or "",
        "address_book_id": str(c.address_book_id),
        "privacy": c.privacy_acknowledged,
        "shared_with": list(c.shared_with),
    }


async def connections_page(request: Request) -> Response:
    user = require_role(request, Role.VIEWER)
    config, _error = load_config_or_none(request)
    name = request.query_params.get("edit", "")
    return _page(request, user, FormState(values=_values_of(config, name)))


def _form_values(form_data: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form_data, name) for name in TEXT_FIELDS}
    picked = text(form_data, "address_book_pick")
    if picked:
        values["address_book_id"] = picked
    values.update(
        name=text(form_data, "name"),
        existing=text(form_data, "existing"),
        privacy=form_data.get("privacy") == "yes",
        shared_with=[str(v) for v in form_data.getlist("shared_with")],
    )
    return values


def _edit(name: str, values: dict[str, Any], *, new_password: bool) -> Edit:
    def edit(document: tomlkit.TOMLDocument) -> None:
        table = table_at(document, "connections", name)
        book: Any = values["address_book_id"]
        update_table(
            table,
            {
                "display_name": values["display_name"] or None,
                "api_user": values["api_user"] or None,  # empty: keep the stored one
                "address_book_id": int(book) if book.isdigit() else (book or None),
                "privacy_acknowledged": True,
                "region": values["region"] or None,
                "api_url": values["api_url"] or None,
                "shared_with": values["shared_with"] or None,
            },
        )
        if new_password:
            update_table(
                table,
                {
                    "password_file": f"{SECRETS_DIR}/{name}.password",
                    "password_env": None,
                    "password_keyring": None,
                },
            )

    return edit


def _candidate(request: Request, edit: Edit, name: str, form: FormState) -> Config | None:
    """The configuration the form would save, validated as the CLI would load it."""
    document = project_file(request).read().document()
    edit(document)
    try:
        return validate_text(tomlkit.dumps(document), console_state(request).config_path)
    except InvalidEditError as exc:
        form.errors.update(errors_by_field(exc.problems, f"connections.{name}", form.general))
        return None


def _read_form(request: Request, form_data: FormData) -> tuple[FormState, str, SecretStr | None]:
    values = _form_values(form_data)
    form = FormState(values={**values, "revision": text(form_data, "revision")})
    name = values["existing"] or values["name"]
    password = str(form_data.get("password") or "")
    if not _NAME.fullmatch(name):
        form.errors["name"] = gettext(
            request, "1 to 64 letters, digits, '_' or '-' (it names the connection in dotsync.toml)"
        )
    if not values["existing"]:
        config, _error = load_config_or_none(request)
        if config is not None and name in config.connections:
            form.errors["name"] = gettext(request, "a connection of this name exists already")
        if not values["api_user"]:
            form.errors["api_user"] = gettext(request, "the API user is needed")
        if not password:
            form.errors["password"] = gettext(request, "the API user's password is needed")
    return form, name, SecretStr(password) if password else None


async def save_connection(request: Request) -> Response:
    user = require_role(request, Role.ADMIN)
    form_data = await request.form()
    form, name, password = _read_form(request, form_data)
    if form_data.get("action") == "books":
        return await _books(request, user, form, name, password)
    if not form.values["privacy"]:
        form.errors["privacy"] = gettext(
            request, "Tick the box to agree: nothing is connected without it."
        )
    if form.errors:
        return _page(request, user, form, status=400)
    edit = _edit(name, form.values, new_password=password is not None)
    candidate = _candidate(request, edit, name, form)
    if candidate is None:
        return _page(request, user, form, status=400)
    passed: list[Check] = []
    try:
        outcome = connect(candidate, name, on_passed=passed.append, password=password)
    except DotsyncError as exc:
        lines = check_lines(passed, redact_emails(exc.message))
        return _page(request, user, form, checks=lines, status=400)
    if password is not None:
        write_password(console_state(request).project_dir, name, password.get_secret_value())
    action = "connection.edit" if form.values["existing"] else "connection.create"
    saved = save_edit(
        request,
        form.values["revision"],
        edit,
        prefix=f"connections.{name}",
        action=action,
        target=f"connections.{name}",
        form=form,
    )
    lines = check_lines(passed, None)
    if saved is None:
        return _page(request, user, form, checks=lines, status=409 if form.stale else 400)
    form.values.update(existing=name, revision=project_file(request).read().revision)
    return _page(request, user, form, checks=lines, connected=outcome)


async def _books(
    request: Request, user: User, form: FormState, name: str, password: SecretStr | None
) -> Response:
    """The account's address books with their member counts, read with the typed credentials
    (or the stored ones), to pick one; nothing is saved."""
    form.errors.pop("name", None)
    values = {**form.values, "address_book_id": form.values["address_book_id"] or "1"}
    key = name or "new"
    edit = _edit(key, values, new_password=password is not None)
    candidate = _candidate(request, edit, key, form)
    books: list[AddressBook] | None = None
    books_error = None
    if candidate is not None:
        connection = candidate.connections[key]
        try:
            with (
                explain_refusal(key, connection),
                open_client(
                    connection, name=key, config_path=candidate.path, password=password
                ) as client,
            ):
                client.discover()
                books = client.address_books()
        except DotsyncError as exc:
            books_error = redact_emails(exc.message)
    if request.headers.get("hx-request") == "true":  # htmx: only the picker, the form stays
        context = {"books": books, "books_error": books_error, **form.context()}
        return render(request, "pages/_books.html", context)
    return _page(request, user, form, books=books, books_error=books_error)


ROUTES = [
    Route("/connections", connections_page, methods=["GET"]),
    Route("/connections", save_connection, methods=["POST"]),
]
