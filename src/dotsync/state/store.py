"""The state store: SQLite by default, PostgreSQL (or any SQLAlchemy database) for a team.

Each public method is one transaction: one checkpoint of a run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
from sqlalchemy.exc import IntegrityError, NoSuchModuleError, OperationalError

from dotsync.drivers import missing_driver
from dotsync.errors import RunInProgressError
from dotsync.result import RunCounts, RunResult, RunStatus
from dotsync.state.leases import LEASE_SECONDS, Lease, LeaseKeeper, new_holder
from dotsync.state.ledger import BookRef, DuckLedger, Ledger, SqlLedger
from dotsync.state.members import DuckMembers, MemberStore, SqlMembers
from dotsync.state.migrate import SQLITE_BEGIN, upgrade_schema
from dotsync.state.pulls import PullStore
from dotsync.state.schema import (
    batch_members,
    book_reads,
    export_books,
    imports,
    locks,
    removals,
    runs,
    verifies,
)
from dotsync.state.transactions import read_transaction, write_transaction

LOCK_STALE_AFTER = timedelta(minutes=15)  # a lock taken before leases (0008): its heartbeat
_NO_FENCE = "dotsync_no_fence"  # a connection's info key: the fence check's own query
# How long a batch that may have been delivered is matched against the book's changes: an import
# DotDigital accepted normally ends within minutes, one held back by its watchdog within hours
# (assumption: DotDigital documents no bound); a day covers both with room.
POSSIBLE_FOR = timedelta(hours=24)


class BatchStatus(StrEnum):
    PREPARED = "prepared"  # batch file written, not yet sent
    SUBMITTED = "submitted"  # DotDigital answered 202 with an import id
    COMMITTED = "committed"  # finished; its members are in the state
    FAILED = "failed"  # ended Failed / RejectedByWatchdog...: its members stay pending
    ABANDONED = "abandoned"  # refused when sent (a 4xx): nothing reached DotDigital
    # Prepared, and maybe sent: a run died (or the PUT's retries ran out with no reply) between
    # sending and saving the import id. Its member file (keys, e-mail hashes, digests; never
    # e-mails) is kept and matched against the book's changes read by later runs.
    POSSIBLE = "possible"
    EXPIRED = "expired"  # possible, and nothing of it seen in the book within POSSIBLE_FOR


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
class PossibleImport:
    row_id: int
    export: str
    batch_file: Path
    prepared_at: datetime


@dataclass(frozen=True)
class BookRead:
    baseline_at: datetime | None
    baseline_contacts: int
    changes_from: datetime | None
    owners_decided: bool


@dataclass(frozen=True)
class VerifyRecord:
    """A ``dotsync verify`` as stored: its report is JSON (see dotsync.verify.VerifyReport)."""

    verify_id: int
    export: str
    address_book_id: int
    status: str
    repair: bool
    started_at: datetime
    finished_at: datetime | None
    report: str | None
    error: str | None


@dataclass(frozen=True)
class PendingRemoval:
    row_id: int
    run_id: int
    deletion_id: str | None
    contact_ids: list[int]
    kind: str = "remove"  # or "unsubscribe"


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
        self._sqlite = url.startswith("sqlite:")
        self._leases: list[Lease] = []
        self._keepers: dict[str, LeaseKeeper] = {}
        self._lease_guard = threading.Lock()
        self._batch_dir: Path | None = None  # copies of batches kept in a shared state
        try:
            upgrade_schema(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        event.listen(self.engine, "begin", self._fence_check)
        self.members: MemberStore
        self.ledger: Ledger
        self.pulls = PullStore(self.engine)
        if url.startswith("sqlite:///"):
            db = Path(url.removeprefix("sqlite:///"))
            if db.exists():
                db.chmod(0o600)  # keys and hashes only, but still nobody else's business
            self.members = DuckMembers(db.parent / "members")
            self.ledger = DuckLedger(db.parent / "members")
        else:
            self.members = SqlMembers(self.engine)
            self.ledger = SqlLedger(self.engine)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lease_guard:
            keepers = list(self._keepers.values())
            self._keepers.clear()
        for keeper in keepers:
            keeper.stop()
        self.ledger.close()
        self.members.close()
        self.engine.dispose()
        if self._batch_dir is not None:
            shutil.rmtree(self._batch_dir, ignore_errors=True)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with write_transaction(self.engine) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read_transaction(self.engine) as conn:
            yield conn

    # --- locks (leases: see leases.py) ---------------------------------------------------------

    def acquire_locks(
        self,
        names: Sequence[str],
        export: str,
        *,
        lease_seconds: float = LEASE_SECONDS,
        on_lost: Callable[[], None] | None = None,
    ) -> Lease:
        """Take every lock or none, as one lease renewed in the background until
        :meth:`release_locks`. A lock whose lease expired (by the database's clock), or left by
        a dead process of this host, is taken over with a higher fence; ``on_lost`` is called
        if another worker takes this lease over in turn."""
        host, pid, holder = socket.gethostname(), os.getpid(), new_holder()
        fences: dict[str, int] = {}
        started = time.monotonic()
        with self._tx() as conn:
            now = self._db_now(conn)
            for name in sorted(names):  # one order for every worker (renewals too): no deadlock
                query = select(locks).where(locks.c.name == name)
                row = conn.execute(query).mappings().first()
                if row is not None and not self._sqlite and _is_free(row, host, now):
                    # Read again, locked, to take it over: one taker at a time. NOWAIT: a row
                    # locked now is a live run's (its transaction checks its lease), so busy.
                    try:
                        row = conn.execute(query.with_for_update(nowait=True)).mappings().first()
                    except OperationalError as exc:
                        raise RunInProgressError(
                            f"the lock {name} is in use by a run going on; this invocation "
                            f"({export!r}) stops"
                        ) from exc
                values = {
                    "export": export,
                    "host": host,
                    "pid": pid,
                    "acquired_at": now,
                    "heartbeat_at": now,
                    "holder": holder,
                    "expires_at": now + timedelta(seconds=lease_seconds),
                    "run_id": None,
                }
                if row is not None:
                    if not _is_free(row, host, now):
                        raise RunInProgressError(
                            f"{_holder(row)}; this invocation ({export!r}) stops. Lock: {name}"
                        )
                    fences[name] = int(row["fence"] or 0) + 1
                    conn.execute(
                        update(locks)
                        .where(locks.c.name == name)
                        .values(**values, fence=fences[name])
                    )
                    continue
                fences[name] = 1
                try:
                    conn.execute(insert(locks).values(name=name, fence=1, **values))
                except IntegrityError as exc:  # another process won the race
                    raise RunInProgressError(
                        f"another invocation took the lock {name} just now and is starting (no "
                        f"run recorded yet); this invocation ({export!r}) stops"
                    ) from exc
        lease = Lease(
            tuple(names),
            export,
            holder,
            fences,
            lease_seconds,
            started + lease_seconds,
            on_lost=on_lost or (lambda: None),
        )
        with self._lease_guard:
            self._leases.append(lease)
            self._keepers[lease.holder] = LeaseKeeper(self.renew_lease, lease)
        return lease

    def renew_lease(self, lease: Lease) -> bool:
        """Extends the lease; False if another worker took it over (or it was released)."""
        with self._tx() as conn:
            now = self._db_now(conn)
            self._lock_rows(conn, lease.names)
            done = conn.execute(
                update(locks)
                .where(locks.c.name.in_(lease.names), locks.c.holder == lease.holder)
                .values(heartbeat_at=now, expires_at=now + timedelta(seconds=lease.seconds))
            )
            return int(done.rowcount or 0) == len(lease.names)

    def check_leases(self) -> None:
        """Raises :class:`LeaseLostError` unless every lease held is still known to be ours."""
        for lease in list(self._leases):
            lease.check()

    def set_lock_run(self, names: Sequence[str], run_id: int) -> None:
        with self._tx() as conn:
            self._lock_rows(conn, names)
            conn.execute(update(locks).where(locks.c.name.in_(names)).values(run_id=run_id))

    def _lock_rows(self, conn: Connection, names: Sequence[str]) -> None:
        """Lock rows written by their holder in name order, as every writer does (no deadlock);
        FOR NO KEY UPDATE does not wait for the fence checks' KEY SHARE."""
        if not self._sqlite:
            conn.execute(
                select(locks.c.name)
                .where(locks.c.name.in_(list(names)))
                .order_by(locks.c.name)
                .with_for_update(key_share=True)
            ).all()

    def heartbeat(self, names: Sequence[str]) -> None:
        """A run's sign of life between renewals: raises if its lease is lost."""
        for lease in list(self._leases):
            if set(names) & set(lease.names):
                lease.check()

    def release_locks(self, names: Sequence[str]) -> None:
        """Give the locks back (their rows stay, holder emptied, so their fence only grows)."""
        with self._lease_guard:
            mine = [lease for lease in self._leases if set(lease.names) & set(names)]
            self._leases = [lease for lease in self._leases if lease not in mine]
            keepers = [self._keepers.pop(lease.holder) for lease in mine]
        for keeper in keepers:
            keeper.stop()
        holders = [lease.holder for lease in mine]
        if not holders:
            return
        with self._tx() as conn:
            self._lock_rows(conn, names)
            conn.execute(
                update(locks)
                .where(locks.c.name.in_(names), locks.c.holder.in_(holders))
                .values(holder=None, run_id=None, expires_at=None)
            )

    def _fence_check(self, conn: Connection) -> None:
        """Every transaction of a store that holds a lease checks first that it still does (the
        ``begin`` event): a worker taken over writes nothing more."""
        leases = list(self._leases)
        if not leases or conn.info.get(_NO_FENCE):
            return
        for lease in leases:
            if lease.lost.is_set():
                raise lease.error()
            query = (
                select(locks.c.name)
                .where(locks.c.name.in_(lease.names), locks.c.holder == lease.holder)
                .order_by(locks.c.name)
            )
            if not self._sqlite:
                # A takeover (FOR UPDATE) waits for our commit; renewals and our own updates of
                # the rows (FOR NO KEY UPDATE) do not, so no lock is ever upgraded against them.
                query = query.with_for_update(read=True, key_share=True)
            conn.info[_NO_FENCE] = True
            try:
                held = len(conn.execute(query).all())
            finally:
                conn.info.pop(_NO_FENCE, None)
            if held != len(lease.names):
                lease.mark_lost()
                raise lease.error()

    def _db_now(self, conn: Connection) -> datetime:
        """The database's clock: workers on several machines compare leases by one clock."""
        if self._sqlite:
            return _now()
        value = conn.execute(select(func.now())).scalar_one()
        return _aware(value) or _now()

    # --- runs --------------------------------------------------------------------------------

    def start_run(self, export: str, *, full: bool, started_by: str | None = None) -> int:
        """Records a run as started; ``started_by`` is "scheduler" or a console user's name."""
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
                    started_by=started_by,
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
                    status=BatchStatus.PREPARED,
                    batch_file=str(batch_file),
                    contacts=contacts,
                    bytes=size,
                )
            )
            row_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if not self._sqlite and batch_file.exists():
                # Shared by several machines: the members file goes into the state, so that
                # another worker commits (or matches) a batch it did not send. (The runner
                # writes it before; a batch without one is only matched if its file is here.)
                conn.execute(
                    insert(batch_members).values(import_row=row_id, data=batch_file.read_bytes())
                )
            return row_id

    def import_submitted(self, row_id: int, import_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == row_id)
                .values(status=BatchStatus.SUBMITTED, import_id=import_id, submitted_at=_now())
            )

    def import_failed(self, row_id: int, error: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == row_id)
                .values(status=BatchStatus.FAILED, error=error, finished_at=_now())
            )
            self._forget_batch(conn, row_id)

    def pending_imports(self, export: str, book_id: int) -> list[PendingImport]:
        """Imports submitted by earlier runs and never committed: poll them, don't resend."""
        with self._read() as conn:
            rows = conn.execute(
                select(imports)
                .where(
                    imports.c.export == export,
                    imports.c.address_book_id == book_id,
                    imports.c.status == BatchStatus.SUBMITTED,
                )
                .order_by(imports.c.id)
            ).mappings()
            return [
                PendingImport(
                    r["id"],
                    r["run_id"],
                    r["seq"],
                    r["import_id"],
                    self._local_batch(conn, r["id"], Path(r["batch_file"])),
                    r["contacts"],
                )
                for r in rows
            ]

    def mark_prepared_possible(self, export: str) -> int:
        """Batches a dead run prepared and may have sent (the import id was never saved): they
        are possibly delivered. Their members are still pending, so the new plan sends those
        still in the segments again; their member files stay, to be matched against the book."""
        with self._tx() as conn:
            result = conn.execute(
                update(imports)
                .where(imports.c.export == export, imports.c.status == BatchStatus.PREPARED)
                .values(status=BatchStatus.POSSIBLE, submitted_at=_now())
            )
        return int(result.rowcount or 0)

    def import_abandoned(self, row_id: int, error: str) -> None:
        """DotDigital refused the batch when it was sent: nothing of it reached the book."""
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == row_id)
                .values(status=BatchStatus.ABANDONED, error=error, finished_at=_now())
            )
            self._forget_batch(conn, row_id)

    def possible_imports(self, exports: Sequence[str], book_id: int) -> list[PossibleImport]:
        with self._tx() as conn:
            rows = conn.execute(
                select(imports.c.id, imports.c.export, imports.c.batch_file, imports.c.submitted_at)
                .where(
                    imports.c.export.in_(list(exports)),
                    imports.c.address_book_id == book_id,
                    imports.c.status == BatchStatus.POSSIBLE,
                )
                .order_by(imports.c.id)
            ).all()
            return [
                PossibleImport(
                    int(r[0]),
                    str(r[1]),
                    self._local_batch(conn, int(r[0]), Path(r[2])),
                    _aware(r[3]) or _now(),
                )
                for r in rows
            ]

    def _local_batch(self, conn: Connection, row_id: int, path: Path) -> Path:
        """The batch's members file on this machine: its own, or (a shared state) a copy of the
        one the state keeps, written to a private folder of this store."""
        if self._sqlite:
            return path
        # Shared: always the state's copy (a path of another machine may name another file).
        data = conn.execute(
            select(batch_members.c.data).where(batch_members.c.import_row == row_id)
        ).scalar()
        if data is None:
            return path  # committed or expired meanwhile; callers skip a missing file
        if self._batch_dir is None:
            self._batch_dir = Path(tempfile.mkdtemp(prefix="dotsync-batches-"))  # 0700
        copy = self._batch_dir / f"batch-{row_id}.parquet"
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(bytes(data))
        return copy

    def _forget_batch(self, conn: Connection, row_id: int) -> None:
        if not self._sqlite:
            conn.execute(delete(batch_members).where(batch_members.c.import_row == row_id))

    def expire_possible(self, row_id: int) -> None:
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == row_id)
                .values(status=BatchStatus.EXPIRED, finished_at=_now())
            )
            self._forget_batch(conn, row_id)

    # --- books and their reads -----------------------------------------------------------------

    def bind_export(self, export: str, book: BookRef) -> BookRef | None:
        """Record that ``export`` writes ``book``. Returns the book it wrote before, if another."""
        with self._tx() as conn:
            row = conn.execute(
                select(export_books.c.account_id, export_books.c.address_book_id).where(
                    export_books.c.export == export
                )
            ).first()
            before = BookRef(str(row[0]), int(row[1])) if row else None
            if before == book:
                return None
            conn.execute(delete(export_books).where(export_books.c.export == export))
            conn.execute(
                insert(export_books).values(
                    export=export, account_id=book.account, address_book_id=book.book_id
                )
            )
        return before

    def book_of(self, export: str) -> BookRef | None:
        with self._tx() as conn:
            row = conn.execute(
                select(export_books.c.account_id, export_books.c.address_book_id).where(
                    export_books.c.export == export
                )
            ).first()
        return BookRef(str(row[0]), int(row[1])) if row else None

    def exports_of(self, book: BookRef) -> list[str]:
        with self._tx() as conn:
            return sorted(
                str(r[0])
                for r in conn.execute(
                    select(export_books.c.export).where(
                        export_books.c.account_id == book.account,
                        export_books.c.address_book_id == book.book_id,
                    )
                )
            )

    def book_read(self, book: BookRef) -> BookRead:
        with self._tx() as conn:
            row = (
                conn.execute(
                    select(book_reads).where(
                        book_reads.c.account_id == book.account,
                        book_reads.c.address_book_id == book.book_id,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return BookRead(None, 0, None, False)
        return BookRead(
            _aware(row["baseline_at"]),
            int(row["baseline_contacts"] or 0),
            _aware(row["changes_from"]),
            row["owners_decided_at"] is not None,
        )

    def record_book_read(
        self,
        book: BookRef,
        *,
        changes_from: datetime,
        baseline_contacts: int | None = None,
        owners_decided: bool = False,
    ) -> None:
        """A read of the book ended: the next one starts at ``changes_from`` (this one's start).
        ``baseline_contacts`` marks it as the baseline read."""
        values: dict[str, Any] = {"changes_from": changes_from}
        if baseline_contacts is not None:
            values |= {"baseline_at": _now(), "baseline_contacts": baseline_contacts}
        if owners_decided:
            values["owners_decided_at"] = _now()
        key = {"account_id": book.account, "address_book_id": book.book_id}
        with self._tx() as conn:
            done = conn.execute(
                update(book_reads)
                .where(
                    book_reads.c.account_id == book.account,
                    book_reads.c.address_book_id == book.book_id,
                )
                .values(**values)
            )
            if not done.rowcount:
                conn.execute(insert(book_reads).values(**key, **values))

    def forget_book_reads(self, book: BookRef) -> None:
        """The book must be read again before it is written (its export moved to it anew)."""
        with self._tx() as conn:
            conn.execute(
                delete(book_reads).where(
                    book_reads.c.account_id == book.account,
                    book_reads.c.address_book_id == book.book_id,
                )
            )

    def commit_import(self, row_id: int) -> None:
        """The import's members are in the member store: mark it committed (a checkpoint)."""
        with self._tx() as conn:
            conn.execute(
                update(imports)
                .where(imports.c.id == row_id)
                .values(status=BatchStatus.COMMITTED, finished_at=_now())
            )
            self._forget_batch(conn, row_id)

    # --- removals ----------------------------------------------------------------------------

    def add_removal(
        self,
        run_id: int,
        export: str,
        book_id: int,
        contact_ids: list[int],
        *,
        kind: str = "remove",
    ) -> int:
        with self._tx() as conn:
            result = conn.execute(
                insert(removals).values(
                    kind=kind,
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
                PendingRemoval(
                    r["id"],
                    r["run_id"],
                    r["deletion_id"],
                    json.loads(r["contact_ids"]),
                    r["kind"] or "remove",
                )
                for r in rows
            ]

    def commit_removal(self, row_id: int) -> None:
        with self._tx() as conn:
            conn.execute(
                update(removals)
                .where(removals.c.id == row_id)
                .values(status=RemovalStatus.COMMITTED, finished_at=_now())
            )

    # --- verifies ------------------------------------------------------------------------------

    def start_verify(self, export: str, book_id: int, *, repair: bool) -> VerifyRecord:
        with self._tx() as conn:
            result = conn.execute(
                insert(verifies).values(
                    export=export,
                    address_book_id=book_id,
                    status="running",
                    repair=repair,
                    started_at=_now(),
                    statuses_recorded=False,
                )
            )
            verify_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        record = self.get_verify(verify_id)
        assert record is not None
        return record

    def finish_verify(
        self,
        verify_id: int,
        status: str,
        *,
        account_id: str | None,
        report: str | None,
        error: str | None = None,
        statuses_recorded: bool = False,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                update(verifies)
                .where(verifies.c.id == verify_id)
                .values(
                    status=status,
                    account_id=account_id,
                    finished_at=_now(),
                    report=report,
                    error=error,
                    statuses_recorded=statuses_recorded,
                )
            )

    def statuses_recorded_at(self, book: BookRef) -> datetime | None:
        """When the last verify that recorded the book's unsubscribes and suppressions started."""
        with self._read() as conn:
            value = conn.execute(
                select(func.max(verifies.c.started_at)).where(
                    verifies.c.account_id == book.account,
                    verifies.c.address_book_id == book.book_id,
                    verifies.c.statuses_recorded.is_(True),
                )
            ).scalar()
        return _aware(value)

    def get_verify(self, verify_id: int) -> VerifyRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(select(verifies).where(verifies.c.id == verify_id)).mappings().first()
            )
        return _verify_record(row) if row else None

    def list_verifies(self, export: str | None = None, limit: int = 50) -> list[VerifyRecord]:
        query = select(verifies).order_by(verifies.c.id.desc()).limit(limit)
        if export:
            query = query.where(verifies.c.export == export)
        with self._read() as conn:
            return [_verify_record(r) for r in conn.execute(query).mappings()]

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
            conn.execute(delete(verifies).where(verifies.c.export == export))
            # Its locks held now (by this removal) stay until released, then free rows.
            conn.execute(delete(locks).where(locks.c.export == export, locks.c.holder.is_(None)))
            conn.execute(delete(export_books).where(export_books.c.export == export))
            self.pulls.forget(conn, export)
        return files + self.members.drop(export)


def _holder(row: Any) -> str:
    """Who holds a lock, for a person: the run, or that it is starting (no run id yet)."""
    since = _aware(row["acquired_at"])
    where = f"pid {row['pid']} on {row['host']}, since {since:%Y-%m-%d %H:%M:%S} UTC"
    if row["run_id"] is None:
        return f"export {row['export']!r} is starting (no run recorded yet; {where})"
    return f"export {row['export']!r} is running (run {row['run_id']}, {where})"


def _is_free(row: Any, host: str, now: datetime) -> bool:
    """A lock may be taken: released, its lease expired, or its holder a dead process of this
    host (no need to wait for the lease on one machine)."""
    if row["holder"] is None and int(row["fence"] or 0) > 0:
        return True  # released
    expires = _aware(row["expires_at"])
    if expires is not None and expires < now:
        return True
    if expires is None:  # taken by a dotsync before leases: its heartbeat says
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


def _verify_record(row: Any) -> VerifyRecord:
    return VerifyRecord(
        verify_id=int(row["id"]),
        export=str(row["export"]),
        address_book_id=int(row["address_book_id"]),
        status=str(row["status"]),
        repair=bool(row["repair"]),
        started_at=_aware(row["started_at"]) or row["started_at"],
        finished_at=_aware(row["finished_at"]),
        report=row["report"],
        error=row["error"],
    )


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
        started_by=row["started_by"],
    )
