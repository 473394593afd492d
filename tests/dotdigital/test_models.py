"""Parsing DotDigital's replies at the boundary."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dotsync.dotdigital.models import (
    AccountInfo,
    Contact,
    ContactsImport,
    ImportedContact,
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
