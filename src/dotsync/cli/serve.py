"""``dotsync serve``: run scheduled exports as a long-running service, with the web console."""

from __future__ import annotations

from pathlib import Path
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
    no_console: Annotated[
        bool,
        typer.Option(
            "--no-console",
            help="Serve only /healthz and /metrics (and refuse to start with nothing scheduled).",
        ),
    ] = False,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Listen on this address instead of [serve] host.", metavar="ADDR"
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Listen on this port instead of [serve] port.",
            min=0,
            max=65535,
            metavar="PORT",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="Serve HTTPS with this certificate (PEM).", metavar="FILE"),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option("--tls-key", help="The private key of --tls-cert (PEM).", metavar="FILE"),
    ] = None,
    behind_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-proxy",
            help="A reverse proxy on this machine serves the console over HTTPS: trust its "
            "X-Forwarded-* headers, mark cookies Secure, allow a non-loopback --host.",
        ),
    ] = False,
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
    """Run each export that has a `schedule` when it is due, and those asked for in the web
    console; serve the console, /healthz and /metrics on [serve] host and port. SIGTERM or Ctrl-C
    stops at the current run's next checkpoint.

    The console starts in an empty folder too (it writes dotsync.toml). With no admin yet, the log
    shows a one-time setup link. Beyond loopback it needs --tls-cert/--tls-key or --behind-proxy.

    Logs one summary line per run. With --once, the exit code is the one `dotsync export` would
    give for the first run that failed: 0 when every run succeeded (rows may have been rejected;
    4 only with --fail-on-rejects), 6 when another process held an export's lock, 130 when
    stopped by a signal."""
    from dotsync.serve.app import run_once, serve
    from dotsync.serve.server import ServeOptions

    mode = setup_logging(verbose, log_format, as_json=as_json, level=log_level)
    with handled(verbose, json_logs=mode.json_logs):
        if not once:
            options = ServeOptions(
                console=not no_console,
                host=host,
                port=port,
                tls_cert=tls_cert,
                tls_key=tls_key,
                behind_proxy=behind_proxy,
            )
            serve(config, options)
            return
        code, outcomes = run_once(config, fail_on_rejects=fail_on_rejects)
        if as_json:
            print_json([outcome.as_json() for outcome in outcomes])
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command(
        "serve", short_help="Run exports on their schedules; serve the web console and /metrics."
    )(serve_command)
