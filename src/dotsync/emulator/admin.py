"""The admin API under ``/_emulator/`` (outside DotDigital's paths; no authentication):

- ``GET /_emulator/calls``: calls received per ``"METHOD /path/template"``, per status, total;
  ``POST /_emulator/calls/reset`` sets them to zero; ``GET /_emulator/calls/timeline``: the latest
  calls with their start and end times, API user and dotsync run (``X-Dotsync-Run``).
- ``GET|PUT /_emulator/faults``: the fault settings (``FaultSettings`` JSON) and faults injected.
- ``GET|PUT /_emulator/rate-limits``: the rate-limit settings (``RateLimitSettings`` JSON).
- ``POST /_emulator/reset``: every account's data back to the settings and the seed.
- ``GET /_emulator/state``: per account: books with member counts, contacts, active imports.
- ``GET /_emulator/accounts/{api_user}/address-books/{id}/members``: members with data fields.
- ``POST /_emulator/accounts/{api_user}/suppress`` ``{email, status, scope, date}``: scope
  ``account`` (default), ``global`` (every account) or ``domain`` (every address of the e-mail's
  domain); ``date`` (ISO 8601, default now) is when it happened, as the ``...-since`` feeds say;
  ``address_book_id``: an unsubscribe from that book only (status Unsubscribed).
- ``POST /_emulator/accounts`` ``{api_user, password, region, contact_limit}``: add an account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dotsync.emulator.base import Account, timestamp
from dotsync.emulator.binding import json_body, run
from dotsync.emulator.faults import FaultInjector, FaultSettings
from dotsync.emulator.ratelimit import RateLimitSettings
from dotsync.emulator.runtime import Runtime
from dotsync.emulator.settings import AccountSettings
from dotsync.emulator.values import CONTACT_STATUSES


class _Suppression(BaseModel):
    email: str
    status: str = "Unsubscribed"
    scope: Literal["account", "global", "domain"] = "account"
    date: datetime | None = None  # when it happened (default now): the feeds report it
    address_book_id: int | None = None  # an unsubscribe from this book only


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.emulator
    return runtime


def _account(request: Request) -> Account:
    account = _runtime(request).store.account(request.path_params["api_user"])
    if account is None:
        raise LookupError(f"no account {request.path_params['api_user']!r}")
    return account


async def calls(request: Request) -> Response:
    counter = _runtime(request).calls
    return JSONResponse(
        {"calls": counter.snapshot(), "by_status": counter.by_status(), "total": counter.total()}
    )


async def timeline(request: Request) -> Response:
    return JSONResponse({"calls": _runtime(request).calls.timeline()})


async def reset_calls(request: Request) -> Response:
    _runtime(request).calls.reset()
    return JSONResponse({"reset": True})


async def get_faults(request: Request) -> Response:
    injector = _runtime(request).injector
    return JSONResponse({**injector.settings.model_dump(), "injected": injector.injected()})


async def put_faults(request: Request) -> Response:
    settings = FaultSettings.model_validate(await json_body(request) or {})
    _runtime(request).injector = FaultInjector(settings)
    return JSONResponse(settings.model_dump())


async def get_rate_limits(request: Request) -> Response:
    return JSONResponse(_runtime(request).limiter.settings.model_dump())


async def put_rate_limits(request: Request) -> Response:
    settings = RateLimitSettings.model_validate(await json_body(request) or {})
    _runtime(request).limiter.update(settings)
    return JSONResponse(settings.model_dump())


async def reset(request: Request) -> Response:
    await run(request.app.state.reset_data)
    return JSONResponse({"reset": True})


def _state(runtime: Runtime) -> dict[str, Any]:
    store = runtime.store
    accounts = []
    for account in store.accounts():
        contacts = store.db.one("SELECT count(*) FROM contacts WHERE account_id = ?", (account.id,))
        accounts.append(
            {
                "api_user": account.api_user,
                "region": account.region,
                "contact_limit": account.contact_limit,
                "contacts": contacts[0] if contacts else 0,
                "active_imports": store.active_imports(account),
                "address_books": store.books_summary(account),
            }
        )
    return {"accounts": accounts}


async def state(request: Request) -> Response:
    return JSONResponse(await run(_state, _runtime(request)))


async def members(request: Request) -> Response:
    store, account = _runtime(request).store, _account(request)
    book_id = int(request.path_params["id"])
    await run(store.book_row, account, book_id)
    return JSONResponse(await run(store.book_members, account, book_id))


async def suppress(request: Request) -> Response:
    item = _Suppression.model_validate(await json_body(request) or {})
    if item.status not in CONTACT_STATUSES:
        raise ValueError(f"unknown status {item.status!r}")
    at = None if item.date is None else timestamp(item.date)
    if item.address_book_id is not None:
        if item.status != "Unsubscribed" or item.scope != "account":
            raise ValueError("a book's suppression is an unsubscribe of the account's contact")
        await run(
            _runtime(request).store.unsubscribe,
            _account(request),
            item.address_book_id,
            item.email,
            at,
        )
        return JSONResponse(item.model_dump(mode="json"))
    await run(
        _runtime(request).store.suppress,
        _account(request),
        item.email,
        item.status,
        item.scope,
        at,
    )
    return JSONResponse(item.model_dump(mode="json"))


async def add_account(request: Request) -> Response:
    spec = AccountSettings.model_validate(await json_body(request) or {})
    account = await run(_runtime(request).store.add_account, spec)
    return JSONResponse({"api_user": account.api_user, "region": account.region}, 201)


async def admin_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, LookupError):
        return JSONResponse({"message": str(exc)}, 404)
    detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
    return JSONResponse({"message": "invalid admin request", "detail": detail}, 400)


_A = "/_emulator"
ROUTES = [
    Route(f"{_A}/calls", calls, methods=["GET"]),
    Route(f"{_A}/calls/reset", reset_calls, methods=["POST"]),
    Route(f"{_A}/calls/timeline", timeline, methods=["GET"]),
    Route(f"{_A}/faults", get_faults, methods=["GET"]),
    Route(f"{_A}/faults", put_faults, methods=["PUT"]),
    Route(f"{_A}/rate-limits", get_rate_limits, methods=["GET"]),
    Route(f"{_A}/rate-limits", put_rate_limits, methods=["PUT"]),
    Route(f"{_A}/reset", reset, methods=["POST"]),
    Route(f"{_A}/state", state, methods=["GET"]),
    Route(f"{_A}/accounts", add_account, methods=["POST"]),
    Route(f"{_A}/accounts/{{api_user}}/address-books/{{id:int}}/members", members, methods=["GET"]),
    Route(f"{_A}/accounts/{{api_user}}/suppress", suppress, methods=["POST"]),
]
