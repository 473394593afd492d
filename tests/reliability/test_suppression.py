"""Suppression between runs: tests/sync covers contacts suppressed before the first
export; here a member unsubscribes (from the account, or from the book only) *after* it, and a
refresh that changes their data, then a full resend, must not subscribe them again."""

from __future__ import annotations

from pathlib import Path

from support.project import profile

from dotsync.emulator import RunningEmulator
from dotsync.result import RunStatus
from reliability.harness import SURVIVED, Outcome, new_project


def test_members_who_unsubscribe_between_runs_stay_unsubscribed(
    emulator: RunningEmulator, work_dir: Path
) -> None:
    project = new_project(emulator, work_dir / "suppression")
    rows = [profile(i) for i in range(6)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    assert {m["status"] for m in project.members().values()} == {"Subscribed"}

    emulator.suppress(project.api_user, "person1@example.com", "Unsubscribed")
    with emulator.client() as api:  # person2 leaves this book's mailings only
        api.post(
            f"/v2/address-books/{project.book_id}/contacts/unsubscribe",
            json={"email": "person2@example.com"},
        ).raise_for_status()
    for i in (1, 2, 3):
        rows[i]["first_name"] = f"Changed{i}"
    project.write_profiles(rows)

    runs = [project.run(), project.run(full=True), project.run()]

    members = project.members()
    for email in ("person1@example.com", "person2@example.com"):
        assert email not in members or members[email]["status"] != "Subscribed", email
    assert members["person3@example.com"]["dataFields"]["FIRSTNAME"] == "Changed3"
    with emulator.client() as api:
        assert api.get("/v2/contacts/person1@example.com").json()["status"] != "Subscribed"
    refresh, full, again = runs
    # The refresh reads the book's changes first: both are known, not sent, and the run is clean.
    assert (refresh.counts.suppressed_known, refresh.counts.suppressed) == (2, 0)
    assert refresh.status is RunStatus.SUCCEEDED
    assert full.counts.suppressed == 2  # --full sends them: DotDigital refuses both
    assert again.counts.suppressed_known_by_reason == {
        "suppressed": 1,
        "unsubscribed_from_book": 1,
    }
    SURVIVED.add(
        Outcome(
            "suppression",
            "unsubscribed between runs, then refresh and --full",
            runs=len(runs),
            notes=[
                f"known before sending {refresh.counts.suppressed_known}, "
                f"refused on --full {full.counts.suppressed}"
            ],
        )
    )
