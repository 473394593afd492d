"""What every domain page shares: the project's file, saving an edit (stale forms, errors beside
their fields, serve reloading, the audit log), and who may use which connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request

from dotsync.config import Config
from dotsync.console.project import Edit, InvalidEditError, ProjectFile, StaleRevisionError
from dotsync.console.web import (
    Role,
    User,
    audit,
    console_state,
    gettext,
    request_language,
    require_role,
)
from dotsync.errors import ConfigError

STALE = (
    "dotsync.toml was changed by someone else since this form was shown, so nothing was saved. "
    "The form below shows the file as it is now: make your change again."
)


@dataclass
class FormState:
    """What a form shows again after a refused save: the values typed, the message beside each
    field (by its key path below the form's own table), and the messages of no one field."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    stale: bool = False

    def context(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "errors": self.errors,
            "general": self.general,
            "stale": self.stale,
        }


def project_file(request: HTTPConnection) -> ProjectFile:
    """One per server, so that its lock serialises the console's own saves."""
    state = request.app.state
    path = console_state(request).config_path
    found: ProjectFile | None = getattr(state, "pages_project", None)
    if found is None or found.path != path:
        found = ProjectFile(path)
        state.pages_project = found
    return found


def load_config_or_none(request: HTTPConnection) -> tuple[Config | None, str | None]:
    """The configuration as the CLI reads it, or why it cannot be read (a new project has no
    file: no configuration, no error)."""
    state = console_state(request)
    if not state.config_path.exists():
        return None, None
    try:
        return state.load_config(), None
    except ConfigError as exc:
        return None, exc.message


def require_config(request: HTTPConnection) -> Config:
    config, error = load_config_or_none(request)
    if config is None:
        message = error or gettext(
            request, "This project has no dotsync.toml yet: start with its source."
        )
        raise HTTPException(409, detail=message)
    return config


def save_edit(
    request: HTTPConnection,
    revision: str,
    edit: Edit,
    *,
    prefix: str,
    action: str,
    target: str,
    form: FormState,
) -> Config | None:
    """Save ``edit`` made on the file at ``revision``; on success serve reloads the configuration
    and the audit log records ``action`` on ``target``. On refusal, ``form`` says why (the stale
    file, or each validation message beside the field its key names below ``prefix``) and None
    is returned: nothing was written."""
    try:
        config = project_file(request).save(revision, edit)
    except StaleRevisionError:
        form.stale = True
        form.general.append(gettext(request, STALE))
        audit(request, action, target, "stale")
        return None
    except InvalidEditError as exc:
        form.errors.update(errors_by_field(exc.problems, prefix, form.general))
        audit(request, action, target, "invalid")
        return None
    try:
        console_state(request).config_changed()
    except ConfigError as exc:  # written, but serve could not take it: say so, keep going
        form.general.append(exc.message)
    audit(request, action, target)
    return config


def errors_by_field(
    problems: list[tuple[str | None, str]], prefix: str, general: list[str]
) -> dict[str, str]:
    """Each problem beside its field: ``exports.news.mapping.email`` is the field
    ``mapping.email`` of the form of ``exports.news``; a problem elsewhere goes to ``general``."""
    by_field: dict[str, str] = {}
    for key, message in problems:
        if key is not None and (key == prefix or key.startswith(prefix + ".")):
            name = key[len(prefix) + 1 :] or "_"
            by_field[name] = f"{by_field[name]}; {message}" if name in by_field else message
        else:
            general.append(f"{key}: {message}" if key else message)
    return by_field


def may_use_connection(user: User, config: Config | None, connection: str) -> bool:
    """Admins use every connection; contributors those shared with them; viewers none."""
    if user.can(Role.ADMIN):
        return True
    if not user.can(Role.CONTRIBUTOR) or config is None:
        return False
    found = config.connections.get(connection)
    return found is not None and user.name in found.shared_with


def require_export_user(request: HTTPConnection, config: Config, export: str) -> User:
    """A contributor on the export's connection (or an admin): checked on the server for every
    action on an export, whatever the page showed."""
    user = require_role(request, Role.CONTRIBUTOR)
    found = config.exports.get(export)
    if found is None:
        raise HTTPException(404)
    if not may_use_connection(user, config, found.connection):
        audit(request, "access.denied", f"exports.{export}", "refused", {"needed": "connection"})
        raise HTTPException(
            403,
            detail=gettext(
                request,
                "The connection of this export is not shared with you; an admin can share it.",
            ),
        )
    return user


def text(form: FormData | Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional(form: FormData | Mapping[str, Any], name: str) -> str | None:
    return text(form, name) or None


def whole_number(form: FormData, name: str, errors: dict[str, str], request: Request) -> int | None:
    raw = text(form, name).replace(",", "").replace("_", "")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = gettext(request, "a whole number, please")
        return None


def locale(request: HTTPConnection) -> str:
    return request_language(request)
