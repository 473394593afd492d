"""What every profile source offers, and the DuckDB steps they share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import duckdb

from dotsync import tables
from dotsync.config.models import SegmentConfig
from dotsync.errors import SourceError
from dotsync.identity import quote_literal

STAGE_TABLE = "members_stage"  # (key, segment, src_0, ...): one row per (member, segment) pair
VERSIONS_TABLE = "member_versions"  # (key, segments, row_version, copies): one row per member key


@dataclass(frozen=True)
class ChangeMarker:
    """``[source] updated_at``: the column whose value changes whenever a profile row does.

    A member key whose row version (``prefix`` and the marker's text) is the one stored when
    DotDigital confirmed its values is *kept*: its row is not read, validated nor digested again
    (``members_kept``). Every other key is read in full: new to the export, marker moved or null,
    several profile rows. Segment membership is still computed in full on every run (it can
    change while a row does not: segments over other tables, predicates on the date)."""

    column: str
    prefix: str  # the mapping's version and options: a new mapping reads every row again
    known: str  # a DuckDB table (key, row_version) of the export's confirmed members


def row_version_sql(marker: ChangeMarker, text: str) -> str:
    """A row's version from its marker's text (NULL when the marker is: always read)."""
    return f"({quote_literal(marker.prefix + '/')} || {text})"


def split_kept(duck: duckdb.DuckDBPyConnection, marker: ChangeMarker | None) -> None:
    """``members_kept(key, segments)`` from ``member_versions``: keys of one profile row whose
    version is the confirmed one (an empty table without a marker)."""
    if marker is None:
        duck.execute(
            f"CREATE OR REPLACE TEMP TABLE {tables.MEMBERS_KEPT} (key VARCHAR, segments VARCHAR[])"
        )
        return
    duck.execute(
        f"""CREATE OR REPLACE TEMP TABLE {tables.MEMBERS_KEPT} AS
        SELECT v.key, v.segments FROM {VERSIONS_TABLE} v JOIN {marker.known} k USING (key)
        WHERE v.copies = 1 AND v.row_version = k.row_version"""
    )


class ProfileSource(Protocol):
    def columns(self) -> list[str]:
        """The profiles table's columns, in table order."""
        ...

    def load_members(
        self,
        duck: duckdb.DuckDBPyConnection,
        segments: Mapping[str, SegmentConfig],
        columns: Sequence[str],
        marker: ChangeMarker | None = None,
    ) -> dict[str, int]:
        """Create ``members_raw`` (and ``members_kept``: see :class:`ChangeMarker`) in
        ``duck``; return each segment's size."""
        ...

    def segment_sizes(self, segments: Mapping[str, SegmentConfig]) -> dict[str, int]: ...

    def close(self) -> None: ...


def require_key(key: str, available: Sequence[str], table: str) -> None:
    """Fail before any segment query when ``source.key`` is not a column of the profiles table
    (each query would fail on it, and the message would blame the segment)."""
    if key not in available:
        raise SourceError(
            f"source.key: the profiles table {table!r} has no column {key!r}; available "
            f"columns: {', '.join(available)}. Fix `key` under [source] (the column that "
            "identifies a profile)"
        )


def require_columns(
    wanted: Sequence[str], available: Sequence[str], table: str, *, key: str
) -> None:
    """Fail before reading anything when the key or a mapped column is not in the profiles
    table."""
    require_key(key, available, table)
    missing = [column for column in dict.fromkeys(wanted) if column not in available]
    if missing:
        names = ", ".join(repr(column) for column in missing)
        raise SourceError(
            f"mapped column{'s' if len(missing) > 1 else ''} {names} not found in the profiles "
            f"table {table!r}; available columns: {', '.join(available)}. Fix the export's "
            "mapping or the source"
        )


def stage_ddl(column_count: int) -> str:
    columns = "".join(f", src_{index} VARCHAR" for index in range(column_count))
    return f"CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} (key VARCHAR, segment VARCHAR{columns})"


def key_aggregates_sql(segment_names: Sequence[str]) -> tuple[str, str]:
    """``segments`` (the key's segments, sorted) and ``copies`` (its profile rows) of a query
    over the stage grouped by key. One segment (the usual export): its list is a constant and
    every stage row of a key is one of its profile rows, so no DISTINCT per key (measured at
    1M members: 0.3 s instead of 1.3 s)."""
    if len(segment_names) == 1:
        return f"[{quote_literal(segment_names[0])}]::VARCHAR[]", "count(*)"
    return "list_sort(list(DISTINCT segment))::VARCHAR[]", "count(*) // count(DISTINCT segment)"


def finish_members_raw(
    duck: duckdb.DuckDBPyConnection,
    segment_names: Sequence[str],
    column_count: int,
    marker: ChangeMarker | None = None,
) -> dict[str, int]:
    """Fold the staged (member, segment) rows into ``members_raw``: one row per profile row.

    The stage holds each profile row once per segment of its key, so a key with ``n`` profile rows
    has ``n`` rows in each of its segments. Such a key is kept ``n`` times (validation rejects
    every row sharing a key as ``duplicate_key``); their values do not matter, as they are not
    sent. A key with one profile row has the same values in each of its stage rows.

    With a ``marker``, the stage's last column is the marker's text: it becomes ``row_version``.
    """
    src = [f"src_{index}" for index in range(column_count)]
    values = "".join(f", any_value({name})::VARCHAR AS {name}" for name in src)
    version = "NULL"
    if marker is not None:
        version = row_version_sql(marker, f"any_value(src_{column_count})")
    segments, copies = key_aggregates_sql(segment_names)
    duck.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE member_keys AS
        SELECT key::VARCHAR AS key, {segments} AS segments, ({version})::VARCHAR AS row_version,
            {copies} AS copies{values}
        FROM {STAGE_TABLE} GROUP BY key
        """
    )
    duck.execute(f"DROP TABLE {STAGE_TABLE}")
    duck.execute(
        f"CREATE OR REPLACE TABLE {tables.MEMBERS_RAW} AS SELECT * EXCLUDE (copies, copy) "
        "FROM (SELECT *, unnest(range(copies)) AS copy FROM member_keys)"
    )
    sizes = segment_sizes_of(duck, segment_names, table="member_keys")
    duck.execute("DROP TABLE member_keys")
    duck.execute(f"ALTER TABLE {tables.MEMBERS_RAW} ALTER COLUMN key SET NOT NULL")
    return sizes


def segment_sizes_of(
    duck: duckdb.DuckDBPyConnection,
    segment_names: Sequence[str],
    *,
    table: str = tables.MEMBERS_RAW.name,
) -> dict[str, int]:
    """Each segment's size, read from ``table.segments`` (a table of one row per member)."""
    sizes = dict.fromkeys(segment_names, 0)
    rows = duck.execute(
        f"SELECT segment, count(*) FROM (SELECT unnest(segments) AS segment FROM {table}) "
        "GROUP BY segment"
    ).fetchall()
    for name, size in rows:
        sizes[str(name)] = int(size)
    return sizes
