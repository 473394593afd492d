"""Confirmed members of an export: key, contact id, e-mail hash and digest, per address book.

Two homes, one interface:
- ``DuckMembers`` (the default, beside a SQLite state): one DuckDB file per export, attached to the
  run's DuckDB connection so that planning and committing a million members are joins inside
  DuckDB, not a million Python objects (reading 800k rows out of SQLite alone takes ~3 s here).
  Only the run that holds the export's lock opens the file.
- ``SqlMembers`` (a PostgreSQL state, for teams running dotsync from several machines): the
  ``members`` table of the state database, streamed through Arrow.

A commit upserts the confirmed rows; replaying it is harmless, so it may run before the import is
marked committed in the run store (a crash in between replays it on resume).

Each member file carries its layout version (``meta`` table) and is upgraded in place when opened,
like the state database (whose ``members`` table follows the state's Alembic revisions).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa
from sqlalchemy import Engine, bindparam, delete, func, select, update

from dotsync import tables
from dotsync.errors import ConfigError
from dotsync.state.arrow import query_to_arrow
from dotsync.state.duckfiles import attach_or_busy
from dotsync.state.schema import members

_MEMBER_COLUMNS = "key, contact_id, email_hash, digest, row_version"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class MemberStore(Protocol):
    def register(self, duck: duckdb.DuckDBPyConnection, export: str, book_id: int) -> None:
        """Make ``state_members(key, contact_id, email_hash, digest, row_version)`` queryable in
        ``duck``."""

    def upsert(
        self, duck: duckdb.DuckDBPyConnection, query: str, export: str, book_id: int, run_id: int
    ) -> int:
        """Upsert the rows ``query`` (run in ``duck``) returns, as (key, contact_id, email_hash,
        digest[, row_version]). Returns how many."""

    def record_versions(
        self, duck: duckdb.DuckDBPyConnection, query: str, export: str, book_id: int
    ) -> int:
        """Set the row version of the members ``query`` returns as (key, row_version): rows read
        again because their change marker moved, whose values had not changed."""

    def remove_contacts(self, export: str, book_id: int, contact_ids: Sequence[int]) -> None: ...

    def holdings(
        self, duck: duckdb.DuckDBPyConnection, exports: Sequence[str], book_id: int
    ) -> None:
        """Make ``other_holdings(email_hash, contact_id)`` queryable in ``duck``: the members that
        ``exports`` (other exports of the same book) hold in it."""

    def forget_keys(self, export: str, book_id: int, keys: Sequence[str]) -> None: ...

    def rename_keys(self, export: str, book_id: int, pairs: Sequence[tuple[str, str]]) -> None:
        """Give the members stored under each pair's old key the new one (no new key is stored)."""

    def contact_ids(self, export: str, book_id: int) -> list[int]: ...

    def count(self, export: str) -> int: ...

    def drop(self, export: str) -> list[Path]: ...

    def close(self) -> None: ...


# --- the version of a member file ---------------------------------------------------------------
# Each DuckDB member file records its layout version in a ``meta`` table (name, value). A file
# written by 0.1 has no ``meta`` but its ``members`` table: it is version 1. Opening a file runs,
# in one transaction, the upgrade from each version it is at to the next, up to MEMBER_FILE_VERSION.
# A later release adds a function and an entry to MEMBER_FILE_UPGRADES, never edits an earlier one.


def _create_members(duck: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Version 0 (a new file) to 1: the members table, as 0.1 created it."""
    # No primary key: keeping its index cost ~1 s per 200k-contact commit; ``upsert`` keeps
    # (address_book_id, key) unique itself, deleting before inserting in one transaction.
    duck.execute(
        f"""create table {alias}.members (
            address_book_id bigint not null, key varchar not null, contact_id bigint not null,
            email_hash varchar not null, digest varchar not null, run_id integer not null)"""
    )


def _add_row_version(duck: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Version 1 to 2: each member's row version (the source's change marker when its values
    were confirmed, ``[source] updated_at``), so that a refresh reads again only changed rows."""
    duck.execute(f"alter table {alias}.members add column row_version varchar")


MEMBER_FILE_UPGRADES: dict[int, Callable[[duckdb.DuckDBPyConnection, str], None]] = {
    0: _create_members,  # from version 0 to 1
    1: _add_row_version,  # from version 1 to 2
}
MEMBER_FILE_VERSION = max(MEMBER_FILE_UPGRADES) + 1


def _tables(duck: duckdb.DuckDBPyConnection, alias: str) -> set[str]:
    rows = duck.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = 'main'",
        [alias],
    ).fetchall()
    return {str(r[0]) for r in rows}


def member_file_version(duck: duckdb.DuckDBPyConnection, alias: str) -> int:
    """The version of the member file attached as ``alias``: 0 for a new (empty) file."""
    tables = _tables(duck, alias)
    if "meta" in tables:
        row = duck.execute(
            f"select value from {alias}.meta where name = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else 0
    return 1 if "members" in tables else 0  # dotsync 0.1 wrote no meta table


def upgrade_member_file(duck: duckdb.DuckDBPyConnection, alias: str, path: Path) -> None:
    """Bring the member file attached as ``alias`` to MEMBER_FILE_VERSION, in place."""
    version = member_file_version(duck, alias)
    if version == MEMBER_FILE_VERSION and "meta" in _tables(duck, alias):
        return
    if version > MEMBER_FILE_VERSION:
        raise ConfigError(
            f"the member file {path} is at version {version}, written by a newer dotsync (this "
            f"one knows versions up to {MEMBER_FILE_VERSION}): upgrade dotsync",
            key="state.url",
        )
    duck.execute("begin transaction")
    try:
        duck.execute(
            f"create table if not exists {alias}.meta (name varchar primary key, value varchar)"
        )
        for step in range(version, MEMBER_FILE_VERSION):
            MEMBER_FILE_UPGRADES[step](duck, alias)
        duck.execute(
            f"insert or replace into {alias}.meta values ('schema_version', ?)",
            [str(MEMBER_FILE_VERSION)],
        )
        duck.execute("commit")
    except BaseException:
        duck.execute("rollback")
        raise


def _has_row_version(duck: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the rows to upsert bring a row version (a fifth column named so)."""
    rows = duck.execute(
        "select count(*) from duckdb_columns() "
        "where table_name = ? and column_name = 'row_version'",
        [table],
    ).fetchone()
    return bool(rows and rows[0])


class DuckMembers:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._duck: duckdb.DuckDBPyConnection | None = None  # the run's connection, if attached
        self._alias: str | None = None

    def _file(self, export: str) -> Path:
        return self.folder / f"{_SAFE_NAME.sub('_', export)}.duckdb"

    def _attach(self, duck: duckdb.DuckDBPyConnection, export: str) -> str:
        if self._duck is duck and self._alias:
            return self._alias
        # DuckDB lets one connection of a process attach the file at a time: a connection opened
        # for work outside a run (a removal resumed before the run's planning) lets it go first.
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._file(export)
        alias = "dotsync_members"
        attach_or_busy(duck, path, alias, f"the member state of export {export!r}")
        path.chmod(0o600)
        try:
            upgrade_member_file(duck, alias, path)
        except BaseException:
            duck.execute(f"detach {alias}")
            raise
        self._duck, self._alias = duck, alias
        return alias

    def _own(self, export: str) -> tuple[duckdb.DuckDBPyConnection, str]:
        """A connection for work outside a run (remove, counts)."""
        if self._duck is not None and self._alias is not None:
            return self._duck, self._alias
        duck = duckdb.connect()
        return duck, self._attach(duck, export)

    def register(self, duck: duckdb.DuckDBPyConnection, export: str, book_id: int) -> None:
        alias = self._attach(duck, export)
        duck.execute(
            f"""create or replace temp view {tables.STATE_MEMBERS} as
            select {_MEMBER_COLUMNS} from {alias}.members where address_book_id = {int(book_id)}"""
        )

    def upsert(
        self, duck: duckdb.DuckDBPyConnection, query: str, export: str, book_id: int, run_id: int
    ) -> int:
        alias = self._attach(duck, export)
        duck.execute("begin transaction")
        try:
            duck.execute(f"create or replace temp table _confirmed as {query}")
            version = "row_version" if _has_row_version(duck, "_confirmed") else "null"
            duck.execute(
                f"""delete from {alias}.members where address_book_id = {int(book_id)}
                and key in (select key from _confirmed)"""
            )
            duck.execute(
                f"""insert into {alias}.members (address_book_id, key, contact_id, email_hash,
                  digest, run_id, row_version)
                select {int(book_id)}, key, contact_id, email_hash, digest, {int(run_id)},
                  {version}
                from _confirmed"""
            )
            row = duck.execute("select count(*) from _confirmed").fetchone()
            duck.execute("drop table _confirmed")
            duck.execute("commit")
        except BaseException:
            duck.execute("rollback")
            raise
        return int(row[0]) if row else 0

    def record_versions(
        self, duck: duckdb.DuckDBPyConnection, query: str, export: str, book_id: int
    ) -> int:
        alias = self._attach(duck, export)
        duck.execute(f"create or replace temp table _versions as {query}")
        duck.execute(
            f"""update {alias}.members set row_version = v.row_version from _versions v
            where address_book_id = {int(book_id)} and members.key = v.key"""
        )
        row = duck.execute("select count(*) from _versions").fetchone()
        duck.execute("drop table _versions")
        return int(row[0]) if row else 0

    def holdings(
        self, duck: duckdb.DuckDBPyConnection, exports: Sequence[str], book_id: int
    ) -> None:
        duck.execute(
            f"create or replace temp table {tables.OTHER_HOLDINGS}"
            "(email_hash varchar, contact_id bigint)"
        )
        for export in exports:
            path = self._file(export)
            if not path.exists():
                continue
            # Runs of one account hold its lock, so no other run writes these files now.
            what = f"the member state of export {export!r} (same address book)"
            attach_or_busy(duck, path, "dotsync_other", what, read_only=True)
            try:
                duck.execute(
                    f"""insert into {tables.OTHER_HOLDINGS} select email_hash, contact_id
                    from dotsync_other.members where address_book_id = {int(book_id)}"""
                )
            finally:
                duck.execute("detach dotsync_other")

    def remove_contacts(self, export: str, book_id: int, contact_ids: Sequence[int]) -> None:
        duck, alias = self._own(export)
        duck.register("_gone", pa.table({"contact_id": pa.array(contact_ids, pa.int64())}))
        duck.execute(
            f"""delete from {alias}.members where address_book_id = {int(book_id)}
            and contact_id in (select contact_id from _gone)"""
        )
        duck.unregister("_gone")

    def forget_keys(self, export: str, book_id: int, keys: Sequence[str]) -> None:
        duck, alias = self._own(export)
        duck.register("_gone", pa.table({"key": pa.array(keys, pa.string())}))
        duck.execute(
            f"""delete from {alias}.members where address_book_id = {int(book_id)}
            and key in (select key from _gone)"""
        )
        duck.unregister("_gone")

    def rename_keys(self, export: str, book_id: int, pairs: Sequence[tuple[str, str]]) -> None:
        duck, alias = self._own(export)
        old, new = (list(column) for column in zip(*pairs, strict=True)) if pairs else ([], [])
        duck.register("_renamed", pa.table({"old_key": pa.array(old, pa.string()),
                                            "new_key": pa.array(new, pa.string())}))  # fmt: skip
        duck.execute(
            f"""update {alias}.members set key = r.new_key from _renamed r
            where address_book_id = {int(book_id)} and key = r.old_key"""
        )
        duck.unregister("_renamed")

    def contact_ids(self, export: str, book_id: int) -> list[int]:
        duck, alias = self._own(export)
        rows = duck.execute(
            f"select contact_id from {alias}.members where address_book_id = {int(book_id)}"
        ).fetchall()
        return [int(r[0]) for r in rows]

    def count(self, export: str) -> int:
        if not self._file(export).exists():
            return 0
        duck, alias = self._own(export)
        row = duck.execute(f"select count(*) from {alias}.members").fetchone()
        return int(row[0]) if row else 0

    def drop(self, export: str) -> list[Path]:
        self.close()
        path = self._file(export)
        return [p for p in (path, path.with_suffix(".duckdb.wal")) if p.exists()]

    def close(self) -> None:
        if self._duck is not None and self._alias is not None:
            with contextlib.suppress(duckdb.Error):  # the run's connection may be closed
                self._duck.execute(f"detach {self._alias}")
        self._duck, self._alias = None, None


class SqlMembers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, duck: duckdb.DuckDBPyConnection, export: str, book_id: int) -> None:
        # A table, not duck.register(): DuckDB refuses to register while a result is pending.
        snapshot = self._arrow(export, book_id)  # noqa: F841 - read by name in the SQL below
        duck.execute(
            f"create or replace temp table {tables.STATE_MEMBERS} as select * from snapshot"
        )

    def _arrow(self, export: str, book_id: int) -> pa.Table:
        schema = pa.schema(
            [
                ("key", pa.string()),
                ("contact_id", pa.int64()),
                ("email_hash", pa.string()),
                ("digest", pa.string()),
                ("row_version", pa.string()),
            ]
        )
        query = select(
            members.c.key,
            members.c.contact_id,
            members.c.email_hash,
            members.c.digest,
            members.c.row_version,
        ).where(members.c.export == export, members.c.address_book_id == book_id)
        return query_to_arrow(self.engine, query, schema)

    def upsert(
        self, duck: duckdb.DuckDBPyConnection, query: str, export: str, book_id: int, run_id: int
    ) -> int:
        duck.execute(f"create or replace temp table _confirmed as {query}")
        version = "row_version" if _has_row_version(duck, "_confirmed") else "null::varchar"
        rows = duck.execute(
            f"select key, contact_id, email_hash, digest, {version} from _confirmed"
        ).fetchall()
        duck.execute("drop table _confirmed")
        params = [(export, book_id, k, c, h, d, run_id, v) for k, c, h, d, v in rows]
        if not params:
            return 0
        with self.engine.begin() as conn:
            ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(
                "INSERT INTO members (export, address_book_id, key, contact_id, email_hash, digest,"
                f" run_id, row_version) VALUES ({', '.join([ph] * 8)})"
                " ON CONFLICT (export, address_book_id, key)"
                " DO UPDATE SET contact_id = excluded.contact_id, email_hash = excluded.email_hash,"
                " digest = excluded.digest, run_id = excluded.run_id,"
                " row_version = excluded.row_version",
                params,
            )
        return len(params)

    def record_versions(
        self, duck: duckdb.DuckDBPyConnection, query: str, export: str, book_id: int
    ) -> int:
        rows = duck.execute(query).fetchall()
        if rows:
            with self.engine.begin() as conn:
                conn.execute(
                    update(members)
                    .where(
                        members.c.export == export,
                        members.c.address_book_id == book_id,
                        members.c.key == bindparam("member_key"),
                    )
                    .values(row_version=bindparam("version")),
                    [{"member_key": k, "version": v} for k, v in rows],
                )
        return len(rows)

    def holdings(
        self, duck: duckdb.DuckDBPyConnection, exports: Sequence[str], book_id: int
    ) -> None:
        hashes: list[str] = []
        ids: list[int] = []
        if exports:
            with self.engine.connect() as conn:
                for h, c in conn.execute(
                    select(members.c.email_hash, members.c.contact_id).where(
                        members.c.export.in_(list(exports)), members.c.address_book_id == book_id
                    )
                ):
                    hashes.append(str(h))
                    ids.append(int(c))
        held = pa.table(  # noqa: F841 - read by name in the SQL below
            {"email_hash": pa.array(hashes, pa.string()), "contact_id": pa.array(ids, pa.int64())}
        )
        duck.execute(f"create or replace temp table {tables.OTHER_HOLDINGS} as select * from held")

    def remove_contacts(self, export: str, book_id: int, contact_ids: Sequence[int]) -> None:
        with self.engine.begin() as conn:
            for start in range(0, len(contact_ids), 5000):
                conn.execute(
                    delete(members).where(
                        members.c.export == export,
                        members.c.address_book_id == book_id,
                        members.c.contact_id.in_(list(contact_ids[start : start + 5000])),
                    )
                )

    def forget_keys(self, export: str, book_id: int, keys: Sequence[str]) -> None:
        with self.engine.begin() as conn:
            for start in range(0, len(keys), 5000):
                conn.execute(
                    delete(members).where(
                        members.c.export == export,
                        members.c.address_book_id == book_id,
                        members.c.key.in_(list(keys[start : start + 5000])),
                    )
                )

    def rename_keys(self, export: str, book_id: int, pairs: Sequence[tuple[str, str]]) -> None:
        if not pairs:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(members)
                .where(
                    members.c.export == export,
                    members.c.address_book_id == book_id,
                    members.c.key == bindparam("old_key"),
                )
                .values(key=bindparam("new_key")),
                [{"old_key": old, "new_key": new} for old, new in pairs],
            )

    def contact_ids(self, export: str, book_id: int) -> list[int]:
        with self.engine.connect() as conn:
            return [
                int(r[0])
                for r in conn.execute(
                    select(members.c.contact_id).where(
                        members.c.export == export, members.c.address_book_id == book_id
                    )
                )
            ]

    def count(self, export: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(members).where(members.c.export == export)
                ).scalar_one()
            )

    def drop(self, export: str) -> list[Path]:
        with self.engine.begin() as conn:
            conn.execute(delete(members).where(members.c.export == export))
        return []

    def close(self) -> None:
        return None
