"""Every table a run keeps in its DuckDB connection: its name, the columns the next stages rely on,
and the stage that makes it, in the order a run makes them. Stages name these tables through this
module (``str(table)`` is its name), never as literals. ``tests/test_tables.py`` runs a real
export and checks each table against what is written here.

Tables marked ``open_ended`` carry more columns after these: the mapped fields (``src_N`` as read,
``f_<FIELD>`` as sent).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunTable:
    name: str
    columns: tuple[str, ...]
    made_by: str
    open_ended: bool = False

    def __str__(self) -> str:
        """The table's name, so SQL can say ``f"select key from {TO_SEND}"``."""
        return self.name


MEMBERS_RAW = RunTable(
    "members_raw",
    ("key", "segments", "row_version"),
    "sources: the segments' profiles (dropped before sending)",
    True,
)
MEMBERS_KEPT = RunTable(
    "members_kept", ("key", "segments"), "sources: members whose change marker did not move"
)
MEMBERS_GONE = RunTable(
    "members_gone",
    ("key",),
    "sources (warehouse diff): keys of mirrored members in no segment any more",
)
SOURCE_REJECTED = RunTable(
    "source_rejected", ("key", "reason", "field", "detail"), "sources: rows refused while read"
)
MEMBERS_VALID = RunTable(
    "members_valid",
    ("key", "email", "email_hash", "digest"),
    "mapping.validate (dropped before sending)",
    True,
)
MEMBERS_REJECTED = RunTable(
    "members_rejected", ("key", "reason", "field", "detail"), "mapping.validate"
)
STATE_MEMBERS = RunTable(
    "state_members",
    ("key", "contact_id", "email_hash", "digest", "row_version"),
    "state: the export's members",
)
LEDGER_CONTACTS = RunTable(
    "ledger_contacts", ("email_hash", "contact_id", "origin", "status"), "state: the book's ledger"
)
LEDGER_KEPT = RunTable(
    "ledger_kept", ("export", "email_hash", "contact_id"), "state: leavers kept under 'keep'"
)
OTHER_HOLDINGS = RunTable(
    "other_holdings", ("email_hash", "contact_id"), "state: other exports' members of the book"
)
BOOK_READ = RunTable(
    "book_read", ("email_hash", "contact_id", "status"), "ownership: the book (or its changes)"
)
POSSIBLE_HASHES = RunTable(
    "possible_hashes", ("email_hash",), "ownership: batches that may have been delivered"
)
TO_SEND = RunTable(
    "to_send", ("key", "email", "email_hash", "digest"), "plan.make_plan (then kind)", True
)
TO_LEAVE = RunTable("to_leave", ("key", "contact_id", "reason"), "plan.make_plan")
LEAVING = RunTable("leaving", ("contact_id", "email_hash"), "ownership.split_leavers")
LEAVING_OWNER = RunTable(
    "leaving_owner", ("contact_id", "email_hash", "held", "origin"), "ownership.split_leavers"
)
TO_REMOVE = RunTable("to_remove", ("contact_id",), "ownership.split_leavers")
DELIVERY_FAILURES = RunTable(
    "delivery_failures", ("key", "reason", "field", "detail"), "delivery: DotDigital's refusals"
)

# In the order a run makes them.
RUN_TABLES = (
    MEMBERS_RAW,
    MEMBERS_KEPT,
    MEMBERS_GONE,
    SOURCE_REJECTED,
    MEMBERS_VALID,
    MEMBERS_REJECTED,
    STATE_MEMBERS,
    LEDGER_CONTACTS,
    LEDGER_KEPT,
    OTHER_HOLDINGS,
    BOOK_READ,
    POSSIBLE_HASHES,
    TO_SEND,
    TO_LEAVE,
    LEAVING,
    LEAVING_OWNER,
    TO_REMOVE,
    DELIVERY_FAILURES,
)
