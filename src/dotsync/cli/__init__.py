"""The ``dotsync`` command: a thin typer app. Each module of this package registers one group of
commands; they parse options, call one function of the library, and print."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import Annotated

import typer

from dotsync.cli import demo, emulator, export, inspect, manage, pull, serve, users, verify
from dotsync.cli._common import BROKEN_PIPE_EXIT, report_error, setup_logging, stop_on_broken_pipe

app = typer.Typer(
    name="dotsync",
    help="Keep DotDigital address books in sync with customer segments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help is printed as written: rich markup would read `[exports.NAME]` or `[serve]` as style
    # tags and drop them, and label every flag `<bool>`.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"dotsync {version('dotsync')}")
        raise typer.Exit()


@app.callback()
def _dotsync(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print dotsync's version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """Keep DotDigital address books in sync with customer segments."""


for _module in (export, inspect, verify, pull, manage, demo, serve, users, emulator):
    _module.register(app)
for _command in app.registered_commands:
    # The command list shows a summary that fits its line (a longer first sentence is cut at
    # "..."); the modules give theirs at registration, this one the demo's.
    if _command.name == "demo" and _command.short_help is None:
        _command.short_help = "See an export work end to end against a local emulator."


def wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for JSON output, read from the raw arguments: a usage error
    stops the parsing before any option is known."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg in ("--json", "--log-format=json"):
            return True
        if arg == "--log-format" and i + 1 < len(args) and args[i + 1] == "json":
            return True
    return False


def main() -> None:
    try:
        _main()
    except BrokenPipeError:  # printed outside a command's error handling (click's own output)
        try:
            stop_on_broken_pipe()
        except typer.Exit:
            sys.exit(BROKEN_PIPE_EXIT)


def _main() -> None:
    args = sys.argv[1:]
    if not wants_json(args):
        app()
        return
    # With JSON output, a usage error (an unknown option, a missing argument) is a JSON line too.
    try:
        code = app(args=args, standalone_mode=False)
    except typer.TyperException as exc:
        setup_logging(verbose=False, as_json=True)
        report_error(
            exc.format_message(),
            exit_code=exc.exit_code,
            json_logs=True,
            error_type=type(exc).__name__,
        )
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
