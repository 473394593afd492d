"""Password hashes: argon2id through argon2-cffi, with its default (RFC 9106 low-memory)
parameters; a hash records its own parameters, so raising them later rehashes at next login."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the user name is unknown, so that a login takes as long either way and its
    time does not tell which names exist. Made on first use: a hash costs ~0.1 s, which every
    command that imports this module would otherwise pay."""
    return _HASHER.hash("not a password of anyone")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
