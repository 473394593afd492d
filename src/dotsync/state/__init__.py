"""Where dotsync remembers what DotDigital confirmed: members (keys, ids, hashes), runs, imports."""

from dotsync.state.members import DuckMembers, MemberStore, SqlMembers
from dotsync.state.store import (
    ImportStatus,
    PendingImport,
    PendingRemoval,
    RemovalStatus,
    StateStore,
)

__all__ = [
    "DuckMembers",
    "ImportStatus",
    "MemberStore",
    "PendingImport",
    "PendingRemoval",
    "RemovalStatus",
    "SqlMembers",
    "StateStore",
]
