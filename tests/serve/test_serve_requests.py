""" "Run now" and "Cancel" recorded in the state by one process (here the test, as the console
would) and carried out by a real ``dotsync serve``: the run goes through the account's lane, a
cancel stops it at its next checkpoint, and the run says who started and who cancelled it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from console.console_support import start_serve
from support.waiting import wait_for

from dotsync.console.context import ConsoleState, ProjectPaths
from dotsync.console.users import Role, User
from dotsync.emulator import EmulatorSettings, RunningEmulator
from dotsync.result import RunStatus
from dotsync.state.run_requests import RequestOutcome, RunRequest

API_USER, PASSWORD = "demo@apiconnector.com", "demo"
PROFILES = 3000
CARL = User("carl", Role.CONTRIBUTOR)
ADA = User("ada", Role.ADMIN)
T = TypeVar("T")


def project(folder: Path, emulator: RunningEmulator) -> tuple[Path, int]:
    book = httpx.post(
        f"{emulator.base_url}/v2/address-books",
        json={"name": "Newsletter", "visibility": "Private"},
        auth=(API_USER, PASSWORD),
    ).json()["id"]
    rows = ["customer_id,email"] + [f"{i:05d},user{i}@example.com" for i in range(PROFILES)]
    (folder / "profiles.csv").write_text("\n".join(rows) + "\n")
    config = folder / "dotsync.toml"
    config.write_text(f"""
[source]
path = "profiles.csv"
key = "customer_id"
[segments.all]
where = "true"
[connections.emulator]
api_user = "{API_USER}"
password_env = "DOTDIGITAL_PASSWORD"
address_book_id = {book}
privacy_acknowledged = true
api_url = "{emulator.base_url}"
[exports.newsletter]
connection = "emulator"
segments = ["all"]
[exports.newsletter.mapping]
email = "email"
""")  # no schedule: it runs only when asked
    return config, int(book)


def finished(state: ConsoleState, request_id: int) -> RunRequest | None:
    request = state.run_request(request_id)
    return request if request is not None and request.finished else None


@pytest.mark.long
def test_run_now_and_cancel_through_the_state(
    tmp_path: Path, emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = emulator_factory(EmulatorSettings(import_rate=200.0))
    config, book = project(tmp_path, emulator)
    server = start_serve(tmp_path, env={"DOTDIGITAL_PASSWORD": PASSWORD})
    state = ConsoleState(ProjectPaths.of(config))
    try:
        run = state.request_run("newsletter", CARL)
        wait_for(
            lambda: any(k.startswith("PUT /contacts/v3/import") for k in emulator.calls()),
            "the requested run to submit an import",
        )
        cancel = state.request_cancel("newsletter", ADA)
        stopped = wait_for(lambda: finished(state, run), "the cancelled run to end")
        assert stopped.outcome == RunStatus.INTERRUPTED and stopped.taken_by is not None
        cancelled = wait_for(lambda: finished(state, cancel), "the cancel to be closed")
        assert cancelled.outcome == RequestOutcome.CANCELLED
        assert cancelled.run_id == stopped.run_id is not None
        with state.store() as store:
            recorded = store.get_run(stopped.run_id)
        assert recorded is not None and recorded.started_by == CARL.name
        assert recorded.error is not None and recorded.error.startswith(
            "cancelled by ada in the console"
        )
        assert len(emulator.book_members(API_USER, book)) < PROFILES  # it stopped mid-run

        idle = state.request_cancel("newsletter", ADA)
        assert wait_for(lambda: finished(state, idle), "a cancel of nothing").outcome == (
            RequestOutcome.NOT_RUNNING
        )
        unknown = state.request_run("nonesuch", CARL)
        assert wait_for(lambda: finished(state, unknown), "an unknown export").outcome == (
            RequestOutcome.UNKNOWN_EXPORT
        )

        again = state.request_run("newsletter", CARL)
        resumed = wait_for(lambda: finished(state, again), "the run asked again")
        assert resumed.outcome == RunStatus.SUCCEEDED
        runs = [(e.actor, e.action, e.outcome) for e in state.audit_entries("newsletter")]
        assert runs[:2] == [("carl", "run", "succeeded"), ("carl", "run.request", "ok")]
        assert ("carl", "run", "interrupted") in runs and ("ada", "run.cancel", "ok") in runs
    finally:
        state.close()
        assert server.stop() == 0, server.log()[-3000:]
