"""End to end against the emulator over HTTP: exports, incremental refreshes, leavers."""

from __future__ import annotations

import csv

import pytest
from support.project import Project, profile

from dotsync.errors import ConfigError, LimitExceededError, RunInProgressError
from dotsync.result import RunStatus
from dotsync.runner import plan_export
from dotsync.state import StateStore
from dotsync.state.locks import account_lock


def _expected(rows: list[dict[str, object]]) -> set[str]:
    return {str(r["email"]).strip().lower() for r in rows if float(str(r["lifetime_value"])) > 100}


def test_first_export_sends_valid_members_and_explains_the_rest(project: Project) -> None:
    rows = [profile(i) for i in range(40)]
    rows[3]["email"] = "not-an-email"
    rows[4]["email"] = rows[5]["email"].upper()  # the same person twice: one is a duplicate
    rows[6]["lifetime_value"] = 50  # not in the segment
    rows[7]["first_name"] = "x" * 256  # too long for DotDigital
    project.write_profiles(rows)
    project.write_config()

    result = project.run()

    assert result.status is RunStatus.PARTIAL
    c = result.counts
    assert (c.profiles_in_segments, c.valid, c.rejected) == (39, 36, 3)
    assert c.rejected_by_reason == {"invalid_email": 1, "duplicate_email": 1, "value_too_long": 1}
    assert (c.sent, c.created, c.imports) == (36, 36, 1)
    members = project.members()
    expected = _expected(rows) - {"not-an-email", rows[7]["email"]}
    assert set(members) == expected
    ann = members["person0@example.com"]["dataFields"]
    assert {"FIRSTNAME": "Ann0", "LASTNAME": "Lee", "TIER": "silver"}.items() <= {
        k: v for k, v in ann.items() if v is not None
    }.items()
    assert result.rejects_file is not None
    assert result.rejects_file.stat().st_mode & 0o077 == 0
    with result.rejects_file.open(encoding="utf-8") as fh:
        rejected = {r["key"]: r["reason"] for r in csv.DictReader(fh)}
    assert rejected["C00003"] == "invalid_email"
    assert rejected["C00007"] == "value_too_long"
    assert "@" not in result.rejects_file.read_text(encoding="utf-8").replace(
        "not-an-email", ""
    )  # keys and reasons, no addresses


def test_refresh_sends_only_changes_and_leavers_leave(project: Project) -> None:
    rows = [profile(i) for i in range(30)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    project.emulator.reset_calls()

    unchanged = project.run()
    assert (unchanged.counts.sent, unchanged.counts.unchanged) == (0, 30)
    assert not any("import" in call for call in project.emulator.calls())

    rows[1]["first_name"] = "Changed"
    rows[2]["lifetime_value"] = 10  # leaves the segment
    rows[3]["email"] = "new-address@example.com"  # leaves as the old contact, enters as the new
    rows.append(profile(99))  # arrives
    project.write_profiles(rows)
    refresh = project.run()

    c = refresh.counts
    assert (c.entered, c.changed, c.left) == (1, 2, 2)
    assert (c.sent, c.removed) == (3, 2)
    members = project.members()
    assert set(members) == _expected(rows)
    assert members["person1@example.com"]["dataFields"]["FIRSTNAME"] == "Changed"
    assert "person3@example.com" not in members
    # removed from the book, never deleted from the account
    with project.emulator.client() as api:
        assert api.get("/v2/contacts/person2@example.com").status_code == 200


def test_swapped_emails_keep_both_contacts(project: Project) -> None:
    rows = [profile(i) for i in range(4)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    rows[0]["email"], rows[1]["email"] = rows[1]["email"], rows[0]["email"]
    project.write_profiles(rows)
    result = project.run()
    assert result.counts.removed == 0
    members = project.members()
    assert set(members) == _expected(rows)
    assert members["person1@example.com"]["dataFields"]["FIRSTNAME"] == "Ann0"


def test_keep_leaves_leavers_in_the_book(project: Project) -> None:
    rows = [profile(i) for i in range(5)]
    project.write_profiles(rows)
    project.write_config(on_segment_exit="keep")
    project.run()
    rows[0]["lifetime_value"] = 1
    project.write_profiles(rows)
    result = project.run()
    assert (result.counts.left, result.counts.removed) == (1, 0)
    assert "person0@example.com" in project.members()


def test_unsubscribe_mode_unsubscribes_leavers_from_the_book(project: Project) -> None:
    rows = [profile(i) for i in range(5)]
    project.write_profiles(rows)
    project.write_config(on_segment_exit="unsubscribe")
    project.run()
    rows[0]["lifetime_value"] = 1
    project.write_profiles(rows)
    result = project.run()
    assert result.counts.unsubscribed == 1
    member = project.members().get("person0@example.com")
    assert member is None or member["status"] != "Subscribed"


def test_suppressed_contacts_are_never_resubscribed(project: Project) -> None:
    rows = [profile(i) for i in range(6)]
    project.write_profiles(rows)
    project.write_config()
    project.emulator.suppress(project.api_user, "person1@example.com", "Unsubscribed")
    project.emulator.suppress(project.api_user, "person2@example.com", "HardBounced", global_=True)
    for step, full in enumerate((False, True, False, False)):
        rows[1]["first_name"] = rows[2]["first_name"] = f"Changed{step}"  # data changes daily
        project.write_profiles(rows)
        result = project.run(full=full)
        members = project.members()
        assert (
            "person1@example.com" not in members
            or members["person1@example.com"]["status"] != "Subscribed"
        )
        assert (
            "person2@example.com" not in members
            or members["person2@example.com"]["status"] != "Subscribed"
        )
        if step < 2:  # refused by DotDigital: the first time, and when --full resends everyone
            assert (result.counts.suppressed, result.counts.suppressed_known) == (2, 0)
            assert result.status is RunStatus.PARTIAL
        else:  # known as suppressed: not sent again, though their data changed
            assert (result.counts.suppressed, result.counts.suppressed_known) == (0, 2)
            assert result.counts.sent == 0
            assert result.status is RunStatus.SUCCEEDED
    with project.emulator.client() as api:
        assert api.get("/v2/contacts/person1@example.com").json()["status"] != "Subscribed"


def test_too_many_profiles_stops_before_sending(project: Project) -> None:
    project.write_profiles([profile(i) for i in range(12)])
    project.write_config(max_profiles=10)
    with pytest.raises(
        LimitExceededError, match=r"12 profiles \(valuable: 12\).*max_profiles = 10"
    ):
        project.run()
    assert project.members() == {}
    assert not any("import" in call for call in project.emulator.calls())


def test_privacy_notice_must_be_acknowledged(project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    text = project.config_path.read_text().replace(
        "privacy_acknowledged = true", "privacy_acknowledged = false"
    )
    project.config_path.write_text(text)
    with pytest.raises(ConfigError, match=r"personal data.*privacy_acknowledged = true"):
        project.run()
    assert project.members() == {}


def test_a_second_run_of_the_same_account_is_refused(project: Project) -> None:
    project.write_profiles([profile(1)])
    config = project.write_config()
    store = StateStore(config.state.url)
    conn = config.connections["dd"]
    store.acquire_locks([account_lock(conn.api_url, conn.api_user)], "other-export")
    try:
        with pytest.raises(RunInProgressError, match="other-export"):
            project.run()
    finally:
        store.close()


def test_plan_writes_nothing(project: Project) -> None:
    rows = [profile(i) for i in range(10)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    rows[0]["lifetime_value"] = 1
    rows[1]["first_name"] = "New"
    rows.append(profile(50, email="broken"))
    project.write_profiles(rows)
    project.emulator.reset_calls()
    dry = plan_export(project.write_config(), "news")
    assert (dry.counts.entered, dry.counts.changed, dry.counts.left, dry.counts.rejected) == (
        0,
        1,
        1,
        1,
    )
    assert dry.leave_sample == [("C00000", "left")]
    assert all(call.startswith("GET ") for call in project.emulator.calls())
    assert "person0@example.com" in project.members()


def test_python_api_for_orchestrators(project: Project) -> None:
    import dotsync

    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    result = dotsync.run_export(project.config_path, "news")
    assert isinstance(result, dotsync.RunResult)
    assert result.status is dotsync.RunStatus.SUCCEEDED
    assert dotsync.plan_export(str(project.config_path), "news").counts.unchanged == 3
    with pytest.raises(dotsync.ConfigError) as info:
        dotsync.run_export(project.config_path, "nope")
    assert info.value.exit_code == dotsync.ExitCode.CONFIG


def test_refresh_validates_changed_rows_against_the_whole_segment(project: Project) -> None:
    """A newcomer taking the address of an unchanged member: duplicates are judged over the
    whole segment on a refresh too (the smallest key keeps the address)."""
    rows = [profile(i) for i in range(1, 6)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    rows.insert(0, profile(0, email="PERSON5@example.com", first_name="Newcomer"))
    rows[2]["first_name"] = "Edited"  # C00002 changes; the others do not
    project.write_profiles(rows)

    result = project.run()

    # C00000 (smaller key) keeps person5's address; C00005, unchanged, is now the duplicate
    assert result.counts.rejected_by_reason == {"duplicate_email": 1}
    members = project.members()
    assert members["person5@example.com"]["dataFields"]["FIRSTNAME"] == "Newcomer"
    assert members["person2@example.com"]["dataFields"]["FIRSTNAME"] == "Edited"
    assert result.counts.valid == 5 and result.counts.sent == 2


def test_a_refresh_counts_unchanged_rows_as_valid(project: Project) -> None:
    rows = [profile(i) for i in range(10)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    rows[3]["last_name"] = "Changed"
    project.write_profiles(rows)
    result = project.run()
    assert (result.counts.valid, result.counts.changed, result.counts.unchanged) == (10, 1, 9)
    assert project.members()["person3@example.com"]["dataFields"]["LASTNAME"] == "Changed"
