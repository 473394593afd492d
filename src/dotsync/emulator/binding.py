"""Binding of requests as DotDigital does it: JSON keys and query parameters case-insensitively
(real clients send PascalCase: ``Email``, ``Select``, ``withFullData=True``), plus the shared
reply helpers of the handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dotsync.emulator.base import Account
from dotsync.emulator.errors import ApiError, invalid
from dotsync.emulator.store import Store

T = TypeVar("T")
MAX_SELECT = 1000


def ci(obj: Any) -> dict[str, Any]:
    """A JSON object with lower-cased keys (one level); anything else gives ``{}``."""
    return {str(k).lower(): v for k, v in obj.items()} if isinstance(obj, dict) else {}


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise invalid("The request body is not valid JSON") from exc


def query(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.query_params.items()}


def paging(request: Request) -> tuple[int, int]:
    """``select`` 1..1000 (default 1000) and ``skip`` >= 0; anything else is refused."""
    params = query(request)
    try:
        select = int(params.get("select", MAX_SELECT))
        skip = int(params.get("skip", 0))
    except ValueError as exc:
        raise invalid("Select and skip must be whole numbers") from exc
    if not 1 <= select <= MAX_SELECT:
        raise invalid("Select must be between 1 and 1000")
    if skip < 0:
        raise invalid("Skip must not be negative")
    return select, skip


def flag(request: Request, name: str) -> bool:
    return query(request).get(name.lower(), "false").strip().lower() in ("true", "1")


def since(raw: str) -> str:
    """A ``{date}`` path parameter as the store's timestamp string (UTC, ISO, Z). A date or a
    time without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    except ValueError as exc:
        raise invalid("The date is not valid") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def int_param(request: Request, name: str, code: str = "ERROR_PARAMETER_INVALID") -> int:
    raw = request.path_params[name]
    if not str(raw).isdigit():
        raise ApiError(400, code, f"The {name} is not valid")
    return int(raw)


def store_of(request: Request) -> Store:
    store: Store = request.app.state.emulator.store
    return store


def account_of(request: Request) -> Account:
    account: Account = request.scope["state"]["account"]
    return account


async def run(fn: Callable[..., T], *args: Any) -> T:
    """Store calls wait on the database lock (the import worker holds it per chunk): run them
    off the event loop so a long import never freezes the server."""
    return await run_in_threadpool(fn, *args)


def reply(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)
