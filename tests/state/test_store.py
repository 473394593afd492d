"""The state store against SQLite and the real PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sqlalchemy import create_engine, text

from dotsync.errors import RunInProgressError
from dotsync.result import RunCounts, RunStatus
from dotsync.state import StateStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[StateStore]:
    if request.param == "sqlite":
        s = StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}")
        yield s
        s.close()
        return
    schema = f"dotsync_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    s = StateStore(url)
    try:
        yield s
    finally:
        s.close()
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


def _confirm(
    store: StateStore,
    duck: duckdb.DuckDBPyConnection,
    run_id: int,
    book: int,
    rows: list[tuple[str, int, str, str]],
) -> int:
    duck.register(
        "_rows",
        pa.table(
            {
                "key": [r[0] for r in rows],
                "contact_id": pa.array([r[1] for r in rows], pa.int64()),
                "email_hash": [r[2] for r in rows],
                "digest": [r[3] for r in rows],
            }
        ),
    )
    return store.members.upsert(duck, "select * from _rows", "news", book, run_id)


def _members(
    store: StateStore, duck: duckdb.DuckDBPyConnection, book: int
) -> list[tuple[str, int, str]]:
    store.members.register(duck, "news", book)
    return duck.execute("select key, contact_id, digest from state_members order by key").fetchall()


def test_members_round_trip_and_upsert(store: StateStore) -> None:
    duck = duckdb.connect()
    run_id = store.start_run("news", full=False)
    row_id = store.add_import(run_id, "news", 7, 0, Path("b0.parquet"), 2, 100)
    store.import_submitted(row_id, "imp-1")
    assert _confirm(store, duck, run_id, 7, [("k1", 11, "h1", "d1"), ("k2", 12, "h2", "d2")]) == 2
    _confirm(store, duck, run_id, 7, [("k2", 13, "h2b", "d2b")])  # replay/upsert: no duplicate
    store.commit_import(row_id)
    assert _members(store, duck, 7) == [("k1", 11, "d1"), ("k2", 13, "d2b")]
    assert _members(store, duck, 8) == []  # another address book: nothing
    assert store.pending_imports("news", 7) == []
    assert store.members.count("news") == 2
    assert sorted(store.members.contact_ids("news", 7)) == [11, 13]


def test_submitted_imports_are_pending_until_committed(store: StateStore) -> None:
    run_id = store.start_run("news", full=False)
    a = store.add_import(run_id, "news", 7, 0, Path("a.parquet"), 1, 10)
    b = store.add_import(run_id, "news", 7, 1, Path("b.parquet"), 1, 10)
    store.import_submitted(a, "imp-a")
    pending = store.pending_imports("news", 7)
    assert [(p.import_id, p.seq) for p in pending] == [("imp-a", 0)]
    # a prepared batch may have been sent by a run that died: possibly delivered, its file kept
    assert store.mark_prepared_possible("news") == 1
    assert b not in [p.row_id for p in store.pending_imports("news", 7)]
    possible = store.possible_imports(["news"], 7)
    assert [(p.row_id, p.batch_file) for p in possible] == [(b, Path("b.parquet"))]


def test_removal_forgets_members_by_contact_id(store: StateStore) -> None:
    duck = duckdb.connect()
    run_id = store.start_run("news", full=False)
    _confirm(store, duck, run_id, 7, [("a", 1, "h", "d"), ("b", 2, "h", "d"), ("c", 3, "h", "d")])
    removal = store.add_removal(run_id, "news", 7, [1, 3])
    assert [p.contact_ids for p in store.pending_removals("news", 7)] == [[1, 3]]
    store.removal_submitted(removal, "del-1")
    assert store.pending_removals("news", 7)[0].deletion_id == "del-1"
    store.members.remove_contacts("news", 7, [1, 3])
    store.commit_removal(removal)
    assert [k for k, _c, _d in _members(store, duck, 7)] == ["b"]
    assert store.pending_removals("news", 7) == []
    store.members.forget_keys("news", 7, ["b"])
    assert _members(store, duck, 7) == []


def test_runs_history(store: StateStore) -> None:
    first = store.start_run("news", full=True)
    store.finish_run(first, RunStatus.SUCCEEDED, RunCounts(sent=5, entered=5))
    second = store.start_run("news", full=False)
    assert store.unfinished_runs("news", except_run=-1) == [second]
    store.mark_run_interrupted(second, "killed")
    runs = store.list_runs("news")
    assert [r.run_id for r in runs] == [second, first]
    assert runs[0].status is RunStatus.INTERRUPTED
    assert runs[1].counts.sent == 5
    assert runs[1].duration_seconds is not None and runs[1].duration_seconds >= 0
    assert runs[1].started_at.tzinfo is not None


def test_lock_refuses_second_holder_and_names_it(store: StateStore) -> None:
    store.acquire_locks(["export:news", "account:x"], "news")
    # before the holder has recorded its run: it is starting (0.1 said "run None")
    with pytest.raises(
        RunInProgressError, match=r"export 'news' is starting \(no run recorded yet; pid"
    ) as starting:
        store.acquire_locks(["export:other", "account:x"], "other")
    assert "None" not in str(starting.value)
    run_id = store.start_run("news", full=False)
    store.set_lock_run(["export:news", "account:x"], run_id)
    with pytest.raises(RunInProgressError, match=rf"export 'news' is running \(run {run_id}, pid"):
        store.acquire_locks(["export:other", "account:x"], "other")
    # all-or-nothing: the failed attempt took no lock
    store.release_locks(["export:news", "account:x"])
    store.acquire_locks(["export:other", "account:x"], "other")


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    code = (
        "from dotsync.state import StateStore;"
        f"StateStore({url!r}).acquire_locks(['export:news'], 'news')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # exits holding it
    store = StateStore(url)
    store.acquire_locks(["export:news"], "news")  # the holder's pid is gone: stale
    store.close()


def test_remove_export_leaves_nothing(store: StateStore, tmp_path: Path) -> None:
    run_id = store.start_run("news", full=False)
    row = store.add_import(run_id, "news", 7, 0, tmp_path / "b.parquet", 1, 1)
    _confirm(store, duckdb.connect(), run_id, 7, [("a", 1, "h", "d")])
    store.commit_import(row)
    store.finish_run(run_id, RunStatus.SUCCEEDED, RunCounts(), rejects_file=tmp_path / "r.csv")
    other = store.start_run("other", full=False)
    files = store.remove_export("news")
    expected = {tmp_path / "b.parquet", tmp_path / "r.csv"}
    assert expected <= set(files)
    assert all(f.suffix in (".duckdb", ".wal") for f in set(files) - expected)
    for f in set(files) - expected:  # the member file (SQLite state): the caller deletes it
        f.unlink()
    assert store.list_runs("news") == []
    assert store.members.count("news") == 0
    assert [r.run_id for r in store.list_runs()] == [other]


def test_sqlite_state_file_is_private(tmp_path: Path) -> None:
    StateStore(f"sqlite:///{tmp_path / 'sub' / 'state.sqlite'}").close()
    assert (tmp_path / "sub" / "state.sqlite").stat().st_mode & 0o077 == 0


def test_member_state_in_use_by_another_process_is_a_clear_refusal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            "from dotsync.state import StateStore\n"
            f"s = StateStore({url!r}); d = duckdb.connect()\n"
            "s.members.register(d, 'news', 7); print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        store = StateStore(url)
        with pytest.raises(RunInProgressError, match="in use by a run in another process"):
            store.members.register(duckdb.connect(), "news", 7)
        store.close()
    finally:
        holder.kill()
        holder.wait()
