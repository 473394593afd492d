"""``/v2/address-books``: list (all, private, public), get, create, update, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dotsync.emulator.binding import (
    account_of,
    ci,
    int_param,
    json_body,
    paging,
    reply,
    run,
    store_of,
)
from dotsync.emulator.values import canonical_enum

_VISIBILITIES = ("Private", "Public")


def _book_id(request: Request) -> int:
    return int_param(request, "id", "ERROR_ADDRESSBOOK_NOT_FOUND")


async def _list(request: Request, visibility: str | None) -> Response:
    select, skip = paging(request)
    return reply(
        await run(store_of(request).list_books, account_of(request), visibility, select, skip)
    )


async def list_books(request: Request) -> Response:
    return await _list(request, None)


async def list_private(request: Request) -> Response:
    return await _list(request, "Private")


async def list_public(request: Request) -> Response:
    return await _list(request, "Public")


async def get_book(request: Request) -> Response:
    return reply(await run(store_of(request).get_book, account_of(request), _book_id(request)))


async def create_book(request: Request) -> Response:
    body = ci(await json_body(request))
    visibility = canonical_enum(body.get("visibility"), _VISIBILITIES, "Private")
    book = await run(
        store_of(request).create_book, account_of(request), str(body.get("name") or ""), visibility
    )
    return reply(book, 201)  # v2-full: 201 (the docs spec says 200)


async def update_book(request: Request) -> Response:
    body = ci(await json_body(request))
    store, account, book_id = store_of(request), account_of(request), _book_id(request)
    current = await run(store.get_book, account, book_id)
    visibility = canonical_enum(body.get("visibility"), _VISIBILITIES, current["visibility"])
    return reply(
        await run(
            store.update_book,
            account,
            book_id,
            str(body.get("name") or current["name"]),
            visibility,
        )
    )


async def delete_book(request: Request) -> Response:
    await run(store_of(request).delete_book, account_of(request), _book_id(request))
    # v2-full documents 200 with an octet-stream body (the docs spec: 204): an empty 200.
    return Response(b"", 200, media_type="application/octet-stream")


ROUTES = [
    Route("/v2/address-books", list_books, methods=["GET"]),
    Route("/v2/address-books", create_book, methods=["POST"]),
    Route("/v2/address-books/private", list_private, methods=["GET"]),
    Route("/v2/address-books/public", list_public, methods=["GET"]),
    Route("/v2/address-books/{id}", get_book, methods=["GET"]),
    Route("/v2/address-books/{id}", update_book, methods=["PUT"]),
    Route("/v2/address-books/{id}", delete_book, methods=["DELETE"]),
]
