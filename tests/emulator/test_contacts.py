"""Contacts of a book and of the account: add, list, remove, unsubscribe, resubscribe, lookups."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dotsync.emulator import RunningEmulator

from .conftest import create_book


def _add(api: httpx.Client, book: int, email: str, **fields: Any) -> httpx.Response:
    body = {"email": email, "dataFields": [{"key": k, "value": v} for k, v in fields.items()]}
    return api.post(f"/v2/address-books/{book}/contacts", json=body)


def test_add_one_creates_the_contact_and_overwrites_the_data_given(api: httpx.Client) -> None:
    book = create_book(api)
    first = _add(api, book, "Ann@Example.com", FIRSTNAME="Ann", LASTNAME="Lee")
    assert first.status_code == 200
    contact = first.json()
    assert contact["email"] == "ann@example.com" and contact["status"] == "Subscribed"
    second = _add(api, book, "ann@example.com", FIRSTNAME="Annie").json()
    assert second["id"] == contact["id"]
    fields = {f["key"]: f["value"] for f in second["dataFields"]}
    assert fields["FIRSTNAME"] == "Annie" and fields["LASTNAME"] == "Lee"
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"NOPE": "x"}, "ERROR_DATAFIELD_NOTFOUND"),
        ({"FIRSTNAME": "x" * 256}, "ERROR_DATAFIELD_VALUE_OVERFLOW"),
    ],
    ids=["unknown-field", "over-255"],
)
def test_add_one_rejects_bad_data_fields(
    api: httpx.Client, fields: dict[str, str], code: str
) -> None:
    reply = _add(api, create_book(api), "a@example.com", **fields)
    assert reply.status_code == 400
    assert reply.json()["message"].endswith(f". {code}")
    assert api.get("/v2/contacts/a@example.com").status_code == 404


def test_invalid_email_is_rejected(api: httpx.Client) -> None:
    reply = _add(api, create_book(api), "not-an-email")
    assert reply.json() == {
        "message": "Email is not a valid email address. ERROR_PARAMETER_INVALID"
    }


def test_values_are_parsed_by_field_type(api: httpx.Client) -> None:
    for name, kind in [("SCORE", "Numeric"), ("BIRTHDAY", "Date"), ("VIP", "Boolean")]:
        assert api.post("/v2/data-fields", json={"name": name, "type": kind}).status_code == 201
    book = create_book(api)
    contact = _add(
        api, book, "a@example.com", SCORE="12.5", BIRTHDAY="1990-05-17", VIP="true"
    ).json()
    fields = {f["key"]: f["value"] for f in contact["dataFields"]}
    assert fields == {**fields, "SCORE": 12.5, "BIRTHDAY": "1990-05-17T00:00:00", "VIP": True}
    for name, bad in [("SCORE", "abc"), ("BIRTHDAY", "17/05/90"), ("VIP", "maybe")]:
        reply = _add(api, book, "b@example.com", **{name: bad})
        assert reply.status_code == 400, (name, bad)


def test_lists_have_null_data_fields_unless_full_data_is_asked(api: httpx.Client) -> None:
    book = create_book(api)
    _add(api, book, "a@example.com", FIRSTNAME="A")
    assert api.get(f"/v2/address-books/{book}/contacts").json()[0]["dataFields"] is None
    full = api.get(f"/v2/address-books/{book}/contacts", params={"withFullData": "true"}).json()
    keys = [f["key"] for f in full[0]["dataFields"]]
    assert keys == ["FIRSTNAME", "LASTNAME", "FULLNAME", "GENDER", "POSTCODE", "LASTSUBSCRIBED"]


def test_members_modified_since(api: httpx.Client) -> None:
    book = create_book(api)
    _add(api, book, "old@example.com")
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    _add(api, book, "new@example.com")
    stamp = cut.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    changed = api.get(f"/v2/address-books/{book}/contacts/modified-since/{stamp}").json()
    assert [c["email"] for c in changed] == ["new@example.com"]
    earlier = (cut - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert len(api.get(f"/v2/address-books/{book}/contacts/modified-since/{earlier}").json()) == 2


def test_get_contact_by_id_or_email_and_create(api: httpx.Client) -> None:
    created = api.post("/v2/contacts", json={"email": "c@example.com", "emailType": "PlainText"})
    assert created.status_code == 201
    contact_id = created.json()["id"]
    assert api.get(f"/v2/contacts/{contact_id}").json()["email"] == "c@example.com"
    assert api.get("/v2/contacts/C@EXAMPLE.COM").json()["emailType"] == "PlainText"
    missing = api.get("/v2/contacts/999999")
    assert missing.status_code == 404
    assert missing.json()["message"].endswith(". ERROR_CONTACT_NOT_FOUND")


def test_removing_from_a_book_keeps_the_contact(api: httpx.Client) -> None:
    book = create_book(api)
    ids = [_add(api, book, f"m{i}@example.com").json()["id"] for i in range(4)]
    assert api.delete(f"/v2/address-books/{book}/contacts/{ids[0]}").status_code == 204
    assert api.delete(f"/v2/address-books/{book}/contacts/{ids[0]}").status_code == 404
    job = api.post(f"/v2/address-books/{book}/contacts/delete", json=ids[1:3])
    assert job.status_code == 202 and job.json()["status"] == "Started"
    status = api.get(f"/v2/contacts/deletion/{job.json()['id']}").json()
    assert status == {"id": job.json()["id"], "status": "Completed"}
    assert [c["id"] for c in api.get(f"/v2/address-books/{book}/contacts").json()] == ids[3:]
    for contact_id in ids:
        assert api.get(f"/v2/contacts/{contact_id}").status_code == 200


def test_delete_all_members(api: httpx.Client) -> None:
    book = create_book(api)
    for index in range(3):
        _add(api, book, f"d{index}@example.com")
    job = api.post(f"/v2/address-books/{book}/contacts/delete-all")
    assert job.status_code == 202
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 0
    _add(api, book, "again@example.com")
    assert api.delete(f"/v2/address-books/{book}/contacts").status_code == 204
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 0
    assert api.get("/v2/contacts/again@example.com").status_code == 200


def test_unsubscribe_from_a_book_then_resubscribe(api: httpx.Client) -> None:
    book, other = create_book(api), create_book(api, "Other")
    _add(api, book, "u@example.com")
    _add(api, other, "u@example.com")
    reply = api.post(
        f"/v2/address-books/{book}/contacts/unsubscribe", json={"email": "u@example.com"}
    )
    assert reply.status_code == 200 and reply.json()["reason"] == "Unsubscribed"
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 0
    assert api.get(f"/v2/address-books/{other}").json()["contacts"] == 1
    again = _add(api, book, "u@example.com")
    assert again.json()["message"].endswith(". ERROR_CONTACT_SUPPRESSEDFORADDRESSBOOK")
    back = api.post(
        f"/v2/address-books/{book}/contacts/resubscribe-with-no-challenge",
        json={"unsubscribedContact": {"email": "u@example.com"}},
    )
    assert back.json()["status"] == "ContactAdded"
    assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 1


def test_account_unsubscribe_suppresses_and_is_listed_since(api: httpx.Client) -> None:
    book = create_book(api)
    _add(api, book, "s@example.com")
    before = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.01)
    reply = api.post("/v2/contacts/unsubscribe", json={"Email": "s@example.com"})
    assert reply.json()["suppressedContact"]["status"] == "Unsubscribed"
    assert _add(api, book, "s@example.com").json()["message"].endswith(". ERROR_CONTACT_SUPPRESSED")
    listed = api.get(f"/v2/contacts/suppressed-since/{before}").json()
    assert [(s["suppressedContact"]["email"], s["reason"]) for s in listed] == [
        ("s@example.com", "Unsubscribed")
    ]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert api.get(f"/v2/contacts/suppressed-since/{later:%Y-%m-%dT%H:%M:%SZ}").json() == []
    challenged = api.post(
        "/v2/contacts/resubscribe", json={"unsubscribedContact": {"email": "s@example.com"}}
    )
    assert challenged.json()["status"] == "ContactChallenged"
    assert api.get("/v2/contacts/s@example.com").json()["status"] == "PendingOptIn"


def test_bounced_contacts_cannot_be_resubscribed(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    api.post("/v2/contacts", json={"email": "h@example.com"})
    emulator.suppress(emulator.credentials[0], "h@example.com", "HardBounced")
    reply = api.post(
        "/v2/contacts/resubscribe-with-no-challenge",
        json={"unsubscribedContact": {"email": "h@example.com"}},
    )
    assert reply.json()["status"] == "ContactCannotBeUnsuppressed"
