"""Where dotsync remembers what DotDigital confirmed: members (keys, ids, hashes), runs, imports."""

from dotsync.state.store import (
    ImportStatus,
    MemberRow,
    PendingImport,
    PendingRemoval,
    RemovalStatus,
    StateStore,
)

__all__ = [
    "ImportStatus",
    "MemberRow",
    "PendingImport",
    "PendingRemoval",
    "RemovalStatus",
    "StateStore",
]
