"""The client against the emulator over real HTTP: discovery, errors people can act on, and the
bulk round trips (v3 import with ids, bulk removal, v2 CSV import)."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dotdigital.fakes import ClientFactory
from dotsync.dotdigital import DotDigitalClient, ImportStatus
from dotsync.emulator import AccountSettings, EmulatorSettings, RunningEmulator
from dotsync.errors import (
    AuthenticationError,
    ExitCode,
    ImportFailedError,
    NotFoundError,
    NotWritableError,
    RejectedDataError,
    WrongRegionError,
)

SECRET = "s3cr3t-Pa55word-xyz"  # a test account's password, asserted never to leak


def _v3_body(book_id: int, emails: list[str], **fields: str) -> bytes:
    contacts = [
        {
            "matchIdentifier": "email",
            "identifiers": {"email": email},
            "dataFields": dict(fields),
            "lists": [book_id],
        }
        for email in emails
    ]
    return json.dumps({"mergeOption": "overwrite", "contacts": contacts}).encode()


def _client(make_client: ClientFactory, emulator: RunningEmulator, **kw: Any) -> DotDigitalClient:
    return make_client(emulator.base_url, emulator.credentials, **kw)


# -- discovery ------------------------------------------------------------------------------
def test_discovery_on_r1(make_client: ClientFactory, emulator: RunningEmulator) -> None:
    client = _client(make_client, emulator)
    info = client.discover()
    assert info.api_endpoint == emulator.base_url == client.base_url
    assert info.name and info.time_zone
    assert info.api_calls_remaining is not None and info.api_calls_in_last_hour is not None


def test_discovery_moves_to_the_account_region(
    make_client: ClientFactory, emulator_factory: Any
) -> None:
    user = "apiuser-na@apiconnector.com"
    emu = emulator_factory(
        EmulatorSettings(
            accounts=[AccountSettings(api_user=user, password=SecretStr(SECRET), region="r2")]
        )
    )
    client = make_client(emu.base_url, (user, SECRET))
    info = client.discover()
    assert info.region == "r2"
    assert client.base_url == f"{emu.base_url}/r2"
    book = client.create_address_book("Americas")  # sent to the r2 host, else 403
    assert client.address_book(book.id).name == "Americas"


def test_wrong_region_host_says_what_to_check(
    make_client: ClientFactory, emulator_factory: Any
) -> None:
    user = "apiuser-apac@apiconnector.com"
    emu = emulator_factory(
        EmulatorSettings(
            accounts=[AccountSettings(api_user=user, password=SecretStr(SECRET), region="r3")]
        )
    )
    client = make_client(emu.base_url, (user, SECRET))
    client.discover()
    client._session.base_url = emu.base_url  # as if discovery had been skipped: the r1 host
    with pytest.raises(WrongRegionError) as caught:
        client.address_books()
    assert caught.value.status == 403
    assert "region" in str(caught.value) and "api_user" in str(caught.value)
    assert user not in str(caught.value)  # the setting is named, never the address


def test_calls_before_discover_discover_first(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    assert [book.name for book in client.address_books()][:2] == ["Test", "All Contacts"]
    assert client.account is not None
    assert "GET /v2/account-info" in client.stats.calls


# -- errors for people ----------------------------------------------------------------------
def test_wrong_password_names_the_user_setting_never_the_password_or_address(
    make_client: ClientFactory, emulator_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = "apiuser-1@apiconnector.com"
    emu = emulator_factory(
        EmulatorSettings(accounts=[AccountSettings(api_user=user, password=SecretStr("right"))])
    )
    client = make_client(emu.base_url, (user, SECRET), password_source="DOTDIGITAL_PASSWORD")
    caplog.set_level(logging.DEBUG, logger="dotsync")
    with pytest.raises(AuthenticationError) as caught:
        client.discover()
    error = caught.value
    assert str(error) == (
        "DotDigital refused the API user (401): check the connection's api_user and the "
        "password in DOTDIGITAL_PASSWORD"
    )
    assert error.exit_code is ExitCode.CONNECTION
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("dotsync")]
    everything = " ".join([str(error), repr(error), str(error.detail), repr(client), *ours])
    assert SECRET not in everything
    assert user not in " ".join([str(error), str(error.detail), *ours])
    token = base64.b64encode(f"{user}:{SECRET}".encode()).decode()
    assert token not in everything


def test_missing_address_book(make_client: ClientFactory, emulator: RunningEmulator) -> None:
    with pytest.raises(NotFoundError) as caught:
        _client(make_client, emulator).address_book(987654)
    assert caught.value.code == "ERROR_ADDRESSBOOK_NOT_FOUND"
    assert "address book 987654" in str(caught.value)


def test_test_book_is_not_writable(make_client: ClientFactory, emulator: RunningEmulator) -> None:
    client = _client(make_client, emulator)
    test_book = next(book for book in client.address_books() if book.name == "Test")
    with pytest.raises(NotWritableError) as caught:
        client.add_contact_to_book(test_book.id, "ann@example.com", {"FIRSTNAME": "Ann"})
    assert caught.value.code == "ERROR_ADDRESSBOOK_NOTWRITABLE"
    assert "ann@example.com" not in str(caught.value) + str(caught.value.detail)


def test_reserved_name_is_rejected_data(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    with pytest.raises(RejectedDataError) as caught:
        _client(make_client, emulator).create_address_book("Test")
    assert caught.value.code == "ERROR_ADDRESSBOOK_DUPLICATE"
    assert caught.value.exit_code is ExitCode.REJECTED_ROWS


# -- data fields and single contacts ---------------------------------------------------------
def test_data_fields_and_the_naive_path(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    assert {"FIRSTNAME", "LASTNAME", "POSTCODE"} <= {f.name for f in client.data_fields()}
    created = client.create_data_field("loyalty_tier")
    assert created.name == "LOYALTY_TIER" and created.type == "String"
    assert "LOYALTY_TIER" in {f.name for f in client.data_fields()}
    book = client.create_address_book("Naive")
    contact = client.add_contact_to_book(book.id, "Bo@Example.com", {"LOYALTY_TIER": "gold"})
    assert contact.data_fields["LOYALTY_TIER"] == "gold"
    assert client.get_contact(contact.id).email == client.get_contact("bo@example.com").email
    client.unsubscribe_from_book(book.id, "bo@example.com")
    statuses = {
        m["email"].lower(): m["status"]
        for m in emulator.book_members(emulator.credentials[0], book.id)
    }
    assert statuses.get("bo@example.com", "Unsubscribed") != "Subscribed"


# -- bulk round trips ------------------------------------------------------------------------
def test_v3_import_round_trip_with_ids_then_bulk_removal(
    make_client: ClientFactory, emulator: RunningEmulator, tmp_path: Path
) -> None:
    client = _client(make_client, emulator)
    user = emulator.credentials[0]
    book = client.create_address_book("Newsletter")
    body = _v3_body(book.id, ["ann@example.com", "bob@example.com", "not-an-email"], firstName="A")
    uploaded_before = client.stats.bytes_uploaded  # creating the book sent a small JSON body
    done = client.wait_for_contacts_import(client.start_contacts_import(body))
    assert done.status == ImportStatus.FINISHED
    assert done.summary.new_contacts == 2 and done.summary.invalid_entries == 1
    assert sorted(email or "" for _, email in done.created) == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert [f.email for f in done.failures] == ["not-an-email"]
    ids = {email: contact_id for contact_id, email in done.created}
    members = {m["email"]: m["id"] for m in emulator.book_members(user, book.id)}
    assert members == ids

    # The same contacts again, streamed from a file: updated, same ids, bytes counted.
    path = tmp_path / "import.json"
    path.write_bytes(_v3_body(book.id, ["ann@example.com", "bob@example.com"], firstName="B"))
    again = client.wait_for_contacts_import(client.start_contacts_import(path))
    assert {email: contact_id for contact_id, email in again.updated} == ids
    assert client.stats.bytes_uploaded - uploaded_before == len(body) + path.stat().st_size

    client.wait_for_deletion(client.remove_contacts_from_book(book.id, [ids["ann@example.com"]]))
    assert [m["email"] for m in emulator.book_members(user, book.id)] == ["bob@example.com"]
    assert client.get_contact(ids["ann@example.com"]).email == "ann@example.com"  # still there


def test_failed_import_raises_with_its_status(
    make_client: ClientFactory, emulator: RunningEmulator
) -> None:
    client = _client(make_client, emulator)
    book = client.create_address_book("Watched")
    emulator.set_faults({"failed_imports": 1, "import_failure_status": "RejectedByWatchdog"})
    import_id = client.start_contacts_import(_v3_body(book.id, ["ann@example.com"]))
    with pytest.raises(ImportFailedError) as caught:
        client.wait_for_contacts_import(import_id)
    assert caught.value.import_status == "RejectedByWatchdog"
    assert caught.value.import_id == import_id
    assert "watchdog" in str(caught.value)
