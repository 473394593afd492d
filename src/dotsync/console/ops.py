"""``/healthz`` and ``/metrics``: the operations endpoints, served by the same app as the console
(or alone, with ``--no-console``). Read-only, no session, no sign-in: scrapers call them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dotsync.serve.metrics import CONTENT_TYPE, MetricsRegistry

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]
NOT_FOUND_HINT = "not found: try /healthz or /metrics\n"


def ops_routes(metrics: MetricsRegistry, health: HealthCheck) -> list[Route]:
    async def metrics_endpoint(_request: Request) -> Response:
        return Response(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def health_endpoint(_request: Request) -> Response:
        ok, details = health()
        body = json.dumps({"status": "ok" if ok else "unhealthy", **details}, default=str)
        return Response(body, status_code=200 if ok else 503, media_type="application/json")

    return [
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/healthz", health_endpoint, methods=["GET"]),
    ]


async def not_found(_request: Request, _exc: Exception) -> Response:
    return PlainTextResponse(NOT_FOUND_HINT, status_code=404)
