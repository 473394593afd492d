"""One export run, end to end: lock, connect, resume, read, validate, read the book, plan, guard,
leave, send, commit. The stages are modules of ``dotsync.stages``; this module runs them in order
and records the run.

``run_export`` is the public entry point (the CLI, the scheduler and orchestrators call it)."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx

from dotsync import tables
from dotsync.config import Config, require_privacy_ack
from dotsync.delivery import Deliverer, DeliveryTotals
from dotsync.dotdigital import CallStats, DotDigitalClient
from dotsync.errors import DotsyncError, InterruptedRunError, LeaseLostError
from dotsync.live import LIVE_FILE, LiveRecorder
from dotsync.ownership import shared_book_conflicts
from dotsync.plan import sample
from dotsync.rejects import purge_old_rejects, write_rejects
from dotsync.result import RunCounts, RunResult, RunStatus
from dotsync.stages.context import ProgressFn, RunContext
from dotsync.stages.leave import LeaveStage
from dotsync.stages.prepare import book_reader, prepare
from dotsync.stages.resume import resume
from dotsync.stages.send import send
from dotsync.state import BookRef, StateStore
from dotsync.state.locks import account_id_lock
from dotsync.state.mirror import mirrored_members

__all__ = ["DryRun", "ProgressFn", "plan_export", "run_export"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DryRun:
    """What ``dotsync plan`` shows: counts and a sample, nothing written to DotDigital."""

    counts: RunCounts
    enter_sample: list[tuple[str, str]]
    leave_sample: list[tuple[str, str]]
    reject_sample: list[tuple[str, str]]
    mass_removal: str | None = None  # why a run would stop before removing anyone, if it would
    book_change: str | None = None  # the export's address book changed since its last run
    # other exports of the same book that map one of its data fields differently
    shared_book_conflicts: list[str] = field(default_factory=list)


def run_export(
    config: Config,
    name: str,
    *,
    full: bool = False,
    stop: threading.Event | None = None,
    progress: ProgressFn | None = None,
    http_client: httpx.Client | None = None,
    on_imports_in_flight: Callable[[int], None] | None = None,
    allow_mass_removal: bool = False,
    move_book: bool = False,
    started_by: str | None = None,
) -> RunResult:
    """Run the export ``name`` once (``started_by``, recorded on the run, says who asked:
    "scheduler" or a console user's name). Raises a :class:`~dotsync.errors.DotsyncError`
    subclass on failure (the run is recorded as failed and the next run resumes); a ``stop``
    request ends the run at its next checkpoint with status ``interrupted``. A run that would
    remove more members
    than the export's ``max_removal_fraction`` allows raises
    :class:`~dotsync.errors.MassRemovalError` before removing or sending anything, unless
    ``allow_mass_removal`` (for this one run). When the export's address book changed since its
    last run, it raises :class:`~dotsync.errors.BookChangedError` before sending anything, unless
    ``move_book``: then everyone is exported to the new book, and what dotsync added to the old
    one (and no other export of it holds) is removed from it."""
    job = _Job(
        config,
        name,
        full=full,
        stop=stop,
        progress=progress,
        http_client=http_client,
        on_imports_in_flight=on_imports_in_flight,
        allow_mass_removal=allow_mass_removal,
        move_book=move_book,
        started_by=started_by,
    )
    return job.run()


def plan_export(
    config: Config, name: str, *, full: bool = False, http_client: httpx.Client | None = None
) -> DryRun:
    """A dry run: reads and checks everything, calls DotDigital only to read, writes nothing."""
    job = _Job(config, name, full=full, stop=None, progress=None, http_client=http_client)
    return job.dry_run()


class _Job:
    """Runs the stages in order and records the run (each stage in ``dotsync.stages``)."""

    def __init__(
        self,
        config: Config,
        name: str,
        *,
        full: bool,
        stop: threading.Event | None,
        progress: ProgressFn | None,
        http_client: httpx.Client | None,
        on_imports_in_flight: Callable[[int], None] | None = None,
        allow_mass_removal: bool = False,
        move_book: bool = False,
        started_by: str | None = None,
    ) -> None:
        self.started_by = started_by
        self.ctx = RunContext(config, name, full=full, http_client=http_client)
        if stop is not None:
            self.ctx.stop = stop
        if progress is not None:
            self.ctx.progress = progress
        self.allow_mass_removal = allow_mass_removal
        self.move_book = move_book
        self.on_imports_in_flight = on_imports_in_flight or (lambda _n: None)

    # --- the two entry points -------------------------------------------------------------------

    def run(self) -> RunResult:
        ctx = self.ctx
        require_privacy_ack(ctx.export.connection, ctx.connection)
        with StateStore(ctx.config.state.url) as store:
            known = store.book_of(ctx.name)
            if known is not None and known.account != ctx.url_account:
                # The account as DotDigital names it, known from an earlier run: taken before any
                # call, so two API users of one account never run at once.
                ctx.lock_names.append(account_id_lock(known.account))
            lease = ctx.config.serve.lease_seconds
            store.acquire_locks(ctx.lock_names, ctx.name, lease_seconds=lease, on_lost=ctx.stop.set)
            owned: httpx.Client | None = None
            if ctx.http_client is None:
                # No call to DotDigital once the lease is not known to be ours (a worker paused
                # past it and taken over must not call for an account another worker runs).
                def before_call(request: httpx.Request) -> None:
                    store.check_leases()
                    if ctx.run_id is not None:  # for DotDigital's support (and the emulator)
                        request.headers["X-Dotsync-Run"] = str(ctx.run_id)

                owned = httpx.Client(follow_redirects=False, event_hooks={"request": [before_call]})
                ctx.http_client = owned
            try:
                with mirrored_members(store, ctx.config, ctx.name):
                    return self._run_locked(store)
            finally:
                store.release_locks(ctx.lock_names)
                if owned is not None:
                    owned.close()
                    ctx.http_client = None

    def dry_run(self) -> DryRun:
        ctx = self.ctx
        with StateStore(ctx.config.state.url) as store, ExitStack() as stack:
            client = stack.enter_context(ctx.client())
            duck = stack.enter_context(ctx.duck(None))
            create = ctx.export.create_missing_data_fields
            report = ctx.connect(client, create_missing=create, dry_run=True)
            reader = book_reader(ctx, store, duck, report, run_id=0, client=None)
            reader.register()  # a dry run reads the ledger as it is, and writes nothing
            counts, _fields = prepare(ctx, duck, store, report, reader, dry_run=True)
            leave = LeaveStage(ctx, store)
            return DryRun(
                counts=counts.model_copy(update=_call_counts(ctx.stats)),
                enter_sample=sample(duck, tables.TO_SEND),
                leave_sample=sample(duck, tables.TO_LEAVE),
                reject_sample=[
                    (str(k), str(r))
                    for k, r in duck.execute(
                        f"select key, reason from {tables.MEMBERS_REJECTED} order by key limit 5"
                    ).fetchall()
                ],
                mass_removal=leave.mass_removal(duck, counts, planning=True),
                book_change=leave.book_change(ctx.book(report)),
                shared_book_conflicts=shared_book_conflicts(ctx.config, ctx.name),
            )

    # --- the run --------------------------------------------------------------------------------

    def _run_locked(self, store: StateStore) -> RunResult:
        ctx = self.ctx
        run_id = store.start_run(ctx.name, full=ctx.full, started_by=self.started_by)
        ctx.run_id = run_id
        store.set_lock_run(ctx.lock_names, run_id)
        counts = RunCounts()
        totals = DeliveryTotals()
        resumed = removed = unsubscribed = 0
        rejects_file: Path | None = None
        run_dir = ctx.run_dir(run_id)
        # Where the run stands, for the console's run page (counts only).
        live = LiveRecorder(run_dir / LIVE_FILE)
        ctx.progress = live.chained(ctx.progress)
        in_flight = self.on_imports_in_flight

        def imports_in_flight(n: int) -> None:
            live.in_flight(n)
            in_flight(n)

        self.on_imports_in_flight = imports_in_flight
        leave = LeaveStage(
            ctx, store, allow_mass_removal=self.allow_mass_removal, move_book=self.move_book
        )
        try:
            with ExitStack() as stack:
                client = stack.enter_context(ctx.client())
                duck = stack.enter_context(ctx.duck(run_dir))
                purge_old_rejects(ctx.rejects_dir(), ctx.config.state.rejects_retention_days)
                ctx.progress("connect", 0, 1)
                create = ctx.export.create_missing_data_fields
                report = ctx.connect(client, create_missing=create)
                ctx.progress("connect", 1, 1)
                self._lock_account_id(store, report.account_id, run_id)
                book = ctx.book(report)
                moved_from = leave.moved_from(book)
                deliverer = self._deliverer(client, store, run_id, totals, book, duck)
                resumed = resume(ctx, store, deliverer, run_id)
                reader = book_reader(ctx, store, duck, report, run_id=run_id, client=client)
                reader.start()
                counts, fields = prepare(ctx, duck, store, report, reader)
                leave.check_mass_removal(duck, counts)
                # Leavers first: the old contact of a changed e-mail is known only until the
                # import of the new e-mail commits (it replaces the member's contact id), so
                # removing it afterwards would lose it to a crash in between.
                removed, unsubscribed = leave.leave(duck, deliverer, book)
                send(ctx, duck, deliverer, fields, run_dir)
                if moved_from is not None:
                    left_behind = leave.finish_move(client, moved_from, book)
                    counts = counts.model_copy(update={"removed_from_previous_book": left_behind})
                rejects_file = write_rejects(duck, ctx.rejects_dir(), ctx.name, run_id)
        except LeaseLostError:
            raise  # another worker took the run over: it records it, this one writes nothing
        except BaseException as exc:
            # Recorded whatever happened, with what was done so far; the next run resumes.
            interrupted = isinstance(exc, InterruptedRunError)
            error = (
                str(exc)
                if isinstance(exc, DotsyncError)
                else f"unexpected error: {type(exc).__name__}"
            )
            try:
                store.finish_run(
                    run_id,
                    RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED,
                    _final_counts(counts, totals, removed, unsubscribed, ctx.stats),
                    error=error,
                    resumed_imports=resumed,
                )
            except LeaseLostError as lost:
                raise lost from exc  # the stop was the lease's loss: nothing more is written
            raise
        counts = _final_counts(counts, totals, removed, unsubscribed, ctx.stats)
        status = (
            RunStatus.PARTIAL
            if counts.rejected or counts.suppressed or counts.failed
            else RunStatus.SUCCEEDED
        )
        result = store.finish_run(
            run_id, status, counts, rejects_file=rejects_file, resumed_imports=resumed
        )
        shutil.rmtree(run_dir, ignore_errors=True)
        return result

    def _lock_account_id(self, store: StateStore, account_id: str | None, run_id: int) -> None:
        """The account's id, once DotDigital said it (a first run): its lock too."""
        ctx = self.ctx
        if not account_id or account_id_lock(account_id) in ctx.lock_names:
            return
        name = account_id_lock(account_id)
        lease = ctx.config.serve.lease_seconds
        store.acquire_locks([name], ctx.name, lease_seconds=lease, on_lost=ctx.stop.set)
        ctx.lock_names.append(name)
        store.set_lock_run([name], run_id)

    def _deliverer(
        self,
        client: DotDigitalClient,
        store: StateStore,
        run_id: int,
        totals: DeliveryTotals,
        book: BookRef,
        duck: duckdb.DuckDBPyConnection,
    ) -> Deliverer:
        ctx = self.ctx
        return Deliverer(
            book=book,
            client=client,
            store=store,
            duck=duck,
            export=ctx.name,
            book_id=ctx.book_id,
            run_id=run_id,
            totals=totals,
            should_stop=ctx.stop.is_set,
            heartbeat=lambda: store.heartbeat(ctx.lock_names),
            on_in_flight=self.on_imports_in_flight,
        )


def _final_counts(
    counts: RunCounts, totals: DeliveryTotals, removed: int, unsubscribed: int, stats: CallStats
) -> RunCounts:
    rejected_by_reason = dict(counts.rejected_by_reason)
    for reason, n in totals.failure_reasons.items():
        rejected_by_reason[reason] = rejected_by_reason.get(reason, 0) + n
    return counts.model_copy(
        update={
            "sent": totals.sent,
            "created": totals.created,
            "updated": totals.updated,
            "suppressed": totals.suppressed,
            "failed": totals.failed,
            "removed": removed,
            "unsubscribed": unsubscribed,
            "bytes_uploaded": totals.bytes_uploaded,
            "imports": totals.imports,
            "rejected_by_reason": rejected_by_reason,
            **_call_counts(stats),
        }
    )


def _call_counts(stats: CallStats) -> dict[str, Any]:
    """The DotDigital calls made so far, as RunCounts fields (a run's and a dry run's alike)."""
    snap = stats.snapshot()
    return {
        "api_calls": snap.total_calls,
        "api_calls_by_endpoint": snap.calls,
        "rate_limited_by_endpoint": snap.rate_limited,
        "retries": snap.total_retries,
    }
