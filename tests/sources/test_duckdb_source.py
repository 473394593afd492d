"""The DuckDB source over CSV, Parquet, JSON and a .duckdb file built in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dotsync.config import SegmentConfig, SourceConfig
from dotsync.errors import SourceError
from dotsync.sources import DuckDBSource, open_source

DATA = Path(__file__).parent.parent / "data"
PROFILES_CSV = """customer_id,email,first_name,lifetime_value,tier
00123,ann@example.com,Ann,1500,gold
00124,bob@example.com,Bob,200,silver
00125,cy@example.com,"Cy, Jr.",5000,gold
00126,di@example.com,Di,10,
"""


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    path = tmp_path / "profiles.csv"
    path.write_text(PROFILES_CSV, encoding="utf-8")
    (tmp_path / "churn.csv").write_text("customer_id,score\n00124,0.9\n00126,0.1\n00125,0.85\n")
    (tmp_path / "memberships.csv").write_text("segment,key\nvip,00126\nvip,00123\nother,00124\n")
    return path


def converted(csv_path: Path, suffix: str) -> Path:
    """The same profiles in another format, keys kept as text."""
    target = csv_path.with_suffix(suffix)
    con = duckdb.connect()
    relation = f"read_csv('{csv_path}', all_varchar = true)"
    if suffix == ".duckdb":
        con.close()
        con = duckdb.connect(str(target))
        con.execute(f"CREATE TABLE customers AS SELECT * FROM {relation}")
        con.execute(
            "CREATE TABLE churn_scores AS SELECT * FROM read_csv("
            f"'{csv_path.parent / 'churn.csv'}', all_varchar = true)"
        )
    else:
        fmt = {".parquet": "parquet", ".json": "json"}[suffix]
        con.execute(f"COPY (SELECT * FROM {relation}) TO '{target}' (FORMAT {fmt})")
    con.close()
    return target


SEGMENTS = {
    "high_value": SegmentConfig(where="CAST(lifetime_value AS INTEGER) > 1000"),
    "churn_risk": SegmentConfig(
        sql="select customer_id from churn_scores where score::DOUBLE > 0.8;"
    ),
}


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


def members(duck: duckdb.DuckDBPyConnection) -> dict[str, tuple[list[str], str | None, str | None]]:
    rows = duck.execute("SELECT key, segments, src_0, src_1 FROM members_raw").fetchall()
    return {key: (segments, email, name) for key, segments, email, name in rows}


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".duckdb"])
def test_members_of_several_segments_each_once(
    csv_path: Path, duck: duckdb.DuckDBPyConnection, suffix: str
) -> None:
    path = csv_path if suffix == ".csv" else converted(csv_path, suffix)
    tables = {} if suffix == ".duckdb" else {"churn_scores": csv_path.parent / "churn.csv"}
    source = open_source(
        SourceConfig(path=path, table="customers", key="customer_id", tables=tables)
    )
    assert isinstance(source, DuckDBSource)
    try:
        assert source.columns()[:3] == ["customer_id", "email", "first_name"]
        sizes = source.load_members(duck, SEGMENTS, ["email", "first_name"])
        assert sizes == {"high_value": 2, "churn_risk": 2}
        assert members(duck) == {
            "00123": (["high_value"], "ann@example.com", "Ann"),
            "00124": (["churn_risk"], "bob@example.com", "Bob"),
            "00125": (["churn_risk", "high_value"], "cy@example.com", "Cy, Jr."),
        }
        assert source.segment_sizes(SEGMENTS) == sizes
        types = dict(
            duck.execute("SELECT column_name, column_type FROM (DESCRIBE members_raw)").fetchall()
        )
        assert types == {
            "key": "VARCHAR",
            "segments": "VARCHAR[]",
            "row_version": "VARCHAR",  # NULL: no change marker configured
            "src_0": "VARCHAR",
            "src_1": "VARCHAR",
        }
    finally:
        source.close()


def test_membership_file_segment(csv_path: Path, duck: duckdb.DuckDBPyConnection) -> None:
    from dotsync.config.models import MembershipConfig

    source = open_source(SourceConfig(path=csv_path, key="customer_id"))
    segments = {
        "cdp_vip": SegmentConfig(
            membership=MembershipConfig(path=csv_path.parent / "memberships.csv", segment="vip")
        )
    }
    assert source.load_members(duck, segments, ["email"]) == {"cdp_vip": 2}
    assert sorted(members_keys(duck)) == ["00123", "00126"]
    source.close()


def members_keys(duck: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in duck.execute("SELECT key FROM members_raw").fetchall()]


def test_missing_mapped_column_fails_before_reading(
    csv_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    source = open_source(SourceConfig(path=csv_path, table="customers", key="customer_id"))
    with pytest.raises(SourceError) as caught:
        source.load_members(duck, SEGMENTS, ["email", "zip"])
    message = str(caught.value)
    assert (
        "'zip'" in message and "'customers'" in message and "first_name, lifetime_value" in message
    )
    assert duck.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)


def test_segment_syntax_error_names_the_segment(
    csv_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    source = open_source(SourceConfig(path=csv_path, key="customer_id"))
    broken = {"ok": SegmentConfig(where="true"), "broken": SegmentConfig(where="lifetime_value >")}
    with pytest.raises(SourceError) as caught:
        source.load_members(duck, broken, ["email"])
    # The user's predicate and DuckDB's reason; not the query dotsync wraps around it, whose
    # "LINE 1:" and caret would point into SQL the user never wrote.
    assert str(caught.value) == (
        "segment 'broken': the predicate `lifetime_value >` (segments.broken.where) failed: "
        'Parser Error: syntax error at or near ")"'
    )
    with pytest.raises(SourceError, match=r"segment 'broken'"):
        source.segment_sizes(broken)
    unknown = {"x": SegmentConfig(sql="select id from no_such_table")}
    with pytest.raises(SourceError, match=r"segment 'x'.*no_such_table"):
        source.segment_sizes(unknown)


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        open_source(SourceConfig(path=tmp_path / "nope.csv", key="id"))


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
def test_non_utf8_rows_are_rejected_with_their_line(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection, line_end: bytes
) -> None:
    # With CRLF line ends DuckDB's rejected line starts with the "\n" of the line before: the
    # key was then lost, and the row also counted as a member without e-mail.
    path = tmp_path / "profiles_latin1.csv"
    lines = (DATA / "profiles_latin1.csv").read_bytes().splitlines()
    path.write_bytes(b"".join(line + line_end for line in lines))
    source = open_source(SourceConfig(path=path, key="customer_id"))
    sizes = source.load_members(duck, {"all": SegmentConfig(where="true")}, ["email", "first_name"])
    # The readable rows go on, "00125" with its genuine UTF-8 "ë" intact.
    assert sizes == {"all": 2}
    assert {key: name for key, (_s, _e, name) in members(duck).items()} == {
        "00123": "Ann",
        "00125": "Zoë",
    }
    rejected = duck.execute("SELECT key, reason, detail FROM source_rejected").fetchall()
    assert rejected == [
        (
            "00124",
            "unreadable_row",
            "line 3 of profiles_latin1.csv: bytes that are not UTF-8 text; save the file as UTF-8",
        ),
    ]


def test_duplicate_keys_in_profiles_stay_one_row_each(
    tmp_path: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    # Validation rejects every row of a shared key (duplicate_key); none is dropped here.
    path = tmp_path / "dupes.csv"
    path.write_text("id,email\n1,b@example.com\n1,a@example.com\n2,c@example.com\n")
    source = open_source(SourceConfig(path=path, key="id"))
    assert source.load_members(duck, {"all": SegmentConfig(where="true")}, ["email"]) == {"all": 2}
    assert duck.execute("SELECT key, src_0 FROM members_raw ORDER BY key, src_0").fetchall() == [
        ("1", "a@example.com"),
        ("1", "b@example.com"),
        ("2", "c@example.com"),
    ]
