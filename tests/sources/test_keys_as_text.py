"""Keys are text exactly as written, whatever the source kind: a key that looks like a number is
never rewritten (``1.50`` stays ``1.50``, ``00123`` stays ``00123``), so every member keeps its
e-mail in the join and its identity from run to run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from support.pg import scratch_schema

from dotsync.config import MembershipConfig, SegmentConfig, SourceConfig
from dotsync.sources import open_source

# DuckDB's sniffer types this column DOUBLE: read as a number, the keys would be 1.5, 2.25, 10.1.
NUMERIC_KEYS = ["1.50", "2.25", "10.10"]
EVERYONE = {"all": SegmentConfig(where="true")}


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


def members(duck: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    return dict(duck.execute("SELECT key, src_0 FROM members_raw").fetchall())


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def profiles_csv(folder: Path) -> Path:
    rows = [f"{key},p{i}@example.com,{100 * (i + 1)}" for i, key in enumerate(NUMERIC_KEYS)]
    return write_csv(folder / "profiles.csv", "customer_id,email,lifetime_value", rows)


EXPECTED = {key: f"p{i}@example.com" for i, key in enumerate(NUMERIC_KEYS)}


def test_csv_keys_that_look_like_numbers_stay_as_written(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    source = open_source(SourceConfig(path=profiles_csv(tmp_path), key="customer_id"))
    try:
        # Other columns keep their sniffed types: the segment compares numbers.
        segments = {"big": SegmentConfig(where="lifetime_value > 150")}
        assert source.load_members(duck, segments, ["email"]) == {"big": 2}
        assert members(duck) == {"2.25": "p1@example.com", "10.10": "p2@example.com"}
        assert source.segment_sizes(segments) == {"big": 2}
    finally:
        source.close()


def test_parquet_and_duckdb_decimal_keys_keep_their_scale(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    csv_path = profiles_csv(tmp_path)
    typed = f"SELECT customer_id::DECIMAL(10, 2) AS customer_id, email FROM read_csv('{csv_path}')"
    con = duckdb.connect(str(tmp_path / "profiles.duckdb"))
    con.execute(f"CREATE TABLE customers AS {typed}")
    con.execute(f"COPY ({typed}) TO '{tmp_path / 'profiles.parquet'}' (FORMAT parquet)")
    con.close()
    for name in ("profiles.parquet", "profiles.duckdb"):
        source = open_source(SourceConfig(path=tmp_path / name, key="customer_id"))
        try:
            source.load_members(duck, EVERYONE, ["email"])
            assert members(duck) == EXPECTED, name
        finally:
            source.close()


def test_json_number_keys_keep_their_digits(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    # Sniffed as DOUBLE, 2 would become '2.0' and the 20-digit id '1e+20'. A key with decimals is
    # written as a JSON string to keep its trailing zero (JSON does not tell 1.50 from 1.5).
    path = tmp_path / "profiles.json"
    path.write_text(
        '[{"customer_id": 2, "email": "a@example.com", "n": 1},\n'
        ' {"customer_id": 100000000000000000001, "email": "b@example.com", "n": 2},\n'
        ' {"customer_id": "1.50", "email": "c@example.com", "n": 3}]\n',
        encoding="utf-8",
    )
    source = open_source(SourceConfig(path=path, key="customer_id"))
    try:
        assert source.load_members(duck, {"some": SegmentConfig(where="n >= 1")}, ["email"])
        assert members(duck) == {
            "2": "a@example.com",
            "100000000000000000001": "b@example.com",
            "1.50": "c@example.com",
        }
    finally:
        source.close()


def test_table_files_and_membership_files_compare_keys_as_written(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    # orders.csv alone would be sniffed DOUBLE; its key column is named like the profiles' key.
    orders = write_csv(tmp_path / "orders.csv", "customer_id,total", ["1.50,30", "10.10,20"])
    # A membership table file whose key column has another name, and a membership file.
    cdp = write_csv(tmp_path / "cdp.csv", "audience,cust", ["1,2.25", "1,10.10", "2,1.50"])
    listed = write_csv(tmp_path / "listed.csv", "segment,key", ["vip,10.10", "vip,2.25"])
    config = SourceConfig(
        path=profiles_csv(tmp_path), key="customer_id", tables={"orders": orders, "cdp": cdp}
    )
    segments = {
        "buyers": SegmentConfig(
            sql="SELECT p.customer_id FROM profiles p JOIN orders o USING (customer_id)"
        ),
        "audience_1": SegmentConfig(
            membership=MembershipConfig(
                table="cdp", key_column="cust", segment_column="audience", segment="1"
            )
        ),
        "vip": SegmentConfig(membership=MembershipConfig(path=listed)),
    }
    source = open_source(config)
    try:
        sizes = source.load_members(duck, segments, ["email"])
        assert sizes == {"buyers": 2, "audience_1": 2, "vip": 2}
        assert members(duck) == EXPECTED
        segments_of = dict(duck.execute("SELECT key, segments FROM members_raw").fetchall())
        assert segments_of == {
            "1.50": ["buyers"],
            "2.25": ["audience_1", "vip"],
            "10.10": ["audience_1", "buyers", "vip"],
        }
    finally:
        source.close()


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    with scratch_schema(pg_url, "dotsync_test") as (name, engine):
        with engine.begin() as conn:
            conn.execute(
                sa.text(f'CREATE TABLE "{name}".customers (customer_id numeric(10, 2), email text)')
            )
            conn.execute(
                sa.text(f'INSERT INTO "{name}".customers VALUES (:k, :e)'),
                [{"k": key, "e": email} for key, email in EXPECTED.items()],
            )
            conn.execute(sa.text(f'CREATE TABLE "{name}".memberships (segment text, key text)'))
            conn.execute(
                sa.text(
                    f"INSERT INTO \"{name}\".memberships VALUES ('vip', '1.50'), ('vip', '10.10')"
                )
            )
        yield name


def test_postgres_numeric_keys_are_cast_to_text_as_written(
    pg_url: str, pg_schema: str, duck: duckdb.DuckDBPyConnection
) -> None:
    config = SourceConfig(url=pg_url, table=f"{pg_schema}.customers", key="customer_id")
    segments = {
        "all": SegmentConfig(where="true"),
        "vip": SegmentConfig(
            membership=MembershipConfig(table=f"{pg_schema}.memberships", segment="vip")
        ),
    }
    source = open_source(config)
    try:
        assert source.load_members(duck, segments, ["email"]) == {"all": 3, "vip": 2}
        assert members(duck) == EXPECTED
    finally:
        source.close()


def test_duplicate_keys_from_a_database_stay_one_row_each(
    pg_url: str, pg_schema: str, duck: duckdb.DuckDBPyConnection
) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO \"{pg_schema}\".customers VALUES (1.50, 'x@example.com')")
        )
    engine.dispose()
    config = SourceConfig(url=pg_url, table=f"{pg_schema}.customers", key="customer_id")
    segments = {
        "all": SegmentConfig(where="true"),
        "vip": SegmentConfig(
            membership=MembershipConfig(table=f"{pg_schema}.memberships", segment="vip")
        ),
    }
    source = open_source(config)
    try:
        assert source.load_members(duck, segments, ["email"]) == {"all": 3, "vip": 2}
        rows = duck.execute("SELECT key, segments FROM members_raw ORDER BY key").fetchall()
        assert rows == [
            ("1.50", ["all", "vip"]),
            ("1.50", ["all", "vip"]),
            ("10.10", ["all", "vip"]),
            ("2.25", ["all"]),
        ]
    finally:
        source.close()
