"""v3 JSON imports: created/updated ids, failures, lists, merge options, suppression, limits."""

from __future__ import annotations

from typing import Any

import httpx
from support.emulator_fixtures import EmulatorFactory

from dotsync.emulator import RunningEmulator

from .conftest import ApiFactory, create_book, v3_contact, wait_v3


def _put(api: httpx.Client, contacts: list[dict[str, Any]], **body: Any) -> httpx.Response:
    return api.put("/contacts/v3/import", json={"contacts": contacts, **body})


def test_created_updated_and_failures_with_ids(api: httpx.Client) -> None:
    book = create_book(api)
    existing = api.post("/v2/contacts", json={"email": "old@example.com"}).json()["id"]
    reply = _put(
        api,
        [
            v3_contact("new@example.com", [book], firstName="New"),
            v3_contact("OLD@example.com", [book], lastName="Lee"),
            v3_contact("broken", [book]),
            v3_contact("new@example.com", [book]),
        ],
    )
    assert reply.status_code == 202
    result = wait_v3(api, reply.json()["importId"])
    assert result["status"] == "Finished"
    assert result["summary"] == {
        "newContacts": 1,
        "updatedContacts": 1,
        "globallySuppressed": 0,
        "invalidEntries": 1,
        "duplicateIdentifiers": 1,
    }
    new_id = api.get("/v2/contacts/new@example.com").json()["id"]
    assert result["created"] == [{"contactId": new_id, "identifiers": {"email": "new@example.com"}}]
    assert result["updated"] == [
        {"contactId": existing, "identifiers": {"email": "old@example.com"}}
    ]
    failures = [
        (f["identifiers"]["email"], f["failures"][0]["failureCode"]) for f in result["failures"]
    ]
    assert failures == [("broken", "invalidEmail"), ("new@example.com", "duplicateIdentifier")]
    members = {c["email"] for c in api.get(f"/v2/address-books/{book}/contacts").json()}
    assert members == {"new@example.com", "old@example.com"}


def test_null_clears_and_merge_options(api: httpx.Client) -> None:
    book = create_book(api)
    api.post(
        f"/v2/address-books/{book}/contacts",
        json={
            "email": "m@example.com",
            "dataFields": [
                {"key": "FIRSTNAME", "value": "Old"},
                {"key": "LASTNAME", "value": "Lee"},
            ],
        },
    )

    def fields_after(merge: str, **values: Any) -> dict[str, Any]:
        reply = _put(api, [v3_contact("m@example.com", [book], **values)], mergeOption=merge)
        assert wait_v3(api, reply.json()["importId"])["status"] == "Finished"
        data = api.get("/v2/contacts/m@example.com").json()["dataFields"]
        return {f["key"]: f["value"] for f in data}

    kept = fields_after("overwriteIfEmpty", firstName="Ignored", gender="f")
    assert (kept["FIRSTNAME"], kept["GENDER"]) == ("Old", "f")
    skipped = fields_after("overwriteIfNotEmpty", firstName=None, lastName="Ray")
    assert (skipped["FIRSTNAME"], skipped["LASTNAME"]) == ("Old", "Ray")
    cleared = fields_after("overwrite", firstName=None)
    assert (cleared["FIRSTNAME"], cleared["LASTNAME"]) == (None, "Ray")


def test_suppressed_contacts_fail_and_stay_suppressed(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    book = create_book(api)
    emulator.suppress(emulator.credentials[0], "gone@example.com", "Unsubscribed")
    contact = v3_contact("gone@example.com", [book])
    contact["channelProperties"] = {"email": {"status": "subscribed", "optInType": "single"}}
    result = wait_v3(api, _put(api, [contact]).json()["importId"])
    assert result["summary"]["globallySuppressed"] == 1
    failure = result["failures"][0]
    assert failure["failures"][0]["failureCode"] == "contactSuppressed"
    assert failure["contactId"] == api.get("/v2/contacts/gone@example.com").json()["id"]
    assert api.get("/v2/contacts/gone@example.com").json()["status"] == "Unsubscribed"
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 0


def test_unknown_field_and_bad_value_fail_the_contact(api: httpx.Client) -> None:
    api.post("/v2/data-fields", json={"name": "SCORE", "type": "Numeric"})
    result = wait_v3(
        api,
        _put(
            api,
            [
                v3_contact("a@example.com", nope="x"),
                v3_contact("b@example.com", score="high"),
                v3_contact("c@example.com", score=3),
            ],
        ).json()["importId"],
    )
    codes = [f["failures"][0]["failureCode"] for f in result["failures"]]
    assert codes == ["dataFieldNotFound", "invalidDataField"]
    assert [c["identifiers"]["email"] for c in result["created"]] == ["c@example.com"]


def test_bad_requests(api: httpx.Client) -> None:
    bad_json = api.put(
        "/contacts/v3/import", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["errorCode"] == "contacts:badJson"
    missing = api.get("/contacts/v3/import/6a0b1f7e-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "contacts:importNotFound"
    test_book = api.get("/v2/address-books").json()[0]["id"]
    refused = _put(api, [v3_contact("a@example.com", [test_book])])
    assert refused.status_code == 400 and refused.json()["errorCode"] == "contacts:invalidLists"


def test_too_many_active_imports_answers_429(
    emulator_factory: EmulatorFactory, api_for: ApiFactory
) -> None:
    api = api_for(emulator_factory(import_rate=0.01, max_active_imports=2))
    for index in range(2):
        assert _put(api, [v3_contact(f"s{index}@example.com")]).status_code == 202
    reply = _put(api, [v3_contact("more@example.com")])
    assert reply.status_code == 429
    assert reply.json()["errorCode"] == "contacts:tooManyActiveImports"
