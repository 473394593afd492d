"""Whose contacts are in the book: reading it, and deciding who may leave it.

At the start of a run, before anything is planned or sent (``BookReader.sync``):
1. the first time dotsync meets a book, the members its exports confirmed before the ledger
   existed (a 0.1 state) are entered as ``added`` by dotsync: 0.1 sent them and nothing can tell
   now who was there before (a read of the book today cannot say who put a contact there);
2. the book is read: the whole of it the first time (the baseline: ``GET /contacts/v3`` with
   ``~listId``, 5,000 a call, by marker), then only its changes since the previous read started
   (``~modified=gte::``, less ``CHANGES_OVERLAP``, in DotDigital's clock). A contact the ledger does
   not know is ``found`` (someone else put it there), unless it is in a batch that dotsync may
   have delivered, when it is ``added``. A contact's status (subscribed again, suppressed) is
   taken as the read says. Cost: one call per 5,000 contacts read; the first run after a large
   export reads again what that export changed (its imports change the contacts' dates too);
3. batches that may have been delivered (a run died between DotDigital's 202 and saving the import
   id, or the PUT's retries ran out with no reply) are matched against the ledger: their contacts
   that landed are held again by the export, with a digest that makes the plan send those still
   in the segments again and take those who left out of the book.

Then ``split_leavers`` (pure DuckDB) decides, for the plan's leavers, who leaves the book: only
contacts dotsync added, that no other export of the book holds (nor keeps).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import duckdb
import pyarrow as pa

from dotsync import mapping, tables
from dotsync.config import Config
from dotsync.identity import email_hash_sql, quote_literal
from dotsync.state import BookRef, StateStore
from dotsync.state.store import POSSIBLE_FOR

log = logging.getLogger(__name__)

# Each changes read starts this much before the previous one started, both in DotDigital's own
# clock (its replies' Date header: this machine's clock does not matter), so that a contact added
# just before a read but not yet listed by it is read by the next one. DotDigital documents no such
# lag (assumption: under two minutes). Reading a contact twice is harmless.
CHANGES_OVERLAP = timedelta(minutes=2)
# Dates kept in this machine's clock (where verify's feeds start) allow for clocks that disagree.
READ_OVERLAP = timedelta(minutes=10)
# A digest no member can have: a member held again from a possibly delivered batch is sent again
# if still in the segments (its values in the book are unknown).
POSSIBLE_DIGEST = "possibly-delivered"


class _Unsubscribe(Protocol):
    contact_id: int | None
    email: str | None


# The start of the unsubscribes feed for a book read whole (its first read).
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def record_refusals(
    store: StateStore, duck: duckdb.DuckDBPyConnection, book: BookRef, query: str, run_id: int
) -> int:
    """The one way a refusal enters the ledger, whoever finds it (an import's faults, a read of
    the book's unsubscribes, later a verify): ``query`` gives (email_hash, contact_id or null,
    status 'suppressed' | 'unsubscribed'). Such contacts are not sent again until a read of the
    book shows them subscribed again (suppressed) or ``--full``. A contact not known in the book
    yet counts as found there (if it is in the book at all, someone else put it there)."""
    return store.ledger.merge(
        duck,
        book,
        f"""select q.h, q.c, case when q.s = 'unsubscribed' then 'found' end, q.s
        from ({query}) as q(h, c, s)""",
        run_id,
    )


@dataclass(frozen=True)
class ReadCounts:
    contacts_read: int = 0  # contacts the read returned
    found: int = 0  # new to the ledger and not dotsync's
    resolved_possible: int = 0  # members of possibly delivered batches found in the book
    baseline: bool = False


# v3 statuses of a contact that mean it is (or may be) mailed: the ledger's "confirmed"; any
# other (unsubscribed, suppressed, bounced...) is "suppressed".
_MAILED = ("", "subscribed", "pendingoptin", "notavailableinthisregion")


def _presence(status: object) -> str:
    """v3 channel status of a contact → the ledger's status."""
    text = str(getattr(status, "value", status) or "").lower()
    return "confirmed" if text in _MAILED else "suppressed"


def _presence_sql(status: str) -> str:
    """:func:`_presence` in DuckDB SQL, for a read's page of statuses."""
    mailed = ", ".join(quote_literal(s) for s in _MAILED)
    return (
        f"case when lower(coalesce({status}, '')) in ({mailed}) "
        "then 'confirmed' else 'suppressed' end"
    )


class BookReader:
    def __init__(
        self,
        *,
        store: StateStore,
        duck: duckdb.DuckDBPyConnection,
        export: str,
        book: BookRef,
        run_id: int,
        read_book: Callable[[int, datetime | None], Iterable[pa.Table]] | None,
        read_unsubscribes: Callable[[int, datetime], Iterable[Sequence[_Unsubscribe]]]
        | None = None,
        progress: Callable[[str, int, int], None] = lambda _s, _d, _t: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        server_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store, self.duck, self.export, self.book = store, duck, export, book
        self.run_id, self.read_book, self.progress, self.clock = run_id, read_book, progress, clock
        # Where a changes read starts is a date DotDigital compares with its own: in its clock.
        # This machine's clock times what is ours (how old a possibly delivered batch is).
        self.server_clock = server_clock or clock
        self.read_unsubscribes = read_unsubscribes

    def register(self) -> None:
        """``ledger_contacts``, ``ledger_kept``, ``state_members`` and ``other_holdings``."""
        store, duck = self.store, self.duck
        store.ledger.register(duck, self.book)
        store.members.register(duck, self.export, self.book.book_id)
        others = [e for e in store.exports_of(self.book) if e != self.export]
        store.members.holdings(duck, others, self.book.book_id)

    def start(self) -> None:
        """Register the tables; the first time the ledger meets the book, enter the members
        confirmed before it existed."""
        self.register()
        if not self.store.book_read(self.book).owners_decided:
            self._decide_earlier_members()

    def must_read(self) -> bool:
        """Whether this run must read the book whatever its plan: never read yet (the baseline),
        or batches that may have been delivered wait to be matched. Otherwise a run with nothing
        to send and nobody leaving skips the read (the next read starts where the last one did)."""
        if self.read_book is None:
            return False
        if self.store.book_read(self.book).baseline_at is None:
            return True
        return bool(self.store.possible_imports([self.export], self.book.book_id))

    def sync(self) -> ReadCounts:
        """Read the book (whole, or its changes since the last read) into the ledger, and hold
        again the export's possibly delivered contacts that landed."""
        self.register()
        read = self.store.book_read(self.book)
        started = self.server_clock()
        if self.read_book is None:
            log.warning(
                "address book %s cannot be read through this client: contacts others put there "
                "are not told apart from dotsync's",
                self.book.book_id,
            )
            return ReadCounts()
        since = None
        if read.baseline_at is not None:
            since = (read.changes_from or started) - CHANGES_OVERLAP
        counts = self._read(since)
        self.store.record_book_read(
            self.book,
            changes_from=started,
            baseline_contacts=counts.contacts_read if since is None else None,
        )
        counts = ReadCounts(
            counts.contacts_read, counts.found, self._hold_possible(), baseline=since is None
        )
        self.register()  # holdings changed
        return counts

    def _decide_earlier_members(self) -> None:
        """Members confirmed by dotsync before the ledger (0.1): dotsync's own."""
        self.store.ledger.merge(
            self.duck,
            self.book,
            f"""select email_hash, contact_id, 'added', 'confirmed' from {tables.STATE_MEMBERS}
            union all select email_hash, contact_id, 'added', 'confirmed'
            from {tables.OTHER_HOLDINGS}""",
            self.run_id,
        )
        self.store.record_book_read(
            self.book,
            changes_from=self.store.book_read(self.book).changes_from or self.server_clock(),
            owners_decided=True,
        )
        self.store.ledger.register(self.duck, self.book)

    def _possible_hashes(self) -> None:
        files = [
            p.batch_file
            for p in self.store.possible_imports(
                self.store.exports_of(self.book), self.book.book_id
            )
            if p.batch_file.exists()
        ]
        if files:
            listing = ", ".join(quote_literal(str(f)) for f in files)
            self.duck.execute(
                f"create or replace temp table {tables.POSSIBLE_HASHES} as "
                f"select distinct email_hash from read_parquet([{listing}])"
            )
        else:
            self.duck.execute(
                f"create or replace temp table {tables.POSSIBLE_HASHES}(email_hash varchar)"
            )

    def _read(self, since: datetime | None) -> ReadCounts:
        assert self.read_book is not None
        duck = self.duck
        duck.execute(
            f"create or replace temp table {tables.BOOK_READ}"
            "(email_hash varchar, contact_id bigint, status varchar)"
        )
        total = 0
        stage = "read book" if since is None else "read book changes"
        self.progress(stage, 0, 0)
        for page in self.read_book(self.book.book_id, since):
            # A page (contact_id, email, status) as Arrow columns: hashed and judged in DuckDB.
            duck.register("_book_page", page)
            try:
                duck.execute(
                    f"insert into {tables.BOOK_READ} "
                    f"select {email_hash_sql('email')}, contact_id, {_presence_sql('status')} "
                    "from _book_page where email is not null and email <> ''"
                )
            finally:
                duck.unregister("_book_page")
            total += page.num_rows
            self.progress(stage, total, 0)
        self._possible_hashes()
        row = duck.execute(
            f"""select count(*) from {tables.BOOK_READ} r
            where r.email_hash not in (select email_hash from {tables.LEDGER_CONTACTS})
              and r.email_hash not in (select email_hash from {tables.POSSIBLE_HASHES})"""
        ).fetchone()
        found = int(row[0]) if row else 0
        # A contact unsubscribed from this book stays so until --full: the contact's own status
        # (what the read carries) says nothing of the book.
        self.store.ledger.merge(
            duck,
            self.book,
            f"""select r.email_hash, r.contact_id,
              case when p.email_hash is null then 'found' else 'added' end,
              case when r.status = 'confirmed' and l.status = 'unsubscribed' then null
                else r.status end
            from {tables.BOOK_READ} r left join {tables.POSSIBLE_HASHES} p using (email_hash)
              left join {tables.LEDGER_CONTACTS} l using (email_hash)""",
            self.run_id,
        )
        self._read_unsubscribes(since)
        self.store.ledger.register(duck, self.book)
        log.info("address book %s: %d contacts read, %d found", self.book.book_id, total, found)
        return ReadCounts(total, found)

    def _read_unsubscribes(self, since: datetime | None) -> None:
        """Who unsubscribed from this book (not from the account) since the last read: refused
        by DotDigital when sent to this book, so not sent again until --full."""
        if self.read_unsubscribes is None:
            return
        emails: list[str] = []
        ids: list[int | None] = []
        for page in self.read_unsubscribes(self.book.book_id, since or EPOCH):
            for item in page:
                if item.email:
                    emails.append(str(item.email))
                    ids.append(item.contact_id)
        if not emails:
            return
        self.duck.register(
            "book_unsubscribed",
            pa.table(
                {"email": pa.array(emails, pa.string()), "contact_id": pa.array(ids, pa.int64())}
            ),
        )
        record_refusals(
            self.store,
            self.duck,
            self.book,
            f"select {email_hash_sql('email')}, contact_id, 'unsubscribed' from book_unsubscribed",
            self.run_id,
        )
        self.duck.unregister("book_unsubscribed")

    def _hold_possible(self) -> int:
        """The export holds again its possibly delivered contacts that the ledger shows landed."""
        held = 0
        now = self.clock()
        for batch in self.store.possible_imports([self.export], self.book.book_id):
            if not batch.batch_file.exists() or now - batch.prepared_at > POSSIBLE_FOR:
                self.store.expire_possible(batch.row_id)
                # The copy read here and, on the machine that sent it, the file it wrote (keys,
                # hashes, digests: nothing to keep once the batch expired).
                batch.batch_file.unlink(missing_ok=True)
                batch.sent_file.unlink(missing_ok=True)
                continue
            source = f"read_parquet({quote_literal(str(batch.batch_file))})"
            held += self.store.members.upsert(
                self.duck,
                f"""select b.key, l.contact_id, b.email_hash, '{POSSIBLE_DIGEST}' as digest
                from {source} b join {tables.LEDGER_CONTACTS} l using (email_hash)
                where l.origin = 'added' and l.contact_id is not null
                  and b.key not in (select key from {tables.STATE_MEMBERS})""",
                self.export,
                self.book.book_id,
                self.run_id,
            )
        if held:
            log.info("%d contacts of possibly delivered batches were in the book", held)
        return held


@dataclass(frozen=True)
class LeaverSplit:
    remove: int  # contacts to take out of the book
    held_by_other_export: int
    found_in_book: int


def split_leavers(duck: duckdb.DuckDBPyConnection) -> LeaverSplit:
    """From ``to_leave``: ``leaving(contact_id, email_hash)`` (contacts no valid member holds any
    more) and ``to_remove(contact_id)`` (those of them dotsync added and no other export holds or
    keeps). Needs ``state_members``, ``members_valid``, ``ledger_contacts``, ``ledger_kept`` and
    ``other_holdings``."""
    # A contact whose e-mail a valid member has now holds (or is about to hold) it: two profiles
    # that swapped e-mails keep both contacts.
    duck.execute(
        f"""create or replace temp table {tables.LEAVING} as
        select l.contact_id, any_value(s.email_hash) as email_hash
        from {tables.TO_LEAVE} l join {tables.STATE_MEMBERS} s using (key)
        where s.email_hash not in (select email_hash from {tables.MEMBERS_VALID})
        group by l.contact_id"""
    )
    # Members a change marker kept (unread) hold their confirmed e-mail too: the few leavers
    # are matched against them (a semi-join probing the state, no table of a million hashes).
    kept = duck.execute(
        "select count(*) from duckdb_tables() where table_name = ?", [tables.MEMBERS_KEPT.name]
    ).fetchall()[0][0]
    if kept:
        duck.execute(
            f"""create or replace temp table _dotsync_sharing as
            select s.key, s.email_hash from {tables.STATE_MEMBERS} s
            where s.email_hash in (select email_hash from {tables.LEAVING})"""
        )
        duck.execute(
            f"""delete from {tables.LEAVING} where email_hash in (select c.email_hash
            from _dotsync_sharing c join {tables.MEMBERS_KEPT} k using (key))"""
        )
        duck.execute("drop table _dotsync_sharing")
    duck.execute(
        f"""create or replace temp table {tables.LEAVING_OWNER} as
        select v.contact_id, v.email_hash,
          (v.email_hash in (select email_hash from {tables.OTHER_HOLDINGS}
                            union select email_hash from {tables.LEDGER_KEPT})
           or v.contact_id in (select contact_id from {tables.OTHER_HOLDINGS}
                               union select contact_id from {tables.LEDGER_KEPT})) as held,
          coalesce(c.origin, 'added') as origin
        from {tables.LEAVING} v left join {tables.LEDGER_CONTACTS} c using (email_hash)"""
    )
    duck.execute(
        f"""create or replace temp table {tables.TO_REMOVE} as
        select contact_id from {tables.LEAVING_OWNER} where not held and origin = 'added'
        order by contact_id"""
    )
    row = duck.execute(
        f"""select count(*) filter (where not held and origin = 'added'),
          count(*) filter (where held),
          count(*) filter (where not held and origin <> 'added')
        from {tables.LEAVING_OWNER}"""
    ).fetchone()
    assert row is not None
    return LeaverSplit(int(row[0]), int(row[1]), int(row[2]))


def hold_back_refused(duck: duckdb.DuckDBPyConnection, *, full: bool) -> dict[str, int]:
    """Take out of ``to_send`` the members the ledger knows DotDigital refuses (suppressed, or
    unsubscribed from this book): not sent again until a read of the book shows them subscribed
    again, or ``--full``. Returns how many, by reason."""
    if full:
        return {}
    rows = duck.execute(
        f"""select case when c.status = 'unsubscribed' then 'unsubscribed_from_book'
                  else 'suppressed' end, count(*)
        from {tables.TO_SEND} t join {tables.LEDGER_CONTACTS} c using (email_hash)
        where c.status in ('suppressed', 'unsubscribed') group by 1"""
    ).fetchall()
    duck.execute(
        f"""delete from {tables.TO_SEND} where email_hash in
        (select email_hash from {tables.LEDGER_CONTACTS}
        where status in ('suppressed', 'unsubscribed'))"""
    )
    return {str(r): int(n) for r, n in rows}


_PURGE_SQL = f"""
    create or replace temp table purge as
    select contact_id, any_value(email_hash) as email_hash from (
      select contact_id, email_hash from {tables.STATE_MEMBERS}
      union all select contact_id, email_hash from {tables.LEDGER_KEPT}
        where export = {{export}} and contact_id is not null)
    group by contact_id
"""
_OWNERS_SQL = f"""
    select p.contact_id,
      (p.email_hash in (select email_hash from {tables.OTHER_HOLDINGS}
                        union select email_hash from {tables.LEDGER_KEPT}
                        where export <> {{export}})
       or p.contact_id in (select contact_id from {tables.OTHER_HOLDINGS}
                           union select contact_id from {tables.LEDGER_KEPT}
                           where export <> {{export}})),
      coalesce(c.origin, 'added')
    from purge p left join {tables.LEDGER_CONTACTS} c using (email_hash)
    order by p.contact_id
"""


def purgeable(store: StateStore, name: str, book: BookRef) -> tuple[list[int], int, int]:
    """The export's contacts that may leave the book (ownership rules, as in a run), and how
    many stay because another export holds them or because they were found there."""
    duck = duckdb.connect()
    try:
        store.ledger.register(duck, book)
        store.members.register(duck, name, book.book_id)
        others = [e for e in store.exports_of(book) if e != name]
        store.members.holdings(duck, others, book.book_id)
        duck.execute(_PURGE_SQL.format(export=quote_literal(name)))
        rows = duck.execute(_OWNERS_SQL.format(export=quote_literal(name))).fetchall()
    finally:
        store.members.close()
        store.ledger.close()
        duck.close()
    ids = [int(c) for c, held, origin in rows if not held and origin == "added"]
    held = sum(1 for _c, h, _o in rows if h)
    found = sum(1 for _c, h, o in rows if not h and o != "added")
    return ids, held, found


def shared_book_conflicts(config: Config, export: str) -> list[str]:
    """Exports that write the same book as ``export`` but map one of its data fields from another
    column or with another type: each run would overwrite what the other wrote. Pure: read from
    the configuration (same API host and book id)."""
    return [text for pair, text in book_conflicts(config) if export in pair]


def book_conflicts(config: Config) -> list[tuple[tuple[str, str], str]]:
    """Every pair of exports of one book (same API host and book id) that map a data field from
    different columns or with different types, once per pair and field: the pair and what to
    tell."""

    def book_of(name: str) -> tuple[str, int]:
        connection = config.connections[config.exports[name].connection]
        return str(connection.api_url).rstrip("/").lower(), int(connection.address_book_id)

    names = sorted(config.exports)
    found: list[tuple[tuple[str, str], str]] = []
    for i, first in enumerate(names):
        own = {f.name: f for f in mapping.plan_columns(config.exports[first].mapping)[1]}
        for second in names[i + 1 :]:
            if book_of(second) != book_of(first):
                continue
            for field in mapping.plan_columns(config.exports[second].mapping)[1]:
                theirs = own.get(field.name)
                if theirs is None:
                    continue
                if theirs.column != field.column or (
                    theirs.explicit_type and field.explicit_type and theirs.type != field.type
                ):
                    found.append(
                        (
                            (first, second),
                            f"data field {field.name} of address book {book_of(first)[1]}: "
                            f"export {first!r} writes column {theirs.column!r} ({theirs.type}), "
                            f"export {second!r} column {field.column!r} ({field.type}); each run "
                            "overwrites the other's",
                        )
                    )
    return found


def presence_of(status: object) -> str:
    """The ledger's status (``confirmed`` or ``suppressed``) of a v3 channel status: what a read
    of the book records, for ``dotsync verify`` too."""
    return _presence(status)
