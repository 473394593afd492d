"""The service loop with a real, injected run function (no mock library) and real threads."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serve.webhook_receiver import WebhookReceiver

from dotsync.errors import AuthenticationError, RunInProgressError
from dotsync.result import RunCounts, RunResult, RunStatus
from dotsync.scheduler import ScheduledExport, Scheduler
from dotsync.serve.alerts import AlertManager, AlertPolicy
from dotsync.serve.app import once_exit_code
from dotsync.serve.outcome import OutcomeStatus, RunOutcome
from dotsync.serve.schedule_store import ScheduleStore
from dotsync.serve.service import Service
from dotsync.signals import stop_on_signals

ACCOUNT_A = ("http://127.0.0.1:1", "a@apiconnector.com")
ACCOUNT_B = ("http://127.0.0.1:1", "b@apiconnector.com")


def every_minute(name: str, account: tuple[str, str] = ACCOUNT_A) -> ScheduledExport:
    return ScheduledExport(name, "* * * * *", "UTC", account)


@dataclass
class FakeRunner:
    """Runs "exports" that take ``seconds`` and stop at a checkpoint every 10 ms when asked."""

    seconds: float = 0.0
    raises: Exception | None = None
    calls: list[tuple[str, float, float, RunStatus]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self,
        name: str,
        *,
        stop: threading.Event,
        on_imports_in_flight: Callable[[int], None],
        started_by: str,
    ) -> RunResult:
        began, started_at = time.monotonic(), datetime.now(UTC)
        self.started.set()
        on_imports_in_flight(1)
        status = RunStatus.SUCCEEDED
        while time.monotonic() - began < self.seconds:
            if stop.wait(0.01):
                status = RunStatus.INTERRUPTED
                break
        if self.raises is not None:
            raise self.raises
        with self._lock:
            self.calls.append((name, began, time.monotonic(), status))
        return RunResult(
            run_id=len(self.calls),
            export=name,
            status=status,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            counts=RunCounts(profiles_in_segments=10, sent=10),
        )

    @property
    def names(self) -> list[str]:
        return [call[0] for call in self.calls]


Starter = Callable[[Service], threading.Thread]


@pytest.fixture
def in_background() -> Iterator[Starter]:
    services: list[tuple[Service, threading.Thread]] = []

    def start(service: Service) -> threading.Thread:
        thread = threading.Thread(target=service.run_forever, daemon=True)
        thread.start()
        services.append((service, thread))
        return thread

    yield start
    for service, thread in services:
        service.request_stop()
        thread.join(10)


def runs_total(service: Service, status: str) -> float | None:
    return service.metrics.registry.get_sample_value(
        "dotsync_runs_total", {"export": "news", "status": status}
    )


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_due_exports_run_and_are_recorded(tmp_path: Path, in_background: Starter) -> None:
    store = ScheduleStore(tmp_path / "schedule.json")
    runner = FakeRunner()
    service = Service(Scheduler([every_minute("news")]), runner, schedule_store=store)
    in_background(service)
    wait_for(lambda: runner.names == ["news"] and "news" in store.load())
    time.sleep(0.2)
    assert runner.names == ["news"]  # not again within the same minute
    assert runs_total(service, "succeeded") == 1
    ok, details = service.health()
    assert ok and details["last_runs"]["news"]["status"] == "succeeded"


def test_exports_sharing_an_account_never_overlap(in_background: Starter) -> None:
    runner = FakeRunner(seconds=0.2)
    exports = [every_minute("a1"), every_minute("a2"), every_minute("b1", ACCOUNT_B)]
    in_background(Service(Scheduler(exports), runner))
    wait_for(lambda: len(runner.calls) == 3)
    spans = {name: (begin, end) for name, begin, end, _ in runner.calls}
    first, second = sorted([spans["a1"], spans["a2"]])
    assert first[1] <= second[0]  # same account: one after the other
    b1 = spans["b1"]
    assert b1[0] < first[1] and first[0] < b1[1]  # other account: side by side


def test_stop_ends_the_run_at_a_checkpoint_and_the_next_start_runs_it_again(
    tmp_path: Path, in_background: Starter
) -> None:
    store = ScheduleStore(tmp_path / "schedule.json")
    runner = FakeRunner(seconds=30)
    service = Service(Scheduler([every_minute("news")], store.load()), runner, schedule_store=store)
    thread = in_background(service)
    assert runner.started.wait(5)
    stopped_at = time.monotonic()
    service.request_stop()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 2
    assert [call[3] for call in runner.calls] == [RunStatus.INTERRUPTED]
    assert store.load() == {}  # an interrupted run leaves its slot owed

    again = FakeRunner()
    Service(
        Scheduler([every_minute("news")], store.load()), again, schedule_store=store
    ).run_due_once()
    assert again.names == ["news"]


def test_once_runs_a_missed_run_once_and_skips_what_is_not_due(tmp_path: Path) -> None:
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    exports = [
        ScheduledExport("daily", "0 6 * * *", "UTC", ACCOUNT_A),
        ScheduledExport("later", "0 18 * * *", "UTC", ACCOUNT_B),
    ]
    last = {"daily": now - timedelta(days=4), "later": now - timedelta(hours=12)}
    runner = FakeRunner()
    service = Service(Scheduler(exports, last), runner, clock=lambda: now)
    outcomes = service.run_due_once()
    assert runner.names == ["daily"]
    assert [o.status for o in outcomes] == [RunStatus.SUCCEEDED]
    assert service.scheduler.due(now) == []


def test_a_failed_run_alerts_once_through_the_webhook(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    alerts = AlertManager(tmp_path / "alerts.json", {"news": AlertPolicy()})
    failing = FakeRunner(raises=AuthenticationError("DotDigital refused the API user or password"))
    for _ in range(2):
        service = Service(Scheduler([every_minute("news")]), failing, alerts=alerts)
        [outcome] = service.run_due_once()
        assert outcome.status == RunStatus.FAILED
        assert outcome.exit_code == 3
    assert runs_total(service, "failed") == 1
    assert webhook.texts == [
        "dotsync: export `news` failed: DotDigital refused the API user or password"
    ]
    service = Service(Scheduler([every_minute("news")]), FakeRunner(), alerts=alerts)
    service.run_due_once()
    assert webhook.texts[-1] == "dotsync: export `news` recovered (failed): last run succeeded"


def test_a_run_held_by_another_process_is_skipped_without_alert(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    alerts = AlertManager(tmp_path / "alerts.json", {"news": AlertPolicy()})
    busy = FakeRunner(raises=RunInProgressError("export news is running since 06:00 (pid 12)"))
    service = Service(Scheduler([every_minute("news")]), busy, alerts=alerts)
    [outcome] = service.run_due_once()
    assert outcome.status == "busy"
    assert webhook.posts == []
    assert "news" in service.scheduler.last_runs  # tried again at the next slot, not in a loop


def test_sigterm_stops_the_service(in_background: Starter) -> None:
    runner = FakeRunner(seconds=30)
    service = Service(Scheduler([every_minute("news")]), runner)
    with stop_on_signals(service.request_stop):
        thread = in_background(service)
        assert runner.started.wait(5)
        os.kill(os.getpid(), signal.SIGTERM)
        thread.join(5)
        assert not thread.is_alive()
        assert service.stop.is_set()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a second one kills
    assert [call[3] for call in runner.calls] == [RunStatus.INTERRUPTED]


def _outcome(status: OutcomeStatus, exit_code: int = 0, **counts: int) -> RunOutcome:
    at = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    return RunOutcome(
        "news", status, at, at, counts=RunCounts.model_validate(counts), exit_code=exit_code
    )


@pytest.mark.parametrize(
    ("outcomes", "fail_on_rejects", "code"),
    [
        ([_outcome(RunStatus.PARTIAL, rejected=3)], False, 0),
        ([_outcome(RunStatus.PARTIAL, rejected=3)], True, 4),
        ([_outcome(RunStatus.PARTIAL, failed=1)], True, 4),  # refused by DotDigital
        ([_outcome(RunStatus.PARTIAL, suppressed=2)], True, 0),  # not an error of the data
        ([_outcome(RunStatus.SUCCEEDED), _outcome("busy", 6)], True, 6),
        ([_outcome(RunStatus.INTERRUPTED, 130), _outcome("busy", 6)], False, 130),
        ([_outcome(RunStatus.PARTIAL, rejected=1), _outcome(RunStatus.FAILED, 5)], True, 5),
    ],
    ids=[
        "rejects-without-flag",
        "rejects-with-flag",
        "refused-with-flag",
        "suppressed-with-flag",
        "busy",
        "interrupted-before-busy",
        "failure-first",
    ],
)
def test_once_exit_code(outcomes: list[RunOutcome], fail_on_rejects: bool, code: int) -> None:
    assert once_exit_code(outcomes, fail_on_rejects=fail_on_rejects) == code
