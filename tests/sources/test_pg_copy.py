"""PostgreSQL's rows through COPY and Arrow's CSV reader arrive exactly as row by row would
bring them: NULL apart from '', separators, quotes and line breaks inside values, any text."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import duckdb
import pytest
import sqlalchemy as sa
from support.pg import scratch_schema

from dotsync.config import SegmentConfig, SourceConfig
from dotsync.errors import SourceError
from dotsync.sources import SQLAlchemySource, open_source, pg_copy, sqlalchemy_source

NOTES = [  # (customer_id, note): every value a CSV writer or reader could get wrong
    (1, None),
    (2, ""),
    (3, "a,b"),
    (4, "line 1\nline 2"),
    (5, "cr\r\nlf and a lone \r"),
    (6, '"quoted", and "" doubled'),
    (7, "\\N"),
    (8, "NULL"),
    (9, "  padded  "),
    (10, "é ü ß 中文 🙂"),
    (11, "tab\there; semi; pipe|"),
    (12, "back\\slash"),
    (13, '"'),
    (14, " "),
    (15, "100% : 10:30 %s %(x)s"),
    (16, "café crème, Größe, àéîõü"),  # text LATIN1 can carry
]


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with scratch_schema(pg_url, "dotsync_copy") as (name, engine):
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f'CREATE TABLE "{name}".customers (customer_id integer primary key, note text)'
                )
            )
            conn.execute(
                sa.text(f'INSERT INTO "{name}".customers VALUES (:i, :n)'),
                [{"i": i, "n": note} for i, note in NOTES],
            )
        yield name


def load(url: str, schema: str, segment: SegmentConfig) -> tuple[list[tuple[str, str]], int]:
    """(key, note) of every member, and how many rows left the database."""
    source = open_source(SourceConfig(url=url, table=f"{schema}.customers", key="customer_id"))
    assert isinstance(source, SQLAlchemySource)
    duck = duckdb.connect()
    try:
        source.load_members(duck, {"all": segment}, ["note"])
        rows = duck.execute("SELECT key, src_0 FROM members_raw ORDER BY key::INT").fetchall()
    finally:
        source.close()
        duck.close()
    return rows, source.rows_loaded


EXPECTED = [(str(i), note) for i, note in NOTES]


def test_every_value_arrives_as_row_by_row_brings_it(
    pg_url: str, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied, rows = load(pg_url, schema, SegmentConfig(where="true"))
    assert (copied, rows) == (EXPECTED, len(NOTES))
    monkeypatch.setattr(sqlalchemy_source, "copy_supported", lambda conn: False)
    streamed, _ = load(pg_url, schema, SegmentConfig(where="true"))
    assert streamed == copied


def test_the_text_is_utf8_whatever_the_client_encoding(pg_url: str, schema: str) -> None:
    latin = sa.make_url(pg_url).update_query_dict({"client_encoding": "LATIN1"})
    no_emoji = f"SELECT customer_id FROM {schema}.customers WHERE customer_id <> 10"  # not LATIN1
    copied, _ = load(
        latin.render_as_string(hide_password=False), schema, SegmentConfig(sql=no_emoji)
    )
    assert copied == [row for row in EXPECTED if row[0] != "10"]


def test_percent_and_colon_in_segment_sql_are_not_placeholders(pg_url: str, schema: str) -> None:
    copied, _ = load(pg_url, schema, SegmentConfig(where="note LIKE '%\\%%' OR note LIKE '%:%'"))
    assert copied == [("15", "100% : 10:30 %s %(x)s")]


@pytest.mark.parametrize("first", [False, True], ids=["after other rows", "in the first block"])
def test_a_row_larger_than_a_block_is_read_row_by_row(
    pg_url: str,
    schema: str,
    first: bool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO \"{schema}\".customers VALUES (17, repeat('x', 300000))")
        )
    engine.dispose()
    monkeypatch.setattr(pg_copy, "BLOCK_BYTES", 64 * 1024)
    expected = [*EXPECTED, ("17", "x" * 300_000)]
    if first:
        expected = expected[-1:]
    with caplog.at_level(logging.INFO, logger="dotsync.sources.sqlalchemy_source"):
        copied, rows = load(
            pg_url, schema, SegmentConfig(where="customer_id = 17" if first else "true")
        )
    assert copied == expected
    assert rows == len(expected)  # the rows COPY gave before it gave up are not counted
    assert "a member row is larger than 64 KB: reading the rows one by one" in caplog.text


def test_a_database_refusing_the_copy_is_read_row_by_row(
    pg_url: str,
    schema: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A database speaking PostgreSQL's protocol without COPY's CSV (here: a format it lacks).
    monkeypatch.setattr(pg_copy, "_STATEMENT", "COPY ({select}) TO STDOUT (FORMAT parquet)")
    with caplog.at_level(logging.INFO, logger="dotsync.sources.sqlalchemy_source"):
        copied, rows = load(pg_url, schema, SegmentConfig(where="true"))
    assert (copied, rows) == (EXPECTED, len(NOTES))
    assert "COPY was refused (" in caplog.text
    assert "reading the rows one by one instead" in caplog.text


def test_a_database_error_while_copying_says_so(pg_url: str, schema: str) -> None:
    # customer_id 10 divides by zero: only the full read meets it, not the segment's probe.
    segment = SegmentConfig(where="customer_id < 10 OR 1 / (customer_id - 10) > 0")
    with pytest.raises(SourceError) as caught:
        load(pg_url, schema, segment)
    assert str(caught.value) == "reading the segments' members failed: division by zero"
