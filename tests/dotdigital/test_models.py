"""Parsing DotDigital's replies at the boundary."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from dotsync.dotdigital.models import (
    AccountInfo,
    Contact,
    ContactsImport,
    ContactsPage,
    ContactSummary,
    ImportedContact,
    Suppression,
    region_of,
)


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://r1-api.dotdigital.com", "r1"),
        ("https://r3-api.dotdigital.com/", "r3"),
        ("http://127.0.0.1:8765/r2", "r2"),
        ("http://127.0.0.1:8765", None),
        ("https://api.example.com/r4", None),
    ],
)
def test_region_of(endpoint: str, region: str | None) -> None:
    assert region_of(endpoint) == region


def test_account_info_from_properties() -> None:
    info = AccountInfo.from_payload(
        {
            "id": 1,
            "properties": [
                {"name": "Name", "type": "String", "value": "Acme"},
                {
                    "name": "ApiEndpoint",
                    "type": "String",
                    "value": "https://r2-api.dotdigital.com/",
                },
                {"name": "MainEmail", "type": "String", "value": "owner@acme.example"},
                {"name": "ApiCallsInLastHour", "type": "String", "value": "12"},
                {"name": "ApiCallsRemaining", "type": "String", "value": "1988"},
                {"name": "TimeZoneIana", "type": "String", "value": "Europe/London"},
            ],
        }
    )
    assert info.api_endpoint == "https://r2-api.dotdigital.com"
    assert (info.region, info.name, info.time_zone) == ("r2", "Acme", "Europe/London")
    assert (info.api_calls_in_last_hour, info.api_calls_remaining) == (12, 1988)
    assert info.account_id == 1
    assert "owner@acme.example" not in repr(info)


def test_contact_data_fields_from_key_values_or_null() -> None:
    raw = {"id": 5, "email": "a@b.example", "dataFields": [{"key": "FIRSTNAME", "value": "Ann"}]}
    assert Contact.model_validate(raw).data_fields == {"FIRSTNAME": "Ann"}
    assert Contact.model_validate({**raw, "dataFields": None}).data_fields == {}


def test_contacts_import_gives_ids_and_failure_codes() -> None:
    parsed = ContactsImport.model_validate(
        {
            "importId": "abc",
            "status": "Finished",
            "summary": {"newContacts": 1, "updatedContacts": 1, "invalidEntries": 1},
            "created": [{"contactId": 11, "identifiers": {"email": "n@x.example"}}],
            "updated": [{"contactId": 12, "identifiers": {"email": "u@x.example"}}],
            "failures": [
                {
                    "matchIdentifier": "email",
                    "identifiers": {"email": "bad"},
                    "failures": [{"failureCode": "invalidEmail", "description": "Invalid"}],
                }
            ],
        }
    )
    assert parsed.created == (ImportedContact(11, "n@x.example"),)
    assert [contact_id for contact_id, _ in parsed.updated] == [12]
    assert parsed.failures[0].codes == ("invalidEmail",)
    assert parsed.summary.new_contacts == 1
    assert not parsed.in_progress
    with pytest.raises(ValidationError):
        parsed.__class__.model_validate({"status": "Finished"})  # no importId


def test_contact_summary_prefers_the_email_channel_status() -> None:
    item = {
        "contactId": 7,
        "status": "suppressed",
        "created": "2024-01-02T03:04:05.678Z",
        "updated": "2024-02-02T00:00:00Z",
        "identifiers": {"email": "ann@example.com"},
        "channelProperties": {"email": {"status": "hardBounced", "emailType": "Html"}},
    }
    reply = {"_items": [item, {**item, "channelProperties": None}], "_links": {"self": {}}}
    page = ContactsPage.model_validate_json(json.dumps(reply))
    assert [(s.contact_id, s.status, s.contact_status, s.email) for s in page.items] == [
        (7, "hardBounced", "suppressed", "ann@example.com"),
        (7, "suppressed", "suppressed", "ann@example.com"),
    ]
    assert page.next_marker is None
    assert page.items[0].modified == datetime(2024, 2, 2, tzinfo=UTC)
    assert "ann@example.com" not in repr(page.items[0])
    following = {**reply, "_links": {"next": {"marker": "abc", "link": "x"}}}
    assert ContactsPage.model_validate_json(json.dumps(following)).next_marker == "abc"
    naive = ContactSummary.from_v3({**item, "updated": "2024-02-02T00:00:00"})
    assert naive.modified == datetime(2024, 2, 2, tzinfo=UTC)
    with pytest.raises(ValidationError):
        ContactSummary.from_v3({**item, "contactId": "seven"})
    with pytest.raises(ValidationError):
        ContactSummary.from_v3({"status": "subscribed"})


def test_suppression_from_v2_with_or_without_a_contact() -> None:
    found = Suppression.from_v2(
        {
            "suppressedContact": {"id": 3, "email": "bob@example.com", "status": "Unsubscribed"},
            "dateRemoved": "2020-01-01T09:40:18.527",
            "reason": "Unsubscribed",
        }
    )
    assert (found.contact_id, found.email, found.reason) == (3, "bob@example.com", "Unsubscribed")
    assert found.date_removed == datetime(2020, 1, 1, 9, 40, 18, 527000, tzinfo=UTC)
    empty = Suppression.from_v2({"suppressedContact": None, "reason": "HardBounced"})
    assert (empty.contact_id, empty.email, empty.date_removed) == (None, None, None)
