"""Reads of many contacts: ``GET /contacts/v3`` (filters, marker paging) and the v2 feeds of
unsubscribes since a date (of a book, of the account). The v2 member listing, its modified-since
feed and the suppressed-since feed are in ``handlers_contacts.py``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dotsync.emulator.binding import (
    account_of,
    int_param,
    paging,
    query,
    reply,
    run,
    since,
    store_of,
)
from dotsync.emulator.errors import V3Error
from dotsync.emulator.gateway import external_base
from dotsync.emulator.v3query import QueryError, encode_marker, parse_query


def _link(request: Request, marker: str) -> dict[str, str]:
    """A page's ``{marker, link}``: the same query with this marker, on the host the client
    used (region prefix included)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "marker"]
    params.append(("marker", marker))
    region = request.scope["state"].get("host_region", "r1")
    prefix = "" if region == "r1" else f"/{region}"
    link = f"{external_base(request.scope)}{prefix}/contacts/v3?{urlencode(params)}"
    return {"marker": marker, "link": link}


async def list_contacts(request: Request) -> Response:
    try:
        parsed = parse_query(query(request))
    except QueryError as exc:
        raise V3Error(400, "contacts:invalidFilter", str(exc)) from exc
    items, next_after = await run(store_of(request).list_contacts_v3, account_of(request), parsed)
    links: dict[str, Any] = {
        "self": _link(request, encode_marker(parsed.after_id)),
        "first": _link(request, encode_marker(0)),
    }
    if next_after is not None:
        links["next"] = _link(request, encode_marker(next_after))
    # ``items`` is JSON text already (built by SQLite): framed, not parsed and encoded again.
    body = f'{{"_items":{items},"_links":{json.dumps(links, separators=(",", ":"))}}}'
    return Response(body.encode(), 200, media_type="application/json")


async def book_unsubscribed_since(request: Request) -> Response:
    select, skip = paging(request)
    return reply(
        await run(
            store_of(request).book_unsubscribed_since,
            account_of(request),
            int_param(request, "addressBookId", "ERROR_ADDRESSBOOK_NOT_FOUND"),
            since(request.path_params["date"]),
            select,
            skip,
        )
    )


async def unsubscribed_since(request: Request) -> Response:
    select, skip = paging(request)
    return reply(
        await run(
            store_of(request).unsubscribed_since,
            account_of(request),
            since(request.path_params["date"]),
            select,
            skip,
        )
    )


ROUTES = [
    Route("/contacts/v3", list_contacts, methods=["GET"]),
    Route(
        "/v2/address-books/{addressBookId}/contacts/unsubscribed-since/{date}",
        book_unsubscribed_since,
        methods=["GET"],
    ),
    Route("/v2/contacts/unsubscribed-since/{date}", unsubscribed_since, methods=["GET"]),
]
