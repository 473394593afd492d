"""The change feeds ``dotsync pull`` reads, as the emulator answers them: unsubscribes, bounces and
suppressions made through DotDigital's API or the admin API arrive with their dates and reasons;
a resubscription takes the contact out of the feeds and dates it in v3's ``updated``; ``{date}``
is read as UTC (an offset converted), entries at the date included; pages in date order. Every
exchange is validated against DotDigital's OpenAPI documents (``api``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from dotsync.emulator import RunningEmulator

from .conftest import create_book, v3_contact, wait_v3

OLD = "2020-01-01T00:00:00Z"


def _feed(api: httpx.Client, path: str, **params: Any) -> list[tuple[str, str, str]]:
    reply = api.get(path, params=params)
    assert reply.status_code == 200, reply.text
    return [(s["suppressedContact"]["email"], s["reason"], s["dateRemoved"]) for s in reply.json()]


def _import(api: httpx.Client, contacts: list[dict[str, Any]]) -> None:
    reply = api.put("/contacts/v3/import", json={"contacts": contacts})
    assert reply.status_code == 202, reply.text
    assert wait_v3(api, reply.json()["importId"])["status"] == "Finished"


def test_bounces_complaints_and_unsubscribes_arrive_with_their_dates_and_reasons(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    user = emulator.credentials[0]
    book = create_book(api)
    _import(api, [v3_contact(f"p{i}@example.com", [book]) for i in range(4)])
    bounced = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    emulator.suppress(user, "p0@example.com", "HardBounced", date=bounced)
    emulator.suppress(user, "p1@example.com", "IspComplained", date=bounced + timedelta(hours=1))
    before = datetime.now(UTC) - timedelta(seconds=1)
    # an unsubscribe through DotDigital's v3 API (a preference centre), one through v2
    _import(
        api,
        [
            {
                **v3_contact("p2@example.com"),
                "channelProperties": {"email": {"status": "unsubscribed"}},
            }
        ],
    )
    api.post("/v2/contacts/unsubscribe", json={"email": "p3@example.com"}).raise_for_status()

    suppressed = _feed(api, f"/v2/contacts/suppressed-since/{OLD}")
    assert [(e, r) for e, r, _ in suppressed] == [
        ("p0@example.com", "HardBounced"),
        ("p1@example.com", "IspComplained"),
        ("p2@example.com", "Unsubscribed"),
        ("p3@example.com", "Unsubscribed"),
    ]  # in date order
    assert suppressed[0][2] == "2024-05-01T10:00:00.000Z"
    assert all(datetime.fromisoformat(d) >= before for _, _, d in suppressed[2:])
    unsubscribed = _feed(api, f"/v2/contacts/unsubscribed-since/{OLD}")
    assert [e for e, _, _ in unsubscribed] == ["p2@example.com", "p3@example.com"]
    assert [
        e for e, _, _ in _feed(api, f"/v2/contacts/suppressed-since/{OLD}", select=2, skip=2)
    ] == [
        "p2@example.com",
        "p3@example.com",
    ]


def test_the_date_is_utc_an_offset_is_converted_and_entries_at_it_count(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    user = emulator.credentials[0]
    create_book(api)
    at = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    emulator.suppress(user, "a@example.com", "HardBounced", date=at)
    emulator.suppress(user, "b@example.com", "HardBounced", date=at + timedelta(days=1))
    path = "/v2/contacts/suppressed-since/{}"

    def emails(date: str) -> list[str]:
        return [e for e, _, _ in _feed(api, path.format(date))]

    assert emails("2024-05-01T10:00:00Z") == ["a@example.com", "b@example.com"]  # gte
    assert emails("2024-05-01T10:00:00.001Z") == ["b@example.com"]
    assert emails("2024-05-01T12:00:00+02:00") == ["a@example.com", "b@example.com"]
    assert emails("2024-05-02T00:00:00Z") == ["b@example.com"]
    with emulator.client() as unchecked:  # not a date-time: the documents allow no such request
        refused = unchecked.get(path.format("yesterday"))
    assert refused.status_code == 400
    assert refused.json()["message"].endswith("ERROR_PARAMETER_INVALID")


def test_a_resubscription_leaves_the_feeds_and_is_dated_in_v3(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    book = create_book(api)
    _import(api, [v3_contact(f"p{i}@example.com", [book]) for i in range(2)])
    api.post("/v2/contacts/unsubscribe", json={"email": "p0@example.com"}).raise_for_status()
    api.post(
        f"/v2/address-books/{book}/contacts/unsubscribe", json={"email": "p1@example.com"}
    ).raise_for_status()
    unsubscribed_at = _feed(api, f"/v2/contacts/unsubscribed-since/{OLD}")[0][2]
    time.sleep(0.01)

    for path in (
        "/v2/contacts/resubscribe-with-no-challenge",
        f"/v2/address-books/{book}/contacts/resubscribe-with-no-challenge",
    ):
        email = "p0@example.com" if "address-books" not in path else "p1@example.com"
        reply = api.post(path, json={"unsubscribedContact": {"email": email}})
        assert reply.json()["status"] == "ContactAdded", reply.text

    assert _feed(api, f"/v2/contacts/suppressed-since/{OLD}") == []
    assert _feed(api, f"/v2/contacts/unsubscribed-since/{OLD}") == []
    assert _feed(api, f"/v2/address-books/{book}/contacts/unsubscribed-since/{OLD}") == []
    changed = api.get(
        "/contacts/v3", params={"~listId": book, "~modified": f"gte::{unsubscribed_at}"}
    ).json()["_items"]
    assert sorted((c["identifiers"]["email"], c["status"]) for c in changed) == [
        ("p0@example.com", "subscribed"),
        ("p1@example.com", "subscribed"),
    ]
    assert all(c["updated"] > unsubscribed_at for c in changed)
