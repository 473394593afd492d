"""The invariant every reliability scenario ends on, read from outside dotsync: the book through
the emulator's admin API, the state through its own tables.

After the retries and the reruns a scenario needed:
- the address book holds exactly the expected members (e-mails of the valid profiles in the
  segment), each once, with the values of the source (nothing stale, nothing lost);
- the member store holds exactly those keys, with the book's contact ids and the e-mails' hashes;
- no import is left ``prepared`` or ``submitted``, no removal unfinished, no run ``running``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
from sqlalchemy import select
from support.project import Project

from dotsync.config import load_config
from dotsync.result import RunResult, RunStatus
from dotsync.state import StateStore
from dotsync.state.schema import imports, removals, runs

EXPORT = "news"
SEGMENT_FLOOR = 100  # support.project's segment: lifetime_value > 100
_UNFINISHED_IMPORTS = ("prepared", "submitted")


def expected_members(rows: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Normalised e-mail → profile, for the rows the segment holds (all rows are valid)."""
    return {
        str(r["email"]).strip().lower(): r
        for r in rows
        if float(r["lifetime_value"]) > SEGMENT_FLOOR
    }


# --- the invariant -------------------------------------------------------------------------------


def state_url(project: Project) -> str:
    return load_config(project.config_path).state.url


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def state_members(project: Project) -> list[tuple[str, int, str]]:
    """(key, contact id, e-mail hash) of every member the state holds for the export's book."""
    store = StateStore(state_url(project))
    duck = duckdb.connect()
    try:
        store.members.register(duck, EXPORT, project.book_id)
        rows = duck.execute("select key, contact_id, email_hash from state_members").fetchall()
        return [(str(k), int(c), str(h)) for k, c, h in rows]
    finally:
        store.close()
        duck.close()


def unfinished_work(project: Project) -> list[str]:
    """What the state says is still in flight: imports, removals, runs."""
    store = StateStore(state_url(project))
    try:
        with store.engine.connect() as conn:
            found = [
                f"import {r.id} {r.status}"
                for r in conn.execute(
                    select(imports.c.id, imports.c.status).where(
                        imports.c.status.in_(_UNFINISHED_IMPORTS)
                    )
                )
            ]
            found += [
                f"removal {r.id} {r.status}"
                for r in conn.execute(
                    select(removals.c.id, removals.c.status).where(removals.c.status != "committed")
                )
            ]
            found += [
                f"run {r.id} running"
                for r in conn.execute(select(runs.c.id).where(runs.c.status == RunStatus.RUNNING))
            ]
        return found
    finally:
        store.close()


def checkpoints_of(project: Project, run_id: int) -> list[str]:
    """The checkpoints a run reached, as its import and removal rows say ("import submitted")."""
    store = StateStore(state_url(project))
    try:
        with store.engine.connect() as conn:
            found = [
                f"import {r[0]}"
                for r in conn.execute(
                    select(imports.c.status)
                    .where(imports.c.run_id == run_id)
                    .order_by(imports.c.id)
                )
            ]
            found += [
                f"removal {r[0]}"
                for r in conn.execute(
                    select(removals.c.status)
                    .where(removals.c.run_id == run_id)
                    .order_by(removals.c.id)
                )
            ]
        return found
    finally:
        store.close()


def assert_converged(project: Project, rows: Sequence[Mapping[str, Any]]) -> None:
    """Book == expected membership, each member once, with its current values; state agrees."""
    expected = expected_members(rows)
    book = project.emulator.book_members(project.api_user, project.book_id)
    emails = [str(m["email"]).lower() for m in book]
    doubled = sorted({e for e in emails if emails.count(e) > 1})
    assert not doubled, f"members doubled in the book: {doubled}"
    lost, extra = sorted(set(expected) - set(emails)), sorted(set(emails) - set(expected))
    assert not lost and not extra, f"book differs: lost {lost}, not expected {extra}"
    stale = sorted(
        m["email"]
        for m in book
        if (m["dataFields"].get("FIRSTNAME"), m["dataFields"].get("TIER"))
        != (
            expected[str(m["email"]).lower()]["first_name"],
            expected[str(m["email"]).lower()]["tier"],
        )
    )
    assert not stale, f"members with stale values: {stale}"
    by_key = {str(r["customer_id"]): email for email, r in expected.items()}
    held = {key: (contact_id, email_hash) for key, contact_id, email_hash in state_members(project)}
    assert set(held) == set(by_key), (
        f"member store keys differ: missing {sorted(set(by_key) - set(held))}, "
        f"extra {sorted(set(held) - set(by_key))}"
    )
    book_ids = {str(m["email"]).lower(): int(m["id"]) for m in book}
    wrong = sorted(
        key
        for key, (contact_id, email_hash) in held.items()
        if contact_id != book_ids[by_key[key]] or email_hash != _sha256(by_key[key])
    )
    assert not wrong, f"member store rows disagree with the book: {wrong}"
    left = unfinished_work(project)
    assert not left, f"state left unfinished: {left}"


def run_history(project: Project) -> list[RunResult]:
    """Every run of the export, oldest first (killed runs show as interrupted or running)."""
    store = StateStore(state_url(project))
    try:
        return list(reversed(store.list_runs(EXPORT, limit=1000)))
    finally:
        store.close()
