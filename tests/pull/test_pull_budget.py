"""The call budget: a pull never makes more than ``pull.max_calls`` calls; a feed longer than the
budget allows is read over several pulls, each going on where the last stopped (a little before:
``RESUME_MARGIN``), and every row arrives in the end."""

from __future__ import annotations

import time

from support.project import Project, profile

from dotsync.config import load_config
from dotsync.pull import pull_export
from dotsync.pull.feeds import RESUME_MARGIN
from pull.conftest import parquet_rows

PEOPLE = 1100  # more than one page (1,000) of each feed


def _unsubscribe_all(project: Project) -> None:
    """Everyone unsubscribes at once (one v3 import saying so, as a preference centre might)."""
    contacts = [
        {
            "matchIdentifier": "email",
            "identifiers": {"email": f"person{i}@example.com"},
            "channelProperties": {"email": {"status": "unsubscribed"}},
        }
        for i in range(PEOPLE)
    ]
    with project.emulator.client() as api:
        reply = api.put("/contacts/v3/import", json={"contacts": contacts})
        reply.raise_for_status()
        import_id = reply.json()["importId"]
        while api.get(f"/contacts/v3/import/{import_id}").json()["status"] == "NotFinished":
            time.sleep(0.05)


def test_a_backlog_larger_than_the_budget_arrives_over_several_pulls(project: Project) -> None:
    project.write_profiles([profile(i) for i in range(PEOPLE)])
    project.extra_toml = "[pull]\nmax_calls = 2\n"  # account-info and one page
    project.write_config()
    project.run()
    _unsubscribe_all(project)
    config = load_config(project.config_path)

    first = pull_export(config, "news")
    second = pull_export(config, "news")

    assert (first.api_calls, second.api_calls) == (2, 2)
    cut, resumed = first.feeds[0], second.feeds[0]
    assert cut.name == resumed.name == "account_suppressions"
    assert (cut.items, cut.complete, first.counts.rows_written) == (1000, False, 1000)
    assert "pull.max_calls" in (first.note or "")
    assert (resumed.skip, resumed.complete) == (1000 - RESUME_MARGIN, True)  # went on from there
    assert second.counts.rows_written == PEOPLE - 1000
    rows = parquet_rows(project.folder / "dotdigital_status.parquet")
    assert len(rows) == PEOPLE
    assert {r["status"] for r in rows} == {"Unsubscribed"}

    project.extra_toml = "[pull]\nmax_calls = 20\n"
    done = pull_export(project.write_config(), "news")

    assert done.complete and done.api_calls <= 20
    assert done.counts.rows_written == 0  # the other feeds say the same of the same people
    assert [f.name for f in done.feeds[:2]] == ["account_unsubscribes", "book_unsubscribes"]
