"""The source page: where the profiles are (a file of the project or a database URL), its key,
a test that reads its columns; saved into ``[source]`` (admins only)."""

from __future__ import annotations

from typing import Any

import tomlkit
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dotsync.config import SourceConfig
from dotsync.console.pages._support import (
    FormState,
    errors_by_field,
    load_config_or_none,
    optional,
    project_file,
    save_edit,
    text,
)
from dotsync.console.project import (
    Edit,
    InvalidEditError,
    table_at,
    update_table,
    validate_text,
)
from dotsync.console.source_checks import SourceCheck, check_source
from dotsync.console.web import Role, console_state, flash, gettext, render, require_role

FIELDS = ("path", "url", "table", "key")


def _values_from_file(request: Request) -> dict[str, str]:
    data = project_file(request).read().data().get("source", {})
    return {name: str(data.get(name) or "") for name in FIELDS}


def _page(
    request: Request, form: FormState, check: SourceCheck | None, status: int = 200
) -> Response:
    config, error = load_config_or_none(request)
    user = require_role(request, Role.VIEWER)
    if check is None and config is not None:
        check = check_source(config.source, console_state(request).project_dir)
    context: dict[str, Any] = {
        **form.context(),
        "revision": project_file(request).read().revision,
        "check": check,
        "config_error": error,
        "may_edit": user.can(Role.ADMIN),
        "project_dir": str(console_state(request).project_dir),
    }
    return render(request, "pages/source.html", context, status)


async def source_page(request: Request) -> Response:
    require_role(request, Role.VIEWER)
    return _page(request, FormState(values=_values_from_file(request)), None)


def _edit(values: dict[str, str | None]) -> Edit:
    def edit(document: tomlkit.TOMLDocument) -> None:
        update_table(table_at(document, "source"), values)

    return edit


async def save_source(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    form_data = await request.form()
    values = {name: optional(form_data, name) for name in FIELDS}
    form = FormState(values={k: v or "" for k, v in values.items()})
    revision = text(form_data, "revision")
    if form_data.get("action") == "test":
        return _page(request, form, _test(request, values, form))
    saved = save_edit(
        request,
        revision,
        _edit(values),
        prefix="source",
        action="source.edit",
        target="source",
        form=form,
    )
    if saved is None:
        return _page(request, form, None, 409 if form.stale else 400)
    flash(request, gettext(request, "The source is saved."))
    return RedirectResponse("/source", status_code=303)


def _test(request: Request, values: dict[str, str | None], form: FormState) -> SourceCheck | None:
    """Read the typed source's columns without saving it (the same validation as a save)."""
    snapshot = project_file(request).read()
    document = snapshot.document()
    _edit(values)(document)
    try:
        config = validate_text(tomlkit.dumps(document), console_state(request).config_path)
    except InvalidEditError as exc:
        form.errors.update(errors_by_field(exc.problems, "source", form.general))
        return None
    source: SourceConfig = config.source
    return check_source(source, console_state(request).project_dir)


ROUTES = [
    Route("/source", source_page, methods=["GET"]),
    Route("/source", save_source, methods=["POST"]),
]
