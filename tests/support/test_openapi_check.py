"""The OpenAPI checker itself, on hand-built exchanges (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.openapi_check import SHAPES_DIR, OpenAPIChecker, OpenAPIMismatch, find_openapi_dir
from support.openapi_fixtures import ClientFactory, Hooks

BASE = "http://127.0.0.1:8765"
IMPORT_ID = "5f0c0c3e-8a6b-4c1e-9d6f-0a1b2c3d4e5f"
AUTH = {"Authorization": "Basic ZGVtbzpkZW1v"}
BOOK = {"id": 7, "name": "Newsletter", "visibility": "Private", "contacts": 3}
V3_BODY = {"contacts": [{"matchIdentifier": "email", "identifiers": {"email": "a@b.co"}}]}
CONTACT = {
    "id": 9,
    "email": "ann@example.com",
    "optInType": "Single",
    "emailType": "Html",
    "dataFields": [{"key": "FIRSTNAME", "value": "Ann"}],
    "status": "Subscribed",
}


def exchange(
    method: str,
    path: str,
    status: int,
    reply: Any = None,
    *,
    content_type: str | None = None,
    **request: Any,
) -> httpx.Response:
    """A response to ``method path`` (with ``request`` kwargs), body JSON unless bytes."""
    sent = httpx.Request(method, BASE + path, **request)
    if reply is None:
        return httpx.Response(status, request=sent)
    if isinstance(reply, bytes):
        headers = {"content-type": content_type or "application/octet-stream"}
        return httpx.Response(status, content=reply, headers=headers, request=sent)
    return httpx.Response(status, json=reply, request=sent)


def mismatch(checker: OpenAPIChecker, response: httpx.Response) -> OpenAPIMismatch:
    with pytest.raises(OpenAPIMismatch) as caught:
        checker.check(response)
    return caught.value


@pytest.fixture
def checker() -> OpenAPIChecker:
    return OpenAPIChecker()  # documents are cached: a fresh ``seen`` costs nothing


def test_documented_reply_passes_and_is_recorded(checker: OpenAPIChecker) -> None:
    key = checker.check(exchange("GET", "/v2/address-books/7", 200, BOOK))
    assert key == "GET /v2/address-books/{id}"
    assert checker.seen == {"GET /v2/address-books/{id}"}
    assert checker.log == [("GET /v2/address-books/{id}", 200)]


def test_wrong_type_names_operation_status_and_pointer(checker: OpenAPIChecker) -> None:
    reply = exchange("GET", "/v2/address-books/7", 200, {**BOOK, "contacts": "3"})
    error = mismatch(checker, reply)
    assert (error.operation, error.status) == ("GET /v2/address-books/{id}", 200)
    assert error.where == "response body /contacts"
    assert "is not of type 'integer'" in error.detail


def test_pointer_reaches_into_arrays(checker: OpenAPIChecker) -> None:
    books = [BOOK, {**BOOK, "visibility": "Hidden"}]
    error = mismatch(checker, exchange("GET", "/v2/address-books?select=2", 200, books))
    assert error.where == "response body /1/visibility"


def test_missing_required_property_fails(checker: OpenAPIChecker) -> None:
    error = mismatch(
        checker,
        exchange("GET", "/v2/contacts/9", 200, {k: v for k, v in CONTACT.items() if k != "email"}),
    )
    assert "'email' is a required property" in error.detail


def test_unknown_reply_property_fails(checker: OpenAPIChecker) -> None:
    error = mismatch(checker, exchange("GET", "/v2/address-books/7", 200, {**BOOK, "Name": "x"}))
    assert "'Name' was unexpected" in error.detail


def test_undocumented_status_fails(checker: OpenAPIChecker) -> None:
    error = mismatch(checker, exchange("GET", "/v2/address-books/7", 409, {"message": "x"}))
    assert error.where == "status"
    assert "documented: 200" in error.detail


def test_success_status_must_be_the_documented_one(checker: OpenAPIChecker) -> None:
    # v2-full documents 201 for a created book (the docs-site spec says 200)
    created = {"name": "B"}
    assert checker.check(exchange("POST", "/v2/address-books", 201, BOOK, json=created))
    error = mismatch(checker, exchange("POST", "/v2/address-books", 200, BOOK, json=created))
    assert error.where == "status"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429])
def test_generic_errors_pass_with_the_error_envelope(checker: OpenAPIChecker, status: int) -> None:
    body = {"message": "Not found. ERROR_ADDRESSBOOK_NOT_FOUND"}
    assert checker.check(exchange("GET", "/v2/address-books/7", status, body))
    error = mismatch(checker, exchange("GET", "/v2/address-books/7", status, {"error": "x"}))
    assert "'message' is a required property" in error.detail


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_pass_with_any_body(checker: OpenAPIChecker, status: int) -> None:
    reply = exchange("GET", "/v2/data-fields", status, b"<html>", content_type="text/html")
    assert checker.check(reply)


def test_v3_errors_follow_the_v3_error_schema(checker: OpenAPIChecker) -> None:
    path = f"/contacts/v3/import/{IMPORT_ID}"
    good = {"errorCode": "contacts:importNotFound", "description": "Not found"}
    assert checker.check(exchange("GET", path, 404, good, headers=AUTH))
    error = mismatch(checker, exchange("GET", path, 404, {"message": "x"}, headers=AUTH))
    assert "is a required property" in error.detail


def test_undocumented_path_and_method_fail(checker: OpenAPIChecker) -> None:
    assert mismatch(checker, exchange("GET", "/v2/nothing-here", 200, {})).where == "path"
    error = mismatch(checker, exchange("PATCH", "/v2/address-books/7", 200, BOOK))
    assert error.where == "method"
    assert "GET /v2/address-books/{id}" in error.detail
    assert checker.seen == set()


@pytest.mark.parametrize("prefix", ["/r2", "/r3"])
def test_region_prefixes_are_mapped_away(checker: OpenAPIChecker, prefix: str) -> None:
    assert checker.check(exchange("GET", f"{prefix}/v2/address-books/7", 200, BOOK))
    reply = exchange(
        "PUT", f"{prefix}/contacts/v3/import", 202, {"importId": "abc"}, json=V3_BODY, headers=AUTH
    )
    assert checker.check(reply) == "PUT /contacts/v3/import"
    assert mismatch(checker, exchange("GET", "/r9/v2/address-books/7", 200, BOOK)).where == "path"


def test_admin_paths_are_ignored(checker: OpenAPIChecker) -> None:
    assert checker.check(exchange("GET", "/_emulator/calls", 200, {"anything": 1})) is None
    assert checker.check(exchange("GET", "/r2/_emulator/state", 200, [])) is None
    assert checker.seen == set()


def test_contact_by_id_and_by_email_are_told_apart(checker: OpenAPIChecker) -> None:
    assert checker.check(exchange("GET", "/v2/contacts/9", 200, CONTACT)) == "GET /v2/contacts/{id}"
    assert checker.check(exchange("GET", "/v2/contacts/ann%40example.com", 200, CONTACT)) == (
        "GET /v2/contacts/{email}"
    )
    assert checker.check(exchange("GET", "/v2/address-books/private", 200, [BOOK])) == (
        "GET /v2/address-books/private"
    )


def test_nullable_enums_accept_null(checker: OpenAPIChecker) -> None:
    contact = {**CONTACT, "optInType": None, "emailType": None, "dataFields": None}
    assert checker.check(exchange("GET", "/v2/contacts/9", 200, contact))
    error = mismatch(checker, exchange("GET", "/v2/contacts/9", 200, {**CONTACT, "optInType": "x"}))
    assert error.where == "response body /optInType"


def test_pascal_case_request_bodies_pass(checker: OpenAPIChecker) -> None:
    book = {"Name": "Newsletter", "Visibility": "Public"}
    assert checker.check(exchange("POST", "/v2/address-books", 201, BOOK, json=book))
    contact = {
        "Email": "ann@example.com",
        "OptInType": "Single",
        "EmailType": "Html",
        "DataFields": [{"Key": "FIRSTNAME", "Value": "Ann"}],
    }
    path = "/v2/address-books/7/contacts"
    assert checker.check(exchange("POST", path, 200, CONTACT, json=contact))
    v3 = {
        "MergeOption": "Overwrite",
        "Contacts": [
            {
                "MatchIdentifier": "email",
                "Identifiers": {"Email": "ann@example.com"},
                "DataFields": {"FIRSTNAME": "Ann"},
                "ChannelProperties": {"Email": {"EmailType": "Html"}},
                "Lists": [7],
            }
        ],
    }
    assert checker.check(
        exchange("PUT", "/contacts/v3/import", 202, {"importId": "a"}, json=v3, headers=AUTH)
    )


def test_invalid_request_fails_unless_rejected(checker: OpenAPIChecker) -> None:
    book = {"Name": "Newsletter", "Colour": "red"}
    error = mismatch(checker, exchange("POST", "/v2/address-books", 201, BOOK, json=book))
    assert error.where == "request /"
    assert "'Colour' was unexpected" in error.detail
    # the same request answered 400 is a test provoking the error: nothing to report
    reply = {"message": "Invalid. ERROR_PARAMETER_INVALID"}
    assert checker.check(exchange("POST", "/v2/address-books", 400, reply, json=book))


def test_query_parameters_bind_case_insensitively(checker: OpenAPIChecker) -> None:
    path = "/v2/address-books/7/contacts?WithFullData=True&Select=10&SKIP=0"
    assert checker.check(exchange("GET", path, 200, [CONTACT]))
    error = mismatch(checker, exchange("GET", "/v2/address-books?Select=ten", 200, [BOOK]))
    assert error.where == "query parameter 'select'"


def test_v3_request_needs_basic_auth(checker: OpenAPIChecker) -> None:
    reply = exchange("PUT", "/contacts/v3/import", 202, {"importId": "a"}, json=V3_BODY)
    error = mismatch(checker, reply)
    assert "basicAuth" in error.detail


def test_v3_import_status_shape(checker: OpenAPIChecker) -> None:
    path = f"/contacts/v3/import/{IMPORT_ID}"
    ref = {"contactId": 9, "identifiers": {"email": "ann@example.com"}}
    failure = {
        "matchIdentifier": "email",
        "identifiers": {"email": "bad"},
        "failures": [{"failureCode": "invalidEmail", "description": "Invalid"}],
    }
    status = {
        "importId": IMPORT_ID,
        "status": "Finished",
        "created": [ref],
        "updated": [],
        "failures": [failure],
    }
    assert checker.check(exchange("GET", path, 200, status, headers=AUTH))
    del failure["matchIdentifier"]
    error = mismatch(checker, exchange("GET", path, 200, status, headers=AUTH))
    assert error.where == "response body /failures/0"


def test_multipart_and_base64_imports_pass(checker: OpenAPIChecker) -> None:
    reply = {"id": IMPORT_ID, "status": "NotFinished"}
    upload = {"anything": ("people.csv", b"Email\nann@example.com\n", "text/csv")}
    path = "/v2/address-books/7/contacts/import"
    assert checker.check(exchange("POST", path, 202, reply, files=upload))
    merge = f"{path}/with-merge-option/overwrite"
    body = {"FileName": "people.csv", "Data": "RW1haWwK"}
    assert checker.check(exchange("POST", merge, 202, reply, json=body))
    error = mismatch(checker, exchange("POST", path, 202, {**reply, "status": "Queued"}, json=body))
    assert error.where == "response body /status"


def test_report_faults_csv_is_checked_for_content_type_only(checker: OpenAPIChecker) -> None:
    path = f"/v2/contacts/import/{IMPORT_ID}/report-faults"
    csv = "\ufeffReason,email\r\nInvalid Email,bad\r\n".encode()
    for content_type in ("text/csv; charset=utf-8", "application/octet-stream", "text/plain"):
        assert checker.check(exchange("GET", path, 200, csv, content_type=content_type))
    error = mismatch(checker, exchange("GET", path, 200, csv, content_type="text/html"))
    assert error.where == "response content type"


def test_empty_bodies(checker: OpenAPIChecker) -> None:
    assert checker.check(exchange("DELETE", "/v2/address-books/7/contacts/9", 204))
    assert checker.check(exchange("DELETE", "/v2/address-books/7", 200))  # an empty binary
    error = mismatch(checker, exchange("GET", "/v2/address-books/7", 200))
    assert error.where == "response content type"
    assert "none not documented" in error.detail


def test_documents_are_found_above_the_repository(tmp_path: Path) -> None:
    assert (find_openapi_dir() / "v2-full.openapi.json").is_file()
    with pytest.raises(FileNotFoundError):
        find_openapi_dir(tmp_path / "x.py", shapes_fallback=False)
    assert find_openapi_dir(tmp_path / "x.py") == SHAPES_DIR
    assert {"PUT /contacts/v3/import", "GET /v2/account-info"} <= (
        OpenAPIChecker().documented_operations()
    )


def test_shipped_shapes_match_the_documents() -> None:
    """The prose-free copy used without ../shared documents the same operations and schemas."""
    try:
        full = find_openapi_dir(shapes_fallback=False)
    except FileNotFoundError:
        pytest.skip("DotDigital's documents are not beside this checkout")
    shapes = OpenAPIChecker(SHAPES_DIR)
    assert shapes.documented_operations() == OpenAPIChecker(full).documented_operations()
    for name in ("v2-full.openapi.json", "v3-contacts.openapi.json"):
        document = json.loads((full / name).read_text(encoding="utf-8"))
        shipped = json.loads((SHAPES_DIR / name).read_text(encoding="utf-8"))
        assert shipped["components"]["schemas"].keys() == document["components"]["schemas"].keys()


def test_hooks_validate_each_reply(checked_hooks: Hooks) -> None:
    replies = iter([BOOK, {**BOOK, "id": "7"}])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=next(replies)))
    with httpx.Client(base_url=BASE, transport=transport, event_hooks=checked_hooks) as client:
        assert client.get("/v2/address-books/7").json() == BOOK
        with pytest.raises(OpenAPIMismatch, match="response body /id"):
            client.get("/v2/address-books/7")


def test_checked_client_validates_and_keeps_caller_hooks(checked_client: ClientFactory) -> None:
    statuses: list[int] = []
    transport = httpx.MockTransport(lambda request: httpx.Response(201, json=BOOK))
    client = checked_client(
        BASE,
        auth=("demo", "demo"),
        transport=transport,
        event_hooks={"response": [lambda r: statuses.append(r.status_code)]},
    )
    assert client.post("/v2/address-books", json={"Name": "B"}).status_code == 201
    with pytest.raises(OpenAPIMismatch, match="status"):
        client.get("/v2/address-books/7")  # 201 is not a documented reply to a GET
    assert statuses == [201, 201]
