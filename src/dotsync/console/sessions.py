"""Session cookies: signed by Starlette's SessionMiddleware (itsdangerous) with a key kept in an
owner-only file of the work dir (never in ``dotsync.toml``), carrying the user's id and session
generation. A generation that no longer matches the user's (role or password changed, user removed)
ends the session."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from starlette.requests import HTTPConnection

from dotsync.console.users import User
from dotsync.state.accounts import Account, Accounts

SECRET_FILE = "console-session.key"  # noqa: S105 (a file name, not a secret)
SESSION_COOKIE = "dotsync_session"
SESSION_MAX_AGE = 8 * 3600  # seconds without a request before the cookie expires
_USER_ID, _GENERATION, CSRF_KEY = "uid", "gen", "csrf"


def session_secret(work_dir: Path) -> str:
    """The signing key, made once (created atomically: two servers starting at once agree)."""
    path = work_dir / SECRET_FILE
    if not path.exists():
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{SECRET_FILE}.", dir=work_dir)  # mode 0600
        tmp = Path(tmp_name)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            path.hardlink_to(tmp)
        tmp.unlink()
    path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def sign_in(connection: HTTPConnection, account: Account) -> None:
    """A new session for ``account``: the old one (and its CSRF token) is dropped, so a session id
    planted before login is worth nothing after it."""
    connection.session.clear()
    connection.session[_USER_ID] = account.id
    connection.session[_GENERATION] = account.session_generation
    connection.session[CSRF_KEY] = secrets.token_urlsafe(32)


def sign_out(connection: HTTPConnection) -> None:
    connection.session.clear()


def session_user(connection: HTTPConnection, accounts: Accounts) -> User | None:
    """The user of this session, if it is still valid; an ended session is cleared."""
    user_id = connection.session.get(_USER_ID)
    if not isinstance(user_id, int):
        return None
    account = accounts.by_id(user_id)
    if account is None or account.session_generation != connection.session.get(_GENERATION):
        connection.session.clear()
        return None
    return account.user


def csrf_token(connection: HTTPConnection) -> str:
    """This session's CSRF token, made on first use (an anonymous session has one too: the login
    form needs it)."""
    token = connection.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        connection.session[CSRF_KEY] = token
    return token
