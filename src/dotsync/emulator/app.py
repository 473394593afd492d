"""``create_app(settings)``: the emulator as an ASGI app.

Layers, outermost first: the gateway (region hosts, auth, rate limits, call counts), fault
injection, then the routes. The import worker thread runs for the app's lifespan.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dotsync.emulator import (
    admin,
    handlers_account,
    handlers_books,
    handlers_contacts,
    handlers_imports,
    handlers_reads,
)
from dotsync.emulator.calls import CallCounter
from dotsync.emulator.db import Database
from dotsync.emulator.errors import ApiError, V3Error
from dotsync.emulator.faults import FaultInjector, FaultMiddleware
from dotsync.emulator.gateway import Gateway
from dotsync.emulator.ratelimit import RateLimiter, is_admin_path, is_v3_path
from dotsync.emulator.runtime import Runtime
from dotsync.emulator.seed import apply_seed, load_seed
from dotsync.emulator.settings import EmulatorSettings
from dotsync.emulator.store import Store
from dotsync.emulator.values import ValueRejectedError

log = logging.getLogger(__name__)

DOTDIGITAL_ROUTES = [
    *handlers_account.ROUTES,
    *handlers_books.ROUTES,
    *handlers_imports.ROUTES,
    *handlers_contacts.ROUTES,
    *handlers_reads.ROUTES,
]


def _seed(store: Store, settings: EmulatorSettings) -> None:
    for account in settings.accounts:
        store.add_account(account)
    if settings.seed_file is not None:
        apply_seed(store, load_seed(settings.seed_file))


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError | V3Error)
    return JSONResponse(exc.body(), exc.status)


async def _rejected_value(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValueRejectedError)
    if is_v3_path(request.url.path):
        return JSONResponse(
            {"errorCode": "contacts:invalidContacts", "description": exc.sentence}, 400
        )
    return JSONResponse(ApiError(400, exc.code, exc.sentence).body(), 400)


async def _other_error(request: Request, exc: Exception) -> Response:
    if is_admin_path(request.url.path):
        return await admin.admin_error(request, exc)
    log.error("emulator handler failed on %s", request.url.path, exc_info=exc)
    return JSONResponse({"message": "An error has occurred."}, 500)


def create_app(settings: EmulatorSettings | None = None) -> Starlette:
    settings = settings or EmulatorSettings()
    db = Database(settings.state_file)
    store = Store(settings, db)
    fresh = not store.accounts()
    if fresh:  # a --state file that already holds data is not seeded again
        _seed(store, settings)
    else:
        for account in settings.accounts:  # accounts named on the command line exist anyway
            store.add_account(account)
    runtime = Runtime(
        settings,
        store,
        RateLimiter(settings.rate_limits),
        FaultInjector(settings.faults),
        CallCounter(),
    )
    store.next_import_failure = lambda: runtime.injector.next_import_failure()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.start_worker()
        try:
            yield
        finally:
            store.stop_worker()
            db.close()

    routes = [*DOTDIGITAL_ROUTES, *admin.ROUTES]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(Gateway, runtime=runtime, routes=DOTDIGITAL_ROUTES),
            Middleware(
                FaultMiddleware,
                get_injector=lambda: runtime.injector,
                get_rate_settings=lambda: runtime.limiter.settings,
            ),
        ],
        exception_handlers={
            ApiError: _api_error,
            V3Error: _api_error,
            ValueRejectedError: _rejected_value,
            ValueError: _other_error,
            LookupError: _other_error,
            Exception: _other_error,
        },
        lifespan=lifespan,
    )
    app.state.emulator = runtime

    def reset_data() -> None:
        store.stop_worker()
        db.wipe()
        _seed(store, settings)
        store.start_worker()

    app.state.reset_data = reset_data
    return app
