"""The export form: its connection and segments (with live counts and the profile cap), the
mapping of the source's columns to the e-mail, the five optional fields and custom data fields,
the schedule in words with its next runs, what happens to segment leavers, the mass-removal
guard; *Preview* shows what a run would do (``dotsync plan``), *Save* writes ``[exports.NAME]``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import available_timezones

import tomlkit
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tomlkit.items import InlineTable, Table

from dotsync.api import plan_export
from dotsync.config import STANDARD_FIELDS, Config, DataFieldMapping, ExportConfig
from dotsync.connect import open_client
from dotsync.console.pages._support import (
    FormState,
    errors_by_field,
    locale,
    may_use_connection,
    project_file,
    require_config,
    require_export_user,
    save_edit,
    text,
    whole_number,
)
from dotsync.console.project import (
    Edit,
    InvalidEditError,
    copy_entry,
    table_at,
    update_table,
    validate_text,
)
from dotsync.console.schedule_text import ScheduleView, describe_schedule
from dotsync.console.source_checks import check_source, count_segments
from dotsync.console.web import Role, User, console_state, flash, gettext, render, require_role
from dotsync.errors import DotsyncError
from dotsync.redaction import redact_emails
from dotsync.runner import DryRun

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_REGIONS = ("Europe/", "America/", "Asia/", "Australia/", "Africa/")
FIELD_TYPES = ("String", "Numeric", "Date", "Boolean")
EXTRA_DATA_FIELD_ROWS = 2
RESERVED = frozenset({"new", "schedule"})  # pages of their own under /exports/
DEFAULTS = ExportConfig.model_fields
# Offered as one types (any IANA name is accepted, and checked as the CLI checks it).
TIMEZONES = ["UTC", *sorted(z for z in available_timezones() if z.startswith(_REGIONS))]


def _data_field_rows(export: ExportConfig | None) -> list[dict[str, str]]:
    rows = []
    if export is not None:
        for name, target in export.mapping.data_fields.items():
            if isinstance(target, DataFieldMapping):
                rows.append({"name": name, "column": target.column, "type": target.type or ""})
            else:
                rows.append({"name": name, "column": target, "type": ""})
    return rows


def _values_of(export: ExportConfig | None, name: str) -> dict[str, Any]:
    if export is None:
        return {
            "segments": [],
            "max_profiles": "1000000",
            "on_segment_exit": "remove",
            "timezone": "UTC",
            "max_removal_percent": "20",
            "min_removals_guarded": "10",
            "data_fields": [],
        }
    mapping = export.mapping
    return {
        "name": name,
        "existing": name,
        "connection": export.connection,
        "segments": list(export.segments),
        "max_profiles": str(export.max_profiles),
        "on_segment_exit": export.on_segment_exit,
        "create_missing_data_fields": export.create_missing_data_fields,
        "schedule": export.schedule or "",
        "timezone": export.timezone,
        "max_removal_percent": f"{export.max_removal_fraction * 100:g}",
        "min_removals_guarded": str(export.min_removals_guarded),
        "mapping.email": mapping.email,
        **{f"mapping.{key}": getattr(mapping, key) or "" for key in STANDARD_FIELDS},
        "data_fields": _data_field_rows(export),
    }


def _account_fields(config: Config, connection: str) -> dict[str, str]:
    """The account's data fields (name → type), to pick from; none when it cannot be read."""
    found = config.connections.get(connection)
    if found is None:
        return {}
    try:
        with open_client(found, name=connection, config_path=config.path) as client:
            return {f.name: f.type for f in client.data_fields()}
    except DotsyncError:
        return {}


def schedule_view(request: Request, cron: str, timezone: str) -> ScheduleView | None:
    if not cron:
        return None
    try:
        return describe_schedule(cron, timezone, now=datetime.now(UTC), locale=locale(request))
    except (ValueError, KeyError, DotsyncError):
        return None


def _page(
    request: Request,
    user: User,
    form: FormState,
    *,
    preview: DryRun | None = None,
    preview_error: str | None = None,
    status: int = 200,
) -> Response:
    config = require_config(request)
    project_dir = console_state(request).project_dir
    counts = count_segments(config.source, config.segments, project_dir) if config.segments else []
    connection = str(form.values.get("connection") or "")
    values = form.values
    rows = list(values.get("data_fields", []))
    rows += [{"name": "", "column": "", "type": ""}] * EXTRA_DATA_FIELD_ROWS
    context: dict[str, Any] = {
        **form.context(),
        "revision": values.get("revision") or project_file(request).read().revision,
        "connections": [
            (name, c.display_name or name)
            for name, c in config.connections.items()
            if may_use_connection(user, config, name)
        ],
        "segment_counts": counts,
        "columns": check_source(config.source, project_dir).columns,
        "standard_fields": list(STANDARD_FIELDS),
        "data_field_rows": rows,
        "field_types": FIELD_TYPES,
        "account_fields": _account_fields(config, connection) if connection else {},
        "timezones": TIMEZONES,
        "schedule": schedule_view(
            request, str(values.get("schedule") or ""), str(values.get("timezone") or "UTC")
        ),
        "preview": preview,
        "preview_error": preview_error,
        "cap": DEFAULTS["max_profiles"].default,
    }
    return render(request, "pages/export_form.html", context, status)


async def new_export(request: Request) -> Response:
    user = require_role(request, Role.CONTRIBUTOR)
    config = require_config(request)
    copy_of = request.query_params.get("copy")
    values = _values_of(config.exports.get(copy_of) if copy_of else None, "")
    values.pop("existing", None)
    if copy_of:
        values.update(name=f"{copy_of}_copy", copy_of=copy_of)
    return _page(request, user, FormState(values=values))


async def edit_export(request: Request) -> Response:
    user = require_role(request, Role.VIEWER)
    config = require_config(request)
    name = request.path_params["name"]
    if name not in config.exports:
        raise HTTPException(404)
    if not may_use_connection(user, config, config.exports[name].connection):
        return RedirectResponse(f"/exports/{name}/history", status_code=303)
    return _page(request, user, FormState(values=_values_of(config.exports[name], name)))


def _form_values(form_data: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        key: text(form_data, key)
        for key in (
            "name",
            "existing",
            "copy_of",
            "connection",
            "max_profiles",
            "on_segment_exit",
            "schedule",
            "timezone",
            "max_removal_percent",
            "min_removals_guarded",
            "mapping.email",
            *(f"mapping.{key}" for key in STANDARD_FIELDS),
        )
    }
    values["segments"] = [str(s) for s in form_data.getlist("segments")]
    values["create_missing_data_fields"] = form_data.get("create_missing_data_fields") == "yes"
    names = form_data.getlist("df_name")
    columns = form_data.getlist("df_column")
    kinds = form_data.getlist("df_type")
    values["data_fields"] = [
        {"name": str(n).strip(), "column": str(c).strip(), "type": str(t).strip()}
        for n, c, t in zip(names, columns, kinds, strict=False)
        if str(n).strip() or str(c).strip()
    ]
    return values


def _data_fields_table(rows: list[dict[str, str]]) -> InlineTable:
    table = tomlkit.inline_table()
    for row in rows:
        if row["type"]:
            table[row["name"]] = {"column": row["column"], "type": row["type"]}
        else:
            table[row["name"]] = row["column"]
    return table


def _set(table: Table, key: str, value: object, default: object) -> None:
    """Write ``value``; a default value is written only where the file already has the key."""
    if value == default and key not in table:
        return
    update_table(table, {key: value})


def _edit(name: str, v: dict[str, Any], numbers: dict[str, int | None]) -> Edit:
    def edit(document: tomlkit.TOMLDocument) -> None:
        if v.get("copy_of") and not v.get("existing"):
            copy_entry(document, "exports", v["copy_of"], name)  # keeps what the form omits
        table = table_at(document, "exports", name)
        update_table(table, {"connection": v["connection"] or None, "segments": v["segments"]})
        _set(table, "max_profiles", numbers["max_profiles"], DEFAULTS["max_profiles"].default)
        _set(table, "on_segment_exit", v["on_segment_exit"] or "remove", "remove")
        _set(table, "create_missing_data_fields", v["create_missing_data_fields"], False)
        update_table(table, {"schedule": v["schedule"] or None})
        _set(table, "timezone", v["timezone"] or "UTC", "UTC")
        percent = numbers["max_removal_percent"]
        fraction = None if percent is None else percent / 100
        _set(table, "max_removal_fraction", fraction, DEFAULTS["max_removal_fraction"].default)
        _set(
            table,
            "min_removals_guarded",
            numbers["min_removals_guarded"],
            DEFAULTS["min_removals_guarded"].default,
        )
        mapping = table_at(document, "exports", name, "mapping")
        update_table(mapping, {"email": v["mapping.email"] or None})
        update_table(mapping, {key: v[f"mapping.{key}"] or None for key in STANDARD_FIELDS})
        rows = v["data_fields"]
        update_table(mapping, {"data_fields": _data_fields_table(rows) if rows else None})

    return edit


def _numbers(request: Request, form_data: FormData, form: FormState) -> dict[str, int | None]:
    return {
        key: whole_number(form_data, key, form.errors, request)
        for key in ("max_profiles", "max_removal_percent", "min_removals_guarded")
    }


def _errors_beside_fields(form: FormState) -> None:
    """Key paths the form shows under another name."""
    for key, field in (
        ("max_removal_fraction", "max_removal_percent"),
        ("mapping.data_fields", "data_fields"),
        ("mapping", "mapping.email"),
    ):
        if key in form.errors:
            form.errors[field] = form.errors.pop(key)


async def save_export(request: Request) -> Response:
    config = require_config(request)
    form_data = await request.form()
    values = _form_values(form_data)
    name = values["existing"] or values["name"]
    if values["existing"]:
        user = require_export_user(request, config, name)
    else:
        user = require_role(request, Role.CONTRIBUTOR)
    form = FormState(values={**values, "revision": text(form_data, "revision")})
    if values["connection"] and not may_use_connection(user, config, values["connection"]):
        require_role(request, Role.ADMIN)  # refused: a connection not shared with this user
    if not _NAME.fullmatch(name) or name in RESERVED:
        form.errors["name"] = gettext(
            request, "1 to 64 letters, digits, '_' or '-' (it names the export in dotsync.toml)"
        )
    elif not values["existing"] and name in config.exports:
        form.errors["name"] = gettext(request, "an export of this name exists already")
    numbers = _numbers(request, form_data, form)
    if form.errors:
        return _page(request, user, form, status=400)
    edit = _edit(name, values, numbers)
    if form_data.get("action") == "preview":
        return _preview(request, user, form, edit, name)
    saved = save_edit(
        request,
        form.values["revision"],
        edit,
        prefix=f"exports.{name}",
        action="export.edit" if values["existing"] else "export.create",
        target=name,
        form=form,
    )
    if saved is None:
        _errors_beside_fields(form)
        return _page(request, user, form, status=409 if form.stale else 400)
    flash(request, gettext(request, "Export %(name)s is saved.", name=name))
    return RedirectResponse("/destinations", status_code=303)


def _preview(request: Request, user: User, form: FormState, edit: Edit, name: str) -> Response:
    """What a run of the export as typed would do, read from the source, the state and the
    account; nothing is saved or sent."""
    document = project_file(request).read().document()
    edit(document)
    try:
        candidate = validate_text(tomlkit.dumps(document), console_state(request).config_path)
    except InvalidEditError as exc:
        form.errors.update(errors_by_field(exc.problems, f"exports.{name}", form.general))
        _errors_beside_fields(form)
        return _page(request, user, form, status=400)
    try:
        dry = plan_export(candidate, name)
    except DotsyncError as exc:
        return _page(request, user, form, preview_error=redact_emails(exc.message), status=400)
    return _page(request, user, form, preview=dry)


async def describe(request: Request) -> Response:
    """The schedule typed so far, in words, with its next runs (the form asks as one types)."""
    require_role(request, Role.VIEWER)
    cron = request.query_params.get("schedule", "").strip()
    zone = request.query_params.get("timezone", "UTC").strip() or "UTC"
    return render(request, "pages/_schedule.html", {"schedule": schedule_view(request, cron, zone)})


ROUTES = [
    Route("/exports/new", new_export, methods=["GET"]),
    Route("/exports/schedule", describe, methods=["GET"]),
    Route("/exports", save_export, methods=["POST"]),
    Route("/exports/{name}", edit_export, methods=["GET"]),
]
