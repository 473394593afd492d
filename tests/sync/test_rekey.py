"""The pure rule that matches keys stored rewritten by 0.1 (``123``, ``1.5``, ``2.0``) to the keys
as written (``00123``, ``1.50``, ``2``): only when nothing else could be meant."""

from __future__ import annotations

import duckdb
import pytest

from dotsync.keys import rename_in_run, rewritten_keys
from dotsync.plan import make_plan

WAYS = pytest.mark.parametrize("after_plan", [False, True], ids=["tables", "after-plan"])


def tables(
    valid: list[tuple[str, str]], stored: list[tuple[str, str]], *, after_plan: bool = False
) -> duckdb.DuckDBPyConnection:
    """members_valid(key, email_hash, digest) and state_members(key, contact_id, email_hash,
    digest); with ``after_plan``, also the plan made from them (every row valid)."""
    duck = duckdb.connect()
    duck.execute("CREATE TABLE members_valid (key VARCHAR, email_hash VARCHAR, digest VARCHAR)")
    duck.execute(
        "CREATE TABLE state_members (key VARCHAR, contact_id BIGINT, email_hash VARCHAR, "
        "digest VARCHAR)"
    )
    if valid:
        duck.executemany("INSERT INTO members_valid VALUES (?, ?, 'd')", valid)
    for contact_id, (key, email_hash) in enumerate(stored, start=1):
        duck.execute(
            "INSERT INTO state_members VALUES (?, ?, ?, 'd')", [key, contact_id, email_hash]
        )
    if after_plan:
        duck.execute("CREATE TABLE members_raw AS SELECT key FROM members_valid")
        make_plan(duck, full=False)
    return duck


@WAYS
def test_each_kind_of_rewrite_is_matched_back(after_plan: bool) -> None:
    duck = tables(
        valid=[
            ("00123", "a"),
            ("1.50", "b"),
            ("2", "c"),
            ("100000000000000000001", "d"),
            ("+7", "e"),
            ("X1", "f"),
        ],
        stored=[
            ("123", "a"),
            ("1.5", "b"),
            ("2.0", "c"),
            ("1e+20", "d"),
            ("7", "e"),
            ("X1", "f"),
        ],
        after_plan=after_plan,
    )
    assert rewritten_keys(duck, after_plan=after_plan) == [
        ("1.5", "1.50"),
        ("123", "00123"),
        ("1e+20", "100000000000000000001"),
        ("2.0", "2"),
        ("7", "+7"),
    ]


@pytest.mark.parametrize(
    ("valid", "stored"),
    [
        # another e-mail: a different person took the key; 123 leaves, 00123 enters
        ([("00123", "a")], [("123", "z")]),
        # the stored key is still a valid member: nothing to rename
        ([("00123", "a"), ("123", "b")], [("123", "a")]),
        # the written key already has its own stored row
        ([("00123", "a")], [("123", "a"), ("00123", "b")]),
        # not the number's text (12.30 reads as 12.3, not 123)
        ([("12.30", "a")], [("123", "a")]),
        # two valid members with the e-mail: which one is meant cannot be told
        ([("00123", "a"), ("0123", "a")], [("123", "a")]),
        # two stored keys for one written key
        ([("00123", "a")], [("123", "a"), ("123.0", "a")]),
    ],
    ids=["other-email", "still-valid", "already-stored", "other-number", "two-holders", "two-old"],
)
@WAYS
def test_nothing_is_renamed_when_in_doubt(
    valid: list[tuple[str, str]], stored: list[tuple[str, str]], after_plan: bool
) -> None:
    duck = tables(valid, stored, after_plan=after_plan)
    assert rewritten_keys(duck, after_plan=after_plan) == []


@pytest.mark.parametrize("kind", ["VIEW", "TABLE"])
def test_the_run_plans_with_the_renamed_keys(kind: str) -> None:
    duck = tables(valid=[("00123", "a")], stored=[("123", "a"), ("9", "b")])
    duck.execute("ALTER TABLE state_members RENAME TO stored")
    duck.execute(f"CREATE TEMP {kind} state_members AS SELECT * FROM stored")
    rename_in_run(duck, rewritten_keys(duck))
    assert duck.execute("SELECT key, contact_id FROM state_members ORDER BY key").fetchall() == [
        ("00123", 1),
        ("9", 2),
    ]
    assert duck.execute("SELECT key FROM stored ORDER BY key").fetchall() == [("123",), ("9",)]
