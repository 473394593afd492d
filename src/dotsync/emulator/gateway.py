"""The front door of every DotDigital call, as pure ASGI middleware: region hosts, HTTP Basic
authentication, the region check, rate limits and the per-endpoint call count. Admin paths
(``/_emulator/``) pass straight through: no auth, no limits, not counted.

Regions: the emulator's root acts as the r1 host and ``/r2``, ``/r3`` as those regions' hosts.
``GET /v2/account-info`` answers on any host (discovery); any other call on another region's host
answers 403, as DotDigital does.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dotsync.emulator.ratelimit import is_admin_path, is_v3_path
from dotsync.emulator.runtime import Runtime

_REGION_PREFIX = re.compile(r"^/(r[23])(/.*)?$")
_DENIED = {"message": "Authorization has been denied for this request."}
# DotDigital's 403 on another region's host has no ERROR_ code, only "Access is denied".
# v3 paths answer in v3's errorResponse shape; its error code is ours (undocumented).
_WRONG_REGION = {"message": "Access is denied."}
_WRONG_REGION_V3 = {"errorCode": "contacts:accessDenied", "description": "Access is denied."}
DISCOVERY_PATH = "/v2/account-info"


class Gateway:
    def __init__(self, app: ASGIApp, runtime: Runtime, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.runtime = runtime
        self.routes = [r for r in routes if isinstance(r, Route)]

    def template(self, scope: Scope) -> str:
        """The route's path template (``/v2/address-books/{id}``), by which calls are counted;
        an unknown path counts as itself."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
        return str(scope["path"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_admin_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        host_region, path = "r1", scope["path"]
        if found := _REGION_PREFIX.match(path):
            host_region, path = found[1], found[2] or "/"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        scope = {**scope, "state": {**scope.get("state", {}), "host_region": host_region}}
        template = self.template(scope)
        status_seen: list[int] = []
        started = time.time()
        run = dict(scope.get("headers", [])).get(b"x-dotsync-run")

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(int(message["status"]))
            await send(message)

        try:
            await self._serve(scope, receive, counting_send, path)
        finally:
            # 0: the connection was dropped before any reply (an injected fault).
            self.runtime.calls.record(
                scope["method"],
                template,
                status_seen[0] if status_seen else 0,
                api_user=_credentials(scope)[0],
                run=run.decode("latin-1") if run else None,
                started=started,
            )

    async def _serve(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        account = self.runtime.store.authenticate(*_credentials(scope))
        if account is None:
            await JSONResponse(_DENIED, 401, {"WWW-Authenticate": 'Basic realm="api"'})(
                scope, receive, send
            )
            return
        if account.region != scope["state"]["host_region"] and path != DISCOVERY_PATH:
            body = _WRONG_REGION_V3 if is_v3_path(path) else _WRONG_REGION
            await JSONResponse(body, 403)(scope, receive, send)
            return
        decision = self.runtime.limiter.check(account.api_user, scope["method"], path)
        if not decision.allowed:
            await JSONResponse(decision.body, decision.status, decision.headers)(
                scope, receive, send
            )
            return
        scope["state"]["account"] = account
        extra = [(k.lower().encode(), v.encode()) for k, v in decision.headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _credentials(scope: Scope) -> tuple[str, str]:
    headers: dict[bytes, bytes] = dict(scope.get("headers", []))
    value = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return user, password


def external_base(scope: Scope) -> str:
    """The URL a client used to reach us, without the region prefix: ``http://127.0.0.1:8765``."""
    headers: dict[bytes, Any] = dict(scope.get("headers", []))
    host = headers.get(b"host", b"127.0.0.1").decode("latin-1")
    return f"{scope.get('scheme', 'http')}://{host}"
