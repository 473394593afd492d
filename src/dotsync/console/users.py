"""Users of the console and their roles: pure values and rules, no storage.

Roles are ordered: an admin can do what a contributor can, a contributor what a viewer can.
- viewer: reads every page;
- contributor: runs and cancels exports, edits exports and segments on the connections shared;
- admin: also creates connections and manages users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# A name is shown in pages, history and the audit log: never an e-mail address, so no "@".
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD_LENGTH = 10  # NIST SP 800-63B asks for at least 8; a console of customer data, 10
MAX_PASSWORD_LENGTH = 256  # argon2 takes any length; a bound keeps a login cheap to refuse


class Role(StrEnum):
    ADMIN = "admin"
    CONTRIBUTOR = "contributor"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        match self:
            case Role.ADMIN:
                return 3
            case Role.CONTRIBUTOR:
                return 2
            case Role.VIEWER:
                return 1

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


@dataclass(frozen=True)
class User:
    """A signed-in user, as the pages see it."""

    name: str
    role: Role

    def can(self, needed: Role) -> bool:
        return self.role.allows(needed)


class UserInputError(ValueError):
    """A user name, role or password that cannot be accepted; the message says why."""


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UserInputError(
            f"invalid user name {name!r}: 1 to 64 letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit (no e-mail addresses: names are shown in pages and "
            "the audit log)"
        )
    return name


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise UserInputError(f"unknown role {value!r}: use one of {known}") from None


def check_password(password: str, *, confirmation: str | None = None) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserInputError(
            f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserInputError(f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters")
    if confirmation is not None and confirmation != password:
        raise UserInputError("the two passwords differ")
    return password
