"""The admin API under /_emulator/: counts, state, members, suppression, accounts, reset,
rate limits and faults set at run time."""

from __future__ import annotations

import httpx

from dotsync.emulator import RunningEmulator

from .conftest import create_book


def test_calls_are_counted_per_endpoint_template(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.reset_calls()
    api.get("/v2/contacts/1")
    api.get("/v2/contacts/2")
    api.get("/v2/address-books")
    calls = emulator.calls()
    assert calls == {"GET /v2/contacts/{idOrEmail}": 2, "GET /v2/address-books": 1}
    by_status = emulator.admin.get("/_emulator/calls").json()["by_status"]
    assert by_status["GET /v2/contacts/{idOrEmail}"] == {"404": 2}
    emulator.reset_calls()
    assert emulator.calls() == {}


def test_state_members_and_add_account(emulator: RunningEmulator, api: httpx.Client) -> None:
    book = create_book(api)
    api.post(
        f"/v2/address-books/{book}/contacts",
        json={"email": "a@example.com", "dataFields": [{"key": "FIRSTNAME", "value": "A"}]},
    )
    state = emulator.state()["accounts"][0]
    assert state["contacts"] == 1 and state["active_imports"] == 0
    assert {b["name"]: b["contacts"] for b in state["address_books"]}["Newsletter"] == 1
    members = emulator.book_members("demo@apiconnector.com", book)
    assert [(m["email"], m["dataFields"]) for m in members] == [
        ("a@example.com", {"FIRSTNAME": "A"})
    ]
    added = emulator.admin.post(
        "/_emulator/accounts", json={"api_user": "new@x.com", "password": "pw", "region": "r3"}
    )
    assert added.status_code == 201
    reply = httpx.get(f"{emulator.base_url}/r3/v2/address-books", auth=("new@x.com", "pw"))
    assert reply.status_code == 200
    ghost = emulator.admin.get("/_emulator/accounts/ghost@x.com/address-books/1/members")
    assert ghost.status_code == 404


def test_reset_returns_to_the_seed(emulator: RunningEmulator, api: httpx.Client) -> None:
    create_book(api)
    emulator.reset()
    assert [b["name"] for b in api.get("/v2/address-books").json()] == ["Test", "All Contacts"]


def test_rate_limits_set_at_run_time(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.set_rate_limits({"mode": "tiered", "high_per_minute": 2})
    assert emulator.admin.get("/_emulator/rate-limits").json()["high_per_minute"] == 2
    replies = [api.get("/v2/contacts/1") for _ in range(3)]
    assert [r.status_code for r in replies] == [404, 404, 429]
    assert replies[0].headers["X-RateLimit-Scope"] == "highCallRate"
    emulator.set_rate_limits({"mode": "flat", "flat_per_hour": 1})
    capped = api.get("/v2/data-fields")
    assert capped.status_code == 400
    assert capped.json()["message"].endswith(". ERROR_APIUSAGE_EXCEEDED")


def test_faults_set_at_run_time(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.set_faults({"script": ["503", "ok"]})
    assert api.get("/v2/address-books").status_code == 503
    assert api.get("/v2/address-books").status_code == 200
    assert emulator.admin.get("/_emulator/faults").json()["injected"]
    assert emulator.admin.get("/_emulator/state").status_code == 200  # admin is never faulted


def test_bad_admin_requests(emulator: RunningEmulator) -> None:
    reply = emulator.admin.put("/_emulator/faults", json={"error_rate": 3})
    assert reply.status_code == 400
    suppress = emulator.admin.post(
        "/_emulator/accounts/demo@apiconnector.com/suppress",
        json={"email": "a@example.com", "status": "Sleepy"},
    )
    assert suppress.status_code == 400
