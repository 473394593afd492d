"""The diff inside the warehouse (``[state] members_in = "source"``): one query in the source
database compares the segments with the mirror of the confirmed members (``state/mirror.py``),
and only what differs travels.

Per member, the warehouse computes a row version: the mapping's version and options, then the
``md5`` of its mapped source values, each cast to text as the rows that travel are and encoded
without ambiguity (``N`` for NULL, else its length, ``:`` and the text). The query returns:

- ``row``: the full rows of the members new to the mirror, whose version differs from the
  mirrored one (or is unknown), or of keys several profile rows share: they travel into
  ``members_raw`` and are validated, digested and planned as today;
- ``gone``: the keys of mirrored members in no segment any more (the leavers);
- ``size``: each segment's size, and ``members``: the number of member keys.

Everything else is *kept*: ``members_kept`` is made from the state (``state_members`` less the
rows read less the leavers), so the plan, the leavers' split, the guard and the 1M cap work on the
whole segment as they do with a change marker, without the warehouse sending a row of them. The
mirror is trusted only clean and of the state's size (``MirroredMembers.sync`` rebuilds it
otherwise); the kept count is checked against the warehouse's count of members, and a difference
rebuilds the mirror and asks again.

Written with SQLAlchemy Core around the segments' SQL, so each dialect writes its own SQL; what a
warehouse must offer is in the README (*Running at scale*).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from dotsync import tables
from dotsync.config.models import SegmentConfig, SourceConfig
from dotsync.errors import SourceError
from dotsync.segments import members_with_columns_sql
from dotsync.sources.base import (
    STAGE_TABLE,
    ChangeMarker,
    finish_members_raw,
    require_columns,
    stage_ddl,
)
from dotsync.sources.sqlalchemy_source import SQLAlchemySource, _db_message, _text
from dotsync.state.mirror import Mirror, MirroredMembers

log = logging.getLogger(__name__)

_ROWS = "warehouse_rows"  # (kind, key, segment, digest, src_0...): what the diff query returned


@dataclass(frozen=True)
class DiffCounts:
    travelled: int  # full rows read
    gone: int  # leavers' keys read
    members: int  # member keys in the segments (counted in the warehouse)
    bytes_read: int  # Arrow bytes of everything the query returned


class _Md5(FunctionElement[str]):
    """The hex md5 of a text, in each dialect's words (PostgreSQL, DuckDB, MySQL, Snowflake,
    Redshift: ``md5``; the others below are written from their documentation, not tested)."""

    type = sa.String()
    inherit_cache = True
    name = "dotsync_md5"


@compiles(_Md5)
def _md5(element: _Md5, compiler: SQLCompiler, **kw: Any) -> str:
    return f"md5({compiler.process(element.clauses, **kw)})"


@compiles(_Md5, "mssql")
def _md5_mssql(element: _Md5, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CONVERT(VARCHAR(32), HASHBYTES('MD5', {compiler.process(element.clauses, **kw)}), 2)"


@compiles(_Md5, "bigquery")
def _md5_bigquery(element: _Md5, compiler: SQLCompiler, **kw: Any) -> str:
    return f"TO_HEX(MD5({compiler.process(element.clauses, **kw)}))"


def _encoded(column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """A value as unambiguous text: N for NULL, else length:text."""
    return sa.case(
        (column.is_(None), sa.literal("N")),
        else_=sa.func.concat(sa.cast(sa.func.length(column), sa.String), ":", column),
    )


class WarehouseSource(SQLAlchemySource):
    """A SQL source whose refreshes are diffed inside the database against the mirror."""

    def __init__(self, config: SourceConfig, schema: str, export: str) -> None:
        super().__init__(config)
        self.mirror = Mirror(self._engine, schema, export)
        self.last: DiffCounts | None = None

    def diff_query(
        self,
        conn: Connection,
        segments: Mapping[str, SegmentConfig],
        columns: Sequence[str],
        *,
        prefix: str,
        book_id: int,
        read_all: bool = False,
    ) -> sa.Select[tuple[str, ...]]:
        keys = self._keys_sql(conn, segments)
        src = [f"src_{index}" for index in range(len(columns))]
        text_rows = _text(
            members_with_columns_sql(
                keys,
                profiles=self._profiles,
                key_column=self._config.key,
                columns=columns,
                quote=self._quote,
            )
        ).columns(*(sa.column(name, sa.String) for name in ["key", "segment", *src]))
        rows = text_rows.subquery("m")
        encoded = [_encoded(rows.c[name]) for name in src] or [sa.literal("")]
        joined = encoded[0] if len(encoded) == 1 else sa.func.concat_ws("|", *encoded)
        per_row = (
            sa.select(rows.c.key, rows.c.segment, _Md5(joined).label("digest"), *rows.c[*src]).cte(
                "per_row"
            )
            if src
            else sa.select(rows.c.key, rows.c.segment, _Md5(joined).label("digest")).cte("per_row")
        )
        # Each (key, segment) pair comes once per profile row of the key: more than one row of
        # a pair is a key several profile rows share. Two hash aggregates, no DISTINCT (which
        # would sort a million rows).
        per_pair = (
            sa.select(
                per_row.c.key,
                per_row.c.segment,
                sa.func.count().label("copies"),
                sa.func.min(per_row.c.digest).label("digest"),
            )
            .group_by(per_row.c.key, per_row.c.segment)
            .cte("per_pair")
        )
        per_key = (
            sa.select(
                per_pair.c.key,
                sa.func.max(per_pair.c.copies).label("copies"),
                sa.func.min(per_pair.c.digest).label("digest"),
            )
            .group_by(per_pair.c.key)
            .cte("per_key")
        )
        mirror = self.mirror.members
        mirrored = (
            sa.select(mirror.c.key, mirror.c.row_version)
            .where(mirror.c.export == self.mirror.export, mirror.c.address_book_id == book_id)
            .subquery("mirrored")
        )
        # One full join of the members with the mirror: a hash (or merge) join whatever the
        # planner guesses of their sizes (a nested loop over a million rows each is not possible).
        compared = (
            sa.select(
                per_key.c.key.label("member_key"),
                mirrored.c.key.label("mirrored_key"),
                sa.or_(
                    sa.true() if read_all else sa.false(),  # --full: every row travels
                    mirrored.c.row_version.is_(None),  # not mirrored, or its version unknown
                    mirrored.c.row_version
                    != sa.func.concat(sa.literal(prefix + "/"), per_key.c.digest),
                    per_key.c.copies > 1,  # several profile rows
                ).label("travels"),
            )
            .select_from(per_key.outerjoin(mirrored, mirrored.c.key == per_key.c.key, full=True))
            .cte("compared")
        )
        travelling = sa.select(compared.c.member_key).where(
            compared.c.member_key.is_not(None), compared.c.travels
        )
        null = sa.cast(sa.null(), sa.String)
        wanted = sa.select(
            sa.literal("row").label("kind"),
            per_row.c.key,
            per_row.c.segment,
            per_row.c.digest,
            *(per_row.c[name] for name in src),
        ).where(per_row.c.key.in_(travelling))
        gone = sa.select(
            sa.literal("gone"),
            compared.c.mirrored_key,
            null,
            null,
            *(null for _ in src),
        ).where(compared.c.member_key.is_(None))
        sizes = sa.select(
            sa.literal("size"),
            sa.cast(sa.func.count(), sa.String),
            per_pair.c.segment,
            null,
            *(null for _ in src),
        ).group_by(per_pair.c.segment)
        members = sa.select(
            sa.literal("members"),
            sa.cast(sa.func.count(), sa.String),
            null,
            null,
            *(null for _ in src),
        ).select_from(per_key)
        return sa.union_all(wanted, gone, sizes, members)  # type: ignore[return-value]

    def load_diff(
        self,
        duck: duckdb.DuckDBPyConnection,
        segments: Mapping[str, SegmentConfig],
        columns: Sequence[str],
        store: MirroredMembers,
        *,
        prefix: str,
        book_id: int,
        read_all: bool = False,
    ) -> dict[str, int]:
        """Create ``members_raw`` (the rows that travel), ``members_gone`` and ``members_kept``
        in ``duck`` (``state_members`` registered); return each segment's size."""
        require_columns(columns, self.columns(), self._config.table or "", key=self._config.key)
        try:
            self.mirror.create()
        except sa.exc.DBAPIError as exc:
            raise SourceError(
                f"state.members_schema: cannot create the schema {self.mirror.schema!r} or its "
                f"tables in the source database: {_db_message(exc)} (the warehouse diff needs "
                "CREATE on the database, or the schema and its tables made by an administrator)"
            ) from exc
        store.sync(duck, book_id)
        sizes = self._read_diff(
            duck, segments, columns, prefix=prefix, book_id=book_id, read_all=read_all
        )
        assert self.last is not None
        kept = self._kept(duck)
        if kept != self.last.members:
            # The mirror disagrees with the state (changed outside a run?): rebuilt, asked again.
            log.warning(
                "the warehouse mirror disagreed with the state (%d kept + read vs %d members): "
                "rebuilding it",
                kept,
                self.last.members,
            )
            store.mirror.mark_unclean(book_id)
            store.sync(duck, book_id)
            sizes = self._read_diff(
                duck, segments, columns, prefix=prefix, book_id=book_id, read_all=read_all
            )
            self._kept(duck)
        return sizes

    def _read_diff(
        self,
        duck: duckdb.DuckDBPyConnection,
        segments: Mapping[str, SegmentConfig],
        columns: Sequence[str],
        *,
        prefix: str,
        book_id: int,
        read_all: bool,
    ) -> dict[str, int]:
        width = len(columns)
        names = ["kind", "key", "segment", "digest", *(f"src_{i}" for i in range(width))]
        duck.execute(
            f"CREATE OR REPLACE TABLE {tables.SOURCE_REJECTED} "
            "(key VARCHAR, reason VARCHAR, field VARCHAR, detail VARCHAR)"
        )
        duck.execute(
            f"CREATE OR REPLACE TEMP TABLE {_ROWS} ("
            + ", ".join(f"{name} VARCHAR" for name in names)
            + ")"
        )
        self.batches_loaded = 0
        self.rows_loaded = 0
        with self._engine.connect() as conn:
            query = self.diff_query(
                conn, segments, columns, prefix=prefix, book_id=book_id, read_all=read_all
            )
            batches = self._stream(conn, query, names, failure="the warehouse diff failed")
            read = self._insert_batches(duck, _ROWS, batches)
        src = "".join(f", src_{i}" for i in range(width))
        duck.execute(stage_ddl(width + 1))  # the digest last: the marker's place
        duck.execute(
            f"INSERT INTO {STAGE_TABLE} SELECT key, segment{src}, digest "
            f"FROM {_ROWS} WHERE kind = 'row'"
        )
        marker = ChangeMarker(column="", prefix=prefix, known="")
        finish_members_raw(duck, list(segments), width, marker)
        duck.execute(
            f"CREATE OR REPLACE TEMP TABLE {tables.MEMBERS_GONE} AS "
            f"SELECT DISTINCT key FROM {_ROWS} WHERE kind = 'gone'"
        )
        sizes = dict.fromkeys(segments, 0)
        for segment, size in duck.execute(
            f"SELECT segment, key FROM {_ROWS} WHERE kind = 'size'"
        ).fetchall():
            sizes[str(segment)] = int(size)
        counted = duck.execute(
            f"""SELECT
              (SELECT count(DISTINCT key) FROM {_ROWS} WHERE kind = 'row'),
              (SELECT count(*) FROM {tables.MEMBERS_GONE}),
              (SELECT coalesce(max(key::BIGINT), 0) FROM {_ROWS} WHERE kind = 'members')"""
        ).fetchone()
        assert counted is not None
        duck.execute(f"DROP TABLE {_ROWS}")
        self.last = DiffCounts(int(counted[0]), int(counted[1]), int(counted[2]), read)
        log.info(
            "warehouse diff: %d member(s) read in full, %d leaver(s), %d member(s) in the "
            "segments, %d byte(s) read",
            self.last.travelled,
            self.last.gone,
            self.last.members,
            read,
        )
        return sizes

    def _kept(self, duck: duckdb.DuckDBPyConnection) -> int:
        """``members_kept``: the state's members neither read nor gone; returns the number of
        member keys (read + kept), to check against the warehouse's count."""
        duck.execute(
            f"""CREATE OR REPLACE TEMP TABLE {tables.MEMBERS_KEPT} AS
            SELECT s.key, NULL::VARCHAR[] AS segments FROM {tables.STATE_MEMBERS} s
            WHERE s.key NOT IN (SELECT key FROM {tables.MEMBERS_RAW})
              AND s.key NOT IN (SELECT key FROM {tables.MEMBERS_GONE})"""
        )
        row = duck.execute(
            f"""SELECT (SELECT count(*) FROM {tables.MEMBERS_KEPT})
              + (SELECT count(DISTINCT key) FROM {tables.MEMBERS_RAW})"""
        ).fetchone()
        return int(row[0]) if row else 0
