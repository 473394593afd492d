"""Resolve a connection's password from the environment, an owner-only file or the keyring.

The value is wrapped in ``SecretStr`` at once and never appears in a message, a log or a repr.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import keyring
from keyring.errors import KeyringError
from pydantic import SecretStr

from dotsync.config.models import ConnectionConfig
from dotsync.errors import ConfigError

KEYRING_SERVICE = "dotsync"
_OWNER_ONLY_MODES = (0o600, 0o400)


def resolve_password(
    connection: ConnectionConfig, *, name: str, config_path: Path | None = None
) -> SecretStr:
    """The API password of ``connection``; ``name`` (the connection's key in dotsync.toml) lets
    messages name the setting to fix (``connections.<name>.password_env``), after the file it is
    in (``config_path``), as every other configuration error does."""
    try:
        return _resolve(connection, f"connections.{name}")
    except ConfigError as exc:
        if config_path is None:
            raise
        error = ConfigError(f"{config_path}: {exc.message}", detail=exc.detail)
        error.key = exc.key
        raise error from None


def _resolve(connection: ConnectionConfig, where: str) -> SecretStr:
    if connection.password_env is not None:
        return _from_environment(connection.password_env, where)
    if connection.password_file is not None:
        return _from_file(connection, where)
    if connection.password_keyring:
        return _from_keyring(connection.api_user, where)
    # The configuration model requires one source; this guards hand-built models.
    raise ConfigError(
        "no password source: set password_env, password_file or password_keyring",
        key=where,
    )


def _from_environment(variable: str, where: str) -> SecretStr:
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(
            f"the environment variable {variable} is not set or empty; export it with the API "
            f"user's password (e.g. `export {variable}=...`) before running dotsync",
            key=f"{where}.password_env",
        )
    return SecretStr(value)


def _from_file(connection: ConnectionConfig, where: str) -> SecretStr:
    path = connection.password_file
    assert path is not None
    key = f"{where}.password_file"
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise ConfigError(f"the password file {path} does not exist", key=key) from None
    if mode not in _OWNER_ONLY_MODES:
        raise ConfigError(
            f"the password file {path} has mode {mode:04o}, so other users may read it; "
            f"restrict it to its owner with `chmod 600 {path}`",
            key=key,
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        # The exception text never holds the file's content; only its kind is reported.
        raise ConfigError(
            f"cannot read the password file {path} ({type(exc).__name__})", key=key
        ) from None
    # One trailing newline is what `echo secret > file` leaves; it is not part of the password.
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        raise ConfigError(f"the password file {path} is empty", key=key)
    return SecretStr(value)


def _from_keyring(api_user: str, where: str) -> SecretStr:
    key = f"{where}.password_keyring"
    try:
        value = keyring.get_password(KEYRING_SERVICE, api_user)
    except KeyringError as exc:
        raise ConfigError(
            f"the system keyring could not be read ({type(exc).__name__}); use password_env "
            "or password_file instead",
            key=key,
        ) from None
    if not value:
        raise ConfigError(
            f"no password in the keyring for service {KEYRING_SERVICE!r} and the user in "
            f"{where}.api_user; store it with `keyring set {KEYRING_SERVICE} <that api_user>`",
            key=key,
        )
    return SecretStr(value)
