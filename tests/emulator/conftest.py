"""Shared helpers of the emulator tests: clients validated against DotDigital's OpenAPI
documents (``checked_client`` of tests/support/openapi_fixtures.py), and a way to run an import
to its end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dotsync.emulator import RunningEmulator
from dotsync.emulator.base import Account
from dotsync.emulator.db import Database
from dotsync.emulator.settings import EmulatorSettings
from dotsync.emulator.store import Store

ApiFactory = Callable[..., httpx.Client]


@pytest.fixture
def api_for(checked_client: Any) -> ApiFactory:
    """``api_for(emulator, auth=None, region="r1")``: a validating client on a region host."""

    def make(
        emu: RunningEmulator, auth: tuple[str, str] | None = None, region: str = "r1"
    ) -> httpx.Client:
        base = emu.base_url if region == "r1" else f"{emu.base_url}/{region}"
        client: httpx.Client = checked_client(base, auth=auth or emu.credentials)
        return client

    return make


@pytest.fixture
def api(emulator: RunningEmulator, api_for: ApiFactory) -> httpx.Client:
    return api_for(emulator)


def in_process_store() -> tuple[Store, Account, int]:
    """The emulator's real store in memory, without a server: its default account and a new
    private book, for tests that drive the import worker step by step."""
    settings = EmulatorSettings()
    store = Store(settings, Database(None))
    account = store.add_account(settings.accounts[0])
    book = int(store.create_book(account, "News", "Private")["id"])
    return store, account, book


def create_book(api: httpx.Client, name: str = "Newsletter") -> int:
    reply = api.post("/v2/address-books", json={"name": name, "visibility": "Private"})
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def import_csv(api: httpx.Client, book_id: int, text: str, merge: str | None = None) -> str:
    path = f"/v2/address-books/{book_id}/contacts/import"
    if merge:
        path += f"/with-merge-option/{merge}"
    reply = api.post(path, files={"file": ("contacts.csv", text.encode(), "text/csv")})
    assert reply.status_code == 202, reply.text
    assert reply.json()["status"] == "NotFinished"
    return str(reply.json()["id"])


def wait_v2(api: httpx.Client, import_id: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = str(api.get(f"/v2/contacts/import/{import_id}").json()["status"])
        if status != "NotFinished" or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def wait_v3(api: httpx.Client, import_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply: dict[str, Any] = api.get(f"/contacts/v3/import/{import_id}").json()
        if reply["status"] != "NotFinished" or time.monotonic() > deadline:
            return reply
        time.sleep(0.02)


def v3_contact(email: str, lists: list[int] | None = None, **fields: Any) -> dict[str, Any]:
    contact: dict[str, Any] = {"matchIdentifier": "email", "identifiers": {"email": email}}
    if fields:
        contact["dataFields"] = fields
    if lists:
        contact["lists"] = lists
    return contact
