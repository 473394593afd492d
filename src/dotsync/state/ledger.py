"""The ownership ledger of an address book: who is in it as far as dotsync knows, and whose.

A book is known by (DotDigital account id, book id): several API users of one account, and several
exports, share it. For each contact of the book the ledger keeps its e-mail hash, its contact id
(none for a contact DotDigital refused as suppressed: it returns no id), its ``origin`` and its
``status``:

- origin ``added``: dotsync put it in the book (an import of dotsync confirmed it, or a batch that
  may have been delivered landed); ``found``: it was in the book before dotsync wrote it there
  (seen by the baseline read or by a read of the book's changes); empty: not in the book through
  anyone we know (a contact refused as suppressed);
- status ``confirmed``, ``suppressed`` (refused or reported as such) or ``unsubscribed`` (from
  this book, by dotsync's ``on_segment_exit = unsubscribe`` or as the book's changes say).

The rule every removal follows (runs, ``remove --purge-members``): a contact leaves the book only
when no export of the book holds it any more and its origin is ``added``. Which exports hold it
is in their member stores; a contact an export let go under ``on_segment_exit = keep`` stays held
by that export in ``book_kept``.

Merging is idempotent (a replayed commit changes nothing): origin, once known, is never
overwritten (``found`` stays ``found`` when dotsync then updates the contact), a contact id is
kept when a row brings none, the status is the latest one.

Homes: beside a SQLite state, one DuckDB file per book (``members/book-ACCOUNT-BOOK.duckdb``),
attached to the run's DuckDB connection, so that a million contacts are joined in DuckDB; with a
PostgreSQL state, the tables ``book_contacts`` and ``book_kept`` of the state database.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
from sqlalchemy import ColumnElement, Engine, Select, Table, delete, select

from dotsync import tables
from dotsync.identity import quote_literal
from dotsync.state.arrow import query_to_arrow
from dotsync.state.duckfiles import attach_or_busy
from dotsync.state.schema import book_contacts, book_kept

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class Origin(StrEnum):
    ADDED = "added"
    FOUND = "found"


class Presence(StrEnum):
    CONFIRMED = "confirmed"
    SUPPRESSED = "suppressed"
    UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True)
class BookRef:
    """An address book of a DotDigital account: the ledger's key."""

    account: str  # the account's id from account-info (several API users share an account)
    book_id: int

    @property
    def slug(self) -> str:
        return f"{_SAFE.sub('_', self.account)}-{int(self.book_id)}"


# The merge of incoming rows (email_hash, contact_id, origin, status) into what is known.
_MERGED = """
    select n.email_hash,
      coalesce(n.contact_id, o.contact_id) as contact_id,
      coalesce(o.origin, n.origin) as origin,
      coalesce(n.status, o.status) as status,
      {run_id} as run_id
    from (select email_hash, any_value(contact_id) as contact_id, any_value(origin) as origin,
            any_value(status) as status
          from _ledger_in group by email_hash) n
    left join {table} o using (email_hash)
"""


class Ledger(Protocol):
    def register(self, duck: duckdb.DuckDBPyConnection, book: BookRef) -> None:
        """Make ``ledger_contacts(email_hash, contact_id, origin, status)`` and
        ``ledger_kept(export, email_hash, contact_id)`` queryable in ``duck``."""

    def merge(self, duck: duckdb.DuckDBPyConnection, book: BookRef, query: str, run_id: int) -> int:
        """Merge the rows ``query`` (run in ``duck``) returns, as (email_hash, contact_id,
        origin, status); origin or status may be null (unknown). Returns how many."""

    def forget(self, book: BookRef, contact_ids: Sequence[int]) -> None:
        """These contacts left the book (dotsync removed them)."""

    def keep(self, duck: duckdb.DuckDBPyConnection, book: BookRef, export: str, query: str) -> None:
        """``export`` keeps holding the contacts ``query`` returns (email_hash, contact_id)."""

    def release(self, book: BookRef, export: str) -> None:
        """``export`` holds nothing of the book any more (it was removed)."""

    def count(self, book: BookRef) -> dict[str, int]:
        """Contacts by origin (``added``, ``found``, ``none``)."""

    def drop(self, book: BookRef) -> list[Path]:
        """Forget the book (no export writes it any more). Returns files for the caller to
        delete."""

    def close(self) -> None: ...


def _incoming(duck: duckdb.DuckDBPyConnection, query: str) -> None:
    duck.execute(
        f"""create or replace temp table _ledger_in as
        select q.h::varchar as email_hash, q.c::bigint as contact_id,
          q.o::varchar as origin, q.s::varchar as status from ({query}) as q(h, c, o, s)"""
    )


class DuckLedger:
    """One DuckDB file per book, beside the SQLite state."""

    ALIAS = "dotsync_ledger"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._duck: duckdb.DuckDBPyConnection | None = None
        self._book: BookRef | None = None
        self._own: duckdb.DuckDBPyConnection | None = None

    def file(self, book: BookRef) -> Path:
        return self.folder / f"book-{book.slug}.duckdb"

    def _attach(self, duck: duckdb.DuckDBPyConnection, book: BookRef) -> str:
        if self._duck is duck and self._book == book:
            return self.ALIAS
        self._detach()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.file(book)
        attach_or_busy(duck, path, self.ALIAS, f"the ledger of address book {book.book_id}")
        path.chmod(0o600)
        # No primary keys, as in the member store: ``merge`` keeps email_hash unique itself.
        duck.execute(
            f"""create table if not exists {self.ALIAS}.contacts (
                email_hash varchar not null, contact_id bigint, origin varchar,
                status varchar, run_id integer not null)"""
        )
        duck.execute(
            f"""create table if not exists {self.ALIAS}.kept (
                export varchar not null, email_hash varchar not null, contact_id bigint)"""
        )
        self._duck, self._book = duck, book
        return self.ALIAS

    def _connection(self, book: BookRef) -> duckdb.DuckDBPyConnection:
        if self._duck is not None and self._book == book:
            return self._duck
        self._own = self._own or duckdb.connect()
        self._attach(self._own, book)
        return self._own

    def register(self, duck: duckdb.DuckDBPyConnection, book: BookRef) -> None:
        alias = self._attach(duck, book)
        duck.execute(
            f"create or replace temp view {tables.LEDGER_CONTACTS} as "
            f"select email_hash, contact_id, origin, status from {alias}.contacts"
        )
        duck.execute(
            f"create or replace temp view {tables.LEDGER_KEPT} as "
            f"select export, email_hash, contact_id from {alias}.kept"
        )

    def merge(self, duck: duckdb.DuckDBPyConnection, book: BookRef, query: str, run_id: int) -> int:
        alias = self._attach(duck, book)
        duck.execute("begin transaction")
        try:
            _incoming(duck, query)
            merged = _MERGED.format(run_id=int(run_id), table=f"{alias}.contacts")
            duck.execute(f"create or replace temp table _ledger_merged as {merged}")
            duck.execute(
                f"delete from {alias}.contacts "
                "where email_hash in (select email_hash from _ledger_merged)"
            )
            duck.execute(f"insert into {alias}.contacts select * from _ledger_merged")
            row = duck.execute("select count(*) from _ledger_merged").fetchone()
            duck.execute("drop table _ledger_merged")
            duck.execute("drop table _ledger_in")
            duck.execute("commit")
        except BaseException:
            duck.execute("rollback")
            raise
        return int(row[0]) if row else 0

    def forget(self, book: BookRef, contact_ids: Sequence[int]) -> None:
        duck = self._connection(book)
        duck.register("_ledger_gone", pa.table({"contact_id": pa.array(contact_ids, pa.int64())}))
        for table in ("contacts", "kept"):
            duck.execute(
                f"delete from {self.ALIAS}.{table} "
                "where contact_id in (select contact_id from _ledger_gone)"
            )
        duck.unregister("_ledger_gone")

    def keep(self, duck: duckdb.DuckDBPyConnection, book: BookRef, export: str, query: str) -> None:
        alias = self._attach(duck, book)
        duck.execute(
            f"""insert into {alias}.kept
            select distinct {quote_literal(export)}, q.h, q.c from ({query}) as q(h, c)
            where q.h not in (
              select email_hash from {alias}.kept where export = {quote_literal(export)})"""
        )

    def release(self, book: BookRef, export: str) -> None:
        if not self.file(book).exists():
            return
        duck = self._connection(book)
        duck.execute(f"delete from {self.ALIAS}.kept where export = {quote_literal(export)}")

    def count(self, book: BookRef) -> dict[str, int]:
        if not self.file(book).exists():
            return {}
        duck = self._connection(book)
        rows = duck.execute(
            f"select coalesce(origin, 'none'), count(*) from {self.ALIAS}.contacts group by 1"
        ).fetchall()
        return {str(o): int(n) for o, n in rows}

    def _detach(self) -> None:
        if self._duck is not None:
            with contextlib.suppress(duckdb.Error):  # the run's connection may be closed
                self._duck.execute(f"detach {self.ALIAS}")
        self._duck, self._book = None, None

    def drop(self, book: BookRef) -> list[Path]:
        self.close()
        path = self.file(book)
        return [p for p in (path, path.with_suffix(".duckdb.wal")) if p.exists()]

    def close(self) -> None:
        self._detach()
        if self._own is not None:
            self._own.close()
            self._own = None


class SqlLedger:
    """The tables of the state database (PostgreSQL): what a team's machines share."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _where(self, table: Table, book: BookRef) -> list[ColumnElement[bool]]:
        """book_contacts or book_kept: the same key columns."""
        return [table.c.account_id == book.account, table.c.address_book_id == book.book_id]

    def register(self, duck: duckdb.DuckDBPyConnection, book: BookRef) -> None:
        contacts = self._arrow(  # noqa: F841 - read by name in the SQL below
            select(
                book_contacts.c.email_hash,
                book_contacts.c.contact_id,
                book_contacts.c.origin,
                book_contacts.c.status,
            ).where(*self._where(book_contacts, book)),
            pa.schema(
                [
                    ("email_hash", pa.string()),
                    ("contact_id", pa.int64()),
                    ("origin", pa.string()),
                    ("status", pa.string()),
                ]
            ),
        )
        kept = self._arrow(  # noqa: F841 - read by name in the SQL below
            select(book_kept.c.export, book_kept.c.email_hash, book_kept.c.contact_id).where(
                *self._where(book_kept, book)
            ),
            pa.schema(
                [("export", pa.string()), ("email_hash", pa.string()), ("contact_id", pa.int64())]
            ),
        )
        duck.execute(
            f"create or replace temp table {tables.LEDGER_CONTACTS} as select * from contacts"
        )
        duck.execute(f"create or replace temp table {tables.LEDGER_KEPT} as select * from kept")

    def _arrow(self, query: Select[Any], schema: pa.Schema) -> pa.Table:
        return query_to_arrow(self.engine, query, schema)

    def merge(self, duck: duckdb.DuckDBPyConnection, book: BookRef, query: str, run_id: int) -> int:
        _incoming(duck, query)
        rows = duck.execute(
            "select email_hash, any_value(contact_id), any_value(origin), any_value(status) "
            "from _ledger_in group by email_hash"
        ).fetchall()
        duck.execute("drop table _ledger_in")
        if not rows:
            return 0
        params = [(book.account, book.book_id, h, c, o, s, run_id) for h, c, o, s in rows]
        with self.engine.begin() as conn:
            ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(
                "INSERT INTO book_contacts (account_id, address_book_id, email_hash, contact_id,"
                f" origin, status, run_id) VALUES ({', '.join([ph] * 7)})"
                " ON CONFLICT (account_id, address_book_id, email_hash) DO UPDATE SET"
                " contact_id = coalesce(excluded.contact_id, book_contacts.contact_id),"
                " origin = coalesce(book_contacts.origin, excluded.origin),"
                " status = coalesce(excluded.status, book_contacts.status),"
                " run_id = excluded.run_id",
                params,
            )
        return len(params)

    def forget(self, book: BookRef, contact_ids: Sequence[int]) -> None:
        with self.engine.begin() as conn:
            for start in range(0, len(contact_ids), 5000):
                chunk = list(contact_ids[start : start + 5000])
                for table in (book_contacts, book_kept):
                    conn.execute(
                        delete(table).where(
                            *self._where(table, book),
                            table.c.contact_id.in_(chunk),
                        )
                    )

    def keep(self, duck: duckdb.DuckDBPyConnection, book: BookRef, export: str, query: str) -> None:
        rows = duck.execute(f"select distinct email_hash, contact_id from ({query})").fetchall()
        if not rows:
            return
        params = [(book.account, book.book_id, export, h, c) for h, c in rows]
        with self.engine.begin() as conn:
            ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(
                "INSERT INTO book_kept (account_id, address_book_id, export, email_hash,"
                f" contact_id) VALUES ({', '.join([ph] * 5)})"
                " ON CONFLICT (account_id, address_book_id, export, email_hash) DO NOTHING",
                params,
            )

    def release(self, book: BookRef, export: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(book_kept).where(
                    *self._where(book_kept, book),
                    book_kept.c.export == export,
                )
            )

    def count(self, book: BookRef) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(book_contacts.c.origin, book_contacts.c.contact_id).where(
                    *self._where(book_contacts, book)
                )
            ).all()
        out: dict[str, int] = {}
        for origin, _cid in rows:
            out[origin or "none"] = out.get(origin or "none", 0) + 1
        return out

    def drop(self, book: BookRef) -> list[Path]:
        with self.engine.begin() as conn:
            for table in (book_contacts, book_kept):
                conn.execute(delete(table).where(*self._where(table, book)))
        return []

    def close(self) -> None:
        return None
