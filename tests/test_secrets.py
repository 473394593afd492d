"""resolve_password: environment, owner-only file, keyring; the value never in a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.keyring_fixtures import MemoryKeyring

from dotsync.config import ConnectionConfig
from dotsync.errors import ConfigError
from dotsync.secrets import resolve_password

SECRET = "pa55-w0rd;with'quotes"


def connection(**password: Any) -> ConnectionConfig:
    return ConnectionConfig(api_user="apiuser-1@apiconnector.com", address_book_id=1, **password)


def test_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_PASSWORD_T", SECRET)
    secret = resolve_password(connection(password_env="DD_PASSWORD_T"), name="eu")
    assert secret.get_secret_value() == SECRET
    assert SECRET not in repr(secret) and SECRET not in str(secret)


def test_missing_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DD_PASSWORD_T", raising=False)
    with pytest.raises(ConfigError, match=r"connections\.eu\.password_env: .*DD_PASSWORD_T"):
        resolve_password(connection(password_env="DD_PASSWORD_T"), name="eu")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_from_owner_only_file(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "password"
    path.write_text(SECRET + "\n", encoding="utf-8")
    path.chmod(mode)
    assert resolve_password(connection(password_file=path), name="eu").get_secret_value() == SECRET


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o700])
def test_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "password"
    path.write_text(SECRET, encoding="utf-8")
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        resolve_password(connection(password_file=path), name="eu")
    message = str(caught.value)
    assert f"chmod 600 {path}" in message and f"{mode:04o}" in message
    assert SECRET not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_password(connection(password_file=tmp_path / "absent"), name="eu")


def test_from_keyring(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("dotsync", "apiuser-1@apiconnector.com", SECRET)
    assert (
        resolve_password(connection(password_keyring=True), name="eu").get_secret_value() == SECRET
    )


def test_keyring_without_entry_says_how_to_store_it(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("other", "apiuser-1@apiconnector.com", SECRET)
    with pytest.raises(ConfigError) as caught:
        resolve_password(connection(password_keyring=True), name="eu")
    assert "the user in connections.eu.api_user" in str(caught.value)
    assert "`keyring set dotsync <that api_user>`" in str(caught.value)
    assert "apiuser-1@apiconnector.com" not in str(caught.value)


def test_password_not_in_connection_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_PASSWORD_T", SECRET)
    conn = connection(password_env="DD_PASSWORD_T")
    assert SECRET not in repr(conn) and SECRET not in repr(resolve_password(conn, name="eu"))
