"""``dotsync demo``: see an export work end to end, with no account and no set-up."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dotsync.cli._common import (
    JsonOption,
    VerboseOption,
    err,
    handled,
    out,
    print_json,
    setup_logging,
    styled,
)
from dotsync.cli.export import _progress, print_summary
from dotsync.errors import ConfigError, DotsyncError

if TYPE_CHECKING:
    from dotsync.demo import DemoOutcome

DEMO_PORT = 8765  # as dotsync.demo.DEMO_PORT, which is not imported here to keep --help quick
CONSOLE_PORT = 9465  # as ServeConfig's default port
DEMO_ADMIN = "admin"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    profiles: Annotated[int, typer.Option(help="How many synthetic profiles.", min=100)] = 50_000,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Leave the demo's project here (profiles, dotsync.toml, the emulator's data, "
            "state, a README), ready to run again with the commands printed at the end.",
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option(
            help="Port of the `dotsync emulator` command printed at the end, which the "
            "project's dotsync.toml points at.",
            min=1,
            max=65535,
        ),
    ] = DEMO_PORT,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an earlier demo in --dir (its data, state and any edits to its "
            "dotsync.toml), unless its emulator is still running.",
        ),
    ] = False,
    console: Annotated[
        bool,
        typer.Option(
            "--console",
            help="Then open the web console on the demo's project, with its emulator behind: "
            "prints the console's address and an admin's password, made for this session. "
            "Ctrl-C stops both.",
        ),
    ] = False,
    console_port: Annotated[
        int,
        typer.Option(help="Port of the console (with --console).", min=1, max=65535),
    ] = CONSOLE_PORT,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Export two segments of synthetic profiles to a local DotDigital emulator, then refresh."""
    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        if console and as_json:
            raise ConfigError("--console runs until Ctrl-C and prints no JSON: drop --json")
        if console:  # before the demo's runs, not after them
            for option, number in (("--port", port), ("--console-port", console_port)):
                _require_free(option, number)
        if folder is None:
            if port != DEMO_PORT or force:
                # Both are about the project left in --dir; without it nothing is left to run.
                raise ConfigError(
                    f"{'--port' if port != DEMO_PORT else '--force'} applies to the project "
                    "left by --dir: pass --dir FOLDER too (without it the demo runs in a "
                    "temporary folder on a free port)"
                )
            with tempfile.TemporaryDirectory(prefix="dotsync-demo-") as tmp:
                _demo(Path(tmp), profiles, port, as_json, shown=None, force=False, console=console)
                if console:
                    _console(Path(tmp), port, console_port)
        else:
            shown = str(folder)
            _demo(folder.resolve(), profiles, port, as_json, shown=shown, force=force)
            if console:
                _console(folder.resolve(), port, console_port)


def _demo(
    folder: Path,
    profiles: int,
    port: int,
    as_json: bool,
    *,
    shown: str | None,
    force: bool,
    console: bool = False,
) -> None:
    """``shown`` is the folder as the user typed it (for the printed commands); None when the
    folder is temporary."""
    from dotsync.demo import run_demo  # the in-process emulator: only the demo needs it

    def say(message: str) -> None:
        if not as_json:
            err.print(styled(message, "dim"))

    with _progress(enabled=not as_json) as progress:
        outcome = run_demo(
            folder,
            profiles=profiles,
            port=port,
            force=force,
            progress=progress,
            say=say,
            on_run=(lambda _result: None) if as_json else print_summary,
        )
    if as_json:
        print_json(
            {
                "first": outcome.first.model_dump(mode="json"),
                "refresh": outcome.refresh.model_dump(mode="json"),
                "address_book_contacts": outcome.book_contacts,
                "expected_members": outcome.expected_members,
                "folder": str(folder) if shown is not None else None,
                "commands": None if shown is None else asdict(outcome.commands),
            }
        )
    else:
        out.print(
            f"address book now holds {outcome.book_contacts:,} contacts "
            f"(segments: {outcome.expected_members:,} valid members, "
            f"{outcome.first.counts.suppressed:,} suppressed)"
        )
        if shown is None:  # the paths printed above are in a temporary folder, gone at exit
            gone = "deleted when the console stops" if console else "deleted now"
            out.print(
                f"the files named above (profiles, the emulator's data, rejected rows) were in "
                f"a temporary folder, {gone}: `{_program()} demo --dir demo` keeps them, "
                "with a dotsync.toml, as a project that runs again",
                highlight=False,
                markup=False,
            )
        else:
            _print_commands(outcome, shown)
    if outcome.book_contacts + outcome.first.counts.suppressed != outcome.expected_members:
        raise DotsyncError("the address book does not match the segments", detail=str(outcome))


def _print_commands(outcome: DemoOutcome, shown: str) -> None:
    cd = f"cd {shlex.quote(shown)} && "
    out.print(
        f"the project is in {shown} (its README.md says what each file is); to run it again, "
        "start the emulator with its data in one terminal (Ctrl-C stops it), then export in "
        "another:",
        highlight=False,
    )
    program = _program()
    for command in (outcome.commands.start_emulator, outcome.commands.run_export):
        command = program + command.removeprefix("dotsync")
        out.print(f"  {cd}{command}", highlight=False, markup=False)


def _program() -> str:
    """How to type this ``dotsync`` in another folder: the bare name when it is the one on PATH
    (an activated venv, a global install), else its absolute path (``.venv/bin/dotsync`` run
    without activating the venv)."""
    running = Path(sys.argv[0]).absolute()
    on_path = shutil.which("dotsync")
    if on_path is not None and Path(on_path).resolve() == running.resolve():
        return "dotsync"
    if running.name != "dotsync" or not os.access(running, os.X_OK):
        return "dotsync"  # not the console script (python -m, a test runner): nothing better
    return shlex.quote(str(running))


def _require_free(option: str, port: int) -> None:
    """Refuse, naming the option, a port that another program listens on."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ConfigError(
                f"{option} {port}: another program listens there ({exc.strerror}); choose a "
                f"free port with {option}"
            ) from None


def _console(folder: Path, port: int, console_port: int) -> None:
    """The console on the demo's project, its emulator (with the demo's data) on ``port``, where
    the project's dotsync.toml points; an admin with a new password. Runs until Ctrl-C."""
    from dotsync.console.context import ConsoleState, ProjectPaths
    from dotsync.console.passwords import hash_password
    from dotsync.console.users import Role
    from dotsync.demo import EMULATOR_STATE
    from dotsync.emulator import EmulatorSettings, run_emulator
    from dotsync.serve.app import serve
    from dotsync.serve.server import ServeOptions

    config_path = folder / "dotsync.toml"
    password = secrets.token_urlsafe(12)
    state = ConsoleState(ProjectPaths.of(config_path))
    try:
        if state.accounts.get(DEMO_ADMIN) is None:
            state.accounts.add(
                DEMO_ADMIN, Role.ADMIN, hash_password(password), created_by="dotsync demo"
            )
        else:  # a demo run again in its folder: a new password for this session
            state.accounts.set_password(DEMO_ADMIN, hash_password(password))
    finally:
        state.close()
    settings = EmulatorSettings(state_file=folder / EMULATOR_STATE)
    with run_emulator(settings, port=port):
        out.print(
            f"the console: http://127.0.0.1:{console_port}/ (sign in as {DEMO_ADMIN!r} with "
            f"password {password}); the DotDigital emulator with the demo's data on port {port}. "
            "Ctrl-C stops both.",
            highlight=False,
            markup=False,
        )
        serve(config_path, ServeOptions(port=console_port))
