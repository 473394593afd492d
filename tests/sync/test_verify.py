"""``dotsync verify`` against the emulator over HTTP: the book edited behind dotsync's back (a
member removed by hand, an unsubscribe, a suppression, a contact added by another tool) is
reported by profile key or contact id, never by e-mail; ``--repair`` sends the missing back and
records the refusals so that no run sends them again; the call budget is printed first and kept."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from support.project import PASSWORD_ENV, Project, profile
from typer.testing import CliRunner

import dotsync
from dotsync.cli import app
from dotsync.config import load_config
from dotsync.errors import BudgetExceededError, ExitCode
from dotsync.ownership import READ_OVERLAP
from dotsync.state import StateStore
from dotsync.state.locks import account_lock
from dotsync.verifier import verify_export
from dotsync.verify import FEED_MAX_PAGES, CallBudget, VerifyStatus, call_budget


@pytest.fixture
def state_home(request: pytest.FixtureRequest, project: Project, pg_url: str) -> Iterator[str]:
    """The state in SQLite (with DuckDB files), or in PostgreSQL (a schema of the test's own)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield "sqlite"
        return
    schema = f"dotsync_verify_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    project.state_url = f"{pg_url}?options=-csearch_path%3D{schema}"
    try:
        yield "postgresql"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


BOTH_HOMES = pytest.mark.parametrize("state_home", ["sqlite", "postgresql"], indirect=True)


def _verify(project: Project, *args: str) -> tuple[int, str, str]:
    return _dotsync(project, "verify", "news", *args)


def _dotsync(project: Project, *args: str) -> tuple[int, str, str]:
    _, password = project.emulator.credentials
    result = CliRunner().invoke(
        app,
        [*args, "--config", str(project.config_path)],
        env={PASSWORD_ENV: password},
        catch_exceptions=False,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def _exported(project: Project, n: int = 6) -> list[dict[str, Any]]:
    rows = [profile(i) for i in range(n)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    return rows


def _contact_id(project: Project, email: str) -> int:
    return int(project.members()[email]["id"])


def _remove_by_hand(project: Project, email: str) -> None:
    contact = _contact_id(project, email)
    with project.emulator.client() as api:
        api.delete(f"/v2/address-books/{project.book_id}/contacts/{contact}").raise_for_status()


def _ledger_statuses(project: Project) -> dict[int, str]:
    """contact id → status, as the ledger of the book holds them."""
    config = load_config(project.config_path)
    store = StateStore(config.state.url)
    duck = duckdb.connect()
    try:
        book = store.book_of("news")
        assert book is not None
        store.ledger.register(duck, book)
        rows = duck.execute(
            "select contact_id, status from ledger_contacts where contact_id is not null"
        ).fetchall()
    finally:
        store.close()
        duck.close()
    return {int(c): str(s) for c, s in rows}


@BOTH_HOMES
def test_a_member_removed_by_hand_is_missing_and_repair_sends_it_back(
    project: Project, state_home: str
) -> None:
    _exported(project)
    _remove_by_hand(project, "person3@example.com")

    code, stdout, _ = _verify(project)

    assert code == ExitCode.DRIFT
    assert int(ExitCode.DRIFT) == 10  # documented in the README
    missing = next(line for line in stdout.splitlines() if "missing" in line)
    assert "C00003" in missing and re.search(r"\b1\b", missing)
    assert "@" not in stdout  # never an e-mail address
    assert "--repair" in stdout  # says what to do
    assert "person3@example.com" not in project.members()

    code, stdout, _ = _verify(project, "--repair")

    assert code == 0, stdout
    assert "repair run" in stdout
    said = " ".join(stdout.split())
    assert "1 missing member planned again" in said  # singular for one, plural otherwise
    assert "0 unsubscribed or suppressed contacts recorded" in said
    assert "0 unknown contacts recorded as found" in said
    assert set(project.members()) == {f"person{i}@example.com" for i in range(6)}
    code, stdout, _ = _verify(project)
    assert code == 0
    assert "clean" in stdout


def test_a_missing_member_that_left_the_segment_is_not_sent_back(project: Project) -> None:
    rows = _exported(project)
    _remove_by_hand(project, "person2@example.com")
    rows[2]["lifetime_value"] = 1  # left the segment meanwhile
    project.write_profiles(rows)

    report = verify_export(load_config(project.config_path), "news", repair=True)

    assert report.status == VerifyStatus.REPAIRED
    assert report.repair is not None and report.repair.confirmations_forgotten == 1
    assert report.repair.run_entered == 0
    assert "person2@example.com" not in project.members()
    assert verify_export(load_config(project.config_path), "news").status == VerifyStatus.CLEAN


@BOTH_HOMES
def test_unsubscribes_and_suppressions_are_recorded_and_never_sent_again(
    project: Project, state_home: str
) -> None:
    rows = _exported(project)
    unsubscribed = _contact_id(project, "person2@example.com")
    suppressed = _contact_id(project, "person4@example.com")
    with project.emulator.client() as api:
        api.post(
            f"/v2/address-books/{project.book_id}/contacts/unsubscribe",
            json={"email": "person2@example.com"},
        ).raise_for_status()
    project.emulator.suppress(project.api_user, "person4@example.com", status="HardBounced")

    code, stdout, stderr = _verify(project, "--json")

    assert code == ExitCode.DRIFT
    report = json.loads(stdout)  # one JSON object on stdout; the budget went to stderr
    assert "at most" in stderr
    counts = report["counts"]
    assert (counts["missing"], counts["unsubscribed"], counts["suppressed"]) == (0, 1, 1)
    assert report["samples"]["unsubscribed"] == [{"key": "C00002", "contact_id": unsubscribed}]
    assert report["samples"]["suppressed"] == [{"key": "C00004", "contact_id": suppressed}]
    assert _ledger_statuses(project)[unsubscribed] == "confirmed"  # a plain verify writes nothing

    code, stdout, _ = _verify(project, "--repair", "--json")

    assert code == 0
    repaired = json.loads(stdout)
    assert repaired["status"] == "repaired"
    assert repaired["repair"]["statuses_recorded"] == 2
    assert repaired["repair"]["run_id"] is None  # nothing missing: no run needed
    statuses = _ledger_statuses(project)
    assert (statuses[unsubscribed], statuses[suppressed]) == ("unsubscribed", "suppressed")

    # Their values change: a run would send them, but the ledger holds them back.
    rows[2]["first_name"] = "Changed"
    rows[4]["first_name"] = "Changed"
    rows[1]["first_name"] = "Changed"
    project.write_profiles(rows)
    run = project.run()
    assert (run.counts.sent, run.counts.suppressed_known) == (1, 2)
    assert "person2@example.com" not in project.members()
    assert _verify(project)[0] == 0  # recorded: no drift any more

    # The feeds are read from the last verify that recorded them (less an overlap for clocks).
    last = verify_export(load_config(project.config_path), "news")
    store = StateStore(load_config(project.config_path).state.url)
    try:
        previous = store.list_verifies("news")[1]
    finally:
        store.close()
    assert [c.since for c in last.checks[2:]] == [previous.started_at - READ_OVERLAP] * 2


def test_a_contact_added_by_another_tool_is_unknown_and_stays(project: Project) -> None:
    _exported(project, n=4)
    with project.emulator.client() as api:
        added = api.post(
            f"/v2/address-books/{project.book_id}/contacts", json={"email": "other@example.com"}
        ).json()

    code, stdout, _ = _verify(project, "--json")

    assert code == ExitCode.DRIFT
    report = json.loads(stdout)
    assert report["counts"]["unknown"] == 1
    assert report["samples"]["unknown"] == [{"key": None, "contact_id": added["id"]}]
    assert "other@example.com" not in stdout

    assert _verify(project, "--repair")[0] == 0
    assert "other@example.com" in project.members()
    code, stdout, _ = _verify(project)
    assert code == 0, stdout
    project.write_profiles([profile(i, lifetime_value=1) for i in range(4)])  # everyone leaves
    project.run(allow_mass_removal=True)
    assert set(project.members()) == {"other@example.com"}  # found there, never dotsync's


def test_the_budget_is_printed_before_reading_and_kept(project: Project) -> None:
    rows = [profile(i) for i in range(11_000)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    project.emulator.reset_calls()

    code, stdout, _ = _verify(project)

    calls = project.emulator.calls()
    budget = call_budget(11_000, feeds=2)
    assert budget.total == 2 + 4 + 2 * FEED_MAX_PAGES
    first = stdout.splitlines()[0]
    assert f"at most {budget.total}" in first  # announced before the read
    assert code == 0, stdout
    made = sum(calls.values())
    assert made <= budget.total
    assert calls["GET /contacts/v3"] == 3  # 11,000 members, 5,000 a call
    assert calls["GET /v2/address-books/{addressBookId}/contacts/unsubscribed-since/{date}"] == 1
    assert calls["GET /v2/contacts/suppressed-since/{date}"] == 1
    [total] = re.findall(r"total\W+(\d+)\W+(\d+)", stdout)
    assert total == (str(made), str(budget.total))


def test_a_book_that_grows_past_the_budget_stops_the_verify(project: Project) -> None:
    _exported(project, n=2)
    project.emulator.reset_calls()

    def others_add_ten_thousand(budget: CallBudget) -> None:
        contacts = [
            {
                "matchIdentifier": "email",
                "identifiers": {"email": f"g{i}@example.com"},
                "lists": [project.book_id],
            }
            for i in range(10_001)
        ]
        with project.emulator.client() as api:
            reply = api.put(
                "/contacts/v3/import", json={"contacts": contacts, "lists": [project.book_id]}
            )
            reply.raise_for_status()
        assert project.emulator.wait_for_import(reply.json()["importId"]) == "Finished"
        seen.append(budget)

    seen: list[CallBudget] = []
    with pytest.raises(BudgetExceededError, match="grew during the read"):
        verify_export(load_config(project.config_path), "news", on_budget=others_add_ten_thousand)

    assert seen[0].member_pages == 2
    assert project.emulator.calls()["GET /contacts/v3"] == 2  # no call past the budget
    store = StateStore(load_config(project.config_path).state.url)
    try:
        [failed] = store.list_verifies("news")
    finally:
        store.close()
    assert failed.status == "failed" and "grew" in (failed.error or "")


def test_json_shape_and_the_recorded_verify(project: Project) -> None:
    _exported(project, n=3)

    code, stdout, _ = _verify(project, "--json")

    assert code == 0
    report = json.loads(stdout)
    assert set(report) == {
        "verify_id",
        "export",
        "address_book_id",
        "status",
        "started_at",
        "finished_at",
        "budget",
        "api_calls",
        "api_calls_by_endpoint",
        "checks",
        "counts",
        "samples",
        "repair",
        "error",
    }
    assert report["status"] == "clean"
    assert [c["name"] for c in report["checks"]] == [
        "setup",
        "members",
        "book_unsubscribes",
        "account_suppressions",
    ]
    assert set(report["counts"]) == {
        "book_members",
        "export_members",
        "missing",
        "unknown",
        "unsubscribed",
        "suppressed",
    }
    assert report["counts"]["book_members"] == report["counts"]["export_members"] == 3
    # Every call is in one check, measured: account and book, one page of members, two feeds.
    assert [c["calls"] for c in report["checks"]] == [2, 1, 1, 1]
    assert sum(c["calls"] for c in report["checks"]) == report["api_calls"] <= report["budget"]
    store = StateStore(load_config(project.config_path).state.url)
    try:
        [recorded] = store.list_verifies("news")
    finally:
        store.close()
    assert (recorded.verify_id, recorded.status) == (report["verify_id"], "clean")


def test_verify_waits_for_no_run_it_finds_the_lock_taken(project: Project) -> None:
    _exported(project, n=2)
    config = load_config(project.config_path)
    store = StateStore(config.state.url)
    lock = [account_lock(project.emulator.base_url, project.api_user)]
    store.acquire_locks(lock, "other")
    try:
        code, _, stderr = _verify(project)
    finally:
        store.release_locks(lock)
        store.close()
    assert code == ExitCode.BUSY
    assert "export 'other' is" in stderr and "this invocation ('news') stops" in stderr
    assert _verify(project)[0] == 0


def test_a_changed_book_id_is_refused_until_the_export_moves(project: Project) -> None:
    _exported(project, n=2)
    with project.emulator.client() as api:
        other = api.post("/v2/address-books", json={"name": "Other"}).json()["id"]
    project.config_path.write_text(
        project.config_path.read_text().replace(
            f"address_book_id = {project.book_id}", f"address_book_id = {other}"
        )
    )
    code, _, stderr = _verify(project)
    assert code == ExitCode.CONFIG
    assert f"address_book_id = {project.book_id} again" in stderr and "--move-book" in stderr


def test_history_and_show_run_show_the_verifies(project: Project) -> None:
    _exported(project, n=4)
    _remove_by_hand(project, "person1@example.com")
    assert _verify(project)[0] == ExitCode.DRIFT

    code, stdout, _ = _dotsync(project, "history", "--verifies")
    assert code == 0
    [row] = [line for line in stdout.splitlines() if "drift" in line]
    assert re.search(r"│ 1\s+│ news\s+│.*│ drift\s+│ 1\s+│ 0\s+│ 0\s+│ 0\s+│ 5\s+│", row), row
    code, stdout, _ = _dotsync(project, "history", "--verifies", "--json")
    assert "@" not in stdout  # the recorded report holds keys and contact ids, never e-mails
    [listed] = json.loads(stdout)
    assert (listed["verify_id"], listed["status"], listed["counts"]["missing"]) == (1, "drift", 1)

    code, stdout, _ = _dotsync(project, "show-run", "1", "--verify")
    assert code == 0 and "C00001" in stdout and "@" not in stdout
    code, stdout, _ = _dotsync(project, "show-run", "1", "--verify", "--json")
    assert json.loads(stdout)["verify"]["samples"]["missing"] == [
        {"key": "C00001", "contact_id": listed["samples"]["missing"][0]["contact_id"]}
    ]
    code, _, stderr = _dotsync(project, "show-run", "7", "--verify")
    assert code == ExitCode.CONFIG and "no verify 7" in stderr


@pytest.mark.parametrize("size", [0, 4_999, 5_000, 5_001])
def test_the_budget_reads_each_page_once_with_room_for_growth(size: int) -> None:
    budget = call_budget(size, feeds=0)
    assert budget.member_pages == -(-size // 5000) + 1
    assert budget.total == 2 + budget.member_pages


def test_the_python_api_verifies_from_a_path(project: Project) -> None:
    _exported(project, n=2)
    _remove_by_hand(project, "person0@example.com")
    report = dotsync.verify_export(str(project.config_path), "news")
    assert isinstance(report, dotsync.VerifyReport)
    assert (report.status, report.counts.missing) == ("drift", 1)
    assert [s.key for s in report.samples["missing"]] == ["C00000"]
