"""Contacts: of a book (list, add, remove, bulk remove, unsubscribe, resubscribe) and of the
account (get by id or e-mail, create, unsubscribe, resubscribe, suppressed since a date)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dotsync.emulator.binding import (
    account_of,
    ci,
    flag,
    int_param,
    json_body,
    paging,
    reply,
    run,
    since,
    store_of,
)
from dotsync.emulator.errors import invalid
from dotsync.emulator.values import EMAIL_TYPES, OPT_IN_TYPES, canonical_enum

Pairs = list[tuple[str, object]]


def _book(request: Request) -> int:
    return int_param(request, "addressBookId", "ERROR_ADDRESSBOOK_NOT_FOUND")


def _contact_body(body: Any) -> tuple[str, str, str, Pairs]:
    """An ``ApiContact`` bound case-insensitively: email, opt-in, e-mail type, data fields."""
    fields = ci(body)
    email = fields.get("email")
    if not isinstance(email, str) or not email.strip():
        raise invalid("Email is not a valid email address")
    pairs: Pairs = []
    for item in fields.get("datafields") or []:
        entry = ci(item)
        pairs.append((str(entry.get("key") or ""), entry.get("value")))
    return (
        email,
        canonical_enum(fields.get("optintype"), OPT_IN_TYPES, "Unknown"),
        canonical_enum(fields.get("emailtype"), EMAIL_TYPES, "Html"),
        pairs,
    )


def _resubscribe_email(body: Any) -> str:
    email = ci(ci(body).get("unsubscribedcontact")).get("email")
    if not isinstance(email, str) or not email.strip():
        raise invalid("Email is not a valid email address")
    return email


async def list_members(request: Request) -> Response:
    select, skip = paging(request)
    return reply(
        await run(
            store_of(request).list_book_contacts,
            account_of(request),
            _book(request),
            flag(request, "withFullData"),
            select,
            skip,
        )
    )


async def members_modified_since(request: Request) -> Response:
    select, skip = paging(request)
    return reply(
        await run(
            store_of(request).list_book_contacts,
            account_of(request),
            _book(request),
            flag(request, "withFullData"),
            select,
            skip,
            since(request.path_params["date"]),
        )
    )


async def add_member(request: Request) -> Response:
    email, opt_in, email_type, pairs = _contact_body(await json_body(request))
    store, account = store_of(request), account_of(request)
    fields = await run(store.typed_fields, account, pairs)
    return reply(
        await run(store.add_to_book, account, _book(request), email, opt_in, email_type, fields)
    )


async def remove_member(request: Request) -> Response:
    await run(
        store_of(request).remove_from_book,
        account_of(request),
        _book(request),
        int_param(request, "contactId", "ERROR_CONTACT_NOT_FOUND"),
    )
    return Response(status_code=204)


async def remove_members(request: Request) -> Response:
    ids = await json_body(request)
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise invalid("The body must be an array of contact ids")
    return reply(
        await run(store_of(request).bulk_remove, account_of(request), _book(request), ids), 202
    )


async def remove_all_members_job(request: Request) -> Response:
    return reply(
        await run(store_of(request).bulk_remove, account_of(request), _book(request), None), 202
    )


async def remove_all_members(request: Request) -> Response:
    await run(store_of(request).bulk_remove, account_of(request), _book(request), None)
    return Response(status_code=204)


async def deletion_status(request: Request) -> Response:
    return reply(
        await run(
            store_of(request).deletion_status,
            account_of(request),
            request.path_params["deletionRequestId"],
        )
    )


async def unsubscribe_member(request: Request) -> Response:
    email = _contact_body(await json_body(request))[0]
    return reply(
        await run(store_of(request).unsubscribe, account_of(request), _book(request), email)
    )


async def resubscribe_member(request: Request) -> Response:
    challenge = not request.url.path.endswith("no-challenge")
    return reply(
        await run(
            store_of(request).resubscribe,
            account_of(request),
            _book(request),
            _resubscribe_email(await json_body(request)),
            challenge,
        )
    )


async def get_contact(request: Request) -> Response:
    return reply(
        await run(
            store_of(request).get_contact, account_of(request), request.path_params["idOrEmail"]
        )
    )


async def create_contact(request: Request) -> Response:
    email, opt_in, email_type, pairs = _contact_body(await json_body(request))
    store, account = store_of(request), account_of(request)
    fields = await run(store.typed_fields, account, pairs)
    await run(store.upsert_contact, account, email, opt_in, email_type, fields)
    return reply(await run(store.get_contact, account, email), 201)


async def unsubscribe_contact(request: Request) -> Response:
    email = _contact_body(await json_body(request))[0]
    return reply(await run(store_of(request).unsubscribe, account_of(request), None, email))


async def resubscribe_contact(request: Request) -> Response:
    challenge = not request.url.path.endswith("no-challenge")
    return reply(
        await run(
            store_of(request).resubscribe,
            account_of(request),
            None,
            _resubscribe_email(await json_body(request)),
            challenge,
        )
    )


async def suppressed_since(request: Request) -> Response:
    select, skip = paging(request)
    return reply(
        await run(
            store_of(request).suppressed_since,
            account_of(request),
            since(request.path_params["date"]),
            select,
            skip,
        )
    )


_BOOK = "/v2/address-books/{addressBookId}/contacts"
ROUTES = [
    Route(_BOOK, list_members, methods=["GET"]),
    Route(_BOOK, add_member, methods=["POST"]),
    Route(_BOOK, remove_all_members, methods=["DELETE"]),
    Route(_BOOK + "/{contactId}", remove_member, methods=["DELETE"]),
    Route(_BOOK + "/delete", remove_members, methods=["POST"]),
    Route(_BOOK + "/delete-all", remove_all_members_job, methods=["POST"]),
    Route(_BOOK + "/modified-since/{date}", members_modified_since, methods=["GET"]),
    Route(_BOOK + "/unsubscribe", unsubscribe_member, methods=["POST"]),
    Route(_BOOK + "/resubscribe", resubscribe_member, methods=["POST"]),
    Route(_BOOK + "/resubscribe-with-no-challenge", resubscribe_member, methods=["POST"]),
    Route("/v2/contacts", create_contact, methods=["POST"]),
    Route("/v2/contacts/unsubscribe", unsubscribe_contact, methods=["POST"]),
    Route("/v2/contacts/resubscribe", resubscribe_contact, methods=["POST"]),
    Route("/v2/contacts/resubscribe-with-no-challenge", resubscribe_contact, methods=["POST"]),
    Route("/v2/contacts/suppressed-since/{date}", suppressed_since, methods=["GET"]),
    Route("/v2/contacts/deletion/{deletionRequestId}", deletion_status, methods=["GET"]),
    Route("/v2/contacts/{idOrEmail}", get_contact, methods=["GET"]),
]
