"""What every profile source offers, and the DuckDB steps they share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import duckdb

from dotsync.config.models import SegmentConfig
from dotsync.errors import SourceError

STAGE_TABLE = "members_stage"  # (key, segment, src_0, ...): one row per (member, segment) pair


class ProfileSource(Protocol):
    def columns(self) -> list[str]:
        """The profiles table's columns, in table order."""
        ...

    def load_members(
        self,
        duck: duckdb.DuckDBPyConnection,
        segments: Mapping[str, SegmentConfig],
        columns: Sequence[str],
    ) -> dict[str, int]:
        """Create ``members_raw`` in ``duck``; return each segment's size."""
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


def finish_members_raw(
    duck: duckdb.DuckDBPyConnection, segment_names: Sequence[str], column_count: int
) -> dict[str, int]:
    """Fold the staged (member, segment) rows into ``members_raw``: one row per distinct key."""
    src = [f"src_{index}" for index in range(column_count)]
    src_list = "".join(f", {name}" for name in src)
    # Duplicate keys in the profiles table: keep one whole row, chosen by its values so the choice
    # is the same on every run.
    order = "".join(f", {name} NULLS LAST" for name in src)
    duck.execute(
        f"""
        CREATE OR REPLACE TABLE members_raw AS
        WITH seg AS (
            SELECT key, list_sort(list(DISTINCT segment)) AS segments
            FROM {STAGE_TABLE} GROUP BY key
        ),
        one AS (
            SELECT DISTINCT ON (key) key{src_list} FROM {STAGE_TABLE} ORDER BY key{order}
        )
        SELECT seg.key::VARCHAR AS key, seg.segments::VARCHAR[] AS segments{
            "".join(f", one.{name}::VARCHAR AS {name}" for name in src)
        }
        FROM seg JOIN one ON seg.key = one.key
        """
    )
    duck.execute(f"DROP TABLE {STAGE_TABLE}")
    duck.execute("ALTER TABLE members_raw ALTER COLUMN key SET NOT NULL")
    return segment_sizes_of(duck, segment_names)


def segment_sizes_of(
    duck: duckdb.DuckDBPyConnection, segment_names: Sequence[str]
) -> dict[str, int]:
    """Each segment's size, read from ``members_raw.segments``."""
    sizes = dict.fromkeys(segment_names, 0)
    rows = duck.execute(
        "SELECT segment, count(*) FROM (SELECT unnest(segments) AS segment FROM members_raw) "
        "GROUP BY segment"
    ).fetchall()
    for name, size in rows:
        sizes[str(name)] = int(size)
    return sizes
