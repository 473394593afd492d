"""What the messages of ``connect`` and ``export`` name: the connection by its key (with its display
name beside it), the setting to fix, the user's own SQL, the URL that did not answer. Each runs the
real command and checks its exit code and output."""

from __future__ import annotations

import json
import socket
import sys
import time

import pytest
from cli.cli_support import Cli
from support.project import PASSWORD_ENV, Project, profile


def _set(project: Project, old: str, new: str) -> None:
    text = project.config_path.read_text(encoding="utf-8")
    assert old in text
    project.config_path.write_text(text.replace(old, new), encoding="utf-8")


def _book_id(project: Project, name: str) -> int:
    with project.emulator.client() as api:
        books = api.get("/v2/address-books").json()
    return next(int(b["id"]) for b in books if b["name"].lower() == name.lower())


def test_a_missing_password_names_the_connection_setting(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    for args in (("connect", "dd"), ("export", "news")):
        missing = cli.invoke(*args, env={PASSWORD_ENV: ""})
        assert missing.code == 2, missing.text
        assert f"connections.dd.password_env: the environment variable {PASSWORD_ENV}" in (
            missing.stderr
        )


def test_an_unknown_book_names_the_command_to_list_books(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    _set(project, f"address_book_id = {project.book_id}", "address_book_id = 987654")
    for args in (("connect", "dd"), ("export", "news")):
        missing = cli.invoke(*args)
        assert missing.code == 3, missing.text
        assert "connection 'dd' (Test account): the account has no address book 987654" in (
            missing.stderr
        )
        assert "`dotsync address-books dd`" in missing.stderr
        assert "connections.dd.address_book_id" in missing.stderr
        assert "CONNECTION" not in missing.stderr


def test_system_books_are_refused_at_connect_and_export(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    for name in ("All Contacts", "Test"):
        book = _book_id(project, name)
        project.book_id, previous = book, project.book_id
        project.write_config()
        for args in (("connect", "dd"), ("export", "news")):
            refused = cli.invoke(*args)
            assert refused.code == 3, refused.text
            assert f"address book {book} ('{name}') is DotDigital's" in refused.stderr
            assert "connection 'dd' (Test account)" in refused.stderr
            assert "connections.dd.address_book_id" in refused.stderr
        project.book_id = previous
    every_contact = _book_id(project, "All Contacts")
    assert project.emulator.book_members(project.api_user, every_contact) == []  # nothing sent


def test_connect_shows_the_region_and_names_the_connection(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    shown = cli.invoke("connect", "dd")
    assert shown.code == 0, shown.text
    assert "connection 'dd' (Test account): OK" in shown.stdout
    assert "r1  " + project.emulator.base_url in shown.stdout
    assert "?" not in shown.stdout
    as_json = cli.invoke("connect", "dd", "--json")
    assert json.loads(as_json.stdout)["region"] == "r1"


def test_a_wrong_source_key_points_to_source_key(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    _set(project, 'key = "customer_id"', 'key = "customer"')
    for args in (("segments",), ("export", "news"), ("plan", "news")):
        wrong = cli.invoke(*args)
        assert wrong.code == 8, wrong.text
        assert "source.key: the profiles table 'profiles' has no column 'customer'" in wrong.stderr
        assert "customer_id" in wrong.stderr  # among the available columns
        assert "mapping" not in wrong.stderr and "segment" not in wrong.stderr


def test_a_segment_sql_error_shows_the_predicate_not_the_wrapper(
    cli: Cli, project: Project
) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    _set(project, 'where = "lifetime_value > 100"', 'where = "lifetime_valu > 100"')
    for args in (("segments",), ("export", "news")):
        failed = cli.invoke(*args)
        assert failed.code == 8, failed.text
        line = failed.stderr.strip()
        assert (
            "segment 'valuable': the predicate `lifetime_valu > 100` (segments.valuable.where)"
            in (line)
        )
        assert 'Referenced column "lifetime_valu" not found' in line
        assert "SELECT" not in line and "CAST" not in line and "^" not in line
        assert "LINE 1" not in line and len(line.splitlines()) == 1


def _unused_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_stopped_server_is_named_at_once(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    dead = f"http://127.0.0.1:{_unused_loopback_port()}"
    _set(project, project.emulator.base_url, dead)
    for args in (("connect", "dd"), ("export", "news")):
        started = time.monotonic()
        refused = cli.invoke(*args)
        assert time.monotonic() - started < 5  # no 8 s of retries against a closed local port
        assert refused.code == 3, refused.text
        assert f"nothing answers at {dead} (connection refused)" in refused.stderr
        assert "`connections.dd.api_url`" in refused.stderr
        assert "`dotsync emulator --state FILE`" in refused.stderr


def test_a_postgres_url_without_its_driver_says_which_extra_to_install(
    cli: Cli, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails as if not installed
    url = "postgresql+psycopg://postgres:Secret-pw-9@127.0.0.1:5432/test"
    project.write_profiles([profile(1)])
    project.state_url = url
    project.write_config()
    state = cli.invoke("history")
    assert state.code == 2, state.text
    assert "state.url: postgresql+psycopg://postgres:***@127.0.0.1:5432/test needs the Python " in (
        state.stderr
    )
    assert "pip install 'dotsync[postgres]'" in state.stderr and "Secret-pw-9" not in state.text

    project.state_url = None
    project.write_config()
    _set(project, 'path = "profiles.csv"', f'url = "{url}"\ntable = "profiles"')
    source = cli.invoke("segments")
    assert source.code == 2, source.text
    assert "source.url: postgresql+psycopg://postgres:***@127.0.0.1:5432/test" in source.stderr
    assert "pip install 'dotsync[postgres]'" in source.stderr and "Secret-pw-9" not in source.text


def test_partial_is_explained_where_it_is_printed(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1), profile(2, email="broken"), profile(3, email="")])
    project.write_config()
    export = cli.invoke("export", "news")
    assert export.code == 0, export.text
    assert "partial" in export.stdout
    assert (
        "partial: finished, but 2 rows were rejected before sending (each with its key and "
        "reason in the rejected rows file); the other members are in the address book"
    ) in " ".join(export.stdout.split())
    history = cli.invoke("history")
    assert "partial: finished, but some rows were rejected or suppressed" in " ".join(
        history.stdout.split()
    )
    shown = cli.invoke("show-run", "1")
    assert "partial: finished, but 2 rows were rejected" in " ".join(shown.stdout.split())
