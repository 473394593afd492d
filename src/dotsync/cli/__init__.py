"""The ``dotsync`` command: a thin typer app. Each module of this package registers one group of
commands; they parse options, call one function of the library, and print."""

from __future__ import annotations

import typer

from dotsync.cli import demo, emulator, export, inspect, manage, serve, verify

app = typer.Typer(
    name="dotsync",
    help="Keep DotDigital address books in sync with customer segments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in (export, inspect, verify, manage, demo, serve, emulator):
    _module.register(app)


def main() -> None:
    app()
