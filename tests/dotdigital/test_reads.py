"""The client's paged reads against the emulator over real HTTP (every exchange validated against
DotDigital's OpenAPI documents): a book's members over ``GET /contacts/v3`` with marker paging,
and the v2 change feeds with ``select``/``skip`` paging."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from dotdigital.fakes import ClientFactory
from dotsync.dotdigital import ContactSummary, DotDigitalClient, ImportStatus
from dotsync.emulator import RunningEmulator


def _client(make_client: ClientFactory, emulator: RunningEmulator) -> DotDigitalClient:
    return make_client(emulator.base_url, emulator.credentials)


def _import(client: DotDigitalClient, book_id: int, emails: list[str], **extra: Any) -> None:
    contacts = [
        {"matchIdentifier": "email", "identifiers": {"email": e}, "lists": [book_id], **extra}
        for e in emails
    ]
    body = json.dumps({"mergeOption": "overwrite", "contacts": contacts}).encode()
    done = client.wait_for_contacts_import(client.start_contacts_import(body))
    assert done.status == ImportStatus.FINISHED


def _ids(pages: list[list[ContactSummary]]) -> list[int]:
    return [member.contact_id for page in pages for member in page]


def _moment() -> datetime:
    """A moment strictly between what happened before and what happens after (ms stamps)."""
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    return moment


def test_book_members_pages_by_marker_one_call_each(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    book = client.create_address_book("Members")
    other = client.create_address_book("Other")
    _import(client, other.id, ["outsider@example.com"])
    emails = [f"m{i:02d}@example.com" for i in range(12)]
    _import(client, book.id, emails)
    before = client.stats.calls.get("GET /contacts/v3", 0)

    pages = list(client.book_members(book.id, page_size=5))

    assert [len(page) for page in pages] == [5, 5, 2]
    assert client.stats.calls["GET /contacts/v3"] - before == 3
    members = [member for page in pages for member in page]
    assert [m.email for m in members] == emails  # created in this order: ascending ids
    assert _ids(pages) == sorted(_ids(pages))
    assert {m.status for m in members} == {"subscribed"}
    assert all(m.modified is not None and m.modified.tzinfo is not None for m in members)


def test_an_empty_book_is_one_call_and_no_page(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    book = client.create_address_book("Empty")
    assert list(client.book_members(book.id)) == []
    assert client.stats.calls["GET /contacts/v3"] == 1


def test_book_members_read_is_stable_while_the_book_changes(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    book = client.create_address_book("Moving")
    _import(client, book.id, [f"s{i}@example.com" for i in range(9)])
    reader = client.book_members(book.id, page_size=3)
    first = next(reader)
    # Members before the cursor leave, one after it leaves, a new one arrives: with offsets the
    # next page would skip stayers; with markers every stayer is read exactly once.
    gone_early = [first[0].contact_id, first[1].contact_id]
    client.wait_for_deletion(client.remove_contacts_from_book(book.id, gone_early))
    everyone = {
        m["email"]: m["id"] for m in emulator.book_members(emulator.credentials[0], book.id)
    }
    client.wait_for_deletion(
        client.remove_contacts_from_book(book.id, [everyone["s7@example.com"]])
    )
    _import(client, book.id, ["late@example.com"])
    rest = list(reader)
    read = [m.email for m in first] + [m.email for page in rest for m in page]
    expected = [f"s{i}@example.com" for i in range(9) if i != 7] + ["late@example.com"]
    assert read == expected


def test_members_modified_since_include_contacts_added_to_the_book(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    book = client.create_address_book("Delta")
    elsewhere = client.create_address_book("Elsewhere")
    _import(client, book.id, ["old1@example.com", "old2@example.com"])
    _import(client, elsewhere.id, ["known@example.com"])  # in the account before the moment
    since = _moment()
    client.add_contact_to_book(book.id, "known@example.com", {})  # added to the book after it
    _import(client, book.id, ["new@example.com"])

    changed = [m.email for page in client.book_members(book.id, modified_since=since) for m in page]
    assert changed == ["known@example.com", "new@example.com"]
    v2 = [c.email for page in client.book_modified_since(book.id, since) for c in page]
    assert v2 == ["known@example.com", "new@example.com"]
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert list(client.book_members(book.id, modified_since=later)) == []


def test_unsubscribes_and_suppressions_feeds(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    user = emulator.credentials[0]
    book = client.create_address_book("Feeds")
    _import(client, book.id, ["early@example.com", "a@example.com", "b@example.com"])
    emulator.suppress(user, "early@example.com", "HardBounced")
    since = _moment()
    client.unsubscribe_from_book(book.id, "a@example.com")
    with httpx.Client(base_url=emulator.base_url, auth=emulator.credentials) as raw:
        reply = raw.post("/v2/contacts/unsubscribe", json={"email": "b@example.com"})
        assert reply.status_code == 200, reply.text
    bounced_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    emulator.suppress(user, "c@example.com", "HardBounced", date=bounced_at)

    from_book = [s for page in client.book_unsubscribed_since(book.id, since) for s in page]
    assert [(s.email, s.reason) for s in from_book] == [("a@example.com", "Unsubscribed")]
    assert from_book[0].contact_id is not None
    assert from_book[0].date_removed is not None and from_book[0].date_removed >= since

    account = [s for page in client.unsubscribed_since(since) for s in page]
    assert [(s.email, s.reason) for s in account] == [("b@example.com", "Unsubscribed")]

    suppressed = [s for page in client.suppressed_since(since) for s in page]
    assert [(s.email, s.reason) for s in suppressed] == [
        ("b@example.com", "Unsubscribed"),
        ("c@example.com", "HardBounced"),
    ]
    assert suppressed[1].date_removed == bounced_at
    members = [m for page in client.book_members(book.id) for m in page]
    assert {m.email: m.status for m in members} == {
        "early@example.com": "suppressed",  # still a member, hard bounced
        "b@example.com": "unsubscribed",
    }


def test_feeds_page_by_skip_until_a_short_page(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    book = client.create_address_book("Many")
    since = _moment()
    unsubscribed = {"email": {"status": "unsubscribed"}}
    _import(
        client,
        book.id,
        [f"u{i:04d}@example.com" for i in range(1003)],
        channelProperties=unsubscribed,
    )
    pages = list(client.unsubscribed_since(since))
    assert [len(page) for page in pages] == [1000, 3]
    assert client.stats.calls["GET /v2/contacts/unsubscribed-since/{id}"] == 2
    assert len({s.contact_id for page in pages for s in page}) == 1003


def test_account_info_carries_the_account_id(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    info = client.account_info()
    assert info.account_id == 1  # the emulator's first account
    assert client.account_info() is info  # discovered once
    assert client.stats.calls["GET /v2/account-info"] == 1


def test_server_now_follows_dotdigitals_clock_not_ours(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    """Dates sent back to DotDigital (``~modified=gte::``) are in its clock, read from its replies'
    Date header: a machine whose clock is an hour behind still asks for the right changes."""
    behind = timedelta(hours=1)
    client = make_client(
        emulator.base_url,
        emulator.credentials,
        wall_clock=lambda: time.time() - behind.total_seconds(),
    )
    before_any_reply = client.server_now()
    assert abs(before_any_reply - (datetime.now(UTC) - behind)) < timedelta(seconds=2)

    client.discover()

    assert abs(client.server_now() - datetime.now(UTC)) < timedelta(seconds=2)


def test_book_member_rows_are_the_members_as_columns(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    book = client.create_address_book("Columns")
    _import(client, book.id, [f"c{i:02d}@example.com" for i in range(7)])
    emulator.suppress(emulator.credentials[0], "c03@example.com", "Unsubscribed")
    since = _moment()
    _import(client, book.id, ["late@example.com"])

    members = [m for page in client.book_members(book.id) for m in page]
    rows = [r for page in client.book_member_rows(book.id) for r in page.to_pylist()]

    assert rows == [
        {"contact_id": m.contact_id, "email": m.email, "status": m.contact_status} for m in members
    ]
    assert {r["email"]: r["status"] for r in rows}["c03@example.com"] == "unsubscribed"
    changed = [r["email"] for page in client.book_member_rows(book.id, modified_since=since)
               for r in page.to_pylist()]  # fmt: skip
    assert changed == ["late@example.com"]
