"""Leases on the state's locks (several workers, one state): renewed while held, taken over once
passed with a higher fence, and a worker taken over writes nothing more (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dotsync.errors import LeaseLostError, RunInProgressError
from dotsync.result import RunStatus
from dotsync.state import StateStore
from dotsync.state.schema import batch_members, locks, runs
from state.pg_schema import BACKENDS, state_url


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[str]:
    with state_url(request.param, tmp_path, pg_url) as value:
        StateStore(value).close()  # the schema, before two stores race to create it
        yield value


def _fences(store: StateStore, name: str) -> tuple[str | None, int]:
    with store.engine.connect() as conn:
        row = conn.execute(select(locks.c.holder, locks.c.fence).where(locks.c.name == name)).one()
    return row[0], int(row[1])


def test_a_renewed_lease_holds_and_a_released_one_is_taken_with_a_higher_fence(url: str) -> None:
    with StateStore(url) as one, StateStore(url) as two:
        lease = one.acquire_locks(["export:a", "account:1"], "a", lease_seconds=0.6)
        time.sleep(1.5)  # more than two lease lengths: only the keeper's renewals keep it
        with pytest.raises(RunInProgressError, match="export 'a' is starting"):
            two.acquire_locks(["export:b", "account:1"], "b", lease_seconds=0.6)
        assert not lease.lost.is_set()
        one.release_locks(lease.names)
        assert _fences(one, "account:1") == (None, 1)
        taken = two.acquire_locks(["export:b", "account:1"], "b", lease_seconds=0.6)
        assert taken.fences == {"export:b": 1, "account:1": 2}
        two.release_locks(taken.names)


def test_a_worker_taken_over_after_its_lease_passed_writes_nothing_more(url: str) -> None:
    with StateStore(url) as one, StateStore(url) as two:
        lost: list[bool] = []
        lease = one.acquire_locks(
            ["export:a"], "a", lease_seconds=0.5, on_lost=lambda: lost.append(True)
        )
        run_id = one.start_run("a", full=False)
        one._keepers[lease.holder].stop()  # as if paused: no more renewals
        time.sleep(0.8)
        with pytest.raises(LeaseLostError, match="was not renewed"):
            lease.check()  # locally: no call to DotDigital past the lease
        taken = two.acquire_locks(["export:a"], "a", lease_seconds=5)
        assert taken.fences == {"export:a": 2}
        with pytest.raises(LeaseLostError, match="another worker took over"):
            one.add_import(run_id, "a", 1, 0, Path("batch-0.parquet"), 10, 100)
        with pytest.raises(LeaseLostError):
            one.finish_run(run_id, RunStatus.SUCCEEDED, one.get_run(run_id).counts)  # type: ignore[union-attr]
        assert lease.lost.is_set() and lost == [True]
        assert two.pending_imports("a", 1) == []
        assert two.get_run(run_id).status == RunStatus.RUNNING  # type: ignore[union-attr]
        one.release_locks(lease.names)  # gives back nothing: the lease is the other's now
        assert _fences(two, "export:a")[0] == taken.holder
        two.release_locks(taken.names)


HOLDER = """
import sys, time
from pathlib import Path
from dotsync.errors import LeaseLostError
from dotsync.state import StateStore
store = StateStore(sys.argv[1])
lease = store.acquire_locks(["export:a"], "a", lease_seconds=1.0)
run_id = store.start_run("a", full=False)
print("held", flush=True)
sys.stdin.readline()  # the test stops this process here, takes the lease, and continues it
try:
    store.add_import(run_id, "a", 1, 0, Path("batch-0.parquet"), 10, 100)
    print("wrote", flush=True)
except LeaseLostError as exc:
    print("fenced:", exc, flush=True)
"""


def test_a_process_stopped_past_its_lease_is_fenced_when_it_resumes(
    url: str, tmp_path: Path
) -> None:
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent(HOLDER))
    proc = subprocess.Popen(
        [sys.executable, str(script), url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "held"
        os.kill(proc.pid, signal.SIGSTOP)
        with StateStore(url) as other:
            # Same host, pid alive (stopped): only the lease's end frees the lock.
            with pytest.raises(RunInProgressError):
                other.acquire_locks(["export:a"], "a", lease_seconds=5)
            time.sleep(1.5)
            taken = other.acquire_locks(["export:a"], "a", lease_seconds=5)
            os.kill(proc.pid, signal.SIGCONT)
            proc.stdin.write("\n")
            proc.stdin.flush()
            out = proc.stdout.readline()
            assert out.startswith("fenced: another worker took over the lease of export 'a'")
            with other.engine.connect() as conn:
                assert conn.execute(select(runs.c.status)).scalar_one() == "running"
            assert other.pending_imports("a", 1) == []
            other.release_locks(taken.names)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=30)


def test_a_shared_state_keeps_batch_members_for_another_machine(
    tmp_path: Path, pg_url: str
) -> None:
    with state_url("postgresql", tmp_path, pg_url) as url, StateStore(url) as one:
        batch = tmp_path / "machine-a" / "batch-0.parquet"
        batch.parent.mkdir()
        batch.write_bytes(b"PAR1 keys and hashes PAR1")
        run_id = one.start_run("a", full=False)
        row = one.add_import(run_id, "a", 7, 0, batch, 2, 100)
        one.import_submitted(row, "imp-1")
        batch.unlink()  # machine A is gone with its work folder
        with StateStore(url) as two:
            [pending] = two.pending_imports("a", 7)
            assert pending.batch_file != batch
            assert pending.batch_file.read_bytes() == b"PAR1 keys and hashes PAR1"
            assert pending.batch_file.stat().st_mode & 0o077 == 0
            two.commit_import(row)
            with two.engine.connect() as conn:
                assert conn.execute(select(batch_members)).all() == []
            copy = pending.batch_file
        assert not copy.exists()  # the store's private copies go with it


def test_a_sqlite_state_keeps_no_batch_members(tmp_path: Path) -> None:
    with StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}") as store:
        batch = tmp_path / "batch-0.parquet"
        batch.write_bytes(b"PAR1")
        row = store.add_import(store.start_run("a", full=False), "a", 7, 0, batch, 1, 4)
        store.import_submitted(row, "imp-1")
        assert [p.batch_file for p in store.pending_imports("a", 7)] == [batch]
        with store.engine.connect() as conn:
            assert conn.execute(select(batch_members)).all() == []
