""" "Run now" and "Cancel", asked in the console and recorded in the state, so that whichever
``dotsync serve`` process runs exports acts on them (several may share one state).

A request is pending until a process takes it (``taken_by``, ``taken_at``), then finished with an
outcome: for a run, the run's status (or ``cancelled`` before it started, ``already_running``,
``unknown_export``); for a cancel, ``cancelled`` (the run stopped at its next checkpoint),
``cancelled_before_start`` or ``not_running``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, RowMapping, insert, select, update

from dotsync.result import RunStatus
from dotsync.state.schema import run_requests, runs
from dotsync.state.transactions import read_transaction, write_transaction


class RequestKind(StrEnum):
    RUN = "run"
    CANCEL = "cancel"


class RequestOutcome(StrEnum):
    """Outcomes that are not a run's status."""

    CANCELLED = "cancelled"
    CANCELLED_BEFORE_START = "cancelled_before_start"
    NOT_RUNNING = "not_running"
    ALREADY_RUNNING = "already_running"
    UNKNOWN_EXPORT = "unknown_export"


@dataclass(frozen=True)
class RunRequest:
    id: int
    export: str
    kind: RequestKind
    requested_by: str
    requested_at: datetime
    taken_by: str | None = None
    taken_at: datetime | None = None
    run_id: int | None = None
    outcome: str | None = None
    finished_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.taken_at is None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def worker_name() -> str:
    """Who takes a request: this process (host:pid), as the runs' locks name it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _request(row: RowMapping) -> RunRequest:
    return RunRequest(
        id=int(row["id"]),
        export=row["export"],
        kind=RequestKind(row["kind"]),
        requested_by=row["requested_by"],
        requested_at=_aware(row["requested_at"]) or _now(),
        taken_by=row["taken_by"],
        taken_at=_aware(row["taken_at"]),
        run_id=row["run_id"],
        outcome=row["outcome"],
        finished_at=_aware(row["finished_at"]),
    )


class RunRequests:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def request(self, export: str, kind: RequestKind, requested_by: str) -> int:
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                insert(run_requests).values(
                    export=export, kind=kind.value, requested_by=requested_by, requested_at=_now()
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def get(self, request_id: int) -> RunRequest | None:
        with read_transaction(self.engine) as conn:
            row = conn.execute(select(run_requests).where(run_requests.c.id == request_id))
            found = row.mappings().first()
        return _request(found) if found else None

    def recent(self, export: str | None = None, limit: int = 20) -> list[RunRequest]:
        query = select(run_requests).order_by(run_requests.c.id.desc()).limit(limit)
        if export is not None:
            query = query.where(run_requests.c.export == export)
        with read_transaction(self.engine) as conn:
            return [_request(row) for row in conn.execute(query).mappings()]

    def take_runs(self, worker: str) -> list[RunRequest]:
        """Takes every pending run request for this process, oldest first."""
        with write_transaction(self.engine) as conn:
            pending = self._pending(conn, RequestKind.RUN)
            for request in pending:
                self._take(conn, request.id, worker)
        return [self.get(r.id) or r for r in pending]

    def take_cancels(self, worker: str, here: Collection[str]) -> list[RunRequest]:
        """Takes the pending cancels of exports running or queued ``here``; closes as
        ``not_running`` those of exports that no process is running (no ``running`` run in the
        state); leaves the others to the process that runs them."""
        taken: list[RunRequest] = []
        with write_transaction(self.engine) as conn:
            for request in self._pending(conn, RequestKind.CANCEL):
                if request.export in here:
                    self._take(conn, request.id, worker)
                    taken.append(request)
                elif not self._running_anywhere(conn, request.export):
                    self._take(conn, request.id, worker)
                    self._finish(conn, request.id, RequestOutcome.NOT_RUNNING, None)
        return taken

    def finish(self, request_id: int, outcome: str, run_id: int | None = None) -> None:
        with write_transaction(self.engine) as conn:
            self._finish(conn, request_id, outcome, run_id)

    def set_run(self, request_id: int, run_id: int) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(run_requests).where(run_requests.c.id == request_id).values(run_id=run_id)
            )

    def note_cancelled_run(self, export: str, since: datetime, cancelled_by: str) -> int | None:
        """Marks the run of ``export`` this process started at or after ``since`` as cancelled by
        ``cancelled_by``; returns its id (none if it never recorded a run)."""
        with write_transaction(self.engine) as conn:
            row = conn.execute(
                select(runs.c.id, runs.c.error)
                .where(
                    runs.c.export == export,
                    runs.c.host == socket.gethostname(),
                    runs.c.pid == os.getpid(),
                    runs.c.started_at >= since,
                )
                .order_by(runs.c.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            note = f"cancelled by {cancelled_by} in the console"
            error = f"{note}: {row[1]}" if row[1] else note
            conn.execute(update(runs).where(runs.c.id == row[0]).values(error=error))
            return int(row[0])

    def latest_run_of(self, export: str, since: datetime) -> int | None:
        """The run of ``export`` this process started at or after ``since``, if it recorded one."""
        with read_transaction(self.engine) as conn:
            row = conn.execute(
                select(runs.c.id)
                .where(
                    runs.c.export == export,
                    runs.c.host == socket.gethostname(),
                    runs.c.pid == os.getpid(),
                    runs.c.started_at >= since,
                )
                .order_by(runs.c.id.desc())
                .limit(1)
            ).first()
        return int(row[0]) if row else None

    @staticmethod
    def _pending(conn: Connection, kind: RequestKind) -> list[RunRequest]:
        rows = conn.execute(
            select(run_requests)
            .where(run_requests.c.taken_at.is_(None), run_requests.c.kind == kind.value)
            .order_by(run_requests.c.id)
        )
        return [_request(row) for row in rows.mappings()]

    @staticmethod
    def _take(conn: Connection, request_id: int, worker: str) -> None:
        conn.execute(
            update(run_requests)
            .where(run_requests.c.id == request_id)
            .values(taken_by=worker, taken_at=_now())
        )

    @staticmethod
    def _finish(conn: Connection, request_id: int, outcome: str, run_id: int | None) -> None:
        values: dict[str, object] = {"outcome": outcome, "finished_at": _now()}
        if run_id is not None:
            values["run_id"] = run_id
        conn.execute(update(run_requests).where(run_requests.c.id == request_id).values(**values))

    @staticmethod
    def _running_anywhere(conn: Connection, export: str) -> bool:
        row = conn.execute(
            select(runs.c.id)
            .where(runs.c.export == export, runs.c.status == RunStatus.RUNNING.value)
            .limit(1)
        ).first()
        return row is not None
