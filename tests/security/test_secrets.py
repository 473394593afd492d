"""The API password never leaves its source: not in any output of any command (text, --json,
--verbose, --log-format json, errors), nor in the state, member store, history, rejected-rows
files or work folder. Read from the environment, an owner-only file or the keyring."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cli.cli_support import Cli
from pydantic import SecretStr
from security.stored_text import leaks
from support.emulator_fixtures import EmulatorFactory
from support.keyring_fixtures import MemoryKeyring
from support.project import PASSWORD_ENV, Project, profile

from dotsync.emulator import AccountSettings, RunningEmulator

API_USER = "secrets-test@apiconnector.com"
PASSWORD = "Zq7-Quokka!Secret#Lantern-4471"  # distinctive, so any leak is found


@pytest.fixture
def secret_emulator(emulator_factory: EmulatorFactory) -> RunningEmulator:
    return emulator_factory(
        accounts=[AccountSettings(api_user=API_USER, password=SecretStr(PASSWORD))]
    )


@pytest.fixture
def secret_project(secret_emulator: RunningEmulator, tmp_path: Path) -> Project:
    with secret_emulator.client() as api:
        book = int(api.post("/v2/address-books", json={"name": "News"}).json()["id"])
    project = Project(folder=tmp_path, emulator=secret_emulator, book_id=book, api_user=API_USER)
    rows = [profile(i) for i in range(10)]
    rows[4]["email"] = "broken"
    project.write_profiles(rows)
    project.write_config()
    return project


def _forms(secret: str) -> list[str]:
    """The password and the Basic-auth forms that would carry it."""
    basic = base64.b64encode(f"{API_USER}:{secret}".encode()).decode()
    return [
        secret,
        basic,
        basic[:-4] if len(basic) > 8 else basic,
        base64.b64encode(secret.encode()).decode().rstrip("="),
    ]


def _every_command(cli: Cli, project: Project) -> None:
    """Each command once, with every output form, a failure or two, and --verbose traces."""
    ok = [  # the export first: it creates the TIER field that plan and connect then check
        ("export", "news", "--verbose", "--log-format", "json"),
        ("connect", "dd"),
        ("connect", "dd", "--json", "--verbose"),
        ("address-books", "dd", "--verbose"),
        ("segments", "--json"),
        ("plan", "news", "--verbose"),
        ("plan", "news", "--json"),
        ("export", "news", "--json", "--full", "--verbose"),
        ("export", "--all"),
        ("history", "--json"),
        ("history",),
        ("show-run", "1"),
        ("show-run", "1", "--json"),
    ]
    for args in ok:
        assert cli.invoke(*args).code == 0, args
    text = project.config_path.read_text(encoding="utf-8")
    project.config_path.write_text(
        text.replace(f"address_book_id = {project.book_id}", "address_book_id = 4242"),
        encoding="utf-8",
    )
    assert cli.invoke("export", "news", "--verbose", "--log-format", "json").code == 3
    assert cli.invoke("connect", "dd", "--verbose").code == 3
    project.config_path.write_text(text, encoding="utf-8")
    assert cli.invoke("remove", "news", "--yes", "--purge-members", "--verbose").code == 0


def _assert_nowhere(cli: Cli, project: Project, skip: frozenset[Path] = frozenset()) -> None:
    outputs = "\n".join(o.text for _, o in cli.outcomes)
    assert outputs.count("{") > 10  # the --json and JSON-log outputs were captured
    for form in _forms(PASSWORD):
        assert form not in outputs
    assert leaks(project.folder, _forms(PASSWORD), skip=skip) == []


def test_password_from_the_environment_is_never_shown_or_stored(
    cli: Cli, secret_project: Project
) -> None:
    cli.project = secret_project
    cli.env = {PASSWORD_ENV: PASSWORD}
    for args in (
        ("connect", "dd", "--verbose"),
        ("export", "news", "--json", "--verbose", "--log-format", "json"),
    ):
        real = cli.run(*args)  # the installed command too, not only the in-process app
        assert real.code == 0, real.text
    _every_command(cli, secret_project)
    wrong = cli.invoke("export", "news", "--verbose", env={PASSWORD_ENV: PASSWORD + "x"})
    assert wrong.code == 3 and PASSWORD_ENV in wrong.stderr
    _assert_nowhere(cli, secret_project)


def test_password_from_an_owner_only_file(cli: Cli, secret_project: Project) -> None:
    secret = secret_project.folder / "dd.password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    text = secret_project.config_path.read_text(encoding="utf-8")
    secret_project.config_path.write_text(
        text.replace(f'password_env = "{PASSWORD_ENV}"', 'password_file = "dd.password"'),
        encoding="utf-8",
    )
    cli.project, cli.env = secret_project, {}

    secret.chmod(0o644)
    refused = cli.run("connect", "dd")
    assert refused.code == 2
    assert "mode 0644" in refused.stderr and f"chmod 600 {secret}" in refused.stderr

    secret.chmod(0o600)
    _every_command(cli, secret_project)
    _assert_nowhere(cli, secret_project, skip=frozenset({secret}))
    assert secret.read_text(encoding="utf-8") == PASSWORD + "\n"  # read, never rewritten


def test_password_from_the_keyring(
    cli: Cli, secret_project: Project, memory_keyring: MemoryKeyring
) -> None:
    text = secret_project.config_path.read_text(encoding="utf-8")
    secret_project.config_path.write_text(
        text.replace(f'password_env = "{PASSWORD_ENV}"', "password_keyring = true"),
        encoding="utf-8",
    )
    cli.project, cli.env = secret_project, {}
    empty = cli.invoke("connect", "dd")
    assert empty.code == 2 and "keyring set dotsync <that api_user>" in empty.stderr
    assert API_USER not in empty.text
    memory_keyring.set_password("dotsync", API_USER, PASSWORD)
    _every_command(cli, secret_project)
    _assert_nowhere(cli, secret_project)


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://api.example.com", False),
        ("http://10.0.0.5:8765", False),
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765", True),
        ("http://[::1]:8765", True),
        ("https://r1-api.dotdigital.com", True),
    ],
)
def test_plain_http_only_on_loopback(cli: Cli, project: Project, url: str, accepted: bool) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    text = project.config_path.read_text(encoding="utf-8")
    project.config_path.write_text(text.replace(project.emulator.base_url, url), encoding="utf-8")
    segments = cli.invoke("segments", "--json")  # loads the configuration, calls no API
    if accepted:
        assert segments.code == 0, segments.text
        assert json.loads(segments.stdout) == {"valuable": 1, "gold": 1}
    else:
        assert segments.code == 2
        assert "connections.dd.api_url: plain http is refused" in segments.stderr
    assert os.environ.get(PASSWORD_ENV)  # the refusal is not about a missing password
