"""Helpers and fixtures for tests of the ``dotsync`` command (imported by the conftest of
tests/cli and tests/security): the command against an emulator over HTTP, through the installed
console script (a subprocess, as a user runs it) or typer's CliRunner on ``dotsync.cli:app`` where
a subprocess would make the suite slow. Either way every outcome is checked for stray tracebacks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.project import PASSWORD_ENV, Project
from typer.testing import CliRunner

from dotsync.cli import app
from dotsync.emulator import RunningEmulator

DOTSYNC = Path(sys.executable).with_name("dotsync")  # the venv's console script


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Cli:
    """Runs ``dotsync ARGS --config <project>/dotsync.toml`` with the project's password set."""

    project: Project
    env: dict[str, str] = field(default_factory=dict)
    outcomes: list[tuple[tuple[str, ...], Outcome]] = field(default_factory=list)

    def _args(self, args: tuple[str, ...], config: bool) -> list[str]:
        return [*args, "--config", str(self.project.config_path)] if config else list(args)

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        config: bool = True,
        stdin: str | None = None,
    ) -> Outcome:
        """The real entry point: a subprocess of the installed ``dotsync`` script."""
        full_env = {**os.environ, **self.env, **(env or {})}
        done = subprocess.run(
            [str(DOTSYNC), *self._args(args, config)],
            capture_output=True,
            text=True,
            env=full_env,
            input=stdin if stdin is not None else "",
            timeout=120,
            cwd=self.project.folder,
            check=False,
        )
        return self._checked(args, Outcome(done.returncode, done.stdout, done.stderr))

    def invoke(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        config: bool = True,
        stdin: str | None = None,
    ) -> Outcome:
        """In process, through typer's CliRunner on the same app object."""
        runner = CliRunner()
        try:
            result = runner.invoke(
                app,
                self._args(args, config),
                env={**self.env, **(env or {})},
                input=stdin,
                catch_exceptions=False,
            )
        finally:
            _drop_dotsync_log_handlers()
        return self._checked(args, Outcome(result.exit_code, result.stdout, result.stderr))

    def _checked(self, args: tuple[str, ...], outcome: Outcome) -> Outcome:
        self.outcomes.append((args, outcome))
        if "--verbose" not in args:
            assert "Traceback" not in outcome.text, f"dotsync {' '.join(args)}:\n{outcome.text}"
        return outcome


def _drop_dotsync_log_handlers() -> None:
    # The handler writes to CliRunner's stream, closed once invoke returns.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dotsync_handler", False):
            root.removeHandler(handler)


@pytest.fixture
def project(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "News"}).json()
    return Project(folder=tmp_path, emulator=emulator, book_id=int(book["id"]), api_user=user)


@pytest.fixture
def cli(project: Project) -> Iterator[Cli]:
    _, password = project.emulator.credentials
    yield Cli(project, env={PASSWORD_ENV: password})


DataFieldMaker = Callable[[dict[str, str]], None]


@pytest.fixture
def make_data_fields(emulator: RunningEmulator) -> DataFieldMaker:
    """Creates data fields of the given DotDigital types in the emulator's account."""

    def make(fields: dict[str, str]) -> None:
        with emulator.client() as api:
            for name, kind in fields.items():
                reply = api.post(
                    "/v2/data-fields", json={"name": name, "type": kind, "visibility": "Private"}
                )
                assert reply.status_code in (200, 201), reply.text

    return make
