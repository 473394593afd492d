"""The rules of users, roles and passwords, and the state that keeps them: no process, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dotsync.console.passwords import hash_password, verify_password
from dotsync.console.throttle import LoginThrottle
from dotsync.console.users import (
    Role,
    UserInputError,
    check_name,
    check_password,
    parse_role,
)
from dotsync.state import StateStore
from dotsync.state.accounts import Accounts, UserError
from dotsync.state.store import open_engine


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    with StateStore(url):
        pass
    return Accounts(open_engine(url))


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.CONTRIBUTOR) and Role.CONTRIBUTOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.CONTRIBUTOR) and not Role.CONTRIBUTOR.allows(Role.ADMIN)
    assert parse_role(" Admin ") is Role.ADMIN


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("ada", True),
        ("a.b-c_9", True),
        ("ann@example.com", False),
        ("", False),
        ("-x", False),
        ("x" * 65, False),
        ("with space", False),
    ],
)
def test_user_names(name: str, valid: bool) -> None:
    if valid:
        assert check_name(name) == name
    else:
        with pytest.raises(UserInputError):
            check_name(name)


def test_passwords() -> None:
    with pytest.raises(UserInputError, match="too short"):
        check_password("short")
    with pytest.raises(UserInputError, match="differ"):
        check_password("long-enough-1", confirmation="long-enough-2")
    stored = hash_password("long-enough-1")
    assert stored.startswith("$argon2id$") and "long-enough" not in stored
    assert verify_password(stored, "long-enough-1")
    assert not verify_password(stored, "long-enough-2")
    assert not verify_password(None, "long-enough-1")  # an unknown user: refused all the same


def test_role_password_and_removal_raise_the_session_generation(accounts: Accounts) -> None:
    accounts.add("ada", Role.ADMIN, hash_password("ada-password-1"), created_by="test")
    bob = accounts.add("bob", Role.VIEWER, hash_password("bob-password-1"), created_by="ada")
    accounts.set_role("bob", Role.CONTRIBUTOR)
    accounts.set_password("bob", hash_password("bob-password-2"))
    after = accounts.require("bob")
    assert after.session_generation == bob.session_generation + 2
    with pytest.raises(UserError, match="already exists"):
        accounts.add("bob", Role.VIEWER, "x", created_by="ada")
    with pytest.raises(UserError, match="only admin"):
        accounts.set_role("ada", Role.VIEWER)
    with pytest.raises(UserError, match="only admin"):
        accounts.remove("ada")
    accounts.remove("bob")
    assert accounts.by_id(bob.id) is None


def test_the_setup_token_works_once_and_expires(accounts: Accounts) -> None:
    accounts.new_setup_token("old-token", datetime.now(UTC) + timedelta(hours=1))
    accounts.new_setup_token("token", datetime.now(UTC) + timedelta(hours=1))
    assert not accounts.setup_token_valid("old-token")  # replaced at the next start
    with pytest.raises(UserError, match="not valid"):
        accounts.create_first_admin("old-token", "ada", hash_password("ada-password-1"))
    accounts.create_first_admin("token", "ada", hash_password("ada-password-1"))
    with pytest.raises(UserError, match="not valid"):
        accounts.create_first_admin("token", "eve", hash_password("eve-password-1"))
    accounts.new_setup_token("late", datetime.now(UTC) - timedelta(seconds=1))
    assert not accounts.setup_token_valid("late")


def test_the_login_throttle_slides_over_its_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(user_limit=3, address_limit=5, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("bob", "10.0.0.1") is None
        throttle.failed("bob", "10.0.0.1")
        now[0] += 1
    # At 1003, the first failure (1000) leaves the window at 1060.
    assert throttle.retry_after("bob", "10.0.0.2") == 57
    assert throttle.retry_after("BOB", "10.0.0.2") == 57  # names compare without case
    assert throttle.retry_after("eve", "10.0.0.1") is None  # the address is under its limit
    throttle.failed("eve", "10.0.0.1")
    throttle.failed("eve", "10.0.0.1")
    assert throttle.retry_after("zoe", "10.0.0.1") is not None  # 5 from one address
    now[0] += 60
    assert throttle.retry_after("bob", "10.0.0.2") is None
    for _ in range(2):
        throttle.failed("carl", "10.0.0.3")
    throttle.succeeded("carl")  # a success forgets the name's failures
    for _ in range(2):
        throttle.failed("carl", "10.0.0.4")
    assert throttle.retry_after("carl", "10.0.0.5") is None
