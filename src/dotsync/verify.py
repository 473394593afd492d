"""Is the address book what dotsync believes? The comparison behind ``dotsync verify``.

Pure: DuckDB queries over tables the caller fills, and the call budget's arithmetic. No call to
DotDigital and no write to the state happen here (see ``dotsync.verifier`` for those).

Tables it reads:

- ``state_members(key, contact_id, email_hash, digest)``: the export's confirmed members;
- ``ledger_contacts(email_hash, contact_id, origin, status)`` and ``other_holdings(email_hash,
  contact_id)``: what the ledger and the book's other exports know;
- ``book_now(email_hash, contact_id, status)``: the book as a full read found it (status
  ``confirmed`` or ``suppressed``; ``email_hash`` null for a contact without an e-mail);
- ``feed_unsubscribed(email_hash, contact_id)``: unsubscribed from this book since a date (an
  unsubscribe takes the contact out of the book, so only the feed tells it from a removal);
- ``feed_suppressed(email_hash, contact_id)``: suppressed in the account since that date;
- ``possible_hashes(email_hash)``: contacts of batches that may have been delivered (a run
  resolves them; they are not "unknown").

What it finds:

- **missing**: members the export holds, confirmed in the ledger, not in the book, and neither
  unsubscribed from it nor suppressed: someone removed them (by hand, by another tool);
- **unsubscribed** / **suppressed**: contacts the ledger knows (any export of the book) that
  DotDigital now refuses, and that the ledger does not record as refused yet;
- **unknown**: contacts in the book that neither the ledger nor any export knows (someone else
  added them since the last run read the book's changes). Never removed by dotsync.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from dotsync import tables

MEMBER_PAGE = 5000  # GET /contacts/v3: up to 5,000 contacts a call
FEED_PAGE = 1000  # the v2 feeds: up to 1,000 a call
# Pages read at most from each feed: 10,000 unsubscribes (or suppressions) since the last recorded
# verify. A busier account reads the rest on the next verify (nothing is recorded from a feed cut
# short, and the missing are then not sent back: an unsubscribe might be among the unread pages).
FEED_MAX_PAGES = 10
SETUP_CALLS = 2  # GET /v2/account-info (the account's id) and GET /v2/address-books/{id} (its size)
SAMPLE_SIZE = 10


class VerifyStatus(StrEnum):
    RUNNING = "running"
    CLEAN = "clean"  # the book matches the state
    DRIFT = "drift"  # differences found, nothing changed (exit code 10)
    REPAIRED = "repaired"  # differences found and --repair dealt with them
    FAILED = "failed"  # the check could not be completed (see error)


@dataclass(frozen=True)
class CallBudget:
    """The most calls a verify makes: set before reading, printed, and never exceeded
    (retries after a transient error or a rate limit are extra, as in any run)."""

    book_contacts: int  # the book's size as DotDigital reported it before the read
    member_pages: int  # GET /contacts/v3 pages: one per 5,000 members, plus one for growth
    feeds: int  # change feeds read (0 when there is no date to read them from)
    feed_pages: int  # pages at most per feed

    @property
    def total(self) -> int:
        return SETUP_CALLS + self.member_pages + self.feeds * self.feed_pages

    def describe(self) -> str:
        feeds = (
            f" + {self.feeds} change feeds of up to {self.feed_pages} calls each"
            if self.feeds
            else " (no change feed: no earlier run or verify to read them from)"
        )
        return (
            f"at most {self.total:,} DotDigital calls: {SETUP_CALLS} to find the account and the "
            f"book, {self.member_pages:,} to read its {self.book_contacts:,} members "
            f"({MEMBER_PAGE:,} a call){feeds}"
        )


def call_budget(book_contacts: int, *, feeds: int, feed_pages: int = FEED_MAX_PAGES) -> CallBudget:
    # One page more than the size needs: the book may grow while it is read, and a read whose
    # size is an exact multiple of the page ends on a page that says so.
    pages = math.ceil(max(0, book_contacts) / MEMBER_PAGE) + 1
    return CallBudget(max(0, book_contacts), pages, feeds, feed_pages if feeds else 0)


class Check(BaseModel):
    """One read of the verify, what it is for, and its cost in calls."""

    model_config = ConfigDict(frozen=True)

    name: str  # setup | members | book_unsubscribes | account_suppressions
    endpoint: str
    purpose: str
    calls: int = 0
    budget: int = 0
    items: int = 0  # contacts (or feed entries) it returned
    since: datetime | None = None  # feeds: from when
    complete: bool = True  # False: a feed had more pages than its budget


class DriftCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    book_members: int = 0  # contacts the full read found in the book
    export_members: int = 0  # members the export holds in the state
    missing: int = 0
    unknown: int = 0
    unsubscribed: int = 0
    suppressed: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.unknown or self.unsubscribed or self.suppressed)


class Sample(BaseModel):
    """A contact named without its e-mail: the export's profile key where the export holds it,
    and its DotDigital contact id where known."""

    model_config = ConfigDict(frozen=True)

    key: str | None = None
    contact_id: int | None = None

    def label(self) -> str:
        if self.key is not None:
            return self.key
        return f"contact {self.contact_id}" if self.contact_id is not None else "?"


class RepairReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    statuses_recorded: int = 0  # unsubscribes and suppressions written to the ledger
    unknown_recorded_found: int = 0  # contacts of others, recorded as found (never removed)
    confirmations_forgotten: int = 0  # missing members the repair run treats as entering
    missing_not_sent_back: str | None = None  # why the missing were left alone, if they were
    run_id: int | None = None  # the export run that sent the missing back
    run_status: str | None = None
    run_entered: int = 0
    run_sent: int = 0


class VerifyReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    verify_id: int
    export: str
    address_book_id: int
    status: VerifyStatus
    started_at: datetime
    finished_at: datetime | None = None
    budget: int = 0
    api_calls: int = 0
    api_calls_by_endpoint: dict[str, int] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    counts: DriftCounts = Field(default_factory=DriftCounts)
    samples: dict[str, list[Sample]] = Field(default_factory=dict)
    repair: RepairReport | None = None
    error: str | None = None


def create_inputs(duck: duckdb.DuckDBPyConnection) -> None:
    """The tables the reads fill (empty)."""
    duck.execute(
        "create or replace temp table book_now(email_hash varchar, contact_id bigint, "
        "status varchar)"
    )
    for feed in ("feed_unsubscribed", "feed_suppressed"):
        duck.execute(f"create or replace temp table {feed}(email_hash varchar, contact_id bigint)")


# Contacts dotsync knows in the book: the ledger's, this export's members, other exports' members.
_KNOWN = f"""
    create or replace temp table verify_known as
    select email_hash, any_value(contact_id) as contact_id,
      coalesce(any_value(status), 'confirmed') as ledger_status
    from (
      select email_hash, contact_id, status from {tables.LEDGER_CONTACTS}
      union all select email_hash, contact_id, null from {tables.STATE_MEMBERS}
      union all select email_hash, contact_id, null from {tables.OTHER_HOLDINGS}
    ) where email_hash is not null
    group by email_hash
"""

# What DotDigital says of each known contact that it refuses: in the book with a refused status;
# or out of it, unsubscribed from this book, or suppressed in the account. A contact in the book
# and subscribed is not refused, whatever an older feed entry says.
_REFUSED = """
    create or replace temp table verify_refused as
    with present as (
      select k.email_hash, b.status from verify_known k join book_now b using (email_hash)
      union all
      select k.email_hash, b.status from verify_known k join book_now b using (contact_id)
    ),
    fed as (
      select k.email_hash, 'unsubscribed' as status, 1 as rank
        from verify_known k join feed_unsubscribed f using (email_hash)
      union all select k.email_hash, 'unsubscribed', 1
        from verify_known k join feed_unsubscribed f using (contact_id)
      union all select k.email_hash, 'suppressed', 2
        from verify_known k join feed_suppressed f using (email_hash)
      union all select k.email_hash, 'suppressed', 2
        from verify_known k join feed_suppressed f using (contact_id)
    )
    select email_hash, any_value(status) as status from present
      where status <> 'confirmed' group by email_hash
    union all
    select email_hash, arg_min(status, rank) from fed
      where email_hash not in (select email_hash from present)
      group by email_hash
"""

_MISSING = f"""
    create or replace temp table drift_missing as
    select s.key, s.contact_id, s.email_hash
    from {tables.STATE_MEMBERS} s join verify_known k using (email_hash)
    where k.ledger_status = 'confirmed'
      and not exists (select 1 from book_now b where b.email_hash = s.email_hash)
      and not exists (select 1 from book_now b where b.contact_id = s.contact_id)
      and not exists (select 1 from verify_refused r where r.email_hash = s.email_hash)
"""

_STATUS = """
    create or replace temp table drift_status as
    select r.email_hash, k.contact_id, r.status
    from verify_refused r join verify_known k using (email_hash)
    where k.ledger_status = 'confirmed'
"""

_UNKNOWN = f"""
    create or replace temp table drift_unknown as
    select b.email_hash, b.contact_id, b.status from book_now b
    where not exists (select 1 from verify_known k where k.email_hash = b.email_hash)
      and not exists (select 1 from verify_known k where k.contact_id = b.contact_id)
      and not exists (select 1 from {tables.POSSIBLE_HASHES} p where p.email_hash = b.email_hash)
"""


def compare(
    duck: duckdb.DuckDBPyConnection, sample_size: int = SAMPLE_SIZE
) -> tuple[DriftCounts, dict[str, list[Sample]]]:
    """Fills ``drift_missing(key, contact_id, email_hash)``, ``drift_status(email_hash,
    contact_id, status)`` and ``drift_unknown(email_hash, contact_id, status)``; returns the
    counts and samples (keys where the export holds the contact, else contact ids)."""
    for sql in (_KNOWN, _REFUSED, _MISSING, _STATUS, _UNKNOWN):
        duck.execute(sql)
    row = duck.execute(
        f"""select (select count(*) from book_now), (select count(*) from {tables.STATE_MEMBERS}),
          (select count(*) from drift_missing), (select count(*) from drift_unknown),
          (select count(*) from drift_status where status = 'unsubscribed'),
          (select count(*) from drift_status where status = 'suppressed')"""
    ).fetchone()
    assert row is not None
    counts = DriftCounts(
        book_members=int(row[0]),
        export_members=int(row[1]),
        missing=int(row[2]),
        unknown=int(row[3]),
        unsubscribed=int(row[4]),
        suppressed=int(row[5]),
    )
    n = int(sample_size)
    samples = {
        "missing": _samples(
            duck, f"select key, contact_id from drift_missing order by key limit {n}"
        ),
        "unknown": _samples(
            duck,
            f"select null, contact_id from drift_unknown order by contact_id limit {n}",
        ),
    }
    for status in ("unsubscribed", "suppressed"):
        samples[status] = _samples(
            duck,
            f"""select s.key, d.contact_id from drift_status d
            left join {tables.STATE_MEMBERS} s using (email_hash)
            where d.status = '{status}'
            order by s.key nulls last, d.contact_id limit {n}""",
        )
    return counts, samples


def _samples(duck: duckdb.DuckDBPyConnection, query: str) -> list[Sample]:
    return [
        Sample(
            key=None if key is None else str(key),
            contact_id=None if cid is None else int(cid),
        )
        for key, cid in duck.execute(query).fetchall()
    ]
