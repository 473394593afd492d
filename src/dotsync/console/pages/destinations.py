"""Export destinations: one row per export (connection, address book, status, last refreshed,
next run, members in the book) with its actions; Run now and Cancel (requests that ``dotsync
serve`` carries out); Detach connection; Remove, with the choice to take the members out of the
book and a confirmation naming the book and how many members it holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dotsync.config import Config
from dotsync.connect import explain_refusal
from dotsync.console.pages._support import (
    FormState,
    load_config_or_none,
    may_use_connection,
    project_file,
    require_config,
    require_export_user,
    save_edit,
    text,
)
from dotsync.console.project import remove_entry
from dotsync.console.schedule_text import describe_schedule
from dotsync.console.web import (
    Role,
    audit,
    console_state,
    flash,
    gettext,
    render,
    require_role,
)
from dotsync.errors import DotsyncError
from dotsync.redaction import redact_emails
from dotsync.remove import remove_destination
from dotsync.result import RunResult, RunStatus
from dotsync.state import StateStore

FINISHED = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


@dataclass(frozen=True)
class DestinationRow:
    name: str
    connection: str
    address_book_id: int
    status: str  # a run status, "never_run", or "requested" (a Run now not started yet)
    last_refreshed: datetime | None
    next_run: datetime | None
    members: int
    may_act: bool
    last_run_id: int | None


def destination_rows(
    config: Config,
    store: StateStore,
    *,
    may_act: Callable[[str], bool],
    pending: set[str],
    now: datetime,
) -> list[DestinationRow]:
    rows = []
    for name, export in config.exports.items():
        runs = store.list_runs(name, limit=20)
        last = runs[0] if runs else None
        refreshed = next((r for r in runs if r.status in FINISHED), None)
        next_run = None
        if export.schedule:
            next_run = describe_schedule(export.schedule, export.timezone, now=now).next_runs[0]
        connection = config.connections[export.connection]
        status = (
            "requested"
            if name in pending and (last is None or last.status != RunStatus.RUNNING)
            else (last.status.value if last else "never_run")
        )
        rows.append(
            DestinationRow(
                name=name,
                connection=connection.display_name or export.connection,
                address_book_id=connection.address_book_id,
                status=status,
                last_refreshed=_finished_at(refreshed),
                next_run=next_run,
                members=store.members.count(name),
                may_act=bool(may_act(export.connection)),
                last_run_id=last.run_id if last else None,
            )
        )
    return rows


def _finished_at(run: RunResult | None) -> datetime | None:
    return None if run is None else run.finished_at or run.started_at


async def destinations_page(request: Request) -> Response:
    user = require_role(request, Role.VIEWER)
    config, error = load_config_or_none(request)
    state = console_state(request)
    rows: list[DestinationRow] = []
    if config is not None:
        pending = {r.export for r in state.run_requests(limit=50) if not r.finished}
        with state.store() as store:
            rows = destination_rows(
                config,
                store,
                may_act=lambda connection: may_use_connection(user, config, connection),
                pending=pending,
                now=datetime.now(UTC),
            )
    context = {
        "rows": rows,
        "config_error": error,
        "has_config": config is not None,
        "may_create": user.can(Role.CONTRIBUTOR) and config is not None,
        "revision": project_file(request).read().revision,
    }
    return render(request, "pages/destinations.html", context)


async def run_now(request: Request) -> Response:
    config = require_config(request)
    name = request.path_params["name"]
    user = require_export_user(request, config, name)
    request_id = console_state(request).request_run(name, user)
    return RedirectResponse(f"/exports/{name}/run?request={request_id}", status_code=303)


async def cancel(request: Request) -> Response:
    config = require_config(request)
    name = request.path_params["name"]
    user = require_export_user(request, config, name)
    form = await request.form()
    console_state(request).request_cancel(name, user)
    flash(request, gettext(request, "Cancel asked: the run stops at its next checkpoint."))
    back = text(form, "back") or f"/exports/{name}/run"
    return RedirectResponse(back if back.startswith("/") else "/", status_code=303)


def _book_of(request: Request, config: Config, name: str) -> dict[str, Any]:
    """What a confirmation names: the export, its book, its connection, the members dotsync
    holds there."""
    connection = config.connections[config.exports[name].connection]
    with console_state(request).store() as store:
        members = store.members.count(name)
    return {
        "name": name,
        "book": connection.address_book_id,
        "connection": connection.display_name or config.exports[name].connection,
        "members": members,
    }


async def confirm_detach(request: Request) -> Response:
    config = require_config(request)
    name = request.path_params["name"]
    require_export_user(request, config, name)
    return render(request, "pages/detach.html", _book_of(request, config, name))


async def detach(request: Request) -> Response:
    """The export lets go of its connection's book: dotsync forgets what it stored for it (as
    ``dotsync remove`` without ``--purge-members``: its members stay in the book, untouched),
    and keeps its settings, to attach it to another connection."""
    config = require_config(request)
    name = request.path_params["name"]
    require_export_user(request, config, name)
    export = config.exports[name]
    try:
        with explain_refusal(export.connection, config.connections[export.connection]):
            report = remove_destination(config, name, purge_members=False)
    except DotsyncError as exc:
        audit(request, "export.detach", name, "failed", {"error": exc.message})
        raise HTTPException(409, detail=redact_emails(exc.message)) from None
    audit(request, "export.detach", name, detail={"connection": export.connection})
    flash(
        request,
        gettext(
            request,
            "Export %(name)s is detached from its connection: %(forgotten)s members left in the "
            "book as they are. Choose its connection again, or another one.",
            name=name,
            forgotten=str(report.members_forgotten),
        ),
    )
    return RedirectResponse(f"/exports/{name}#f-connection", status_code=303)


async def confirm_remove(request: Request) -> Response:
    config = require_config(request)
    name = request.path_params["name"]
    require_export_user(request, config, name)
    context = {
        **_book_of(request, config, name),
        "revision": project_file(request).read().revision,
        "general": [],
    }
    return render(request, "pages/remove.html", context)


async def remove(request: Request) -> Response:
    config = require_config(request)
    name = request.path_params["name"]
    require_export_user(request, config, name)
    form_data = await request.form()
    purge = form_data.get("purge_members") == "yes"
    if form_data.get("confirm") != name:
        raise HTTPException(400, detail=gettext(request, "Type the export's name to confirm."))
    export = config.exports[name]
    try:
        with explain_refusal(export.connection, config.connections[export.connection]):
            report = remove_destination(config, name, purge_members=purge)
    except DotsyncError as exc:
        audit(request, "export.remove", name, "failed", {"error": exc.message})
        raise HTTPException(409, detail=redact_emails(exc.message)) from None
    form = FormState()
    saved = save_edit(
        request,
        text(form_data, "revision"),
        lambda document: remove_entry(document, "exports", name),
        prefix=f"exports.{name}",
        action="export.remove",
        target=name,
        form=form,
    )
    if saved is None:  # the state is gone, the file changed meanwhile: say so, keep the rest
        flash(request, " ".join(form.general))
    forgotten = f"{report.members_forgotten:,}"
    removed = f"{report.members_removed_from_book:,}"
    message = gettext(
        request,
        "Export %(name)s removed: %(forgotten)s members forgotten, %(removed)s removed from the "
        "address book.",
        name=name,
        forgotten=forgotten,
        removed=removed,
    )
    flash(request, message)
    return RedirectResponse("/destinations", status_code=303)


ROUTES = [
    Route("/destinations", destinations_page, methods=["GET"]),
    Route("/exports/{name}/run-now", run_now, methods=["POST"]),
    Route("/exports/{name}/cancel", cancel, methods=["POST"]),
    Route("/exports/{name}/detach", confirm_detach, methods=["GET"]),
    Route("/exports/{name}/detach", detach, methods=["POST"]),
    Route("/exports/{name}/remove", confirm_remove, methods=["GET"]),
    Route("/exports/{name}/remove", remove, methods=["POST"]),
]
