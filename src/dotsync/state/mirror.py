"""The confirmed members' keys and row versions, mirrored into the source database
(``[state] members_in = "source"``), so that the diff of a refresh runs there.

The member store of the state (``members.py``) stays the authority: contact ids, e-mail hashes
and digests of what DotDigital confirmed. The mirror holds, per export and book, each confirmed
member's ``key``, ``contact_id`` and ``row_version`` (the digest of its mapped source values that
the warehouse computed when its row was read), in two tables of ``[state] members_schema``:

- ``members(export, address_book_id, key, contact_id, row_version)``;
- ``exports(export, address_book_id, clean)``: whether the mirror of the export is exact.

:class:`MirroredMembers` wraps the state's member store: every change marks the mirror unclean
first, then changes the state, then the mirror, then marks it clean again. A process killed in
between leaves it unclean, and the next run rebuilds it from the state (one bulk write) before
trusting it: the mirror never holds a version the state does not (see ``sources/warehouse.py``).
Rows go in bulk: ``COPY`` on PostgreSQL, an Arrow insert on DuckDB, ``executemany`` elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from dotsync import tables
from dotsync.drivers import missing_driver
from dotsync.errors import SourceError
from dotsync.state.members import MemberStore

if TYPE_CHECKING:
    from dotsync.config import Config
    from dotsync.state import StateStore

log = logging.getLogger(__name__)

_MIRROR_COLUMNS = ["export", "address_book_id", "key", "contact_id", "row_version"]
_ON_CONFLICT_DIALECTS = ("postgresql", "duckdb")  # INSERT ... ON CONFLICT DO UPDATE


def mirror_tables(schema: str) -> tuple[sa.Table, sa.Table]:
    """The mirror's two tables in ``schema`` (SQLAlchemy Core: each dialect writes its SQL)."""
    metadata = sa.MetaData(schema=schema)
    members = sa.Table(
        "members",
        metadata,
        sa.Column("export", sa.String(200), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.String(1000), primary_key=True),
        sa.Column("contact_id", sa.BigInteger),
        sa.Column("row_version", sa.String(200)),
    )
    exports = sa.Table(
        "exports",
        metadata,
        sa.Column("export", sa.String(200), primary_key=True),
        sa.Column("address_book_id", sa.BigInteger, nullable=False),
        sa.Column("clean", sa.Boolean, nullable=False),
    )
    return members, exports


class Mirror:
    """The mirror tables of one export in the source database."""

    def __init__(self, engine: Engine, schema: str, export: str) -> None:
        self.engine = engine
        self.schema = schema
        self.export = export
        self.members, self.exports = mirror_tables(schema)

    def create(self) -> None:
        """The schema and tables, when missing (needs CREATE on the database or the schema)."""
        with self.engine.begin() as conn:
            if self.schema not in sa.inspect(conn).get_schema_names():
                conn.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
            self.members.metadata.create_all(conn, checkfirst=True)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction on the source database; its failures name the mirror's setting."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            raise SourceError(
                f"the warehouse mirror (state.members_schema = {self.schema!r}) in the source "
                f"database: {_db_message(exc)}"
            ) from exc

    def _qualified(self) -> str:
        quote = self.engine.dialect.identifier_preparer
        return f"{quote.quote_schema(self.schema)}.{quote.quote('members')}"

    def _of(self, book_id: int) -> sa.ColumnElement[bool]:
        return sa.and_(
            self.members.c.export == self.export, self.members.c.address_book_id == book_id
        )

    def state(self, book_id: int) -> tuple[bool, int]:
        """Whether the export's mirror is clean for ``book_id``, and how many members it holds."""
        with self._begin() as conn:
            clean = conn.execute(
                sa.select(self.exports.c.clean).where(
                    self.exports.c.export == self.export,
                    self.exports.c.address_book_id == book_id,
                )
            ).scalar_one_or_none()
            count = conn.execute(
                sa.select(sa.func.count()).select_from(self.members).where(self._of(book_id))
            ).scalar_one()
        return bool(clean), int(count)

    def mark_unclean(self, book_id: int) -> bool:
        """Mark the mirror unclean before the state changes; True when it was clean (then the
        change is mirrored too; an unclean mirror waits for its rebuild)."""
        with self._begin() as conn:
            result = conn.execute(
                sa.update(self.exports)
                .where(
                    self.exports.c.export == self.export,
                    self.exports.c.address_book_id == book_id,
                    self.exports.c.clean,
                )
                .values(clean=False)
            )
        return bool(result.rowcount)

    def _mark_clean(self, conn: Connection, book_id: int) -> None:
        conn.execute(sa.delete(self.exports).where(self.exports.c.export == self.export))
        conn.execute(
            sa.insert(self.exports).values(export=self.export, address_book_id=book_id, clean=True)
        )

    def rebuild(self, rows: pa.Table, book_id: int) -> None:
        """Replace the export's mirror with ``rows`` (key, contact_id, row_version) from the state,
        in one transaction, and mark it clean."""
        with self._begin() as conn:
            conn.execute(
                sa.update(self.exports)
                .where(self.exports.c.export == self.export)
                .values(clean=False)
            )
            conn.execute(sa.delete(self.members).where(self.members.c.export == self.export))
            if rows.num_rows:
                incoming = self._load(conn, rows)
                self._insert_from(conn, incoming, book_id)
                incoming.drop(conn)
            self._mark_clean(conn, book_id)
        if self.engine.dialect.name == "postgresql":
            # Fresh statistics, so the planner sizes the mirror right in the next diff (only its
            # owner may: a mirror made by an administrator waits for autovacuum).
            try:
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(f"ANALYZE {self._qualified()}")
            except sa.exc.DBAPIError as exc:
                log.info("the mirror was not analysed: %s", _db_message(exc))
        log.info("rebuilt the warehouse mirror of %d member(s) from the state", rows.num_rows)

    def upsert(self, rows: pa.Table, book_id: int) -> None:
        """Write ``rows`` (key, contact_id, row_version) over the mirror, and mark it clean."""
        with self._begin() as conn:
            if rows.num_rows:
                incoming = self._load(conn, rows)
                if conn.dialect.name in _ON_CONFLICT_DIALECTS:
                    # Each row finds its old one by the primary key: linear in the batch. A
                    # DELETE of the batch's keys, then an INSERT, joined the whole mirror for
                    # every import (hash joins: the statistics lag the bulk writes), which made a
                    # first export of 5M profiles 60% slower (376 s against 234 s).
                    conn.execute(self._upsert_from(incoming, book_id))
                else:
                    conn.execute(
                        sa.delete(self.members).where(
                            self._of(book_id), self.members.c.key.in_(sa.select(incoming.c.key))
                        )
                    )
                    self._insert_from(conn, incoming, book_id)
                incoming.drop(conn)
            self._mark_clean(conn, book_id)

    def _upsert_from(self, incoming: sa.Table, book_id: int) -> sa.Executable:
        """INSERT ... ON CONFLICT (the primary key) DO UPDATE, as PostgreSQL and DuckDB write it
        (duckdb_engine compiles with PostgreSQL's dialect)."""
        statement = postgresql.insert(self.members).from_select(
            _MIRROR_COLUMNS, self._rows_from(incoming, book_id)
        )
        return statement.on_conflict_do_update(
            index_elements=["export", "address_book_id", "key"],
            set_={
                "contact_id": statement.excluded.contact_id,
                "row_version": statement.excluded.row_version,
            },
        )

    def set_versions(self, rows: pa.Table, book_id: int) -> None:
        """Set the version of the members ``rows`` (key, row_version) names; mark it clean."""
        with self._begin() as conn:
            if rows.num_rows:
                incoming = self._load(conn, rows)
                conn.execute(
                    sa.update(self.members)
                    .where(self._of(book_id), self.members.c.key == incoming.c.key)
                    .values(row_version=incoming.c.row_version)
                )
                incoming.drop(conn)
            self._mark_clean(conn, book_id)

    def forget(
        self, book_id: int, *, keys: Sequence[str] = (), contact_ids: Sequence[int] = ()
    ) -> None:
        with self._begin() as conn:
            for column, values, kind in (
                ("key", list(keys), pa.string()),
                ("contact_id", list(contact_ids), pa.int64()),
            ):
                if not values:
                    continue
                incoming = self._load(conn, pa.table({column: pa.array(values, kind)}))
                conn.execute(
                    sa.delete(self.members).where(
                        self._of(book_id),
                        self.members.c[column].in_(sa.select(incoming.c[column])),
                    )
                )
                incoming.drop(conn)
            self._mark_clean(conn, book_id)

    def drop(self) -> None:
        with self._begin() as conn:
            conn.execute(sa.delete(self.members).where(self.members.c.export == self.export))
            conn.execute(sa.delete(self.exports).where(self.exports.c.export == self.export))

    def _insert_from(self, conn: Connection, incoming: sa.Table, book_id: int) -> None:
        conn.execute(
            sa.insert(self.members).from_select(_MIRROR_COLUMNS, self._rows_from(incoming, book_id))
        )

    def _rows_from(self, incoming: sa.Table, book_id: int) -> sa.Select[Any]:
        """The mirror's rows for ``incoming``'s (key, contact_id, row_version)."""
        return sa.select(
            sa.literal(self.export),
            sa.literal(book_id, sa.BigInteger),
            incoming.c.key,
            incoming.c.contact_id,
            incoming.c.row_version,
        )

    def _load(self, conn: Connection, rows: pa.Table) -> sa.Table:
        """``rows`` into a temporary table of this transaction's connection, in bulk: COPY on
        PostgreSQL (psycopg), an Arrow scan on DuckDB, executemany elsewhere. The table's
        columns are those of ``rows`` (key, contact_id, row_version)."""
        types: dict[str, sa.types.TypeEngine[Any]] = {
            "key": sa.String(1000),
            "contact_id": sa.BigInteger(),
            "row_version": sa.String(200),
        }
        names = list(rows.column_names)
        incoming = sa.Table(
            "dotsync_mirror_rows",
            sa.MetaData(),
            *(sa.Column(name, types[name]) for name in names),
            prefixes=["TEMPORARY"],
        )
        incoming.drop(conn, checkfirst=True)
        incoming.create(conn)
        if conn.dialect.name == "postgresql":
            # The mirror's statistics lag its bulk writes (a table just filled looks empty):
            # a nested loop over it and these rows would be quadratic. Hash joins only, for
            # this transaction.
            conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
        driver: Any = conn.connection.driver_connection
        quote = conn.dialect.identifier_preparer.quote
        columns = ", ".join(quote(name) for name in names)
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
            # COPY: a million rows in seconds, where INSERTs would take minutes.
            values = [rows.column(name).to_pylist() for name in names]
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY dotsync_mirror_rows ({columns}) FROM STDIN") as copy,
            ):
                for row in zip(*values, strict=True):
                    copy.write_row(row)
            conn.exec_driver_sql("ANALYZE dotsync_mirror_rows")
        elif conn.dialect.name == "duckdb":
            # duckdb_engine: the DuckDB connection scans the Arrow table by name.
            driver.register("dotsync_arrow_rows", rows)
            try:
                conn.exec_driver_sql(
                    f"INSERT INTO dotsync_mirror_rows ({columns}) "
                    f"SELECT {columns} FROM dotsync_arrow_rows"
                )
            finally:
                driver.unregister("dotsync_arrow_rows")
        else:
            conn.execute(sa.insert(incoming), rows.to_pylist())
        return incoming


def _rows(duck: duckdb.DuckDBPyConnection, table: str, *, with_contact: bool) -> pa.Table:
    columns = {row[0] for row in duck.execute(f"DESCRIBE {table}").fetchall()}
    version = "row_version::VARCHAR" if "row_version" in columns else "NULL::VARCHAR"
    contact = "contact_id::BIGINT AS contact_id, " if with_contact else ""
    return duck.sql(
        f"SELECT key::VARCHAR AS key, {contact}{version} AS row_version FROM {table}"
    ).to_arrow_table()


class MirroredMembers:
    """The state's member store, each change mirrored into the source database (see above)."""

    def __init__(self, inner: MemberStore, mirror: Mirror) -> None:
        self.inner = inner
        self.mirror = mirror

    def sync(self, duck: duckdb.DuckDBPyConnection, book_id: int) -> bool:
        """Rebuild the mirror from ``state_members`` when it is unclean, of another book, or
        holds another number of members (something changed the state without it). True when it
        was rebuilt."""
        clean, count = self.mirror.state(book_id)
        row = duck.execute(f"SELECT count(*) FROM {tables.STATE_MEMBERS}").fetchone()
        if clean and row is not None and int(row[0]) == count:
            return False
        self.mirror.rebuild(_rows(duck, str(tables.STATE_MEMBERS), with_contact=True), book_id)
        return True

    # -- the MemberStore interface: reads go to the state ------------------------------------

    def register(self, duck: duckdb.DuckDBPyConnection, export: str, book_id: int) -> None:
        self.inner.register(duck, export, book_id)

    def holdings(
        self, duck: duckdb.DuckDBPyConnection, exports: Sequence[str], book_id: int
    ) -> None:
        self.inner.holdings(duck, exports, book_id)

    def contact_ids(self, export: str, book_id: int) -> list[int]:
        return self.inner.contact_ids(export, book_id)

    def count(self, export: str) -> int:
        return self.inner.count(export)

    def close(self) -> None:
        self.inner.close()

    # -- changes: unclean, state, mirror, clean ----------------------------------------------

    def upsert(
        self, duck: duckdb.DuckDBPyConnection, query: str, export: str, book_id: int, run_id: int
    ) -> int:
        duck.execute(f"CREATE OR REPLACE TEMP TABLE _dotsync_mirrored AS {query}")
        try:
            mirrored = export == self.mirror.export and self.mirror.mark_unclean(book_id)
            count = self.inner.upsert(
                duck, "SELECT * FROM _dotsync_mirrored", export, book_id, run_id
            )
            if mirrored:
                self.mirror.upsert(_rows(duck, "_dotsync_mirrored", with_contact=True), book_id)
        finally:
            duck.execute("DROP TABLE IF EXISTS _dotsync_mirrored")
        return count

    def record_versions(
        self, duck: duckdb.DuckDBPyConnection, query: str, export: str, book_id: int
    ) -> int:
        duck.execute(f"CREATE OR REPLACE TEMP TABLE _dotsync_mirrored AS {query}")
        try:
            mirrored = export == self.mirror.export and self.mirror.mark_unclean(book_id)
            count = self.inner.record_versions(
                duck, "SELECT * FROM _dotsync_mirrored", export, book_id
            )
            if mirrored:
                rows = duck.sql(
                    "SELECT key::VARCHAR AS key, row_version::VARCHAR AS row_version "
                    "FROM _dotsync_mirrored"
                ).to_arrow_table()
                self.mirror.set_versions(rows, book_id)
        finally:
            duck.execute("DROP TABLE IF EXISTS _dotsync_mirrored")
        return count

    def remove_contacts(self, export: str, book_id: int, contact_ids: Sequence[int]) -> None:
        mirrored = export == self.mirror.export and self.mirror.mark_unclean(book_id)
        self.inner.remove_contacts(export, book_id, contact_ids)
        if mirrored:
            self.mirror.forget(book_id, contact_ids=contact_ids)

    def forget_keys(self, export: str, book_id: int, keys: Sequence[str]) -> None:
        mirrored = export == self.mirror.export and self.mirror.mark_unclean(book_id)
        self.inner.forget_keys(export, book_id, keys)
        if mirrored:
            self.mirror.forget(book_id, keys=keys)

    def rename_keys(self, export: str, book_id: int, pairs: Sequence[tuple[str, str]]) -> None:
        # Keys 0.1 stored as numbers, renamed once: the mirror is rebuilt by the next run.
        if export == self.mirror.export:
            self.mirror.mark_unclean(book_id)
        self.inner.rename_keys(export, book_id, pairs)

    def drop(self, export: str) -> list[Path]:
        if export == self.mirror.export:
            self.mirror.drop()
        return self.inner.drop(export)


@contextlib.contextmanager
def mirrored_members(store: StateStore, config: Config, export: str) -> Iterator[None]:
    """With ``[state] members_in = "source"``: ``store.members`` mirrored into the source
    database while the run holds its locks (the mirror's tables made when missing)."""
    if config.state.members_in != "source" or config.source.url is None:
        yield
        return
    try:
        engine = sa.create_engine(config.source.url)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise missing_driver("source.url", config.source.url, exc) from None
    mirror = Mirror(engine, config.state.members_schema, export)
    inner = store.members
    try:
        try:
            mirror.create()
        except sa.exc.DBAPIError as exc:
            raise SourceError(
                f"state.members_schema: cannot create the schema {mirror.schema!r} or its "
                f"tables in the source database: {_db_message(exc)} (the warehouse diff needs "
                "CREATE there, or the schema and its tables made by an administrator)"
            ) from exc
        store.members = MirroredMembers(inner, mirror)
        yield
    finally:
        store.members = inner
        engine.dispose()


def _db_message(exc: sa.exc.DBAPIError) -> str:
    original = getattr(exc, "orig", None)
    text = str(original) if original is not None else str(exc).split("\n[SQL:")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
