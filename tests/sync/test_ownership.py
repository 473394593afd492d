"""Whose contacts are in the book: dotsync removes only contacts it added. Each case runs on the
emulator and reads the book back through its API, compared exactly:

- two exports of one book with overlapping segments: a leaver of one that the other holds stays;
- a contact in the book before the first export (or put there by someone else between runs), in
  the segment, then leaving it: stays; ``on_segment_exit = keep`` holds its leavers;
- ``remove --purge-members`` leaves found and other-held contacts;
- a batch whose import id was never saved (a crash right after DotDigital's 202): its contacts
  that landed are dotsync's, and one of them that left the segment is removed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.project import Project, profile

from dotsync import ownership
from dotsync.config import load_config
from dotsync.dotdigital import DotDigitalClient
from dotsync.remove import remove_destination
from dotsync.runner import plan_export, run_export
from dotsync.state import StateStore
from dotsync.state.schema import imports


@pytest.fixture(autouse=True, params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, project: Project, pg_url: str) -> Iterator[str]:
    """Every case on both homes of the state: SQLite with DuckDB files, and PostgreSQL."""
    if request.param == "sqlite":
        yield request.param
        return
    schema = f"dotsync_ledger_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    project.state_url = f"{pg_url}?options=-csearch_path%3D{schema}"
    try:
        yield request.param
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _add_two_exports(project: Project, **gold: Any) -> None:
    """``news`` (lifetime_value > 100) and ``gold`` (tier gold) write the same book."""
    project.write_config()
    extra = [
        "[exports.gold]",
        'connection = "dd"',
        'segments = ["gold"]',
        "create_missing_data_fields = true",
        *[f"{k} = {v!r}".replace("'", '"') for k, v in gold.items()],
        "[exports.gold.mapping]",
        'email = "email"',
        'first_name = "first_name"',
        'data_fields = { TIER = "tier" }',
    ]
    with project.config_path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(extra) + "\n")


def _run(project: Project, export: str) -> Any:
    return run_export(load_config(project.config_path), export)


def _add_by_hand(project: Project, email: str) -> None:
    with project.emulator.client() as api:
        api.post(
            f"/v2/address-books/{project.book_id}/contacts", json={"email": email}
        ).raise_for_status()


def test_a_leaver_of_one_export_held_by_another_stays(project: Project) -> None:
    rows = [profile(i) for i in range(8)]  # odd ones are gold
    project.write_profiles(rows)
    _add_two_exports(project)
    _run(project, "news")
    _run(project, "gold")
    assert set(project.members()) == {f"person{i}@example.com" for i in range(8)}

    rows[1]["lifetime_value"] = 10  # leaves news, still gold
    rows[2]["lifetime_value"] = 10  # leaves news, in no other export
    project.write_profiles(rows)
    news = _run(project, "news")
    assert (news.counts.left, news.counts.removed) == (2, 1)
    assert news.counts.kept_held_by_other_export == 1
    expected = {f"person{i}@example.com" for i in range(8)} - {"person2@example.com"}
    assert set(project.members()) == expected
    assert _run(project, "gold").counts.sent == 0  # gold still has person1: nothing to resend

    rows[1]["tier"] = "silver"  # now it leaves gold too, and no export holds it
    project.write_profiles(rows)
    gold = _run(project, "gold")
    assert (gold.counts.removed, gold.counts.kept_held_by_other_export) == (1, 0)
    assert set(project.members()) == expected - {"person1@example.com"}


def test_keep_holds_its_leavers_against_another_export(project: Project) -> None:
    rows = [profile(i) for i in range(6)]
    project.write_profiles(rows)
    _add_two_exports(project, on_segment_exit="keep")
    _run(project, "news")
    _run(project, "gold")
    rows[3]["tier"] = "silver"  # leaves gold (keep): gold keeps holding it
    project.write_profiles(rows)
    _run(project, "gold")
    rows[3]["lifetime_value"] = 1  # now it leaves news too
    project.write_profiles(rows)
    news = _run(project, "news")
    assert (news.counts.removed, news.counts.kept_held_by_other_export) == (0, 1)
    assert "person3@example.com" in project.members()


def test_contacts_in_the_book_before_dotsync_are_never_taken(project: Project) -> None:
    _add_by_hand(project, "person3@example.com")  # by a form, before the first export
    _add_by_hand(project, "bystander@example.com")
    rows = [profile(i) for i in range(6)]
    rows[5]["lifetime_value"] = 1  # not in the segment yet
    project.write_profiles(rows)
    project.write_config()
    first = project.run()
    assert first.counts.book_contacts_read == 2
    _add_by_hand(project, "person5@example.com")  # by hand, between runs
    rows[5]["lifetime_value"] = 900  # and now in the segment: dotsync sends its values
    project.write_profiles(rows)
    second = project.run()
    assert second.counts.entered == 1
    assert project.members()["person5@example.com"]["dataFields"]["FIRSTNAME"] == "Ann5"

    for i in (0, 3, 5):
        rows[i]["lifetime_value"] = 1
    project.write_profiles(rows)
    leave = project.run()

    c = leave.counts
    assert (c.left, c.removed, c.kept_found_in_book, c.kept_held_by_other_export) == (3, 1, 2, 0)
    assert set(project.members()) == {
        "bystander@example.com",
        "person1@example.com",
        "person2@example.com",
        "person3@example.com",
        "person4@example.com",
        "person5@example.com",
    }


def test_purge_members_leaves_found_and_other_held_contacts(project: Project) -> None:
    _add_by_hand(project, "person2@example.com")
    rows = [profile(i) for i in range(6)]
    project.write_profiles(rows)
    _add_two_exports(project)
    _run(project, "news")
    _run(project, "gold")  # 1, 3, 5

    report = remove_destination(load_config(project.config_path), "news", purge_members=True)

    assert report.members_removed_from_book == 2  # 0 and 4
    assert (report.kept_held_by_other_export, report.kept_found_in_book) == (3, 1)
    assert set(project.members()) == {f"person{i}@example.com" for i in (1, 2, 3, 5)}
    rows[3]["tier"] = "silver"  # gold is now the only export of the book: it removes its own
    project.write_profiles(rows)
    assert _run(project, "gold").counts.removed == 1
    assert set(project.members()) == {f"person{i}@example.com" for i in (1, 2, 5)}


class _CrashAfter202(BaseException):
    """Stands for a SIGKILL between DotDigital's 202 and the saving of the import id."""


def test_a_batch_sent_but_never_recorded_is_resolved(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [profile(i) for i in range(10)]
    project.write_profiles(rows)
    project.write_config()

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise _CrashAfter202

    with monkeypatch.context() as patch:
        patch.setattr(StateStore, "import_submitted", crash)
        with pytest.raises(_CrashAfter202):
            project.run()
    deadline = time.monotonic() + 20
    while len(project.members()) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)  # the import DotDigital accepted lands
    assert len(project.members()) == 10

    rows[4]["lifetime_value"] = 1  # a member of that batch leaves the segment
    rows[6]["first_name"] = "Changed"
    project.write_profiles(rows)
    again = project.run()

    assert again.counts.removed == 1
    members = project.members()
    assert set(members) == {f"person{i}@example.com" for i in range(10)} - {"person4@example.com"}
    assert members["person6@example.com"]["dataFields"]["FIRSTNAME"] == "Changed"
    settled = project.run()
    assert (settled.counts.sent, settled.counts.removed, settled.counts.left) == (0, 0, 0)


def test_a_profile_unsubscribed_when_it_left_is_reported_when_it_comes_back(
    project: Project,
) -> None:
    rows = [profile(i) for i in range(4)]
    project.write_profiles(rows)
    project.write_config(on_segment_exit="unsubscribe")
    project.run()
    rows[1]["lifetime_value"] = 1
    project.write_profiles(rows)
    assert project.run().counts.unsubscribed == 1
    unsubscribed = project.members().get("person1@example.com")
    assert unsubscribed is None or unsubscribed["status"] != "Subscribed"

    rows[1]["lifetime_value"] = 900  # back in the segment
    project.write_profiles(rows)
    back = project.run()
    assert back.counts.suppressed_known_by_reason == {"unsubscribed_from_book": 1}
    assert (back.counts.sent, back.status.value) == (0, "succeeded")
    full = project.run(full=True)  # sent again: DotDigital refuses it for this book
    assert full.counts.rejected_by_reason == {"unsubscribed_from_book": 1}, full.counts
    again = project.members().get("person1@example.com")
    assert again is None or again["status"] != "Subscribed"


def test_plan_reports_two_exports_of_one_book_that_map_a_field_differently(
    project: Project,
) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    _add_two_exports(project)
    text = project.config_path.read_text(encoding="utf-8")
    project.config_path.write_text(
        text.replace(
            '[exports.gold.mapping]\nemail = "email"\nfirst_name = "first_name"',
            '[exports.gold.mapping]\nemail = "email"\nfirst_name = "last_name"',
        ),
        encoding="utf-8",
    )
    dry = plan_export(load_config(project.config_path), "news")
    assert len(dry.shared_book_conflicts) == 1
    conflict = dry.shared_book_conflicts[0]
    assert "FIRSTNAME" in conflict and "'first_name'" in conflict and "'last_name'" in conflict
    assert "'gold'" in conflict


def test_unsubscribes_interrupted_midway_are_finished_by_the_next_run(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [profile(i) for i in range(6)]
    project.write_profiles(rows)
    project.write_config(on_segment_exit="unsubscribe")
    project.run()
    for i in (1, 2, 3):
        rows[i]["lifetime_value"] = 1
    project.write_profiles(rows)
    calls = {"n": 0}
    real = DotDigitalClient.unsubscribe_from_book

    def dies_on_the_second(self: DotDigitalClient, book_id: int, email: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise _CrashAfter202  # a crash between two unsubscribes
        real(self, book_id, email)

    with monkeypatch.context() as patch:
        patch.setattr(DotDigitalClient, "unsubscribe_from_book", dies_on_the_second)
        with pytest.raises(_CrashAfter202):
            project.run()

    rerun = project.run()
    assert rerun.counts.left == 0  # the interrupted chunk was finished by the resume
    members = project.members()
    for i in (1, 2, 3):
        member = members.get(f"person{i}@example.com")
        assert member is None or member["status"] != "Subscribed", i
    for i in (0, 4, 5):
        assert members[f"person{i}@example.com"]["status"] == "Subscribed", i
    rows[2]["lifetime_value"] = 900  # back: known as unsubscribed from the book, not sent
    project.write_profiles(rows)
    back = project.run()
    assert back.counts.suppressed_known_by_reason == {"unsubscribed_from_book": 1}


def _import_rows(project: Project) -> list[tuple[str, str]]:
    with (
        StateStore(load_config(project.config_path).state.url) as store,
        store.engine.connect() as conn,
    ):
        query = sa.select(imports.c.status, imports.c.batch_file).order_by(imports.c.id)
        return [(str(s), str(p)) for s, p in conn.execute(query)]


def test_a_possibly_delivered_batch_expires_after_its_bound(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise _CrashAfter202

    with monkeypatch.context() as patch:
        patch.setattr(StateStore, "import_submitted", crash)
        with pytest.raises(_CrashAfter202):
            project.run()
    [(status, path)] = _import_rows(project)
    assert status == "prepared"  # sent, its import id never saved
    batch_file = Path(path)
    assert batch_file.exists()  # keys, e-mail hashes, digests: no e-mail address
    assert b"example.com" not in batch_file.read_bytes()
    monkeypatch.setattr(ownership, "POSSIBLE_FOR", timedelta(0))

    project.run()

    assert not batch_file.exists()
    statuses = [status for status, _path in _import_rows(project)]
    assert statuses[0] == "expired" and set(statuses[1:]) == {"committed"}, statuses


def test_a_resumed_import_leaves_no_batch_file_behind(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crashed after DotDigital took the import, before its commit: the next run commits it and
    removes its members file, also where a shared state had it read from the state's copy."""
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise _CrashAfter202

    with monkeypatch.context() as patch:
        patch.setattr(StateStore, "commit_import", crash)
        with pytest.raises(_CrashAfter202):
            project.run()
    [(status, path)] = _import_rows(project)
    assert status == "submitted" and Path(path).exists()

    resumed = project.run()

    assert resumed.resumed_imports == 1
    assert [s for s, _p in _import_rows(project)] == ["committed"]
    assert list((project.folder / ".dotsync" / "runs").rglob("batch-*")) == []
