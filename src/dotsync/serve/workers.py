"""Several ``dotsync serve`` workers sharing one state (PostgreSQL): who is alive, and which
worker runs each due tick.

A tick is one cron slot of one scheduled job (an export, a verify, a pull). A worker claims it by
inserting its row (the key is the job and the slot, so one worker wins); it runs it and marks it
done. A worker that dies (or is paused past its lease) stops renewing its heartbeat; a tick it
held is then free, and another worker takes it over and runs the job again: the runner resumes
from the dead run's checkpoints, and that run counts as the tick's run. A tick given back (the run
found its account busy on another worker, or this worker stops) is free at once.

Thin I/O over two tables of the state (``serve_workers``, ``serve_ticks``); every time compared is
the database's, so the workers' clocks need not agree."""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from dotsync.state.leases import new_holder
from dotsync.state.migrate import upgrade_schema
from dotsync.state.schema import locks, serve_ticks, serve_workers
from dotsync.state.store import open_engine
from dotsync.state.transactions import write_transaction

log = logging.getLogger(__name__)

RUNNING, DONE = "running", "done"


@dataclass(frozen=True)
class WorkerInfo:
    worker: str
    host: str
    pid: int
    running: list[str]


@dataclass(frozen=True)
class Tick:
    job: str
    at: datetime


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class SharedTicks:
    """This worker's view of the shared schedule. ``worker`` is host:pid:random."""

    def __init__(self, url: str, *, lease_seconds: float, worker: str | None = None) -> None:
        self.engine: Engine = open_engine(url)
        upgrade_schema(self.engine)
        self.worker = worker or new_holder()
        self.lease = timedelta(seconds=lease_seconds)
        self.lease_seconds = lease_seconds
        self._started = datetime.now(UTC)

    def close(self) -> None:
        self.engine.dispose()

    # --- the workers -------------------------------------------------------------------------

    def heartbeat(self, running: list[str]) -> None:
        """This worker is alive for one more lease, running ``running``."""
        with write_transaction(self.engine) as conn:
            now = conn.execute(select(func.now())).scalar_one()
            values = {
                "expires_at": now + self.lease,
                "running": json.dumps(sorted(running)),
            }
            done = conn.execute(
                update(serve_workers).where(serve_workers.c.worker == self.worker).values(**values)
            )
            if not done.rowcount:
                conn.execute(
                    insert(serve_workers).values(
                        worker=self.worker,
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        started_at=now,
                        **values,
                    )
                )

    def leave(self) -> None:
        """This worker stops: its row goes (what it held is given back by the service first)."""
        with write_transaction(self.engine) as conn:
            conn.execute(delete(serve_workers).where(serve_workers.c.worker == self.worker))

    def workers(self) -> list[WorkerInfo]:
        """The workers alive now, and what each runs."""
        with write_transaction(self.engine) as conn:
            rows = conn.execute(
                select(serve_workers)
                .where(serve_workers.c.expires_at > func.now())
                .order_by(serve_workers.c.worker)
            ).mappings()
            return [
                WorkerInfo(r["worker"], r["host"], int(r["pid"]), list(json.loads(r["running"])))
                for r in rows
            ]

    def held_locks(self) -> set[str]:
        """The locks some run holds now, on any worker (a lease not passed): their exports and
        accounts are busy, so no tick of theirs is claimed only to find them so."""
        with write_transaction(self.engine) as conn:
            return {
                str(name)
                for (name,) in conn.execute(
                    select(locks.c.name).where(
                        locks.c.holder.is_not(None), locks.c.expires_at > func.now()
                    )
                )
            }

    # --- the ticks ---------------------------------------------------------------------------

    def last_ticks(self) -> dict[str, datetime]:
        """Each job's latest tick claimed by any worker: the schedule moves past it."""
        with write_transaction(self.engine) as conn:
            rows = conn.execute(
                select(serve_ticks.c.job, func.max(serve_ticks.c.tick_at)).group_by(
                    serve_ticks.c.job
                )
            ).all()
        return {str(job): _aware(at) for job, at in rows}

    def claim(self, tick: Tick) -> bool:
        """True if this worker won the tick (no other worker claimed it before)."""
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(
                    insert(serve_ticks).values(
                        job=tick.job,
                        tick_at=tick.at,
                        holder=self.worker,
                        status=RUNNING,
                        claimed_at=func.now(),
                        attempts=1,
                        workers=self.worker,
                    )
                )
        except IntegrityError:
            return False
        return True

    def orphans(self) -> list[Tick]:
        """Ticks being run by no live worker: given back, or their worker's heartbeat passed."""
        alive = select(serve_workers.c.worker).where(serve_workers.c.expires_at > func.now())
        with write_transaction(self.engine) as conn:
            rows = conn.execute(
                select(serve_ticks.c.job, serve_ticks.c.tick_at)
                .where(
                    serve_ticks.c.status == RUNNING,
                    or_(serve_ticks.c.holder.is_(None), serve_ticks.c.holder.not_in(alive)),
                )
                .order_by(serve_ticks.c.tick_at)
            ).all()
        return [Tick(str(job), _aware(at)) for job, at in rows]

    def take_over(self, tick: Tick) -> bool:
        """Takes a free tick (compare-and-set: one worker wins it)."""
        alive = select(serve_workers.c.worker).where(serve_workers.c.expires_at > func.now())
        with write_transaction(self.engine) as conn:
            done = conn.execute(
                update(serve_ticks)
                .where(
                    self._key(tick),
                    serve_ticks.c.status == RUNNING,
                    or_(serve_ticks.c.holder.is_(None), serve_ticks.c.holder.not_in(alive)),
                )
                .values(
                    holder=self.worker,
                    attempts=serve_ticks.c.attempts + 1,
                    workers=serve_ticks.c.workers + " " + self.worker,
                )
            )
        taken = bool(done.rowcount)
        if taken:
            log.info(
                "tick %s of %s taken (given back, or its worker gone)",
                tick.at.isoformat(),
                tick.job,
            )
        return taken

    def finish(self, tick: Tick, run_status: str, run_id: int | None = None) -> None:
        """The tick's run ended (succeeded, partial, failed, cancelled): the tick is done. Also
        if it was given back meanwhile (taken over by a worker that found the run's lock held
        and gave it back): it was run all the same."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(serve_ticks)
                .where(
                    self._key(tick),
                    serve_ticks.c.status == RUNNING,
                    or_(serve_ticks.c.holder == self.worker, serve_ticks.c.holder.is_(None)),
                )
                .values(status=DONE, finished_at=func.now(), run_status=run_status, run_id=run_id)
            )

    def give_back(self, tick: Tick) -> None:
        """Not run to its end here (its account busy elsewhere, or this worker stops): free."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(serve_ticks)
                .where(self._key(tick), serve_ticks.c.holder == self.worker)
                .values(holder=None)
            )

    @staticmethod
    def _key(tick: Tick) -> ColumnElement[bool]:
        return and_(serve_ticks.c.job == tick.job, serve_ticks.c.tick_at == tick.at)
