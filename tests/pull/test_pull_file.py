"""``dotsync pull`` on a file source, against the emulator over HTTP: unsubscribes, bounces and
suppressions made in DotDigital arrive in the Parquet file with their profile key and DotDigital's
reason; a second pull adds nothing; resubscriptions come back as ``Subscribed``; a segment that
excludes them stops sending them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from support.project import Project, profile

from dotsync.config import load_config
from dotsync.pull import PullOutcome, pull_export
from dotsync.remove import remove_destination
from pull.conftest import parquet_rows, resubscribe, statuses, unsubscribe

STATUS_FILE = "dotdigital_status.parquet"


def _exported(project: Project, n: int = 8) -> None:
    project.write_profiles([profile(i) for i in range(n)])
    project.write_config()
    project.run()


def test_unsubscribes_bounces_and_suppressions_arrive_with_their_key_and_reason(
    project: Project, checked_http: httpx.Client
) -> None:
    _exported(project)
    user = project.api_user
    bounced_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    unsubscribe(project, "person1@example.com")
    project.emulator.suppress(user, "person2@example.com", "HardBounced", date=bounced_at)
    project.emulator.suppress(user, "person3@example.com", "IspComplained")
    unsubscribe(project, "person4@example.com", from_book=True)
    project.emulator.suppress(user, "stranger@example.com", "HardBounced")  # not ours
    config = load_config(project.config_path)

    report = pull_export(config, "news", http_client=checked_http)

    rows = parquet_rows(project.folder / STATUS_FILE)
    assert statuses(rows) == {
        "C00001": ("Unsubscribed", "Unsubscribed", "account"),
        "C00002": ("Suppressed", "HardBounced", "account"),
        "C00003": ("Suppressed", "IspComplained", "account"),
        "C00004": ("Unsubscribed", "Unsubscribed", "book"),
    }
    by_key = {r["key"]: r for r in rows}
    assert by_key["C00002"]["changed_at"] == bounced_at  # DotDigital's date, not ours
    assert {r["export"] for r in rows} == {"news"}
    assert {r["address_book_id"] for r in rows} == {project.book_id}
    assert report.status is PullOutcome.SUCCEEDED
    assert report.counts.written == {"Subscribed": 0, "Unsubscribed": 2, "Suppressed": 2}
    assert report.counts.unknown_contacts == 1  # counted, never written
    assert report.api_calls <= report.budget
    assert report.api_calls == sum(f.calls for f in report.feeds) + 1  # + account-info
    assert "@" not in report.model_dump_json() + str(rows)  # never an e-mail address
    written = (project.folder / STATUS_FILE).read_bytes()

    again = pull_export(config, "news", http_client=checked_http)

    assert again.counts.rows_written == 0
    assert again.counts.unchanged == 4  # read again (the overlap), recognised
    assert (project.folder / STATUS_FILE).read_bytes() == written  # not even rewritten


def test_a_contact_refused_as_suppressed_is_named_by_its_email_hash(project: Project) -> None:
    project.emulator.suppress(project.api_user, "person5@example.com", "HardBounced")
    project.write_profiles([profile(i) for i in range(8)])
    project.write_config()
    result = project.run()
    assert result.counts.suppressed == 1  # DotDigital refused it: no contact id in the state

    report = pull_export(load_config(project.config_path), "news")

    rows = statuses(parquet_rows(project.folder / STATUS_FILE))
    assert rows == {"C00005": ("Suppressed", "HardBounced", "account")}
    assert report.counts.unknown_contacts == 0


def test_resubscriptions_come_back_as_subscribed(project: Project) -> None:
    _exported(project)
    unsubscribe(project, "person1@example.com")
    unsubscribe(project, "person2@example.com", from_book=True)
    config = load_config(project.config_path)
    pull_export(config, "news")
    assert statuses(parquet_rows(project.folder / STATUS_FILE)) == {
        "C00001": ("Unsubscribed", "Unsubscribed", "account"),
        "C00002": ("Unsubscribed", "Unsubscribed", "book"),
    }
    resubscribe(project, "person1@example.com")
    resubscribe(project, "person2@example.com", to_book=True)

    report = pull_export(config, "news")

    assert statuses(parquet_rows(project.folder / STATUS_FILE)) == {
        "C00001": ("Subscribed", "Resubscribed", "account"),
        "C00002": ("Subscribed", "Resubscribed", "book"),
    }
    assert report.counts.written["Subscribed"] == 2
    assert pull_export(config, "news").counts.rows_written == 0
    unsubscribe(project, "person1@example.com")  # and gone again
    pull_export(config, "news")
    assert statuses(parquet_rows(project.folder / STATUS_FILE))["C00001"][0] == "Unsubscribed"


EXCLUDING = """
[source.tables]
dotdigital_status = "dotdigital_status.parquet"
[segments.reachable]
sql = '''
select p.customer_id from profiles p
where p.lifetime_value > 100
  and not exists (select 1 from dotdigital_status s
                  where s.key = cast(p.customer_id as varchar) and s.status <> 'Subscribed')
'''
"""


def test_a_segment_that_excludes_them_stops_sending_them(project: Project) -> None:
    rows = [profile(i) for i in range(8)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    unsubscribe(project, "person1@example.com")
    project.emulator.suppress(project.api_user, "person2@example.com", "HardBounced")
    pull_export(load_config(project.config_path), "news")
    project.extra_toml = EXCLUDING
    project.write_config(segments=["reachable"])
    for row in rows[1:4]:
        row["first_name"] = "Changed"  # C00003 is still reachable: only it is sent
    project.write_profiles(rows)

    result = project.run()

    assert result.counts.profiles_in_segments == 6
    assert (result.counts.left, result.counts.sent) == (2, 1)
    book = project.members()
    assert "person1@example.com" not in book and "person2@example.com" not in book
    assert book["person3@example.com"]["dataFields"]["FIRSTNAME"] == "Changed"

    # Out of the segments, the book and the export's members: when she resubscribes, the pull
    # still names her, and she is sent again.
    resubscribe(project, "person1@example.com")
    report = pull_export(load_config(project.config_path), "news")
    assert statuses(parquet_rows(project.folder / STATUS_FILE))["C00001"] == (
        "Subscribed",
        "Resubscribed",
        "account",
    )
    assert report.counts.unknown_contacts == 0
    again = project.run()
    assert (again.counts.entered, again.counts.sent) == (1, 1)
    assert "person1@example.com" in project.members()


def test_remove_takes_the_exports_rows_out_of_the_status_file(project: Project) -> None:
    _exported(project, 4)
    unsubscribe(project, "person1@example.com")
    config = load_config(project.config_path)
    pull_export(config, "news")
    assert len(parquet_rows(project.folder / STATUS_FILE)) == 1

    report = remove_destination(config, "news", purge_members=False)

    assert report.statuses_deleted == 1
    assert parquet_rows(project.folder / STATUS_FILE) == []  # the file stays, for segments
    assert pull_export(config, "news").status is PullOutcome.SKIPPED  # as new: never ran
