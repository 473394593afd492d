"""Any database reachable through a SQLAlchemy URL (PostgreSQL is tested).

Segment queries run inside the database, so a warehouse computes membership and only members
travel; their rows are streamed with a server-side cursor in batches of ``batch_size`` and
each batch goes into DuckDB through Arrow, so memory does not grow with the number of profiles.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from dotsync import tables
from dotsync.config.models import SegmentConfig, SourceConfig
from dotsync.drivers import missing_driver
from dotsync.errors import SourceError
from dotsync.segments import (
    members_with_columns_sql,
    probe_sql,
    segment_failure,
    segment_keys_sql,
    segment_sizes_sql,
)
from dotsync.sources.base import (
    STAGE_TABLE,
    finish_members_raw,
    require_columns,
    require_key,
    stage_ddl,
)

log = logging.getLogger(__name__)

# What sqlalchemy.text() would take for a bind parameter (":name"); user SQL has none, so such
# colons (e.g. inside a string literal) are escaped. "::type" casts are not affected.
_BIND_COLON = re.compile(r"(?<![:\w\\]):(?=\w)")


def _text(sql: str) -> sa.TextClause:
    return sa.text(_BIND_COLON.sub(r"\\:", sql))


def _db_message(exc: sa.exc.DBAPIError | sa.exc.SQLAlchemyError) -> str:
    """The database's own message, without SQLAlchemy's statement and parameter echo."""
    original = getattr(exc, "orig", None)
    text = str(original) if original is not None else str(exc).split("\n[SQL:")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


class SQLAlchemySource:
    def __init__(self, config: SourceConfig) -> None:
        assert config.url is not None and config.table is not None
        self._config = config
        self.batch_size = config.batch_size
        self.batches_loaded = 0  # batches of the last load_members; tests and progress read it
        try:
            url = make_url(config.url)
        except sa.exc.ArgumentError:
            raise SourceError("source.url is not a SQLAlchemy URL (dialect+driver://...)") from None
        self._safe_url = url.render_as_string(hide_password=True)
        try:
            self._engine: Engine = sa.create_engine(url)
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise missing_driver("source.url", self._safe_url, exc) from None
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"cannot use the database {self._safe_url}: {exc}") from None
        self._quote = self._engine.dialect.identifier_preparer.quote
        parts = config.table.split(".")
        self._schema = parts[0] if len(parts) == 2 else None
        self._table = parts[-1]
        self._profiles = ".".join(self._quote(part) for part in parts)

    # -- the ProfileSource interface ---------------------------------------------------------

    def columns(self) -> list[str]:
        try:
            with self._engine.connect() as conn:
                described = sa.inspect(conn).get_columns(self._table, schema=self._schema)
        except sa.exc.NoSuchTableError:
            raise SourceError(
                f"source.table: the table {self._config.table!r} does not exist in {self._safe_url}"
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"cannot read {self._safe_url}: {_db_message(exc)}") from exc
        return [str(column["name"]) for column in described]

    def load_members(
        self,
        duck: duckdb.DuckDBPyConnection,
        segments: Mapping[str, SegmentConfig],
        columns: Sequence[str],
    ) -> dict[str, int]:
        table = self._config.table or ""
        require_columns(columns, self.columns(), table, key=self._config.key)
        names = ["key", "segment", *(f"src_{index}" for index in range(len(columns)))]
        duck.execute(stage_ddl(len(columns)))
        # This source rejects no rows itself; the table exists so validation can rely on it.
        duck.execute(
            f"CREATE OR REPLACE TABLE {tables.SOURCE_REJECTED} "
            "(key VARCHAR, reason VARCHAR, field VARCHAR, detail VARCHAR)"
        )
        self.batches_loaded = 0
        with self._engine.connect() as conn:
            keys = self._keys_sql(conn, segments)
            select = members_with_columns_sql(
                keys,
                profiles=self._profiles,
                key_column=self._config.key,
                columns=columns,
                quote=self._quote,
            )
            for batch in self._stream(conn, select, names):
                duck.register("dotsync_batch", batch)
                try:
                    duck.execute(f"INSERT INTO {STAGE_TABLE} SELECT * FROM dotsync_batch")
                finally:
                    duck.unregister("dotsync_batch")
                self.batches_loaded += 1
        log.info(
            "read the members in %d batch(es) of up to %d rows",
            self.batches_loaded,
            self.batch_size,
        )
        return finish_members_raw(duck, list(segments), len(columns))

    def segment_sizes(self, segments: Mapping[str, SegmentConfig]) -> dict[str, int]:
        sizes = dict.fromkeys(segments, 0)
        with self._engine.connect() as conn:
            keys = self._keys_sql(conn, segments)
            try:
                rows = conn.execute(_text(segment_sizes_sql(keys))).fetchall()
            except sa.exc.DBAPIError as exc:
                raise SourceError(f"counting the segments failed: {_db_message(exc)}") from exc
        sizes.update({str(name): int(size) for name, size in rows})
        return sizes

    def close(self) -> None:
        self._engine.dispose()

    # -- helpers -------------------------------------------------------------------------------

    def _keys_sql(self, conn: Connection, segments: Mapping[str, SegmentConfig]) -> dict[str, str]:
        """Each segment's key query, checked on its own so an error names its segment."""
        require_key(self._config.key, self.columns(), self._config.table or "")
        keys: dict[str, str] = {}
        for name, segment in segments.items():
            relation = None
            if segment.membership is not None:
                if segment.membership.table is None:
                    raise SourceError(
                        f"segments.{name}.membership.path: membership files need a file (DuckDB) "
                        "source; with a database source, load the file into a table and use "
                        "`membership.table`"
                    )
                relation = ".".join(self._quote(p) for p in segment.membership.table.split("."))
            sql = segment_keys_sql(
                name,
                segment,
                profiles=self._profiles,
                key_column=self._config.key,
                membership_relation=relation,
                quote=self._quote,
            )
            try:
                # A savepoint keeps a failed probe from aborting the connection's transaction.
                with conn.begin_nested() if conn.in_transaction() else conn.begin():
                    conn.execute(_text(probe_sql(sql))).fetchall()
            except sa.exc.DBAPIError as exc:
                raise SourceError(
                    segment_failure(name, segment, str(getattr(exc, "orig", None) or exc))
                ) from exc
            keys[name] = sql
        return keys

    def _stream(self, conn: Connection, sql: str, names: list[str]) -> Iterator[pa.Table]:
        """Yield the query's rows as Arrow tables of at most ``batch_size`` rows each."""
        try:
            result = conn.execution_options(stream_results=True, yield_per=self.batch_size).execute(
                _text(sql)
            )
            for rows in result.partitions(self.batch_size):
                yield _to_arrow(rows, names)
        except sa.exc.DBAPIError as exc:
            raise SourceError(f"reading the segments' members failed: {_db_message(exc)}") from exc


def _to_arrow(rows: Sequence[Any], names: list[str]) -> pa.Table:
    # Every column was cast to VARCHAR in the database, so each is a string array.
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table(
        {
            name: pa.array(column, type=pa.string())
            for name, column in zip(names, columns, strict=True)
        }
    )
