"""The segments page: each segment's definition and its members counted now; a form to add or
change one (a ``where`` predicate, or SQL for admins only) with a count before saving."""

from __future__ import annotations

import re
from typing import Any

import tomlkit
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dotsync.config import Config, SegmentConfig
from dotsync.console.pages._support import (
    FormState,
    errors_by_field,
    load_config_or_none,
    project_file,
    save_edit,
    text,
)
from dotsync.console.project import (
    Edit,
    InvalidEditError,
    remove_entry,
    table_at,
    update_table,
    validate_text,
)
from dotsync.console.source_checks import SegmentCount, count_segments
from dotsync.console.web import (
    Role,
    User,
    console_state,
    flash,
    gettext,
    render,
    require_role,
)

KINDS = ("where", "sql")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _rows(config: Config | None, counts: dict[str, SegmentCount]) -> list[dict[str, Any]]:
    if config is None:
        return []
    rows = []
    for name, segment in config.segments.items():
        count = counts.get(name)
        definition = segment.where or segment.sql or f"membership {segment.membership}"
        rows.append(
            {
                "name": name,
                "kind": "where" if segment.where else "sql" if segment.sql else "membership",
                "definition": definition,
                "members": count.members if count else None,
                "error": count.error if count else None,
                "used_by": sorted(e for e, x in config.exports.items() if name in x.segments),
            }
        )
    return rows


def _page(
    request: Request,
    user: User,
    form: FormState,
    preview: SegmentCount | None = None,
    status: int = 200,
) -> Response:
    config, error = load_config_or_none(request)
    counts: dict[str, SegmentCount] = {}
    if config is not None and config.segments:
        found = count_segments(config.source, config.segments, console_state(request).project_dir)
        counts = {c.name: c for c in found}
    context = {
        **form.context(),
        "rows": _rows(config, counts),
        "config_error": error,
        "revision": project_file(request).read().revision,
        "preview": preview,
        "may_edit": user.can(Role.CONTRIBUTOR),
        "may_sql": user.can(Role.ADMIN),
        "has_source": config is not None,
    }
    return render(request, "pages/segments.html", context, status)


async def segments_page(request: Request) -> Response:
    user = require_role(request, Role.VIEWER)
    values: dict[str, str] = {"kind": "where"}
    name = request.query_params.get("edit")
    config, _error = load_config_or_none(request)
    if name and config is not None and name in config.segments:
        segment = config.segments[name]
        values = {
            "name": name,
            "kind": "sql" if segment.sql else "where",
            "definition": segment.sql or segment.where or "",
            "existing": name,
        }
    return _page(request, user, FormState(values=values))


def _edit(name: str, kind: str, definition: str) -> Edit:
    def edit(document: tomlkit.TOMLDocument) -> None:
        values: dict[str, str | None] = {
            "where": definition if kind == "where" else None,
            "sql": definition if kind == "sql" else None,
            "membership": None,
        }
        update_table(table_at(document, "segments", name), values)

    return edit


async def save_segment(request: Request) -> Response:
    user = require_role(request, Role.CONTRIBUTOR)
    form_data = await request.form()
    name, kind = text(form_data, "name"), text(form_data, "kind") or "where"
    definition = str(form_data.get("definition") or "").strip()
    existing = text(form_data, "existing")
    form = FormState(
        values={"name": name, "kind": kind, "definition": definition, "existing": existing}
    )
    config, _error = load_config_or_none(request)
    was_sql = bool(config and existing in config.segments and config.segments[existing].sql)
    if (kind == "sql" or was_sql) and not user.can(Role.ADMIN):
        # SQL runs in the source's database: only admins write it (the form does not offer it).
        require_role(request, Role.ADMIN)
    if kind not in KINDS:
        form.errors["kind"] = gettext(request, "choose where or sql")
    if not _NAME.fullmatch(name):
        form.errors["name"] = gettext(
            request, "1 to 64 letters, digits, '_' or '-' (it names the segment in dotsync.toml)"
        )
    if form.errors:
        return _page(request, user, form, status=400)
    if form_data.get("action") == "count":
        return _page(request, user, form, _count(request, name, kind, definition, form))
    saved = save_edit(
        request,
        text(form_data, "revision"),
        _edit(name, kind, definition),
        prefix=f"segments.{name}",
        action="segment.edit" if existing else "segment.create",
        target=f"segments.{name}",
        form=form,
    )
    if saved is None:
        _definition_errors(form, kind)
        return _page(request, user, form, status=409 if form.stale else 400)
    flash(request, gettext(request, "Segment %(name)s is saved.", name=name))
    return RedirectResponse("/segments", status_code=303)


def _definition_errors(form: FormState, kind: str) -> None:
    """The form has one text box for both kinds: a message about either key goes beside it."""
    for key in (kind, "_"):
        if key in form.errors:
            form.errors["definition"] = form.errors.pop(key)


def _count(
    request: Request, name: str, kind: str, definition: str, form: FormState
) -> SegmentCount | None:
    """The typed segment counted as it would be saved (validated the same way), not saved."""
    document = project_file(request).read().document()
    _edit(name, kind, definition)(document)
    try:
        config = validate_text(tomlkit.dumps(document), console_state(request).config_path)
    except InvalidEditError as exc:
        form.errors.update(errors_by_field(exc.problems, f"segments.{name}", form.general))
        _definition_errors(form, kind)
        return None
    segment: SegmentConfig = config.segments[name]
    [count] = count_segments(config.source, {name: segment}, console_state(request).project_dir)
    return count


async def remove_segment(request: Request) -> Response:
    user = require_role(request, Role.CONTRIBUTOR)
    name = request.path_params["name"]
    form_data = await request.form()
    config, _error = load_config_or_none(request)
    if config is None or name not in config.segments:
        raise HTTPException(404)
    if config.segments[name].sql and not user.can(Role.ADMIN):
        require_role(request, Role.ADMIN)
    form = FormState(values={"kind": "where"})
    saved = save_edit(
        request,
        text(form_data, "revision"),
        lambda document: remove_entry(document, "segments", name),
        prefix=f"segments.{name}",
        action="segment.remove",
        target=f"segments.{name}",
        form=form,
    )
    if saved is None:
        return _page(request, user, form, status=409 if form.stale else 400)
    flash(request, gettext(request, "Segment %(name)s is removed.", name=name))
    return RedirectResponse("/segments", status_code=303)


ROUTES = [
    Route("/segments", segments_page, methods=["GET"]),
    Route("/segments", save_segment, methods=["POST"]),
    Route("/segments/{name}/remove", remove_segment, methods=["POST"]),
]
