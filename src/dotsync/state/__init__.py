"""Where dotsync remembers what DotDigital confirmed: members (keys, ids, hashes), runs, imports."""

from dotsync.state.ledger import BookRef, Ledger, Origin, Presence
from dotsync.state.members import DuckMembers, MemberStore, SqlMembers
from dotsync.state.pulls import FeedCursor, PullRecord, PullStore
from dotsync.state.store import (
    BatchStatus,
    PendingImport,
    PendingRemoval,
    RemovalStatus,
    StateStore,
    VerifyRecord,
)

__all__ = [
    "BatchStatus",
    "BookRef",
    "DuckMembers",
    "FeedCursor",
    "Ledger",
    "MemberStore",
    "Origin",
    "PendingImport",
    "PendingRemoval",
    "Presence",
    "PullRecord",
    "PullStore",
    "RemovalStatus",
    "SqlMembers",
    "StateStore",
    "VerifyRecord",
]
