"""Feed entries to profile keys, in DuckDB: no network and no disk of its own.

The export's members (``state_members``: key, contact id, e-mail hash) name a contact by its id,
or by its e-mail's hash. Two more sources name keys that are not members (any more): members
DotDigital refused as suppressed (``pull_refused``: key, e-mail hash; no contact id), and keys
earlier pulls wrote rows for (``pull_known``: a member the segments then left out leaves the
export's members). Those count only while the key is not a member: a member again, with another
e-mail, the old contact's reports are not its own. Contacts none names are counted, never
written. E-mail addresses are hashed as they arrive (``identity.email_hash_sql``) and never kept.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

from dotsync import tables
from dotsync.dotdigital.models import ContactSummary, Suppression
from dotsync.identity import email_hash_sql
from dotsync.pull.feeds import Feed
from dotsync.pull.statuses import (
    RESUBSCRIBED,
    PullStatus,
    Scope,
    StatusChange,
    is_subscribed,
    status_of,
)
from dotsync.state.pulls import PULLED_TABLE, REFUSED_TABLE

ENTRIES = "pull_entries"  # (feed, contact_id, email_hash, status, reason, scope, changed_at)
OBSERVED = "pull_observed"  # (contact_id, email_hash, subscribed, in_book, changed_at)
KEYS = "pull_keys"  # (key, contact_id, email_hash): who the export knows


def create_inputs(duck: duckdb.DuckDBPyConnection) -> None:
    """The tables the reads fill (empty), and the view of known keys. Needs ``state_members``,
    ``pull_refused`` and ``pull_known``."""
    duck.execute(
        f"""create or replace temp table {ENTRIES}(feed varchar, contact_id bigint,
        email_hash varchar, status varchar, reason varchar, scope varchar,
        changed_at timestamptz)"""
    )
    duck.execute(
        f"""create or replace temp table {OBSERVED}(contact_id bigint, email_hash varchar,
        subscribed boolean, in_book boolean, changed_at timestamptz)"""
    )
    duck.execute(
        f"""create or replace temp view {KEYS} as
        select key, contact_id, email_hash from {tables.STATE_MEMBERS}
        union all
        select o.key, o.contact_id, o.email_hash from (
          select key, null::bigint as contact_id, email_hash from {REFUSED_TABLE}
          union all select key, contact_id, email_hash from {PULLED_TABLE}) o
        where not exists (select 1 from {tables.STATE_MEMBERS} s where s.key = o.key)"""
    )


def add_entries(
    duck: duckdb.DuckDBPyConnection, feed: Feed, page: Sequence[Suppression], seen_at: datetime
) -> None:
    """A page of a status feed. An entry without a date is dated when it was read."""
    rows = pa.table(  # noqa: F841 - read by name in the SQL below
        {
            "contact_id": pa.array([s.contact_id for s in page], pa.int64()),
            "email": pa.array([s.email for s in page], pa.string()),
            "status": pa.array([str(status_of(s.reason)) for s in page], pa.string()),
            "reason": pa.array([s.reason or "Unknown" for s in page], pa.string()),
            "changed_at": pa.array(
                [s.date_removed or seen_at for s in page], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    duck.execute(
        f"""insert into {ENTRIES} select ?, contact_id,
        case when email is null then null else {email_hash_sql("email")} end,
        status, reason, ?, changed_at from rows
        where contact_id is not null or email is not null""",
        [feed.name, str(feed.scope)],
    )


def add_observed(
    duck: duckdb.DuckDBPyConnection,
    page: Sequence[ContactSummary],
    book_id: int,
    seen_at: datetime,
) -> None:
    """A page of the account's changes: each contact's status now, whether the export's book
    holds it, dated when DotDigital last changed the contact (a resubscription included;
    ``seen_at`` when it does not say)."""
    rows = pa.table(  # noqa: F841 - read by name in the SQL below
        {
            "contact_id": pa.array([c.contact_id for c in page], pa.int64()),
            "email": pa.array([c.email for c in page], pa.string()),
            "subscribed": pa.array([is_subscribed(c.status) for c in page], pa.bool_()),
            "in_book": pa.array([book_id in c.lists for c in page], pa.bool_()),
            "changed_at": pa.array(
                [c.modified or seen_at for c in page], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    duck.execute(
        f"""insert into {OBSERVED} select contact_id,
        case when email is null then null else {email_hash_sql("email")} end,
        subscribed, in_book, changed_at from rows"""
    )


def _keyed(source: str) -> str:
    """``source``'s rows with the key of each, matched by contact id or by e-mail hash (two
    equality joins: an ``or`` in one join would compare every entry with every member)."""
    return f"""
        select k.key, s.* from {source} s join {KEYS} k on s.contact_id = k.contact_id
        union
        select k.key, s.* from {source} s join {KEYS} k on s.email_hash = k.email_hash"""


def keyed_reports(duck: duckdb.DuckDBPyConnection) -> list[StatusChange]:
    """Every entry of the status feeds that names a key of the export, as a report of it."""
    rows = duck.execute(
        f"""select distinct key, status, reason, scope, changed_at from ({_keyed(ENTRIES)})
        order by key, changed_at"""
    ).fetchall()
    return [
        StatusChange(str(key), PullStatus(status), str(reason), Scope(scope), changed_at)
        for key, status, reason, scope, changed_at in rows
    ]


def unknown_contacts(duck: duckdb.DuckDBPyConnection) -> int:
    """Contacts of the status feeds that no key of the export names (counted, never written)."""
    row = duck.execute(
        f"""select count(distinct coalesce(e.email_hash, e.contact_id::varchar)) from {ENTRIES} e
        where not exists (select 1 from {KEYS} k where k.contact_id = e.contact_id)
          and not exists (select 1 from {KEYS} k where k.email_hash = e.email_hash)"""
    ).fetchone()
    return int(row[0]) if row else 0


def resubscribed(
    duck: duckdb.DuckDBPyConnection, wanted: Mapping[str, Scope]
) -> list[StatusChange]:
    """Reports of the keys ``wanted`` whose contact the account's changes show subscribed again:
    in the account for a key that left the account, and in the export's book too for one that
    left the book only (its latest sighting counts, when seen twice)."""
    if not wanted:
        return []
    duck.register(
        "_pull_risk",
        pa.table(
            {
                "key": pa.array(list(wanted), pa.string()),
                "book_only": pa.array([s is Scope.BOOK for s in wanted.values()], pa.bool_()),
            }
        ),
    )
    try:
        rows = duck.execute(
            f"""select o.key, max(o.changed_at) from ({_keyed(OBSERVED)}) o
            join _pull_risk r using (key)
            group by o.key, r.book_only
            having arg_max(o.subscribed and (o.in_book or not r.book_only), o.changed_at)
            order by o.key"""
        ).fetchall()
    finally:
        duck.unregister("_pull_risk")
    return [
        StatusChange(str(key), PullStatus.SUBSCRIBED, RESUBSCRIBED, wanted[str(key)], changed_at)
        for key, changed_at in rows
    ]


def contacts_of(
    duck: duckdb.DuckDBPyConnection, keys: Collection[str]
) -> list[tuple[str, int | None, str | None]]:
    """(key, contact id, e-mail hash) of the contact each key's reports were about, for
    ``pull_known`` (a row's key stays named once its member has left the export)."""
    if not keys:
        return []
    duck.register("_pull_written", pa.table({"key": pa.array(sorted(keys), pa.string())}))
    try:
        rows = duck.execute(
            f"""select key, max(contact_id), max(email_hash) from (
              select key, contact_id, email_hash from ({_keyed(ENTRIES)})
              union all select key, contact_id, email_hash from ({_keyed(OBSERVED)}))
            where key in (select key from _pull_written) group by key order by key"""
        ).fetchall()
    finally:
        duck.unregister("_pull_written")
    return [
        (str(k), None if c is None else int(c), None if h is None else str(h)) for k, c, h in rows
    ]
