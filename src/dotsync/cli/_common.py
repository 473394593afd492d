"""What every command shares: options, config loading, error → exit code, output."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dotsync.config import Config, load_config
from dotsync.errors import ConfigError, DotsyncError, ExitCode
from dotsync.logs import configure_logging, log_error

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="DOTSYNC_CONFIG", help="Path of dotsync.toml.", show_default=True
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Machine-readable output: the result as one JSON line on stdout, and every line on "
        "stderr (errors, warnings, progress) a JSON object.",
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show dotsync's debug logs and tracebacks.")
]

FailOnRejectsOption = Annotated[
    bool,
    typer.Option(
        "--fail-on-rejects",
        help="Exit 4 when rows were rejected (by validation or by DotDigital); without it a run "
        "that rejected rows exits 0.",
    ),
]


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="Logs on stderr: text, or json (one JSON object a line: progress, run summaries and "
        "errors; the text summary table is left out).",
    ),
]

DEFAULT_CONFIG_PATH = Path("dotsync.toml")


# Markup off: what these consoles print holds user and customer data (book names, SQL, rejected
# values, error messages naming `[connections.x]`), which rich would read as markup, silently
# dropping `[words]` or failing on `[/]`. Styles are applied with rich Text objects instead.
class _PipedConsole(Console):
    """Rich exits 1 when the reader of stdout goes away, which is dotsync's code for a bug."""

    def on_broken_pipe(self) -> None:
        stop_on_broken_pipe()


out = _PipedConsole(soft_wrap=True, markup=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


def styled(text: str, style: str) -> Text:
    return Text(text, style=style)


@dataclass(frozen=True)
class Mode:
    """How a command prints. ``json_logs``: every line on stderr is a JSON object (``--json`` or
    ``--log-format json``); ``as_json``: the result goes to stdout as one JSON line (``--json``)."""

    verbose: bool = False
    as_json: bool = False
    json_logs: bool = False

    @property
    def human(self) -> bool:
        """Tables, bars and notes for a person: neither --json nor --log-format json."""
        return not self.json_logs


def setup_logging(
    verbose: bool,
    log_format: str = "text",
    *,
    as_json: bool = False,
    level: str | None = None,
) -> Mode:
    """Logging for one command. Text logs stay quiet (WARNING: the command prints its own
    summary); JSON logs are for machines and carry progress and the summary line of each run."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    json_logs = as_json or log_format == "json"
    if verbose:
        level = "DEBUG"
    elif level is None:
        level = "INFO" if log_format == "json" else "WARNING"
    try:
        configure_logging("json" if json_logs else "text", level)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-level") from None
    return Mode(verbose=verbose, as_json=as_json, json_logs=json_logs)


def load(path: Path) -> Config:
    return load_config(path)


BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what a command stopped by a closed pipe exits with


def chosen_exports(cfg: Config, name: str | None, all_exports: bool) -> list[str]:
    """The exports a command acts on: the one named, or every one with ``--all``."""
    if all_exports and name is not None:
        raise ConfigError("name one export, or pass --all (not both)")
    if not all_exports and name is None:
        known = ", ".join(cfg.exports) or "none in the configuration"
        raise ConfigError(f"name an export (known: {known}) or pass --all")
    return list(cfg.exports) if all_exports else [name or ""]


def stop_on_broken_pipe() -> NoReturn:
    """The reader of stdout went away (``dotsync history | head -1``): stop quietly, as commands
    stopped by SIGPIPE do, rather than report a bug. Stdout is pointed at /dev/null first so that
    the interpreter's last flush does not fail again (the recipe of Python's ``signal`` docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(BROKEN_PIPE_EXIT)


@contextmanager
def handled(verbose: bool = False, *, json_logs: bool = False) -> Iterator[None]:
    """One clear line and a documented exit code for every error; a traceback only on -v.
    With ``json_logs`` the line is a JSON object (``event: error``) with the message, the exit
    code and the configuration key concerned, so that a JSON-lines log stays parseable."""
    try:
        yield
    except DotsyncError as exc:
        report_error(
            exc.message,
            exit_code=int(exc.exit_code),
            json_logs=json_logs,
            key=getattr(exc, "key", None),
            error_type=type(exc).__name__,
            detail=exc.detail if verbose else None,
            trace=traceback.format_exc() if verbose else None,
        )
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        report_error(
            "interrupted; the next run resumes where this one stopped",
            exit_code=int(ExitCode.INTERRUPTED),
            json_logs=json_logs,
            error_type="KeyboardInterrupt",
            label=None,
        )
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort):
        raise
    except BrokenPipeError:
        stop_on_broken_pipe()
    except Exception as exc:  # a bug: say so plainly, trace on request
        hint = (
            "" if verbose else " (run again with --verbose for the traceback, and please report it)"
        )
        report_error(
            f"{type(exc).__name__}: {exc}{hint}",
            exit_code=int(ExitCode.UNEXPECTED),
            json_logs=json_logs,
            error_type=type(exc).__name__,
            trace=traceback.format_exc() if verbose else None,
            label="unexpected error",
        )
        raise typer.Exit(int(ExitCode.UNEXPECTED)) from None


def report_export_error(export: str, error: DotsyncError, *, json_logs: bool) -> None:
    """One export's error in a run of several (``--all``): said, named by its export, and the
    next export runs; the caller keeps the highest exit code."""
    report_error(
        f"{export}: {error.message}",
        exit_code=int(error.exit_code),
        json_logs=json_logs,
        key=getattr(error, "key", None),
        error_type=type(error).__name__,
        export=export,
    )


def report_error(
    message: str,
    *,
    exit_code: int,
    json_logs: bool,
    key: str | None = None,
    error_type: str | None = None,
    detail: str | None = None,
    trace: str | None = None,
    label: str | None = "error",
    **fields: Any,
) -> None:
    """An error as a person reads it (``label: message``, the label in red) or as a JSON line,
    where the label is the ``error`` event itself, and only another label joins the message."""
    if json_logs:
        if label and label != "error":
            message = f"{label}: {message}"
        log_error(
            message,
            exit_code=exit_code,
            key=key,
            error_type=error_type,
            traceback=trace,
            **({"detail": detail} if detail else {}),
            **fields,
        )
        return
    err.print(Text.assemble((f"{label}:", "bold red"), " ", message) if label else message)
    if detail:
        err.print(detail)
    if trace:
        err.print(trace)


def print_json(value: Any) -> None:
    """The result on stdout as one line: a JSON-lines file stays one object (or array) a line."""
    sys.stdout.write(json.dumps(value, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()  # a closed pipe is found here, where it is handled, not at exit


def print_table(table: Table) -> None:
    """A table at its full width when stdout is not a terminal (a file, a pipe, cron's mail): a
    terminal's width would cut names and dates for a reader who has no terminal to widen."""
    if out.is_terminal:
        out.print(table)
        return
    # Console.print cannot widen past the console's own width (80 columns without a terminal).
    wide = _PipedConsole(file=out.file, width=_UNBOUNDED_WIDTH, markup=False, highlight=False)
    wide.print(table)


_UNBOUNDED_WIDTH = 10_000
