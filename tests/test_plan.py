"""The pure planner: members now vs state → enter, change, leave."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest

from dotsync import tables
from dotsync.plan import make_plan, sample


def _duck(
    raw: list[str], valid: list[tuple[str, str, str]], state: list[tuple[str, int, str, str]]
) -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect()
    duck.execute("create table members_raw(key varchar)")
    duck.executemany("insert into members_raw values (?)", [(k,) for k in raw])
    duck.execute(
        "create table members_valid(key varchar, email varchar, email_hash varchar, digest varchar)"
    )
    duck.executemany(
        "insert into members_valid values (?, ?, ?, ?)",
        [(k, f"{h}@x.io", h, d) for k, h, d in valid],
    )
    columns: list[tuple[Any, ...]] = list(zip(*state, strict=True)) if state else [()] * 4
    duck.register(
        "state_members",
        pa.table(
            {
                "key": pa.array(columns[0], pa.string()),
                "contact_id": pa.array(columns[1], pa.int64()),
                "email_hash": pa.array(columns[2], pa.string()),
                "digest": pa.array(columns[3], pa.string()),
            }
        ),
    )
    return duck


def test_first_run_sends_everyone() -> None:
    duck = _duck(["a", "b"], [("a", "ha", "d1"), ("b", "hb", "d2")], [])
    counts = make_plan(duck, full=False)
    assert (counts.entered, counts.changed, counts.unchanged, counts.left) == (2, 0, 0, 0)


def test_only_changes_are_sent_and_leavers_leave() -> None:
    duck = _duck(
        ["a", "b", "c", "e"],
        [("a", "ha", "d1"), ("b", "hb", "d2-new"), ("c", "hc-new", "d3-new"), ("e", "he", "d5")],
        [("a", 1, "ha", "d1"), ("b", 2, "hb", "d2"), ("c", 3, "hc", "d3"), ("d", 4, "hd", "d4")],
    )
    counts = make_plan(duck, full=False)
    assert (counts.entered, counts.changed, counts.unchanged) == (1, 2, 1)
    assert (counts.left, counts.email_changed) == (1, 1)
    sent = dict(duck.execute("select key, kind from to_send").fetchall())
    assert sent == {"b": "change", "c": "change", "e": "enter"}
    leaving = sorted(duck.execute("select key, contact_id, reason from to_leave").fetchall())
    assert leaving == [("c", 3, "email_changed"), ("d", 4, "left")]
    assert sample(duck, tables.TO_LEAVE) == [("c", "email_changed"), ("d", "left")]


def test_rejected_member_still_in_segment_does_not_leave() -> None:
    duck = _duck(["a", "b"], [("a", "ha", "d1")], [("a", 1, "ha", "d1"), ("b", 2, "hb", "d2")])
    counts = make_plan(duck, full=False)
    assert (counts.left, counts.to_send) == (0, 0)


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_full_resends_unchanged(full: bool) -> None:
    duck = _duck(["a"], [("a", "ha", "d1")], [("a", 1, "ha", "d1")])
    assert make_plan(duck, full=full).to_send == (1 if full else 0)
