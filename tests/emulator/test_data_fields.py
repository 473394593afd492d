"""Data fields: defaults, creation with validation, upper-case names, deletion."""

from __future__ import annotations

import httpx
import pytest


def test_default_fields(api: httpx.Client) -> None:
    names = {f["name"]: f["type"] for f in api.get("/v2/data-fields").json()}
    assert names == {
        "FIRSTNAME": "String",
        "LASTNAME": "String",
        "FULLNAME": "String",
        "GENDER": "String",
        "POSTCODE": "String",
        "LASTSUBSCRIBED": "Date",
    }


def test_create_stores_the_name_upper_case(api: httpx.Client) -> None:
    reply = api.post(
        "/v2/data-fields",
        json={
            "Name": "loyalty_tier",
            "Type": "String",
            "Visibility": "Public",
            "DefaultValue": "none",
        },
    )
    assert reply.status_code == 201
    fields = {f["name"]: f for f in api.get("/v2/data-fields").json()}
    assert fields["LOYALTY_TIER"] == {
        "name": "LOYALTY_TIER",
        "type": "String",
        "visibility": "Public",
        "defaultValue": "none",
    }
    again = api.post("/v2/data-fields", json={"name": "Loyalty_Tier"})
    assert again.json() == {"message": "Field already exists. ERROR_NON_UNIQUE_DATAFIELD"}


@pytest.mark.parametrize("name", ["", "has space", "x" * 21, "dot.ted"])
def test_invalid_names_are_refused(api: httpx.Client, name: str) -> None:
    reply = api.post("/v2/data-fields", json={"name": name, "type": "String"})
    assert reply.status_code == 400
    assert reply.json()["message"].endswith(". ERROR_DATAFIELD_INVALID")


def test_invalid_type_is_refused(api: httpx.Client) -> None:
    assert api.post("/v2/data-fields", json={"name": "X", "type": "Blob"}).status_code == 400


def test_delete_removes_the_field_and_its_values(api: httpx.Client) -> None:
    api.post("/v2/data-fields", json={"name": "TIER"})
    api.post(
        "/v2/contacts",
        json={"email": "t@example.com", "dataFields": [{"key": "TIER", "value": "gold"}]},
    )
    assert api.delete("/v2/data-fields/tier").status_code == 200
    assert "TIER" not in {f["name"] for f in api.get("/v2/data-fields").json()}
    keys = [f["key"] for f in api.get("/v2/contacts/t@example.com").json()["dataFields"]]
    assert "TIER" not in keys
    assert api.delete("/v2/data-fields/tier").status_code == 404
