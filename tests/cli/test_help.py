"""Help texts as written: every bracketed word (`[exports.NAME]`, `[serve]`) reaches the screen, no
flag is labelled `<bool>`; `--version`; every command takes --config (DOTSYNC_CONFIG), --json
and --verbose."""

from __future__ import annotations

import functools
import re
import subprocess
from importlib.metadata import version

import pytest
import typer
from cli.cli_support import DOTSYNC

from dotsync.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
BRACKETED = re.compile(r"\[[A-Za-z_.]+\]")


@functools.cache  # one process per command, however many tests read its help
def _help(*args: str) -> str:
    done = subprocess.run(
        [str(DOTSYNC), *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "100", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return " ".join(done.stdout.split())  # wrapping may split a phrase over two lines


def _written_help(command_name: str) -> str:
    """Every help text of a command as the code spells it: the command's and its parameters'."""
    command = typer.main.get_command(app).commands[command_name]  # type: ignore[attr-defined]
    texts = [command.help or "", *[getattr(p, "help", None) or "" for p in command.params]]
    return " ".join(" ".join(texts).split())


def test_the_scan_covers_every_command() -> None:
    assert {"export", "plan", "serve", "connect", "history", "demo", "emulator"} <= set(COMMANDS)
    assert BRACKETED.findall(_written_help("export")) == ["[exports.NAME]"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_keeps_every_bracketed_word_and_labels_no_flag_bool(command: str) -> None:
    shown = _help(command)
    for word in BRACKETED.findall(_written_help(command)):
        assert word in shown, f"dotsync {command} --help lost {word}:\n{shown}"
    assert "<bool>" not in shown


@pytest.mark.parametrize(
    ("command", "phrase"),
    [
        ("export", "The export to run ([exports.NAME])."),
        ("serve", "/metrics on [serve] host and port."),
        ("connect", "The connection ([connections.NAME])."),
    ],
)
def test_the_phrases_a_newcomer_saw_cut(command: str, phrase: str) -> None:
    assert phrase in _help(command)


def _leaf_commands() -> list[tuple[str, ...]]:
    """Every command that runs, a group's subcommands included (``users add``)."""
    leaves: list[tuple[str, ...]] = []
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        leaves += [(name, sub) for sub in sorted(subcommands)] if subcommands else [(name,)]
    return sorted(leaves)


@pytest.mark.parametrize(
    "command", [c for c in _leaf_commands() if c[0] not in ("emulator", "demo")], ids=" ".join
)
def test_every_command_takes_config_json_and_verbose(command: tuple[str, ...]) -> None:
    shown = _help(*command)
    for option in ("--config", "DOTSYNC_CONFIG", "--json", "--verbose"):
        assert option in shown, f"dotsync {' '.join(command)} --help has no {option}"


def test_top_level_help_lists_commands_whole_and_version() -> None:
    shown = _help()
    assert "..." not in shown.replace("[ARGS]...", "")  # no summary cut short
    done = subprocess.run(
        [str(DOTSYNC), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stdout == f"dotsync {version('dotsync')}\n"
