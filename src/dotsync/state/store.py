"""The state store: SQLite by default, PostgreSQL (or any SQLAlchemy database) for a team.

Each public method is one transaction: one checkpoint of a run."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, NoSuchModuleError

from dotsync.drivers import missing_driver
from dotsync.errors import RunInProgressError
from dotsync.result import RunCounts, RunResult, RunStatus
from dotsync.state.members import DuckMembers, MemberStore, SqlMembers
from dotsync.state.migrate import SQLITE_BEGIN, upgrade_schema
from dotsync.state.schema import imports, locks, removals, runs

LOCK_STALE_AFTER = timedelta(minutes=15)  # a run refreshes its heartbeat at every poll


class ImportStatus(StrEnum):
    PREPARED = "prepared"  # batch file written, not yet sent
    SUBMITTED = "submitted"  # DotDigital answered 202 with an import id
    COMMITTED = "committed"  # finished; its members are in the state
    FAILED = "failed"  # ended Failed / RejectedByWatchdog...: its members stay pending
    ABANDONED = "abandoned"  # prepared by a run that died before sending: resent by a new plan


class RemovalStatus(StrEnum):
    PREPARED = "prepared"
    SUBMITTED = "submitted"
    COMMITTED = "committed"


@dataclass(frozen=True)
class PendingImport:
    row_id: int
    run_id: int
    seq: int
    import_id: str
    batch_file: Path
    contacts: int


@dataclass(frozen=True)
class PendingRemoval:
    row_id: int
    run_id: int
    deletion_id: str | None
    contact_ids: list[int]


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: everything we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def open_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The driver would begin transactions lazily, before the first write only, so a
            # transaction that reads then writes could meet another writer's commit in between
            # and fail at once ("database is locked"). SQLAlchemy begins them instead (below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint commit
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock at BEGIN, waiting (timeout above) for another writer
            # to finish; EXCLUSIVE (schema upgrades) also keeps readers of other modes out.
            mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ImportError, NoSuchModuleError) as exc:
        safe = make_url(url).render_as_string(hide_password=True)
        raise missing_driver("state.url", safe, exc) from None


class StateStore:
    """Open with ``with StateStore(url) as store:``; opening brings the schema up to date."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_engine(url)
        try:
            upgrade_schema(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        self.members: MemberStore
        if url.startswith("sqlite:///"):
            db = Path(url.removeprefix("sqlite:///"))
            if db.exists():
                db.chmod(0o600)  # keys and hashes only, but still nobody else's business
            self.members = DuckMembers(db.parent / "members")
        else:
            self.members = SqlMembers(self.engine)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.members.close()
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A checkpoint that writes: on SQLite it takes the write lock at once (BEGIN IMMEDIATE)
        so that what it read stays true until it commits."""
        with self.engine.connect() as conn:
            conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- locks -------------------------------------------------------------------------------

    def acquire_locks(self, names: Sequence[str], export: str) -> None:
        """Take every lock or none. A lock left by a dead process (same host, pid gone) or whose
        heartbeat is older than LOCK_STALE_AFTER is taken over."""
        host, pid, now = socket.gethostname(), os.getpid(), _now()
        with self._tx() as conn:
            for name in names:
                row = conn.execute(select(locks).where(locks.c.name == name)).mappings().first()
                if row is not None:
                    if not _is_stale(row, host, now):
                        raise RunInProgressError(
                            f"{_holder(row)}; this invocation ({export!r}) stops. Lock: {name}"
                        )
                    conn.execute(delete(locks).where(locks.c.name == name))
                try:
                    conn.execute(
                        insert(locks).values(
                            name=name,
                            export=export,
                            host=host,
                            pid=pid,
                            acquired_at=now,
                            heartbeat_at=now,
                        )
                    )
                except IntegrityError as exc:  # another process won the race
                    raise RunInProgressError(
                        f"another invocation took the lock {name} just now and is starting (no "
                        f"run recorded yet); this invocation ({export!r}) stops"
                    ) from exc

    def set_lock_run(self, names: Sequence[str], run_id: int) -> None:
        with self._tx() as conn:
            conn.execute(update(locks).where(locks.c.name.in_(names)).values(run_id=run_id))

    def heartbeat(self, names: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.execute(
                update(locks)
                .where(locks.c.name.in_(names), locks.c.pid == os.getpid())
                .values(heartbeat_at=_now())
            )

    def release_locks(self, names: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.execute(
                delete(locks).where(
                    locks.c.name.in_(names),
                    locks.c.pid == os.getpid(),
                    locks.c.host == socket.gethostname(),
                )
            )

    # --- runs --------------------------------------------------------------------------------

    def start_run(self, export: str, *, full: bool) -> int:
        with self._tx() as conn:
            result = conn.execute(
                insert(runs).values(
                    export=export,
                    status=RunStatus.RUNNING,
                    full=full,
                    started_at=_now(),
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    resumed_imports=0,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        counts: RunCounts,
        *,
        error: str | None = None,
        rejects_file: Path | None = None,
        resumed_imports: int = 0,
    ) -> RunResult:
        with self._tx() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=_now(),
                    counts=counts.model_dump_json(),
                    error=error,
                    rejects_file=str(rejects_file) if rejects_file else None,
                    resumed_imports=resumed_imports,
                )
            )
        result = self.get_run(run_id)
        assert result is not None
        return result

    def unfinished_runs(self, export: str, *, except_run: int) -> list[int]:
        with self._read() as conn:
            rows = conn.execute(
                select(runs.c.id).where(
                    runs.c.export == export,
                    runs.c.status == RunStatus.RUNNING,
                    runs.c.id != except_run,
                )
            )
            return [int(r[0]) for r in rows]

    def mark_run_interrupted(self, run_id: int, note: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=RunStatus.INTERRUPTED,
                    error=note,
                    finished_at=func.coalesce(runs.c.finished_at, _now()),
                )
            )

    def get_run(self, run_id: int) -> RunResult | None:
        with self._read() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        return _run_result(row) if row else None

    def list_runs(self, export: str | None = None, limit: int = 50) -> list[RunResult]:
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if export:
            query = query.where(runs.c.export == export)
        with self._read() as conn:
            return [_run_result(r) for r in conn.execute(query).mappings()]

    # --- imports -----------------------------------------------------------------------------

    def add_import(
        self,
        run_id: int,
        export: str,
        book_id: int,
        seq: int,
        batch_file: Path,
        contacts: int,
        size: int,
    ) -> int:
        with self._tx() as conn:
            result = conn.execute(
                insert(imports).values(
                    run_id=run_id,
                    export=export,
                    address_book_id=book_id,
                    seq=seq,
                    status=ImportStatus.PREPARED,
                    batch_file=str(batch_file),
                    contacts=contacts,
                    bytes=size,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def import_submitted(self, row_id: int, import_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == row_id)
                .values(status=ImportStatus.SUBMITTED, import_id=import_id, submitted_at=_now())
            )

    def import_failed(self, row_id: int, error: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == row_id)
                .values(status=ImportStatus.FAILED, error=error, finished_at=_now())
            )

    def pending_imports(self, export: str, book_id: int) -> list[PendingImport]:
        """Imports submitted by earlier runs and never committed: poll them, don't resend."""
        with self._read() as conn:
            rows = conn.execute(
                select(imports)
                .where(
                    imports.c.export == export,
                    imports.c.address_book_id == book_id,
                    imports.c.status == ImportStatus.SUBMITTED,
                )
                .order_by(imports.c.id)
            ).mappings()
            return [
                PendingImport(
                    r["id"],
                    r["run_id"],
                    r["seq"],
                    r["import_id"],
                    Path(r["batch_file"]),
                    r["contacts"],
                )
                for r in rows
            ]

    def abandon_prepared_imports(self, export: str) -> list[Path]:
        """Batches prepared but never sent by a dead run: their members are still pending and the
        new plan sends them again. Returns their files, for deletion."""
        with self._tx() as conn:
            rows = conn.execute(
                select(imports.c.id, imports.c.batch_file).where(
                    imports.c.export == export, imports.c.status == ImportStatus.PREPARED
                )
            ).all()
            conn.execute(
                update(imports)
                .where(imports.c.id.in_([r[0] for r in rows]))
                .values(status=ImportStatus.ABANDONED, finished_at=_now())
            )
        return [Path(r[1]) for r in rows]

    def commit_import(self, row_id: int) -> None:
        """The import's members are in the member store: mark it committed (a checkpoint)."""
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == row_id)
                .values(status=ImportStatus.COMMITTED, finished_at=_now())
            )

    # --- removals ----------------------------------------------------------------------------

    def add_removal(self, run_id: int, export: str, book_id: int, contact_ids: list[int]) -> int:
        with self._tx() as conn:
            result = conn.execute(
                insert(removals).values(
                    run_id=run_id,
                    export=export,
                    address_book_id=book_id,
                    status=RemovalStatus.PREPARED,
                    contact_ids=json.dumps(contact_ids),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def removal_submitted(self, row_id: int, deletion_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(removals)
                .where(removals.c.id == row_id)
                .values(
                    status=RemovalStatus.SUBMITTED, deletion_id=deletion_id, submitted_at=_now()
                )
            )

    def pending_removals(self, export: str, book_id: int) -> list[PendingRemoval]:
        with self._read() as conn:
            rows = conn.execute(
                select(removals)
                .where(
                    removals.c.export == export,
                    removals.c.address_book_id == book_id,
                    removals.c.status != RemovalStatus.COMMITTED,
                )
                .order_by(removals.c.id)
            ).mappings()
            return [
                PendingRemoval(r["id"], r["run_id"], r["deletion_id"], json.loads(r["contact_ids"]))
                for r in rows
            ]

    def commit_removal(self, row_id: int) -> None:
        with self._tx() as conn:
            conn.execute(
                update(removals)
                .where(removals.c.id == row_id)
                .values(status=RemovalStatus.COMMITTED, finished_at=_now())
            )

    # --- removal of a destination -------------------------------------------------------------

    def remove_export(self, export: str) -> list[Path]:
        """Delete everything stored for the export. Returns the files the caller must delete."""
        with self._tx() as conn:
            files = [
                Path(r[0])
                for r in conn.execute(
                    select(imports.c.batch_file).where(imports.c.export == export)
                )
            ]
            files += [
                Path(r[0])
                for r in conn.execute(
                    select(runs.c.rejects_file).where(
                        runs.c.export == export, runs.c.rejects_file.is_not(None)
                    )
                )
            ]
            conn.execute(delete(imports).where(imports.c.export == export))
            conn.execute(delete(removals).where(removals.c.export == export))
            conn.execute(delete(runs).where(runs.c.export == export))
            conn.execute(delete(locks).where(locks.c.export == export))
        return files + self.members.drop(export)


def _holder(row: Any) -> str:
    """Who holds a lock, for a person: the run, or that it is starting (no run id yet)."""
    since = _aware(row["acquired_at"])
    where = f"pid {row['pid']} on {row['host']}, since {since:%Y-%m-%d %H:%M:%S} UTC"
    if row["run_id"] is None:
        return f"export {row['export']!r} is starting (no run recorded yet; {where})"
    return f"export {row['export']!r} is running (run {row['run_id']}, {where})"


def _is_stale(row: Any, host: str, now: datetime) -> bool:
    heartbeat = _aware(row["heartbeat_at"])
    if heartbeat is not None and now - heartbeat > LOCK_STALE_AFTER:
        return True
    if row["host"] == host:
        return not _pid_alive(int(row["pid"]))
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_result(row: Any) -> RunResult:
    counts = RunCounts.model_validate_json(row["counts"]) if row["counts"] else RunCounts()
    return RunResult(
        run_id=row["id"],
        export=row["export"],
        status=RunStatus(row["status"]),
        started_at=_aware(row["started_at"]) or row["started_at"],
        finished_at=_aware(row["finished_at"]),
        counts=counts,
        error=row["error"],
        rejects_file=Path(row["rejects_file"]) if row["rejects_file"] else None,
        resumed_imports=row["resumed_imports"] or 0,
    )
