"""SIGKILL in the window between DotDigital's 202 and the saving of the import id, on a SQLite and
on a PostgreSQL state: the emulator accepts the import and holds its reply back (fault ``late``),
the real ``dotsync export`` process is killed meanwhile. A profile of that batch then leaves the
segment: the next run must take it out of the book (before the ledger it stayed for good), and the
book must end exactly the segment."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.project import Project, profile

from reliability.harness import SURVIVED, EmulatorProcess, Outcome, new_project, run_cli
from reliability.invariant import (
    assert_converged,
    checkpoints_of,
    expected_members,
    run_history,
)
from reliability.kill import rerun_until_success

LATE_REPLY = 4.0  # seconds the accepted import's reply is held back: the kill lands inside


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, pg_url: str) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    schema = f"dotsync_kill202_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _wait_for_book(project: Project, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(project.emulator.book_members(project.api_user, project.book_id)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"the accepted import did not land: fewer than {count} members")


def test_killed_after_the_202_then_a_leaver_of_that_batch_is_removed(
    emulator_process: EmulatorProcess, work_dir: Path, state_url: str | None
) -> None:
    started = time.monotonic()
    kind = "postgresql" if state_url else "sqlite"
    project = new_project(emulator_process.api, work_dir / kind, f"After 202 {kind}")
    project.state_url = state_url
    project.write_config()
    rows = [profile(i) for i in range(20)]
    project.write_profiles(rows)
    project.run()
    rows += [profile(100 + i) for i in range(8)]  # they enter: one batch, killed after its 202
    project.write_profiles(rows)
    emulator_process.api.set_faults(
        {"script": ["late"], "slow_seconds": LATE_REPLY, "path_pattern": "/contacts/v3/import$"}
    )
    try:
        killed = run_cli(project, kill_at="import prepared", kill_delay=LATE_REPLY / 2)
    finally:
        emulator_process.api.set_faults({})
    assert killed.code is None, f"the run ended ({killed.code}) before its kill"
    # killed inside the window: the batch was sent, its import id never saved
    assert checkpoints_of(project, run_history(project)[-1].run_id) == ["import prepared"]
    _wait_for_book(project, 28)

    rows[-3]["lifetime_value"] = 1  # a profile of the killed batch leaves the segment
    rows[2]["lifetime_value"] = 1  # and an older member
    project.write_profiles(rows)
    outcome = Outcome("kill", f"killed after the 202 ({kind} state), leavers of that batch", runs=1)
    rerun_until_success(project, outcome, "after 202")
    assert_converged(project, rows)
    assert "person105@example.com" not in expected_members(rows)
    outcome.seconds = time.monotonic() - started
    SURVIVED.add(outcome)
