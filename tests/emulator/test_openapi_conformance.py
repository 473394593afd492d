"""Every DotDigital endpoint the emulator serves, over real HTTP, with every request and reply
validated against DotDigital's OpenAPI documents by ``checked_client``.

Success and error replies alike (401, 403 wrong region, 404, 400 validation, 429) must fit the
documents; the last test checks that each listed operation was exercised.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from support.openapi_check import OpenAPIChecker
from support.openapi_fixtures import ClientFactory

from dotsync.emulator import AccountSettings, EmulatorSettings, RunningEmulator, run_emulator

# The last test checks what the whole module's calls covered, so it needs every other test of the
# module to have run in its process. Under -n, xdist spreads them over workers (its xdist_group
# mark does nothing under pytest 9), so it skips there; .ci/run also runs this module alone.
_RAN_HERE: set[str] = set()


@pytest.fixture(autouse=True)
def _record_test_run_here(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    _RAN_HERE.add(request.node.name)


DEMO = ("demo@apiconnector.com", "demo")
NORTH = ("north@apiconnector.com", "north")  # an r2 account
SINCE = "2000-01-01T00:00:00Z"
UNKNOWN_ID = "0b7c3f52-1d1e-4a55-9a0e-000000000000"

V2_OPERATIONS = [
    "GET /v2/account-info",
    "GET /v2/address-books",
    "GET /v2/address-books/private",
    "GET /v2/address-books/public",
    "GET /v2/address-books/{id}",
    "POST /v2/address-books",
    "PUT /v2/address-books/{id}",
    "DELETE /v2/address-books/{id}",
    "GET /v2/address-books/{addressBookId}/contacts",
    "GET /v2/address-books/{addressBookId}/contacts/modified-since/{date}",
    "POST /v2/address-books/{addressBookId}/contacts",
    "DELETE /v2/address-books/{addressBookId}/contacts/{contactId}",
    "POST /v2/address-books/{addressBookId}/contacts/delete",
    "GET /v2/contacts/deletion/{deletionRequestId}",
    "DELETE /v2/address-books/{addressBookId}/contacts",
    "POST /v2/address-books/{addressBookId}/contacts/delete-all",
    "POST /v2/address-books/{addressBookId}/contacts/unsubscribe",
    "POST /v2/address-books/{addressBookId}/contacts/resubscribe",
    "POST /v2/address-books/{addressBookId}/contacts/resubscribe-with-no-challenge",
    "GET /v2/contacts/{id}",
    "GET /v2/contacts/{email}",
    "POST /v2/contacts",
    "POST /v2/contacts/unsubscribe",
    "POST /v2/contacts/resubscribe",
    "POST /v2/contacts/resubscribe-with-no-challenge",
    "GET /v2/contacts/suppressed-since/{date}",
    "GET /v2/contacts/unsubscribed-since/{date}",
    "GET /v2/address-books/{addressBookId}/contacts/unsubscribed-since/{date}",
    "POST /v2/address-books/{addressBookId}/contacts/import",
    "POST /v2/address-books/{addressBookId}/contacts/import/with-merge-option/{mergeOption}",
    "GET /v2/contacts/import/{importId}",
    "GET /v2/contacts/import/{importId}/report",
    "GET /v2/contacts/import/{importId}/report-faults",
    "GET /v2/data-fields",
    "POST /v2/data-fields",
    "DELETE /v2/data-fields/{name}",
]
V3_OPERATIONS = [
    "PUT /contacts/v3/import",
    "GET /contacts/v3/import/{importId}",
    "GET /contacts/v3",
]


@pytest.fixture(scope="module")
def running() -> Iterator[RunningEmulator]:
    accounts = [
        AccountSettings(api_user=DEMO[0], password=SecretStr(DEMO[1])),
        AccountSettings(api_user=NORTH[0], password=SecretStr(NORTH[1]), region="r2"),
    ]
    with run_emulator(EmulatorSettings(accounts=accounts)) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def log_start(openapi_checker: OpenAPIChecker) -> int:
    """Where this module's exchanges start in the session-wide log."""
    return len(openapi_checker.log)


@pytest.fixture
def api(running: RunningEmulator, checked_client: ClientFactory, log_start: int) -> httpx.Client:
    return checked_client(running.base_url, auth=DEMO)


def poll(client: httpx.Client, path: str, timeout: float = 20.0) -> dict[str, Any]:
    """GET ``path`` until its ``status`` is no longer ``NotFinished``."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(path).json()
        if body["status"] != "NotFinished" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def new_book(api: httpx.Client, name: str) -> int:
    reply = api.post("/v2/address-books", json={"Name": name, "Visibility": "Private"})
    assert reply.status_code == 201, reply.text
    book_id: int = reply.json()["id"]
    return book_id


def suppress(api: httpx.Client, email: str, status: str) -> None:
    reply = api.post(
        f"/_emulator/accounts/{DEMO[0]}/suppress",
        json={"email": email, "status": status, "scope": "account"},
    )
    assert reply.status_code == 200, reply.text


def test_account_info_on_every_host(
    running: RunningEmulator, checked_client: ClientFactory, log_start: int
) -> None:
    north = checked_client(running.base_url, auth=NORTH)
    for path in ("/v2/account-info", "/r2/v2/account-info", "/r3/v2/account-info"):
        properties = {p["name"]: p["value"] for p in north.get(path).json()["properties"]}
        assert properties["ApiEndpoint"] == f"{running.base_url}/r2"
    demo = checked_client(running.base_url, auth=DEMO)
    assert demo.get("/v2/account-info").status_code == 200


def test_authentication_and_region_errors(
    running: RunningEmulator, checked_client: ClientFactory, log_start: int
) -> None:
    wrong = checked_client(running.base_url, auth=(DEMO[0], "wrong"))
    assert wrong.get("/v2/address-books").status_code == 401
    assert wrong.put("/contacts/v3/import", json={"contacts": []}).status_code == 401
    north = checked_client(running.base_url, auth=NORTH)
    assert north.get("/v2/address-books").status_code == 403  # r2 account on the r1 host
    assert north.get("/r2/v2/address-books").status_code == 200
    demo = checked_client(running.base_url, auth=DEMO)
    assert demo.get("/r3/v2/data-fields").status_code == 403
    assert demo.get(f"/r2/contacts/v3/import/{UNKNOWN_ID}").status_code == 403


def test_address_books(api: httpx.Client) -> None:
    assert {b["name"] for b in api.get("/v2/address-books?Select=1000").json()} >= {
        "Test",
        "All Contacts",
    }
    book_id = new_book(api, "Conformance books")
    assert api.get("/v2/address-books?select=1&skip=0").status_code == 200
    assert api.get("/v2/address-books/private").status_code == 200
    assert api.get("/v2/address-books/public").status_code == 200
    assert api.get(f"/v2/address-books/{book_id}").json()["name"] == "Conformance books"
    renamed = {"Name": "Renamed", "Visibility": "Public"}
    updated = api.put(f"/v2/address-books/{book_id}", json=renamed)
    assert updated.json()["visibility"] == "Public"
    assert api.delete(f"/v2/address-books/{book_id}").status_code == 200
    assert api.get(f"/v2/address-books/{book_id}").status_code == 404
    assert api.get("/v2/address-books?select=0").status_code == 400
    assert api.post("/v2/address-books", json={"Name": "Test"}).status_code == 400


def test_data_fields(api: httpx.Client) -> None:
    created = api.post(
        "/v2/data-fields",
        json={"Name": "tier", "Type": "String", "Visibility": "Private", "DefaultValue": None},
    )
    assert created.status_code == 201
    assert "TIER" in {f["name"] for f in api.get("/v2/data-fields").json()}
    assert api.post("/v2/data-fields", json={"Name": "TIER", "Type": "String"}).status_code == 400
    assert api.post("/v2/data-fields", json={"Name": "bad name!"}).status_code == 400
    assert api.delete("/v2/data-fields/TIER").status_code == 200
    assert api.delete("/v2/data-fields/NEVER_MADE").status_code == 404


def test_contacts_of_a_book(api: httpx.Client) -> None:
    book_id = new_book(api, "Conformance members")
    members = f"/v2/address-books/{book_id}/contacts"
    contact = {
        "Email": "ann@example.com",
        "OptInType": "Single",
        "EmailType": "Html",
        "DataFields": [{"Key": "FIRSTNAME", "Value": "Ann"}],
    }
    ann = api.post(members, json=contact).json()
    bob = api.post(members, json={"Email": "bob@example.com"}).json()
    assert (
        api.post(
            members, json={"Email": "cy@example.com", "DataFields": [{"Key": "NOPE", "Value": 1}]}
        ).status_code
        == 400
    )
    assert api.post("/v2/address-books/999999/contacts", json=contact).status_code == 404
    assert len(api.get(f"{members}?withFullData=true&select=10").json()) == 2
    assert api.get(members).status_code == 200
    assert api.get(f"{members}/modified-since/{SINCE}?WithFullData=True").status_code == 200
    unsubscribed = api.post(f"{members}/unsubscribe", json={"Email": "bob@example.com"})
    assert unsubscribed.status_code == 200
    again = {"UnsubscribedContact": {"Email": "bob@example.com"}}
    assert api.post(f"{members}/resubscribe", json=again).status_code == 200
    assert api.post(f"{members}/resubscribe-with-no-challenge", json=again).status_code == 200
    assert api.delete(f"{members}/{ann['id']}").status_code == 204
    deletion = api.post(f"{members}/delete", json=[bob["id"]])
    assert deletion.status_code == 202
    assert poll(api, f"/v2/contacts/deletion/{deletion.json()['id']}")["status"] == "Completed"
    assert api.post(f"{members}/delete-all").status_code == 202
    assert api.delete(members).status_code == 204


def test_contacts_of_the_account(api: httpx.Client) -> None:
    created = api.post("/v2/contacts", json={"Email": "dee@example.com", "OptInType": "Single"})
    assert created.status_code == 201
    contact_id = created.json()["id"]
    assert api.get(f"/v2/contacts/{contact_id}").json()["email"] == "dee@example.com"
    assert api.get("/v2/contacts/dee@example.com").json()["id"] == contact_id
    assert api.get("/v2/contacts/nobody@example.com").status_code == 404
    assert api.post("/v2/contacts", json={"Email": ""}).status_code == 400
    unsubscribed = api.post("/v2/contacts/unsubscribe", json={"Email": "dee@example.com"})
    assert unsubscribed.status_code == 200
    assert any(
        s["suppressedContact"]["email"] == "dee@example.com"
        for s in api.get(f"/v2/contacts/suppressed-since/{SINCE}?select=100").json()
    )
    again = {"UnsubscribedContact": {"Email": "dee@example.com"}}
    assert api.post("/v2/contacts/resubscribe", json=again).status_code == 200
    assert api.post("/v2/contacts/resubscribe-with-no-challenge", json=again).status_code == 200


def test_contact_reads_and_change_feeds(api: httpx.Client) -> None:
    book_id = new_book(api, "Conformance reads")
    members = f"/v2/address-books/{book_id}/contacts"
    for email in ("r1@example.com", "r2@example.com", "r3@example.com"):
        assert api.post(members, json={"Email": email}).status_code == 200
    suppress(api, "r3@example.com", "HardBounced")
    first = api.get(
        "/contacts/v3",
        params={
            "~listId": book_id,
            "~modified": "gte::2000-01-01T00:00:00Z",
            "limit": 2,
            "data-fields": "FIRSTNAME|LASTNAME",
            "include": "channelProperties|lists",
        },
    )
    assert first.status_code == 200
    marker = first.json()["_links"]["next"]["marker"]
    rest = api.get("/contacts/v3", params={"~listId": book_id, "limit": 2, "marker": marker})
    assert [c["identifiers"]["email"] for c in rest.json()["_items"]] == ["r3@example.com"]
    created = api.get("/contacts/v3", params={"~created": "gte::2000-01-01T00:00:00.000Z"})
    assert created.status_code == 200
    assert api.get("/contacts/v3", params={"~modified": "yesterday"}).status_code == 400
    assert api.get("/contacts/v3", params={"limit": 5001}).status_code == 400
    assert api.post(f"{members}/unsubscribe", json={"Email": "r1@example.com"}).status_code == 200
    assert api.post("/v2/contacts/unsubscribe", json={"Email": "r2@example.com"}).status_code == 200
    from_book = api.get(f"{members}/unsubscribed-since/{SINCE}?select=10&skip=0").json()
    assert [s["suppressedContact"]["email"] for s in from_book] == ["r1@example.com"]
    unsubscribed = api.get(f"/v2/contacts/unsubscribed-since/{SINCE}?Select=10").json()
    assert "r2@example.com" in {s["suppressedContact"]["email"] for s in unsubscribed}
    suppressed = api.get(f"/v2/contacts/suppressed-since/{SINCE}").json()
    assert {"HardBounced", "Unsubscribed"} <= {s["reason"] for s in suppressed}
    assert (
        api.get(f"/v2/address-books/999999/contacts/unsubscribed-since/{SINCE}").status_code == 404
    )
    assert api.get("/v2/contacts/unsubscribed-since/not-a-date").status_code == 400


def test_v2_import_to_its_end(api: httpx.Client) -> None:
    book_id = new_book(api, "Conformance v2 import")
    suppress(api, "gone@example.com", "HardBounced")
    csv = (
        b"Email,FIRSTNAME\nimp@example.com,Ann\nnot-an-email,X\nimp@example.com,Dup\n"
        b"gone@example.com,Gone\n"
    )
    imports = f"/v2/address-books/{book_id}/contacts/import"
    submitted = api.post(imports, files={"anyname": ("people.csv", csv, "text/csv")})
    assert submitted.status_code == 202
    import_id = submitted.json()["id"]
    assert poll(api, f"/v2/contacts/import/{import_id}")["status"] == "Finished"
    report = api.get(f"/v2/contacts/import/{import_id}/report").json()
    assert (report["newContacts"], report["invalidEntries"], report["duplicateEmails"]) == (1, 1, 1)
    assert report["hardBounced"] == 1
    faults = api.get(f"/v2/contacts/import/{import_id}/report-faults")
    assert faults.content.startswith("\ufeffReason,email".encode())
    merged = api.post(
        f"{imports}/with-merge-option/OnlyOverwriteIfNotEmpty",
        json={"FileName": "more.csv", "Data": base64.b64encode(csv).decode()},
    )
    assert poll(api, f"/v2/contacts/import/{merged.json()['id']}")["status"] == "Finished"
    assert api.post(imports, files={"file": (None, csv)}).status_code == 400  # no filename
    assert api.get(f"/v2/contacts/import/{UNKNOWN_ID}").status_code == 404
    assert api.get(f"/v2/contacts/import/{UNKNOWN_ID}/report").status_code == 404


def test_v3_import_to_its_end(api: httpx.Client) -> None:
    book_id = new_book(api, "Conformance v3 import")
    api.post(f"/v2/address-books/{book_id}/contacts", json={"Email": "old@example.com"})
    suppress(api, "left@example.com", "Unsubscribed")

    def contact(email: str) -> dict[str, Any]:
        return {
            "matchIdentifier": "email",
            "identifiers": {"email": email},
            "dataFields": {"FIRSTNAME": "X"},
            "lists": [book_id],
        }

    body = {
        "mergeOption": "overwrite",
        "contacts": [
            contact("new@example.com"),
            contact("old@example.com"),
            contact("not-an-email"),
            contact("left@example.com"),
        ],
    }
    submitted = api.put("/contacts/v3/import", json=body)
    assert submitted.status_code == 202
    result = poll(api, f"/contacts/v3/import/{submitted.json()['importId']}")
    assert result["status"] == "Finished"
    assert [c["identifiers"]["email"] for c in result["created"]] == ["new@example.com"]
    assert [c["identifiers"]["email"] for c in result["updated"]] == ["old@example.com"]
    assert {f["identifiers"]["email"] for f in result["failures"]} == {
        "not-an-email",
        "left@example.com",
    }
    assert api.get(f"/contacts/v3/import/{UNKNOWN_ID}").status_code == 404
    assert (
        api.put(
            "/contacts/v3/import",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ).status_code
        == 400
    )


def test_limits_answer_documented_errors(checked_client: ClientFactory, log_start: int) -> None:
    # A slow emulator keeps imports active: a report before the end, the active-import limit.
    # 5 contacts at 2 a second: active for 2.5 s, long enough for four calls, short for teardown.
    settings = EmulatorSettings(import_rate=2.0, max_active_imports=1)
    with run_emulator(settings) as slow:
        api = checked_client(slow.base_url, auth=DEMO)
        book_id = new_book(api, "Slow")
        csv = b"Email\n" + b"".join(b"p%d@example.com\n" % i for i in range(5))
        first = api.post(
            f"/v2/address-books/{book_id}/contacts/import", files={"f": ("a.csv", csv, "text/csv")}
        )
        assert first.status_code == 202
        assert api.get(f"/v2/contacts/import/{first.json()['id']}/report").status_code == 404
        second = api.post(
            f"/v2/address-books/{book_id}/contacts/import", files={"f": ("b.csv", csv, "text/csv")}
        )
        assert second.status_code == 400  # ERROR_IMPORT_TOOMANYACTIVEIMPORTS
        v3 = {
            "contacts": [
                {
                    "matchIdentifier": "email",
                    "identifiers": {"email": "a@example.com"},
                    "lists": [book_id],
                }
            ]
        }
        assert api.put("/contacts/v3/import", json=v3).status_code == 429


def test_every_listed_operation_was_seen(
    openapi_checker: OpenAPIChecker, log_start: int, request: pytest.FixtureRequest
) -> None:
    listed = set(V2_OPERATIONS + V3_OPERATIONS)
    assert listed <= openapi_checker.documented_operations()  # no typo in the list itself
    module_tests = [item for item in request.session.items if item.path == request.path]
    if len(module_tests) < _count_tests(request.module):
        pytest.skip("coverage is only meaningful when the whole module runs")
    others = {item.name for item in module_tests} - {request.node.name}
    if not others <= _RAN_HERE:
        pytest.skip("the module's tests ran in several processes (-n): run it alone to check")
    exchanges = openapi_checker.log[log_start:]
    assert listed - {operation for operation, _ in exchanges} == set()
    statuses = {status for _, status in exchanges}
    assert {200, 201, 202, 204, 400, 401, 403, 404, 429} <= statuses


def _count_tests(module: Any) -> int:
    tests: list[Callable[..., Any]] = [v for k, v in vars(module).items() if k.startswith("test_")]
    return len(tests)
