"""The console's domain pages, written against :mod:`dotsync.console.web`; the app mounts
``ROUTES`` before the core's own routes."""

from __future__ import annotations

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
