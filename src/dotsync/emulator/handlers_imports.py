"""Bulk imports: v2 CSV into a book (multipart or base64 JSON, with or without a merge option),
its status, report and faults; v3 ``PUT /contacts/v3/import`` and its status."""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dotsync.emulator.binding import account_of, ci, int_param, json_body, reply, run, store_of
from dotsync.emulator.errors import invalid

# DotDigital's reply to a multipart part without a filename, as production clients report it:
# no ERROR_ code.
_NO_FILE = {"message": "file must be valid"}


class _NoFileError(Exception):
    pass


async def _file_of(request: Request) -> tuple[bytes, str]:
    """The uploaded file: one multipart part with a filename (any part name), or JSON
    ``{fileName, data}`` with base64 data."""
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        try:
            form = await request.form(max_part_size=64 * 1024 * 1024)
        except MultiPartException as exc:
            raise _NoFileError from exc
        for _, value in form.multi_items():
            if isinstance(value, UploadFile) and value.filename:
                return await value.read(), value.filename
        raise _NoFileError
    body = ci(await json_body(request))
    try:
        data = base64.b64decode(str(body.get("data") or ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid("Data must be base64") from exc
    if not data:
        raise _NoFileError
    return data, str(body.get("filename") or "import.csv")


async def import_file(request: Request) -> Response:
    try:
        payload, file_name = await _file_of(request)
    except _NoFileError:
        return JSONResponse(_NO_FILE, 400)
    merge = request.path_params.get("mergeOption", "Overwrite")
    book_id = int_param(request, "addressBookId", "ERROR_ADDRESSBOOK_NOT_FOUND")
    return reply(
        await run(
            store_of(request).submit_v2, account_of(request), book_id, payload, file_name, merge
        ),
        202,
    )


async def import_status(request: Request) -> Response:
    return reply(
        await run(
            store_of(request).import_status, account_of(request), request.path_params["importId"]
        )
    )


async def import_report(request: Request) -> Response:
    return reply(
        await run(
            store_of(request).import_report, account_of(request), request.path_params["importId"]
        )
    )


async def import_faults(request: Request) -> Response:
    text = await run(
        store_of(request).import_faults, account_of(request), request.path_params["importId"]
    )
    # v2-full documents application/octet-stream; the body is CSV text in UTF-8 with a BOM.
    return Response(text.encode("utf-8"), 200, media_type="application/octet-stream")


async def v3_import(request: Request) -> Response:
    body = await request.body()
    return reply(await run(store_of(request).submit_v3, account_of(request), body), 202)


async def v3_import_status(request: Request) -> Response:
    # Already JSON: a finished import's reply (ids of every contact) is spliced from stored text.
    body = await run(
        store_of(request).v3_status, account_of(request), request.path_params["importId"]
    )
    return Response(body, 200, media_type="application/json")


_BOOK_IMPORT = "/v2/address-books/{addressBookId}/contacts/import"
ROUTES = [
    Route(_BOOK_IMPORT, import_file, methods=["POST"]),
    Route(_BOOK_IMPORT + "/with-merge-option/{mergeOption}", import_file, methods=["POST"]),
    Route("/v2/contacts/import/{importId}", import_status, methods=["GET"]),
    Route("/v2/contacts/import/{importId}/report", import_report, methods=["GET"]),
    Route("/v2/contacts/import/{importId}/report-faults", import_faults, methods=["GET"]),
    Route("/contacts/v3/import", v3_import, methods=["PUT"]),
    Route("/contacts/v3/import/{importId}", v3_import_status, methods=["GET"]),
]
