"""Reads of many contacts: ``GET /contacts/v3`` (filters, keyset marker paging, reply shape), the
v2 member listing by ``skip`` (exact offsets, without counting from the start each page), the
change feeds, the modified date of contacts added to a book, and exact Numeric values. Every
exchange is validated against DotDigital's OpenAPI documents (``api``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dotsync.emulator import RunningEmulator

from .conftest import create_book, import_csv, v3_contact, wait_v2, wait_v3


def _v3_import(api: httpx.Client, contacts: list[dict[str, Any]]) -> dict[str, Any]:
    reply = api.put("/contacts/v3/import", json={"mergeOption": "overwrite", "contacts": contacts})
    assert reply.status_code == 202, reply.text
    done = wait_v3(api, reply.json()["importId"])
    assert done["status"] == "Finished", done
    return done


def _fill(api: httpx.Client, book: int, count: int, prefix: str = "p") -> list[str]:
    emails = [f"{prefix}{i:04d}@example.com" for i in range(count)]
    _v3_import(api, [v3_contact(e, [book]) for e in emails])
    return emails


def _read_v3(api: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a v3 listing, following ``next`` markers; and the number of calls."""
    items: list[dict[str, Any]] = []
    calls = 0
    marker = None
    while True:
        query = dict(params) if marker is None else {**params, "marker": marker}
        reply = api.get("/contacts/v3", params=query)
        assert reply.status_code == 200, reply.text
        calls += 1
        items += reply.json()["_items"]
        following = reply.json()["_links"].get("next")
        if following is None:
            return items, calls
        marker = following["marker"]


def _stamp() -> str:
    """Now, as ``gte::`` takes it, strictly after what came before and before what follows."""
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_v3_listing_pages_by_marker_in_ascending_ids(api: httpx.Client) -> None:
    book = create_book(api)
    emails = _fill(api, book, 11)
    _fill(api, create_book(api, "Other"), 3, prefix="o")
    items, calls = _read_v3(api, **{"~listId": book, "limit": 4})
    assert calls == 3
    assert [i["identifiers"]["email"] for i in items] == emails
    ids = [i["contactId"] for i in items]
    assert ids == sorted(ids)
    first = items[0]
    assert set(first) == {"contactId", "status", "created", "updated", "identifiers"}
    assert first["status"] == "subscribed"


def test_v3_reply_links(api: httpx.Client) -> None:
    book = create_book(api)
    _fill(api, book, 3)
    page = api.get("/contacts/v3", params={"~listId": book, "limit": 2}).json()
    links = page["_links"]
    assert set(links) == {"self", "first", "next"}
    following = api.get(links["next"]["link"].replace(str(api.base_url).rstrip("/"), ""))
    assert [i["identifiers"]["email"] for i in following.json()["_items"]] == ["p0002@example.com"]
    assert "next" not in following.json()["_links"]
    assert following.json()["_links"]["first"]["marker"] == links["first"]["marker"]


def test_v3_listing_is_stable_while_the_book_changes(api: httpx.Client) -> None:
    book = create_book(api)
    emails = _fill(api, book, 9)
    page = api.get("/contacts/v3", params={"~listId": book, "limit": 3}).json()
    ids = {i["identifiers"]["email"]: i["contactId"] for i in page["_items"]}
    # Two read members leave: an offset would now skip two members that stayed.
    removed = api.post(f"/v2/address-books/{book}/contacts/delete", json=list(ids.values())[:2])
    assert removed.status_code == 202
    rest, _ = _read_v3(
        api, **{"~listId": book, "limit": 3, "marker": page["_links"]["next"]["marker"]}
    )
    assert [i["identifiers"]["email"] for i in rest] == emails[3:]


def test_v3_filters_modified_and_created(api: httpx.Client) -> None:
    book = create_book(api)
    elsewhere = create_book(api, "Elsewhere")
    _fill(api, book, 2, prefix="old")
    _fill(api, elsewhere, 1, prefix="known")
    since = _stamp()
    # An existing contact added to the book: its modified date moves (our assumption), its
    # creation date does not.
    _v3_import(api, [v3_contact("known0000@example.com", [book])])
    _fill(api, book, 1, prefix="new")
    modified, _ = _read_v3(api, **{"~listId": book, "~modified": f"gte::{since}"})
    assert [i["identifiers"]["email"] for i in modified] == [
        "known0000@example.com",
        "new0000@example.com",
    ]
    assert all(i["updated"] >= since for i in modified)
    created, _ = _read_v3(api, **{"~listId": book, "~created": f"gte::{since}"})
    assert [i["identifiers"]["email"] for i in created] == ["new0000@example.com"]
    seconds_only = since.split(".")[0] + "Z"
    assert api.get("/contacts/v3", params={"~modified": f"gte::{seconds_only}"}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"~modified": "2024-01-01T00:00:00Z"},
        {"~modified": "gte::2024-01-01"},
        {"~modified": "gte::2024-13-01T00:00:00Z"},
        {"~modified": "gte::2024-01-01T00:00:00Z", "~created": "gte::2024-01-01T00:00:00Z"},
        {"~listId": "abc"},
        {"~listId": 999999},
        {"~listId": 1, "~segmentId": 2},
        {"~segmentId": 2},
        {"limit": 0},
        {"limit": 5001},
        {"marker": "not-a-marker"},
        {"include": "friends"},
    ],
)
def test_v3_bad_queries_are_invalid_filters(api: httpx.Client, params: dict[str, Any]) -> None:
    reply = api.get("/contacts/v3", params=params)
    assert reply.status_code == 400
    assert reply.json()["errorCode"] == "contacts:invalidFilter"
    assert reply.json()["description"]


def test_v3_limit_up_to_5000(api: httpx.Client) -> None:
    book = create_book(api)
    _fill(api, book, 5001)
    page = api.get("/contacts/v3", params={"~listId": book, "limit": 5000}).json()
    assert len(page["_items"]) == 5000 and "next" in page["_links"]
    default = api.get("/contacts/v3", params={"~listId": book}).json()
    assert len(default["_items"]) == 1000  # no limit given: the document's example, 1000


def test_v3_without_a_list_and_all_contacts(api: httpx.Client) -> None:
    book = create_book(api)
    _fill(api, book, 2)
    api.post("/v2/contacts", json={"email": "loner@example.com"})
    everyone, _ = _read_v3(api)
    assert [i["identifiers"]["email"] for i in everyone] == [
        "p0000@example.com",
        "p0001@example.com",
        "loner@example.com",
    ]
    all_contacts = next(
        b["id"] for b in api.get("/v2/address-books").json() if b["name"] == "All Contacts"
    )
    listed, _ = _read_v3(api, **{"~listId": all_contacts})
    assert listed == everyone


def test_v3_data_fields_channel_properties_and_lists(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    api.post("/v2/data-fields", json={"name": "SCORE", "type": "Numeric"})
    book = create_book(api)
    other = create_book(api, "Other")
    _v3_import(
        api,
        [
            v3_contact("ann@example.com", [book, other], FIRSTNAME="Ann", SCORE=7),
            v3_contact("bob@example.com", [book]),
        ],
    )
    emulator.suppress(emulator.credentials[0], "bob@example.com", "HardBounced")
    params: dict[str, str | int] = {
        "~listId": book,
        "data-fields": "firstName|SCORE",
        "include": "channelProperties|lists",
    }
    ann, bob = api.get("/contacts/v3", params=params).json()["_items"]
    assert ann["dataFields"] == {"FIRSTNAME": "Ann", "SCORE": 7}
    assert ann["channelProperties"]["email"] == {
        "emailType": "Html",
        "optInType": "Unknown",
        "status": "subscribed",
    }
    assert ann["lists"] == [
        {"id": book, "name": "Newsletter", "status": "subscribed"},
        {"id": other, "name": "Other", "status": "subscribed"},
    ]
    assert bob["status"] == "suppressed"
    assert bob["channelProperties"]["email"]["status"] == "hardBounced"
    assert bob["dataFields"] == {"FIRSTNAME": None, "SCORE": None}
    every = api.get("/contacts/v3", params={"~listId": book, "data-fields": "[[ALL]]"}).json()
    assert set(every["_items"][0]["dataFields"]) >= {"FIRSTNAME", "LASTNAME", "SCORE"}


def test_v2_listing_by_skip_reads_every_member_once(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    book = create_book(api)
    emails = _fill(api, book, 25)
    read: list[str] = []
    for skip in range(0, 30, 10):
        page = api.get(f"/v2/address-books/{book}/contacts", params={"select": 10, "skip": skip})
        read += [c["email"] for c in page.json()]
    assert read == emails
    # A page asked out of order, and one after a change, still mean "skip that many".
    page = api.get(f"/v2/address-books/{book}/contacts", params={"select": 3, "skip": 7}).json()
    assert [c["email"] for c in page] == emails[7:10]
    first = api.get(f"/v2/address-books/{book}/contacts", params={"select": 10}).json()
    api.delete(f"/v2/address-books/{book}/contacts/{first[0]['id']}")
    after = api.get(f"/v2/address-books/{book}/contacts", params={"select": 10, "skip": 10})
    assert [c["email"] for c in after.json()] == emails[11:21]  # shifted by the removal
    assert api.get(f"/v2/address-books/{book}/contacts?skip=24").json() == []


def test_adding_to_a_book_moves_the_modified_date(api: httpx.Client) -> None:
    book = create_book(api)
    other = create_book(api, "Other")
    api.post(f"/v2/address-books/{other}/contacts", json={"email": "one@example.com"})
    api.post(f"/v2/address-books/{other}/contacts", json={"email": "two@example.com"})
    api.post(f"/v2/address-books/{other}/contacts", json={"email": "three@example.com"})
    since = _stamp()
    api.post(f"/v2/address-books/{book}/contacts", json={"email": "one@example.com"})
    import_id = import_csv(api, book, "Email\ntwo@example.com\n")
    assert wait_v2(api, import_id) == "Finished"
    _v3_import(api, [v3_contact("three@example.com", [book])])
    changed = api.get(f"/v2/address-books/{book}/contacts/modified-since/{since}").json()
    assert [c["email"] for c in changed] == [
        "one@example.com",
        "two@example.com",
        "three@example.com",
    ]
    untouched = api.get(f"/v2/address-books/{other}/contacts/modified-since/{since}").json()
    assert len(untouched) == 3  # the same contacts: modified is the contact's, not the book's


def test_unsubscribe_feeds_with_dates(api: httpx.Client, emulator: RunningEmulator) -> None:
    user = emulator.credentials[0]
    book = create_book(api)
    _fill(api, book, 3)
    emulator.suppress(
        user, "p0002@example.com", "HardBounced", date=datetime(2020, 5, 1, tzinfo=UTC)
    )
    since = _stamp()
    api.post(f"/v2/address-books/{book}/contacts/unsubscribe", json={"email": "p0000@example.com"})
    api.post("/v2/contacts/unsubscribe", json={"email": "p0001@example.com"})

    from_book = api.get(f"/v2/address-books/{book}/contacts/unsubscribed-since/{since}").json()
    assert [(s["suppressedContact"]["email"], s["reason"]) for s in from_book] == [
        ("p0000@example.com", "Unsubscribed")
    ]
    assert from_book[0]["dateRemoved"] >= since
    assert from_book[0]["suppressedContact"]["dataFields"] is None
    account = api.get(f"/v2/contacts/unsubscribed-since/{since}").json()
    assert [s["suppressedContact"]["email"] for s in account] == ["p0001@example.com"]
    old = api.get("/v2/contacts/suppressed-since/2020-01-01T00:00:00Z").json()
    assert [(s["suppressedContact"]["email"], s["reason"], s["dateRemoved"]) for s in old] == [
        ("p0002@example.com", "HardBounced", "2020-05-01T00:00:00.000Z"),
        ("p0001@example.com", "Unsubscribed", account[0]["dateRemoved"]),
    ]
    paged = api.get(
        "/v2/contacts/suppressed-since/2020-01-01T00:00:00Z", params={"select": 1, "skip": 1}
    )
    assert [s["suppressedContact"]["email"] for s in paged.json()] == ["p0001@example.com"]
    missing = api.get(f"/v2/address-books/999999/contacts/unsubscribed-since/{since}")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "value", ["12345678901234567890", "-98765432109876543210987", "42", "1e3", "12.5"]
)
def test_numeric_values_come_back_as_written(api: httpx.Client, value: str) -> None:
    api.post("/v2/data-fields", json={"name": "BIG", "type": "Numeric"})
    book = create_book(api)
    expected = (
        int(float(value)) if value == "1e3" else (float(value) if "." in value else int(value))
    )
    import_id = import_csv(api, book, f"Email,BIG\ncsv@example.com,{value}\n")
    assert wait_v2(api, import_id) == "Finished"
    _v3_import(api, [v3_contact("v3@example.com", [book], BIG=value)])
    one = {"email": "one@example.com", "dataFields": [{"key": "BIG", "value": value}]}
    assert api.post(f"/v2/address-books/{book}/contacts", json=one).status_code == 200
    for email in ("csv@example.com", "v3@example.com", "one@example.com"):
        contact = api.get(f"/v2/contacts/{email}").json()
        stored = {f["key"]: f["value"] for f in contact["dataFields"]}["BIG"]
        assert stored == expected and type(stored) is type(expected)
    reply = api.get("/contacts/v3", params={"~listId": book, "data-fields": "BIG"})
    assert f'"BIG":{value if value != "1e3" else "1000"}' in reply.text


def test_admin_back_dates_an_unsubscribe_from_one_book(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    user = emulator.credentials[0]
    book = create_book(api)
    other = create_book(api, "Other")
    _v3_import(api, [v3_contact("both@example.com", [book, other])])
    when = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    emulator.suppress(user, "both@example.com", date=when, address_book_id=book)
    feed = api.get(f"/v2/address-books/{book}/contacts/unsubscribed-since/2021-01-01T00:00:00Z")
    assert [(s["suppressedContact"]["email"], s["dateRemoved"]) for s in feed.json()] == [
        ("both@example.com", "2021-03-04T05:06:07.000Z")
    ]
    assert api.get(f"/v2/address-books/{book}/contacts").json() == []
    assert [c["email"] for c in api.get(f"/v2/address-books/{other}/contacts").json()] == [
        "both@example.com"
    ]
    refused = httpx.post(
        f"{emulator.base_url}/_emulator/accounts/{user}/suppress",
        json={"email": "both@example.com", "status": "HardBounced", "address_book_id": book},
    )
    assert refused.status_code == 400
