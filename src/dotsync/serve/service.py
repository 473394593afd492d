"""The service loop of ``dotsync serve``: start due exports, one at a time per DotDigital account.

Each run goes on in a worker thread, so exports of different accounts run side by side while the
loop keeps the schedule. Stopping (SIGTERM, SIGINT, :meth:`Service.request_stop`) sets the stop
event that every run receives: runs end at their next checkpoint with status ``interrupted``, the
loop waits for them, and the service returns. An interrupted run is not recorded as run, so the
next start runs it again and the runner resumes where it stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from dotsync.errors import DotsyncError, ExitCode, InterruptedRunError, RunInProgressError
from dotsync.logs import log_run_error, log_run_summary
from dotsync.result import RunResult, RunStatus
from dotsync.scheduler import AccountKey, ScheduledExport, Scheduler
from dotsync.serve.alerts import AlertManager
from dotsync.serve.metrics import MetricsRegistry
from dotsync.serve.outcome import RunOutcome
from dotsync.serve.schedule_store import ScheduleStore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class RunFunction(Protocol):
    """Runs one export to its end or to the checkpoint after ``stop`` is set."""

    def __call__(
        self, name: str, *, stop: threading.Event, on_imports_in_flight: Callable[[int], None]
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
        self._lock = threading.Lock()  # guards the scheduler, _running and _workers
        self._wake = threading.Event()
        self._running: dict[str, ScheduledExport] = {}
        self._workers: list[threading.Thread] = []
        self._heartbeat = clock()
        self._last_outcomes: dict[str, RunOutcome] = {}

    def request_stop(self) -> None:
        self.stop.set()
        self._wake.set()

    def run_forever(self) -> None:
        """Runs exports as they fall due until stopped, then waits for the current runs."""
        log.info("dotsync serve: %d scheduled export(s)", len(self.scheduler.exports))
        while not self.stop.is_set():
            self._wake.clear()
            now = self._clock()
            self._heartbeat = now
            with self._lock:
                for export in self.scheduler.take_due(now, self._busy_accounts()):
                    # Marked running before its thread starts, so the next turn skips it.
                    self._running[export.name] = export
                    self._spawn(partial(self._run_one, export), f"run-{export.name}")
                wake_at = self.scheduler.next_wake(now, self._busy_accounts())
            timeout = min(max((wake_at - now).total_seconds(), 0.0), self._max_wait)
            self._wake.wait(timeout)
        self._join_workers()
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
                outcomes.append(self._run_one(export))

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
        return ok, {"running": running, "next_due": due, "last_runs": last}

    def _busy_accounts(self) -> set[AccountKey]:
        return {export.account_key for export in self._running.values()}

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

    def _run_one(self, export: ScheduledExport) -> RunOutcome:
        with self._lock:
            self._running[export.name] = export
        self.metrics.run_started(export.name)
        outcome = self._execute(export)
        _log_outcome(outcome)
        try:
            self.metrics.record_run(outcome)
            if self._alerts is not None:
                self._alerts.observe(outcome)
        except Exception:
            # Reporting must never take the service down; the run itself is already over.
            log.exception("could not record the run of export %s", export.name)
        with self._lock:
            self._last_outcomes[export.name] = outcome
            if outcome.status != RunStatus.INTERRUPTED:
                self.scheduler.record_run(export.name, outcome.started_at)
                if self._store is not None:
                    self._store.save(self.scheduler.last_runs)
            del self._running[export.name]
        self._wake.set()
        return outcome

    def _execute(self, export: ScheduledExport) -> RunOutcome:
        started_at = self._clock()

        def in_flight(n: int) -> None:
            self.metrics.set_imports_in_flight(n, export=export.name)

        try:
            result = self._run_export(export.name, stop=self.stop, on_imports_in_flight=in_flight)
        except InterruptedRunError as exc:
            # The runner may raise rather than return an ``interrupted`` result: same meaning.
            return RunOutcome(
                export.name,
                RunStatus.INTERRUPTED,
                started_at,
                self._clock(),
                error=exc.message,
                exit_code=exc.exit_code,
            )
        except RunInProgressError as exc:
            log.warning("export %s skipped: %s", export.name, exc.message)
            return RunOutcome(
                export.name,
                "busy",
                started_at,
                self._clock(),
                error=exc.message,
                exit_code=exc.exit_code,
            )
        except DotsyncError as exc:
            return RunOutcome(
                export.name,
                RunStatus.FAILED,
                started_at,
                self._clock(),
                error=exc.message,
                exit_code=exc.exit_code,
            )
        except Exception as exc:
            log.exception("run of export %s failed unexpectedly", export.name)
            return RunOutcome(
                export.name,
                RunStatus.FAILED,
                started_at,
                self._clock(),
                error=f"unexpected error: {type(exc).__name__}",
                exit_code=ExitCode.UNEXPECTED,
            )
        return RunOutcome.from_result(result, self._clock())


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
