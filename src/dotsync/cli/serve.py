"""``dotsync serve``: run scheduled exports as a long-running service."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dotsync.errors import DotsyncError


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def serve_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="The configuration file.")] = Path(
        "dotsync.toml"
    ),
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run what is due now (missed runs included), then exit: for cron or an "
            "orchestrator. No operations endpoints.",
        ),
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text, or json: one JSON object a line.")
    ] = LogFormat.TEXT,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING...")] = "INFO",
) -> None:
    """Run each export that has a `schedule` when it is due; serve /healthz and /metrics on
    [serve] host and port. SIGTERM or Ctrl-C stops at the current run's next checkpoint."""
    from dotsync.logs import configure_logging
    from dotsync.serve.app import serve

    configure_logging(log_format.value, log_level)
    try:
        code = serve(config, once=once)
    except DotsyncError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(int(exc.exit_code)) from exc
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
