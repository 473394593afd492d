"""``--state``: a restart loses nothing and resumes unfinished imports; ``--seed`` loads data."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import SecretStr
from support.emulator_fixtures import EmulatorFactory

from dotsync.emulator import AccountSettings, EmulatorSettings, run_emulator

from .conftest import ApiFactory, create_book, import_csv, wait_v2

SEED = {
    "accounts": [
        {
            "apiUser": "seeded@apiconnector.com",
            "password": "s3cret",
            "region": "r2",
            "dataFields": [{"name": "tier", "type": "String"}],
            "addressBooks": [
                {
                    "id": 123456,
                    "name": "VIP",
                    "contacts": [
                        "a@example.com",
                        {"email": "b@example.com", "dataFields": {"TIER": "gold"}},
                    ],
                }
            ],
            "suppressed": [{"email": "bounced@example.com", "status": "HardBounced"}],
            "suppressed_domains": ["blocked.example"],
        }
    ],
    "global_suppressions": [{"email": "trap@example.com"}],
}


def test_state_file_survives_a_restart(tmp_path: Path, api_for: ApiFactory) -> None:
    settings = EmulatorSettings(state_file=tmp_path / "state.sqlite")
    with run_emulator(settings) as emu:
        api = api_for(emu)
        book = create_book(api)
        assert wait_v2(api, import_csv(api, book, "Email\na@example.com\n")) == "Finished"
    with run_emulator(settings) as emu:
        api = api_for(emu)
        assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 1
        assert [b["name"] for b in api.get("/v2/address-books").json()] == [
            "Test",
            "All Contacts",
            "Newsletter",
        ]


def test_unfinished_import_resumes_after_restart(tmp_path: Path, api_for: ApiFactory) -> None:
    slow = EmulatorSettings(state_file=tmp_path / "state.sqlite", import_rate=0.5)
    with run_emulator(slow) as emu:
        api = api_for(emu)
        book = create_book(api)
        import_id = import_csv(api, book, "Email\na@example.com\nb@example.com\nc@example.com\n")
        assert api.get(f"/v2/contacts/import/{import_id}").json()["status"] == "NotFinished"
    with run_emulator(slow.model_copy(update={"import_rate": None})) as emu:
        api = api_for(emu)
        assert wait_v2(api, import_id) == "Finished"
        assert api.get(f"/v2/address-books/{book}").json()["contacts"] == 3


def test_seed_file(tmp_path: Path, emulator_factory: EmulatorFactory, api_for: ApiFactory) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED))
    emu = emulator_factory(seed_file=seed)
    api = api_for(emu, auth=("seeded@apiconnector.com", "s3cret"), region="r2")
    assert api.get("/v2/address-books/123456").json()["contacts"] == 2
    members = emu.book_members("seeded@apiconnector.com", 123456)
    assert [(m["email"], m["dataFields"]) for m in members] == [
        ("a@example.com", {}),
        ("b@example.com", {"TIER": "gold"}),
    ]
    assert api.get("/v2/contacts/bounced@example.com").json()["status"] == "HardBounced"
    import_id = import_csv(
        api, 123456, "Email\ntrap@example.com\nx@blocked.example\nbounced@example.com\n"
    )
    assert wait_v2(api, import_id) == "Finished"
    report = api.get(f"/v2/contacts/import/{import_id}/report").json()
    counters = ("globallySuppressed", "domainSuppressed", "hardBounced")
    assert [report[name] for name in counters] == [1, 1, 1]
    default = api_for(emu)  # the settings' default account exists beside the seeded one
    assert default.get("/v2/account-info").status_code == 200


def test_accounts_given_at_start_are_added_to_an_existing_state(
    tmp_path: Path, api_for: ApiFactory
) -> None:
    path = tmp_path / "state.sqlite"
    with run_emulator(EmulatorSettings(state_file=path)):
        pass
    extra = AccountSettings(api_user="late@x.com", password=SecretStr("p"))
    with run_emulator(EmulatorSettings(state_file=path, accounts=[extra])) as emu:
        assert api_for(emu, auth=("late@x.com", "p")).get("/v2/account-info").status_code == 200
        assert (
            api_for(emu, auth=("demo@apiconnector.com", "demo")).get("/v2/account-info").status_code
            == 200
        )
