"""The console's domain pages, written against :mod:`dotsync.console.web`; the app mounts
``ROUTES`` before the core's own routes. One module per page; templates in
``templates/pages/``, the stylesheet in ``static/pages/``, French in ``locale/fr/.../pages.po``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from dotsync.console.pages import (
    connections,
    destinations,
    exports,
    history,
    runs,
    segments,
    source,
)
from dotsync.console.web import NAV, NavItem

ROUTES: list[BaseRoute] = [
    *destinations.ROUTES,
    *exports.ROUTES,
    *runs.ROUTES,
    *history.ROUTES,
    *connections.ROUTES,
    *source.ROUTES,
    *segments.ROUTES,
]

if not any(item.path == "/connections" for item in NAV):
    NAV.insert(
        next((i for i, item in enumerate(NAV) if item.path == "/segments"), len(NAV)) + 1,
        NavItem("/connections", "Connections"),
    )
