"""Who of the plan's leavers leaves the book (``ownership.split_leavers``), on tables built by
hand in DuckDB: the rules that the ledger and the other exports decide, and a leaver whose e-mail
a present member still holds, read or kept unread by a change marker."""

from __future__ import annotations

import duckdb

from dotsync import tables
from dotsync.ownership import split_leavers


def _duck(*, kept: bool) -> duckdb.DuckDBPyConnection:
    duck = duckdb.connect()
    duck.execute(
        f"create table {tables.STATE_MEMBERS} (key varchar, contact_id bigint, "
        "email_hash varchar, digest varchar, row_version varchar)"
    )
    duck.execute(
        f"insert into {tables.STATE_MEMBERS} values ('A', 1, 'h1', 'd', null), "
        "('B', 2, 'h1', 'd', null), ('C', 3, 'h3', 'd', null), ('D', 4, 'h4', 'd', null)"
    )
    duck.execute(f"create table {tables.TO_LEAVE} (key varchar, contact_id bigint, reason varchar)")
    duck.execute(f"insert into {tables.TO_LEAVE} values ('A', 1, 'left'), ('C', 3, 'left')")
    duck.execute(
        f"create table {tables.MEMBERS_VALID} (key varchar, email varchar, email_hash varchar, "
        "digest varchar)"
    )
    duck.execute(
        f"create table {tables.LEDGER_CONTACTS} (email_hash varchar, contact_id bigint, "
        "origin varchar, status varchar)"
    )
    duck.execute(
        f"create table {tables.LEDGER_KEPT} (export varchar, email_hash varchar, contact_id bigint)"
    )
    duck.execute(f"create table {tables.OTHER_HOLDINGS} (email_hash varchar, contact_id bigint)")
    if kept:
        duck.execute(f"create table {tables.MEMBERS_KEPT} (key varchar, segments varchar[])")
        duck.execute(f"insert into {tables.MEMBERS_KEPT} values ('B', ['s']), ('D', ['s'])")
    return duck


def _removed(duck: duckdb.DuckDBPyConnection) -> list[int]:
    return [
        int(c) for (c,) in duck.execute(f"select contact_id from {tables.TO_REMOVE}").fetchall()
    ]


def test_a_leaver_whose_e_mail_a_kept_member_holds_stays() -> None:
    # B, kept unread, holds h1 (A's e-mail): A's contact is B's, it does not leave; C leaves.
    duck = _duck(kept=True)
    split = split_leavers(duck)
    assert _removed(duck) == [3]
    assert split.remove == 1


def test_without_kept_members_both_leave() -> None:
    duck = _duck(kept=False)
    split_leavers(duck)
    assert _removed(duck) == [1, 3]
