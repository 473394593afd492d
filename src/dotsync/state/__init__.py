"""Where dotsync remembers what DotDigital confirmed: members (keys, ids, hashes), runs, imports."""

from dotsync.state.ledger import BookRef, Ledger, Origin, Presence
from dotsync.state.members import DuckMembers, MemberStore, SqlMembers
from dotsync.state.store import (
    ImportStatus,
    PendingImport,
    PendingRemoval,
    RemovalStatus,
    StateStore,
    VerifyRecord,
)

__all__ = [
    "BookRef",
    "DuckMembers",
    "ImportStatus",
    "Ledger",
    "MemberStore",
    "Origin",
    "PendingImport",
    "PendingRemoval",
    "Presence",
    "RemovalStatus",
    "SqlMembers",
    "StateStore",
    "VerifyRecord",
]
