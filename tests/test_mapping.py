"""Mapping and validation in DuckDB: every kind of bad input a source holds, properties, digests."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dotsync.config import DataFieldMapping, MappingConfig, SegmentConfig, SourceConfig
from dotsync.mapping import (
    MappedField,
    ValidationSummary,
    declared_types,
    mapping_version,
    plan_columns,
    required_fields,
    source_columns,
    type_mismatches,
    validate,
)
from dotsync.sources import open_source

DATA = Path(__file__).parent / "data"
BAD_INPUT_MAPPING = MappingConfig(
    email="email",
    first_name="first_name",
    data_fields={
        "AGE": DataFieldMapping(column="age", type="Numeric"),
        "BIRTHDAY": DataFieldMapping(column="birthday", type="Date"),
        "VIP": DataFieldMapping(column="vip", type="Boolean"),
        "NOTE": "note",
    },
)


def load_raw(duck: duckdb.DuckDBPyConnection, rows: Sequence[Sequence[str | None]]) -> None:
    """members_raw from (key, src_0, src_1, ...) tuples."""
    width = len(rows[0]) - 1
    table = pa.table({
        "key": pa.array([row[0] for row in rows], pa.string()),
        "segments": pa.array([["s"]] * len(rows), pa.list_(pa.string())),
        **{f"src_{i}": pa.array([row[i + 1] for row in rows], pa.string()) for i in range(width)},
    })  # fmt: skip
    duck.register("raw_rows", table)
    duck.execute("CREATE OR REPLACE TABLE members_raw AS SELECT * FROM raw_rows")
    duck.unregister("raw_rows")


def run(
    rows: Sequence[Sequence[str | None]],
    fields: Sequence[MappedField],
    *,
    version: str = "v1",
    send_empty_values: bool = False,
) -> tuple[ValidationSummary, dict[str, tuple[object, ...]], dict[str, tuple[str, str | None]]]:
    duck = duckdb.connect()
    load_raw(duck, rows)
    summary = validate(
        duck, 0, fields, send_empty_values=send_empty_values, mapping_version=version
    )
    valid = {r[0]: r[1:] for r in duck.execute("SELECT * FROM members_valid").fetchall()}
    rejected = {
        r[0]: (r[1], r[2])
        for r in duck.execute("SELECT key, reason, field FROM members_rejected").fetchall()
    }
    duck.close()
    return summary, valid, rejected


def test_plan_columns_standard_then_data_fields() -> None:
    email, fields = plan_columns(BAD_INPUT_MAPPING)
    assert email == "email"
    assert [(f.name, f.column, f.type) for f in fields] == [
        ("FIRSTNAME", "first_name", "String"), ("AGE", "age", "Numeric"),
        ("BIRTHDAY", "birthday", "Date"), ("NOTE", "note", "String"), ("VIP", "vip", "Boolean"),
    ]  # fmt: skip
    assert source_columns(email, fields) == [
        "email",
        "first_name",
        "age",
        "birthday",
        "note",
        "vip",
    ]
    assert required_fields(BAD_INPUT_MAPPING) == ["FIRSTNAME", "AGE", "BIRTHDAY", "NOTE", "VIP"]
    # Undeclared types follow the account; declared ones stay.
    _, typed = plan_columns(BAD_INPUT_MAPPING, {"NOTE": "Date", "AGE": "String"})
    assert {f.name: f.type for f in typed}["NOTE"] == "Date"
    assert {f.name: f.type for f in typed}["AGE"] == "Numeric"


def test_bad_input_file_end_to_end_through_the_duckdb_source() -> None:
    """tests/data/bad_input.csv: each row's expected outcome is in its `expected` column."""
    with (DATA / "bad_input.csv").open(encoding="utf-8", newline="") as handle:
        expected = {row["customer_id"]: row["expected"] for row in csv.DictReader(handle)}
    email, fields = plan_columns(BAD_INPUT_MAPPING)
    duck = duckdb.connect()
    source = open_source(SourceConfig(path=DATA / "bad_input.csv", key="customer_id"))
    source.load_members(duck, {"all": SegmentConfig(where="true")}, source_columns(email, fields))
    source.close()
    summary = validate(duck, 0, fields, send_empty_values=False, mapping_version="v1")
    outcome = dict(duck.execute("SELECT key, 'valid' FROM members_valid").fetchall())
    outcome.update(dict(duck.execute("SELECT key, reason FROM members_rejected").fetchall()))
    assert outcome == expected
    assert summary.valid + summary.rejected == len(expected)
    values = {r[0]: r[1:] for r in duck.execute(
        'SELECT key, email, "f_FIRSTNAME", "f_NOTE", "f_AGE", "f_BIRTHDAY", "f_VIP"'
        " FROM members_valid"
    ).fetchall()}  # fmt: skip
    assert values["00001"] == ("ann@example.com", "Ann", "plain", "42", "1980-01-31", "true")
    assert values["00009"][0] == "user@bücher.de"
    assert values["00011"][1] is None  # empty → NULL, not sent
    assert values["00013"][2] == 'line one\nline "two", a;b'
    assert [values[k][1] for k in ("00014", "00015", "00016", "00017")] == [
        "=SUM(A1)",
        "+44 20 7946 0000",
        "-5",
        "@handle",
    ]
    assert values["00023"][1] == "NULL"
    hashes = dict(duck.execute("SELECT key, email_hash FROM members_valid").fetchall())
    assert hashes["00001"] == hashlib.sha256(b"ann@example.com").hexdigest()
    detail = duck.execute("SELECT detail FROM members_rejected WHERE key = '00010'").fetchone()
    assert detail == ("same e-mail as profile 00001",)


@pytest.mark.parametrize(
    ("kind", "raw", "sent"),
    [
        ("Numeric", " 42 ", "42"),
        ("Numeric", "1e3", "1000"),
        ("Numeric", "-0.50", "-0.5"),
        ("Numeric", "+7", "7"),
        ("Numeric", ".25", "0.25"),
        ("Numeric", "-0", "0"),
        ("Date", "2024-02-29", "2024-02-29"),
        ("Date", "2024-01-31 10:05", "2024-01-31T10:05:00"),
        ("Date", "2024-01-31T10:05:06.789", "2024-01-31T10:05:06"),
        ("Date", "2024-01-31T01:00:00+02:00", "2024-01-30T23:00:00"),
        ("Date", "2024-01-31T10:00:00Z", "2024-01-31T10:00:00"),
        ("Boolean", "TRUE", "true"),
        ("Boolean", " no ", "false"),
        ("Boolean", "1", "true"),
        ("Boolean", "f", "false"),
    ],
)
def test_canonical_forms(kind: str, raw: str, sent: str) -> None:
    field = MappedField("X", "x", kind)  # type: ignore[arg-type]
    _, valid, rejected = run([("k", "a@example.com", raw)], [field])
    assert rejected == {}
    assert valid["k"][3] == sent


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        ("Numeric", "1,5", "invalid_number"),
        ("Numeric", "forty", "invalid_number"),
        ("Numeric", "1_000", "invalid_number"),
        ("Numeric", "nan", "invalid_number"),
        ("Numeric", "inf", "invalid_number"),
        ("Numeric", "0x10", "invalid_number"),
        ("Date", "2023-02-29", "invalid_date"),
        ("Date", "31/12/2020", "invalid_date"),
        ("Date", "24-01-31", "invalid_date"),
        ("Date", "2024-13-01", "invalid_date"),
        ("Boolean", "maybe", "invalid_boolean"),
        ("Boolean", "2", "invalid_boolean"),
        ("String", "x" * 256, "value_too_long"),
        ("Numeric", "1" * 256, "value_too_long"),
    ],
)
def test_values_that_do_not_fit_are_rejected(kind: str, raw: str, reason: str) -> None:
    field = MappedField("X", "x", kind)  # type: ignore[arg-type]
    summary, valid, rejected = run(
        [("k", "a@example.com", raw), ("ok", "b@example.com", None)], [field]
    )
    assert rejected == {"k": (reason, "X")}
    assert list(valid) == ["ok"]  # the other rows go on
    assert summary.rejected_by_reason == {reason: 1}


EMAILS = {
    "": "missing_email", "   ": "missing_email", None: "missing_email",
    "a b@example.com": "invalid_email", "nodomain@": "invalid_email",
    "@example.com": "invalid_email", "a@@example.com": "invalid_email",
    "a@b@example.com": "invalid_email", "a@example.com.": "invalid_email",
    "a@example": "invalid_email", "a..b@example.com": "invalid_email",
    "a@example..com": "invalid_email", ".a@example.com": "invalid_email",
    "a" * 65 + "@example.com": "invalid_email",
    "a@" + "b" * 250 + ".com": "invalid_email",
    "plus+tag@example.com": "valid", "ANN@Example.COM": "valid", "user@bücher.de": "valid",
    "用户@example.com": "invalid_email", "o'brien@example.ie": "valid",
    "x@sub.domain.co.uk": "valid",
    "a" * 64 + "@example.com": "valid",
}  # fmt: skip


@pytest.mark.parametrize(("raw", "outcome"), EMAILS.items(), ids=[repr(e)[:30] for e in EMAILS])
def test_email_rules(raw: str | None, outcome: str) -> None:
    _, valid, rejected = run([("k", raw)], [])
    assert (rejected["k"][0] if rejected else "valid") == outcome
    if valid:
        assert valid["k"][0] == (raw or "").strip().lower()


def test_duplicate_email_keeps_smallest_key_among_otherwise_valid_rows() -> None:
    rows = [("3", "dup@example.com", "ok"), ("1", "DUP@example.com ", "x" * 300),
            ("2", " dup@example.com", "ok"), ("4", "dup@example.com", "ok")]  # fmt: skip
    summary, valid, rejected = run(rows, [MappedField("FIRSTNAME", "fn")])
    assert list(valid) == ["2"]
    assert rejected == {"1": ("value_too_long", "FIRSTNAME"), "3": ("duplicate_email", None),
                        "4": ("duplicate_email", None)}  # fmt: skip
    assert summary == ValidationSummary(1, 3, {"duplicate_email": 2, "value_too_long": 1})


def test_every_row_sharing_a_key_is_rejected_as_duplicate_key() -> None:
    # Which of two rows is the member cannot be told: neither is sent, both are counted and listed,
    # whatever else is wrong with them, and they do not count as duplicate e-mails of a third.
    rows = [("7", "a@example.com", "ok"), ("7", "b@example.com", "x" * 300),
            ("8", "b@example.com", "ok"), ("9", "c@example.com", "ok")]  # fmt: skip
    duck = duckdb.connect()
    load_raw(duck, rows)
    summary = validate(
        duck, 0, [MappedField("FIRSTNAME", "fn")], send_empty_values=False, mapping_version="v"
    )
    assert summary == ValidationSummary(2, 2, {"duplicate_key": 2})
    assert duck.execute("SELECT key FROM members_valid ORDER BY key").fetchall() == [("8",), ("9",)]
    assert (
        duck.execute("SELECT key, reason, field, detail FROM members_rejected").fetchall()
        == [("7", "duplicate_key", None, "2 profile rows have this key; keys must be unique")] * 2
    )


def test_source_rejects_are_added_to_members_rejected() -> None:
    duck = duckdb.connect()
    load_raw(duck, [("k", "a@example.com")])
    duck.execute("CREATE TABLE source_rejected AS SELECT NULL::VARCHAR AS key, 'unreadable_row' AS "
                 "reason, NULL::VARCHAR AS field, 'line 3' AS detail")  # fmt: skip
    summary = validate(duck, 0, [], send_empty_values=False, mapping_version="v")
    assert summary == ValidationSummary(1, 1, {"unreadable_row": 1})


# -- properties ------------------------------------------------------------------------------

VALID_EMAIL = "someone@example.com"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=15))
def test_any_string_survives_unchanged_or_is_rejected_with_a_reason(values: list[str]) -> None:
    rows = [(f"{i:03d}", f"p{i}@example.com", value) for i, value in enumerate(values)]
    _, valid, rejected = run(rows, [MappedField("NOTE", "note")])
    for key, _email, value in rows:
        if len(value) > 255:
            assert rejected[key] == ("value_too_long", "NOTE")
        else:
            assert key not in rejected
            # Blank values (only spaces, tabs or line breaks) are empty: not sent, since they
            # would erase what DotDigital holds. Anything else travels exactly as written.
            blank = value.strip(" \t\r\n") == ""
            assert valid[key][3] == (None if blank else value)


NUMBERS = st.one_of(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12
    ).map(str),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.text(alphabet="0123456789+-.eE, x", max_size=12),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(NUMBERS, min_size=1, max_size=15))
def test_numbers_are_sent_as_plain_decimals_of_equal_value(values: list[str]) -> None:
    rows = [(f"{i:03d}", f"p{i}@example.com", value) for i, value in enumerate(values)]
    _, valid, rejected = run(rows, [MappedField("N", "n", "Numeric")])
    for key, _email, value in rows:
        if key in rejected:
            assert rejected[key] == ("invalid_number", "N")
            continue
        sent = valid[key][3]
        if value.strip() == "":
            assert sent is None
            continue
        assert isinstance(sent, str) and "e" not in sent.lower() and not sent.endswith(".")
        assert Decimal(sent) == Decimal(value.strip()).quantize(Decimal("1e-10"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.dates(min_value=date(1000, 1, 1)), min_size=1, max_size=10))
def test_iso_dates_survive(values: list[date]) -> None:
    rows = [(f"{i:03d}", f"p{i}@example.com", d.isoformat()) for i, d in enumerate(values)]
    _, valid, rejected = run(rows, [MappedField("D", "d", "Date")])
    assert rejected == {}
    assert [valid[key][3] for key, *_ in rows] == [d.isoformat() for d in values]


# -- digests ---------------------------------------------------------------------------------

ROWS = [("1", "a@example.com", "Ann", "5"), ("2", "b@example.com", None, "6"),
        ("3", "c@example.com", "", "7"), ("4", "d@example.com", "NULL", "8")]  # fmt: skip
FIELDS = [MappedField("FIRSTNAME", "fn"), MappedField("SCORE", "score", "Numeric")]


def digests(rows: Sequence[Sequence[str | None]] = ROWS, fields: Sequence[MappedField] = FIELDS,
            **kwargs: object) -> dict[str, str]:  # fmt: skip
    _, valid, _ = run(rows, fields, **kwargs)  # type: ignore[arg-type]
    return {key: str(values[2]) for key, values in valid.items()}


def test_digest_is_stable_across_connections() -> None:
    first, second = digests(), digests()
    assert first == second and len(set(first.values())) == 4
    assert all(len(d) == 32 for d in first.values())  # MD5, hex


def test_null_and_empty_differ_from_the_text_null() -> None:
    values = digests([("2", "x@example.com", None, "6"), ("3", "y@example.com", "", "6"),
                      ("4", "z@example.com", "NULL", "6")])  # fmt: skip
    # Same e-mail would be needed to compare payloads: compare with the e-mail held equal.
    null = digests([("k", "x@example.com", None, "6")])["k"]
    empty = digests([("k", "x@example.com", "", "6")])["k"]
    text = digests([("k", "x@example.com", "NULL", "6")])["k"]
    assert null == empty != text
    assert len(set(values.values())) == 3


def test_a_mapping_change_changes_the_digest() -> None:
    base = digests()
    assert digests(version="v2") != base
    renamed = [MappedField("FIRST", "fn"), FIELDS[1]]
    assert all(digests(fields=renamed)[k] != base[k] for k in base)
    assert digests(send_empty_values=True) != base
    changed_value = [("1", "a@example.com", "Anne", "5"), *ROWS[1:]]
    after = digests(changed_value)
    assert after["1"] != base["1"] and all(after[k] == base[k] for k in ("2", "3", "4"))


def test_mapping_version_follows_the_mapping() -> None:
    _, fields = plan_columns(BAD_INPUT_MAPPING)
    version = mapping_version(BAD_INPUT_MAPPING, fields)
    assert version == mapping_version(BAD_INPUT_MAPPING, list(reversed(fields)))
    other = MappingConfig(email="email", first_name="given_name")
    assert mapping_version(other, plan_columns(other)[1]) != version


# -- data fields against the account -----------------------------------------------------------


def test_declared_types_are_checked_against_the_account() -> None:
    mapping = MappingConfig(
        email="email",
        first_name="fn",
        data_fields={
            "TIER": "tier",  # no type declared: follows the account, nothing to check
            "SCORE": DataFieldMapping(column="s", type="Numeric"),
            "BORN": DataFieldMapping(column="b", type="Date"),  # not in the account: not judged
            "NOTE": DataFieldMapping(column="n", type="String"),
        },
    )
    declared = declared_types(mapping)
    assert declared == {"SCORE": "Numeric", "BORN": "Date", "NOTE": "String"}
    account = {"FIRSTNAME": "String", "score": "String", "TIER": "Numeric", "NOTE": "String"}
    assert type_mismatches(declared, account) == [
        "data field SCORE is String in the DotDigital account but mapped as Numeric; change the "
        "mapping's type (or remove it to follow the account) or the account's field"
    ]
    assert type_mismatches(declared, {"SCORE": "Numeric", "NOTE": "String"}) == []
