"""One export run, end to end: lock, resume, connect, read, validate, plan, send, remove, commit.

``run_export`` is the public entry point (the CLI, the scheduler and orchestrators call it)."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx

from dotsync import keys, mapping
from dotsync.config import Config, ExportConfig, require_privacy_ack
from dotsync.connect import ConnectionReport, check_connection, open_client
from dotsync.delivery import Deliverer, DeliveryTotals
from dotsync.dotdigital import CallStats, DotDigitalClient
from dotsync.encode import EncodeOptions, encode_batches
from dotsync.errors import DotsyncError, InterruptedRunError, LimitExceededError
from dotsync.plan import PlanCounts, make_plan, sample
from dotsync.rejects import purge_old_rejects, write_rejects
from dotsync.result import RunCounts, RunResult, RunStatus
from dotsync.sources import open_source
from dotsync.state import StateStore
from dotsync.state.locks import run_locks

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
DUCKDB_MEMORY_LIMIT = "300MB"


@dataclass(frozen=True)
class DryRun:
    """What ``dotsync plan`` shows: counts and a sample, nothing written to DotDigital."""

    counts: RunCounts
    enter_sample: list[tuple[str, str]]
    leave_sample: list[tuple[str, str]]
    reject_sample: list[tuple[str, str]]


def run_export(
    config: Config,
    name: str,
    *,
    full: bool = False,
    stop: threading.Event | None = None,
    progress: ProgressFn | None = None,
    http_client: httpx.Client | None = None,
    on_imports_in_flight: Callable[[int], None] | None = None,
) -> RunResult:
    """Run the export ``name`` once. Raises a :class:`~dotsync.errors.DotsyncError` subclass on
    failure (the run is recorded as failed and the next run resumes); a ``stop`` request ends the
    run at its next checkpoint with status ``interrupted``."""
    job = _Job(
        config,
        name,
        full=full,
        stop=stop,
        progress=progress,
        http_client=http_client,
        on_imports_in_flight=on_imports_in_flight,
    )
    return job.run()


def plan_export(
    config: Config, name: str, *, full: bool = False, http_client: httpx.Client | None = None
) -> DryRun:
    """A dry run: reads and checks everything, calls DotDigital only to read, writes nothing."""
    job = _Job(config, name, full=full, stop=None, progress=None, http_client=http_client)
    return job.dry_run()


class _Job:
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
    ) -> None:
        self.config = config
        self.on_imports_in_flight = on_imports_in_flight or (lambda _n: None)
        self.name = name
        self.export: ExportConfig = config.find_export(name)
        self.connection = config.connections[self.export.connection]
        self.full = full
        self.stop = stop or threading.Event()
        self.progress = progress or (lambda _stage, _done, _total: None)
        self.http_client = http_client
        self.stats = CallStats()
        self.book_id = int(self.connection.address_book_id)
        self.work_dir = Path(config.state.work_dir)
        self.lock_names = run_locks(name, str(self.connection.api_url), self.connection.api_user)

    # --- the two entry points -------------------------------------------------------------------

    def run(self) -> RunResult:
        require_privacy_ack(self.export.connection, self.connection)
        with StateStore(self.config.state.url) as store:
            store.acquire_locks(self.lock_names, self.name)
            try:
                return self._run_locked(store)
            finally:
                store.release_locks(self.lock_names)

    def dry_run(self) -> DryRun:
        with StateStore(self.config.state.url) as store, ExitStack() as stack:
            client = stack.enter_context(self._client())
            duck = stack.enter_context(self._duck(None))
            create = self.export.create_missing_data_fields
            report = self._connect(client, create_missing=create, dry_run=True)
            counts, _fields = self._prepare(duck, store, report, dry_run=True)
            return DryRun(
                counts=counts,
                enter_sample=sample(duck, "to_send"),
                leave_sample=sample(duck, "to_leave"),
                reject_sample=[
                    (str(k), str(r))
                    for k, r in duck.execute(
                        "select key, reason from members_rejected order by key limit 5"
                    ).fetchall()
                ],
            )

    # --- the run --------------------------------------------------------------------------------

    def _run_locked(self, store: StateStore) -> RunResult:
        run_id = store.start_run(self.name, full=self.full)
        store.set_lock_run(self.lock_names, run_id)
        counts = RunCounts()
        totals = DeliveryTotals()
        resumed = removed = unsubscribed = 0
        rejects_file: Path | None = None
        run_dir = self.work_dir / "runs" / f"{self.name}-{run_id}"
        try:
            with ExitStack() as stack:
                client = stack.enter_context(self._client())
                duck = stack.enter_context(self._duck(run_dir))
                purge_old_rejects(self._rejects_dir(), self.config.state.rejects_retention_days)
                self.progress("connect", 0, 1)
                create = self.export.create_missing_data_fields
                report = self._connect(client, create_missing=create)
                self.progress("connect", 1, 1)
                deliverer = self._deliverer(client, store, duck, run_id, totals)
                resumed = self._resume(store, deliverer, run_id)
                counts, fields = self._prepare(duck, store, report)
                # Leavers first: the old contact of a changed e-mail is known only until the
                # import of the new e-mail commits (it replaces the member's contact id), so
                # removing it afterwards would lose it to a crash in between.
                removed, unsubscribed = self._leave(duck, store, deliverer, client)
                self._send(duck, deliverer, fields, run_dir)
                rejects_file = write_rejects(duck, self._rejects_dir(), self.name, run_id)
        except BaseException as exc:
            # Recorded whatever happened, with what was done so far; the next run resumes.
            interrupted = isinstance(exc, InterruptedRunError)
            error = (
                str(exc)
                if isinstance(exc, DotsyncError)
                else f"unexpected error: {type(exc).__name__}"
            )
            store.finish_run(
                run_id,
                RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED,
                _final_counts(counts, totals, removed, unsubscribed, self.stats),
                error=error,
                resumed_imports=resumed,
            )
            raise
        counts = _final_counts(counts, totals, removed, unsubscribed, self.stats)
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

    def _resume(self, store: StateStore, deliverer: Deliverer, run_id: int) -> int:
        """Finish what an interrupted run left: poll its imports, finish its removals."""
        for stale in self.work_dir.glob("runs/*"):
            if stale.name != f"{self.name}-{run_id}" and stale.name.startswith(f"{self.name}-"):
                for body in stale.glob("batch-*.json*"):
                    body.unlink(missing_ok=True)  # unsent bodies hold personal data
        for path in store.abandon_prepared_imports(self.name):
            path.unlink(missing_ok=True)
        pending = store.pending_imports(self.name, self.book_id)
        resumed = 0
        if pending:
            log.info("resuming %d imports of an interrupted run", len(pending))
            self.progress("resume", 0, len(pending))
            resumed = deliverer.resume(pending)
            self.progress("resume", len(pending), len(pending))
        deliverer.resume_removals()
        for old in store.unfinished_runs(self.name, except_run=run_id):
            store.mark_run_interrupted(old, f"interrupted; resumed by run {run_id}")
        return resumed

    def _prepare(
        self,
        duck: duckdb.DuckDBPyConnection,
        store: StateStore,
        report: ConnectionReport,
        *,
        dry_run: bool = False,
    ) -> tuple[RunCounts, list[mapping.MappedField]]:
        """Read the segments' members, validate them and plan against the state."""
        email_column, fields = mapping.plan_columns(self.export.mapping, report.data_fields)
        columns = [email_column, *[f.column for f in fields]]
        source = open_source(self.config.source)
        try:
            segments = {s: self.config.segments[s] for s in self.export.segments}
            self.progress("read", 0, 1)
            sizes = source.load_members(duck, segments, columns)
        finally:
            source.close()
        self.progress("read", 1, 1)
        row = duck.execute("select count(*) from members_raw").fetchone()
        profiles = int(row[0]) if row else 0
        if profiles > self.export.max_profiles:
            listing = ", ".join(f"{k}: {v:,}" for k, v in sizes.items())
            raise LimitExceededError(
                f"export {self.name!r} holds {profiles:,} profiles ({listing}), more than "
                f"max_profiles = {self.export.max_profiles:,}: nothing was sent. Narrow the "
                "segments or raise max_profiles if your DotDigital contract allows it"
            )
        self.progress("validate", 0, profiles)
        summary = mapping.validate(
            duck,
            0,
            fields,
            send_empty_values=self.export.send_empty_values,
            mapping_version=mapping.mapping_version(self.export.mapping, fields),
        )
        self.progress("validate", profiles, profiles)
        store.members.register(duck, self.name, self.book_id)
        plan: PlanCounts = make_plan(duck, full=self.full)
        # Keys 0.1 stored as numbers (00123 as 123) take their written form, so that upgrading
        # does not make those members leave and enter again; looked for among the plan's leavers
        # and enterers only, when there are both. A dry run only plans with the new keys.
        renamed = keys.rewritten_keys(duck, after_plan=True) if plan.left and plan.entered else []
        if renamed:
            log.info("%d stored key(s) take the form written in the source", len(renamed))
            keys.rename_in_run(duck, renamed)
            if not dry_run:
                store.members.rename_keys(self.name, self.book_id, renamed)
            plan = make_plan(duck, full=self.full)
        counts = RunCounts(
            profiles_in_segments=profiles,
            segment_sizes=dict(sizes),
            valid=summary.valid,
            rejected=summary.rejected,
            rejected_by_reason=dict(summary.rejected_by_reason),
            entered=plan.entered,
            changed=plan.changed,
            unchanged=plan.unchanged,
            left=plan.left + plan.email_changed,
        )
        return counts, fields

    def _send(
        self,
        duck: duckdb.DuckDBPyConnection,
        deliverer: Deliverer,
        fields: list[mapping.MappedField],
        run_dir: Path,
    ) -> None:
        options = EncodeOptions(
            address_book_id=self.book_id,
            merge_option=self.export.merge_option,
            send_empty_values=self.export.send_empty_values,
            subscription_status=self.export.subscription_status or None,
        )
        batches = encode_batches(duck, [f.name for f in fields], options, run_dir)
        total = sum(b.contacts for b in batches)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            self.progress("send", done, total)

        deliverer.on_progress = advance
        self.progress("send", 0, total)
        deliverer.deliver(batches)

    def _leave(
        self,
        duck: duckdb.DuckDBPyConnection,
        store: StateStore,
        deliverer: Deliverer,
        client: DotDigitalClient,
    ) -> tuple[int, int]:
        """Members who left: out of the book (remove), unsubscribed (unsubscribe), or forgotten
        (keep). Only contacts this export put there, never the contact itself."""
        mode = self.export.on_segment_exit
        left_keys = [
            str(k)
            for (k,) in duck.execute("select key from to_leave where reason = 'left'").fetchall()
        ]
        # Contacts to take out: those the leavers held, unless a valid member has that e-mail now
        # and so holds (or is about to hold) the contact: two profiles that swapped e-mails keep
        # both contacts.
        ids = [
            int(c)
            for (c,) in duck.execute(
                """select distinct l.contact_id from to_leave l join state_members s using (key)
            where s.email_hash not in (select email_hash from members_valid)
            order by l.contact_id"""
            ).fetchall()
        ]
        if not left_keys and not ids:
            return 0, 0
        self._check_stop()
        if mode == "keep":
            store.members.forget_keys(self.name, self.book_id, left_keys)
            return 0, 0
        if mode == "unsubscribe":
            for contact_id in ids:
                self._check_stop()
                contact = client.get_contact(contact_id)
                client.unsubscribe_from_book(self.book_id, contact.email)
            store.members.forget_keys(self.name, self.book_id, left_keys)
            return 0, len(ids)
        self.progress("remove", 0, len(ids))
        removed = deliverer.remove(ids)
        store.members.forget_keys(self.name, self.book_id, left_keys)
        self.progress("remove", removed, len(ids))
        return removed, 0

    # --- helpers --------------------------------------------------------------------------------

    def _connect(
        self, client: DotDigitalClient, *, create_missing: bool, dry_run: bool = False
    ) -> ConnectionReport:
        names = mapping.required_fields(self.export.mapping)
        _, fields = mapping.plan_columns(self.export.mapping)
        return check_connection(
            client,
            connection=self.export.connection,
            display_name=self.connection.display_name,
            address_book_id=self.book_id,
            expected_region=self.connection.region,
            required_fields=names,
            field_types={f.name: f.type for f in fields if f.explicit_type},
            create_missing=create_missing,
            dry_run=dry_run,
        )

    def _client(self) -> DotDigitalClient:
        return open_client(
            self.connection,
            name=self.export.connection,
            http_client=self.http_client,
            stats=self.stats,
            stop=self.stop,
        )

    def _duck(self, run_dir: Path | None) -> duckdb.DuckDBPyConnection:
        duck = duckdb.connect(":memory:")
        if run_dir is not None:
            # Private folders: they hold import bodies (e-mails, names) for a moment.
            for folder in (self.work_dir, self.work_dir / "runs", run_dir):
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                folder.chmod(0o700)
            # Spill to the run's private folder rather than the shared /tmp.
            duck.execute(f"set temp_directory = '{str(run_dir / 'spill').replace(chr(39), '')}'")
            # DuckDB keeps what it allocates; capped, a million profiles fit in about half a GB
            # and larger exports spill to disk instead of growing with the profiles (measured:
            # peak RSS 1.2 GB -> 0.6 GB at 1M, and no slower).
            duck.execute(f"set memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        duck.execute("set preserve_insertion_order = false")
        return duck

    def _deliverer(
        self,
        client: DotDigitalClient,
        store: StateStore,
        duck: duckdb.DuckDBPyConnection,
        run_id: int,
        totals: DeliveryTotals,
    ) -> Deliverer:
        return Deliverer(
            client=client,
            store=store,
            duck=duck,
            export=self.name,
            book_id=self.book_id,
            run_id=run_id,
            totals=totals,
            should_stop=self.stop.is_set,
            heartbeat=lambda: store.heartbeat(self.lock_names),
            on_in_flight=self.on_imports_in_flight,
        )

    def _rejects_dir(self) -> Path:
        return self.work_dir / "rejects"

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise InterruptedRunError("stopped on request at a checkpoint; the next run resumes")


def _final_counts(
    counts: RunCounts, totals: DeliveryTotals, removed: int, unsubscribed: int, stats: CallStats
) -> RunCounts:
    snap = stats.snapshot()
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
            "api_calls": snap.total_calls,
            "api_calls_by_endpoint": snap.calls,
            "rate_limited_by_endpoint": snap.rate_limited,
            "retries": snap.total_retries,
        }
    )
