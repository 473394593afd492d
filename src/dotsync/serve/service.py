"""The service loop of ``dotsync serve``: start due and requested exports, one at a time per
DotDigital account.

Each run goes on in a worker thread, so exports of different accounts run side by side while the
loop keeps the schedule. Every run has its own stop event: stopping the service (SIGTERM, SIGINT,
:meth:`Service.request_stop`) sets them all, a cancel from the console sets one. Runs end at their
next checkpoint with status ``interrupted``, the loop waits for them, and the service returns. A
run interrupted by a stop of the service is not recorded as run, so the next start runs it again
and the runner resumes where it stopped; a cancelled one is, so it waits for its next slot.

"Run now" and "Cancel" come from the state (:class:`~dotsync.state.run_requests.RunRequests`),
which the loop reads every ``request_poll_seconds`` and whenever :meth:`Service.wake` is called.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from dotsync.errors import (
    DotsyncError,
    ExitCode,
    InterruptedRunError,
    LeaseLostError,
    RunInProgressError,
)
from dotsync.logs import log_run_error, log_run_summary
from dotsync.result import RunResult, RunStatus
from dotsync.scheduler import AccountKey, ScheduledExport, Scheduler, latest_slot
from dotsync.serve.alerts import AlertManager, AlertPolicy
from dotsync.serve.jobs import SCHEDULER, Job, LiveRun
from dotsync.serve.metrics import MetricsRegistry
from dotsync.serve.outcome import RunOutcome
from dotsync.serve.requests import RequestDesk
from dotsync.serve.schedule_store import ScheduleStore
from dotsync.serve.workers import SharedTicks, Tick, WorkerInfo
from dotsync.state.locks import account_lock, export_lock

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
BUSY = "busy"  # the export's or account's lock is held by another run
LOST = "lost"  # the run's lease passed and another worker took the run over


class RunFunction(Protocol):
    """Runs one export to its end or to the checkpoint after ``stop`` is set."""

    def __call__(
        self,
        name: str,
        *,
        stop: threading.Event,
        on_imports_in_flight: Callable[[int], None],
        started_by: str,
    ) -> RunResult: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Service:
    def __init__(
        self,
        scheduler: Scheduler,
        run_export: RunFunction,
        *,
        metrics: MetricsRegistry | None = None,
        alerts: AlertManager | None = None,
        schedule_store: ScheduleStore | None = None,
        clock: Clock = utc_now,
        max_wait_seconds: float = 30.0,
        accounts: dict[str, AccountKey] | None = None,
        requests: RequestDesk | None = None,
        shared: SharedTicks | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.metrics = metrics or MetricsRegistry(e.name for e in scheduler.exports)
        self.stop = threading.Event()
        self._run_export = run_export
        self._alerts = alerts
        self._store = schedule_store
        self._clock = clock
        # Wall clocks jump (NTP, suspend): never sleep longer than this between schedule checks.
        self._max_wait = max_wait_seconds
        self._lock = threading.Lock()  # guards the scheduler, _running, _workers and _accounts
        self._wake = threading.Event()
        self._running: dict[str, Job] = {}
        self._workers: list[threading.Thread] = []
        self._heartbeat = clock()
        self._last_outcomes: dict[str, RunOutcome] = {}
        # Every export's account, scheduled or not (a requested run needs its lane too).
        self._accounts = dict(accounts or {e.name: e.account_key for e in scheduler.exports})
        self.requests = requests
        # Several workers, one state: ticks are claimed there, and a dead worker's taken over.
        self.shared = shared
        self._not_before: dict[str, datetime] = {}  # ticks given back: not taken again before
        self._workers_seen: list[WorkerInfo] = []
        self._held_locks: set[str] = set()  # by runs of any worker, as last read
        self._beat_stop = threading.Event()

    def request_stop(self) -> None:
        self.stop.set()
        with self._lock:
            for job in self._running.values():
                job.stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Look at the schedule and the requests now (a request was just recorded)."""
        if self.requests is not None:
            self.requests.poll_now()
        self._wake.set()

    def reconfigure(
        self,
        exports: list[ScheduledExport],
        run_export: RunFunction,
        accounts: dict[str, AccountKey],
        policies: dict[str, AlertPolicy] | None = None,
    ) -> None:
        """A new configuration: its schedules replace the old (when each export last ran is
        kept); runs going on finish with the configuration they started with."""
        with self._lock:
            self.scheduler = Scheduler(exports, self.scheduler.last_runs)
            self._run_export = run_export
            self._accounts = dict(accounts)
        self.metrics.track_exports(e.name for e in exports)
        if self._alerts is not None and policies is not None:
            self._alerts.set_policies(policies)
        log.info("configuration reloaded: %d scheduled export(s)", len(exports))
        self._wake.set()

    def run_forever(self) -> None:
        """Runs exports as they fall due or are asked for until stopped, then waits for the
        current runs."""
        log.info("dotsync serve: %d scheduled export(s)", len(self.scheduler.exports))
        beating = None
        if self.shared is not None:
            # A thread of its own, like a run's lease keeper: a loop slowed down (a slow state)
            # does not make this worker look dead while its runs go on.
            self._beat()
            beating = threading.Thread(target=self._beat_forever, name="worker-heartbeat")
            beating.start()
        while not self.stop.is_set():
            self._wake.clear()
            now = self._clock()
            self._heartbeat = now
            if self.requests is not None:
                self.requests.poll(self)
            orphans = self._share_state()
            with self._lock:
                for job in self._startable(now, orphans):
                    # Marked running before its thread starts, so the next turn skips it.
                    self._running[job.name] = job
                    self._spawn(partial(self._run_job, job), f"run-{job.name}")
                wake_at = self.scheduler.next_wake(now, self._busy_accounts())
            timeout = min(max((wake_at - now).total_seconds(), 0.0), self._max_wait)
            if self.requests is not None:
                timeout = min(timeout, self.requests.poll_seconds)
            if self.shared is not None:  # the others' ticks and the free ones: three a lease
                timeout = min(timeout, self.shared.lease_seconds / 3)
            self._wake.wait(timeout)
        self._join_workers()
        self._beat_stop.set()  # beating until the last run ended
        if beating is not None:
            beating.join()
        if self.shared is not None:
            try:
                self.shared.leave()
            except Exception as exc:  # its heartbeat passes on its own
                log.warning("could not remove this worker from the state: %s", exc)
            self.shared.close()
        log.info("dotsync serve stopped")

    def run_due_once(self) -> list[RunOutcome]:
        """Runs every export due now (missed and never-run ones included) and returns."""
        lanes: dict[AccountKey, list[ScheduledExport]] = {}
        with self._lock:
            for export in self.scheduler.due(self._clock()):
                lanes.setdefault(export.account_key, []).append(export)
        outcomes: list[RunOutcome] = []

        def run_lane(exports: list[ScheduledExport]) -> None:
            for export in exports:
                if self.stop.is_set():
                    return
                job = Job(export.name, export.account_key, SCHEDULER)
                with self._lock:
                    self._running[job.name] = job
                outcomes.append(self._run_job(job))

        with self._lock:
            for account, exports in lanes.items():
                self._spawn(partial(run_lane, exports), f"lane-{account[1]}")
        self._join_workers()
        return outcomes

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the loop keeps turning (it wakes at least every ``max_wait_seconds``)."""
        now = self._clock()
        with self._lock:
            running = sorted(self._running)
            due = {
                export.name: (self.scheduler.due_time(export.name) or now).isoformat()
                for export in self.scheduler.exports
            }
            last = {
                name: {"status": str(o.status), "finished_at": o.finished_at.isoformat()}
                for name, o in self._last_outcomes.items()
            }
        stale = (now - self._heartbeat).total_seconds() > 3 * self._max_wait + 5
        ok = not stale and not self.stop.is_set()
        details: dict[str, Any] = {"running": running, "next_due": due, "last_runs": last}
        if self.shared is not None:
            details["worker"] = self.shared.worker
            details["workers"] = {
                w.worker: {"host": w.host, "pid": w.pid, "running": w.running}
                for w in self._workers_seen
            }
        return ok, details

    def live_runs(self) -> dict[str, LiveRun]:
        """The runs going on in this process: who started them, when, who asked to cancel."""
        with self._lock:
            return {name: job.live() for name, job in self._running.items()}

    # --- used by the request desk (under no lock) ----------------------------------------------

    def account_of(self, export: str) -> AccountKey | None:
        with self._lock:
            return self._accounts.get(export)

    def running_job(self, export: str) -> Job | None:
        with self._lock:
            return self._running.get(export)

    # --- the loop's parts ------------------------------------------------------------------------

    def _startable(self, now: datetime, orphans: list[Tick]) -> Iterable[Job]:
        """Requested runs first (a person is waiting), then ticks a dead worker left, then due
        ones; at most one per idle account. Called under the lock."""
        claimed = self._busy_accounts()
        if self.requests is not None:
            for job in self.requests.startable(self._running, self._accounts, claimed):
                claimed.add(job.account_key)
                yield job
        shared = self.shared
        if shared is not None:  # busy on another worker: not claimed, only to find it so
            claimed |= {
                key for key in self._accounts.values() if account_lock(*key) in self._held_locks
            }
        for tick in orphans:
            export = self.scheduler.export(tick.job)
            if export is None or export.name in self._running or export.account_key in claimed:
                continue
            if export_lock(export.name) in self._held_locks:
                continue
            if now < self._not_before.get(tick.job, now) or shared is None:
                continue
            if shared.take_over(tick):
                claimed.add(export.account_key)
                yield Job(export.name, export.account_key, SCHEDULER, tick=tick)
        for export in self.scheduler.take_due(now, claimed):
            if export.name in self._running or export_lock(export.name) in self._held_locks:
                continue
            if shared is None:
                yield Job(export.name, export.account_key, SCHEDULER)
                continue
            tick = Tick(export.name, latest_slot(export, now))
            if shared.claim(tick):
                yield Job(export.name, export.account_key, SCHEDULER, tick=tick)
            else:  # another worker won it: the schedule moves past it here too
                self.scheduler.record_run(export.name, tick.at)

    def _share_state(self) -> list[Tick]:
        """This worker's heartbeat; the schedule caught up with the other workers' ticks; the
        ticks no live worker runs. A state that cannot be reached leaves the loop as it was."""
        shared = self.shared
        if shared is None:
            return []
        try:
            ticks = shared.last_ticks()
            orphans = shared.orphans()
            self._workers_seen = shared.workers()
            held = shared.held_locks()
        except Exception as exc:
            log.warning("could not reach the shared state: %s", exc)
            return []
        with self._lock:
            self.scheduler.catch_up(ticks)
            self._held_locks = held
        self.metrics.set_workers(self._workers_seen)
        return orphans

    def _busy_accounts(self) -> set[AccountKey]:
        return {job.account_key for job in self._running.values()}

    def _spawn(self, target: Callable[[], object], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._workers.append(thread)
        thread.start()

    def _join_workers(self) -> None:
        while True:
            with self._lock:
                self._workers = [t for t in self._workers if t.is_alive()]
                pending = list(self._workers)
            if not pending:
                return
            for thread in pending:
                thread.join()

    def _run_job(self, job: Job) -> RunOutcome:
        if self.stop.is_set():
            job.stop.set()
        job.started_at = self._clock()
        self.metrics.run_started(job.name)
        outcome = self._execute(job)
        _log_outcome(outcome)
        try:
            self.metrics.record_run(outcome)
            if self._alerts is not None and outcome.status != LOST:  # its new holder's to say
                self._alerts.observe(outcome)
            if self.requests is not None:
                self.requests.finished(job, outcome)
        except Exception:
            # Reporting must never take the service down; the run itself is already over.
            log.exception("could not record the run of export %s", job.name)
        if job.tick is not None:
            self._settle_tick(job, job.tick, outcome)
        with self._lock:
            self._last_outcomes[job.name] = outcome
            if job.tick is not None:
                self.scheduler.record_run(job.name, job.tick.at)  # the shared state says more
            # A run stopped with the service is owed again; a cancelled one waits for its slot.
            elif outcome.status != RunStatus.INTERRUPTED or job.cancelled_by is not None:
                self.scheduler.record_run(job.name, outcome.started_at)
                if self._store is not None:
                    self._store.save(self.scheduler.last_runs)
            del self._running[job.name]
        self._wake.set()
        return outcome

    def _beat(self) -> None:
        assert self.shared is not None
        with self._lock:
            running = sorted(self._running)
        try:
            self.shared.heartbeat(running)
        except Exception as exc:  # tried again; past a lease, the others take its ticks
            log.warning("could not renew this worker's heartbeat: %s", exc)

    def _beat_forever(self) -> None:
        assert self.shared is not None
        while not self._beat_stop.wait(self.shared.lease_seconds / 3):
            self._beat()

    def _settle_tick(self, job: Job, tick: Tick, outcome: RunOutcome) -> None:
        """The tick is done, or given back to be run (resumed) by any worker: its account was
        busy on another worker, or this worker stops. A lost lease leaves it to its new holder."""
        assert self.shared is not None
        given_back = outcome.status in (BUSY, LOST) or (
            outcome.status == RunStatus.INTERRUPTED and job.cancelled_by is None
        )
        try:
            if given_back:
                self.shared.give_back(tick)
                wait = timedelta(seconds=self.shared.lease_seconds / 3)
                self._not_before[job.name] = self._clock() + wait
            else:
                run_id = outcome.result.run_id if outcome.result is not None else None
                self.shared.finish(tick, str(outcome.status), run_id)
        except Exception as exc:  # its holder's heartbeat passes: another worker takes it
            log.warning("could not record tick %s of %s: %s", tick.at, job.name, exc)

    def _execute(self, job: Job) -> RunOutcome:
        started_at = job.started_at or self._clock()

        def in_flight(n: int) -> None:
            self.metrics.set_imports_in_flight(n, export=job.name)

        with self._lock:
            run_export = self._run_export
        try:
            result = run_export(
                job.name,
                stop=job.stop,
                on_imports_in_flight=in_flight,
                started_by=job.started_by,
            )
        except InterruptedRunError as exc:
            # The runner may raise rather than return an ``interrupted`` result: same meaning.
            return self._failed(job, RunStatus.INTERRUPTED, started_at, exc)
        except LeaseLostError as exc:
            log.warning("export %s: %s", job.name, exc.message)
            return self._failed(job, LOST, started_at, exc)
        except RunInProgressError as exc:
            log.warning("export %s skipped: %s", job.name, exc.message)
            return self._failed(job, BUSY, started_at, exc)
        except DotsyncError as exc:
            return self._failed(job, RunStatus.FAILED, started_at, exc)
        except Exception as exc:
            log.exception("run of export %s failed unexpectedly", job.name)
            return RunOutcome(
                job.name,
                RunStatus.FAILED,
                started_at,
                self._clock(),
                error=f"unexpected error: {type(exc).__name__}",
                exit_code=ExitCode.UNEXPECTED,
                started_by=job.started_by,
            )
        return RunOutcome.from_result(result, self._clock())

    def _failed(self, job: Job, status: Any, started_at: datetime, exc: DotsyncError) -> RunOutcome:
        return RunOutcome(
            job.name,
            status,
            started_at,
            self._clock(),
            error=exc.message,
            exit_code=exc.exit_code,
            started_by=job.started_by,
        )


def _log_outcome(outcome: RunOutcome) -> None:
    """The run's summary line; for a run that raised, the same fields without counts."""
    if outcome.result is not None:
        log_run_summary(outcome.result)
        return
    log_run_error(
        export=outcome.export,
        status=str(outcome.status),
        error=outcome.error,
        exit_code=outcome.exit_code,
        started_at=outcome.started_at,
        duration_seconds=outcome.duration_seconds,
    )
