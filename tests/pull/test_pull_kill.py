"""A pull killed after reading DotDigital and before writing its rows loses nothing.

The real ``dotsync pull`` process is SIGKILLed while the destination refuses its write: the test
holds PostgreSQL's lock on the status table (``EXCLUSIVE``: reads go on, writes wait), or the lock
of the Parquet file. So the kill lands after every feed was read and before anything was written,
every time. The feeds' cursors must not have moved, and the next pull must write every row."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.project import PASSWORD_ENV, Project, profile

from dotsync.config import load_config
from dotsync.pull import pull_export
from dotsync.state import StateStore
from dotsync.state.schema import pull_cursors
from pull.conftest import parquet_rows, sql_source, statuses, unsubscribe

DOTSYNC = Path(sys.executable).with_name("dotsync")  # the console script of this venv
ACCOUNT_CHANGES = "GET /contacts/v3"  # the last read of a pull, when someone could have come back


def _cursors(project: Project) -> list[tuple[Any, ...]]:
    with (
        StateStore(load_config(project.config_path).state.url) as store,
        store.engine.connect() as conn,
    ):
        return [tuple(r) for r in conn.execute(sa.select(pull_cursors).order_by("feed"))]


@contextmanager
def _file_locked(project: Project) -> Iterator[Callable[[], bool]]:
    """The Parquet file's lock, held; yields a check that the pull has read its feeds."""
    lock = project.folder / ".dotdigital_status.parquet.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield lambda: project.emulator.calls().get(ACCOUNT_CHANGES, 0) > 0
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _table_locked(pg_url: str, table: str) -> Iterator[Callable[[], bool]]:
    # ``table``: schema.name, both lower-case (written unquoted, as SQLAlchemy writes them)
    """PostgreSQL's EXCLUSIVE lock on the table, held; yields a check that a pull waits on it to
    write (after reading every feed). The waiting session of the killed process is ended before
    the lock is released (a killed client's server process would otherwise go on waiting)."""
    engine = sa.create_engine(pg_url)
    waiting = sa.text(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :t"
    )
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
            with engine.connect() as probe:

                def blocked() -> bool:
                    found = probe.execute(waiting, {"t": f"%{table}%"}).all()
                    probe.rollback()  # pg_stat_activity stays as it was within a transaction
                    return bool(found)

                try:
                    yield blocked
                finally:
                    for (pid,) in probe.execute(waiting, {"t": f"%{table}%"}).all():
                        probe.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        engine.dispose()


def _kill_when(project: Project, reached: Callable[[], bool]) -> None:
    _, password = project.emulator.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOTSYNC_")}
    process = subprocess.Popen(
        [str(DOTSYNC), "pull", "news", "--json", "--config", str(project.config_path)],
        env={**env, PASSWORD_ENV: password},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not reached():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the pull never reached its write"
            time.sleep(0.05)
        time.sleep(0.2)  # it cannot write: the lock is ours
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()


@pytest.mark.parametrize("destination", ["parquet", "postgresql"])
def test_a_pull_killed_between_reading_and_writing_loses_nothing(
    project: Project, destination: str, pg_url: str, pg_schema: str
) -> None:
    rows = [profile(i) for i in range(6)]
    if destination == "postgresql":
        sql_source(project, pg_url, pg_schema, rows)
        project.extra_toml = f'[pull]\ntable = "dd_status"\nschema = "{pg_schema}"\n'
    else:
        project.write_profiles(rows)
    project.write_config()
    project.run()
    unsubscribe(project, "person1@example.com")
    config = load_config(project.config_path)
    pull_export(config, "news")  # the table exists, the feeds have cursors
    before = _cursors(project)
    project.emulator.suppress(project.api_user, "person2@example.com", "HardBounced")
    unsubscribe(project, "person3@example.com", from_book=True)
    project.emulator.reset_calls()

    def written() -> dict[str, tuple[str, str, str]]:
        if destination == "parquet":
            return statuses(parquet_rows(project.folder / "dotdigital_status.parquet"))
        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            found = conn.execute(
                sa.text(f'SELECT key, status, reason, scope FROM "{pg_schema}".dd_status')
            )
            out = {str(k): (str(s), str(r), str(sc)) for k, s, r, sc in found}
        engine.dispose()
        return out

    locked = (
        _file_locked(project)
        if destination == "parquet"
        else _table_locked(pg_url, f"{pg_schema}.dd_status")
    )
    with locked as reached:
        _kill_when(project, reached)

    assert _cursors(project) == before  # nothing read by the killed pull counts as read
    assert set(written()) == {"C00001"}
    report = pull_export(config, "news")
    with StateStore(config.state.url) as store:
        statuses_of_pulls = [p.status for p in store.pulls.list_pulls("news")]
    assert statuses_of_pulls == ["succeeded", "interrupted", "succeeded"]  # the killed one
    assert written() == {
        "C00001": ("Unsubscribed", "Unsubscribed", "account"),
        "C00002": ("Suppressed", "HardBounced", "account"),
        "C00003": ("Unsubscribed", "Unsubscribed", "book"),
    }
    assert report.counts.rows_written == 2
    assert pull_export(config, "news").counts.rows_written == 0
