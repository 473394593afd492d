"""``dotsync serve``: run scheduled exports as a long-running service."""

from __future__ import annotations

from typing import Annotated

import typer

from dotsync.cli._common import (
    DEFAULT_CONFIG_PATH,
    ConfigOption,
    FailOnRejectsOption,
    JsonOption,
    LogFormat,
    LogFormatOption,
    VerboseOption,
    handled,
    print_json,
    setup_logging,
)


def serve_command(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run what is due now (missed runs included), then exit: for cron or an "
            "orchestrator. No operations endpoints.",
        ),
    ] = False,
    fail_on_rejects: FailOnRejectsOption = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    log_format: LogFormatOption = LogFormat.TEXT,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            help="DEBUG, INFO, WARNING or ERROR (--verbose is DEBUG).",
            metavar="LEVEL",
        ),
    ] = "INFO",
) -> None:
    """Run each export that has a `schedule` when it is due; serve /healthz and /metrics on
    [serve] host and port. SIGTERM or Ctrl-C stops at the current run's next checkpoint.

    Logs one summary line per run. With --once, the exit code is the one `dotsync export` would
    give for the first run that failed: 0 when every run succeeded (rows may have been rejected;
    4 only with --fail-on-rejects), 6 when another process held an export's lock, 130 when
    stopped by a signal."""
    from dotsync.serve.app import run_once, serve

    mode = setup_logging(verbose, log_format, as_json=as_json, level=log_level)
    with handled(verbose, json_logs=mode.json_logs):
        if not once:
            serve(config)
            return
        code, outcomes = run_once(config, fail_on_rejects=fail_on_rejects)
        if as_json:
            print_json([outcome.as_json() for outcome in outcomes])
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("serve", short_help="Run exports on their schedules; serve /healthz and /metrics.")(
        serve_command
    )
