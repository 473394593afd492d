"""Authentication, several accounts, regions and case-insensitive binding, over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr
from support.emulator_fixtures import EmulatorFactory

from dotsync.emulator import AccountSettings, RunningEmulator

from .conftest import ApiFactory, create_book

ANN = AccountSettings(api_user="ann@apiconnector.com", password=SecretStr("pw-ann"), region="r1")
BOB = AccountSettings(api_user="bob@apiconnector.com", password=SecretStr("pw-bob"), region="r2")


def _properties(reply: httpx.Response) -> dict[str, str]:
    return {p["name"]: p["value"] for p in reply.json()["properties"]}


@pytest.mark.parametrize(
    "auth",
    [("demo@apiconnector.com", "wrong"), ("nobody@x.com", "demo")],
    ids=["bad-password", "unknown-user"],
)
def test_bad_credentials_answer_401_with_dotdigital_message(
    emulator: RunningEmulator, api_for: ApiFactory, auth: tuple[str, str]
) -> None:
    reply = api_for(emulator, auth=auth).get("/v2/address-books")
    assert reply.status_code == 401
    assert reply.json() == {"message": "Authorization has been denied for this request."}


def test_missing_credentials_answer_401(emulator: RunningEmulator) -> None:
    reply = httpx.get(f"{emulator.base_url}/v2/account-info")
    assert reply.status_code == 401


def test_account_info_gives_region_endpoint_and_call_counts(
    emulator_factory: EmulatorFactory, api_for: ApiFactory
) -> None:
    emu = emulator_factory(accounts=[ANN, BOB])
    ann = _properties(api_for(emu, auth=("ann@apiconnector.com", "pw-ann")).get("/v2/account-info"))
    assert ann["ApiEndpoint"] == emu.base_url
    bob_api = api_for(emu, auth=("bob@apiconnector.com", "pw-bob"))
    bob = _properties(bob_api.get("/v2/account-info"))  # discovery on r1 works for r2 accounts
    assert bob["ApiEndpoint"] == f"{emu.base_url}/r2"
    assert int(bob["ApiCallsInLastHour"]) == 1
    assert int(bob["ApiCallsInLastHour"]) + int(bob["ApiCallsRemaining"]) == 2000
    assert all(isinstance(v, str) for v in bob.values())


def test_calls_on_another_regions_host_answer_403(
    emulator_factory: EmulatorFactory, api_for: ApiFactory
) -> None:
    emu = emulator_factory(accounts=[ANN, BOB])
    bob = ("bob@apiconnector.com", "pw-bob")
    assert api_for(emu, auth=bob).get("/v2/address-books").status_code == 403
    assert api_for(emu, auth=bob, region="r3").get("/v2/address-books").status_code == 403
    assert api_for(emu, auth=bob, region="r3").get("/v2/account-info").status_code == 200
    assert api_for(emu, auth=bob, region="r2").get("/v2/address-books").status_code == 200
    ann_on_r2 = api_for(emu, auth=("ann@apiconnector.com", "pw-ann"), region="r2")
    assert ann_on_r2.get("/contacts/v3/import/x").status_code == 403


def test_each_account_has_its_own_data(
    emulator_factory: EmulatorFactory, api_for: ApiFactory
) -> None:
    cy_account = AccountSettings(api_user="cy@x.com", password=SecretStr("c"))
    emu = emulator_factory(accounts=[ANN, cy_account])
    ann = api_for(emu, auth=("ann@apiconnector.com", "pw-ann"))
    cy = api_for(emu, auth=("cy@x.com", "c"))
    book = create_book(ann, "Ann's book")
    assert cy.get(f"/v2/address-books/{book}").status_code == 404
    assert [b["name"] for b in cy.get("/v2/address-books").json()] == ["Test", "All Contacts"]


def test_pascal_case_json_and_query_parameters_are_bound(api: httpx.Client) -> None:
    reply = api.post("/v2/address-books", json={"Name": "Pascal", "Visibility": "Public"})
    assert reply.status_code == 201
    assert reply.json()["visibility"] == "Public"
    book = reply.json()["id"]
    added = api.post(
        f"/v2/address-books/{book}/contacts",
        json={
            "Email": "Ann@Example.com",
            "OptInType": "Single",
            "DataFields": [{"Key": "FirstName", "Value": "Ann"}],
        },
    )
    assert added.status_code == 200, added.text
    assert added.json()["email"] == "ann@example.com"
    listed = api.get(
        f"/v2/address-books/{book}/contacts",
        params={"WithFullData": "True", "Select": "5", "Skip": "0"},
    )
    fields = {f["key"]: f["value"] for f in listed.json()[0]["dataFields"]}
    assert fields["FIRSTNAME"] == "Ann"


@pytest.mark.parametrize("select", ["0", "1001", "-1"])
def test_select_outside_1_to_1000_is_rejected(api: httpx.Client, select: str) -> None:
    reply = api.get("/v2/address-books", params={"select": select})
    assert reply.status_code == 400
    assert reply.json()["message"].endswith(". ERROR_PARAMETER_INVALID")
