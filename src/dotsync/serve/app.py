"""``dotsync serve`` put together: the configuration adapted to the scheduler, the runner, the
console and its HTTP server, alerts and signals. Everything else in this package takes plain
values and is tested without a configuration file."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from dotsync.config import Config, load_config
from dotsync.config.models import ServeConfig
from dotsync.console.app import build_app
from dotsync.console.context import ConsoleState, ProjectPaths
from dotsync.console.first_admin import announce_setup_link
from dotsync.errors import ConfigError, DotsyncError, ExitCode, InterruptedRunError
from dotsync.result import RunCounts, RunResult, RunStatus
from dotsync.scheduler import AccountKey, ScheduledExport, Scheduler
from dotsync.serve.alerts import AlertManager, AlertPolicy
from dotsync.serve.metrics import MetricsRegistry
from dotsync.serve.outcome import RunOutcome
from dotsync.serve.requests import RequestDesk
from dotsync.serve.schedule_store import ScheduleStore
from dotsync.serve.server import ServeOptions, base_url, run_http
from dotsync.serve.service import RunFunction, Service
from dotsync.signals import stop_on_signals

if TYPE_CHECKING:
    from dotsync.pull import PullReport

log = logging.getLogger(__name__)

SCHEDULE_FILE = "serve-schedule.json"
ALERTS_FILE = "serve-alerts.json"
DEFAULT_WEBHOOK_ENV = "DOTSYNC_WEBHOOK_URL"
# A verify is scheduled like an export, under this prefix: it shares the export's account lane,
# so it never runs while an export of the same account does.
VERIFY_JOB = "verify:"
# A connection's pull_schedule: one job pulls for each export of the connection, in its lane.
PULL_JOB = "pull:"


def _account_key(config: Config, connection_name: str) -> tuple[str, str]:
    # Normalised like the runner's account lock: the same account written two ways is one.
    connection = config.connections[connection_name]
    return str(connection.api_url).rstrip("/").lower(), connection.api_user.lower()


def export_accounts(config: Config) -> dict[str, AccountKey]:
    """Every export's DotDigital account, normalised like the runner's account lock: the same
    account written two ways is one."""
    accounts: dict[str, AccountKey] = {}
    for name, export in config.exports.items():
        accounts[name] = _account_key(config, export.connection)
    return accounts


def scheduled_exports(config: Config) -> list[ScheduledExport]:
    """The exports that have a ``schedule``, the verifies (``verify_schedule``) and the pulls
    (a connection's ``pull_schedule``, read in UTC), with the account each one uses."""
    accounts = export_accounts(config)
    scheduled: list[ScheduledExport] = []
    for name, export in sorted(config.exports.items()):
        account = accounts[name]
        if export.schedule is not None:
            scheduled.append(ScheduledExport(name, export.schedule, export.timezone, account))
        if export.verify_schedule is not None:
            job = ScheduledExport(
                VERIFY_JOB + name, export.verify_schedule, export.timezone, account
            )
            scheduled.append(job)
    for name, connection in sorted(config.connections.items()):
        if connection.pull_schedule is not None and pulled_exports(config, name):
            account = _account_key(config, name)
            scheduled.append(
                ScheduledExport(PULL_JOB + name, connection.pull_schedule, "UTC", account)
            )
    return scheduled


def pulled_exports(config: Config, connection: str) -> list[str]:
    """The exports a pull job of ``connection`` pulls for."""
    return sorted(
        name for name, export in config.exports.items() if export.connection == connection
    )


def alert_policies(config: Config) -> dict[str, AlertPolicy]:
    return {
        name: AlertPolicy(
            rejected_rows_share=export.rejected_rows_alert,
            slow_run_factor=config.alerts.slow_run_factor,
        )
        for name, export in config.exports.items()
    }


def runner_function(
    config: Config,
    run_export: Callable[..., RunResult] | None = None,
    metrics: MetricsRegistry | None = None,
) -> RunFunction:
    """Adapts ``dotsync.runner.run_export(config, name, *, stop, ...)`` to the service, and
    ``dotsync.verifier.verify_export`` for the verify jobs (their drift goes to ``metrics``)."""
    if run_export is None:
        from dotsync.runner import run_export as runner_run_export

        run_export = runner_run_export
    export_once: Callable[..., RunResult] = run_export

    def run(
        name: str,
        *,
        stop: threading.Event,
        on_imports_in_flight: Callable[[int], None],
        started_by: str,
    ) -> RunResult:
        if name.startswith(VERIFY_JOB):
            return _verify_once(config, name.removeprefix(VERIFY_JOB), stop, metrics)
        if name.startswith(PULL_JOB):
            return _pull_once(config, name.removeprefix(PULL_JOB), stop, metrics)
        return export_once(
            config,
            name,
            stop=stop,
            on_imports_in_flight=on_imports_in_flight,
            started_by=started_by,
        )

    return run


def _verify_once(
    config: Config, export: str, stop: threading.Event, metrics: MetricsRegistry | None
) -> RunResult:
    """A verify, reported to the service as a run of ``verify:EXPORT`` (succeeded: the check was
    made; what it found is in the drift gauges)."""
    from dotsync.verifier import verify_export

    report = verify_export(config, export, stop=stop)
    finished = report.finished_at or report.started_at
    if metrics is not None:
        drift = report.counts.model_dump(
            include={"missing", "unknown", "unsubscribed", "suppressed"}
        )
        metrics.record_verify(export, drift, finished.timestamp())
    return RunResult(
        run_id=report.verify_id,
        export=VERIFY_JOB + export,
        status=RunStatus.SUCCEEDED,
        started_at=report.started_at,
        finished_at=finished,
        counts=RunCounts(
            api_calls=report.api_calls, api_calls_by_endpoint=report.api_calls_by_endpoint
        ),
    )


def _pull_once(
    config: Config, connection: str, stop: threading.Event, metrics: MetricsRegistry | None
) -> RunResult:
    """A pull of every export of ``connection``, reported to the service as a run of
    ``pull:CONNECTION``. Each export is pulled even if another fails; the first error is then
    raised (the service records the job as failed, with it)."""
    from dotsync.pull import pull_export

    started = datetime.now(UTC)
    calls: dict[str, int] = {}
    failure: DotsyncError | None = None
    for export in pulled_exports(config, connection):
        try:
            report = pull_export(config, export, stop=stop)
        except InterruptedRunError:
            raise
        except DotsyncError as exc:
            log.warning("pull of export %s failed: %s", export, exc.message)
            failure = failure or exc
            continue
        if metrics is not None:
            record_pull(metrics, report)
        for endpoint, n in report.api_calls_by_endpoint.items():
            calls[endpoint] = calls.get(endpoint, 0) + n
    if failure is not None:
        raise failure
    return RunResult(
        run_id=0,
        export=PULL_JOB + connection,
        status=RunStatus.SUCCEEDED,
        started_at=started,
        finished_at=datetime.now(UTC),
        counts=RunCounts(api_calls=sum(calls.values()), api_calls_by_endpoint=calls),
    )


def record_pull(metrics: MetricsRegistry, report: PullReport) -> None:
    """A pull's counts in the /metrics gauges."""
    if report.finished_at is None or report.status not in ("succeeded", "skipped"):
        return
    metrics.record_pull(
        report.export,
        written=report.counts.written,
        unknown_contacts=report.counts.unknown_contacts,
        api_calls=report.api_calls,
        complete=report.complete,
        finished_at=report.finished_at.timestamp(),
    )


def build_service(
    config: Config | None,
    run: RunFunction | None = None,
    *,
    require_schedule: bool = True,
    work_dir: Path | None = None,
) -> Service:
    """The service of ``config`` (None: no configuration yet, the console will write it).
    Without the console (``require_schedule``), a configuration with nothing scheduled is an
    error: the service would do nothing."""
    exports = scheduled_exports(config) if config is not None else []
    if not exports and require_schedule:
        raise ConfigError(
            'no export has a `schedule`: add e.g. schedule = "0 6 * * *" under [exports.NAME] '
            '(or verify_schedule = "0 5 * * 1" to verify its book, or pull_schedule = '
            '"0 * * * *" under [connections.NAME] to bring its unsubscribes back)'
        )
    work_dir = Path(config.state.work_dir) if config is not None else work_dir
    assert work_dir is not None, "a service without a configuration needs its work dir"
    store = ScheduleStore(work_dir / SCHEDULE_FILE)
    alerts = AlertManager(
        work_dir / ALERTS_FILE,
        alert_policies(config) if config is not None else {},
        webhook_url_env=(config.alerts.webhook_url_env if config else None) or DEFAULT_WEBHOOK_ENV,
    )
    metrics = MetricsRegistry(e.name for e in exports)
    if config is not None and any(e.name.startswith(PULL_JOB) for e in exports):
        from dotsync.pull import last_pulls

        for report in last_pulls(config).values():  # what the pulls before this start found
            record_pull(metrics, report)
    shared = None
    if config is not None and not config.state.url.startswith("sqlite:"):
        # A state several machines can share: due ticks are claimed there (several workers).
        from dotsync.serve.workers import SharedTicks

        shared = SharedTicks(config.state.url, lease_seconds=config.serve.lease_seconds)
    return Service(
        Scheduler(exports, store.load()),
        run or (runner_function(config, metrics=metrics) if config else _no_configuration),
        metrics=metrics,
        alerts=alerts,
        schedule_store=store,
        accounts=export_accounts(config) if config is not None else {},
        shared=shared,
    )


def _no_configuration(name: str, **_kwargs: object) -> RunResult:
    raise ConfigError(f"no configuration yet: export {name!r} is not defined")


def reload_configuration(service: Service, config_path: Path) -> None:
    """Reads ``dotsync.toml`` again and gives the service its schedules and exports (raises the
    file's ConfigError; the service keeps the previous configuration then)."""
    config = load_config(config_path)
    service.reconfigure(
        scheduled_exports(config),
        runner_function(config, metrics=service.metrics),
        export_accounts(config),
        alert_policies(config),
    )


def serve(config_path: Path, options: ServeOptions | None = None) -> None:
    """Runs the service and its HTTP app (the console, ``/healthz``, ``/metrics``) until
    SIGTERM/SIGINT; stopping on request is the normal end of a service. With the console, the
    configuration may not exist yet: the console creates it."""
    options = options or ServeOptions()
    has_config = config_path.exists() or not options.console
    config = load_config(config_path) if has_config else None
    host, port = options.address(config.serve if config else ServeConfig())
    transport = options.transport(host)
    console: ConsoleState | None = None
    if options.console:
        console = ConsoleState(ProjectPaths.of(config_path))
    service = build_service(
        config,
        require_schedule=not options.console,
        work_dir=console.work_dir if console else None,
    )
    if console is not None:
        service.requests = RequestDesk(console.requests, console.audit_log)
        console.on_config_changed = partial(reload_configuration, service, config_path)
        console.on_request = service.wake
        console.live_runs = service.live_runs
    app = build_app(service.metrics, service.health, console, transport)
    url = base_url(host, port, transport)
    log.info("%s on %s (/healthz, /metrics)", "console" if console else "operations endpoints", url)
    if console is not None:
        announce_setup_link(console.accounts, url)
    loop = threading.Thread(target=service.run_forever, name="dotsync-service")
    # uvicorn takes the signals while it runs; after it, a second signal acts at once.
    with stop_on_signals(service.request_stop):
        loop.start()
        try:
            run_http(app, host, port, options, on_exit=service.request_stop)
        finally:
            service.request_stop()
            loop.join()
            if console is not None:
                console.close()


def run_once(config_path: Path, *, fail_on_rejects: bool = False) -> tuple[int, list[RunOutcome]]:
    """Runs what is due now (``serve --once``): the exit code and what each run did."""
    config = load_config(config_path)
    service = build_service(config)
    try:
        with stop_on_signals(service.request_stop):
            outcomes = service.run_due_once()
    finally:
        if service.shared is not None:  # --once claims no tick (see README: Several workers)
            service.shared.close()
    return once_exit_code(outcomes, fail_on_rejects=fail_on_rejects), outcomes


def once_exit_code(outcomes: list[RunOutcome], *, fail_on_rejects: bool = False) -> int:
    """For cron and orchestrators calling ``serve --once``, as for ``dotsync export``: the first
    failure decides; then an interruption, a busy lock; rejected rows only with
    ``fail_on_rejects`` (a run that rejected rows did its job: its rejected-rows file says
    which)."""
    for outcome in outcomes:
        if outcome.status == RunStatus.FAILED:
            return outcome.exit_code
    statuses = {o.status for o in outcomes}
    if RunStatus.INTERRUPTED in statuses:
        return ExitCode.INTERRUPTED
    if "busy" in statuses:
        return ExitCode.BUSY
    if fail_on_rejects and any(o.rows_rejected for o in outcomes):
        return ExitCode.REJECTED_ROWS
    return ExitCode.OK
