"""Pure rules without HTTP: e-mail checks, field names, typed values, import parsing."""

from __future__ import annotations

import pytest

from dotsync.emulator.importing import InvalidFileError, parse_csv
from dotsync.emulator.v3body import parse_v3
from dotsync.emulator.values import (
    StoredValue,
    ValueRejectedError,
    field_name,
    is_valid_email,
    parse_value,
)

TYPES = {"FIRSTNAME": "String", "SCORE": "Numeric", "VIP": "Boolean", "BORN": "Date"}


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ann@example.com", True),
        ("a.b+c@sub.example.co.uk", True),
        ("ann@example", False),
        ("ann example@x.com", False),
        ("a@@x.com", False),
        ("", False),
        ("a@x.com,", False),
    ],
)
def test_email_validity(email: str, valid: bool) -> None:
    assert is_valid_email(email) is valid


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        ("Numeric", "12", 12),
        ("Numeric", "12.5", 12.5),
        ("Numeric", "3.0", 3.0),
        ("Numeric", "12345678901234567890", 12345678901234567890),
        ("Numeric", "1e3", 1000),
        ("Boolean", "Yes", True),
        ("Boolean", "0", False),
        ("Date", "2024-02-29", "2024-02-29T00:00:00"),
        ("Date", "31/12/2023", "2023-12-31T00:00:00"),
        ("Date", "2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05"),
        ("String", "", None),
    ],
)
def test_values_parse_by_type(kind: str, raw: str, stored: StoredValue) -> None:
    assert parse_value(kind, raw) == stored


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("Numeric", "1e"),
        ("Numeric", "NaN"),
        ("Numeric", "inf"),
        ("Boolean", "perhaps"),
        ("Date", "24-01-02"),
        ("String", "x" * 256),
    ],
)
def test_bad_values_are_rejected(kind: str, raw: str) -> None:
    with pytest.raises(ValueRejectedError):
        parse_value(kind, raw)


def test_field_names_are_upper_cased_and_checked() -> None:
    assert field_name("loyalty-tier_2") == "LOYALTY-TIER_2"
    with pytest.raises(ValueRejectedError):
        field_name("x" * 21)


def test_csv_parsing_sorts_rows_into_good_and_bad() -> None:
    payload = ("\ufeffE-mail,x\n").encode()
    with pytest.raises(InvalidFileError):
        parse_csv(payload, TYPES)
    text = (
        "Name,EMAIL,Score,VIP\nAnn,ANN@x.com,3,yes\nDup,ann@x.com,4,no\nBad,bad,1,no\n"
        "T,t@x.com,z,no\n\n"
    )
    parsed = parse_csv(text.encode("utf-8-sig"), TYPES)
    # Numeric cells are staged as JSON number text (exact beyond SQLite's 64-bit integers).
    assert list(parsed.good) == [(0, "ann@x.com", "3", True)]
    assert [(b.seq, b.kind, b.cells) for b in parsed.bad] == [
        (1, "duplicate", ("Dup", "4", "no")),
        (2, "invalid", ("Bad", "1", "no")),
        (3, "failure", ("T", "z", "no")),
    ]
    assert parsed.mapped == [("SCORE", "Numeric"), ("VIP", "Boolean")]


def test_v3_parsing_is_case_insensitive_and_strips_nulls_unless_overwrite() -> None:
    body = {
        "contacts": [
            {
                "MatchIdentifier": "email",
                "Identifiers": {"Email": "A@x.com"},
                "DataFields": {"firstname": None, "Score": "2"},
                "ChannelProperties": {"Email": {"OptInType": "double"}},
                "Lists": [5, 6],
            }
        ]
    }
    (row,) = list(parse_v3(body, TYPES, "overwrite").good)
    assert row == (0, "a@x.com", '{"FIRSTNAME":null,"SCORE":2}', "[5,6]", '["Double", null, null]')
    (kept,) = list(parse_v3(body, TYPES, "ifNotEmpty").good)
    assert kept[2] == '{"SCORE":2}'
