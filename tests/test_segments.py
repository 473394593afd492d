"""Segment SQL generation: pure text, checked by running it in DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dotsync.config import MembershipConfig, SegmentConfig
from dotsync.segments import (
    file_relation_sql,
    members_with_columns_sql,
    segment_keys_sql,
    segment_sizes_sql,
    strip_statement,
)


@pytest.fixture
def duck() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE profiles AS SELECT * FROM (VALUES (1, 'a@x.io', 50),"
                " (2, 'b@x.io', 5), (3, 'c@x.io', 70), (NULL, 'n@x.io', 99))"
                " t(id, email, score)")  # fmt: skip
    con.execute("CREATE TABLE cdp AS SELECT * FROM (VALUES ('vip', '2'), ('vip', '2'), "
                "('vip', '3'), ('churn', '1')) t(seg, customer)")  # fmt: skip
    return con


def keys(duck: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    return sorted(row[0] for row in duck.execute(sql).fetchall())


def test_where_segment_returns_distinct_text_keys(duck: duckdb.DuckDBPyConnection) -> None:
    sql = segment_keys_sql(
        "hi", SegmentConfig(where="score > 10"), profiles='"profiles"', key_column="id"
    )
    assert keys(duck, sql) == ["1", "3"]  # the NULL key is dropped


def test_sql_segment_takes_the_first_column_whatever_its_name(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    segment = SegmentConfig(sql="select id as whatever, score from profiles where score < 60;  ")
    sql = segment_keys_sql("s", segment, profiles='"profiles"', key_column="id")
    assert keys(duck, sql) == ["1", "2"]


def test_membership_segment_with_custom_columns(duck: duckdb.DuckDBPyConnection) -> None:
    member = MembershipConfig(table="cdp", segment_column="seg", key_column="customer")
    sql = segment_keys_sql("vip", SegmentConfig(membership=member), profiles='"profiles"',
                           key_column="id", membership_relation='"cdp"')  # fmt: skip
    assert keys(duck, sql) == ["2", "3"]  # segment defaults to the segment's own name; no repeats


def test_members_with_columns_and_sizes(duck: duckdb.DuckDBPyConnection) -> None:
    per_segment = {
        "hi": segment_keys_sql(
            "hi", SegmentConfig(where="score > 10"), profiles='"profiles"', key_column="id"
        ),
        "o'brien": segment_keys_sql(
            "o'brien",
            SegmentConfig(sql="select 3 union all select 42"),
            profiles='"profiles"',
            key_column="id",
        ),
    }
    rows = duck.execute(members_with_columns_sql(
        per_segment, profiles='"profiles"', key_column="id", columns=["email"]
    )).fetchall()  # fmt: skip
    assert sorted(rows) == [("1", "hi", "a@x.io"), ("3", "hi", "c@x.io"),
                            ("3", "o'brien", "c@x.io"), ("42", "o'brien", None)]  # fmt: skip
    assert dict(duck.execute(segment_sizes_sql(per_segment)).fetchall()) == {"hi": 2, "o'brien": 2}


def test_quoting_is_injectable_per_dialect() -> None:
    sql = segment_keys_sql("s", SegmentConfig(where="true"), profiles="`p`", key_column="id",
                           quote=lambda name: f"`{name}`")  # fmt: skip
    assert "p.`id`" in sql


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("a.csv", "read_csv"),
        ("a.CSV", "read_csv"),
        ("a.parquet", "read_parquet"),
        ("a.json", "read_json_auto"),
        ("a.ndjson", "read_json_auto"),
    ],
)
def test_file_relation(name: str, function: str) -> None:
    assert file_relation_sql(Path("/d") / name).startswith(f"{function}('/d/{name}'")


def test_file_relation_refuses_other_files() -> None:
    with pytest.raises(ValueError, match="CSV, Parquet or JSON"):
        file_relation_sql(Path("a.xlsx"))


def test_strip_statement() -> None:
    assert strip_statement("  select 1 ;;\n") == "select 1"
