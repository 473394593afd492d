"""The SQLAlchemy source against the real PostgreSQL: segments run in the database, rows stream."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from support.pg import scratch_schema

from dotsync.config import MembershipConfig, SegmentConfig, SourceConfig
from dotsync.errors import SourceError
from dotsync.sources import SQLAlchemySource, open_source, sqlalchemy_source
from dotsync.sources.base import ChangeMarker
from dotsync.sources.pg_copy import CopyUnavailableError

PROFILES = [  # customer_id is an integer in the database; keys arrive as text
    (1, "ann@example.com", "Ann", 1500, "note: 10:30"),
    (2, "bob@example.com", "Bob", 200, None),
    (3, "cy@example.com", "Cy", 5000, "100%"),
    (4, "di@example.com", "Di", 10, None),
    (5, "ed@example.com", "Ed", 1200, None),
    (6, "flo@example.com", "Flo", 3000, None),
    (7, "gus@example.com", "Gus", 50, None),
]


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with scratch_schema(pg_url, "dotsync_test") as (name, engine):
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f'CREATE TABLE "{name}".customers (customer_id integer primary key, '
                    "email text, first_name text, lifetime_value integer, note text)"
                )
            )
            conn.execute(
                sa.text(f'INSERT INTO "{name}".customers VALUES (:i, :e, :f, :v, :n)'),
                [dict(zip("iefvn", row, strict=True)) for row in PROFILES],
            )
            conn.execute(
                sa.text(f'CREATE TABLE "{name}".churn_scores (customer_id integer, score real)')
            )
            conn.execute(
                sa.text(f'INSERT INTO "{name}".churn_scores VALUES (2, 0.9), (3, 0.95), (4, 0.1)')
            )
            conn.execute(sa.text(f'CREATE TABLE "{name}".memberships (segment text, key text)'))
            conn.execute(
                sa.text(
                    f'INSERT INTO "{name}".memberships'
                    " VALUES ('vip', '7'), ('vip', '99'), ('other', '1')"
                )
            )
        yield name


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


def make_source(pg_url: str, schema: str, batch_size: int = 50_000) -> SQLAlchemySource:
    config = SourceConfig(
        url=pg_url, table=f"{schema}.customers", key="customer_id", batch_size=batch_size
    )
    source = open_source(config)
    assert isinstance(source, SQLAlchemySource)
    return source


def segments(schema: str) -> dict[str, SegmentConfig]:
    return {
        "high_value": SegmentConfig(where="lifetime_value > 1000"),
        "churn_risk": SegmentConfig(
            sql=f"select customer_id, score from {schema}.churn_scores where score > 0.8;"
        ),
        "vip": SegmentConfig(
            membership=MembershipConfig(table=f"{schema}.memberships", segment="vip")
        ),
    }


def load_with_marker(
    pg_url: str, schema: str, duck: duckdb.DuckDBPyConnection, confirmed: list[tuple[str, str]]
) -> tuple[SQLAlchemySource, dict[str, int]]:
    """``load_members`` with lifetime_value as the change marker, the state having confirmed
    ``confirmed`` (key, row_version); the source is closed, its counts still readable."""
    duck.execute("CREATE TABLE known (key VARCHAR, row_version VARCHAR)")
    if confirmed:
        duck.executemany("INSERT INTO known VALUES (?, ?)", confirmed)
    marker = ChangeMarker(column="lifetime_value", prefix="v", known="known")
    source = make_source(pg_url, schema)
    try:
        sizes = source.load_members(duck, segments(schema), ["email"], marker)
    finally:
        source.close()
    return source, sizes


def test_where_sql_and_membership_segments_stream_in_batches(
    pg_url: str, schema: str, duck: duckdb.DuckDBPyConnection
) -> None:
    source = make_source(pg_url, schema, batch_size=2)
    try:
        sizes = source.load_members(duck, segments(schema), ["email", "note"])
        # high_value: 1, 3, 5, 6; churn_risk: 2, 3; vip: 7 and 99 (no such profile)
        assert sizes == {"high_value": 4, "churn_risk": 2, "vip": 2}
        rows = duck.execute(
            "SELECT key, segments, src_0, src_1 FROM members_raw ORDER BY key"
        ).fetchall()
        assert rows == [
            ("1", ["high_value"], "ann@example.com", "note: 10:30"),
            ("2", ["churn_risk"], "bob@example.com", None),
            ("3", ["churn_risk", "high_value"], "cy@example.com", "100%"),
            ("5", ["high_value"], "ed@example.com", None),
            ("6", ["high_value"], "flo@example.com", None),
            ("7", ["vip"], "gus@example.com", None),
            ("99", ["vip"], None, None),  # a member key without profile: rejected later
        ]
        # 8 (member, segment) rows left the database (through COPY: batch_size is for the rest).
        assert source.rows_loaded == 8
        assert source.segment_sizes(segments(schema)) == sizes
    finally:
        source.close()


def test_one_batch_when_the_batch_is_large(
    pg_url: str, schema: str, duck: duckdb.DuckDBPyConnection
) -> None:
    source = make_source(pg_url, schema)
    source.load_members(duck, {"all": SegmentConfig(where="true")}, ["email"])
    assert (source.batches_loaded, source.rows_loaded) == (1, len(PROFILES))
    assert duck.execute("SELECT count(*) FROM members_raw").fetchone() == (len(PROFILES),)
    source.close()


def test_other_databases_stream_in_batches_of_batch_size(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    # No COPY outside PostgreSQL: a server-side cursor, batch_size rows at a time.
    database = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    database.execute(
        "CREATE TABLE customers AS SELECT * FROM (VALUES (1, 'ann@example.com', 1500), "
        "(2, NULL, 2000), (3, 'cy@example.com', 10), (4, '', 3000), (5, 'ed@example.com', 1200))"
        " t(customer_id, email, lifetime_value)"
    )
    database.close()
    config = SourceConfig(
        url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
        table="customers",
        key="customer_id",
        batch_size=2,
    )
    source = open_source(config)
    assert isinstance(source, SQLAlchemySource)
    try:
        sizes = source.load_members(
            duck, {"high_value": SegmentConfig(where="lifetime_value > 1000")}, ["email"]
        )
    finally:
        source.close()
    assert sizes == {"high_value": 4}
    assert (source.batches_loaded, source.rows_loaded) == (2, 4)
    rows = duck.execute("SELECT key, src_0 FROM members_raw ORDER BY key").fetchall()
    assert rows == [("1", "ann@example.com"), ("2", None), ("4", ""), ("5", "ed@example.com")]


def test_missing_column_named_before_reading(
    pg_url: str, schema: str, duck: duckdb.DuckDBPyConnection
) -> None:
    source = make_source(pg_url, schema)
    with pytest.raises(SourceError) as caught:
        source.load_members(duck, segments(schema), ["email", "zip"])
    message = str(caught.value)
    assert "'zip'" in message and f"{schema}.customers" in message
    assert "customer_id, email, first_name, lifetime_value, note" in message
    source.close()


def test_segment_sql_error_names_segment_and_quotes_postgres(
    pg_url: str, schema: str, duck: duckdb.DuckDBPyConnection
) -> None:
    source = make_source(pg_url, schema)
    broken = {
        "ok": SegmentConfig(where="true"),
        "bad": SegmentConfig(sql="selec customer_id from x"),
    }
    with pytest.raises(SourceError) as caught:
        source.load_members(duck, broken, ["email"])
    assert str(caught.value) == (
        "segment 'bad': the query (segments.bad.sql) failed: syntax error at or near \"from\""
    )
    missing = {"gone": SegmentConfig(where="no_such_column > 1")}
    with pytest.raises(SourceError) as caught:
        source.segment_sizes(missing)
    assert str(caught.value) == (
        "segment 'gone': the predicate `no_such_column > 1` (segments.gone.where) failed: "
        'column "no_such_column" does not exist'
    )
    source.close()


def test_membership_file_needs_a_duckdb_source(
    pg_url: str, schema: str, duck: duckdb.DuckDBPyConnection, tmp_path: object
) -> None:
    from pathlib import Path

    source = make_source(pg_url, schema)
    member = MembershipConfig(path=Path(str(tmp_path)) / "m.csv")
    with pytest.raises(SourceError, match=r"membership\.table"):
        source.load_members(duck, {"m": SegmentConfig(membership=member)}, ["email"])
    source.close()


def test_unknown_table_and_hidden_password(pg_url: str) -> None:
    url = sa.make_url(pg_url).set(password="hunter2-secret").render_as_string(hide_password=False)
    source = open_source(SourceConfig(url=url, table="public.no_such_table_dotsync", key="id"))
    with pytest.raises(SourceError) as caught:
        source.columns()
    assert "does not exist" in str(caught.value)
    assert "hunter2-secret" not in str(caught.value)
    source.close()


def test_a_change_marker_reads_in_the_database_only_the_rows_it_must(
    pg_url: str, schema: str, duck: duckdb.DuckDBPyConnection
) -> None:
    # lifetime_value stands for a change marker here; the state confirmed these versions:
    confirmed = [("1", "v/1500"), ("2", "v/200"), ("3", "v/5000")]
    confirmed += [("5", "v/999"), ("6", "v/3000"), ("7", "v/50")]
    source, sizes = load_with_marker(pg_url, schema, duck, confirmed)
    # Membership in full (8 member-segment rows, two columns each), then the full rows of the
    # moved marker (5) and of the key new to the export (99) only: 8 + 2 rows left the database.
    assert source.rows_loaded == 10
    assert sizes == {"high_value": 4, "churn_risk": 2, "vip": 2}
    kept = duck.execute("SELECT key FROM members_kept ORDER BY key").fetchall()
    assert [k for (k,) in kept] == ["1", "2", "3", "6", "7"]
    rows = duck.execute(
        "SELECT key, segments, row_version, src_0 FROM members_raw ORDER BY key"
    ).fetchall()
    assert rows == [
        ("5", ["high_value"], "v/1200", "ed@example.com"),
        ("99", ["vip"], None, None),
    ]


def test_a_first_export_with_a_change_marker_reads_each_row_once(
    pg_url: str, schema: str, duck: duckdb.DuckDBPyConnection
) -> None:
    source, sizes = load_with_marker(pg_url, schema, duck, [])  # nothing confirmed
    # 8 member-segment rows, each read once with its marker, not versions first then in full.
    assert source.rows_loaded == 8
    assert sizes == {"high_value": 4, "churn_risk": 2, "vip": 2}
    assert duck.execute("SELECT count(*) FROM members_kept").fetchone() == (0,)
    rows = duck.execute(
        "SELECT key, segments, row_version, src_0 FROM members_raw ORDER BY key"
    ).fetchall()
    assert rows[:2] == [
        ("1", ["high_value"], "v/1500", "ann@example.com"),
        ("2", ["churn_risk"], "v/200", "bob@example.com"),
    ]
    assert rows[-1] == ("99", ["vip"], None, None)
    assert len(rows) == 7


def test_keys_the_database_cannot_take_mean_every_row_is_read(
    pg_url: str,
    schema: str,
    duck: duckdb.DuckDBPyConnection,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refused(*args: object) -> None:
        raise CopyUnavailableError("COPY of the keys failed (permission denied)")

    monkeypatch.setattr(sqlalchemy_source, "copy_keys", refused)
    confirmed = [("1", "v/1500"), ("2", "v/200"), ("3", "v/5000"), ("6", "v/3000")]
    with caplog.at_level(logging.INFO, logger="dotsync.sources.sqlalchemy_source"):
        source, sizes = load_with_marker(pg_url, schema, duck, confirmed)
    assert "reading every member's row: no temporary table (COPY of the keys failed" in caplog.text
    assert source.rows_loaded == 8 + 8  # the versions, then every member's row
    assert sizes == {"high_value": 4, "churn_risk": 2, "vip": 2}
    read = duck.execute("SELECT key FROM members_raw ORDER BY key").fetchall()
    assert [key for (key,) in read] == ["5", "7", "99"]  # 1, 2, 3 and 6 kept
